/* session_probe: drives the sessions/ store from tests.
 *
 *   session_probe CONFIG COMMAND [ARGS...]   one command
 *   session_probe CONFIG shell               commands from stdin, one per line
 *
 * Commands (one JSON object per line on stdout, always with "rc", "error"
 * and "ms", the call's duration in milliseconds):
 *   ping
 *   create UID [OLD_COOKIE]      {"cookie": ...}
 *   get COOKIE                   {"session": {...}}
 *   getx HEX                     get with the bytes of HEX ("-" = empty)
 *   destroy COOKIE
 *   throttle-fail|throttle-check user|ip KEY   {"failures": n, "locked_for": s}
 *   throttle-reset user|ip KEY
 *   fset COOKIE FIELD HEX        kh_session_field_set ("-" = empty, "del" = remove)
 *   fsetn COOKIE FIELD N         kh_session_field_set with N bytes 'x'
 *   fget COOKIE FIELD            {"hex": ..., "len": n}
 *   sid COOKIE                   {"sid": hex}
 *   threads N ITER               N threads doing create/get/destroy/throttle
 *   cleanup                      kh_store_thread_cleanup on this thread
 * Exit status: 0 when the commands ran (whatever their rc), 2 on usage or
 * configuration errors. */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "tests/integration/probe_shell.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "sessions/sessions.h"

#define LINE_MAX_LEN (64 * 1024)

static struct kh_store *store;

static void
emit(json_t *o, int rc, int64_t t0)
{
	char *s;

	json_object_set_new(o, "rc", json_integer(rc));
	json_object_set_new(o, "error", json_string(kh_strerror(rc)));
	json_object_set_new(o, "ms", json_integer(kh_now_ms() - t0));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		printf("%s\n", s);
		free(s);
	}
	fflush(stdout);
	json_decref(o);
}

static json_t *
session_json(const struct kh_session *s)
{
	json_t *o = json_object();

	json_object_set_new(o, "uid", json_string(s->uid));
	json_object_set_new(o, "dn", json_string(s->dn));
	json_object_set_new(o, "display_name", json_string(s->display_name));
	json_object_set_new(o, "mail", json_string(s->mail));
	json_object_set_new(o, "groups", json_string(s->groups));
	json_object_set_new(o, "amr", json_string(s->amr));
	json_object_set_new(o, "acr", json_string(s->acr));
	json_object_set_new(o, "client_ip", json_string(s->client_ip));
	json_object_set_new(o, "family_name", json_string(s->family_name));
	json_object_set_new(o, "given_name", json_string(s->given_name));
	json_object_set_new(o, "employee_number", json_string(s->employee_number));
	json_object_set_new(o, "department", json_string(s->department));
	json_object_set_new(o, "title", json_string(s->title));
	json_object_set_new(o, "auth_time", json_integer(s->auth_time));
	json_object_set_new(o, "created", json_integer(s->created));
	json_object_set_new(o, "absolute_expiry", json_integer(s->absolute_expiry));
	return o;
}

static int
create_for(const char *uid, const char *old_cookie, char cookie[KH_SESSION_COOKIE_LEN + 1])
{
	char dn[512], mail[512];
	char *groups[] = { "staff", "情報政策課", NULL };
	struct kh_identity id;

	snprintf(dn, sizeof(dn), "uid=%s,ou=people,dc=example,dc=jp", uid);
	snprintf(mail, sizeof(mail), "%s@example.jp", uid);
	memset(&id, 0, sizeof(id));
	id.uid = (char *)uid;
	id.dn = dn;
	id.display_name = "山田 太郎";
	id.mail = mail;
	id.family_name = "山田";
	id.given_name = "太郎";
	id.employee_number = "E-0042";
	id.department = "情報政策課";
	id.title = "主任";
	id.groups = groups;
	id.ngroups = 2;
	return kh_session_create(
	    store, &id, "pwd", "urn:kakehashi:acr:pwd", "192.0.2.10", old_cookie, cookie);
}

static int
parse_kind(const char *s, enum kh_throttle_kind *kind)
{
	if (strcmp(s, "user") == 0)
		*kind = KH_THROTTLE_USER;
	else if (strcmp(s, "ip") == 0)
		*kind = KH_THROTTLE_IP;
	else
		return -1;
	return 0;
}

struct worker {
	pthread_t tid;
	int index;
	long iterations;
	long ok, failed, unavailable;
};

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct kh_session *s = NULL;
	char uid[64], cookie[KH_SESSION_COOKIE_LEN + 1];
	long i, fails, locked;
	int r;

	for (i = 0; i < w->iterations; i++) {
		snprintf(uid, sizeof(uid), "t%d-%ld", w->index, i);
		if ((r = create_for(uid, NULL, cookie)) != KH_OK)
			goto fail;
		if ((r = kh_session_get(store, cookie, &s)) != KH_OK)
			goto fail;
		if (strcmp(s->uid, uid) != 0) {
			r = KH_ERR_INTERNAL;
			goto fail;
		}
		kh_session_free(s);
		s = NULL;
		if ((r = kh_session_destroy(store, cookie)) != KH_OK)
			goto fail;
		if ((r = kh_session_get(store, cookie, &s)) != KH_ERR_NOT_FOUND) {
			if (r == KH_OK)
				r = KH_ERR_INTERNAL;
			goto fail;
		}
		if ((r = kh_throttle_fail(store, KH_THROTTLE_USER, uid, &fails, &locked)) !=
			KH_OK ||
		    (r = kh_throttle_check(store, KH_THROTTLE_USER, uid, &fails, &locked)) !=
			KH_OK ||
		    (r = kh_throttle_reset(store, KH_THROTTLE_USER, uid)) != KH_OK)
			goto fail;
		w->ok++;
		continue;
	fail:
		kh_session_free(s);
		s = NULL;
		if (r == KH_ERR_UNAVAILABLE)
			w->unavailable++;
		else
			w->failed++;
	}
	explicit_bzero(cookie, sizeof(cookie));
	/* Half the threads clean up explicitly, the others leave it to the
	 * thread-exit destructor. */
	if (w->index % 2 == 0)
		kh_store_thread_cleanup(store);
	return NULL;
}

static int
run_threads(long n, long iterations, json_t *o)
{
	struct worker *w;
	long i, ok = 0, failed = 0, unavailable = 0, started = 0;
	int r = KH_OK;

	if ((w = calloc((size_t)n, sizeof(*w))) == NULL)
		return KH_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		w[i].index = (int)i;
		w[i].iterations = iterations;
		if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0) {
			r = KH_ERR_INTERNAL;
			break;
		}
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		ok += w[i].ok;
		failed += w[i].failed;
		unavailable += w[i].unavailable;
	}
	free(w);
	json_object_set_new(o, "ok", json_integer(ok));
	json_object_set_new(o, "failed", json_integer(failed));
	json_object_set_new(o, "unavailable", json_integer(unavailable));
	if (r == KH_OK && (failed > 0 || unavailable > 0))
		r = failed > 0 ? KH_ERR_INTERNAL : KH_ERR_UNAVAILABLE;
	return r;
}

/* Runs one command; returns -1 on a usage error. */
static int
run(int argc, char **argv)
{
	json_t *o = json_object();
	struct kh_session *s = NULL;
	enum kh_throttle_kind kind;
	char cookie[KH_SESSION_COOKIE_LEN + 1];
	unsigned char *bytes = NULL;
	long fails = 0, locked = 0, n, iter;
	size_t len;
	int64_t t0 = kh_now_ms();
	int rc;

	if (argc < 1)
		goto usage;
	if (strcmp(argv[0], "ping") == 0 && argc == 1) {
		rc = kh_store_ping(store);
	} else if (strcmp(argv[0], "cleanup") == 0 && argc == 1) {
		kh_store_thread_cleanup(store);
		rc = KH_OK;
	} else if (strcmp(argv[0], "create") == 0 && (argc == 2 || argc == 3)) {
		rc = create_for(argv[1], argc == 3 ? argv[2] : NULL, cookie);
		if (rc == KH_OK)
			json_object_set_new(o, "cookie", json_string(cookie));
		explicit_bzero(cookie, sizeof(cookie));
	} else if (strcmp(argv[0], "get") == 0 && argc == 2) {
		rc = kh_session_get(store, argv[1], &s);
		if (rc == KH_OK)
			json_object_set_new(o, "session", session_json(s));
	} else if (strcmp(argv[0], "getx") == 0 && argc == 2) {
		len = strcmp(argv[1], "-") == 0 ? 0 : strlen(argv[1]) / 2;
		if ((bytes = calloc(1, len + 1)) == NULL)
			goto usage;
		if (len > 0 && kh_hex_decode(argv[1], bytes, len) != KH_OK)
			goto usage;
		t0 = kh_now_ms();
		rc = kh_session_get(store, (const char *)bytes, &s);
		if (rc == KH_OK)
			json_object_set_new(o, "session", session_json(s));
	} else if ((strcmp(argv[0], "fset") == 0 || strcmp(argv[0], "fsetn") == 0) && argc == 4) {
		if (strcmp(argv[0], "fsetn") == 0) {
			if (kh_parse_long(argv[3], 0, 1024 * 1024, &n) != KH_OK ||
			    (bytes = malloc((size_t)n + 1)) == NULL)
				goto usage;
			memset(bytes, 'x', (size_t)n);
			len = (size_t)n;
		} else if (strcmp(argv[3], "del") == 0) {
			len = 0;
		} else {
			len = strcmp(argv[3], "-") == 0 ? 0 : strlen(argv[3]) / 2;
			if ((bytes = calloc(1, len + 1)) == NULL)
				goto usage;
			if (len > 0 && kh_hex_decode(argv[3], bytes, len) != KH_OK)
				goto usage;
		}
		rc = kh_session_field_set(store, argv[1], argv[2], (const char *)bytes, len);
	} else if (strcmp(argv[0], "fget") == 0 && argc == 3) {
		char *v = NULL, *h;

		rc = kh_session_field_get(store, argv[1], argv[2], &v, &len);
		if (rc == KH_OK && (h = malloc(2 * len + 1)) != NULL) {
			kh_hex_encode(v, len, h);
			json_object_set_new(o, "hex", json_string(h));
			json_object_set_new(o, "len", json_integer((json_int_t)len));
			free(h);
		}
		if (v != NULL)
			kh_freezero(v, len + 1);
	} else if (strcmp(argv[0], "sid") == 0 && argc == 2) {
		char sid[65];

		rc = kh_session_id(store, argv[1], sid);
		if (rc == KH_OK)
			json_object_set_new(o, "sid", json_string(sid));
	} else if (strcmp(argv[0], "destroy") == 0 && argc == 2) {
		rc = kh_session_destroy(store, argv[1]);
	} else if (strcmp(argv[0], "throttle-fail") == 0 && argc == 3) {
		if (parse_kind(argv[1], &kind) != 0)
			goto usage;
		rc = kh_throttle_fail(store, kind, argv[2], &fails, &locked);
		json_object_set_new(o, "failures", json_integer(fails));
		json_object_set_new(o, "locked_for", json_integer(locked));
	} else if (strcmp(argv[0], "throttle-check") == 0 && argc == 3) {
		if (parse_kind(argv[1], &kind) != 0)
			goto usage;
		rc = kh_throttle_check(store, kind, argv[2], &fails, &locked);
		json_object_set_new(o, "failures", json_integer(fails));
		json_object_set_new(o, "locked_for", json_integer(locked));
	} else if (strcmp(argv[0], "throttle-reset") == 0 && argc == 3) {
		if (parse_kind(argv[1], &kind) != 0)
			goto usage;
		rc = kh_throttle_reset(store, kind, argv[2]);
	} else if (strcmp(argv[0], "threads") == 0 && argc == 3) {
		if (kh_parse_long(argv[1], 1, 64, &n) != KH_OK ||
		    kh_parse_long(argv[2], 1, 100000, &iter) != KH_OK)
			goto usage;
		rc = run_threads(n, iter, o);
	} else
		goto usage;
	kh_session_free(s);
	free(bytes);
	emit(o, rc, t0);
	return 0;
usage:
	kh_session_free(s);
	free(bytes);
	json_decref(o);
	fprintf(stderr,
	    "session_probe: bad command (see the comment at the top of "
	    "session_probe.c)\n");
	return -1;
}

static int
shell(void)
{
	return probe_shell(run, LINE_MAX_LEN);
}

int
main(int argc, char **argv)
{
	struct kh_config *cfg = NULL;
	enum kh_log_level lvl;
	char *err = NULL;
	int rc = 2;

	/* hiredis writes with write(2): a closed peer must not kill us
	 * (kakehashid ignores SIGPIPE the same way). */
	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr, "usage: session_probe CONFIG COMMAND [ARGS...] | CONFIG shell\n");
		return 2;
	}
	if (kh_config_load(argv[1], &cfg, &err) != KH_OK) {
		fprintf(stderr, "session_probe: %s\n", err ? err : "cannot load the config");
		free(err);
		return 2;
	}
	if (cfg->log_level != NULL && kh_log_level_parse(cfg->log_level, &lvl) == KH_OK)
		kh_log_set_level(lvl);
	if (kh_store_new(cfg, &store) != KH_OK) {
		fprintf(stderr, "session_probe: cannot set up the store\n");
		goto out;
	}
	if (strcmp(argv[2], "shell") == 0 && argc == 3)
		rc = shell() == 0 ? 0 : 2;
	else
		rc = run(argc - 2, argv + 2) == 0 ? 0 : 2;
out:
	kh_store_free(store);
	kh_config_free(cfg);
	return rc;
}
