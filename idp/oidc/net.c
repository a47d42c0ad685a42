/* Outbound HTTP with libcurl (see net.h). */
#include "idp/oidc/net.h"

#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"

static pthread_once_t net_once = PTHREAD_ONCE_INIT;

static void
net_init_once(void)
{
	curl_global_init(CURL_GLOBAL_DEFAULT);
}

void
oidc_net_init(void)
{
	pthread_once(&net_once, net_init_once);
}

static size_t
sink(char *p, size_t size, size_t n, void *arg)
{
	struct kh_buf *b = arg;

	if (b == NULL)
		return size * n;
	return kh_buf_append(b, p, size * n) == KH_OK ? size * n : 0;
}

static CURL *
easy_new(const char *url, struct kh_buf *body)
{
	CURL *c = curl_easy_init();

	if (c == NULL)
		return NULL;
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, (long)OIDC_NET_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)OIDC_NET_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_MAXFILESIZE, 256L * 1024);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "kakehashi-oidc");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, body);
	return c;
}

int
oidc_net_get(const char *url, struct kh_buf *body)
{
	CURL *c;
	CURLcode cr;
	long status = 0;

	oidc_net_init();
	if ((c = easy_new(url, body)) == NULL)
		return KH_ERR_NOMEM;
	cr = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (cr != CURLE_OK || status != 200) {
		kh_warn("oidc.fetch", "url", url, "error", curl_easy_strerror(cr), NULL);
		return KH_ERR_IO;
	}
	return KH_OK;
}

struct bcl_job {
	struct oidc_bcl *items;
	size_t n;
};

static void *
bcl_thread(void *arg)
{
	struct bcl_job *job = arg;
	struct curl_slist *h = NULL;
	char *field;
	CURLcode cr;
	CURL *c;
	long status;
	size_t i, len;

	h = curl_slist_append(h, "Content-Type: application/x-www-form-urlencoded");
	for (i = 0; i < job->n; i++) {
		struct oidc_bcl *it = &job->items[i];
		status = 0;
		len = strlen(it->token) + sizeof("logout_token=");
		if ((field = malloc(len)) == NULL || (c = easy_new(it->uri, NULL)) == NULL) {
			free(field);
			continue;
		}
		/* The JWT is base64url and dots: nothing to percent-encode. */
		snprintf(field, len, "logout_token=%s", it->token);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, field);
		cr = curl_easy_perform(c);
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		curl_easy_cleanup(c);
		free(field);
		if (cr != CURLE_OK || (status != 200 && status != 204))
			kh_warn("oidc.backchannel_logout", "client_id", it->client_id, "uri",
			    it->uri, "error",
			    cr != CURLE_OK ? curl_easy_strerror(cr) : "http status", NULL);
		else
			kh_info("oidc.backchannel_logout", "client_id", it->client_id, "result",
			    "delivered", NULL);
	}
	curl_slist_free_all(h);
	for (i = 0; i < job->n; i++) {
		free(job->items[i].client_id);
		free(job->items[i].uri);
		free(job->items[i].token);
	}
	free(job->items);
	free(job);
	return NULL;
}

void
oidc_net_backchannel(struct oidc_bcl *items, size_t n)
{
	struct bcl_job *job;
	pthread_attr_t attr;
	pthread_t t;
	size_t i;

	oidc_net_init();
	if (n == 0 || (job = calloc(1, sizeof(*job))) == NULL)
		goto fail;
	job->items = items;
	job->n = n;
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	if (pthread_create(&t, &attr, bcl_thread, job) != 0) {
		pthread_attr_destroy(&attr);
		free(job);
		goto fail;
	}
	pthread_attr_destroy(&attr);
	return;
fail:
	for (i = 0; i < n; i++) {
		free(items[i].client_id);
		free(items[i].uri);
		free(items[i].token);
	}
	free(items);
}
