/* ldap_probe: a small CLI over the LDAP connector for integration tests.
 *
 *   ldap_probe CONFIG auth USER PASSWORD
 *   ldap_probe CONFIG auth-hex USERHEX PASSHEX   (bytes, e.g. NULs, bad UTF-8)
 *   ldap_probe CONFIG lookup USER
 *   ldap_probe CONFIG ping
 *   ldap_probe CONFIG threads N USER PASSWORD [M]
 *   ldap_probe CONFIG repl        (stdin lines "auth USER PASS", "lookup USER",
 *                                  "ping"; handles live across lines, so a
 *                                  test can stop a server in between)
 *
 * auth prints the result name on one line, then one JSON line
 * {"result":..., "identity":{...}|null, "info":{...}}; exit 0 only for "ok".
 * lookup prints "found" + JSON, or "not_found"/the error; exit 0 when found.
 * threads runs N threads doing M rounds each (good password, wrong password,
 * lookup) and prints a JSON summary; exit 0 when every answer was right. */
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "connectors/ldap/ldap_internal.h"

#define PROBE_HEX_MAX 8192

static json_t *
jstr(const char *s)
{
	return s != NULL ? json_string(s) : json_null();
}

static json_t *
identity_json(const struct kh_identity *id)
{
	json_t *o, *g;
	size_t i;

	if (id == NULL)
		return json_null();
	o = json_object();
	json_object_set_new(o, "uid", jstr(id->uid));
	json_object_set_new(o, "dn", jstr(id->dn));
	json_object_set_new(o, "display_name", jstr(id->display_name));
	json_object_set_new(o, "family_name", jstr(id->family_name));
	json_object_set_new(o, "given_name", jstr(id->given_name));
	json_object_set_new(o, "mail", jstr(id->mail));
	json_object_set_new(o, "employee_number", jstr(id->employee_number));
	json_object_set_new(o, "department", jstr(id->department));
	json_object_set_new(o, "title", jstr(id->title));
	g = json_array();
	for (i = 0; i < id->ngroups; i++)
		json_array_append_new(g, jstr(id->groups[i]));
	json_object_set_new(o, "groups", g);
	return o;
}

static void
print_json(json_t *o)
{
	char *s = json_dumps(o, JSON_COMPACT);

	if (s != NULL)
		printf("%s\n", s);
	free(s);
	json_decref(o);
}

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes hex into a NUL-terminated buffer (which may hold more NULs). */
static char *
hex_decode(const char *hex, size_t *lenp)
{
	size_t n = strlen(hex), i;
	char *out;
	int hi, lo;

	if (n % 2 != 0 || n > PROBE_HEX_MAX || (out = malloc(n / 2 + 1)) == NULL)
		return NULL;
	for (i = 0; i < n / 2; i++) {
		if ((hi = hexval(hex[2 * i])) < 0 || (lo = hexval(hex[2 * i + 1])) < 0) {
			free(out);
			return NULL;
		}
		out[i] = (char)(hi << 4 | lo);
	}
	out[n / 2] = '\0';
	*lenp = n / 2;
	return out;
}

static int
do_auth(struct kh_connector *c, const char *user, size_t ulen, const char *pass, size_t plen)
{
	struct kh_identity *id = NULL;
	struct kh_auth_info info;
	enum kh_auth_result ar;
	json_t *o, *jinfo;

	ar = kh_ldap_authenticate_n(c, user, ulen, pass, plen, &id, &info);
	printf("%s\n", kh_auth_result_name(ar));
	o = json_object();
	json_object_set_new(o, "result", json_string(kh_auth_result_name(ar)));
	json_object_set_new(o, "identity", identity_json(id));
	jinfo = json_object();
	json_object_set_new(jinfo, "grace_logins_left", json_integer(info.grace_logins_left));
	json_object_set_new(jinfo, "expires_in", json_integer(info.expires_in));
	json_object_set_new(jinfo, "diag", json_string(info.diag));
	json_object_set_new(o, "info", jinfo);
	print_json(o);
	kh_identity_free(id);
	return ar == KH_AUTH_OK ? 0 : 1;
}

struct worker {
	pthread_t tid;
	struct kh_connector *c;
	const char *user;
	const char *pass;
	long rounds;
	long ok;
	long unexpected;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct kh_identity *id;
	struct kh_auth_info info;
	enum kh_auth_result ar;
	long i;
	int r;

	for (i = 0; i < w->rounds; i++) {
		ar = kh_connector_authenticate(w->c, w->user, w->pass, &id, &info);
		if (ar == KH_AUTH_OK && id != NULL && strcmp(id->uid, w->user) == 0)
			w->ok++;
		else
			w->unexpected++;
		kh_identity_free(id);
		ar = kh_connector_authenticate(w->c, w->user, "wrong-password", &id, &info);
		if (ar == KH_AUTH_INVALID && id == NULL)
			w->ok++;
		else
			w->unexpected++;
		kh_identity_free(id);
		r = kh_connector_lookup(w->c, w->user, &id);
		if (r == KH_OK && id != NULL)
			w->ok++;
		else
			w->unexpected++;
		kh_identity_free(id);
	}
	kh_connector_thread_cleanup(w->c);
	return NULL;
}

static int
do_threads(
    struct kh_connector *c, const char *ns, const char *user, const char *pass, const char *ms)
{
	struct worker *w;
	long n, m = 50, i, ok = 0, bad = 0;
	json_t *o;

	if (kh_parse_long(ns, 1, 256, &n) != KH_OK ||
	    (ms != NULL && kh_parse_long(ms, 1, 100000, &m) != KH_OK)) {
		fprintf(stderr, "ldap_probe: threads N (1..256) [M]\n");
		return 2;
	}
	if ((w = calloc((size_t)n, sizeof(*w))) == NULL)
		return 2;
	for (i = 0; i < n; i++) {
		w[i].c = c;
		w[i].user = user;
		w[i].pass = pass;
		w[i].rounds = m;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			fprintf(stderr, "ldap_probe: pthread_create failed\n");
			n = i;
			bad++;
			break;
		}
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		ok += w[i].ok;
		bad += w[i].unexpected;
	}
	o = json_object();
	json_object_set_new(o, "threads", json_integer(n));
	json_object_set_new(o, "rounds", json_integer(m));
	json_object_set_new(o, "ok", json_integer(ok));
	json_object_set_new(o, "unexpected", json_integer(bad));
	print_json(o);
	free(w);
	return bad == 0 ? 0 : 1;
}

/* One command per stdin line; the same thread (and handles) for all. */
static int
do_repl(struct kh_connector *c)
{
	struct kh_identity *id = NULL;
	char line[4096], *cmd, *a, *b, *save = NULL;
	int r;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\r\n")] = '\0';
		cmd = strtok_r(line, " ", &save);
		a = strtok_r(NULL, " ", &save);
		b = strtok_r(NULL, " ", &save);
		if (cmd == NULL)
			continue;
		if (strcmp(cmd, "auth") == 0 && a != NULL && b != NULL)
			do_auth(c, a, strlen(a), b, strlen(b));
		else if (strcmp(cmd, "lookup") == 0 && a != NULL) {
			r = kh_connector_lookup(c, a, &id);
			printf("%s\n",
			    r == KH_OK                  ? "found"
				: r == KH_ERR_NOT_FOUND ? "not_found"
							: kh_strerror(r));
			print_json(identity_json(id));
			kh_identity_free(id);
			id = NULL;
		} else if (strcmp(cmd, "ping") == 0) {
			r = kh_connector_ping(c);
			printf("%s\n{}\n", r == KH_OK ? "ok" : kh_strerror(r));
		} else
			printf("usage\n{}\n");
		fflush(stdout);
		explicit_bzero(line, sizeof(line));
	}
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: ldap_probe CONFIG auth USER PASSWORD\n"
	    "       ldap_probe CONFIG auth-hex USERHEX PASSHEX\n"
	    "       ldap_probe CONFIG lookup USER\n"
	    "       ldap_probe CONFIG ping\n"
	    "       ldap_probe CONFIG threads N USER PASSWORD [M]\n"
	    "       ldap_probe CONFIG repl\n");
}

int
main(int argc, char **argv)
{
	struct kh_config *cfg = NULL;
	struct kh_connector *c = NULL;
	struct kh_identity *id = NULL;
	enum kh_log_level lvl;
	char *err = NULL, *u = NULL, *p = NULL;
	size_t ulen = 0, plen = 0;
	const char *cmd;
	int r, rc = 2;

	/* A write to a server that went away must be an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		usage();
		return 2;
	}
	cmd = argv[2];
	if ((r = kh_config_load(argv[1], &cfg, &err)) != KH_OK) {
		fprintf(stderr, "ldap_probe: %s\n", err ? err : kh_strerror(r));
		free(err);
		return 2;
	}
	if (kh_log_level_parse(cfg->log_level, &lvl) == KH_OK)
		kh_log_set_level(lvl);
	if ((r = kh_ldap_connector_new(cfg, &c)) != KH_OK) {
		fprintf(stderr, "ldap_probe: connector: %s\n", kh_strerror(r));
		goto out;
	}
	if (strcmp(cmd, "auth") == 0 && argc == 5) {
		rc = do_auth(c, argv[3], strlen(argv[3]), argv[4], strlen(argv[4]));
		explicit_bzero(argv[4], strlen(argv[4]));
	} else if (strcmp(cmd, "auth-hex") == 0 && argc == 5) {
		if ((u = hex_decode(argv[3], &ulen)) == NULL ||
		    (p = hex_decode(argv[4], &plen)) == NULL) {
			fprintf(stderr, "ldap_probe: bad hex\n");
			goto out;
		}
		rc = do_auth(c, u, ulen, p, plen);
	} else if (strcmp(cmd, "lookup") == 0 && argc == 4) {
		r = kh_connector_lookup(c, argv[3], &id);
		if (r == KH_OK) {
			printf("found\n");
			print_json(identity_json(id));
			rc = 0;
		} else {
			printf("%s\n", r == KH_ERR_NOT_FOUND ? "not_found" : kh_strerror(r));
			rc = r == KH_ERR_NOT_FOUND ? 1 : 2;
		}
	} else if (strcmp(cmd, "ping") == 0 && argc == 3) {
		r = kh_connector_ping(c);
		printf("%s\n", r == KH_OK ? "ok" : kh_strerror(r));
		rc = r == KH_OK ? 0 : 1;
	} else if (strcmp(cmd, "threads") == 0 && (argc == 6 || argc == 7)) {
		rc = do_threads(c, argv[3], argv[4], argv[5], argc == 7 ? argv[6] : NULL);
		explicit_bzero(argv[5], strlen(argv[5]));
	} else if (strcmp(cmd, "repl") == 0 && argc == 3)
		rc = do_repl(c);
	else
		usage();
out:
	if (p != NULL) {
		explicit_bzero(p, plen);
		free(p);
	}
	free(u);
	kh_identity_free(id);
	kh_connector_free(c);
	kh_config_free(cfg);
	fflush(stdout);
	return rc;
}
