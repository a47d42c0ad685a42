/* The admin API's common parts: bearer-token authentication against the
 * tokens file, JSON answers and errors, reading JSON bodies, audit lines.
 *
 * The tokens file holds only SHA-256 hashes of the tokens, so a copy of it
 * (or of a backup) gives no access. The presented token is hashed and
 * compared with every line in constant time, without stopping at a match.
 * Tokens are machine-generated (>= 128 bits), so a fast hash is right here
 * (see ARCHITECTURE.md: slow KDFs are for secrets people choose). */
#include "admin/admin.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/idp.h"

#define SHA256_HEX_LEN 64

/* Who authenticated the request this thread is serving. Handlers run
 * synchronously on one MHD thread, so a thread-local is enough; the request
 * id tells a new request that reuses the same kh_req address apart. */
static _Thread_local struct {
	const struct kh_req *req;
	char rid[KH_RID_LEN + 1];
	int role;
	char name[KH_ADMIN_TOKEN_NAME_MAX + 1];
} caller;

void
kh_admin_json(struct kh_resp *resp, int status, json_t *body)
{
	char *s;

	if (body == NULL)
		body = json_object();
	kh_buf_reset(&resp->body);
	resp->content_type = "application/json";
	s = body != NULL ? json_dumps(body, JSON_COMPACT) : NULL;
	json_decref(body);
	if (s == NULL || kh_buf_append_str(&resp->body, s) != KH_OK ||
	    kh_buf_append(&resp->body, "\n", 1) != KH_OK) {
		kh_buf_reset(&resp->body);
		kh_buf_append_str(&resp->body,
		    "{\"error\":\"server_error\",\"message\":\"The answer could not be "
		    "built.\",\"message_ja\":\"応答を作成できませんでした。\"}\n");
		status = 500;
	}
	free(s);
	resp->status = status;
	kh_resp_header(resp, "Cache-Control", "no-store");
}

void
kh_admin_error(struct kh_resp *resp, int status, const char *code, const char *message_en,
    const char *message_ja)
{
	kh_admin_json(resp, status,
	    json_pack(
		"{s:s, s:s, s:s}", "error", code, "message", message_en, "message_ja", message_ja));
}

const char *
kh_admin_caller(const struct kh_req *req)
{
	if (caller.req == req && strcmp(caller.rid, req->rid) == 0 && caller.name[0] != '\0')
		return caller.name;
	return "-";
}

void
kh_admin_audit(const struct kh_req *req, const char *event, const char *id, const char *result)
{
	kh_audit(event, "rid", req->rid, "token", kh_admin_caller(req), "ip", req->client_ip,
	    "method", kh_req_method(req), "path", req->path, "app", id, "result", result, NULL);
}

static int
name_ok(const char *s, size_t n)
{
	size_t i;

	if (n == 0 || n > KH_ADMIN_TOKEN_NAME_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= 'a' && s[i] <= 'z') ||
			(s[i] >= '0' && s[i] <= '9') || s[i] == '.' || s[i] == '_' || s[i] == '-'))
			return 0;
	return 1;
}

/* Lowercases a 64-character hex field into out; 0 when not hex. */
static int
hex64(const char *s, size_t n, char out[SHA256_HEX_LEN + 1])
{
	size_t i;

	if (n != SHA256_HEX_LEN)
		return 0;
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c >= 'A' && c <= 'F')
			c = (char)(c - 'A' + 'a');
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
		out[i] = c;
	}
	out[n] = '\0';
	return 1;
}

/* Splits the next whitespace-separated field off *p (within end). */
static int
next_field(const char **p, const char *end, const char **f, size_t *n)
{
	while (*p < end && (**p == ' ' || **p == '\t'))
		(*p)++;
	*f = *p;
	while (*p < end && **p != ' ' && **p != '\t')
		(*p)++;
	*n = (size_t)(*p - *f);
	return *n > 0;
}

/* Looks up hash in the tokens file. *role = 0 when no line matches. Every
 * line is compared; the first match wins. KH_ERR_CONFIG when the file is
 * missing, too large or has a malformed line (then no token works). */
static int
tokens_lookup(
    const char *path, const char hash[SHA256_HEX_LEN + 1], int *role, char *name, size_t namelen)
{
	FILE *fp = NULL;
	char *data = NULL, want[SHA256_HEX_LEN + 1], lineno[16];
	const char *p, *end, *eol, *f[4], *q;
	size_t n, fl[4], nf, line = 0;
	int r = KH_ERR_CONFIG, found = 0, eq, lrole;

	*role = 0;
	name[0] = '\0';
	if ((fp = fopen(path, "r")) == NULL) {
		kh_error("admin.tokens", "file", path, "error", "cannot open", NULL);
		return KH_ERR_CONFIG;
	}
	if ((data = malloc(KH_ADMIN_TOKENS_FILE_MAX + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	n = fread(data, 1, KH_ADMIN_TOKENS_FILE_MAX + 1, fp);
	if (ferror(fp) || n > KH_ADMIN_TOKENS_FILE_MAX) {
		kh_error("admin.tokens", "file", path, "error", "unreadable or too large", NULL);
		goto out;
	}
	for (p = data, end = data + n; p < end; p = eol + 1) {
		line++;
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		q = p;
		while (q < eol && (*q == ' ' || *q == '\t' || *q == '\r'))
			q++;
		if (q == eol || *q == '#')
			continue;
		for (nf = 0;
		     nf < 4 && next_field(&q, eol[-1] == '\r' ? eol - 1 : eol, &f[nf], &fl[nf]);
		     nf++)
			;
		lrole = 0;
		if (nf == 3 && fl[1] == 5 && memcmp(f[1], "admin", 5) == 0)
			lrole = KH_ROLE_ADMIN;
		else if (nf == 3 && fl[1] == 8 && memcmp(f[1], "helpdesk", 8) == 0)
			lrole = KH_ROLE_HELPDESK;
		if (lrole == 0 || !name_ok(f[0], fl[0]) || !hex64(f[2], fl[2], want)) {
			snprintf(lineno, sizeof(lineno), "%zu", line);
			kh_error("admin.tokens", "file", path, "line", lineno, "error",
			    "expected NAME admin|helpdesk SHA256HEX", NULL);
			goto out;
		}
		eq = kh_ct_equal(want, hash, SHA256_HEX_LEN);
		if (eq && !found) {
			found = 1;
			*role = lrole;
			snprintf(name, namelen, "%.*s", (int)fl[0], f[0]);
		}
	}
	r = KH_OK;
out:
	if (r != KH_OK) {
		*role = 0;
		name[0] = '\0';
	}
	if (data != NULL)
		kh_freezero(data, KH_ADMIN_TOKENS_FILE_MAX + 1);
	fclose(fp);
	explicit_bzero(want, sizeof(want));
	return r;
}

/* The bearer token of the Authorization header (RFC 6750 b64token). */
static int
bearer_token(const struct kh_req *req, const char **tok, size_t *len)
{
	const char *h = kh_req_header(req, "Authorization");
	size_t i, n;

	*tok = NULL;
	*len = 0;
	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return KH_ERR_NOT_FOUND;
	h += 7;
	while (*h == ' ')
		h++;
	n = strnlen(h, KH_ADMIN_TOKEN_MAX + 1);
	if (n == 0 || n > KH_ADMIN_TOKEN_MAX)
		return KH_ERR_INVALID;
	for (i = 0; i < n; i++)
		if (!((h[i] >= 'A' && h[i] <= 'Z') || (h[i] >= 'a' && h[i] <= 'z') ||
			(h[i] >= '0' && h[i] <= '9') || strchr("-._~+/=", h[i]) != NULL))
			return KH_ERR_INVALID;
	*tok = h;
	*len = n;
	return KH_OK;
}

static void
unauthorized(struct kh_resp *resp, int invalid)
{
	kh_admin_error(resp, 401, invalid ? "invalid_token" : "unauthorized",
	    invalid ? "The token is not valid." : "A bearer token is required.",
	    invalid ? "トークンが無効です。" : "Bearer トークンが必要です。");
	kh_resp_header(resp, "WWW-Authenticate",
	    invalid ? "Bearer realm=\"kakehashi-admin\", error=\"invalid_token\""
		    : "Bearer realm=\"kakehashi-admin\"");
}

int
kh_admin_auth_or_respond(struct kh_req *req, struct kh_resp *resp, int required_role)
{
	const struct kh_config *cfg = req->app->cfg;
	unsigned char md[32];
	unsigned int mdlen = 0;
	char hash[SHA256_HEX_LEN + 1], name[KH_ADMIN_TOKEN_NAME_MAX + 1];
	const char *tok;
	size_t toklen;
	int r, role = 0;

	/* Already authenticated by the router for this very request? */
	if (caller.req == req && strcmp(caller.rid, req->rid) == 0 && caller.role != 0) {
		if (caller.role >= required_role)
			return KH_OK;
		kh_admin_error(resp, 403, "forbidden", "This token may not do this.",
		    "このトークンではこの操作はできません。");
		return KH_ERR_DENIED;
	}
	caller.req = req;
	kh_strlcpy(caller.rid, req->rid, sizeof(caller.rid));
	caller.role = 0;
	caller.name[0] = '\0';
	if (cfg->admin_tokens_file == NULL || cfg->admin_tokens_file[0] == '\0') {
		kh_admin_error(resp, 404, "not_found", "The admin API is not enabled.",
		    "管理 API は有効になっていません。");
		return KH_ERR_NOT_FOUND;
	}
	if ((r = bearer_token(req, &tok, &toklen)) != KH_OK) {
		unauthorized(resp, r == KH_ERR_INVALID);
		return KH_ERR_DENIED;
	}
	if (EVP_Digest(tok, toklen, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		kh_admin_error(resp, 500, "server_error", "Internal error.", "内部エラーです。");
		return KH_ERR_CRYPTO;
	}
	kh_hex_encode(md, sizeof(md), hash);
	r = tokens_lookup(cfg->admin_tokens_file, hash, &role, name, sizeof(name));
	explicit_bzero(md, sizeof(md));
	explicit_bzero(hash, sizeof(hash));
	if (r != KH_OK) {
		kh_admin_error(resp, 500, "server_error",
		    "The admin tokens file cannot be read; see the server log.",
		    "管理トークンのファイルを読めません。サーバーのログを確認してください。");
		return r;
	}
	if (role == 0) {
		unauthorized(resp, 1);
		return KH_ERR_DENIED;
	}
	caller.role = role;
	kh_strlcpy(caller.name, name, sizeof(caller.name));
	if (role < required_role) {
		kh_admin_error(resp, 403, "forbidden", "This token may not do this.",
		    "このトークンではこの操作はできません。");
		return KH_ERR_DENIED;
	}
	return KH_OK;
}

int
kh_admin_read_json_or_respond(struct kh_req *req, struct kh_resp *resp, json_t **out)
{
	const char *body;
	size_t len;
	json_error_t err;
	json_t *j;
	int r;

	*out = NULL;
	if ((r = kh_req_body(req, &body, &len)) == KH_ERR_TOO_LARGE) {
		kh_admin_error(resp, 413, "too_large", "The request body is too large.",
		    "リクエストの本文が大きすぎます。");
		return r;
	}
	if (r != KH_OK) {
		kh_admin_error(resp, 415, "unsupported_media_type",
		    "The body must be application/json.",
		    "本文は application/json でなければなりません。");
		return r;
	}
	if (len == 0) {
		kh_admin_error(resp, 400, "bad_request", "A JSON body is required.",
		    "JSON の本文が必要です。");
		return KH_ERR_INVALID;
	}
	if ((j = json_loadb(body, len, JSON_REJECT_DUPLICATES, &err)) == NULL) {
		kh_admin_error(resp, 400, "malformed_json", "The body is not valid JSON.",
		    "本文が正しい JSON ではありません。");
		return KH_ERR_INVALID;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		kh_admin_error(resp, 400, "bad_request", "The body must be a JSON object.",
		    "本文は JSON オブジェクトでなければなりません。");
		return KH_ERR_INVALID;
	}
	*out = j;
	return KH_OK;
}
