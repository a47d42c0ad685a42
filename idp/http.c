/* libmicrohttpd glue: request intake with caps, dispatch through the endpoint
 * table, delayed sending (suspend/resume) and response queueing. */
#include "idp/http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "idp/delay.h"
#include "idp/idp.h"
#include "idp/metrics.h"
#include "idp/page.h"

struct conn_state {
	struct kh_req req;
	struct kh_resp resp;
	struct MHD_PostProcessor *pp;
	size_t body_bytes;
	char *path;
	const struct kh_endpoint *ep;
	size_t ep_index;
	int answered; /* resp is filled in */
	int suspended;
	int started; /* conn_state_new has run */
	char *raw_uri; /* request target as received (URI log callback) */
	/* KH_EP_RAW_BODY endpoints (admin API): the application/json body,
	 * capped by max_body_bytes; errors go to the handler (kh_req_body). */
	int raw_mode;
	int raw_error;
	struct kh_buf raw;
	char method[16]; /* as received, for kh_req_method */
};

/* ---- parameters ---- */

static int
params_add(
    struct kh_params *ps, const char *name, size_t nlen, const char *value, size_t vlen, int append)
{
	struct kh_param *last;
	size_t i;
	char *nv;

	if (append && ps->n > 0) {
		last = &ps->items[ps->n - 1];
		if (last->len + vlen > 1024 * 1024)
			return KH_ERR_TOO_LARGE;
		if ((nv = realloc(last->value, last->len + vlen + 1)) == NULL)
			return KH_ERR_NOMEM;
		memcpy(nv + last->len, value, vlen);
		last->len += vlen;
		nv[last->len] = '\0';
		last->value = nv;
		return KH_OK;
	}
	if (nlen == 0 || nlen > KH_PARAM_NAME_MAX)
		return KH_ERR_INVALID;
	if (ps->n >= KH_PARAMS_MAX) {
		ps->overflow = 1;
		return KH_ERR_TOO_LARGE;
	}
	for (i = 0; i < ps->n; i++)
		if (strlen(ps->items[i].name) == nlen && memcmp(ps->items[i].name, name, nlen) == 0)
			ps->duplicates = 1;
	if ((ps->items[ps->n].name = strndup(name, nlen)) == NULL ||
	    (ps->items[ps->n].value = malloc(vlen + 1)) == NULL) {
		free(ps->items[ps->n].name);
		ps->items[ps->n].name = NULL;
		return KH_ERR_NOMEM;
	}
	memcpy(ps->items[ps->n].value, value, vlen);
	ps->items[ps->n].value[vlen] = '\0';
	ps->items[ps->n].len = vlen;
	ps->n++;
	return KH_OK;
}

static void
params_free(struct kh_params *ps)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		free(ps->items[i].name);
		kh_freezero(ps->items[i].value, ps->items[i].len + 1);
	}
	ps->n = 0;
}

const char *
kh_param_get(const struct kh_params *ps, const char *name, size_t *len)
{
	size_t i;

	for (i = 0; i < ps->n; i++) {
		if (strcmp(ps->items[i].name, name) == 0) {
			if (len != NULL)
				*len = ps->items[i].len;
			return ps->items[i].value;
		}
	}
	if (len != NULL)
		*len = 0;
	return NULL;
}

int
kh_param_count(const struct kh_params *ps, const char *name)
{
	size_t i;
	int n = 0;

	for (i = 0; i < ps->n; i++)
		if (strcmp(ps->items[i].name, name) == 0)
			n++;
	return n;
}

static enum MHD_Result
query_cb(void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size, const char *value,
    size_t value_size)
{
	struct kh_req *req = cls;

	(void)kind;
	if (params_add(&req->query, key, key_size, value ? value : "", value ? value_size : 0, 0) !=
	    KH_OK)
		req->form_error = KH_ERR_INVALID;
	return MHD_YES;
}

static enum MHD_Result
post_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
    const char *content_type, const char *transfer_encoding, const char *data, uint64_t off,
    size_t size)
{
	struct conn_state *cs = cls;
	int r;

	(void)kind;
	(void)content_type;
	(void)transfer_encoding;
	if (filename != NULL) {
		cs->req.form_error = KH_ERR_INVALID;
		return MHD_NO;
	}
	r = params_add(&cs->req.form, key, strlen(key), data ? data : "", data ? size : 0, off > 0);
	if (r != KH_OK) {
		cs->req.form_error = r;
		return MHD_NO;
	}
	return MHD_YES;
}

/* ---- request helpers ---- */

const char *
kh_req_header(const struct kh_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *
kh_req_cookie(const struct kh_req *req, const char *name)
{
	return MHD_lookup_connection_value(req->conn, MHD_COOKIE_KIND, name);
}

int
kh_resp_header(struct kh_resp *resp, const char *name, const char *value)
{
	struct kh_header *h;

	if (resp->nheaders >= KH_HEADERS_OUT_MAX)
		return KH_ERR_TOO_LARGE;
	if (strpbrk(value, "\r\n") != NULL)
		return KH_ERR_INVALID;
	h = &resp->headers[resp->nheaders];
	if ((h->name = strdup(name)) == NULL || (h->value = strdup(value)) == NULL) {
		free(h->name);
		h->name = NULL;
		return KH_ERR_NOMEM;
	}
	resp->nheaders++;
	return KH_OK;
}

int
kh_resp_cookie(struct kh_resp *resp, const struct kh_req *req, const char *name, const char *value,
    long max_age)
{
	struct kh_buf b;
	int r;

	kh_buf_init(&b, 4096);
	r = kh_buf_appendf(&b, "%s=%s; Path=/; HttpOnly; SameSite=Lax%s", name, value,
	    req->app->cfg->secure_cookies ? "; Secure" : "");
	if (r == KH_OK && max_age >= 0)
		r = kh_buf_appendf(&b, "; Max-Age=%ld", max_age);
	if (r == KH_OK)
		r = kh_resp_header(resp, MHD_HTTP_HEADER_SET_COOKIE, kh_buf_cstr(&b));
	kh_buf_free(&b);
	return r;
}

int
kh_resp_redirect(struct kh_resp *resp, int status, const char *location)
{
	resp->status = status;
	resp->content_type = "text/plain; charset=utf-8";
	kh_buf_reset(&resp->body);
	return kh_resp_header(resp, MHD_HTTP_HEADER_LOCATION, location);
}

static void
resp_free(struct kh_resp *resp)
{
	size_t i;

	for (i = 0; i < resp->nheaders; i++) {
		free(resp->headers[i].name);
		kh_free_str(resp->headers[i].value);
	}
	resp->nheaders = 0;
	kh_buf_free(&resp->body);
}

/* ---- client address ---- */

static int
is_trusted_proxy(const struct kh_idp *app, const char *ip)
{
	size_t i;

	for (i = 0; i < app->nproxies; i++)
		if (strcmp(app->proxies[i], ip) == 0)
			return 1;
	return 0;
}

static int
valid_ip(const char *s)
{
	unsigned char tmp[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, s, tmp) == 1 || inet_pton(AF_INET6, s, tmp) == 1;
}

/* The last X-Forwarded-For header line: several lines form one list (RFC
 * 9110 5.3), and a proxy may add its own line after the client's. */
struct xff_last {
	const char *value;
	size_t lines;
};

static enum MHD_Result
xff_cb(void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
	struct xff_last *x = cls;

	(void)kind;
	if (key != NULL && strcasecmp(key, "X-Forwarded-For") == 0) {
		x->value = value;
		x->lines++;
	}
	return MHD_YES;
}

/* The peer address; X-Forwarded-For is believed only from a configured proxy,
 * and then only its last (proxy-appended) element. */
static void
resolve_client_ip(struct kh_req *req, struct MHD_Connection *conn)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;
	const char *xff, *last;
	char cand[48];
	size_t n;

	kh_strlcpy(req->client_ip, "unknown", sizeof(req->client_ip));
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)sa)->sin_addr,
		    req->client_ip, sizeof(req->client_ip));
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr,
		    req->client_ip, sizeof(req->client_ip));
	if (!is_trusted_proxy(req->app, req->client_ip))
		return;
	req->from_proxy = 1;
	{
		struct xff_last x = { NULL, 0 };
		MHD_get_connection_values(conn, MHD_HEADER_KIND, xff_cb, &x);
		xff = x.value;
	}
	if (xff == NULL || strlen(xff) > 2048)
		return;
	last = strrchr(xff, ',');
	last = last ? last + 1 : xff;
	while (*last == ' ' || *last == '\t')
		last++;
	n = strcspn(last, " \t");
	if (n == 0 || n >= sizeof(cand))
		return;
	memcpy(cand, last, n);
	cand[n] = '\0';
	if (valid_ip(cand))
		kh_strlcpy(req->client_ip, cand, sizeof(req->client_ip));
}

static void
choose_lang(struct kh_req *req)
{
	const char *q = kh_param_get(&req->query, "lang", NULL), *c;
	int l;

	if (q != NULL && (l = kh_lang_parse(q)) >= 0) {
		req->lang = (enum kh_lang)l;
		req->lang_from_query = 1;
		return;
	}
	if ((c = kh_req_cookie(req, "kh_lang")) != NULL && (l = kh_lang_parse(c)) >= 0) {
		req->lang = (enum kh_lang)l;
		return;
	}
	req->lang = kh_lang_from_accept(kh_req_header(req, MHD_HTTP_HEADER_ACCEPT_LANGUAGE),
	    strcmp(req->app->cfg->login_default_lang, "en") == 0 ? KH_LANG_EN : KH_LANG_JA);
}

/* ---- response ---- */

static void
add_security_headers(struct MHD_Response *r, int html, int own_csp)
{
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	MHD_add_response_header(r, "Referrer-Policy", "same-origin");
	MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
	/* A handler may set its own Content-Security-Policy (the SAML POST page
	 * must allow its form to go to the SP's ACS URL). No form-action here:
	 * Chromium applies it to the redirects after a form post, and a sign-in
	 * ends in a redirect to the application that asked for it. */
	if (html && !own_csp)
		MHD_add_response_header(r, "Content-Security-Policy",
		    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
		    "script-src 'self'; connect-src 'self'; "
		    "frame-ancestors 'none'; base-uri 'none'");
	if (html)
		MHD_add_response_header(r, "X-Frame-Options", "DENY");
}

static enum MHD_Result
send_response(struct conn_state *cs, struct MHD_Connection *conn)
{
	struct kh_resp *resp = &cs->resp;
	struct MHD_Response *mr;
	enum MHD_Result ret;
	size_t i, len;
	char *body;
	int own_csp, html = cs->ep != NULL && (cs->ep->flags & KH_EP_HTML);

	body = kh_buf_steal(&resp->body, &len);
	mr = MHD_create_response_from_buffer(
	    len, body ? body : (void *)"", body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
	if (mr == NULL) {
		free(body);
		return MHD_NO;
	}
	if (resp->content_type != NULL)
		MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, resp->content_type);
	for (i = 0, own_csp = 0; i < resp->nheaders; i++)
		if (strcasecmp(resp->headers[i].name, "Content-Security-Policy") == 0)
			own_csp = 1;
	add_security_headers(mr,
	    html || (resp->content_type && kh_startswith(resp->content_type, "text/html")),
	    own_csp);
	for (i = 0; i < resp->nheaders; i++)
		MHD_add_response_header(mr, resp->headers[i].name, resp->headers[i].value);
	ret = MHD_queue_response(conn, (unsigned int)resp->status, mr);
	MHD_destroy_response(mr);
	kh_metrics_request(
	    cs->req.app->metrics, cs->ep_index, resp->status, kh_now_ms() - cs->req.start_ms);
	if (resp->status >= 500)
		kh_warn("http.response", "rid", cs->req.rid, "path", cs->path, "status",
		    resp->status == 503 ? "503" : "500", "ip", cs->req.client_ip, NULL);
	return ret;
}

static void
simple_error(struct conn_state *cs, int status, enum kh_msg title, enum kh_msg body)
{
	kh_page_error(&cs->req, &cs->resp, status, title, body);
	cs->answered = 1;
}

static void
dispatch(struct conn_state *cs)
{
	struct kh_req *req = &cs->req;
	struct kh_resp *resp = &cs->resp;
	char allow[32];

	if (cs->ep == NULL) {
		simple_error(cs, MHD_HTTP_NOT_FOUND, M_NOT_FOUND_TITLE, M_NOT_FOUND_BODY);
		return;
	}
	if ((cs->ep->methods & (req->method == KH_HEAD ? KH_GET : req->method)) == 0) {
		simple_error(cs, MHD_HTTP_METHOD_NOT_ALLOWED, M_METHOD_TITLE, M_BAD_REQUEST_BODY);
		snprintf(allow, sizeof(allow), "%s%s%s",
		    (cs->ep->methods & KH_GET) ? "GET, HEAD" : "",
		    (cs->ep->methods & KH_GET) && (cs->ep->methods & KH_POST) ? ", " : "",
		    (cs->ep->methods & KH_POST) ? "POST" : "");
		kh_resp_header(resp, MHD_HTTP_HEADER_ALLOW, allow);
		return;
	}
	if (req->form_error == KH_ERR_TOO_LARGE || req->query.overflow || req->form.overflow) {
		simple_error(cs, MHD_HTTP_CONTENT_TOO_LARGE, M_TOO_LARGE_TITLE, M_BAD_REQUEST_BODY);
		return;
	}
	if (req->form_error != KH_OK) {
		simple_error(cs, MHD_HTTP_BAD_REQUEST, M_BAD_REQUEST_TITLE, M_BAD_REQUEST_BODY);
		return;
	}
	resp->status = MHD_HTTP_OK;
	cs->ep->handler(req, resp);
	if (req->lang_from_query && (cs->ep->flags & KH_EP_HTML))
		kh_resp_cookie(resp, req, "kh_lang", kh_lang_code(req->lang), 31536000);
	cs->answered = 1;
}

static enum kh_method
parse_method(const char *m)
{
	if (strcmp(m, MHD_HTTP_METHOD_GET) == 0)
		return KH_GET;
	if (strcmp(m, MHD_HTTP_METHOD_POST) == 0)
		return KH_POST;
	if (strcmp(m, MHD_HTTP_METHOD_HEAD) == 0)
		return KH_HEAD;
	return KH_OTHER;
}

/* Called by MHD with the raw request target before any parsing; the state
 * it returns becomes *con_cls. */
static void *
uri_log_cb(void *cls, const char *uri, struct MHD_Connection *conn)
{
	struct conn_state *cs;

	(void)cls;
	(void)conn;
	if ((cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	if (uri != NULL)
		cs->raw_uri = strndup(uri, 65536);
	return cs;
}

static struct conn_state *
conn_state_new(struct kh_idp *app, struct MHD_Connection *conn, const char *url, const char *method,
    struct conn_state *cs)
{
	unsigned char rid[KH_RID_LEN / 2];
	const char *q;
	size_t i;

	if (cs == NULL && (cs = calloc(1, sizeof(*cs))) == NULL)
		return NULL;
	cs->started = 1;
	if ((cs->path = strndup(url, 2048)) == NULL)
		return cs; /* freed by completed_cb through *con_cls */
	if (cs->raw_uri != NULL && (q = strchr(cs->raw_uri, '?')) != NULL)
		cs->req.raw_query = q + 1;
	cs->req.app = app;
	cs->req.conn = conn;
	cs->req.path = cs->path;
	cs->req.method = parse_method(method);
	kh_strlcpy(cs->method, method, sizeof(cs->method));
	kh_buf_init(&cs->raw, 0);
	cs->req.start_ms = kh_now_ms();
	if (kh_random(rid, sizeof(rid)) != KH_OK)
		memset(rid, 0, sizeof(rid));
	kh_hex_encode(rid, sizeof(rid), cs->req.rid);
	kh_buf_init(&cs->resp.body, KH_RESP_BODY_MAX);
	cs->resp.status = 200;
	cs->ep = kh_route(cs->path);
	cs->ep_index = kh_endpoint_count();
	for (i = 0; cs->ep != NULL && i < kh_endpoint_count(); i++)
		if (kh_endpoint_at(i) == cs->ep)
			cs->ep_index = i;
	resolve_client_ip(&cs->req, conn);
	MHD_get_connection_values_n(conn, MHD_GET_ARGUMENT_KIND, query_cb, &cs->req);
	choose_lang(&cs->req);
	return cs;
}

static void
conn_state_free(struct conn_state *cs)
{
	if (cs == NULL)
		return;
	if (cs->pp != NULL)
		MHD_destroy_post_processor(cs->pp);
	params_free(&cs->req.query);
	params_free(&cs->req.form);
	resp_free(&cs->resp);
	kh_buf_free(&cs->raw);
	free(cs->path);
	free(cs->raw_uri);
	free(cs);
}

/* ---- raw bodies (KH_EP_RAW_BODY: the JSON admin API) ---- */

_Static_assert(offsetof(struct conn_state, req) == 0, "kh_req_body casts req to its conn_state");

static enum MHD_Result
raw_body_start(struct conn_state *cs, struct MHD_Connection *conn)
{
	const char *ctype, *clen;
	long len, max = cs->req.app->cfg->max_body_bytes;

	cs->raw_mode = 1;
	kh_buf_init(&cs->raw, (size_t)max);
	clen = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
	ctype = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
	if (clen != NULL && (kh_parse_long(clen, 0, 1L << 40, &len) != KH_OK || len > max)) {
		/* Answered at once, without reading the body. */
		cs->resp.status = MHD_HTTP_CONTENT_TOO_LARGE;
		cs->resp.content_type = "application/json";
		kh_buf_append_str(&cs->resp.body,
		    "{\"error\":\"too_large\",\"message\":\"The request body is too large.\","
		    "\"message_ja\":\"リクエストの本文が大きすぎます。\"}");
		cs->answered = 1;
		return send_response(cs, conn);
	}
	/* Only application/json (parameters such as charset allowed). */
	if (ctype != NULL &&
	    !(strncasecmp(ctype, "application/json", 16) == 0 &&
		(ctype[16] == '\0' || ctype[16] == ';' || ctype[16] == ' ')))
		cs->raw_error = KH_ERR_INVALID;
	return MHD_YES;
}

int
kh_req_body(const struct kh_req *req, const char **body, size_t *len)
{
	const struct conn_state *cs = (const struct conn_state *)(const void *)req;

	*body = NULL;
	*len = 0;
	if (!cs->raw_mode)
		return KH_ERR_INVALID;
	if (cs->raw_error != KH_OK)
		return cs->raw_error;
	*body = cs->raw.data;
	*len = cs->raw.len;
	return KH_OK;
}

const char *
kh_req_method(const struct kh_req *req)
{
	return ((const struct conn_state *)(const void *)req)->method;
}

static enum MHD_Result
access_cb(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
    const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
	struct kh_idp *app = cls;
	struct conn_state *cs = *con_cls;
	const char *ctype, *clen;
	long len;

	(void)version;
	if (cs == NULL || !cs->started) {
		if ((cs = conn_state_new(app, conn, url, method, cs)) == NULL)
			return MHD_NO;
		*con_cls = cs;
		if (cs->path == NULL)
			return MHD_NO;
		if (cs->ep != NULL && (cs->ep->flags & KH_EP_RAW_BODY))
			return raw_body_start(cs, conn);
		if (cs->req.method == KH_POST) {
			clen = MHD_lookup_connection_value(
			    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
			ctype = MHD_lookup_connection_value(
			    conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE);
			if (clen != NULL &&
			    (kh_parse_long(clen, 0, 1L << 40, &len) != KH_OK ||
				len > app->cfg->max_body_bytes)) {
				simple_error(cs, MHD_HTTP_CONTENT_TOO_LARGE, M_TOO_LARGE_TITLE,
				    M_BAD_REQUEST_BODY);
				return send_response(cs, conn);
			}
			if (ctype != NULL &&
			    strncasecmp(ctype, MHD_HTTP_POST_ENCODING_FORM_URLENCODED,
				strlen(MHD_HTTP_POST_ENCODING_FORM_URLENCODED)) == 0)
				cs->pp = MHD_create_post_processor(conn, 16384, post_cb, cs);
			else if (ctype != NULL)
				cs->req.form_error =
				    KH_ERR_INVALID; /* only urlencoded forms here */
		}
		return MHD_YES;
	}
	if (cs->answered) /* resumed after its delay, or answered early */
		return send_response(cs, conn);
	if (*upload_data_size != 0) {
		if (cs->raw_mode) {
			if (cs->raw_error == KH_OK &&
			    kh_buf_append(&cs->raw, upload_data, *upload_data_size) != KH_OK)
				cs->raw_error = KH_ERR_TOO_LARGE;
		} else if (cs->body_bytes + *upload_data_size > (size_t)app->cfg->max_body_bytes)
			cs->req.form_error = KH_ERR_TOO_LARGE;
		else if (cs->req.form_error == KH_OK && cs->pp != NULL &&
		    MHD_post_process(cs->pp, upload_data, *upload_data_size) != MHD_YES &&
		    cs->req.form_error == KH_OK)
			cs->req.form_error = KH_ERR_INVALID;
		cs->body_bytes += *upload_data_size;
		*upload_data_size = 0;
		return MHD_YES;
	}
	dispatch(cs);
	if (cs->resp.not_before_ms > kh_now_ms()) {
		cs->suspended = 1;
		MHD_suspend_connection(conn);
		kh_delay_schedule(app->delay, conn, cs->resp.not_before_ms);
		return MHD_YES;
	}
	return send_response(cs, conn);
}

static void
completed_cb(
    void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode toe)
{
	(void)cls;
	(void)conn;
	(void)toe;
	conn_state_free(*con_cls);
	*con_cls = NULL;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	char msg[512];

	(void)cls;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	kh_warn("http.mhd", "msg", msg, NULL);
}

int
kh_http_start(struct kh_idp *app)
{
	const struct kh_config *cfg = app->cfg;
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *sa;
	unsigned int flags;
	int r;

	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME |
	    MHD_USE_ERROR_LOG;
	if (inet_pton(AF_INET, cfg->listen_host, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons((uint16_t)cfg->listen_port);
		sa = (const struct sockaddr *)&sin;
	} else {
		const char *h = cfg->listen_host;
		char host6[64];
		size_t n = strlen(h);
		if (n >= 2 && h[0] == '[' && h[n - 1] == ']' && n - 2 < sizeof(host6)) {
			memcpy(host6, h + 1, n - 2);
			host6[n - 2] = '\0';
			h = host6;
		}
		if (inet_pton(AF_INET6, h, &sin6.sin6_addr) != 1) {
			kh_error("http.listen", "error", "listen host must be an IP address",
			    "host", cfg->listen_host, NULL);
			return KH_ERR_CONFIG;
		}
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons((uint16_t)cfg->listen_port);
		sa = (const struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	}
	if ((r = kh_delay_new(&app->delay)) != KH_OK)
		return r;
	app->mhd = MHD_start_daemon(flags, (uint16_t)cfg->listen_port, NULL, NULL, access_cb, app,
	    MHD_OPTION_EXTERNAL_LOGGER, mhd_log, app, MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)cfg->threads, MHD_OPTION_CONNECTION_LIMIT,
	    (unsigned int)cfg->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)cfg->per_ip_connections, MHD_OPTION_CONNECTION_TIMEOUT,
	    (unsigned int)cfg->connection_timeout, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	    KH_CONN_MEMORY, MHD_OPTION_NOTIFY_COMPLETED, completed_cb, app,
	    MHD_OPTION_URI_LOG_CALLBACK, uri_log_cb, app, MHD_OPTION_END);
	if (app->mhd == NULL) {
		kh_error("http.listen", "error", "cannot listen", "listen", cfg->listen, NULL);
		kh_delay_free(app->delay);
		app->delay = NULL;
		return KH_ERR_IO;
	}
	return KH_OK;
}

void
kh_http_stop(struct kh_idp *app)
{
	if (app->mhd == NULL)
		return;
	MHD_quiesce_daemon(app->mhd);
	kh_delay_free(app->delay); /* resumes every delayed connection */
	app->delay = NULL;
	MHD_stop_daemon(app->mhd);
	app->mhd = NULL;
}
