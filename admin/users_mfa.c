/* Helpdesk MFA endpoints for one user:
 *   POST /admin/api/v1/users/{uid}/mfa/reset   {"reason": "...", "bypass": true|false}
 *   POST /admin/api/v1/users/{uid}/mfa/unlock  {"reason": "..."}
 * and the "mfa" part of GET /admin/api/v1/users/{uid}. A reset removes every
 * factor and remembered device, signs the user out everywhere, kills their
 * OIDC tokens and, when asked, issues a one-time bypass code that lets them
 * enrol again (and only that). Every act is audited with the token name and
 * the reason; the bypass code itself is never logged. */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "admin/admin.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/idp.h"
#include "idp/oidc/oidc.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"

static void
unavailable(struct kh_resp *resp)
{
	kh_admin_error(resp, 503, "unavailable", "The session store (Redis) cannot be reached.",
	    "セッションストア (Redis) に接続できません。");
}

json_t *
kh_admin_mfa_json(struct kh_req *req, const char *uid)
{
	struct kh_mfa_state *m = NULL;
	json_t *o, *pk;
	size_t i;

	if (kh_mfa_state_get(req->app->store, uid, &m) != KH_OK)
		return NULL;
	o = json_object();
	pk = json_array();
	for (i = 0; i < m->nwebauthn; i++) {
		json_t *d = json_loads(m->webauthn[i].doc, 0, NULL), *e = json_object();
		json_t *cred = d != NULL ? json_object_get(d, "cred") : NULL;
		json_object_set_new(e, "id", json_string(m->webauthn[i].id));
		if (d != NULL) {
			json_object_set(e, "name", json_object_get(d, "name"));
			json_object_set(e, "created", json_object_get(d, "created"));
		}
		if (cred != NULL) {
			json_object_set(e, "fmt", json_object_get(cred, "fmt"));
			json_object_set(e, "aaguid", json_object_get(cred, "aaguid"));
		}
		json_object_set_new(e, "sign_count", json_integer(m->webauthn[i].sign_count));
		json_array_append_new(pk, e);
		json_decref(d);
	}
	json_object_set_new(o, "totp", json_boolean(m->totp_active));
	json_object_set_new(o, "totp_enrolled_at", json_integer(m->totp_enrolled_at));
	json_object_set_new(o, "passkeys", pk);
	json_object_set_new(o, "recovery_codes_left", json_integer((json_int_t)m->recovery_left));
	json_object_set_new(o, "bypass_active", json_boolean(m->bypass_active));
	json_object_set_new(o, "bypass_expires", json_integer(m->bypass_expires));
	json_object_set_new(o, "failures", json_integer(m->failures));
	json_object_set_new(o, "locked", json_boolean(m->locked_for > 0));
	json_object_set_new(o, "locked_for", json_integer(m->locked_for));
	json_object_set_new(
	    o, "remembered_devices", json_integer((json_int_t)m->remembered_devices));
	kh_mfa_state_free(m);
	return o;
}

/* uid, the JSON body and its "reason": KH_OK, or resp answers (4xx). */
static int
act_or_respond(
    struct kh_req *req, struct kh_resp *resp, const char *uid, json_t **in, const char **reason)
{
	*in = NULL;
	if (kh_admin_uid_ok_or_respond(resp, uid) != KH_OK ||
	    kh_admin_read_json_or_respond(req, resp, in) != KH_OK)
		return KH_ERR_INVALID;
	if (kh_admin_reason_or_respond(resp, *in, reason) != KH_OK) {
		json_decref(*in);
		*in = NULL;
		return KH_ERR_INVALID;
	}
	return KH_OK;
}

void
kh_admin_mfa_reset(struct kh_req *req, struct kh_resp *resp, const char *uid)
{
	struct kh_idp *app = req->app;
	struct kh_mfa_reset_counts rc;
	char code[KH_MFA_CODE_LEN + 1], nsess[24], exp[24], rm[96];
	const char *reason;
	json_t *in = NULL, *bp, *body, *removed;
	long sessions = 0;
	int bypass = 0;
	int64_t expires = 0;

	memset(&rc, 0, sizeof(rc));
	memset(code, 0, sizeof(code));
	if (act_or_respond(req, resp, uid, &in, &reason) != KH_OK)
		return;
	bp = json_object_get(in, "bypass");
	if (bp != NULL && !json_is_boolean(bp)) {
		kh_admin_error(resp, 400, "invalid_field", "\"bypass\" must be true or false",
		    "\"bypass\" は true か false で指定してください。");
		goto out;
	}
	bypass = json_is_true(bp);
	/* Factors first: if Redis fails half way the user is left with fewer
	 * factors and live sessions, never with old factors and no record. */
	if (kh_mfa_reset(app->store, uid, &rc) != KH_OK ||
	    kh_session_revoke_user(app->store, uid, &sessions) != KH_OK ||
	    kh_oidc_user_revoke(app, uid) != KH_OK) {
		unavailable(resp);
		goto out;
	}
	if (bypass) {
		if (kh_mfa_bypass_issue(app->store, uid, app->cfg->mfa_bypass_ttl, code) != KH_OK) {
			unavailable(resp);
			goto out;
		}
		expires = kh_time() + app->cfg->mfa_bypass_ttl;
	}
	snprintf(nsess, sizeof(nsess), "%ld", sessions);
	snprintf(rm, sizeof(rm), "totp=%d recovery=%ld passkeys=%ld devices=%ld", rc.totp,
	    rc.recovery, rc.webauthn, rc.devices);
	kh_audit("helpdesk.mfa_reset", "rid", req->rid, "token", kh_admin_caller(req), "ip",
	    req->client_ip, "user", uid, "reason", reason, "removed", rm, "sessions", nsess,
	    "bypass", bypass ? "issued" : "no", NULL);
	if (bypass) {
		snprintf(exp, sizeof(exp), "%lld", (long long)expires);
		kh_audit("helpdesk.bypass_issued", "rid", req->rid, "token", kh_admin_caller(req),
		    "ip", req->client_ip, "user", uid, "reason", reason, "expires", exp, NULL);
	}
	body = json_object();
	removed = json_object();
	json_object_set_new(removed, "totp", json_boolean(rc.totp));
	json_object_set_new(removed, "recovery_codes", json_integer(rc.recovery));
	json_object_set_new(removed, "passkeys", json_integer(rc.webauthn));
	json_object_set_new(removed, "remembered_devices", json_integer(rc.devices));
	json_object_set_new(body, "user", json_string(uid));
	json_object_set_new(body, "removed", removed);
	json_object_set_new(body, "sessions_revoked", json_integer(sessions));
	json_object_set_new(body, "tokens_revoked", json_true());
	if (bypass) {
		json_object_set_new(body, "bypass_code", json_string(code));
		json_object_set_new(body, "bypass_expires", json_integer(expires));
	}
	kh_admin_json(resp, 200, body);
out:
	explicit_bzero(code, sizeof(code));
	json_decref(in);
}

void
kh_admin_mfa_unlock(struct kh_req *req, struct kh_resp *resp, const char *uid)
{
	const char *reason;
	long failures = 0, locked = 0;
	json_t *in = NULL, *body;
	char was[24];

	if (act_or_respond(req, resp, uid, &in, &reason) != KH_OK)
		return;
	if (kh_mfa_lock_check(req->app->store, uid, &failures, &locked) != KH_OK ||
	    kh_mfa_unlock(req->app->store, uid) != KH_OK) {
		unavailable(resp);
		goto out;
	}
	snprintf(was, sizeof(was), "%ld", locked);
	kh_audit("helpdesk.mfa_unlock", "rid", req->rid, "token", kh_admin_caller(req), "ip",
	    req->client_ip, "user", uid, "reason", reason, "locked_for", was, NULL);
	body = json_object();
	json_object_set_new(body, "user", json_string(uid));
	json_object_set_new(body, "was_locked", json_boolean(locked > 0));
	json_object_set_new(body, "failures_cleared", json_integer(failures));
	kh_admin_json(resp, 200, body);
out:
	json_decref(in);
}
