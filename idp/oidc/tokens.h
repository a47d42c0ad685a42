/* Token records and minting shared by the OIDC endpoints (see tokens.c). */
#ifndef KH_OIDC_TOKENS_H
#define KH_OIDC_TOKENS_H

#include <jansson.h>
#include <stdint.h>

#include "idp/http.h"

struct kh_idp;
struct oidc_client;

int oidc_rec_put(struct kh_idp *app, const char *tag, const char *purpose, const char *secret,
    json_t *rec, long ttl, int nx);
/* Reads (or takes) the record stored under the hash of secret; hid (may be
 * NULL) receives that hash for follow-up keys. */
int oidc_rec_read(struct kh_idp *app, const char *tag, const char *purpose, const char *secret,
    int take, json_t **rec, char hid[65]);
int oidc_grant_live(struct kh_idp *app, const char *gid);
/* KH_OK unless the helpdesk revoked uid's tokens after time t (the grant's
 * auth_time, or an access token's iat): then KH_ERR_DENIED. */
int oidc_user_live(struct kh_idp *app, const char *uid, int64_t t);
int oidc_scope_has(const char *scope, const char *want);
int oidc_logout_token(
    struct kh_idp *app, const struct oidc_client *c, const char *sub, const char *sid, char **jwt);
/* Mints the access token (and refresh and ID tokens as the grant allows)
 * and writes the token response into resp. grant is modified. */
int oidc_issue_tokens(struct kh_req *req, struct kh_resp *resp, const struct oidc_client *c,
    json_t *grant, int with_nonce, int with_refresh);

#endif
