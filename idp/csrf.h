/* CSRF protection for forms. A random pre-session cookie (kh_csrf) is bound
 * to the form token by HMAC with the server secret: the token is useless
 * without the cookie, and the cookie alone cannot be turned into a token. */
#ifndef KH_CSRF_H
#define KH_CSRF_H

#include "idp/http.h"

#define KH_CSRF_COOKIE "kh_csrf"
#define KH_CSRF_FIELD "csrf"
#define KH_CSRF_TOKEN_LEN 43

/* Writes the token for this browser into token[KH_CSRF_TOKEN_LEN + 1],
 * setting a new kh_csrf cookie on resp when the browser has none. */
int kh_csrf_token(struct kh_req *req, struct kh_resp *resp, char token[KH_CSRF_TOKEN_LEN + 1]);
/* The browser's kh_csrf cookie value (a fresh one is set on resp when it has
 * none); pending protocol requests are bound to it. */
int kh_csrf_cookie(struct kh_req *req, struct kh_resp *resp, char value[KH_CSRF_TOKEN_LEN + 1]);
/* 1 when the form's token matches the cookie and any Origin header is ours. */
int kh_csrf_check(struct kh_req *req);

#endif
