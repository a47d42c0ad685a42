/* The MFA pages (/mfa, /mfa/setup, /mfa/totp, /mfa/recovery,
 * /mfa/webauthn/...): what they share. Internal to idp/. */
#ifndef KH_IDP_MFA_H
#define KH_IDP_MFA_H

#include "idp/http.h"
#include "idp/pending.h"

struct kh_session;
struct kh_mfa_state;

/* The session field holding a WebAuthn ceremony in progress:
 * "MODE CHALLENGE_B64 UNIX_TIME" (MODE register|auth). */
#define KH_MFA_WA_FIELD "x_wa"
/* Set after a helpdesk bypass code: the user must enrol a factor now. */
#define KH_MFA_ENROL_FIELD "x_mfa_enrol"
#define KH_MFA_WA_TTL 300

struct kh_mfa_ctx {
	struct kh_session *s;
	const char *cookie;
	const char *p; /* a valid pending id of this browser, or NULL */
	enum kh_pending_kind kind;
	struct kh_mfa_state *m;
	int enrol_forced; /* KH_MFA_ENROL_FIELD is set */
};

/* Loads the session (none: redirect to /login, or a JSON 401 when json),
 * the "p" field of ps (unknown: error page), the user's MFA state. 0: ready;
 * -1: resp already answers. */
int kh_mfa_ctx_load(struct kh_req *req, struct kh_resp *resp, const struct kh_params *ps, int json,
    struct kh_mfa_ctx *c);
void kh_mfa_ctx_free(struct kh_mfa_ctx *c);

/* Where to go after the second factor: the pending request's resume URL, or
 * /mfa/setup. */
void kh_mfa_next_url(const struct kh_mfa_ctx *c, struct kh_buf *out);
/* "?p=ID" or "" for links that keep the pending request. */
void kh_mfa_p_suffix(const struct kh_mfa_ctx *c, struct kh_buf *out);

/* Records the second factor on the session (amr "pwd METHOD mfa", acr mfa),
 * clears the MFA failure count and the forced-enrolment mark, issues the
 * remember-device cookie when asked, audits "mfa.success". */
int kh_mfa_elevate(struct kh_req *req, struct kh_resp *resp, struct kh_mfa_ctx *c,
    const char *amr_method, const char *via, int remember);
/* Counts a failure and audits it; *locked_for > 0 when MFA is locked now. */
int kh_mfa_failed(struct kh_req *req, struct kh_mfa_ctx *c, const char *via, long *locked_for);

/* 1 when this session may add or change factors: it has given a second
 * factor, or the user has none yet and is either in [mfa] enrol_zones or
 * forced to enrol by a bypass code. */
int kh_mfa_may_enrol(struct kh_req *req, const struct kh_mfa_ctx *c);

/* The csrf and p hidden fields of every MFA form. */
void kh_mfa_hidden(struct kh_resp *resp, const char *csrf, const struct kh_mfa_ctx *c);
/* 303 to base with ?p=ID when a request is pending. */
void kh_mfa_redirect_p(struct kh_resp *resp, const struct kh_mfa_ctx *c, const char *base);
/* Opens <div id="webauthn" data-mode=MODE ...> for /static/webauthn.js with
 * its endpoints, the csrf token, the pending id and the ja/en messages, and
 * the error and unsupported paragraphs; the caller adds its button and
 * closes the div. */
void kh_mfa_webauthn_div(struct kh_req *req, struct kh_resp *resp, const char *csrf,
    const struct kh_mfa_ctx *c, const char *mode);
/* Redis down: the 503 page (or JSON), logged. */
void kh_mfa_unavailable(struct kh_req *req, struct kh_resp *resp, int json);

/* A JSON answer {"error": code, "message": text} with status. */
void kh_mfa_json_error(
    struct kh_req *req, struct kh_resp *resp, int status, const char *code, enum kh_msg msg);

/* Handlers */
void kh_handle_mfa(struct kh_req *req, struct kh_resp *resp);
void kh_handle_mfa_setup(struct kh_req *req, struct kh_resp *resp);
void kh_handle_mfa_totp(struct kh_req *req, struct kh_resp *resp);
void kh_handle_mfa_recovery(struct kh_req *req, struct kh_resp *resp);
void kh_handle_mfa_wa_options(struct kh_req *req, struct kh_resp *resp);
void kh_handle_mfa_wa_finish(struct kh_req *req, struct kh_resp *resp);

#endif
