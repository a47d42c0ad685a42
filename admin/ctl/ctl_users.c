/* kakehashictl helpdesk commands:
 *   user show UID                            GET  /admin/api/v1/users/UID
 *   user revoke-sessions UID --reason TEXT   POST /admin/api/v1/users/UID/revoke-sessions
 *   audit tail [--user UID] [--count N]      GET  /admin/api/v1/audit
 * Server data is printed through kh_ctl_print_cell (no control characters
 * reach the terminal); --json prints the server's answer as is. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "admin/ctl/ctl.h"
#include "common/buf.h"
#include "common/errors.h"
#include "common/str.h"

#define USER_MAX 256
#define REASON_MAX_CHARS 500
#define COUNT_MAX 1000

/* Percent-encodes s (all but unreserved characters) onto b. */
static int
url_escape(struct kh_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	char e[3];

	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_' || *p == '~') {
			if (kh_buf_append(b, p, 1) != KH_OK)
				return -1;
			continue;
		}
		e[0] = '%';
		e[1] = hex[*p >> 4];
		e[2] = hex[*p & 15];
		if (kh_buf_append(b, e, 3) != KH_OK)
			return -1;
	}
	return 0;
}

int
kh_ctl_user_ok(const char *uid)
{
	size_t n = strlen(uid);

	if (n == 0 || n > USER_MAX || !kh_utf8_valid_text(uid, n))
		return kh_ctl_usage_error("invalid user name (1-%d bytes of UTF-8 text)", USER_MAX);
	return KH_CTL_OK;
}

/* "/admin/api/v1/users/" escaped uid, then suffix (may be ""). NULL on
 * allocation failure. */
char *
kh_ctl_user_path(const char *uid, const char *suffix)
{
	struct kh_buf b;

	kh_buf_init(&b, 4096);
	if (kh_buf_append_str(&b, "/admin/api/v1/users/") != KH_OK || url_escape(&b, uid) != 0 ||
	    kh_buf_append_str(&b, suffix) != KH_OK) {
		kh_buf_free(&b);
		return NULL;
	}
	return kh_buf_steal(&b, NULL);
}

static const char *
str_or(const json_t *o, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s != NULL && *s != '\0' ? s : dflt;
}

void
kh_ctl_fmt_time(json_int_t t, char *out, size_t outlen)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (t <= 0 || gmtime_r(&tt, &tm) == NULL)
		kh_strlcpy(out, "-", outlen);
	else
		strftime(out, outlen, "%Y-%m-%d %H:%M:%SZ", &tm);
}

static void
row(const char *label, const char *value)
{
	printf("%-12s ", label);
	kh_ctl_print_cell(stdout, value, 0);
	printf("\n");
}

int
kh_ctl_user_show(struct kh_ctl *ctl, int argc, char **argv)
{
	static const char *const keys[][2] = { { "uid", "uid" }, { "display_name", "name" },
		{ "family_name", "family name" }, { "given_name", "given name" },
		{ "mail", "mail" }, { "employee_number", "employee no" },
		{ "department", "department" }, { "title", "title" }, { "dn", "dn" } };
	json_t *reply = NULL, *user, *g, *th, *sess, *s;
	char *path, when[3][32], lock[64];
	size_t i;
	int r;

	if (argc != 1)
		return kh_ctl_usage_error("usage: user show UID");
	if ((r = kh_ctl_user_ok(argv[0])) != KH_CTL_OK)
		return r;
	if ((path = kh_ctl_user_path(argv[0], "")) == NULL)
		return KH_CTL_CONNECT;
	r = kh_ctl_call(ctl, "GET", path, NULL, &reply);
	free(path);
	if (r != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	user = json_object_get(reply, "user");
	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		row(keys[i][1], str_or(user, keys[i][0], "-"));
	printf("%-12s ", "groups");
	json_array_foreach(json_object_get(user, "groups"), i, g)
	{
		if (i > 0)
			printf(", ");
		kh_ctl_print_cell(stdout, json_string_value(g) ? json_string_value(g) : "?", 0);
	}
	printf("%s\n", json_array_size(json_object_get(user, "groups")) == 0 ? "-" : "");
	th = json_object_get(reply, "throttle");
	if (json_is_true(json_object_get(th, "locked")))
		snprintf(lock, sizeof(lock), "locked for %lld s",
		    (long long)json_integer_value(json_object_get(th, "locked_for")));
	else
		kh_strlcpy(lock, "not locked", sizeof(lock));
	printf("%-12s %lld recent failure(s), %s\n", "login",
	    (long long)json_integer_value(json_object_get(th, "failures")), lock);
	kh_ctl_print_mfa(json_object_get(reply, "mfa"));
	sess = json_object_get(reply, "sessions");
	printf("%-12s %zu\n", "sessions", json_array_size(sess));
	if (json_array_size(sess) > 0) {
		printf("  %-16s  %-20s  %-20s  %-20s  %-15s  %s\n", "ID", "CREATED", "AUTH_TIME",
		    "EXPIRES", "CLIENT_IP", "AMR");
		json_array_foreach(sess, i, s)
		{
			kh_ctl_fmt_time(
			    json_integer_value(json_object_get(s, "created")), when[0], 32);
			kh_ctl_fmt_time(
			    json_integer_value(json_object_get(s, "auth_time")), when[1], 32);
			kh_ctl_fmt_time(
			    json_integer_value(json_object_get(s, "expires")), when[2], 32);
			printf("  ");
			kh_ctl_print_cell(stdout, str_or(s, "id", "-"), 18);
			printf("%-20s  %-20s  %-20s  ", when[0], when[1], when[2]);
			kh_ctl_print_cell(stdout, str_or(s, "client_ip", "-"), 17);
			kh_ctl_print_cell(stdout, str_or(s, "amr", "-"), 0);
			printf("\n");
		}
	}
	json_decref(reply);
	return KH_CTL_OK;
}

size_t
kh_ctl_utf8_chars(const char *s)
{
	size_t c = 0;

	for (; *s != '\0'; s++)
		if (((unsigned char)*s & 0xc0) != 0x80)
			c++;
	return c;
}

int
kh_ctl_user_revoke_sessions(struct kh_ctl *ctl, int argc, char **argv)
{
	const char *uid = NULL, *reason = NULL;
	json_t *reply = NULL, *req;
	char *path = NULL, *body = NULL;
	int a, r;

	for (a = 0; a < argc; a++) {
		if (strcmp(argv[a], "--reason") == 0) {
			if (a + 1 >= argc)
				return kh_ctl_usage_error("--reason needs a value");
			reason = argv[++a];
		} else if (strncmp(argv[a], "--reason=", 9) == 0)
			reason = argv[a] + 9;
		else if (argv[a][0] == '-' && argv[a][1] != '\0')
			return kh_ctl_usage_error("unknown option %.64s", argv[a]);
		else if (uid == NULL)
			uid = argv[a];
		else
			return kh_ctl_usage_error("usage: user revoke-sessions UID --reason TEXT");
	}
	if (uid == NULL)
		return kh_ctl_usage_error("usage: user revoke-sessions UID --reason TEXT");
	if ((r = kh_ctl_user_ok(uid)) != KH_CTL_OK)
		return r;
	if (reason == NULL || *reason == '\0')
		return kh_ctl_usage_error(
		    "--reason TEXT is required (it goes to the audit log with your token's name)");
	if (kh_ctl_utf8_chars(reason) > REASON_MAX_CHARS ||
	    !kh_utf8_valid_text(reason, strlen(reason)))
		return kh_ctl_usage_error(
		    "--reason must be 1-%d characters of UTF-8 text", REASON_MAX_CHARS);
	if ((req = json_pack("{s:s}", "reason", reason)) == NULL ||
	    (body = json_dumps(req, JSON_COMPACT)) == NULL ||
	    (path = kh_ctl_user_path(uid, "/revoke-sessions")) == NULL) {
		json_decref(req);
		free(body);
		return KH_CTL_CONNECT;
	}
	json_decref(req);
	r = kh_ctl_call(ctl, "POST", path, body, &reply);
	free(path);
	free(body);
	if (r != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	printf("revoked %lld session(s) of ",
	    (long long)json_integer_value(json_object_get(reply, "revoked")));
	kh_ctl_print_cell(stdout, uid, 0);
	printf("\n");
	json_decref(reply);
	return KH_CTL_OK;
}

/* The fields shown in their own columns. */
static int
own_column(const char *k)
{
	return strcmp(k, "id") == 0 || strcmp(k, "ts") == 0 || strcmp(k, "event") == 0 ||
	    strcmp(k, "user") == 0 || strcmp(k, "token") == 0;
}

int
kh_ctl_audit_tail(struct kh_ctl *ctl, int argc, char **argv)
{
	const char *uid = NULL, *count = NULL, *k;
	json_t *reply = NULL, *events, *e, *v;
	struct kh_buf path, details;
	long n = 0;
	size_t i;
	int a, r, first;

	for (a = 0; a < argc; a++) {
		if ((strcmp(argv[a], "--user") == 0 || strcmp(argv[a], "--count") == 0) &&
		    a + 1 < argc) {
			if (argv[a][2] == 'u')
				uid = argv[++a];
			else
				count = argv[++a];
		} else if (strncmp(argv[a], "--user=", 7) == 0)
			uid = argv[a] + 7;
		else if (strncmp(argv[a], "--count=", 8) == 0)
			count = argv[a] + 8;
		else
			return kh_ctl_usage_error("usage: audit tail [--user UID] [--count N]");
	}
	if (uid != NULL && (r = kh_ctl_user_ok(uid)) != KH_CTL_OK)
		return r;
	if (count != NULL && kh_parse_long(count, 1, COUNT_MAX, &n) != KH_OK)
		return kh_ctl_usage_error("--count must be 1 to %d", COUNT_MAX);
	kh_buf_init(&path, 4096);
	kh_buf_append_str(&path, "/admin/api/v1/audit?count=");
	kh_buf_appendf(&path, "%ld", count != NULL ? n : 20L);
	if (uid != NULL) {
		kh_buf_append_str(&path, "&user=");
		url_escape(&path, uid);
	}
	r = kh_ctl_call(ctl, "GET", kh_buf_cstr(&path), NULL, &reply);
	kh_buf_free(&path);
	if (r != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	events = json_object_get(reply, "events");
	if (json_array_size(events) == 0) {
		printf("no audit events\n");
		json_decref(reply);
		return KH_CTL_OK;
	}
	printf("%-24s  %-28s  %-16s  %-16s  %s\n", "TS", "EVENT", "USER", "TOKEN", "DETAILS");
	/* The server answers newest first; a tail reads oldest to newest. */
	for (i = json_array_size(events); i-- > 0;) {
		e = json_array_get(events, i);
		kh_ctl_print_cell(stdout, str_or(e, "ts", "-"), 26);
		kh_ctl_print_cell(stdout, str_or(e, "event", "-"), 30);
		kh_ctl_print_cell(stdout, str_or(e, "user", "-"), 18);
		kh_ctl_print_cell(stdout, str_or(e, "token", "-"), 18);
		kh_buf_init(&details, 64 * 1024);
		first = 1;
		json_object_foreach(e, k, v)
		{
			if (own_column(k) || !json_is_string(v))
				continue;
			if (!first)
				kh_buf_append_str(&details, " ");
			kh_buf_appendf(&details, "%s=%s", k, json_string_value(v));
			first = 0;
		}
		kh_ctl_print_cell(stdout, details.len > 0 ? kh_buf_cstr(&details) : "", 0);
		kh_buf_free(&details);
		printf("\n");
	}
	json_decref(reply);
	return KH_CTL_OK;
}
