#include "idp/metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

#include "common/errors.h"
#include "idp/idp.h"

static const int statuses[] = { 200, 204, 302, 303, 304, 400, 401, 403, 404, 405, 413, 415, 429,
	431, 500, 503 };
#define NSTATUS (sizeof(statuses) / sizeof(statuses[0]))
#define STATUS_OTHER NSTATUS

/* Upper bounds in milliseconds; the last bucket is +Inf. */
static const int buckets_ms[] = { 1, 2, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000 };
#define NBUCKETS (sizeof(buckets_ms) / sizeof(buckets_ms[0]))

static const char *const outcome_names[KH_LOGIN__COUNT] = {
	[KH_LOGIN_OK] = "ok",
	[KH_LOGIN_INVALID] = "invalid_credentials",
	[KH_LOGIN_LOCKED] = "locked",
	[KH_LOGIN_PASSWORD_EXPIRED] = "password_expired",
	[KH_LOGIN_MUST_CHANGE] = "must_change_password",
	[KH_LOGIN_DISABLED] = "disabled",
	[KH_LOGIN_ACCOUNT_EXPIRED] = "account_expired",
	[KH_LOGIN_RESTRICTED] = "restricted",
	[KH_LOGIN_THROTTLED] = "throttled",
	[KH_LOGIN_UNAVAILABLE] = "backend_unavailable",
	[KH_LOGIN_ERROR] = "error",
	[KH_LOGIN_CSRF] = "csrf_rejected",
	[KH_LOGIN_BAD_INPUT] = "bad_input",
};

struct kh_metrics {
	size_t nendpoints;
	atomic_ulong *requests; /* [(nendpoints + 1) * (NSTATUS + 1)] */
	atomic_ulong logins[KH_LOGIN__COUNT];
	atomic_ulong hist[NBUCKETS + 1];
	atomic_ulong hist_count;
	atomic_ullong hist_sum_us;
};

int
kh_metrics_new(size_t nendpoints, struct kh_metrics **out)
{
	struct kh_metrics *m;

	*out = NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return KH_ERR_NOMEM;
	m->nendpoints = nendpoints;
	if ((m->requests = calloc((nendpoints + 1) * (NSTATUS + 1), sizeof(atomic_ulong))) ==
	    NULL) {
		free(m);
		return KH_ERR_NOMEM;
	}
	*out = m;
	return KH_OK;
}

void
kh_metrics_free(struct kh_metrics *m)
{
	if (m == NULL)
		return;
	free(m->requests);
	free(m);
}

const char *
kh_login_outcome_name(enum kh_login_outcome o)
{
	return (unsigned)o < KH_LOGIN__COUNT ? outcome_names[o] : "unknown";
}

void
kh_metrics_request(struct kh_metrics *m, size_t endpoint, int status, int64_t ms)
{
	size_t s, b;

	if (endpoint > m->nendpoints)
		endpoint = m->nendpoints;
	for (s = 0; s < NSTATUS && statuses[s] != status; s++)
		;
	atomic_fetch_add_explicit(
	    &m->requests[endpoint * (NSTATUS + 1) + s], 1, memory_order_relaxed);
	for (b = 0; b < NBUCKETS && ms > buckets_ms[b]; b++)
		;
	atomic_fetch_add_explicit(&m->hist[b], 1, memory_order_relaxed);
	atomic_fetch_add_explicit(&m->hist_count, 1, memory_order_relaxed);
	atomic_fetch_add_explicit(
	    &m->hist_sum_us, (unsigned long long)(ms < 0 ? 0 : ms) * 1000, memory_order_relaxed);
}

void
kh_metrics_login(struct kh_metrics *m, enum kh_login_outcome o)
{
	if ((unsigned)o < KH_LOGIN__COUNT)
		atomic_fetch_add_explicit(&m->logins[o], 1, memory_order_relaxed);
}

int
kh_metrics_render(struct kh_metrics *m, struct kh_buf *out)
{
	unsigned long v, cum = 0;
	size_t e, s, b;
	int r = KH_OK;

	r |= kh_buf_append_str(out,
	    "# HELP kakehashi_http_requests_total HTTP requests by endpoint and status.\n"
	    "# TYPE kakehashi_http_requests_total counter\n");
	for (e = 0; e <= m->nendpoints; e++) {
		const char *label = e < m->nendpoints ? kh_endpoint_at(e)->metric : "unknown";
		for (s = 0; s <= NSTATUS; s++) {
			v = atomic_load(&m->requests[e * (NSTATUS + 1) + s]);
			if (v == 0)
				continue;
			if (s < NSTATUS)
				r |= kh_buf_appendf(out,
				    "kakehashi_http_requests_total{endpoint=\"%s\",status=\"%d\"} %lu\n",
				    label, statuses[s], v);
			else
				r |= kh_buf_appendf(out,
				    "kakehashi_http_requests_total{endpoint=\"%s\",status=\"other\"} %lu\n",
				    label, v);
		}
	}
	r |= kh_buf_append_str(out,
	    "# HELP kakehashi_login_total Password sign-in attempts by outcome.\n"
	    "# TYPE kakehashi_login_total counter\n");
	for (s = 0; s < KH_LOGIN__COUNT; s++)
		r |= kh_buf_appendf(out, "kakehashi_login_total{outcome=\"%s\"} %lu\n",
		    outcome_names[s], (unsigned long)atomic_load(&m->logins[s]));
	r |= kh_buf_append_str(out,
	    "# HELP kakehashi_http_request_duration_seconds Time to answer a request.\n"
	    "# TYPE kakehashi_http_request_duration_seconds histogram\n");
	for (b = 0; b <= NBUCKETS; b++) {
		cum += atomic_load(&m->hist[b]);
		if (b < NBUCKETS)
			r |= kh_buf_appendf(out,
			    "kakehashi_http_request_duration_seconds_bucket{le=\"%g\"} %lu\n",
			    buckets_ms[b] / 1000.0, cum);
		else
			r |= kh_buf_appendf(out,
			    "kakehashi_http_request_duration_seconds_bucket{le=\"+Inf\"} %lu\n",
			    cum);
	}
	r |= kh_buf_appendf(out, "kakehashi_http_request_duration_seconds_sum %.6f\n",
	    (double)atomic_load(&m->hist_sum_us) / 1e6);
	r |= kh_buf_appendf(out, "kakehashi_http_request_duration_seconds_count %lu\n",
	    (unsigned long)atomic_load(&m->hist_count));
	return r == KH_OK ? KH_OK : KH_ERR_TOO_LARGE;
}
