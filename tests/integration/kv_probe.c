/* kv_probe: drives sessions/kv.h and sessions/registry.h from tests.
 *
 *   kv_probe CONFIG COMMAND [ARGS...]   one command
 *   kv_probe CONFIG shell               commands from stdin, one per line
 *
 * Commands (one JSON object per line on stdout, always with "rc" and "error"):
 *   put TAG ID HEX TTL [nx]     value given as hex ("-" = empty)
 *   putn TAG ID N TTL [nx]      a value of N bytes 'v'
 *   get TAG ID | take TAG ID    {"hex": ..., "len": n}
 *   del TAG ID
 *   incr TAG ID TTL             {"value": n}
 *   secret-id PURPOSE SECRET    {"id": hex}
 *   reg-version                 {"version": n}
 *   reg-put ID HEX [create]     document given as hex
 *   reg-putn ID N               a document of N bytes
 *   reg-get ID                  {"json": ...}
 *   reg-del ID
 *   reg-list                    {"docs": [...], "version": n}
 *   reg-idvalid ID              {"valid": 0|1}
 *   reg-race ID N               N threads create ID at once: {"created": c, "exists": e}
 *   reg-churn N ITER            N writer threads put/delete while this thread
 *                               lists: {"lists": n, "inconsistent": m}
 * Exit status: 0 when the commands ran (whatever their rc), 2 on usage or
 * configuration errors. */
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
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
#include "sessions/kv.h"
#include "sessions/registry.h"
#include "sessions/sessions.h"

#define LINE_MAX_LEN (1200 * 1024)

static struct kh_store *store;

static void
emit(json_t *o, int rc)
{
	char *s;

	json_object_set_new(o, "rc", json_integer(rc));
	json_object_set_new(o, "error", json_string(kh_strerror(rc)));
	if ((s = json_dumps(o, JSON_COMPACT)) != NULL) {
		printf("%s\n", s);
		free(s);
	}
	fflush(stdout);
	json_decref(o);
}

/* Decodes HEX ("-" = empty) into a fresh NUL-terminated buffer. */
static int
unhex(const char *hex, unsigned char **out, size_t *len)
{
	size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex);

	*out = NULL;
	*len = 0;
	if (n % 2 != 0 || (*out = calloc(1, n / 2 + 1)) == NULL)
		return -1;
	if (n > 0 && kh_hex_decode(hex, *out, n / 2) != KH_OK) {
		free(*out);
		*out = NULL;
		return -1;
	}
	*len = n / 2;
	return 0;
}

static json_t *
hex_json(const char *v, size_t len)
{
	char *h = malloc(2 * len + 1);
	json_t *j;

	if (h == NULL)
		return json_null();
	kh_hex_encode(v, len, h);
	j = json_string(h);
	free(h);
	return j;
}

struct racer {
	pthread_t tid;
	const char *id;
	int index;
	long iterations;
	int rc;
};

static pthread_barrier_t barrier;

static void *
race_main(void *arg)
{
	struct racer *w = arg;
	char doc[128];

	snprintf(doc, sizeof(doc), "{\"id\":\"%s\",\"by\":%d}", w->id, w->index);
	pthread_barrier_wait(&barrier);
	w->rc = kh_registry_put(store, w->id, doc, 1);
	kh_store_thread_cleanup(store);
	return NULL;
}

static atomic_int churn_stop;

/* Puts and deletes its own id over and over: apps "churn-<i>". Every
 * document names the id it is stored under. */
static void *
churn_main(void *arg)
{
	struct racer *w = arg;
	char id[64], doc[128];
	long i;

	snprintf(id, sizeof(id), "churn-%d", w->index);
	snprintf(doc, sizeof(doc), "{\"id\":\"%s\"}", id);
	w->rc = KH_OK;
	for (i = 0; i < w->iterations && !atomic_load(&churn_stop); i++) {
		int r = kh_registry_put(store, id, doc, 0);

		if (r == KH_OK)
			r = kh_registry_delete(store, id);
		if (r != KH_OK && w->rc == KH_OK)
			w->rc = r;
	}
	kh_store_thread_cleanup(store);
	return NULL;
}

static int
run_race(const char *id, long n, json_t *o)
{
	struct racer *w;
	long i, created = 0, exists = 0, other = 0, started = 0;

	if ((w = calloc((size_t)n, sizeof(*w))) == NULL)
		return KH_ERR_NOMEM;
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		w[i].id = id;
		w[i].index = (int)i;
		if (pthread_create(&w[i].tid, NULL, race_main, &w[i]) != 0)
			abort(); /* the barrier would never open */
		started++;
	}
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].rc == KH_OK)
			created++;
		else if (w[i].rc == KH_ERR_EXISTS)
			exists++;
		else
			other++;
	}
	pthread_barrier_destroy(&barrier);
	free(w);
	json_object_set_new(o, "created", json_integer(created));
	json_object_set_new(o, "exists", json_integer(exists));
	json_object_set_new(o, "other", json_integer(other));
	return KH_OK;
}

/* Lists while writers churn: each list must be internally consistent (every
 * document parses and names a distinct id) and versions never go back. */
static int
run_churn(long n, long iter, json_t *o)
{
	struct racer *w;
	long i, lists = 0, bad = 0, started = 0, back = 0;
	long long v, last = -1;
	char **docs = NULL;
	size_t k;
	int r = KH_OK, wr = KH_OK;

	if ((w = calloc((size_t)n, sizeof(*w))) == NULL)
		return KH_ERR_NOMEM;
	atomic_store(&churn_stop, 0);
	for (i = 0; i < n; i++) {
		w[i].index = (int)i;
		w[i].iterations = iter;
		if (pthread_create(&w[i].tid, NULL, churn_main, &w[i]) != 0)
			break;
		started++;
	}
	for (i = 0; i < iter; i++) {
		if ((r = kh_registry_list(store, &docs, &v)) != KH_OK)
			break;
		lists++;
		if (v < last)
			back++;
		last = v;
		for (k = 0; docs[k] != NULL; k++) {
			json_t *d = json_loads(docs[k], 0, NULL);

			if (d == NULL || !json_is_string(json_object_get(d, "id")))
				bad++;
			json_decref(d);
		}
		kh_registry_list_free(docs);
		docs = NULL;
	}
	atomic_store(&churn_stop, 1);
	for (i = 0; i < started; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].rc != KH_OK)
			wr = w[i].rc;
	}
	free(w);
	json_object_set_new(o, "lists", json_integer(lists));
	json_object_set_new(o, "inconsistent", json_integer(bad));
	json_object_set_new(o, "backwards", json_integer(back));
	json_object_set_new(o, "writer_rc", json_integer(wr));
	return r;
}

/* Runs one command; returns -1 on a usage error. */
static int
run(int argc, char **argv)
{
	json_t *o = json_object(), *arr;
	unsigned char *bytes = NULL;
	char *val = NULL, *json = NULL, **docs = NULL, sid[65];
	size_t len = 0, i;
	long ttl, n, iter, out;
	long long version;
	int rc, nx;

	if (argc < 1)
		goto usage;
	if ((strcmp(argv[0], "put") == 0 || strcmp(argv[0], "putn") == 0) &&
	    (argc == 5 || argc == 6)) {
		nx = argc == 6 && strcmp(argv[5], "nx") == 0;
		if (argc == 6 && !nx)
			goto usage;
		if (kh_parse_long(argv[4], -10, 1L << 40, &ttl) != KH_OK)
			goto usage;
		if (strcmp(argv[0], "put") == 0) {
			if (unhex(argv[3], &bytes, &len) != 0)
				goto usage;
		} else {
			if (kh_parse_long(argv[3], 0, 4L * 1024 * 1024, &n) != KH_OK ||
			    (bytes = malloc((size_t)n + 1)) == NULL)
				goto usage;
			memset(bytes, 'v', (size_t)n);
			len = (size_t)n;
		}
		rc = kh_kv_put(store, argv[1], argv[2], bytes, len, ttl, nx);
	} else if ((strcmp(argv[0], "get") == 0 || strcmp(argv[0], "take") == 0) && argc == 3) {
		rc = strcmp(argv[0], "get") == 0 ? kh_kv_get(store, argv[1], argv[2], &val, &len)
						 : kh_kv_take(store, argv[1], argv[2], &val, &len);
		if (rc == KH_OK) {
			json_object_set_new(o, "hex", hex_json(val, len));
			json_object_set_new(o, "len", json_integer((json_int_t)len));
			json_object_set_new(o, "nul", json_boolean(val[len] == '\0'));
			kh_freezero(val, len + 1);
		} else if (val != NULL)
			json_object_set_new(o, "leaked_output", json_true());
	} else if (strcmp(argv[0], "del") == 0 && argc == 3) {
		rc = kh_kv_del(store, argv[1], argv[2]);
	} else if (strcmp(argv[0], "incr") == 0 && argc == 4) {
		if (kh_parse_long(argv[3], -10, 1L << 40, &ttl) != KH_OK)
			goto usage;
		rc = kh_kv_incr(store, argv[1], argv[2], ttl, &out);
		json_object_set_new(o, "value", json_integer(out));
	} else if (strcmp(argv[0], "secret-id") == 0 && argc == 3) {
		rc = kh_kv_secret_id(store, argv[1], argv[2], sid);
		if (rc == KH_OK)
			json_object_set_new(o, "id", json_string(sid));
	} else if (strcmp(argv[0], "reg-version") == 0 && argc == 1) {
		rc = kh_registry_version(store, &version);
		json_object_set_new(o, "version", json_integer(version));
	} else if (strcmp(argv[0], "reg-put") == 0 && (argc == 3 || argc == 4)) {
		if (unhex(argv[2], &bytes, &len) != 0)
			goto usage;
		rc = kh_registry_put(store, argv[1], (const char *)bytes,
		    argc == 4 && strcmp(argv[3], "create") == 0);
	} else if (strcmp(argv[0], "reg-putn") == 0 && argc == 3) {
		if (kh_parse_long(argv[2], 0, 4L * 1024 * 1024, &n) != KH_OK ||
		    (bytes = malloc((size_t)n + 1)) == NULL)
			goto usage;
		memset(bytes, ' ', (size_t)n);
		bytes[n] = '\0';
		rc = kh_registry_put(store, argv[1], (const char *)bytes, 0);
	} else if (strcmp(argv[0], "reg-get") == 0 && argc == 2) {
		rc = kh_registry_get(store, argv[1], &json);
		if (rc == KH_OK)
			json_object_set_new(o, "json", json_string(json));
		free(json);
	} else if (strcmp(argv[0], "reg-del") == 0 && argc == 2) {
		rc = kh_registry_delete(store, argv[1]);
	} else if (strcmp(argv[0], "reg-list") == 0 && argc == 1) {
		rc = kh_registry_list(store, &docs, &version);
		if (rc == KH_OK) {
			arr = json_array();
			for (i = 0; docs[i] != NULL; i++)
				json_array_append_new(arr, json_string(docs[i]));
			json_object_set_new(o, "docs", arr);
			json_object_set_new(o, "version", json_integer(version));
		}
		kh_registry_list_free(docs);
	} else if (strcmp(argv[0], "reg-idvalid") == 0 && argc == 2) {
		rc = KH_OK;
		json_object_set_new(o, "valid", json_integer(kh_registry_id_valid(argv[1])));
	} else if (strcmp(argv[0], "reg-race") == 0 && argc == 3) {
		if (kh_parse_long(argv[2], 1, 64, &n) != KH_OK)
			goto usage;
		rc = run_race(argv[1], n, o);
	} else if (strcmp(argv[0], "reg-churn") == 0 && argc == 3) {
		if (kh_parse_long(argv[1], 1, 32, &n) != KH_OK ||
		    kh_parse_long(argv[2], 1, 100000, &iter) != KH_OK)
			goto usage;
		rc = run_churn(n, iter, o);
	} else
		goto usage;
	free(bytes);
	emit(o, rc);
	return 0;
usage:
	free(bytes);
	json_decref(o);
	fprintf(stderr, "kv_probe: bad command (see the comment at the top of kv_probe.c)\n");
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

	signal(SIGPIPE, SIG_IGN);
	if (argc < 3) {
		fprintf(stderr, "usage: kv_probe CONFIG COMMAND [ARGS...] | CONFIG shell\n");
		return 2;
	}
	if (kh_config_load(argv[1], &cfg, &err) != KH_OK) {
		fprintf(stderr, "kv_probe: %s\n", err ? err : "cannot load the config");
		free(err);
		return 2;
	}
	if (cfg->log_level != NULL && kh_log_level_parse(cfg->log_level, &lvl) == KH_OK)
		kh_log_set_level(lvl);
	if (kh_store_new(cfg, &store) != KH_OK) {
		fprintf(stderr, "kv_probe: cannot set up the store\n");
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
