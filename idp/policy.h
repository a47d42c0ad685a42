/* Zero-trust access policy: which staff, from which network, on which kind of
 * device, may reach an app — and whether a second factor is needed.
 *
 * One JSON document (docs/policy.md; [policy] file, or the built-in
 * prefecture default when unset) declares named network zones (CIDR lists),
 * how a trusted TLS-terminating proxy reports a managed device, and named
 * policies: ordered rules whose conditions (groups, zones, device trust) all
 * have to hold; the first matching rule decides allow / mfa / deny. An app
 * names its policy in its registry document ("policy"); an app that names
 * none gets "default_policy". No rule matching = deny.
 *
 * Loading validates everything (unknown keys, bad CIDRs, unknown zones or
 * actions, a policy name an app could not reference, size caps) and refuses
 * the document with a message naming the place; evaluation never allocates
 * and never fails. A loaded set is immutable and shared by all threads. */
#ifndef KH_POLICY_H
#define KH_POLICY_H

#include <stddef.h>

#define KH_POLICY_DOC_MAX (256 * 1024)
#define KH_POLICY_NAME_MAX 64 /* [a-z0-9_-] */
#define KH_POLICY_ZONE_INTERNET "internet" /* an address in no named zone */

enum kh_policy_action { KH_POLICY_DENY = 0, KH_POLICY_ALLOW = 1, KH_POLICY_MFA = 2 };

enum kh_device_trust {
	KH_DEVICE_UNMANAGED = 0, /* nothing known about the device */
	KH_DEVICE_REMEMBERED = 1, /* a "remember this device" cookie of this user */
	KH_DEVICE_MANAGED = 2, /* client certificate reported by a trusted proxy */
};

struct kh_policy_set;

/* What is known about the request. */
struct kh_policy_ctx {
	const char *groups; /* the session's groups, newline-separated ("" none) */
	const char *client_ip; /* resolved client address (idp/http.c) */
	enum kh_device_trust device;
};

struct kh_policy_result {
	enum kh_policy_action action;
	const char *policy; /* the policy's name (borrowed from the set) */
	int rule; /* index of the rule that decided, -1 when none matched */
	/* Why, for the page and the audit record: the rule's "reason" code
	 * ("managed_device", "network", "group", "policy"), "no_rule" when
	 * nothing matched, "unknown_policy" when the app names a policy that
	 * does not exist (then action is deny). */
	const char *reason;
};

/* path NULL or "": the built-in default (kh_policy_default_json). err gets a
 * message naming the file and the place on KH_ERR_CONFIG. */
int kh_policy_load(const char *path, struct kh_policy_set **out, char *err, size_t errlen);
int kh_policy_load_json(
    const char *json, size_t len, struct kh_policy_set **out, char *err, size_t errlen);
void kh_policy_free(struct kh_policy_set *set);
/* The built-in prefecture default (also shipped as docs/policy.example.json). */
extern const char kh_policy_default_json[];

/* 1 when name is a policy of the set. */
int kh_policy_exists(const struct kh_policy_set *set, const char *name);
/* Names of every policy, for the admin API (borrowed; NULL-terminated). */
const char *const *kh_policy_names(const struct kh_policy_set *set);

/* Evaluates policy `name` (NULL or "": default_policy) for ctx. */
void kh_policy_eval(const struct kh_policy_set *set, const char *name,
    const struct kh_policy_ctx *ctx, struct kh_policy_result *out);

/* 1 when ip lies in one of the zones in list (space or comma separated zone
 * names; "*" = any address; "internet" = in no named zone). */
int kh_policy_ip_in_zones(const struct kh_policy_set *set, const char *ip, const char *list);
/* The names of the zones ip lies in, space separated, or "internet". */
void kh_policy_zones_of(const struct kh_policy_set *set, const char *ip, char *out, size_t outlen);

/* How a trusted proxy reports a verified managed-device certificate: the
 * request header's name and the value that means "verified" (e.g.
 * "X-Client-Verify" / "SUCCESS"). *name is NULL when not configured. */
void kh_policy_managed_header(
    const struct kh_policy_set *set, const char **name, const char **value);

const char *kh_policy_action_name(enum kh_policy_action a);

#endif
