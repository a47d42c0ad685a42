/* Prometheus counters: requests by endpoint and status, login outcomes and a
 * latency histogram. Lock-free (atomics); rendered at GET /metrics. */
#ifndef KH_METRICS_H
#define KH_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"

enum kh_login_outcome {
	KH_LOGIN_OK = 0,
	KH_LOGIN_INVALID,
	KH_LOGIN_LOCKED,
	KH_LOGIN_PASSWORD_EXPIRED,
	KH_LOGIN_MUST_CHANGE,
	KH_LOGIN_DISABLED,
	KH_LOGIN_ACCOUNT_EXPIRED,
	KH_LOGIN_RESTRICTED,
	KH_LOGIN_THROTTLED,
	KH_LOGIN_UNAVAILABLE,
	KH_LOGIN_ERROR,
	KH_LOGIN_CSRF,
	KH_LOGIN_BAD_INPUT,
	KH_LOGIN__COUNT
};

struct kh_metrics;

int kh_metrics_new(size_t nendpoints, struct kh_metrics **out);
void kh_metrics_free(struct kh_metrics *m);
/* endpoint == nendpoints means "no such path". */
void kh_metrics_request(struct kh_metrics *m, size_t endpoint, int status, int64_t ms);
void kh_metrics_login(struct kh_metrics *m, enum kh_login_outcome o);
const char *kh_login_outcome_name(enum kh_login_outcome o);
int kh_metrics_render(struct kh_metrics *m, struct kh_buf *out);

#endif
