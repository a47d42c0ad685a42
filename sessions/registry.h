/* The app registry: SAML service providers, OIDC clients and their access
 * policy, as JSON documents in Redis shared by every daemon.
 *
 *   P reg:version          integer, INCR on every change
 *   P reg:app:<id>         the JSON document of one app
 *   P reg:apps             set of app ids
 *
 * Writers (the admin API) change a document and bump the version in one
 * MULTI/EXEC. Readers (the daemons) poll the version every [registry] poll_ms
 * and rebuild their in-memory view when it changed; they never mutate a view
 * in place (see idp/apps.h). */
#ifndef KH_REGISTRY_H
#define KH_REGISTRY_H

#include <stddef.h>

struct kh_store;

#define KH_APP_ID_MAX 128 /* [A-Za-z0-9._-] */
#define KH_APP_DOC_MAX (512 * 1024) /* one JSON document (SAML metadata included) */
#define KH_APPS_MAX 4096

/* Current version (0 when the registry is empty). */
int kh_registry_version(struct kh_store *st, long long *version);
/* Adds or replaces; with create_only, KH_ERR_EXISTS when the id is taken. */
int kh_registry_put(struct kh_store *st, const char *id, const char *json, int create_only);
/* *json: NUL-terminated copy, free(). KH_ERR_NOT_FOUND when absent. */
int kh_registry_get(struct kh_store *st, const char *id, char **json);
int kh_registry_delete(struct kh_store *st, const char *id);
/* Every document with the version they belong to (read consistently:
 * retried when the version moves during the read). *docs is a NULL-terminated
 * array of strings; free with kh_registry_list_free. */
int kh_registry_list(struct kh_store *st, char ***docs, long long *version);
void kh_registry_list_free(char **docs);
/* 1 when id is a valid app id. */
int kh_registry_id_valid(const char *id);

#endif
