/* kakehashictl: command line, token handling, the command table and the
 * generic commands (app list/show/remove, token hash/new).
 *
 *   kakehashictl [--url BASE] [--token-file FILE] [--json] GROUP COMMAND [ARGS...]
 *
 * BASE defaults to $KAKEHASHI_URL; the token comes from $KAKEHASHI_TOKEN or
 * the first line of FILE, never from the command line. */
#include <curl/curl.h>
#include <errno.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "admin/ctl/ctl.h"
#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"

static int cmd_app_list(struct kh_ctl *ctl, int argc, char **argv);
static int cmd_app_show(struct kh_ctl *ctl, int argc, char **argv);
static int cmd_app_remove(struct kh_ctl *ctl, int argc, char **argv);
static int cmd_token_hash(struct kh_ctl *ctl, int argc, char **argv);
static int cmd_policy_list(struct kh_ctl *ctl, int argc, char **argv);
static int cmd_token_new(struct kh_ctl *ctl, int argc, char **argv);

/* The command table. Other files add their commands here:
 *   { "app", "add-saml", "...", "...", 1, kh_ctl_app_add_saml },  (ctl_saml.c)
 *   { "app", "add-oidc", "...", "...", 1, kh_ctl_app_add_oidc },  (ctl_oidc.c) */
static const struct kh_ctl_cmd ctl_commands[] = {
	{ "app", "list", "", "list the registered apps", 1, cmd_app_list },
	{ "app", "show", "ID", "show one app's document", 1, cmd_app_show },
	{ "app", "remove", "ID", "remove an app (admin token)", 1, cmd_app_remove },
	{ "app", "add-saml", "--name NAME --metadata FILE|URL [options]",
	    "register a SAML service provider (see docs/saml.md)", 1, kh_ctl_app_add_saml },
	{ "app", "update-saml", "ID [options]", "change a SAML service provider", 1,
	    kh_ctl_app_update_saml },
	{ "app", "add-oidc", "--name NAME --redirect-uri URI [options]",
	    "register an OpenID Connect client; prints its secret once (see docs/oidc.md)", 1,
	    kh_ctl_app_add_oidc },
	{ "app", "update-oidc", "ID [options]", "change an OpenID Connect client", 1,
	    kh_ctl_app_update_oidc },
	{ "app", "rotate-secret", "ID", "issue a new client secret (shown once)", 1,
	    kh_ctl_app_rotate_secret },
	{ "policy", "list", "", "the access policies apps may name (--policy), the default marked",
	    1, cmd_policy_list },
	{ "user", "show", "UID", "show a user: directory entry, groups, sessions, login lock", 1,
	    kh_ctl_user_show },
	{ "user", "revoke-sessions", "UID --reason TEXT",
	    "sign a user out everywhere (audited with the reason)", 1,
	    kh_ctl_user_revoke_sessions },
	{ "mfa", "reset", "UID --reason TEXT [--bypass]",
	    "remove a user's factors and remembered devices, sign them out, revoke their "
	    "tokens; --bypass prints a one-time code (valid [mfa] bypass_ttl) to enrol again",
	    1, kh_ctl_mfa_reset },
	{ "mfa", "unlock", "UID --reason TEXT", "clear a user's MFA failure lock", 1,
	    kh_ctl_mfa_unlock },
	{ "audit", "tail", "[--user UID] [--count N]",
	    "the newest audit events (default 20, at most 1000)", 1, kh_ctl_audit_tail },
	{ "token", "hash", "< TOKEN",
	    "print the SHA-256 hex of a token read on stdin (for the tokens file)", 0,
	    cmd_token_hash },
	{ "token", "new", "", "print a new random token (256 bits, base64url)", 0, cmd_token_new },
};
#define NCOMMANDS (sizeof(ctl_commands) / sizeof(ctl_commands[0]))

static void
usage(FILE *fp)
{
	size_t i;

	fprintf(fp,
	    "usage: kakehashictl [--url BASE] [--token-file FILE] [--json] GROUP COMMAND [ARGS]\n"
	    "\n"
	    "The server is --url or $KAKEHASHI_URL (e.g. https://idp.example.jp).\n"
	    "The token is $KAKEHASHI_TOKEN or the first line of --token-file FILE;\n"
	    "it is never accepted on the command line.\n"
	    "\n"
	    "commands:\n");
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(fp, "  %s %s %s\n      %s\n", ctl_commands[i].group, ctl_commands[i].name,
		    ctl_commands[i].synopsis, ctl_commands[i].help);
	fprintf(fp,
	    "\n"
	    "exit status: 0 ok, 1 error from the server, 2 usage, 3 cannot connect\n");
}

int
kh_ctl_usage_error(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "kakehashictl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n(kakehashictl --help for usage)\n");
	return KH_CTL_USAGE;
}

int
kh_ctl_app_id_ok(const char *id)
{
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		if (i >= 128 ||
		    !((id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= 'a' && id[i] <= 'z') ||
			(id[i] >= '0' && id[i] <= '9') || id[i] == '.' || id[i] == '_' ||
			id[i] == '-'))
			return 0;
	return i > 0;
}

void
kh_ctl_app_category(json_t *doc, const char *category)
{
	json_object_set_new(doc, "category", json_string(category));
}

void
kh_ctl_app_policy(json_t *doc, const char *policy)
{
	/* "" goes back to the category's default (the server drops a null) */
	json_object_set_new(doc, "policy", *policy == '\0' ? json_null() : json_string(policy));
}

void
kh_ctl_print_json(const json_t *j)
{
	char *s = json_dumps(j, JSON_INDENT(2));

	if (s != NULL) {
		printf("%s\n", s);
		free(s);
	}
}

/* Decodes one UTF-8 sequence; returns its length (1 for an invalid byte,
 * with *cp = 0xFFFD). */
static size_t
utf8_next(const unsigned char *s, unsigned long *cp)
{
	size_t n, i;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if ((s[0] & 0xE0) == 0xC0)
		n = 2, *cp = s[0] & 0x1F;
	else if ((s[0] & 0xF0) == 0xE0)
		n = 3, *cp = s[0] & 0x0F;
	else if ((s[0] & 0xF8) == 0xF0)
		n = 4, *cp = s[0] & 0x07;
	else {
		*cp = 0xFFFD;
		return 1;
	}
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80) {
			*cp = 0xFFFD;
			return 1;
		}
		*cp = (*cp << 6) | (s[i] & 0x3F);
	}
	return n;
}

static int
wide(unsigned long c)
{
	return (c >= 0x1100 && c <= 0x115F) || (c >= 0x2E80 && c <= 0xA4CF) ||
	    (c >= 0xAC00 && c <= 0xD7A3) || (c >= 0xF900 && c <= 0xFAFF) ||
	    (c >= 0xFE30 && c <= 0xFE4F) || (c >= 0xFF00 && c <= 0xFF60) ||
	    (c >= 0xFFE0 && c <= 0xFFE6) || (c >= 0x20000 && c <= 0x3FFFD);
}

size_t
kh_ctl_display_width(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t w = 0;

	while (*p != '\0') {
		p += utf8_next(p, &cp);
		w += wide(cp) ? 2 : 1;
	}
	return w;
}

void
kh_ctl_print_cell(FILE *fp, const char *s, size_t width)
{
	const unsigned char *p = (const unsigned char *)s;
	unsigned long cp;
	size_t n, w = 0;

	while (*p != '\0') {
		n = utf8_next(p, &cp);
		if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) || cp == 0xFFFD)
			fputc('?', fp); /* no escape sequences from server data */
		else
			fwrite(p, 1, n, fp);
		p += n;
		w += wide(cp) ? 2 : 1;
	}
	for (; w < width; w++)
		fputc(' ', fp);
}

/* ---- token ---- */

/* Reads the first line of path (at most KH_CTL_TOKEN_MAX bytes). */
static int
token_from_file(struct kh_ctl *ctl, const char *path)
{
	struct stat sb;
	char buf[KH_CTL_TOKEN_MAX + 2];
	FILE *fp;
	size_t n;

	if ((fp = fopen(path, "r")) == NULL) {
		fprintf(stderr, "kakehashictl: cannot open the token file %s: %s\n", path,
		    strerror(errno));
		return KH_CTL_USAGE;
	}
	if (fstat(fileno(fp), &sb) == 0 && (sb.st_mode & 0077) != 0)
		fprintf(
		    stderr, "kakehashictl: warning: %s is readable by others (chmod 600)\n", path);
	if (fgets(buf, sizeof(buf), fp) == NULL)
		buf[0] = '\0';
	fclose(fp);
	n = strcspn(buf, "\r\n");
	if (n > KH_CTL_TOKEN_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return kh_ctl_usage_error("the token in %s is too long", path);
	}
	buf[n] = '\0';
	if (n == 0)
		return kh_ctl_usage_error("the token file %s is empty", path);
	free(ctl->token);
	ctl->token = kh_strdup(buf);
	explicit_bzero(buf, sizeof(buf));
	return ctl->token != NULL ? KH_CTL_OK : KH_CTL_CONNECT;
}

/* ---- commands ---- */

static int
no_args(int argc, char **argv, const char *cmd)
{
	(void)argv;
	if (argc != 0)
		return kh_ctl_usage_error("%s takes no arguments", cmd);
	return KH_CTL_OK;
}

static const char *
str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL ? s : dflt;
}

static char *
groups_joined(const json_t *app)
{
	const json_t *g = json_object_get(app, "groups"), *v;
	struct kh_buf b;
	size_t i;

	kh_buf_init(&b, 4096);
	json_array_foreach(g, i, v)
	{
		if (i > 0)
			kh_buf_append_str(&b, ",");
		if (json_is_string(v))
			kh_buf_append_str(&b, json_string_value(v));
	}
	if (b.len == 0)
		kh_buf_append_str(&b, "-");
	return kh_buf_steal(&b, NULL);
}

/* "communication" or "general/mfa" (category, then the policy when named). */
static char *
category_policy(const json_t *app)
{
	const char *c = str_or(app, "category", "general"), *p = str_or(app, "policy", NULL);
	struct kh_buf b;

	kh_buf_init(&b, 1024);
	if (kh_buf_append_str(&b, c) != KH_OK ||
	    (p != NULL && kh_buf_appendf(&b, "/%s", p) != KH_OK)) {
		kh_buf_free(&b);
		return NULL;
	}
	return kh_buf_steal(&b, NULL);
}

static int
cmd_policy_list(struct kh_ctl *ctl, int argc, char **argv)
{
	json_t *reply = NULL, *v;
	const char *def;
	size_t i;
	int r;

	if ((r = no_args(argc, argv, "policy list")) != KH_CTL_OK)
		return r;
	if ((r = kh_ctl_call(ctl, "GET", "/admin/api/v1/policies", NULL, &reply)) != KH_CTL_OK ||
	    ctl->json) {
		json_decref(reply);
		return r;
	}
	def = str_or(reply, "default_policy", "");
	json_array_foreach(json_object_get(reply, "policies"), i, v)
	{
		const char *n = json_string_value(v);
		kh_ctl_print_cell(stdout, n != NULL ? n : "?", 0);
		printf("%s\n", n != NULL && strcmp(n, def) == 0 ? "  (default)" : "");
	}
	printf("source: ");
	kh_ctl_print_cell(stdout, str_or(reply, "source", "-"), 0);
	printf("\n");
	json_decref(reply);
	return KH_CTL_OK;
}

static int
cmd_app_list(struct kh_ctl *ctl, int argc, char **argv)
{
	static const char *const head[] = { "ID", "NAME", "PROTOCOL", "ENABLED", "CATEGORY/POLICY",
		"GROUPS" };
	json_t *reply = NULL, *apps, *app;
	char **cells = NULL;
	size_t w[6], n, i, c;
	int r;

	if ((r = no_args(argc, argv, "app list")) != KH_CTL_OK)
		return r;
	if ((r = kh_ctl_call(ctl, "GET", "/admin/api/v1/apps", NULL, &reply)) != KH_CTL_OK ||
	    ctl->json) {
		json_decref(reply);
		return r;
	}
	apps = json_object_get(reply, "apps");
	n = json_array_size(apps);
	if (n == 0) {
		printf("no apps (registry version %lld)\n",
		    (long long)json_integer_value(json_object_get(reply, "version")));
		json_decref(reply);
		return KH_CTL_OK;
	}
	if ((cells = calloc(n * 6, sizeof(*cells))) == NULL) {
		json_decref(reply);
		return KH_CTL_CONNECT;
	}
	for (c = 0; c < 6; c++)
		w[c] = strlen(head[c]);
	json_array_foreach(apps, i, app)
	{
		cells[i * 6 + 0] = kh_strdup(str_or(app, "id", "?"));
		cells[i * 6 + 1] = kh_strdup(str_or(app, "name", ""));
		cells[i * 6 + 2] = kh_strdup(str_or(app, "protocol", "?"));
		cells[i * 6 + 3] =
		    kh_strdup(json_is_false(json_object_get(app, "enabled")) ? "no" : "yes");
		cells[i * 6 + 4] = category_policy(app);
		cells[i * 6 + 5] = groups_joined(app);
		for (c = 0; c < 6; c++) {
			if (cells[i * 6 + c] == NULL)
				cells[i * 6 + c] = kh_strdup("");
			if (cells[i * 6 + c] != NULL &&
			    kh_ctl_display_width(cells[i * 6 + c]) > w[c])
				w[c] = kh_ctl_display_width(cells[i * 6 + c]);
		}
	}
	for (c = 0; c < 6; c++)
		kh_ctl_print_cell(stdout, head[c], c < 5 ? w[c] + 2 : 0);
	printf("\n");
	for (i = 0; i < n; i++) {
		for (c = 0; c < 6; c++)
			kh_ctl_print_cell(
			    stdout, cells[i * 6 + c] ? cells[i * 6 + c] : "", c < 5 ? w[c] + 2 : 0);
		printf("\n");
	}
	printf("(%zu app%s, registry version %lld)\n", n, n == 1 ? "" : "s",
	    (long long)json_integer_value(json_object_get(reply, "version")));
	for (i = 0; i < n * 6; i++)
		free(cells[i]);
	free(cells);
	json_decref(reply);
	return KH_CTL_OK;
}

static int
app_path(const char *id, char *out, size_t outlen)
{
	if (!kh_ctl_app_id_ok(id))
		return kh_ctl_usage_error(
		    "invalid app id '%.140s' (A-Z a-z 0-9 . _ -, at most 128)", id);
	snprintf(out, outlen, "/admin/api/v1/apps/%s", id);
	return KH_CTL_OK;
}

static int
cmd_app_show(struct kh_ctl *ctl, int argc, char **argv)
{
	static const char *const keys[] = { "id", "name", "protocol", "category", "created",
		"updated" };
	char path[256], *groups;
	json_t *reply = NULL, *app, *v;
	const char *k;
	size_t i;
	int r;

	if (argc != 1)
		return kh_ctl_usage_error("usage: app show ID");
	if ((r = app_path(argv[0], path, sizeof(path))) != KH_CTL_OK)
		return r;
	if ((r = kh_ctl_call(ctl, "GET", path, NULL, &reply)) != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	app = json_object_get(reply, "app");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++) {
		printf("%-10s ", keys[i]);
		kh_ctl_print_cell(stdout, str_or(app, keys[i], "-"), 0);
		printf("\n");
	}
	printf(
	    "%-10s %s\n", "enabled", json_is_false(json_object_get(app, "enabled")) ? "no" : "yes");
	groups = groups_joined(app);
	printf("%-10s ", "groups");
	kh_ctl_print_cell(stdout, groups ? groups : "-", 0);
	printf("\n");
	free(groups);
	/* The protocol settings (and anything else), as JSON. */
	json_object_foreach(app, k, v)
	{
		if (strcmp(k, "id") == 0 || strcmp(k, "name") == 0 || strcmp(k, "protocol") == 0 ||
		    strcmp(k, "category") == 0 || strcmp(k, "created") == 0 ||
		    strcmp(k, "updated") == 0 || strcmp(k, "enabled") == 0 ||
		    strcmp(k, "groups") == 0)
			continue;
		char *s = json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY | JSON_ENSURE_ASCII);

		printf("%s:\n", k);
		if (s != NULL) {
			fputs(s, stdout); /* ASCII only: escapes cannot reach the terminal */
			printf("\n");
			free(s);
		}
	}
	json_decref(reply);
	return KH_CTL_OK;
}

static int
cmd_app_remove(struct kh_ctl *ctl, int argc, char **argv)
{
	char path[256];
	json_t *reply = NULL;
	int r;

	if (argc != 1)
		return kh_ctl_usage_error("usage: app remove ID");
	if ((r = app_path(argv[0], path, sizeof(path))) != KH_CTL_OK)
		return r;
	if ((r = kh_ctl_call(ctl, "DELETE", path, NULL, &reply)) != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	printf("removed %s (registry version %lld)\n", argv[0],
	    (long long)json_integer_value(json_object_get(reply, "version")));
	json_decref(reply);
	return KH_CTL_OK;
}

static int
cmd_token_hash(struct kh_ctl *ctl, int argc, char **argv)
{
	char buf[KH_CTL_TOKEN_MAX + 2], hex[65];
	unsigned char md[32];
	unsigned int mdlen = 0;
	size_t n;

	(void)ctl;
	if (argc != 0)
		return kh_ctl_usage_error(
		    "token hash reads the token on stdin, never from the command line");
	if (fgets(buf, sizeof(buf), stdin) == NULL)
		return kh_ctl_usage_error("no token on stdin");
	n = strcspn(buf, "\r\n");
	if (n == 0 || n > KH_CTL_TOKEN_MAX) {
		explicit_bzero(buf, sizeof(buf));
		return kh_ctl_usage_error("the token must be 1 to %d characters", KH_CTL_TOKEN_MAX);
	}
	if (EVP_Digest(buf, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
		explicit_bzero(buf, sizeof(buf));
		fprintf(stderr, "kakehashictl: SHA-256 failed\n");
		return KH_CTL_CONNECT;
	}
	explicit_bzero(buf, sizeof(buf));
	kh_hex_encode(md, sizeof(md), hex);
	printf("%s\n", hex);
	return KH_CTL_OK;
}

static int
cmd_token_new(struct kh_ctl *ctl, int argc, char **argv)
{
	char *tok = NULL;
	int r;

	(void)ctl;
	if ((r = no_args(argc, argv, "token new")) != KH_CTL_OK)
		return r;
	if (kh_random_token(32, &tok) != KH_OK) {
		fprintf(stderr, "kakehashictl: no randomness\n");
		return KH_CTL_CONNECT;
	}
	printf("%s\n", tok);
	kh_free_str(tok);
	return KH_CTL_OK;
}

/* ---- main ---- */

int
main(int argc, char **argv)
{
	struct kh_ctl ctl;
	const char *url = getenv("KAKEHASHI_URL"), *token_file = NULL, *env_tok;
	char **pos;
	size_t npos = 0, i, ulen;
	int r = KH_CTL_USAGE, a;

	memset(&ctl, 0, sizeof(ctl));
	if ((pos = calloc((size_t)argc + 1, sizeof(*pos))) == NULL)
		return KH_CTL_CONNECT;
	/* Global options may come anywhere before "--"; everything else is
	 * left, in order, for the command (which may have options of its own). */
	for (a = 1; a < argc; a++) {
		const char *o = argv[a];

		if (strcmp(o, "--") == 0) {
			for (a++; a < argc; a++)
				pos[npos++] = argv[a];
			break;
		} else if (strcmp(o, "--help") == 0 || strcmp(o, "-h") == 0) {
			usage(stdout);
			free(pos);
			return KH_CTL_OK;
		} else if (strcmp(o, "--json") == 0) {
			ctl.json = 1;
		} else if (strcmp(o, "--url") == 0 || strcmp(o, "--token-file") == 0) {
			if (a + 1 >= argc) {
				r = kh_ctl_usage_error("%s needs a value", o);
				goto out;
			}
			if (o[2] == 'u')
				url = argv[++a];
			else
				token_file = argv[++a];
		} else if (strncmp(o, "--url=", 6) == 0) {
			url = o + 6;
		} else if (strncmp(o, "--token-file=", 13) == 0) {
			token_file = o + 13;
		} else if (strcmp(o, "--token") == 0 || strncmp(o, "--token=", 8) == 0) {
			r = kh_ctl_usage_error("tokens are not accepted on the command line (they "
					       "show in ps and shell history): use "
					       "KAKEHASHI_TOKEN or --token-file FILE");
			goto out;
		} else
			pos[npos++] = argv[a];
	}
	if (npos < 2) {
		usage(stderr);
		goto out;
	}
	for (i = 0; i < NCOMMANDS; i++)
		if (strcmp(ctl_commands[i].group, pos[0]) == 0 &&
		    strcmp(ctl_commands[i].name, pos[1]) == 0)
			break;
	if (i == NCOMMANDS) {
		r = kh_ctl_usage_error("unknown command '%.64s %.64s'", pos[0], pos[1]);
		goto out;
	}
	if (ctl_commands[i].needs_server) {
		if (url == NULL || url[0] == '\0') {
			r = kh_ctl_usage_error("no server: use --url BASE or KAKEHASHI_URL");
			goto out;
		}
		if (!kh_startswith(url, "http://") && !kh_startswith(url, "https://")) {
			r = kh_ctl_usage_error("--url must start with http:// or https://");
			goto out;
		}
		if ((ctl.url = kh_strdup(url)) == NULL)
			goto out;
		ulen = strlen(ctl.url);
		while (ulen > 0 && ctl.url[ulen - 1] == '/')
			ctl.url[--ulen] = '\0';
		if (token_file != NULL) {
			if ((r = token_from_file(&ctl, token_file)) != KH_CTL_OK)
				goto out;
		} else if ((env_tok = getenv("KAKEHASHI_TOKEN")) != NULL && env_tok[0] != '\0') {
			if (strlen(env_tok) > KH_CTL_TOKEN_MAX) {
				r = kh_ctl_usage_error("KAKEHASHI_TOKEN is too long");
				goto out;
			}
			ctl.token = kh_strdup(env_tok);
		} else {
			r = kh_ctl_usage_error(
			    "no token: set KAKEHASHI_TOKEN or use --token-file FILE");
			goto out;
		}
		if (ctl.token == NULL)
			goto out;
		curl_global_init(CURL_GLOBAL_DEFAULT);
	}
	r = ctl_commands[i].run(&ctl, (int)npos - 2, pos + 2);
	if (ctl_commands[i].needs_server)
		curl_global_cleanup();
out:
	kh_free_str(ctl.token);
	free(ctl.url);
	free(pos);
	return r;
}
