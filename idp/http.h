/* The HTTP boundary. libmicrohttpd parses the wire; this layer turns each
 * request into a validated struct kh_req (capped parameters, duplicates
 * counted, client address resolved, language chosen) and sends the struct
 * kh_resp a handler fills in. Handlers never see MHD types. */
#ifndef KH_HTTP_H
#define KH_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "idp/i18n.h"

#define KH_PARAMS_MAX 32 /* query or form fields per request */
#define KH_PARAM_NAME_MAX 64
#define KH_HEADERS_OUT_MAX 16
#define KH_RESP_BODY_MAX (1024 * 1024)
#define KH_RID_LEN 16
/* Per-connection memory (request line + headers): 32 KiB. Larger pools are
 * mmap()ed by libmicrohttpd for every connection (page faults each time). */
#define KH_CONN_MEMORY ((size_t)32768)

enum kh_method { KH_GET = 1, KH_POST = 2, KH_HEAD = 4, KH_OTHER = 8 };

struct kh_param {
	char *name;
	char *value;
	size_t len; /* value length: values may hold NUL bytes */
};

struct kh_params {
	struct kh_param items[KH_PARAMS_MAX];
	size_t n;
	int overflow; /* more than KH_PARAMS_MAX fields arrived */
	int duplicates; /* some name arrived more than once */
};

struct kh_idp;

struct kh_req {
	struct kh_idp *app;
	void *conn; /* the MHD connection, for header and cookie lookups */
	enum kh_method method;
	const char *path;
	struct kh_params query;
	/* The query string exactly as received, after '?' (NULL when none):
	 * signatures over the raw bytes (SAML HTTP-Redirect) need it. */
	const char *raw_query;
	struct kh_params form;
	int form_error; /* KH_ERR_* while reading the body */
	char client_ip[48];
	/* The peer is a configured trusted proxy: its X-Forwarded-For and
	 * device headers are believed. */
	int from_proxy;
	char rid[KH_RID_LEN + 1]; /* request id: logs and error pages */
	enum kh_lang lang;
	int lang_from_query; /* ?lang= chose the language: remember it in a cookie */
	int64_t start_ms;
	char csrf_fresh[44]; /* a kh_csrf cookie set on this response, if any */
};

struct kh_header {
	char *name;
	char *value;
};

struct kh_resp {
	int status;
	const char *content_type;
	struct kh_buf body;
	struct kh_header headers[KH_HEADERS_OUT_MAX];
	size_t nheaders;
	int64_t not_before_ms; /* monotonic time before which it must not be sent */
};

/* Parameters: the value, or NULL when absent. *dup is set when the name was
 * repeated (callers that need a single value must refuse repeats). */
const char *kh_param_get(const struct kh_params *ps, const char *name, size_t *len);
int kh_param_count(const struct kh_params *ps, const char *name);

const char *kh_req_header(const struct kh_req *req, const char *name);
const char *kh_req_cookie(const struct kh_req *req, const char *name);

int kh_resp_header(struct kh_resp *resp, const char *name, const char *value);
/* Adds a Set-Cookie with HttpOnly, SameSite=Lax, Path=/ and Secure unless
 * the deployment is plain http on loopback. max_age < 0: session cookie;
 * 0: delete. */
int kh_resp_cookie(struct kh_resp *resp, const struct kh_req *req, const char *name,
    const char *value, long max_age);
int kh_resp_redirect(struct kh_resp *resp, int status, const char *location);

/* Server lifecycle. */
int kh_http_start(struct kh_idp *app);
void kh_http_stop(struct kh_idp *app);

#endif
