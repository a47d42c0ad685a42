/* The admin and helpdesk REST API inside kakehashid: /admin/api/v1/...
 *
 * One prefix endpoint (admin/routes.c) authenticates the bearer token,
 * routes by method and path segments, calls the handler, and writes one
 * audit line per call (token name, method, path, status). Handlers reached
 * through the router are already authenticated with the role of their
 * route; they fill resp with kh_admin_json / kh_admin_error.
 *
 * Tokens: [admin] tokens_file, lines "NAME ROLE SHA256HEX" (ROLE admin or
 * helpdesk; the SHA-256 of the bearer token in hex, made with
 * `kakehashictl token hash`). Read at every call, so edits apply at once.
 *
 * Errors are always JSON: {"error":"code","message":"...","message_ja":"..."}.
 * App documents (JSON in sessions/registry.h):
 *   {"id","name","protocol":"saml"|"oidc","enabled":true,"groups":[...],
 *    "category":"communication"|"general","created","updated",
 *    "saml":{...} | "oidc":{...}}
 * The protocol sub-objects belong to admin/apps_saml.c and admin/apps_oidc.c. */
#ifndef KH_ADMIN_H
#define KH_ADMIN_H

#include <jansson.h>

#include "idp/http.h"

enum kh_admin_role {
	KH_ROLE_HELPDESK = 1, /* read, helpdesk actions */
	KH_ROLE_ADMIN = 2, /* everything; includes helpdesk */
};

#define KH_ADMIN_TOKEN_NAME_MAX 64 /* [A-Za-z0-9._-] */
#define KH_ADMIN_TOKEN_MAX 512 /* bearer token bytes */
#define KH_ADMIN_TOKENS_FILE_MAX (64 * 1024)

/* ---- for every handler ---- */

/* KH_OK when the request carries a bearer token of at least required_role;
 * otherwise the 401 / 403 / 404 (API disabled) / 500 JSON answer is already
 * in resp and a negative KH_ERR is returned. Cheap when the router already
 * authenticated this request. */
int kh_admin_auth_or_respond(struct kh_req *req, struct kh_resp *resp, int required_role);
/* Name of the token that authenticated the current request on this thread
 * ("-" when none): for audit lines. Valid until the handler returns. */
const char *kh_admin_caller(const struct kh_req *req);
/* Writes body (stolen, may be NULL = {}) as the JSON answer with status. */
void kh_admin_json(struct kh_resp *resp, int status, json_t *body);
/* {"error":code,"message":message_en,"message_ja":message_ja} */
void kh_admin_error(struct kh_resp *resp, int status, const char *code, const char *message_en,
    const char *message_ja);
/* The JSON object in the body into *out (json_decref). Otherwise answers
 * 400 (none, malformed, not an object, duplicate keys), 413 (over
 * max_body_bytes) or 415 (not application/json) and returns a KH_ERR. */
int kh_admin_read_json_or_respond(struct kh_req *req, struct kh_resp *resp, json_t **out);
/* One audit line: event, token name, request id, client address, method,
 * path, app id (may be NULL), result. Never pass secrets. */
void kh_admin_audit(
    const struct kh_req *req, const char *event, const char *id, const char *result);

/* ---- app documents (for admin/apps_saml.c and admin/apps_oidc.c) ---- */

/* Checks and completes the fields shared by every app in doc: id (valid
 * registry id), name (1..200 bytes of UTF-8), protocol (== protocol),
 * enabled (boolean, default true), groups (array of group names, default
 * []), category ("communication" | "general", default "general"). created
 * and updated are set by kh_admin_app_save_or_respond. KH_OK, or a 400 is
 * in resp naming the field. */
int kh_admin_app_common_or_respond(
    struct kh_req *req, struct kh_resp *resp, json_t *doc, const char *protocol);
/* Stores doc (not stolen) in the registry: create = 1 refuses an existing
 * id (409), create = 0 requires one (404) and keeps its "created" and
 * "protocol" (409 when the protocol differs). Sets "created"/"updated"
 * (ISO 8601 UTC). On success nothing is written to resp and *version is
 * the registry version after the write; otherwise the JSON error is in
 * resp (400 / 404 / 409 / 413 / 503). */
int kh_admin_app_save_or_respond(
    struct kh_req *req, struct kh_resp *resp, json_t *doc, int create, long long *version);
/* The stored document of id into *doc (json_decref), or 404/503 answered. */
int kh_admin_app_load_or_respond(
    struct kh_req *req, struct kh_resp *resp, const char *id, json_t **doc);

/* ---- routes implemented in admin/apps.c ---- */

/* GET /admin/api/v1/apps: {"apps":[summary...],"version":n} (helpdesk) */
void kh_admin_apps_list(struct kh_req *req, struct kh_resp *resp);
/* GET /admin/api/v1/apps/{id}: {"app":{...},"version":n} (helpdesk) */
void kh_admin_apps_show(struct kh_req *req, struct kh_resp *resp, const char *id);
/* DELETE /admin/api/v1/apps/{id}: {"deleted":id,"version":n} (admin) */
void kh_admin_apps_delete(struct kh_req *req, struct kh_resp *resp, const char *id);

/* ---- routes implemented by the SAML and OIDC owners (admin role) ----
 * POST /admin/api/v1/apps/saml              kh_admin_apps_saml_create
 * PUT  /admin/api/v1/apps/{id}  (a SAML app) kh_admin_apps_saml_update
 * POST /admin/api/v1/apps/oidc              kh_admin_apps_oidc_create
 * PUT  /admin/api/v1/apps/{id}  (an OIDC app) kh_admin_apps_oidc_update
 * POST /admin/api/v1/apps/{id}/rotate-secret (an OIDC app)
 *                                           kh_admin_apps_oidc_rotate_secret
 * The router has checked the token (admin role), that id is a valid registry
 * id and, for update / rotate-secret, that the app exists with that protocol.
 * Success: 201 (create) or 200 with {"app":{...},"version":n} (plus e.g.
 * "client_secret" once for OIDC). */
void kh_admin_apps_saml_create(struct kh_req *req, struct kh_resp *resp);
void kh_admin_apps_saml_update(struct kh_req *req, struct kh_resp *resp, const char *id);
void kh_admin_apps_oidc_create(struct kh_req *req, struct kh_resp *resp);
void kh_admin_apps_oidc_update(struct kh_req *req, struct kh_resp *resp, const char *id);
void kh_admin_apps_oidc_rotate_secret(struct kh_req *req, struct kh_resp *resp, const char *id);

/* ---- helpdesk routes (helpdesk or admin token) ---- */

/* admin/users.c: GET /admin/api/v1/users/{uid}:
 * {"user":{uid,dn,display_name,family_name,given_name,mail,employee_number,
 *  department,title,groups:[...]},"sessions":[{id,created,auth_time,expires,
 *  client_ip,amr}],"throttle":{failures,locked,locked_for}}; 404 when the
 * directory has no such user. */
void kh_admin_users_show(struct kh_req *req, struct kh_resp *resp, const char *uid);
/* admin/users.c: POST /admin/api/v1/users/{uid}/revoke-sessions with
 * {"reason":"1-500 characters"}: deletes every session of uid; audited as
 * helpdesk.revoke_sessions (token, user, reason, count).
 * {"user":uid,"revoked":n} */
void kh_admin_users_revoke_sessions(struct kh_req *req, struct kh_resp *resp, const char *uid);
/* POST /users/{uid}/mfa/reset {"reason", "bypass": bool} and
 * POST /users/{uid}/mfa/unlock {"reason"} (admin/users_mfa.c). */
void kh_admin_mfa_reset(struct kh_req *req, struct kh_resp *resp, const char *uid);
void kh_admin_mfa_unlock(struct kh_req *req, struct kh_resp *resp, const char *uid);
/* The "mfa" object of GET /users/{uid}; NULL when Redis is down. */
json_t *kh_admin_mfa_json(struct kh_req *req, const char *uid);
/* The required "reason" of a helpdesk act (1-500 characters of text);
 * otherwise 400 is answered. */
int kh_admin_reason_or_respond(struct kh_resp *resp, json_t *in, const char **reason);
/* A user name: 1..KH_USERNAME_MAX bytes of UTF-8 text; otherwise 400. */
int kh_admin_uid_ok_or_respond(struct kh_resp *resp, const char *uid);
/* admin/audit_api.c: GET /admin/api/v1/audit[?user=UID][&count=N] (N 1..1000,
 * default 100): {"events":[{"id","ts","event",...}],"user":uid|null},
 * newest first. */
void kh_admin_audit_list(struct kh_req *req, struct kh_resp *resp);

/* admin/apps.c: GET /admin/api/v1/policies (any token):
 * {"policies":[names],"default_policy":name,"source":file or "built-in"} */
void kh_admin_policies_list(struct kh_req *req, struct kh_resp *resp);

/* The prefix endpoint (admin/routes.c). */
void kh_admin_dispatch(struct kh_req *req, struct kh_resp *resp);

#endif
