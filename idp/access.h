/* The access decision at the moment an app is about to get an assertion or a
 * code: the app's policy (idp/policy.h) for this session, network and device,
 * plus what the app itself asked for (SAML RequestedAuthnContext, OIDC
 * acr_values). Used by idp/saml and idp/oidc after the SSO session is known. */
#ifndef KH_ACCESS_H
#define KH_ACCESS_H

#include "idp/http.h"
#include "idp/policy.h"

struct kh_session;
struct kh_apps_view;

#define KH_ACR_PWD "urn:kakehashi:acr:pwd"
#define KH_ACR_MFA "urn:kakehashi:acr:mfa"
#define KH_DEVICE_COOKIE "kh_dev"

enum kh_access {
	KH_ACCESS_ALLOW = 0, /* go on */
	KH_ACCESS_MFA = 1, /* a second factor is needed first: send to /mfa */
	KH_ACCESS_DENIED = 2, /* resp holds the 403 page saying why (audited) */
	KH_ACCESS_ERROR = 3, /* resp holds a 503 page (Redis down) */
};

/* 1 when the session's amr says a second factor was given. */
int kh_session_has_mfa(const struct kh_session *s);

/* The device trust of this request for uid: managed (the policy's header
 * from a trusted proxy), remembered (a live kh_dev cookie of uid) or
 * unmanaged. Negative KH_ERR when Redis is down. */
int kh_access_device(struct kh_req *req, const char *uid, enum kh_device_trust *out);

/* The policy name of app_id in view v ("policy" of its document; else
 * "communication" for category communication when that policy exists; else
 * NULL = default_policy). Borrowed from the view. */
const char *kh_access_policy_of(
    const struct kh_idp *app, const struct kh_apps_view *v, const char *app_id);

/* Decides for session s and app app_id; want_mfa: the app asked for a second
 * factor. On KH_ACCESS_DENIED / KH_ACCESS_ERROR the page is in resp. */
enum kh_access kh_access_decide(struct kh_req *req, struct kh_resp *resp,
    const struct kh_apps_view *v, const char *app_id, const struct kh_session *s, int want_mfa);

/* Sends the browser to /mfa?p=ID (303). */
void kh_access_redirect_mfa(struct kh_resp *resp, const char *pending_id);

#endif
