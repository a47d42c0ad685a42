/* kakehashictl's HTTP client (libcurl): one request per call, the token in
 * an Authorization header, no redirects followed (a redirect would carry
 * the token elsewhere), http and https only, answers capped. */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl/ctl.h"
#include "common/buf.h"
#include "common/errors.h"

static size_t
on_data(char *p, size_t size, size_t nmemb, void *userdata)
{
	struct kh_buf *b = userdata;

	if (nmemb != 0 && size > (size_t)-1 / nmemb)
		return 0;
	if (kh_buf_append(b, p, size * nmemb) != KH_OK)
		return 0; /* over the cap: curl stops with CURLE_WRITE_ERROR */
	return size * nmemb;
}

int
kh_ctl_request(struct kh_ctl *ctl, const char *method, const char *path, const char *body,
    long *status, json_t **reply)
{
	CURL *c = NULL;
	struct curl_slist *hdrs = NULL;
	struct kh_buf url, auth, out;
	char errbuf[CURL_ERROR_SIZE];
	CURLcode cr;
	int r = KH_CTL_CONNECT;

	*status = 0;
	*reply = NULL;
	kh_buf_init(&url, 8192);
	kh_buf_init(&auth, KH_CTL_TOKEN_MAX + 64);
	kh_buf_init(&out, KH_CTL_REPLY_MAX);
	errbuf[0] = '\0';
	if (kh_buf_appendf(&url, "%s%s", ctl->url, path) != KH_OK ||
	    kh_buf_appendf(&auth, "Authorization: Bearer %s", ctl->token) != KH_OK) {
		fprintf(stderr, "kakehashictl: URL or token too long\n");
		r = KH_CTL_USAGE;
		goto out;
	}
	if ((c = curl_easy_init()) == NULL) {
		fprintf(stderr, "kakehashictl: cannot initialise libcurl\n");
		goto out;
	}
	hdrs = curl_slist_append(hdrs, kh_buf_cstr(&auth));
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	if (body != NULL)
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	if (hdrs == NULL) {
		fprintf(stderr, "kakehashictl: out of memory\n");
		goto out;
	}
	curl_easy_setopt(c, CURLOPT_URL, kh_buf_cstr(&url));
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
	if (strcmp(method, "HEAD") == 0)
		curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
	if (body != NULL) {
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(body));
	}
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &out);
	curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, 10L);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, 120L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kakehashictl");
	if ((cr = curl_easy_perform(c)) != CURLE_OK) {
		fprintf(stderr, "kakehashictl: cannot reach %s: %s\n", ctl->url,
		    errbuf[0] ? errbuf : curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
	if (out.len > 0)
		*reply = json_loadb(out.data, out.len, 0, NULL);
	if (*reply == NULL && *status < 400 && strcmp(method, "HEAD") != 0) {
		fprintf(stderr,
		    "kakehashictl: %s did not answer with JSON (HTTP %ld); is --url right?\n",
		    ctl->url, *status);
		r = KH_CTL_CONNECT;
		goto out;
	}
	r = KH_CTL_OK;
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	curl_slist_free_all(hdrs); /* holds the token: freed right away */
	kh_buf_free(&auth);
	kh_buf_free(&url);
	kh_buf_free(&out);
	return r;
}

int
kh_ctl_check(struct kh_ctl *ctl, long status, json_t *reply)
{
	const char *msg, *code;

	if (ctl->json && reply != NULL)
		kh_ctl_print_json(reply);
	if (status < 400)
		return KH_CTL_OK;
	msg = json_string_value(json_object_get(reply, "message"));
	code = json_string_value(json_object_get(reply, "error"));
	fprintf(stderr, "kakehashictl: ");
	if (msg != NULL) {
		kh_ctl_print_cell(stderr, msg, 0);
	} else
		fprintf(stderr, "the server answered HTTP %ld", status);
	fprintf(stderr, " (");
	if (code != NULL)
		fprintf(stderr, "%.64s, ", code);
	fprintf(stderr, "HTTP %ld)\n", status);
	return KH_CTL_SERVER;
}

int
kh_ctl_call(
    struct kh_ctl *ctl, const char *method, const char *path, const char *body, json_t **reply)
{
	json_t *j = NULL;
	long status = 0;
	int r;

	*reply = NULL;
	if ((r = kh_ctl_request(ctl, method, path, body, &status, &j)) != KH_CTL_OK)
		return r;
	if ((r = kh_ctl_check(ctl, status, j)) != KH_CTL_OK) {
		json_decref(j);
		return r;
	}
	*reply = j;
	return KH_CTL_OK;
}
