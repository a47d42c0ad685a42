/* libFuzzer target for kh_oidc_client_doc_check (idp/oidc/clients.c) on an
 * admin API body: the input is loaded with json_loadb(..., JSON_REJECT_
 * DUPLICATES) as kh_admin_read_json_or_respond does; as in admin/apps_oidc.c
 * the "oidc" member is checked (client_id defaulting to the app "id"), or
 * the whole document when it has no "oidc" object.
 *
 * clients.c reaches the whole daemon (sessions, keys, curl); run.sh links it
 * with --gc-sections so only what this harness can call is kept.
 *
 * Properties (abort() with a message when one fails):
 *  - no crash, leak or UB; the body is an exact-size heap block;
 *  - *why is NULL after a success and a non-empty string after a failure;
 *    the same object gives the same answer twice;
 *  - a success means: client_id is 1..128 of [A-Za-z0-9._~-]; every
 *    redirect/post-logout/back-channel/jwks URI is valid text, at most 2048
 *    bytes, without '#', and either https://, or http:// whose host is
 *    127.0.0.1, localhost or [::1] (no userinfo: "http://localhost:1@evil"
 *    reaches evil), or a private-use scheme with a '.'; public clients use
 *    "none"; a confidential client that is not private_key_jwt has a
 *    64-hex-digit secret_hash; private_key_jwt has jwks or jwks_uri. */
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/str.h"
#include "idp/oidc/oidc.h"

static void
fail(const char *what, const char *detail)
{
	fprintf(
	    stderr, "oidc_client_doc: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static int
prefix(const char *s, const char *p)
{
	return strncmp(s, p, strlen(p)) == 0;
}

/* http:// URIs: the authority must be exactly a loopback host (+ :port). */
static int
http_loopback(const char *u)
{
	const char *a = u + 7, *end = a + strcspn(a, "/?#"), *host_end;
	size_t hn;

	if (memchr(a, '@', (size_t)(end - a)) != NULL)
		return 0;
	if (*a == '[')
		host_end = memchr(a, ']', (size_t)(end - a))
		    ? (const char *)memchr(a, ']', (size_t)(end - a)) + 1
		    : end;
	else
		host_end = a + strcspn(a, ":/?#");
	if (host_end > end)
		host_end = end;
	hn = (size_t)(host_end - a);
	if (!((hn == 9 && memcmp(a, "127.0.0.1", 9) == 0) ||
		(hn == 9 && memcmp(a, "localhost", 9) == 0) ||
		(hn == 5 && memcmp(a, "[::1]", 5) == 0)))
		return 0;
	return 1;
}

static void
check_uri(const char *u)
{
	const char *colon;
	size_t n;

	if (u == NULL)
		fail("accepted a URI that is not a string", NULL);
	n = strlen(u);
	if (n == 0 || n > 2048 || strchr(u, '#') != NULL || !kh_utf8_valid_text(u, n))
		fail("accepted a URI that is empty, long, has a fragment or is not text", u);
	if (prefix(u, "https://"))
		return;
	if (prefix(u, "http://")) {
		if (!http_loopback(u))
			fail("accepted an http:// URI whose host is not loopback", u);
		return;
	}
	colon = strchr(u, ':');
	if (colon == NULL || memchr(u, '.', (size_t)(colon - u)) == NULL)
		fail("accepted a URI that is not https, loopback http or a private-use scheme", u);
}

static void
check_uri_list(json_t *a)
{
	json_t *e;
	size_t i;

	json_array_foreach(a, i, e) check_uri(json_string_value(e));
}

static void
check_accepted(json_t *o)
{
	const char *id = json_string_value(json_object_get(o, "client_id"));
	const char *m = json_string_value(json_object_get(o, "token_endpoint_auth_method"));
	const char *sh = json_string_value(json_object_get(o, "secret_hash"));
	json_t *v;
	size_t i;
	int pub = json_is_true(json_object_get(o, "public"));

	if (id == NULL || id[0] == '\0' || strlen(id) > 128 ||
	    strspn(id, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._~-") !=
		strlen(id))
		fail("accepted a bad client_id", id);
	check_uri_list(json_object_get(o, "redirect_uris"));
	check_uri_list(json_object_get(o, "post_logout_redirect_uris"));
	if ((v = json_object_get(o, "backchannel_logout_uri")) != NULL && !json_is_null(v))
		check_uri(json_string_value(v));
	if ((v = json_object_get(o, "jwks_uri")) != NULL && !json_is_null(v))
		check_uri(json_string_value(v));
	if (m == NULL) /* absent: none for public clients, else client_secret_basic */
		m = pub ? "none" : "client_secret_basic";
	if (pub && strcmp(m, "none") != 0)
		fail("accepted a public client with an authentication method", m);
	if (!pub && strcmp(m, "none") == 0)
		fail("accepted a confidential client with method none", NULL);
	if (!pub && strcmp(m, "private_key_jwt") != 0) {
		if (sh == NULL || strlen(sh) != 64)
			fail("accepted a secret client without a 64-digit secret_hash", NULL);
		for (i = 0; i < 64; i++)
			if (strchr("0123456789abcdefABCDEF", sh[i]) == NULL)
				fail("accepted a secret_hash that is not hex", sh);
	}
	if (strcmp(m, "private_key_jwt") == 0 && !json_is_object(json_object_get(o, "jwks")) &&
	    !json_is_string(json_object_get(o, "jwks_uri")))
		fail("accepted private_key_jwt without keys", NULL);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *body = malloc(size ? size : 1);
	json_t *doc, *o;
	const char *why = (const char *)1, *why2 = (const char *)1;
	int r, r2;

	if (body == NULL)
		fail("out of memory", NULL);
	memcpy(body, data, size);
	doc = json_loadb(body, size, JSON_REJECT_DUPLICATES, NULL);
	free(body);
	if (doc == NULL)
		return 0;
	o = json_object_get(doc, "oidc");
	if (json_is_object(o)) {
		if (json_object_get(o, "client_id") == NULL)
			json_object_set(o, "client_id", json_object_get(doc, "id"));
	} else
		o = doc;

	r = kh_oidc_client_doc_check(o, &why);
	r2 = kh_oidc_client_doc_check(o, &why2);
	if (r != r2 || why != why2)
		fail("two checks of the same object differ", NULL);
	if (r == KH_OK) {
		if (why != NULL)
			fail("*why set after a success", why);
		check_accepted(o);
	} else if (why == NULL || why[0] == '\0')
		fail("failure without *why", NULL);
	json_decref(doc);
	return 0;
}
