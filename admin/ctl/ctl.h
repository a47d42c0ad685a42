/* kakehashictl: the admin and helpdesk CLI. Talks to /admin/api/v1/ with a
 * bearer token; never takes the token on the command line (it would show in
 * ps and shell history): KAKEHASHI_TOKEN or --token-file FILE.
 *
 * Exit codes (a contract for scripts):
 *   0 ok, 1 the server refused or failed (its message is printed),
 *   2 usage error, 3 cannot connect (or no usable answer). */
#ifndef KH_CTL_H
#define KH_CTL_H

#include <jansson.h>
#include <stddef.h>
#include <stdio.h>

enum {
	KH_CTL_OK = 0,
	KH_CTL_SERVER = 1,
	KH_CTL_USAGE = 2,
	KH_CTL_CONNECT = 3,
};

#define KH_CTL_REPLY_MAX (16 * 1024 * 1024)
#define KH_CTL_TOKEN_MAX 512

struct kh_ctl {
	char *url; /* base URL, no trailing '/' (--url or KAKEHASHI_URL) */
	char *token; /* KAKEHASHI_TOKEN or the first line of --token-file; wiped */
	int json; /* --json: print the server's JSON as is */
	const char *token_error; /* why there is no token, for the message */
};

/* One command: "GROUP NAME ARGS...". run gets the arguments after NAME
 * (its own options included) and returns an exit code. */
struct kh_ctl_cmd {
	const char *group; /* "app", "token" */
	const char *name; /* "list", "add-saml" */
	const char *synopsis; /* arguments, for the usage text */
	const char *help; /* one line */
	int needs_server; /* 1: --url and a token are required */
	int (*run)(struct kh_ctl *ctl, int argc, char **argv);
};

/* ---- HTTP (admin/ctl/http.c) ---- */

/* Sends METHOD base+path with the token (and body as application/json when
 * not NULL). KH_CTL_OK when an answer came back, whatever its status:
 * *status and *reply (parsed JSON, NULL when the body was not JSON) are
 * set. KH_CTL_CONNECT (message printed) when no answer came. */
int kh_ctl_request(struct kh_ctl *ctl, const char *method, const char *path, const char *body,
    long *status, json_t **reply);
/* For status >= 400: prints the server's message (or the raw status) on
 * stderr and returns KH_CTL_SERVER; otherwise KH_CTL_OK. With --json the
 * reply is printed on stdout in both cases. */
int kh_ctl_check(struct kh_ctl *ctl, long status, json_t *reply);
/* Convenience: request + check; *reply is set only on success. */
int kh_ctl_call(
    struct kh_ctl *ctl, const char *method, const char *path, const char *body, json_t **reply);

/* ---- output helpers (admin/ctl/main.c) ---- */

/* Prints JSON, indented, on stdout. */
void kh_ctl_print_json(const json_t *j);
/* Prints s with control characters replaced (server data never drives the
 * terminal), padded to width display columns (East Asian wide = 2). */
void kh_ctl_print_cell(FILE *fp, const char *s, size_t width);
size_t kh_ctl_display_width(const char *s);
/* "kakehashictl: ..." on stderr; returns KH_CTL_USAGE. */
int kh_ctl_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 1 when id is a valid app id ([A-Za-z0-9._-], 1..128). */
int kh_ctl_app_id_ok(const char *id);

/* ---- commands provided by other files; each is added to the command
 * table in admin/ctl/main.c (ctl_commands[]) when its file lands ---- */

/* admin/ctl/ctl_saml.c: app add-saml ... (POST /admin/api/v1/apps/saml) */
int kh_ctl_app_add_saml(struct kh_ctl *ctl, int argc, char **argv);
/* admin/ctl/ctl_saml.c: app update-saml ID ... (PUT /admin/api/v1/apps/ID) */
int kh_ctl_app_update_saml(struct kh_ctl *ctl, int argc, char **argv);
/* admin/ctl/ctl_oidc.c: app add-oidc ... (POST /admin/api/v1/apps/oidc) */
int kh_ctl_app_add_oidc(struct kh_ctl *ctl, int argc, char **argv);
/* admin/ctl/ctl_oidc.c: app update-oidc ID ..., app rotate-secret ID */
int kh_ctl_app_update_oidc(struct kh_ctl *ctl, int argc, char **argv);
int kh_ctl_app_rotate_secret(struct kh_ctl *ctl, int argc, char **argv);

/* admin/ctl/ctl_users.c: user show UID, user revoke-sessions UID --reason
 * TEXT, audit tail [--user UID] [--count N] (helpdesk token) */
int kh_ctl_user_show(struct kh_ctl *ctl, int argc, char **argv);
int kh_ctl_user_revoke_sessions(struct kh_ctl *ctl, int argc, char **argv);
int kh_ctl_audit_tail(struct kh_ctl *ctl, int argc, char **argv);
/* ctl_mfa.c: mfa reset UID --reason TEXT [--bypass], mfa unlock UID --reason TEXT */
int kh_ctl_mfa_reset(struct kh_ctl *ctl, int argc, char **argv);
int kh_ctl_mfa_unlock(struct kh_ctl *ctl, int argc, char **argv);
/* The "mfa" object of user show, as lines. */
void kh_ctl_print_mfa(const json_t *mfa);
/* ctl_users.c helpers: a valid user name (else a usage error), the API path
 * /admin/api/v1/users/UID+suffix (malloc), UTF-8 code points of s. */
int kh_ctl_user_ok(const char *uid);
char *kh_ctl_user_path(const char *uid, const char *suffix);
size_t kh_ctl_utf8_chars(const char *s);
/* "YYYY-MM-DD HH:MM:SSZ" (UTC), "-" for 0 or less. */
void kh_ctl_fmt_time(json_int_t t, char *out, size_t outlen);
/* --category / --policy of app add-* and update-*: sets them on doc. */
void kh_ctl_app_category(json_t *doc, const char *category);
void kh_ctl_app_policy(json_t *doc, const char *policy);

#endif
