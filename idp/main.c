/* kakehashid: the identity provider daemon.
 *   kakehashid -c FILE      run
 *   kakehashid -c FILE -t   check the configuration and exit (0 = ok)
 *   kakehashid -c FILE -T   print the effective configuration, secrets redacted */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "certs/keys.h"
#include "common/totp.h"
#include "idp/policy.h"
#include "idp/apps.h"
#include "idp/idp.h"
#include "idp/metrics.h"
#include "idp/oidc/oidc.h"
#include "idp/saml/saml.h"
#include "sessions/audit.h"
#include "sessions/sessions.h"

static void
usage(void)
{
	fprintf(stderr,
	    "usage: kakehashid -c FILE [-t | -T]\n"
	    "  -c FILE  configuration file (INI)\n"
	    "  -t       check the configuration and exit\n"
	    "  -T       print the effective configuration (secrets redacted) and exit\n");
}

static int
split_proxies(struct kh_idp *app, const char *list)
{
	char *copy, *tok, *save = NULL;

	if ((copy = strdup(list)) == NULL)
		return KH_ERR_NOMEM;
	for (tok = strtok_r(copy, " ,", &save); tok != NULL; tok = strtok_r(NULL, " ,", &save)) {
		char **n = realloc(app->proxies, (app->nproxies + 1) * sizeof(*n));
		if (n == NULL || (n[app->nproxies] = strdup(tok)) == NULL) {
			if (n != NULL)
				app->proxies = n;
			free(copy);
			return KH_ERR_NOMEM;
		}
		app->proxies = n;
		app->nproxies++;
	}
	free(copy);
	return KH_OK;
}

static int
base_origin(const char *base, char *out, size_t outlen)
{
	const char *host = strstr(base, "://");
	size_t n;

	if (host == NULL)
		return KH_ERR_CONFIG;
	n = (size_t)(host + 3 - base) + strcspn(host + 3, "/");
	if (n >= outlen)
		return KH_ERR_CONFIG;
	memcpy(out, base, n);
	out[n] = '\0';
	return KH_OK;
}

int
main(int argc, char **argv)
{
	struct kh_idp app;
	struct kh_config *cfg = NULL;
	enum kh_log_level lvl;
	const char *path = NULL;
	char *err = NULL;
	int ch, check = 0, print = 0, sig, rc = 1;
	sigset_t set;

	while ((ch = getopt(argc, argv, "c:tTh")) != -1) {
		switch (ch) {
		case 'c': path = optarg; break;
		case 't': check = 1; break;
		case 'T': print = 1; break;
		default: usage(); return 2;
		}
	}
	if (path == NULL || optind != argc) {
		usage();
		return 2;
	}
	if (kh_config_load(path, &cfg, &err) != KH_OK) {
		fprintf(stderr, "kakehashid: %s\n", err ? err : "configuration error");
		free(err);
		return 1;
	}
	free(err);
	err = NULL;
	if (check) {
		struct kh_keyset *ks = NULL;
		if (kh_keys_load(cfg, &ks, &err) != KH_OK) {
			fprintf(
			    stderr, "kakehashid: %s\n", err ? err : "cannot load the signing keys");
			free(err);
			kh_config_free(cfg);
			return 1;
		}
		{
			/* The SAML metadata is rendered and loaded into lasso, as at start. */
			struct kh_idp probe;
			memset(&probe, 0, sizeof(probe));
			probe.cfg = cfg;
			probe.keys = ks;
			if (kh_saml_global_init(&probe, &err) != KH_OK) {
				fprintf(stderr, "kakehashid: SAML: %s\n",
				    err ? err : "initialisation failed");
				free(err);
				kh_saml_global_free(&probe);
				kh_keys_free(ks);
				kh_config_free(cfg);
				return 1;
			}
			kh_saml_global_free(&probe);
		}
		kh_keys_free(ks);
		{
			struct kh_policy_set *ps = NULL;
			char perr[512];
			if (kh_policy_load(cfg->policy_file, &ps, perr, sizeof(perr)) != KH_OK) {
				fprintf(stderr, "kakehashid: policy: %s\n", perr);
				kh_config_free(cfg);
				return 1;
			}
			kh_policy_free(ps);
		}
		printf("kakehashid: configuration %s is valid\n", path);
		kh_config_free(cfg);
		return 0;
	}
	if (print) {
		kh_config_print(cfg, stdout);
		kh_config_free(cfg);
		return 0;
	}

	memset(&app, 0, sizeof(app));
	app.cfg = cfg;
	if (kh_log_level_parse(cfg->log_level, &lvl) == KH_OK)
		kh_log_set_level(lvl);
	if (kh_log_open_audit(cfg->log_audit_file) != KH_OK) {
		fprintf(stderr, "kakehashid: cannot open audit file %s: %s\n", cfg->log_audit_file,
		    strerror(errno));
		goto out;
	}
	signal(SIGPIPE, SIG_IGN);
	/* Block the stop signals in every thread; the main thread waits for them. */
	sigemptyset(&set);
	sigaddset(&set, SIGINT);
	sigaddset(&set, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &set, NULL);

	if (split_proxies(&app, cfg->trusted_proxies) != KH_OK ||
	    base_origin(cfg->base_url, app.origin, sizeof(app.origin)) != KH_OK ||
	    kh_metrics_new(kh_endpoint_count(), &app.metrics) != KH_OK) {
		fprintf(stderr, "kakehashid: initialisation failed\n");
		goto out;
	}
	if (kh_keys_load(cfg, &app.keys, &err) != KH_OK) {
		fprintf(stderr, "kakehashid: %s\n", err ? err : "cannot load the signing keys");
		free(err);
		goto out;
	}
	{
		char perr[512];
		if (kh_policy_load(cfg->policy_file, &app.policy, perr, sizeof(perr)) != KH_OK) {
			fprintf(stderr, "kakehashid: policy: %s\n", perr);
			goto out;
		}
	}
	if (kh_totp_global_init() != KH_OK) {
		fprintf(stderr, "kakehashid: cannot initialise liboath\n");
		goto out;
	}
	if (kh_ldap_connector_new(cfg, &app.connector) != KH_OK) {
		fprintf(stderr, "kakehashid: cannot set up the LDAP connector\n");
		goto out;
	}
	if (kh_store_new(cfg, &app.store) != KH_OK) {
		fprintf(stderr, "kakehashid: cannot set up the Redis store\n");
		goto out;
	}
	/* Audit events also go to the Redis stream (sessions/audit.h). */
	kh_log_set_audit_sink(kh_audit_sink, app.store);
	if (kh_saml_global_init(&app, &err) != KH_OK) {
		fprintf(stderr, "kakehashid: SAML: %s\n", err ? err : "initialisation failed");
		free(err);
		goto out;
	}
	if (kh_apps_start(&app) != KH_OK) {
		fprintf(stderr, "kakehashid: cannot start the app registry watcher\n");
		goto out;
	}
	if (kh_http_start(&app) != KH_OK)
		goto out;
	kh_info("daemon.start", "listen", cfg->listen, "base_url", cfg->base_url, "version",
	    PACKAGE_VERSION, NULL);
	if (kh_connector_ping(app.connector) != KH_OK)
		kh_warn("daemon.start", "ldap", "unavailable", NULL);
	if (kh_store_ping(app.store) != KH_OK)
		kh_warn("daemon.start", "redis", "unavailable", NULL);

	do {
		if (sigwait(&set, &sig) != 0)
			break;
	} while (sig != SIGINT && sig != SIGTERM);
	kh_info("daemon.stop", "signal", sig == SIGINT ? "SIGINT" : "SIGTERM", NULL);
	kh_http_stop(&app);
	rc = 0;
out:
	kh_apps_stop(&app);
	kh_oidc_global_free(&app);
	kh_saml_global_free(&app);
	kh_log_set_audit_sink(NULL, NULL);
	kh_store_free(app.store);
	kh_connector_free(app.connector);
	kh_metrics_free(app.metrics);
	kh_keys_free(app.keys);
	kh_policy_free(app.policy);
	kh_totp_global_done();
	while (app.nproxies > 0)
		free(app.proxies[--app.nproxies]);
	free(app.proxies);
	kh_config_free(cfg);
	kh_log_close();
	return rc;
}
