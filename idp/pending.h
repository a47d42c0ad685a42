/* A protocol request waiting for the user to sign in (a SAML AuthnRequest, an
 * OIDC authorization request). The protocol handler saves what it needs
 * (opaque bytes, e.g. a lasso login dump or JSON) and sends the browser to
 * /login?p=ID; after a successful sign-in (or at once when the SSO session
 * already suffices) the browser goes to the resume URL of its kind with the
 * same id, where the handler takes the record back (single use).
 *
 * A record is bound to the browser that started it (HMAC of its kh_csrf
 * cookie), so a pending id sent to someone else's browser is useless. */
#ifndef KH_PENDING_H
#define KH_PENDING_H

#include <stddef.h>
#include <stdint.h>

#include "idp/http.h"

#define KH_PENDING_ID_LEN 22 /* 128 bits, base64url */
#define KH_PENDING_TTL 600

enum kh_pending_kind { KH_PENDING_SAML = 1, KH_PENDING_OIDC = 2 };

/* Flags the login page honours. */
#define KH_PENDING_FORCE_LOGIN                                                                     \
	1 /* ForceAuthn / prompt=login: ask for the password even with a session */
/* Saved again for the MFA page after a forced sign-in that already happened
 * for this request: the resumed handler must not ask for the password again. */
#define KH_PENDING_LOGIN_DONE 2

/* Saves data for this browser; writes the id into id[KH_PENDING_ID_LEN + 1].
 * Sets the kh_csrf cookie on resp when the browser has none. */
int kh_pending_save(struct kh_req *req, struct kh_resp *resp, enum kh_pending_kind kind, int flags,
    const void *data, size_t len, char id[KH_PENDING_ID_LEN + 1]);
/* Reads a record without consuming it (the login page uses this to check the
 * id and its flags). KH_ERR_NOT_FOUND when unknown, expired or bound to
 * another browser. data may be NULL. */
int kh_pending_peek(struct kh_req *req, const char *id, enum kh_pending_kind *kind, int *flags,
    int64_t *created, char **data, size_t *len);
/* Takes the record (single use). *data: free with kh_freezero(*data, *len + 1). */
int kh_pending_take(struct kh_req *req, const char *id, enum kh_pending_kind *kind, int *flags,
    int64_t *created, char **data, size_t *len);
/* Where the browser resumes: "/saml/sso?resume=ID" or "/oidc/authorize?resume=ID". */
int kh_pending_resume_url(enum kh_pending_kind kind, const char *id, struct kh_buf *out);
/* Sends the browser to the login page for this pending request. */
void kh_pending_redirect_to_login(struct kh_req *req, struct kh_resp *resp, const char *id);
/* 1 when s looks like a pending id. */
int kh_pending_id_valid(const char *s);

#endif
