/* Unit tests of sessions/ that need no Redis: cookie validation, key
 * derivation, fail-closed behaviour against a port nobody listens on, and
 * per-thread contexts released at thread exit (ASan checks for leaks). */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"
#include "connectors/connector.h"
#include "sessions/sessions.h"
#include "sessions/store.h"
#include "tests/unit/tap.h"

static struct kh_config cfg;

/* A loopback port that refuses connections: bound, never listening. */
static int
refusing_port(int *fd)
{
	struct sockaddr_in sa;
	socklen_t len = sizeof(sa);

	if ((*fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(*fd, (struct sockaddr *)&sa, sizeof(sa)) != 0 ||
	    getsockname(*fd, (struct sockaddr *)&sa, &len) != 0)
		return -1;
	return ntohs(sa.sin_port);
}

static void *
thread_ping(void *arg)
{
	struct kh_store *st = arg;

	/* Leaves its context for the thread-exit destructor. */
	kh_store_ping(st);
	return NULL;
}

int
main(void)
{
	struct kh_store *st = NULL;
	struct kh_session dummy, *s = &dummy;
	struct kh_identity id;
	char good[KH_SESSION_COOKIE_LEN + 1], bad[KH_SESSION_COOKIE_LEN + 2];
	char key[KH_STORE_KEY_MAX + 1], want[KH_STORE_KEY_MAX + 1],
	    cookie[KH_SESSION_COOKIE_LEN + 1];
	char big[10 * 1024 + 1], hex[2 * KH_HMAC_LEN + 1];
	char longprefix[KH_STORE_PREFIX_MAX + 2];
	char *groups[] = { "staff", "bad\ngroup", NULL };
	unsigned char raw[32], mac[KH_HMAC_LEN];
	pthread_t t[4];
	size_t keylen;
	long fails = 7, locked = 7;
	int64_t t0;
	int fd = -1, port, i;

	port = refusing_port(&fd);
	ok(port > 0, "a refusing loopback port");
	cfg.redis_host = "127.0.0.1";
	cfg.redis_port = port;
	cfg.redis_password = "";
	cfg.redis_db = 0;
	cfg.redis_timeout_ms = 200;
	cfg.redis_prefix = "kh:";
	for (i = 0; i < 32; i++)
		cfg.session_key[i] = (unsigned char)(i * 7 + 1);
	cfg.session_key_len = 32;
	cfg.session_idle_timeout = 60;
	cfg.session_absolute_timeout = 300;
	cfg.login_user_max_failures = 5;
	cfg.login_ip_max_failures = 50;
	cfg.login_failure_window = 900;
	cfg.login_lock_duration = 900;

	memset(longprefix, 'p', sizeof(longprefix) - 1);
	longprefix[sizeof(longprefix) - 1] = '\0';
	cfg.redis_prefix = longprefix;
	ok(kh_store_new(&cfg, &st) == KH_ERR_CONFIG && st == NULL, "over-long prefix refused");
	cfg.redis_prefix = "kh:";
	cfg.session_key_len = 8;
	ok(kh_store_new(&cfg, &st) == KH_ERR_CONFIG, "short secret refused");
	cfg.session_key_len = 32;
	ok(kh_store_new(&cfg, &st) == KH_OK && st != NULL, "store created (no connection yet)");

	/* Cookie syntax. */
	memset(raw, 0xa5, sizeof(raw));
	kh_b64url_encode(raw, sizeof(raw), big);
	kh_strlcpy(good, big, sizeof(good));
	ok(strlen(good) == KH_SESSION_COOKIE_LEN && kh_session_cookie_valid(good),
	    "a 32-byte base64url cookie is valid");
	ok(!kh_session_cookie_valid(NULL), "NULL is not a cookie");
	ok(!kh_session_cookie_valid(""), "empty is not a cookie");
	memcpy(bad, good, sizeof(good));
	bad[KH_SESSION_COOKIE_LEN - 1] = '\0';
	ok(!kh_session_cookie_valid(bad), "42 characters refused");
	memcpy(bad, good, KH_SESSION_COOKIE_LEN);
	bad[KH_SESSION_COOKIE_LEN] = 'A';
	bad[KH_SESSION_COOKIE_LEN + 1] = '\0';
	ok(!kh_session_cookie_valid(bad), "44 characters refused");
	memcpy(bad, good, sizeof(good));
	bad[5] = '+';
	ok(!kh_session_cookie_valid(bad), "'+' (standard base64) refused");
	bad[5] = '=';
	ok(!kh_session_cookie_valid(bad), "'=' refused");
	bad[5] = '\0';
	ok(!kh_session_cookie_valid(bad), "embedded NUL refused");
	memcpy(bad, good, sizeof(good));
	bad[KH_SESSION_COOKIE_LEN - 1] = 'B';
	ok(!kh_session_cookie_valid(bad), "non-canonical last character refused");

	/* Key derivation: prefix "s:" hex(HMAC(secret, cookie)), no cookie in it. */
	ok(kh_session_key(st, good, key, &keylen) == KH_OK, "session key derived");
	kh_hmac_sha256(cfg.session_key, 32, good, KH_SESSION_COOKIE_LEN, mac);
	kh_hex_encode(mac, sizeof(mac), hex);
	snprintf(want, sizeof(want), "kh:s:%s", hex);
	ok(kh_ct_streq(key, want) && keylen == strlen(want),
	    "key = prefix s: hex(HMAC(key, value))");
	ok(strstr(key, good) == NULL, "the key does not contain the cookie");
	ok(kh_session_key(st, bad, key, &keylen) == KH_ERR_NOT_FOUND && key[0] == '\0',
	    "no key for a malformed cookie");

	/* Fail closed, fast, and malformed input never reaches the network. */
	t0 = kh_now_ms();
	ok(kh_store_ping(st) == KH_ERR_UNAVAILABLE, "ping: unavailable");
	ok(kh_session_get(st, good, &s) == KH_ERR_UNAVAILABLE && s == NULL,
	    "get of a well-formed cookie: unavailable, output NULL");
	ok(kh_now_ms() - t0 < 2000, "unavailable answers are fast");
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ok(kh_session_get(st, big, &s) == KH_ERR_NOT_FOUND, "10 KB cookie: not found");
	ok(kh_session_get(st, "abc", &s) == KH_ERR_NOT_FOUND, "short cookie: not found");
	ok(kh_session_get(st, NULL, &s) == KH_ERR_NOT_FOUND, "NULL cookie: not found");
	ok(kh_session_destroy(st, "abc") == KH_ERR_NOT_FOUND, "destroy malformed: not found");
	ok(kh_session_destroy(st, good) == KH_ERR_UNAVAILABLE, "destroy well-formed: unavailable");

	memset(&id, 0, sizeof(id));
	id.uid = "taro";
	memset(cookie, 'x', sizeof(cookie));
	ok(kh_session_create(st, &id, "pwd", "acr", "192.0.2.1", NULL, cookie) ==
		    KH_ERR_UNAVAILABLE &&
		cookie[0] == '\0',
	    "create: unavailable, cookie wiped");
	id.groups = groups;
	id.ngroups = 2;
	ok(kh_session_create(st, &id, "pwd", "acr", "192.0.2.1", NULL, cookie) == KH_ERR_INVALID,
	    "create: a group name with a newline refused");
	id.groups = NULL;
	id.ngroups = 0;
	id.uid = "";
	ok(kh_session_create(st, &id, "pwd", "acr", "192.0.2.1", NULL, cookie) == KH_ERR_INVALID,
	    "create: empty uid refused");

	ok(kh_throttle_check(st, KH_THROTTLE_USER, "taro", &fails, &locked) == KH_ERR_UNAVAILABLE &&
		fails == 0 && locked == 0,
	    "throttle check: unavailable, zeroed");
	ok(kh_throttle_fail(st, KH_THROTTLE_IP, "192.0.2.1", &fails, &locked) == KH_ERR_UNAVAILABLE,
	    "throttle fail: unavailable");
	ok(kh_throttle_reset(st, KH_THROTTLE_USER, "taro") == KH_ERR_UNAVAILABLE,
	    "throttle reset: unavailable");
	ok(kh_throttle_check(st, KH_THROTTLE_USER, NULL, &fails, &locked) == KH_ERR_INVALID,
	    "throttle: NULL key refused");
	ok(kh_throttle_check(st, (enum kh_throttle_kind)9, "x", &fails, &locked) == KH_ERR_INVALID,
	    "throttle: unknown kind refused");
	ok(kh_throttle_fail(st, KH_THROTTLE_USER, big, &fails, &locked) == KH_ERR_TOO_LARGE,
	    "throttle: 10 KB key refused");

	/* Contexts of exited threads are released (ASan reports a leak if not). */
	for (i = 0; i < 4; i++)
		pthread_create(&t[i], NULL, thread_ping, st);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ok(1, "threads exited without cleanup");
	kh_store_thread_cleanup(st);
	kh_store_thread_cleanup(st);
	ok(1, "thread cleanup is idempotent");

	kh_store_free(st);
	kh_store_free(NULL);
	kh_session_free(NULL);
	ok(1, "free(NULL) is harmless");
	close(fd);
	return tap_done();
}
