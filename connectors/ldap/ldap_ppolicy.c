/* The user bind, with the password policy request control
 * (draft-behera-ldap-password-policy), on the thread's user handle.
 * ldap_sasl_bind_s cannot return response controls, hence the asynchronous
 * ldap_sasl_bind + ldap_result + ldap_parse_result. */
#include <string.h>
#include <sys/time.h>

#include "common/errors.h"
#include "common/log.h"
#include "connectors/ldap/ldap_internal.h"

/* Copies a server diagnostic for logs: printable ASCII only. */
void
kh_ldap_diag_copy(char *dst, size_t size, const char *src)
{
	size_t i;

	if (size == 0)
		return;
	for (i = 0; src != NULL && src[i] != '\0' && i + 1 < size; i++)
		dst[i] = (src[i] >= 0x20 && src[i] < 0x7f) ? src[i] : '?';
	dst[i] = '\0';
}

static enum kh_auth_result
map_result(struct kh_connector *c, int err, const char *diag, int have_pp, int expire, int grace,
    LDAPPasswordPolicyError pperr, struct kh_auth_info *info)
{
	if (err == LDAP_SUCCESS) {
		/* ppolicy: the bind of a reset password succeeds, but the
		 * session may only change the password. */
		if (have_pp && pperr == PP_changeAfterReset)
			return KH_AUTH_MUST_CHANGE;
		if (have_pp && pperr == PP_passwordExpired)
			return KH_AUTH_PASSWORD_EXPIRED;
		if (have_pp && pperr == PP_accountLocked)
			return KH_AUTH_LOCKED;
		if (have_pp && grace >= 0)
			info->grace_logins_left = grace;
		if (have_pp && expire >= 0)
			info->expires_in = expire;
		return KH_AUTH_OK;
	}
	if (err == LDAP_INVALID_CREDENTIALS) {
		if (have_pp && pperr == PP_accountLocked)
			return KH_AUTH_LOCKED;
		if (have_pp && pperr == PP_passwordExpired)
			return KH_AUTH_PASSWORD_EXPIRED;
		if (have_pp && pperr == PP_changeAfterReset)
			return KH_AUTH_MUST_CHANGE;
		if (c->ad)
			return kh_ldap_ad_result(diag, NULL);
		return KH_AUTH_INVALID;
	}
	if (kh_ldap_rc_down(err) || err == LDAP_BUSY || err == LDAP_UNAVAILABLE)
		return KH_AUTH_UNAVAILABLE;
	/* e.g. unwillingToPerform, or an AD account restriction reported as
	 * something other than 49: never a login. */
	return KH_AUTH_ERROR;
}

enum kh_auth_result
kh_ldap_user_bind(struct kh_connector *c, struct kh_ldap_thread *t, const char *dn,
    const char *password, size_t plen, struct kh_auth_info *info)
{
	LDAPControl ppreq = { LDAP_CONTROL_PASSWORDPOLICYREQUEST, { 0, NULL }, 0 };
	LDAPControl *sctrls[2] = { &ppreq, NULL };
	LDAPControl **rctrls = NULL, *pp;
	LDAPMessage *res = NULL;
	LDAPPasswordPolicyError pperr = PP_noError;
	struct berval cred;
	struct timeval tv;
	ber_int_t expire = -1, grace = -1;
	char *diag = NULL;
	LDAP *ld = NULL;
	int attempt, fresh, msgid, rc, err = LDAP_OTHER, have_pp = 0;
	enum kh_auth_result ar = KH_AUTH_ERROR;

	cred.bv_val = (char *)password;
	cred.bv_len = plen;
	for (attempt = 0; attempt < 2; attempt++) {
		fresh = t->user == NULL; /* a fresh handle has tried every URI */
		if (kh_ldap_user_handle(c, t, &ld) != KH_OK)
			return KH_AUTH_UNAVAILABLE;
		rc = ldap_sasl_bind(ld, dn, LDAP_SASL_SIMPLE, &cred, sctrls, NULL, &msgid);
		if (rc == LDAP_SUCCESS) {
			tv.tv_sec = c->timeout;
			tv.tv_usec = 0;
			rc = ldap_result(ld, msgid, LDAP_MSG_ALL, &tv, &res);
			if (rc == 0) {
				/* timed out: the bind may still be pending */
				kh_ldap_drop(&t->user);
				kh_warn("ldap.unavailable", "uris", c->uris, "error",
				    "bind timed out", NULL);
				return KH_AUTH_UNAVAILABLE;
			}
			if (rc > 0)
				break;
			if (ldap_get_option(ld, LDAP_OPT_RESULT_CODE, &rc) != LDAP_OPT_SUCCESS)
				rc = LDAP_SERVER_DOWN;
		}
		kh_ldap_drop(&t->user);
		if (!kh_ldap_rc_down(rc)) {
			kh_error("ldap.bind_failed", "error", ldap_err2string(rc), NULL);
			return KH_AUTH_ERROR;
		}
		if (fresh || attempt == 1) {
			kh_warn("ldap.unavailable", "uris", c->uris, "handle", "user", "error",
			    ldap_err2string(rc), NULL);
			return KH_AUTH_UNAVAILABLE;
		}
		kh_warn("ldap.failover", "uris", c->uris, "handle", "user", "error",
		    ldap_err2string(rc), NULL);
	}
	/* res is freed by ldap_parse_result (freeit = 1). */
	rc = ldap_parse_result(ld, res, &err, NULL, &diag, NULL, &rctrls, 1);
	res = NULL;
	if (rc != LDAP_SUCCESS) {
		kh_ldap_drop(&t->user);
		kh_warn("ldap.bind_reply_invalid", "error", ldap_err2string(rc), NULL);
		ar = KH_AUTH_ERROR;
		goto out;
	}
	if (rctrls != NULL &&
	    (pp = ldap_control_find(LDAP_CONTROL_PASSWORDPOLICYRESPONSE, rctrls, NULL)) != NULL) {
		if (ldap_parse_passwordpolicy_control(ld, pp, &expire, &grace, &pperr) ==
		    LDAP_SUCCESS)
			have_pp = 1;
		else
			kh_warn("ldap.ppolicy_control_invalid", "dn", dn, NULL);
	}
	kh_ldap_diag_copy(info->diag, sizeof(info->diag), diag);
	ar = map_result(c, err, diag, have_pp, expire, grace, pperr, info);
	if (ar == KH_AUTH_UNAVAILABLE)
		kh_ldap_drop(&t->user);
out:
	if (rctrls != NULL)
		ldap_controls_free(rctrls);
	if (diag != NULL)
		ldap_memfree(diag);
	return ar;
}
