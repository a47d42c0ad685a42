/*
 * login_bench: a load generator for kakehashid's password login.
 *
 *   login_bench --url http://127.0.0.1:PORT --users FILE --password PW
 *       [--concurrency C] [--requests N] [--warmup W] [--mode login|page]
 *       [--new-connection] [--timeout-ms MS]
 *
 * Each of C worker threads loops, like a fresh browser: clear the cookies,
 * GET /login (keep the kh_csrf cookie, take the csrf field from the form),
 * POST /login with the next user of FILE (one uid a line, taken round robin
 * over all workers so the directory sees many different entries) and expect
 * "303 See Other" with a kh_session cookie. One login is both requests; its
 * latency is measured on the monotonic clock. --mode page only does the GET.
 *
 * W warm-up logins run first and are not counted; then N logins are timed.
 * Prints a human line and a one-line JSON summary on stdout. Exits 0 when
 * every counted login succeeded, 1 when some failed, 2 on usage errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#define BODY_MAX (1024 * 1024) /* a login page is a few KiB */
#define CSRF_LEN 43 /* 256-bit token, base64url */
#define SESSION_LEN 43
#define USER_MAX 256
#define USERS_MAX 10000000
#define URL_MAX 1024
#define ERRORS_SHOWN 5

enum mode { MODE_LOGIN, MODE_PAGE };

/* Why one login failed: counted per kind in the summary. */
enum fail_kind {
	FAIL_TRANSPORT = 0, /* curl could not complete a request */
	FAIL_GET_STATUS, /* GET /login did not answer 200 */
	FAIL_NO_CSRF, /* no csrf field in the form */
	FAIL_401,
	FAIL_403,
	FAIL_429,
	FAIL_503,
	FAIL_POST_STATUS, /* any other status for the POST */
	FAIL_NO_SESSION, /* 303 without a kh_session cookie */
	FAIL__COUNT
};

static const char *fail_names[FAIL__COUNT] = {
	"transport",
	"get_status",
	"no_csrf",
	"http_401",
	"http_403",
	"http_429",
	"http_503",
	"post_status",
	"no_session",
};

struct opts {
	char login_url[URL_MAX];
	const char *url;
	const char *users_file;
	const char *password;
	enum mode mode;
	long concurrency;
	long requests;
	long warmup;
	long timeout_ms;
	int new_connection;
};

struct users {
	char **names;
	size_t n;
};

struct shared {
	const struct opts *o;
	const struct users *users;
	pthread_barrier_t barrier;
	atomic_long next_warmup; /* warm-up tickets handed out */
	atomic_long next_ticket; /* timed tickets handed out */
	atomic_ulong next_user; /* round-robin position in users */
	atomic_int errors_shown;
};

/* A response body with a hard cap. */
struct body {
	char *p;
	size_t len;
	size_t cap;
};

struct worker {
	pthread_t tid;
	struct shared *sh;
	uint64_t *lat_ns; /* latencies of successful timed logins */
	size_t nlat;
	long failures[FAIL__COUNT];
	long ok;
	int session_seen; /* the last POST set kh_session */
	struct body body;
};

struct worker;

static void usage(void) __attribute__((noreturn));
static void fatal(const char *, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void report_error(struct worker *, const char *, ...) __attribute__((format(printf, 2, 3)));

static void
usage(void)
{
	fprintf(stderr,
	    "usage: login_bench --url http://127.0.0.1:PORT --users FILE --password PW\n"
	    "           [--concurrency C] [--requests N] [--warmup W] [--mode login|page]\n"
	    "           [--new-connection] [--timeout-ms MS]\n");
	exit(2);
}

static void
fatal(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("login_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static long
parse_num(const char *name, const char *s, long min, long max)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		fatal("%s must be an integer in %ld..%ld", name, min, max);
	return v;
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void
users_load(const char *path, struct users *u)
{
	FILE *f;
	char line[USER_MAX + 2];
	size_t cap = 0, len;
	char **tmp;

	u->names = NULL;
	u->n = 0;
	if ((f = fopen(path, "r")) == NULL)
		fatal("%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		len = strcspn(line, "\r\n");
		if (line[len] == '\0' && !feof(f))
			fatal("%s: line %zu longer than %d bytes", path, u->n + 1, USER_MAX);
		line[len] = '\0';
		if (len == 0 || line[0] == '#')
			continue;
		if (u->n == cap) {
			cap = cap == 0 ? 1024 : cap * 2;
			if (cap > USERS_MAX)
				fatal("%s: more than %d users", path, USERS_MAX);
			if ((tmp = realloc(u->names, cap * sizeof(*tmp))) == NULL)
				fatal("out of memory");
			u->names = tmp;
		}
		if ((u->names[u->n] = strdup(line)) == NULL)
			fatal("out of memory");
		u->n++;
	}
	if (ferror(f))
		fatal("%s: read error", path);
	fclose(f);
	if (u->n == 0)
		fatal("%s: no users", path);
}

static void
users_free(struct users *u)
{
	size_t i;

	for (i = 0; i < u->n; i++)
		free(u->names[i]);
	free(u->names);
	u->names = NULL;
	u->n = 0;
}

static size_t
body_write(char *data, size_t size, size_t nmemb, void *arg)
{
	struct body *b = arg;
	size_t n = size * nmemb, ncap;
	char *tmp;

	if (n > BODY_MAX - b->len)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	if (b->len + n + 1 > b->cap) {
		ncap = b->cap == 0 ? 16384 : b->cap;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if ((tmp = realloc(b->p, ncap)) == NULL)
			return 0;
		b->p = tmp;
		b->cap = ncap;
	}
	memcpy(b->p + b->len, data, n);
	b->len += n;
	b->p[b->len] = '\0';
	return n;
}

/* Notes a Set-Cookie for the session: name=<43 base64url characters>. */
static size_t
header_seen(char *data, size_t size, size_t nmemb, void *arg)
{
	struct worker *w = arg;
	size_t n = size * nmemb;
	static const char want[] = "set-cookie: kh_session=";
	size_t wl = sizeof(want) - 1, i;

	if (n >= wl + SESSION_LEN && strncasecmp(data, want, wl) == 0) {
		for (i = 0; i < SESSION_LEN; i++) {
			char c = data[wl + i];
			if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
				(c >= '0' && c <= '9') || c == '-' || c == '_'))
				return n;
		}
		w->session_seen = 1;
	}
	return n;
}

/* Copies the value of the form's csrf field into out. 0 on success. */
static int
find_csrf(const struct body *b, char out[CSRF_LEN + 1])
{
	static const char key[] = "name=\"csrf\" value=\"";
	const char *p;
	size_t i;

	if (b->p == NULL || (p = strstr(b->p, key)) == NULL)
		return -1;
	p += sizeof(key) - 1;
	for (i = 0; i < CSRF_LEN; i++) {
		if (p[i] == '\0' || p[i] == '"')
			return -1;
		out[i] = p[i];
	}
	if (p[CSRF_LEN] != '"')
		return -1;
	out[CSRF_LEN] = '\0';
	return 0;
}

static void
report_error(struct worker *w, const char *fmt, ...)
{
	va_list ap;

	if (atomic_fetch_add(&w->sh->errors_shown, 1) >= ERRORS_SHOWN)
		return;
	va_start(ap, fmt);
	fputs("login_bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static int
perform(struct worker *w, CURL *c, long *status)
{
	CURLcode cr;

	w->body.len = 0;
	if (w->body.p != NULL)
		w->body.p[0] = '\0';
	w->session_seen = 0;
	*status = 0;
	if ((cr = curl_easy_perform(c)) != CURLE_OK) {
		report_error(w, "request failed: %s", curl_easy_strerror(cr));
		return -1;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	return 0;
}

/* One login (or one page view). Returns -1 on success, else a fail_kind. */
static int
one_login(struct worker *w, CURL *c, const char *user)
{
	const struct opts *o = w->sh->o;
	char csrf[CSRF_LEN + 1], *form = NULL, *eu = NULL, *ep = NULL, *ec = NULL;
	size_t flen;
	long status;
	int ret = FAIL_TRANSPORT;

	/* A fresh browser: no cookies from the previous login. */
	curl_easy_setopt(c, CURLOPT_COOKIELIST, "ALL");
	curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
	if (perform(w, c, &status) != 0)
		goto out;
	if (status != 200) {
		report_error(w, "GET /login: status %ld", status);
		ret = FAIL_GET_STATUS;
		goto out;
	}
	if (find_csrf(&w->body, csrf) != 0) {
		report_error(w, "GET /login: no csrf field in the page");
		ret = FAIL_NO_CSRF;
		goto out;
	}
	if (o->mode == MODE_PAGE) {
		ret = -1;
		goto out;
	}
	if ((eu = curl_easy_escape(c, user, 0)) == NULL ||
	    (ep = curl_easy_escape(c, o->password, 0)) == NULL ||
	    (ec = curl_easy_escape(c, csrf, 0)) == NULL)
		fatal("out of memory");
	flen = strlen(eu) + strlen(ep) + strlen(ec) + 32;
	if ((form = malloc(flen)) == NULL)
		fatal("out of memory");
	snprintf(form, flen, "csrf=%s&username=%s&password=%s", ec, eu, ep);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, form);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(form));
	if (perform(w, c, &status) != 0)
		goto out;
	switch (status) {
	case 303:
		ret = w->session_seen ? -1 : FAIL_NO_SESSION;
		if (!w->session_seen)
			report_error(w, "POST /login %s: 303 without a session cookie", user);
		goto out;
	case 401: ret = FAIL_401; break;
	case 403: ret = FAIL_403; break;
	case 429: ret = FAIL_429; break;
	case 503: ret = FAIL_503; break;
	default: ret = FAIL_POST_STATUS; break;
	}
	report_error(w, "POST /login %s: status %ld", user, status);
out:
	if (form != NULL) {
		explicit_bzero(form, strlen(form));
		free(form);
	}
	curl_free(eu);
	if (ep != NULL) {
		explicit_bzero(ep, strlen(ep));
		curl_free(ep);
	}
	curl_free(ec);
	return ret;
}

static CURL *
new_handle(struct worker *w)
{
	const struct opts *o = w->sh->o;
	CURL *c;

	if ((c = curl_easy_init()) == NULL)
		fatal("curl_easy_init failed");
	curl_easy_setopt(c, CURLOPT_URL, o->login_url);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_COOKIEFILE, ""); /* cookie engine on, in memory */
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, o->timeout_ms);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_write);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &w->body);
	curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, header_seen);
	curl_easy_setopt(c, CURLOPT_HEADERDATA, w);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kakehashi-login-bench/1");
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if (o->new_connection)
		curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	return c;
}

static int
take_ticket(atomic_long *counter, long limit)
{
	return atomic_fetch_add(counter, 1) < limit;
}

static const char *
next_user(struct shared *sh)
{
	unsigned long i = atomic_fetch_add(&sh->next_user, 1);

	return sh->users->names[i % sh->users->n];
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct shared *sh = w->sh;
	const struct opts *o = sh->o;
	CURL *c = new_handle(w);
	uint64_t t0;
	int r;

	while (take_ticket(&sh->next_warmup, o->warmup))
		(void)one_login(w, c, next_user(sh));
	pthread_barrier_wait(&sh->barrier); /* main starts the clock */
	pthread_barrier_wait(&sh->barrier);
	while (take_ticket(&sh->next_ticket, o->requests)) {
		const char *user = next_user(sh);

		t0 = now_ns();
		r = one_login(w, c, user);
		if (r < 0) {
			w->lat_ns[w->nlat++] = now_ns() - t0;
			w->ok++;
		} else
			w->failures[r]++;
	}
	curl_easy_cleanup(c);
	return NULL;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[n], in milliseconds. */
static double
pct_ms(const uint64_t *v, size_t n, double p)
{
	size_t rank;

	if (n == 0)
		return 0.0;
	rank = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (rank < 1)
		rank = 1;
	if (rank > n)
		rank = n;
	return (double)v[rank - 1] / 1e6;
}

static int
opt_is(const char *arg, const char *name)
{
	return strcmp(arg, name) == 0;
}

static void
parse_args(int argc, char **argv, struct opts *o)
{
	size_t len;
	int i;

	memset(o, 0, sizeof(*o));
	o->mode = MODE_LOGIN;
	o->concurrency = 1;
	o->requests = 1000;
	o->warmup = 0;
	o->timeout_ms = 30000;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (opt_is(a, "--new-connection")) {
			o->new_connection = 1;
			continue;
		}
		if (opt_is(a, "-h") || opt_is(a, "--help"))
			usage();
		if (v == NULL)
			usage();
		i++;
		if (opt_is(a, "--url"))
			o->url = v;
		else if (opt_is(a, "--users"))
			o->users_file = v;
		else if (opt_is(a, "--password"))
			o->password = v;
		else if (opt_is(a, "--concurrency"))
			o->concurrency = parse_num(a, v, 1, 4096);
		else if (opt_is(a, "--requests"))
			o->requests = parse_num(a, v, 1, 100000000);
		else if (opt_is(a, "--warmup"))
			o->warmup = parse_num(a, v, 0, 100000000);
		else if (opt_is(a, "--timeout-ms"))
			o->timeout_ms = parse_num(a, v, 1, 3600000);
		else if (opt_is(a, "--mode")) {
			if (opt_is(v, "login"))
				o->mode = MODE_LOGIN;
			else if (opt_is(v, "page"))
				o->mode = MODE_PAGE;
			else
				fatal("--mode must be login or page");
		} else
			usage();
	}
	if (o->url == NULL)
		usage();
	if (o->mode == MODE_LOGIN && (o->users_file == NULL || o->password == NULL))
		fatal("--mode login needs --users and --password");
	if (strncmp(o->url, "http://", 7) != 0 && strncmp(o->url, "https://", 8) != 0)
		fatal("--url must start with http:// or https://");
	/* base URL without a trailing slash, then the login path */
	len = strcspn(o->url, "?#");
	while (len > 0 && o->url[len - 1] == '/')
		len--;
	if (len > INT_MAX ||
	    (size_t)snprintf(o->login_url, sizeof(o->login_url), "%.*s/login", (int)len, o->url) >=
		sizeof(o->login_url))
		fatal("--url too long");
}

int
main(int argc, char **argv)
{
	struct opts o;
	struct users users = { NULL, 0 };
	struct shared sh;
	struct worker *ws;
	uint64_t *all, t_start, t_end;
	long failures[FAIL__COUNT], nfail = 0, nok = 0;
	size_t nall = 0, i, k;
	double elapsed, rate, sum_ms = 0.0;
	char fails_json[512];
	size_t fj = 0;
	int rc;

	parse_args(argc, argv, &o);
	if (o.mode == MODE_LOGIN)
		users_load(o.users_file, &users);
	else {
		static char *none[] = { "" };
		users.names = none;
		users.n = 1;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		fatal("curl_global_init failed");

	memset(&sh, 0, sizeof(sh));
	sh.o = &o;
	sh.users = &users;
	atomic_init(&sh.next_warmup, 0);
	atomic_init(&sh.next_ticket, 0);
	atomic_init(&sh.next_user, 0);
	atomic_init(&sh.errors_shown, 0);
	if (pthread_barrier_init(&sh.barrier, NULL, (unsigned)o.concurrency + 1) != 0)
		fatal("pthread_barrier_init failed");
	if ((ws = calloc((size_t)o.concurrency, sizeof(*ws))) == NULL)
		fatal("out of memory");
	for (i = 0; i < (size_t)o.concurrency; i++) {
		ws[i].sh = &sh;
		/* Any worker may win every ticket. */
		if ((ws[i].lat_ns = calloc((size_t)o.requests, sizeof(uint64_t))) == NULL)
			fatal("out of memory");
		if ((rc = pthread_create(&ws[i].tid, NULL, worker_main, &ws[i])) != 0)
			fatal("pthread_create: %s", strerror(rc));
	}
	pthread_barrier_wait(&sh.barrier); /* warm-up done */
	t_start = now_ns();
	pthread_barrier_wait(&sh.barrier);
	for (i = 0; i < (size_t)o.concurrency; i++)
		pthread_join(ws[i].tid, NULL);
	t_end = now_ns();

	memset(failures, 0, sizeof(failures));
	if ((all = calloc((size_t)o.requests, sizeof(uint64_t))) == NULL)
		fatal("out of memory");
	for (i = 0; i < (size_t)o.concurrency; i++) {
		for (k = 0; k < ws[i].nlat; k++) {
			all[nall++] = ws[i].lat_ns[k];
			sum_ms += (double)ws[i].lat_ns[k] / 1e6;
		}
		nok += ws[i].ok;
		for (k = 0; k < FAIL__COUNT; k++) {
			failures[k] += ws[i].failures[k];
			nfail += ws[i].failures[k];
		}
		free(ws[i].lat_ns);
		free(ws[i].body.p);
	}
	free(ws);
	qsort(all, nall, sizeof(*all), cmp_u64);
	elapsed = (double)(t_end - t_start) / 1e9;
	rate = elapsed > 0 ? (double)nok / elapsed : 0.0;

	fj += (size_t)snprintf(fails_json + fj, sizeof(fails_json) - fj, "{");
	for (k = 0; k < FAIL__COUNT; k++) {
		if (failures[k] == 0)
			continue;
		fj += (size_t)snprintf(fails_json + fj, sizeof(fails_json) - fj, "%s\"%s\":%ld",
		    fj > 1 ? "," : "", fail_names[k], failures[k]);
	}
	snprintf(fails_json + fj, sizeof(fails_json) - fj, "}");

	printf("login_bench: mode=%s concurrency=%ld requests=%ld ok=%ld failures=%ld "
	       "elapsed=%.3fs rate=%.1f/s p50=%.2fms p90=%.2fms p99=%.2fms max=%.2fms\n",
	    o.mode == MODE_LOGIN ? "login" : "page", o.concurrency, o.requests, nok, nfail, elapsed,
	    rate, pct_ms(all, nall, 50), pct_ms(all, nall, 90), pct_ms(all, nall, 99),
	    nall ? (double)all[nall - 1] / 1e6 : 0.0);
	printf("{\"mode\":\"%s\",\"concurrency\":%ld,\"requests\":%ld,\"warmup\":%ld,"
	       "\"ok\":%ld,\"failures\":%ld,\"failure_kinds\":%s,\"elapsed_s\":%.6f,"
	       "\"rate_per_s\":%.2f,\"mean_ms\":%.3f,\"p50_ms\":%.3f,\"p90_ms\":%.3f,"
	       "\"p99_ms\":%.3f,\"max_ms\":%.3f}\n",
	    o.mode == MODE_LOGIN ? "login" : "page", o.concurrency, o.requests, o.warmup, nok,
	    nfail, fails_json, elapsed, rate, nall ? sum_ms / (double)nall : 0.0,
	    pct_ms(all, nall, 50), pct_ms(all, nall, 90), pct_ms(all, nall, 99),
	    nall ? (double)all[nall - 1] / 1e6 : 0.0);
	fflush(stdout);

	free(all);
	pthread_barrier_destroy(&sh.barrier);
	if (o.mode == MODE_LOGIN)
		users_free(&users);
	curl_global_cleanup();
	return nfail > 0 ? 1 : 0;
}
