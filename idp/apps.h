/* The daemon's in-memory view of the app registry (sessions/registry.h).
 *
 * A view is immutable once published: a background thread polls the
 * registry version every [registry] poll_ms and, when it moved, builds a new
 * view from all documents, lets the protocol modules derive their state from
 * it (the SAML module builds a fresh LassoServer with every SP; the OIDC
 * module parses its clients), then swaps it in. Request handlers take a
 * reference (kh_apps_acquire), use it, and release it; the old view is freed
 * when its last user lets go. Nothing is ever mutated in place. */
#ifndef KH_APPS_H
#define KH_APPS_H

#include <jansson.h>
#include <stddef.h>

struct kh_idp;

struct kh_app {
	const char *id; /* registry id */
	const char *name;
	const char *protocol; /* "saml" or "oidc" */
	int enabled;
	json_t *doc; /* the whole document (borrowed from the view) */
};

struct kh_apps_view {
	long long version;
	struct kh_app *apps;
	size_t napps;
	void *saml; /* built by kh_saml_view_build, freed by kh_saml_view_free */
	void *oidc; /* built by kh_oidc_view_build, freed by kh_oidc_view_free */
	/* private */
	json_t *docs;
	int refs;
};

/* Protocol hooks (idp/saml/, idp/oidc/): derive state from a view under
 * construction; a failure for one app is logged and that app is left out,
 * never the whole view. */
int kh_saml_view_build(struct kh_idp *app, struct kh_apps_view *v);
void kh_saml_view_free(void *saml);
int kh_oidc_view_build(struct kh_idp *app, struct kh_apps_view *v);
void kh_oidc_view_free(void *oidc);

int kh_apps_start(struct kh_idp *app);
void kh_apps_stop(struct kh_idp *app);
/* Loads the registry now (used at start and by tests through the admin API
 * so a change is visible at once on this daemon). */
int kh_apps_refresh(struct kh_idp *app);
/* Never NULL after kh_apps_start (an empty view when the registry is empty). */
struct kh_apps_view *kh_apps_acquire(struct kh_idp *app);
void kh_apps_release(struct kh_idp *app, struct kh_apps_view *v);
const struct kh_app *kh_apps_find(const struct kh_apps_view *v, const char *id);

#endif
