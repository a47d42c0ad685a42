/* POST /mfa/webauthn/options and /mfa/webauthn/finish: the two halves of a
 * WebAuthn ceremony (register a passkey, or sign in with one), driven by
 * /static/webauthn.js. The challenge lives in the SSO session (one ceremony
 * at a time, single use, KH_MFA_WA_TTL seconds). Answers are JSON. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/access.h"
#include "idp/csrf.h"
#include "idp/idp.h"
#include "idp/mfa.h"
#include "idp/webauthn.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

#define NAME_MAX_BYTES 64

static void
json_answer(struct kh_resp *resp, int status, json_t *o)
{
	char *s = o != NULL ? json_dumps(o, JSON_COMPACT) : NULL;

	resp->status = s != NULL ? status : 500;
	resp->content_type = "application/json";
	kh_buf_reset(&resp->body);
	kh_buf_append_str(&resp->body, s != NULL ? s : "{\"error\":\"server_error\"}");
	free(s);
	json_decref(o);
}

/* An opaque, stable user handle: never the staff id itself. */
static void
user_handle(const struct kh_config *cfg, const char *uid, char out[32])
{
	unsigned char mac[KH_HMAC_LEN];
	const void *parts[2] = { "webauthn-user", uid };
	size_t lens[2] = { 13, strlen(uid) };

	kh_hmac_sha256_parts(cfg->session_key, cfg->session_key_len, parts, lens, 2, mac);
	kh_b64url_encode(mac, 16, out);
}

static json_t *
cred_list(const struct kh_mfa_state *m)
{
	json_t *a = json_array();
	size_t i;

	for (i = 0; a != NULL && i < m->nwebauthn; i++)
		json_array_append_new(
		    a, json_pack("{ss ss}", "type", "public-key", "id", m->webauthn[i].id));
	return a;
}

void
kh_handle_mfa_wa_options(struct kh_req *req, struct kh_resp *resp)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_store *st = req->app->store;
	unsigned char raw[KH_WA_CHALLENGE_LEN];
	char chal[64], uh[32], field[128];
	struct kh_mfa_ctx c;
	const char *mode;
	json_t *o = NULL;
	long failures = 0, locked = 0;

	if (!kh_csrf_check(req)) {
		kh_mfa_json_error(req, resp, 403, "csrf", M_ERR_CSRF);
		return;
	}
	if (kh_mfa_ctx_load(req, resp, &req->form, 1, &c) < 0)
		return;
	mode = kh_param_get(&req->form, "mode", NULL);
	if (mode == NULL || req->form.duplicates ||
	    (strcmp(mode, "register") != 0 && strcmp(mode, "auth") != 0)) {
		kh_mfa_json_error(req, resp, 400, "invalid_request", M_BAD_REQUEST_BODY);
		goto out;
	}
	if (strcmp(mode, "register") == 0 && !kh_mfa_may_enrol(req, &c)) {
		kh_mfa_json_error(req, resp, 403, "not_allowed", M_MFA_VERIFY_FIRST);
		goto out;
	}
	if (strcmp(mode, "register") == 0 && c.m->nwebauthn >= KH_MFA_WEBAUTHN_MAX) {
		kh_mfa_json_error(req, resp, 400, "too_many", M_BAD_REQUEST_BODY);
		goto out;
	}
	if (strcmp(mode, "auth") == 0) {
		if (c.m->nwebauthn == 0) {
			kh_mfa_json_error(req, resp, 400, "no_credentials", M_MFA_PASSKEY_FAILED);
			goto out;
		}
		if (kh_mfa_lock_check(st, c.s->uid, &failures, &locked) != KH_OK) {
			kh_mfa_unavailable(req, resp, 1);
			goto out;
		}
		if (locked > 0) {
			kh_mfa_json_error(req, resp, 429, "locked", M_MFA_ERR_LOCKED);
			goto out;
		}
	}
	if (kh_random(raw, sizeof(raw)) != KH_OK) {
		kh_mfa_json_error(req, resp, 500, "server_error", M_INTERNAL_BODY);
		goto out;
	}
	kh_b64url_encode(raw, sizeof(raw), chal);
	snprintf(field, sizeof(field), "%s %s %lld", mode, chal, (long long)kh_time());
	if (kh_session_field_set(st, c.cookie, KH_MFA_WA_FIELD, field, strlen(field)) != KH_OK) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	if (strcmp(mode, "register") == 0) {
		user_handle(cfg, c.s->uid, uh);
		o = json_pack("{ss s{ss ss} s{ss ss ss} s[{ss si} {ss si} {ss si}] so ss "
			      "s{ss ss} si}",
		    "challenge", chal, "rp", "id", cfg->mfa_webauthn_rp_id, "name", cfg->mfa_issuer,
		    "user", "id", uh, "name", c.s->uid, "displayName",
		    c.s->display_name != NULL && *c.s->display_name ? c.s->display_name : c.s->uid,
		    "pubKeyCredParams", "type", "public-key", "alg", -7, "type", "public-key",
		    "alg", -257, "type", "public-key", "alg", -8, "excludeCredentials",
		    cred_list(c.m), "attestation", cfg->mfa_webauthn_attestation,
		    "authenticatorSelection", "residentKey", "preferred", "userVerification",
		    cfg->mfa_webauthn_require_uv ? "required" : "preferred", "timeout", 120000);
	} else {
		o = json_pack("{ss ss so ss si}", "challenge", chal, "rpId",
		    cfg->mfa_webauthn_rp_id, "allowCredentials", cred_list(c.m), "userVerification",
		    cfg->mfa_webauthn_require_uv ? "required" : "preferred", "timeout", 120000);
	}
	json_answer(resp, 200, o);
out:
	explicit_bzero(raw, sizeof(raw));
	kh_mfa_ctx_free(&c);
}

/* Takes the ceremony out of the session (single use): 1 when one of mode is
 * there and fresh, its challenge in chal; 0 when none; -1 Redis down. */
static int
take_ceremony(struct kh_req *req, const struct kh_mfa_ctx *c, const char *mode, char chal[64])
{
	struct kh_store *st = req->app->store;
	char *v = NULL, m[16], ch[64];
	long long t = 0;
	size_t len = 0;
	int r, ok = 0;

	r = kh_session_field_get(st, c->cookie, KH_MFA_WA_FIELD, &v, &len);
	if (r == KH_ERR_NOT_FOUND)
		return 0;
	if (r != KH_OK)
		return -1;
	if (kh_session_field_set(st, c->cookie, KH_MFA_WA_FIELD, NULL, 0) != KH_OK) {
		kh_freezero(v, len + 1);
		return -1;
	}
	if (sscanf(v, "%15s %63s %lld", m, ch, &t) == 3 && strcmp(m, mode) == 0 && t <= kh_time() &&
	    kh_time() - t <= KH_MFA_WA_TTL) {
		kh_strlcpy(chal, ch, 64);
		ok = 1;
	}
	kh_freezero(v, len + 1);
	return ok;
}

static const char *
field(struct kh_req *req, const char *name)
{
	if (kh_param_count(&req->form, name) != 1)
		return NULL;
	return kh_param_get(&req->form, name, NULL);
}

static void
ok_redirect(struct kh_resp *resp, const char *url)
{
	json_answer(resp, 200, json_pack("{sb ss}", "ok", 1, "redirect", url));
}

static void
finish_register(struct kh_req *req, struct kh_resp *resp, struct kh_mfa_ctx *c, const char *chal)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_wa_rp rp = { cfg->mfa_webauthn_rp_id, req->app->origin };
	const char *id = field(req, "id"), *cd = field(req, "clientDataJSON");
	const char *ao = field(req, "attestationObject"), *nm = field(req, "name"), *why = "";
	struct kh_wa_cred cred;
	char *credjson = NULL, *doc = NULL, created[24];
	json_t *d = NULL, *cj = NULL;
	struct kh_buf to;
	int r;

	memset(&cred, 0, sizeof(cred));
	kh_buf_init(&to, 128);
	if (!kh_mfa_may_enrol(req, c)) {
		kh_mfa_json_error(req, resp, 403, "not_allowed", M_MFA_VERIFY_FIRST);
		goto out;
	}
	if (id == NULL || cd == NULL || ao == NULL) {
		kh_mfa_json_error(req, resp, 400, "invalid_request", M_BAD_REQUEST_BODY);
		goto out;
	}
	r = kh_wa_verify_registration(&rp, chal, cd, ao, cfg->mfa_webauthn_require_uv, &cred, &why);
	if (r == KH_OK && strcmp(cred.id, id) != 0) {
		r = KH_ERR_DENIED;
		why = "posted id differs from the attested credential id";
	}
	if (r != KH_OK) {
		kh_audit("mfa.enrol_failed", "rid", req->rid, "user", c->s->uid, "ip",
		    req->client_ip, "factor", "webauthn", "why", why, NULL);
		kh_mfa_json_error(req, resp, 400, "verification_failed", M_MFA_PASSKEY_FAILED);
		goto out;
	}
	if (nm == NULL || *nm == '\0' || strlen(nm) > NAME_MAX_BYTES ||
	    !kh_utf8_valid_text(nm, strlen(nm)))
		nm = "passkey";
	snprintf(created, sizeof(created), "%lld", (long long)kh_time());
	if (kh_wa_cred_to_json(&cred, &credjson) != KH_OK ||
	    (cj = json_loads(credjson, 0, NULL)) == NULL ||
	    (d = json_pack("{ss ss so}", "name", nm, "created", created, "cred", cj)) == NULL ||
	    (doc = json_dumps(d, JSON_COMPACT)) == NULL) {
		kh_mfa_json_error(req, resp, 500, "server_error", M_INTERNAL_BODY);
		goto out;
	}
	cj = NULL;
	r = kh_mfa_webauthn_add(req->app->store, c->s->uid, cred.id, doc, cred.sign_count);
	if (r == KH_ERR_EXISTS || r == KH_ERR_TOO_LARGE) {
		kh_mfa_json_error(req, resp, 400, "not_added", M_MFA_PASSKEY_FAILED);
		goto out;
	}
	if (r != KH_OK) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	kh_audit("mfa.enrol", "rid", req->rid, "user", c->s->uid, "ip", req->client_ip, "factor",
	    "webauthn", "fmt", cred.fmt, "aaguid", cred.aaguid, "via",
	    c->enrol_forced                ? "bypass_code"
		: kh_session_has_mfa(c->s) ? "mfa"
					   : "zone",
	    NULL);
	if (kh_mfa_elevate(
		req, resp, c, cred.backup_eligible ? "swk" : "hwk", "webauthn_enrol", 0) != KH_OK) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	kh_buf_append_str(&to, "/mfa/setup");
	kh_mfa_p_suffix(c, &to);
	ok_redirect(resp, kh_buf_cstr(&to));
out:
	json_decref(cj);
	json_decref(d);
	free(doc);
	free(credjson);
	kh_wa_cred_clear(&cred);
	kh_buf_free(&to);
}

static void
finish_auth(struct kh_req *req, struct kh_resp *resp, struct kh_mfa_ctx *c, const char *chal)
{
	const struct kh_config *cfg = req->app->cfg;
	struct kh_store *st = req->app->store;
	struct kh_wa_rp rp = { cfg->mfa_webauthn_rp_id, req->app->origin };
	const char *id = field(req, "id"), *cd = field(req, "clientDataJSON");
	const char *ad = field(req, "authenticatorData"), *sig = field(req, "signature");
	const char *rem = field(req, "remember"), *why = "unknown credential";
	struct kh_wa_cred cred;
	char *doc = NULL, *inner = NULL;
	json_t *d = NULL;
	uint32_t stored = 0, count = 0;
	long failures = 0, locked = 0;
	struct kh_buf next;
	int r;

	memset(&cred, 0, sizeof(cred));
	kh_buf_init(&next, 128);
	if (id == NULL || cd == NULL || ad == NULL || sig == NULL ||
	    strlen(id) > KH_MFA_CRED_ID_MAX) {
		kh_mfa_json_error(req, resp, 400, "invalid_request", M_BAD_REQUEST_BODY);
		goto out;
	}
	if (kh_mfa_lock_check(st, c->s->uid, &failures, &locked) != KH_OK) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	if (locked > 0) {
		kh_mfa_json_error(req, resp, 429, "locked", M_MFA_ERR_LOCKED);
		goto out;
	}
	r = kh_mfa_webauthn_get(st, c->s->uid, id, &doc, &stored);
	if (r == KH_OK) {
		d = json_loads(doc, 0, NULL);
		inner = d != NULL ? json_dumps(json_object_get(d, "cred"), JSON_COMPACT) : NULL;
		r = inner != NULL ? kh_wa_cred_from_json(inner, &cred) : KH_ERR_INVALID;
		if (r != KH_OK)
			why = "stored credential unreadable";
	}
	if (r == KH_ERR_UNAVAILABLE) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	if (r == KH_OK) {
		cred.sign_count = stored;
		r = kh_wa_verify_assertion(
		    &rp, chal, &cred, cd, ad, sig, cfg->mfa_webauthn_require_uv, &count, &why);
	}
	if (r == KH_OK) {
		r = kh_mfa_webauthn_counter(st, c->s->uid, id, count);
		if (r == KH_ERR_REPLAY) {
			why = "signature counter did not grow (cloned authenticator?)";
			kh_audit("mfa.webauthn_counter_replay", "rid", req->rid, "user", c->s->uid,
			    "ip", req->client_ip, "credential", id, NULL);
		} else if (r != KH_OK) {
			kh_mfa_unavailable(req, resp, 1);
			goto out;
		}
	}
	if (r != KH_OK) {
		kh_info(
		    "mfa.webauthn_refused", "rid", req->rid, "user", c->s->uid, "why", why, NULL);
		if (kh_mfa_failed(req, c, "webauthn", &locked) != KH_OK) {
			kh_mfa_unavailable(req, resp, 1);
			goto out;
		}
		kh_mfa_json_error(req, resp, locked > 0 ? 429 : 401,
		    locked > 0 ? "locked" : "verification_failed",
		    locked > 0 ? M_MFA_ERR_LOCKED : M_MFA_PASSKEY_FAILED);
		goto out;
	}
	if (kh_mfa_elevate(req, resp, c, cred.backup_eligible ? "swk" : "hwk", "webauthn",
		rem != NULL && strcmp(rem, "1") == 0) != KH_OK) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	kh_mfa_next_url(c, &next);
	ok_redirect(resp, kh_buf_cstr(&next));
out:
	kh_wa_cred_clear(&cred);
	free(inner);
	json_decref(d);
	free(doc);
	kh_buf_free(&next);
}

void
kh_handle_mfa_wa_finish(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_mfa_ctx c;
	const char *mode;
	char chal[64];
	int r;

	if (!kh_csrf_check(req)) {
		kh_mfa_json_error(req, resp, 403, "csrf", M_ERR_CSRF);
		return;
	}
	if (kh_mfa_ctx_load(req, resp, &req->form, 1, &c) < 0)
		return;
	mode = field(req, "mode");
	if (mode == NULL || (strcmp(mode, "register") != 0 && strcmp(mode, "auth") != 0)) {
		kh_mfa_json_error(req, resp, 400, "invalid_request", M_BAD_REQUEST_BODY);
		goto out;
	}
	if ((r = take_ceremony(req, &c, mode, chal)) < 0) {
		kh_mfa_unavailable(req, resp, 1);
		goto out;
	}
	if (r == 0) {
		kh_mfa_json_error(req, resp, 400, "no_ceremony", M_MFA_PASSKEY_FAILED);
		goto out;
	}
	if (strcmp(mode, "register") == 0)
		finish_register(req, resp, &c, chal);
	else
		finish_auth(req, resp, &c, chal);
out:
	kh_mfa_ctx_free(&c);
}
