/* The registry view: polled, rebuilt whole, swapped, reference counted. */
#include "idp/apps.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "idp/idp.h"
#include "sessions/registry.h"

struct kh_apps {
	pthread_mutex_t lock; /* guards current and every view's refs */
	pthread_mutex_t build_lock; /* one rebuild at a time */
	pthread_cond_t cond;
	pthread_t thread;
	int running, stopping;
	struct kh_apps_view *current;
};

static void
view_free(struct kh_apps_view *v)
{
	if (v == NULL)
		return;
	if (v->saml != NULL)
		kh_saml_view_free(v->saml);
	if (v->oidc != NULL)
		kh_oidc_view_free(v->oidc);
	free(v->apps);
	json_decref(v->docs);
	free(v);
}

static const char *
str_field(json_t *doc, const char *name)
{
	json_t *v = json_object_get(doc, name);

	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* Builds a view from the registry. A document that does not parse or lacks
 * its id/protocol is logged and left out. */
static int
view_build(struct kh_idp *app, struct kh_apps_view **out)
{
	struct kh_apps_view *v = NULL;
	char **docs = NULL;
	long long version = 0;
	size_t i, n = 0;
	json_error_t jerr;
	int r;

	*out = NULL;
	if ((r = kh_registry_list(app->store, &docs, &version)) != KH_OK)
		return r;
	for (n = 0; docs[n] != NULL; n++)
		;
	if ((v = calloc(1, sizeof(*v))) == NULL || (v->docs = json_array()) == NULL ||
	    (n > 0 && (v->apps = calloc(n, sizeof(*v->apps))) == NULL)) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	v->version = version;
	for (i = 0; i < n; i++) {
		json_t *doc = json_loads(docs[i], JSON_REJECT_DUPLICATES, &jerr);
		const char *id, *proto;
		struct kh_app *a;
		if (doc == NULL || !json_is_object(doc) || (id = str_field(doc, "id")) == NULL ||
		    (proto = str_field(doc, "protocol")) == NULL ||
		    (strcmp(proto, "saml") != 0 && strcmp(proto, "oidc") != 0)) {
			kh_warn("apps.bad_document", "index", doc ? "malformed" : jerr.text, NULL);
			json_decref(doc);
			continue;
		}
		if (json_array_append_new(v->docs, doc) != 0) {
			r = KH_ERR_NOMEM;
			goto out;
		}
		a = &v->apps[v->napps++];
		a->doc = doc;
		a->id = id;
		a->protocol = proto;
		a->name = str_field(doc, "name") ? str_field(doc, "name") : id;
		a->enabled = !json_is_false(json_object_get(doc, "enabled"));
	}
	/* Protocol state: a module failing entirely leaves its part empty (the
	 * module logs why); the view is still usable for the other protocol. */
	if (kh_saml_view_build(app, v) != KH_OK)
		kh_error("apps.saml_build_failed", NULL, NULL);
	if (kh_oidc_view_build(app, v) != KH_OK)
		kh_error("apps.oidc_build_failed", NULL, NULL);
	*out = v;
	v = NULL;
	r = KH_OK;
out:
	kh_registry_list_free(docs);
	view_free(v);
	return r;
}

static void
view_publish(struct kh_apps *as, struct kh_apps_view *v)
{
	struct kh_apps_view *old;

	pthread_mutex_lock(&as->lock);
	old = as->current;
	v->refs = 1; /* held by "current" */
	as->current = v;
	if (old != NULL && --old->refs > 0)
		old = NULL; /* the last user frees it */
	pthread_mutex_unlock(&as->lock);
	view_free(old);
}

int
kh_apps_refresh(struct kh_idp *app)
{
	struct kh_apps *as = app->apps;
	struct kh_apps_view *v;
	long long version;
	int r;

	pthread_mutex_lock(&as->build_lock);
	if ((r = kh_registry_version(app->store, &version)) != KH_OK)
		goto out;
	pthread_mutex_lock(&as->lock);
	if (as->current != NULL && as->current->version == version) {
		pthread_mutex_unlock(&as->lock);
		goto out;
	}
	pthread_mutex_unlock(&as->lock);
	if ((r = view_build(app, &v)) != KH_OK)
		goto out;
	view_publish(as, v);
	{
		char nb[24], vb[24];
		snprintf(nb, sizeof(nb), "%zu", v->napps);
		snprintf(vb, sizeof(vb), "%lld", v->version);
		kh_info("apps.loaded", "apps", nb, "version", vb, NULL);
	}
out:
	pthread_mutex_unlock(&as->build_lock);
	return r;
}

static void *
apps_main(void *arg)
{
	struct kh_idp *app = arg;
	struct kh_apps *as = app->apps;
	struct timespec ts;
	long ms = app->cfg->registry_poll_ms;

	pthread_mutex_lock(&as->lock);
	while (!as->stopping) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += ms / 1000;
		ts.tv_nsec += (ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&as->cond, &as->lock, &ts);
		if (as->stopping)
			break;
		pthread_mutex_unlock(&as->lock);
		(void)kh_apps_refresh(app); /* Redis down: keep serving the last view */
		pthread_mutex_lock(&as->lock);
	}
	pthread_mutex_unlock(&as->lock);
	return NULL;
}

int
kh_apps_start(struct kh_idp *app)
{
	struct kh_apps *as;
	struct kh_apps_view *empty;
	pthread_condattr_t ca;

	if ((as = calloc(1, sizeof(*as))) == NULL || (empty = calloc(1, sizeof(*empty))) == NULL) {
		free(as);
		return KH_ERR_NOMEM;
	}
	pthread_mutex_init(&as->lock, NULL);
	pthread_mutex_init(&as->build_lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&as->cond, &ca);
	pthread_condattr_destroy(&ca);
	empty->version = -1;
	empty->refs = 1;
	as->current = empty;
	app->apps = as;
	if (kh_apps_refresh(app) != KH_OK)
		kh_warn("apps.initial_load", "registry", "unavailable", NULL);
	if (pthread_create(&as->thread, NULL, apps_main, app) != 0)
		return KH_ERR_INTERNAL;
	as->running = 1;
	return KH_OK;
}

void
kh_apps_stop(struct kh_idp *app)
{
	struct kh_apps *as = app->apps;

	if (as == NULL)
		return;
	pthread_mutex_lock(&as->lock);
	as->stopping = 1;
	pthread_cond_signal(&as->cond);
	pthread_mutex_unlock(&as->lock);
	if (as->running)
		pthread_join(as->thread, NULL);
	view_free(as->current);
	pthread_cond_destroy(&as->cond);
	pthread_mutex_destroy(&as->build_lock);
	pthread_mutex_destroy(&as->lock);
	free(as);
	app->apps = NULL;
}

struct kh_apps_view *
kh_apps_acquire(struct kh_idp *app)
{
	struct kh_apps *as = app->apps;
	struct kh_apps_view *v;

	pthread_mutex_lock(&as->lock);
	v = as->current;
	v->refs++;
	pthread_mutex_unlock(&as->lock);
	return v;
}

void
kh_apps_release(struct kh_idp *app, struct kh_apps_view *v)
{
	struct kh_apps *as = app->apps;
	int last;

	if (v == NULL)
		return;
	pthread_mutex_lock(&as->lock);
	last = --v->refs == 0;
	pthread_mutex_unlock(&as->lock);
	if (last)
		view_free(v);
}

const struct kh_app *
kh_apps_find(const struct kh_apps_view *v, const char *id)
{
	size_t i;

	for (i = 0; v != NULL && i < v->napps; i++)
		if (strcmp(v->apps[i].id, id) == 0)
			return &v->apps[i];
	return NULL;
}
