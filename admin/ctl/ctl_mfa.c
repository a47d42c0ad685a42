/* kakehashictl MFA commands (helpdesk token):
 *   mfa reset UID --reason TEXT [--bypass]   POST /admin/api/v1/users/UID/mfa/reset
 *   mfa unlock UID --reason TEXT             POST /admin/api/v1/users/UID/mfa/unlock
 * and the MFA lines of `user show`. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/ctl/ctl.h"
#include "common/str.h"

#define REASON_MAX_CHARS 500

void
kh_ctl_print_mfa(const json_t *m)
{
	json_t *pk, *e;
	char when[32];
	size_t i;

	if (!json_is_object(m))
		return;
	kh_ctl_fmt_time(
	    json_integer_value(json_object_get(m, "totp_enrolled_at")), when, sizeof(when));
	printf("%-12s %s", "totp", json_is_true(json_object_get(m, "totp")) ? "on" : "off");
	if (json_is_true(json_object_get(m, "totp")))
		printf(" (since %s)", when);
	printf("\n");
	pk = json_object_get(m, "passkeys");
	printf("%-12s %zu\n", "passkeys", json_array_size(pk));
	json_array_foreach(pk, i, e)
	{
		const char *n = json_string_value(json_object_get(e, "name"));
		const char *f = json_string_value(json_object_get(e, "fmt"));
		printf("  ");
		kh_ctl_print_cell(stdout, n != NULL ? n : "-", 24);
		kh_ctl_print_cell(stdout, f != NULL ? f : "-", 8);
		printf("counter %lld\n",
		    (long long)json_integer_value(json_object_get(e, "sign_count")));
	}
	printf("%-12s %lld left\n", "recovery",
	    (long long)json_integer_value(json_object_get(m, "recovery_codes_left")));
	printf("%-12s %lld\n", "devices",
	    (long long)json_integer_value(json_object_get(m, "remembered_devices")));
	if (json_is_true(json_object_get(m, "bypass_active"))) {
		kh_ctl_fmt_time(
		    json_integer_value(json_object_get(m, "bypass_expires")), when, sizeof(when));
		printf("%-12s active until %s\n", "bypass", when);
	} else
		printf("%-12s none\n", "bypass");
	printf("%-12s %lld recent failure(s), ", "mfa",
	    (long long)json_integer_value(json_object_get(m, "failures")));
	if (json_is_true(json_object_get(m, "locked")))
		printf("locked for %lld s\n",
		    (long long)json_integer_value(json_object_get(m, "locked_for")));
	else
		printf("not locked\n");
}

/* UID --reason TEXT [--bypass when allowed]. */
static int
parse(int argc, char **argv, const char *usage, int allow_bypass, const char **uid,
    const char **reason, int *bypass)
{
	int a, r;

	*uid = *reason = NULL;
	*bypass = 0;
	for (a = 0; a < argc; a++) {
		if (strcmp(argv[a], "--reason") == 0) {
			if (a + 1 >= argc)
				return kh_ctl_usage_error("--reason needs a value");
			*reason = argv[++a];
		} else if (strncmp(argv[a], "--reason=", 9) == 0)
			*reason = argv[a] + 9;
		else if (allow_bypass && strcmp(argv[a], "--bypass") == 0)
			*bypass = 1;
		else if (argv[a][0] == '-' && argv[a][1] != '\0')
			return kh_ctl_usage_error("unknown option %.64s", argv[a]);
		else if (*uid == NULL)
			*uid = argv[a];
		else
			return kh_ctl_usage_error("usage: %s", usage);
	}
	if (*uid == NULL)
		return kh_ctl_usage_error("usage: %s", usage);
	if ((r = kh_ctl_user_ok(*uid)) != KH_CTL_OK)
		return r;
	if (*reason == NULL || **reason == '\0')
		return kh_ctl_usage_error(
		    "--reason TEXT is required (it goes to the audit log with your token's name)");
	if (kh_ctl_utf8_chars(*reason) > REASON_MAX_CHARS ||
	    !kh_utf8_valid_text(*reason, strlen(*reason)))
		return kh_ctl_usage_error(
		    "--reason must be 1-%d characters of UTF-8 text", REASON_MAX_CHARS);
	return KH_CTL_OK;
}

static int
post(struct kh_ctl *ctl, const char *uid, const char *suffix, json_t *req, json_t **reply)
{
	char *path = NULL, *body = NULL;
	int r;

	*reply = NULL;
	if (req == NULL || (body = json_dumps(req, JSON_COMPACT)) == NULL ||
	    (path = kh_ctl_user_path(uid, suffix)) == NULL) {
		json_decref(req);
		free(body);
		return KH_CTL_CONNECT;
	}
	json_decref(req);
	r = kh_ctl_call(ctl, "POST", path, body, reply);
	free(path);
	free(body);
	return r;
}

int
kh_ctl_mfa_reset(struct kh_ctl *ctl, int argc, char **argv)
{
	static const char usage[] = "mfa reset UID --reason TEXT [--bypass]";
	const char *uid, *reason;
	json_t *reply = NULL, *rm;
	char when[32];
	int bypass, r;

	if ((r = parse(argc, argv, usage, 1, &uid, &reason, &bypass)) != KH_CTL_OK)
		return r;
	r = post(ctl, uid, "/mfa/reset", json_pack("{ss sb}", "reason", reason, "bypass", bypass),
	    &reply);
	if (r != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	rm = json_object_get(reply, "removed");
	printf("reset MFA of ");
	kh_ctl_print_cell(stdout, uid, 0);
	printf(": totp %s, %lld recovery code(s), %lld passkey(s), %lld remembered device(s); "
	       "%lld session(s) signed out; tokens revoked\n",
	    json_is_true(json_object_get(rm, "totp")) ? "removed" : "none",
	    (long long)json_integer_value(json_object_get(rm, "recovery_codes")),
	    (long long)json_integer_value(json_object_get(rm, "passkeys")),
	    (long long)json_integer_value(json_object_get(rm, "remembered_devices")),
	    (long long)json_integer_value(json_object_get(reply, "sessions_revoked")));
	if (json_is_string(json_object_get(reply, "bypass_code"))) {
		kh_ctl_fmt_time(json_integer_value(json_object_get(reply, "bypass_expires")), when,
		    sizeof(when));
		printf("bypass code: ");
		kh_ctl_print_cell(
		    stdout, json_string_value(json_object_get(reply, "bypass_code")), 0);
		printf("\n  valid once until %s; the user signs in with it and must enrol a new "
		       "factor at once\n",
		    when);
	}
	json_decref(reply);
	return KH_CTL_OK;
}

int
kh_ctl_mfa_unlock(struct kh_ctl *ctl, int argc, char **argv)
{
	const char *uid, *reason;
	json_t *reply = NULL;
	int bypass, r;

	if ((r = parse(argc, argv, "mfa unlock UID --reason TEXT", 0, &uid, &reason, &bypass)) !=
	    KH_CTL_OK)
		return r;
	r = post(ctl, uid, "/mfa/unlock", json_pack("{ss}", "reason", reason), &reply);
	if (r != KH_CTL_OK || ctl->json) {
		json_decref(reply);
		return r;
	}
	printf("%s MFA of ",
	    json_is_true(json_object_get(reply, "was_locked")) ? "unlocked"
							       : "cleared failures of");
	kh_ctl_print_cell(stdout, uid, 0);
	printf("\n");
	json_decref(reply);
	return KH_CTL_OK;
}
