/* SAML 2.0 identity provider on lasso: metadata, SP-initiated and
 * IdP-initiated web SSO, single logout. The module's only public surface is
 * this header plus its endpoint table (idp/saml/routes.c) and the registry
 * view hooks declared in idp/apps.h.
 *
 * Lifecycle (called by idp/main.c, main thread, before any worker thread):
 *   kh_saml_global_init(app, &err)  after the keys are loaded (app->keys) and
 *                                   before kh_apps_start / kh_http_start
 *   kh_saml_global_free(app)        after kh_http_stop / kh_apps_stop
 *
 * Never: add a provider to a LassoServer that is serving, log a message body,
 * post to a URL that is not in registered metadata. */
#ifndef KH_SAML_H
#define KH_SAML_H

#include "idp/http.h"

struct kh_idp;

/* Calls lasso_init once, routes lasso's glib logging to kh_log, renders the
 * IdP metadata and checks it by loading it into lasso with the signing key.
 * With no RSA key configured the module stays disabled (its endpoints answer
 * 404) and this returns KH_OK. On failure *errmsg (caller frees) says why. */
int kh_saml_global_init(struct kh_idp *app, char **errmsg);
void kh_saml_global_free(struct kh_idp *app);

/* Front-channel SAML single logout for a sign-out that did not start at a
 * SAML SP (GET|POST /logout, /oidc/logout). Call it after the SSO session has
 * been loaded and before it is destroyed.
 *
 * Returns 1 when the session had SAML SPs: resp now sends the browser to the
 * first SP's SingleLogoutService; the browser hops through every SP and ends
 * at return_to (a local path such as "/logout?done=1", or NULL for "/login").
 * The caller must still destroy the session and clear the cookie (adding a
 * Set-Cookie to resp is fine) but must not change resp's status, body or
 * Location. Returns 0 when there is nothing to do for SAML (resp untouched),
 * or a negative KH_ERR_* (resp untouched; log it and continue the logout). */
int kh_saml_logout_begin_or_respond(
    struct kh_req *req, struct kh_resp *resp, const char *cookie, const char *return_to);

#endif
