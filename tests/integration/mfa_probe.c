/* mfa_probe: drives sessions/mfa.h from tests/integration/test_mfa_store.py.
 *
 *   mfa_probe CONFIG COMMAND [ARGS...]   one command
 *   mfa_probe CONFIG shell               commands from stdin, one per line
 *
 * The key-encryption key is [mfa] kek of CONFIG until "kek" replaces it. In
 * CODE arguments a '+' stands for a space (the shell splits on blanks).
 * Commands (one JSON object per line on stdout, always with "rc" and "error"):
 *   kek HEX                          use another KEK (32 bytes as hex)
 *   state UID                        the kh_mfa_state as JSON, plus "has_factor"
 *   totp-begin UID                   {"secret": hex, "b32": ...}
 *   totp-pending UID                 {"secret": hex}
 *   totp-activate UID CODE NOW WIN
 *   totp-check UID CODE NOW WIN
 *   totp-remove UID
 *   rc-gen UID                       {"codes": [...]}
 *   rc-use UID CODE
 *   wa-add UID ID DOCHEX COUNT       document given as hex
 *   wa-addn UID ID N COUNT           a document of N bytes 'd'
 *   wa-get UID ID                    {"doc": ..., "count": n}
 *   wa-counter UID ID N
 *   wa-remove UID ID
 *   bypass-issue UID TTL             {"code": ...}
 *   bypass-use UID CODE
 *   fail UID MAX WINDOW LOCK         {"failures": n, "locked_for": s}
 *   lock-check UID                   {"failures": n, "locked_for": s}
 *   unlock UID
 *   dev-remember UID DAYS            {"token": ...}
 *   dev-check UID TOKEN              {"live": 0|1} (rc < 0 on errors)
 *   reset UID                        {"totp", "recovery", "webauthn", "devices"}
 *   race N KIND UID CODE [NOW WIN]   N threads use one code at once; KIND is
 *                                    rc, bypass or totp: {"ok", "replay",
 *                                    "invalid", "other"}
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
#include "common/log.h"
#include "common/str.h"
#include "common/totp.h"
#include "sessions/mfa.h"
#include "sessions/sessions.h"
#include "tests/integration/probe_shell.h"

#define LINE_MAX_LEN (64 * 1024)
#define RACERS_MAX 64

static struct kh_store *store;
static unsigned char kek[KH_MFA_KEK_LEN];

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

/* '+' -> ' ' in place. */
static char *
spaces(char *s)
{
	char *p;

	for (p = s; *p != '\0'; p++)
		if (*p == '+')
			*p = ' ';
	return s;
}

static json_t *
hex_json(const void *v, size_t len)
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

static int
parse_i64(const char *s, int64_t *out)
{
	long v;

	if (kh_parse_long(s, -(1L << 40), 1L << 40, &v) != KH_OK)
		return -1;
	*out = v;
	return 0;
}

static int
parse_int(const char *s, long min, long max, long *out)
{
	return kh_parse_long(s, min, max, out) == KH_OK ? 0 : -1;
}

static json_t *
state_json(const struct kh_mfa_state *m)
{
	json_t *o = json_object(), *wa = json_array();
	size_t i;

	json_object_set_new(o, "totp_active", json_integer(m->totp_active));
	json_object_set_new(o, "totp_enrolled_at", json_integer(m->totp_enrolled_at));
	json_object_set_new(o, "totp_pending", json_integer(m->totp_pending));
	json_object_set_new(o, "recovery_left", json_integer((json_int_t)m->recovery_left));
	for (i = 0; i < m->nwebauthn; i++) {
		json_t *w = json_object();

		json_object_set_new(w, "id", json_string(m->webauthn[i].id));
		json_object_set_new(w, "doc", json_string(m->webauthn[i].doc));
		json_object_set_new(w, "count", json_integer(m->webauthn[i].sign_count));
		json_array_append_new(wa, w);
	}
	json_object_set_new(o, "webauthn", wa);
	json_object_set_new(o, "bypass_active", json_integer(m->bypass_active));
	json_object_set_new(o, "bypass_expires", json_integer(m->bypass_expires));
	json_object_set_new(o, "failures", json_integer(m->failures));
	json_object_set_new(o, "locked_for", json_integer(m->locked_for));
	json_object_set_new(
	    o, "remembered_devices", json_integer((json_int_t)m->remembered_devices));
	json_object_set_new(o, "has_factor", json_integer(kh_mfa_has_factor(m)));
	return o;
}

/* ---- races ---- */

enum race_kind { RACE_RC, RACE_BYPASS, RACE_TOTP };

struct racer {
	pthread_t tid;
	enum race_kind kind;
	const char *uid, *code;
	int64_t now;
	int window;
	int rc;
};

static pthread_barrier_t barrier;

static void *
race_main(void *arg)
{
	struct racer *w = arg;

	pthread_barrier_wait(&barrier);
	switch (w->kind) {
	case RACE_RC: w->rc = kh_mfa_recovery_use(store, w->uid, w->code); break;
	case RACE_BYPASS: w->rc = kh_mfa_bypass_use(store, w->uid, w->code); break;
	case RACE_TOTP:
		w->rc = kh_mfa_totp_check(store, kek, w->uid, w->code, w->now, w->window);
		break;
	}
	kh_store_thread_cleanup(store);
	return NULL;
}

static int
run_race(long n, enum race_kind kind, const char *uid, const char *code, int64_t now, long window,
    json_t *o)
{
	struct racer w[RACERS_MAX];
	long i, okn = 0, replay = 0, invalid = 0, other = 0;

	memset(w, 0, sizeof(w));
	pthread_barrier_init(&barrier, NULL, (unsigned)n);
	for (i = 0; i < n; i++) {
		w[i].kind = kind;
		w[i].uid = uid;
		w[i].code = code;
		w[i].now = now;
		w[i].window = (int)window;
		if (pthread_create(&w[i].tid, NULL, race_main, &w[i]) != 0)
			abort(); /* the barrier would never open */
	}
	for (i = 0; i < n; i++) {
		pthread_join(w[i].tid, NULL);
		if (w[i].rc == KH_OK)
			okn++;
		else if (w[i].rc == KH_ERR_REPLAY)
			replay++;
		else if (w[i].rc == KH_ERR_INVALID)
			invalid++;
		else
			other++;
	}
	pthread_barrier_destroy(&barrier);
	json_object_set_new(o, "ok", json_integer(okn));
	json_object_set_new(o, "replay", json_integer(replay));
	json_object_set_new(o, "invalid", json_integer(invalid));
	json_object_set_new(o, "other", json_integer(other));
	return KH_OK;
}

/* ---- commands ---- */

static int
is(const char *a, const char *b, int argc, int want)
{
	return strcmp(a, b) == 0 && argc == want;
}

/* Runs one command; returns -1 on a usage error. */
static int
run(int argc, char **argv)
{
	json_t *o = json_object(), *arr;
	unsigned char secret[20], *bytes = NULL;
	char b32[KH_TOTP_B32_MAX], codes[KH_MFA_RECOVERY_CODES][KH_MFA_CODE_LEN + 1];
	char code[KH_MFA_CODE_LEN + 1], token[KH_MFA_DEVICE_TOKEN_LEN + 1], *doc = NULL;
	struct kh_mfa_state *m = NULL;
	struct kh_mfa_reset_counts counts;
	uint32_t count = 0;
	int64_t now = 0;
	long n, win = 0, max, lock, failures = 0, locked_for = 0;
	size_t i, len;
	int rc;

	if (argc < 1)
		goto usage;
	if (is(argv[0], "kek", argc, 2)) {
		if (strlen(argv[1]) != 2 * KH_MFA_KEK_LEN ||
		    kh_hex_decode(argv[1], kek, sizeof(kek)) != KH_OK)
			goto usage;
		rc = KH_OK;
	} else if (is(argv[0], "state", argc, 2)) {
		rc = kh_mfa_state_get(store, argv[1], &m);
		if (rc == KH_OK)
			json_object_set_new(o, "state", state_json(m));
		else if (m != NULL)
			json_object_set_new(o, "leaked_output", json_true());
		kh_mfa_state_free(m);
	} else if (is(argv[0], "totp-begin", argc, 2)) {
		rc = kh_mfa_totp_begin(store, kek, argv[1], secret);
		if (rc == KH_OK &&
		    kh_base32_encode(secret, sizeof(secret), b32, sizeof(b32)) == KH_OK) {
			json_object_set_new(o, "secret", hex_json(secret, sizeof(secret)));
			json_object_set_new(o, "b32", json_string(b32));
		}
		explicit_bzero(secret, sizeof(secret));
	} else if (is(argv[0], "totp-pending", argc, 2)) {
		rc = kh_mfa_totp_pending(store, kek, argv[1], secret);
		if (rc == KH_OK)
			json_object_set_new(o, "secret", hex_json(secret, sizeof(secret)));
		explicit_bzero(secret, sizeof(secret));
	} else if ((is(argv[0], "totp-activate", argc, 5) || is(argv[0], "totp-check", argc, 5))) {
		if (parse_i64(argv[3], &now) != 0 || parse_int(argv[4], -100, 100, &win) != 0)
			goto usage;
		rc = strcmp(argv[0], "totp-check") == 0
		    ? kh_mfa_totp_check(store, kek, argv[1], spaces(argv[2]), now, (int)win)
		    : kh_mfa_totp_activate(store, kek, argv[1], spaces(argv[2]), now, (int)win);
	} else if (is(argv[0], "totp-remove", argc, 2)) {
		rc = kh_mfa_totp_remove(store, argv[1]);
	} else if (is(argv[0], "rc-gen", argc, 2)) {
		rc = kh_mfa_recovery_generate(store, argv[1], codes);
		if (rc == KH_OK) {
			arr = json_array();
			for (i = 0; i < KH_MFA_RECOVERY_CODES; i++)
				json_array_append_new(arr, json_string(codes[i]));
			json_object_set_new(o, "codes", arr);
		}
		explicit_bzero(codes, sizeof(codes));
	} else if (is(argv[0], "rc-use", argc, 3)) {
		rc = kh_mfa_recovery_use(store, argv[1], spaces(argv[2]));
	} else if (is(argv[0], "wa-add", argc, 5) || is(argv[0], "wa-addn", argc, 5)) {
		if (parse_int(argv[4], 0, 0xffffffffL, &n) != 0)
			goto usage;
		count = (uint32_t)n;
		if (strcmp(argv[0], "wa-add") == 0) {
			len = strlen(argv[3]);
			if (len % 2 != 0 || (bytes = calloc(1, len / 2 + 1)) == NULL ||
			    (len > 0 && kh_hex_decode(argv[3], bytes, len / 2) != KH_OK))
				goto usage;
		} else {
			if (parse_int(argv[3], 0, 1L << 20, &n) != 0 ||
			    (bytes = malloc((size_t)n + 1)) == NULL)
				goto usage;
			memset(bytes, 'd', (size_t)n);
			bytes[n] = '\0';
		}
		rc = kh_mfa_webauthn_add(store, argv[1], argv[2], (const char *)bytes, count);
	} else if (is(argv[0], "wa-get", argc, 3)) {
		rc = kh_mfa_webauthn_get(store, argv[1], argv[2], &doc, &count);
		if (rc == KH_OK) {
			json_object_set_new(o, "doc", json_string(doc));
			json_object_set_new(o, "count", json_integer(count));
		} else if (doc != NULL)
			json_object_set_new(o, "leaked_output", json_true());
		free(doc);
	} else if (is(argv[0], "wa-counter", argc, 4)) {
		if (parse_int(argv[3], 0, 0xffffffffL, &n) != 0)
			goto usage;
		rc = kh_mfa_webauthn_counter(store, argv[1], argv[2], (uint32_t)n);
	} else if (is(argv[0], "wa-remove", argc, 3)) {
		rc = kh_mfa_webauthn_remove(store, argv[1], argv[2]);
	} else if (is(argv[0], "bypass-issue", argc, 3)) {
		if (parse_int(argv[2], -10, 1L << 40, &n) != 0)
			goto usage;
		rc = kh_mfa_bypass_issue(store, argv[1], n, code);
		if (rc == KH_OK)
			json_object_set_new(o, "code", json_string(code));
		explicit_bzero(code, sizeof(code));
	} else if (is(argv[0], "bypass-use", argc, 3)) {
		rc = kh_mfa_bypass_use(store, argv[1], spaces(argv[2]));
	} else if (is(argv[0], "fail", argc, 5)) {
		if (parse_int(argv[2], -10, 1L << 40, &max) != 0 ||
		    parse_int(argv[3], -10, 1L << 40, &win) != 0 ||
		    parse_int(argv[4], -10, 1L << 40, &lock) != 0)
			goto usage;
		rc = kh_mfa_fail(store, argv[1], max, win, lock, &failures, &locked_for);
		json_object_set_new(o, "failures", json_integer(failures));
		json_object_set_new(o, "locked_for", json_integer(locked_for));
	} else if (is(argv[0], "lock-check", argc, 2)) {
		rc = kh_mfa_lock_check(store, argv[1], &failures, &locked_for);
		json_object_set_new(o, "failures", json_integer(failures));
		json_object_set_new(o, "locked_for", json_integer(locked_for));
	} else if (is(argv[0], "unlock", argc, 2)) {
		rc = kh_mfa_unlock(store, argv[1]);
	} else if (is(argv[0], "dev-remember", argc, 3)) {
		if (parse_int(argv[2], -10, 1L << 20, &n) != 0)
			goto usage;
		rc = kh_mfa_device_remember(store, argv[1], n, token);
		if (rc == KH_OK)
			json_object_set_new(o, "token", json_string(token));
		explicit_bzero(token, sizeof(token));
	} else if (is(argv[0], "dev-check", argc, 3)) {
		rc = kh_mfa_device_check(store, argv[1], argv[2]);
		if (rc >= 0) {
			json_object_set_new(o, "live", json_integer(rc));
			rc = KH_OK;
		}
	} else if (is(argv[0], "reset", argc, 2)) {
		rc = kh_mfa_reset(store, argv[1], &counts);
		json_object_set_new(o, "totp", json_integer(counts.totp));
		json_object_set_new(o, "recovery", json_integer(counts.recovery));
		json_object_set_new(o, "webauthn", json_integer(counts.webauthn));
		json_object_set_new(o, "devices", json_integer(counts.devices));
	} else if (strcmp(argv[0], "race") == 0 && (argc == 5 || argc == 7)) {
		enum race_kind kind;

		if (parse_int(argv[1], 1, RACERS_MAX, &n) != 0)
			goto usage;
		if (strcmp(argv[2], "rc") == 0)
			kind = RACE_RC;
		else if (strcmp(argv[2], "bypass") == 0)
			kind = RACE_BYPASS;
		else if (strcmp(argv[2], "totp") == 0 && argc == 7)
			kind = RACE_TOTP;
		else
			goto usage;
		if (argc == 7 &&
		    (parse_i64(argv[5], &now) != 0 || parse_int(argv[6], -100, 100, &win) != 0))
			goto usage;
		rc = run_race(n, kind, argv[3], spaces(argv[4]), now, win, o);
	} else
		goto usage;
	free(bytes);
	emit(o, rc);
	return 0;
usage:
	free(bytes);
	json_decref(o);
	fprintf(stderr, "mfa_probe: bad command (see the comment at the top of mfa_probe.c)\n");
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
		fprintf(stderr, "usage: mfa_probe CONFIG COMMAND [ARGS...] | CONFIG shell\n");
		return 2;
	}
	if (kh_config_load(argv[1], &cfg, &err) != KH_OK) {
		fprintf(stderr, "mfa_probe: %s\n", err ? err : "cannot load the config");
		free(err);
		return 2;
	}
	if (cfg->log_level != NULL && kh_log_level_parse(cfg->log_level, &lvl) == KH_OK)
		kh_log_set_level(lvl);
	memcpy(kek, cfg->mfa_kek_bytes, sizeof(kek));
	if (kh_totp_global_init() != KH_OK) {
		fprintf(stderr, "mfa_probe: oath_init failed\n");
		goto out;
	}
	if (kh_store_new(cfg, &store) != KH_OK) {
		fprintf(stderr, "mfa_probe: cannot set up the store\n");
		goto out;
	}
	if (strcmp(argv[2], "shell") == 0 && argc == 3)
		rc = shell() == 0 ? 0 : 2;
	else
		rc = run(argc - 2, argv + 2) == 0 ? 0 : 2;
out:
	kh_store_free(store);
	kh_totp_global_done();
	kh_config_free(cfg);
	explicit_bzero(kek, sizeof(kek));
	return rc;
}
