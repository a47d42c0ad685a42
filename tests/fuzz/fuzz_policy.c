/* libFuzzer target for kh_policy_load_json (idp/policy.c): arbitrary bytes
 * as a policy document; when it loads, every policy (and the default, and a
 * name that does not exist) is evaluated for a fixed set of request contexts.
 *
 * Properties (abort() with a message when one fails):
 *  - no crash, leak or UB; the input is an exact-size heap block;
 *  - a refusal is KH_ERR_CONFIG with a non-empty message of printable text
 *    (no control bytes) and *out NULL; a success leaves err empty;
 *  - a loaded set: names sorted, unique, 1-64 of [a-z0-9_-], each exists;
 *    the managed header is both-or-neither;
 *  - evaluation: action is allow/mfa/deny; reason is one of the documented
 *    codes; rule -1 exactly for "no_rule" / "unknown_policy" (then deny);
 *    "unknown_policy" exactly for a name that does not exist; the result
 *    names the policy; the same context twice gives the same result; an
 *    IPv4-mapped IPv6 address gives the same result as the IPv4 address;
 *  - zones: kh_policy_zones_of is "internet" exactly when
 *    kh_policy_ip_in_zones(ip, "internet"), every zone it names contains
 *    the address, "*" matches everything, and a short buffer is never
 *    overrun (exact-size heap block). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "idp/policy.h"

static void
fail(const char *what, const char *detail)
{
	fprintf(stderr, "policy: %s%s%s\n", what, detail ? ": " : "", detail ? detail : "");
	abort();
}

static const char *const ips[][2] = {
	/* address, the same address IPv4-mapped (or NULL) */
	{ "10.1.2.3", "::ffff:10.1.2.3" },
	{ "172.16.0.1", "::ffff:172.16.0.1" },
	{ "192.168.255.255", "::ffff:192.168.255.255" },
	{ "203.0.113.7", "::ffff:203.0.113.7" },
	{ "0.0.0.0", "::ffff:0.0.0.0" },
	{ "2001:db8::1", NULL },
	{ "fd00::1", NULL },
	{ "::1", NULL },
	{ "not-an-address", NULL },
	{ NULL, NULL },
};

static const char *const group_sets[] = { "", "admins", "全職員\ncontractors\n", "x\ny\nz", NULL };

static int
known_reason(const char *r)
{
	static const char *const codes[] = { "managed_device", "network", "group", "policy",
		"no_rule", "unknown_policy" };
	size_t i;

	for (i = 0; r != NULL && i < sizeof(codes) / sizeof(codes[0]); i++)
		if (strcmp(r, codes[i]) == 0)
			return 1;
	return 0;
}

static void
check_result(const struct kh_policy_set *s, const char *name, const struct kh_policy_result *r)
{
	int exists = name == NULL || *name == '\0' || kh_policy_exists(s, name);

	if (r->action != KH_POLICY_ALLOW && r->action != KH_POLICY_MFA &&
	    r->action != KH_POLICY_DENY)
		fail("action out of range", NULL);
	if (!known_reason(r->reason))
		fail("undocumented reason", r->reason);
	if (r->policy == NULL)
		fail("result without a policy name", NULL);
	if ((r->rule == -1) !=
	    (strcmp(r->reason, "no_rule") == 0 || strcmp(r->reason, "unknown_policy") == 0))
		fail("rule -1 without no_rule/unknown_policy, or the reverse", r->reason);
	if (r->rule < -1 || r->rule >= 64)
		fail("rule index out of range", NULL);
	if (r->rule == -1 && r->action != KH_POLICY_DENY)
		fail("no rule matched but not denied", NULL);
	if ((strcmp(r->reason, "unknown_policy") == 0) == exists)
		fail("unknown_policy does not follow kh_policy_exists", name);
	if (exists && !kh_policy_exists(s, r->policy))
		fail("result names a policy that does not exist", r->policy);
	if (name != NULL && *name != '\0' && exists && strcmp(name, r->policy) != 0)
		fail("result names another policy", r->policy);
}

static int
same(const struct kh_policy_result *a, const struct kh_policy_result *b)
{
	return a->action == b->action && a->rule == b->rule && strcmp(a->reason, b->reason) == 0 &&
	    strcmp(a->policy, b->policy) == 0;
}

static void
eval_all(const struct kh_policy_set *s, const char *name)
{
	struct kh_policy_result r, r2;
	struct kh_policy_ctx c;
	size_t i, g;
	int d;

	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++)
		for (g = 0; g < sizeof(group_sets) / sizeof(group_sets[0]); g++)
			for (d = 0; d <= 3; d++) { /* 3: out of range */
				c.groups = group_sets[g];
				c.client_ip = ips[i][0];
				c.device = (enum kh_device_trust)d;
				kh_policy_eval(s, name, &c, &r);
				check_result(s, name, &r);
				kh_policy_eval(s, name, &c, &r2);
				if (!same(&r, &r2))
					fail("the same context gave two results", name);
				if (ips[i][1] != NULL) {
					c.client_ip = ips[i][1];
					kh_policy_eval(s, name, &c, &r2);
					if (!same(&r, &r2))
						fail("a mapped address decided differently",
						    ips[i][1]);
				}
			}
}

static void
check_zones(const struct kh_policy_set *s)
{
	char full[4352], *small, tok[80];
	const char *p;
	size_t i, n;
	int inet;

	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		const char *ip = ips[i][0];

		kh_policy_zones_of(s, ip, full, sizeof(full));
		inet = kh_policy_ip_in_zones(s, ip, "internet");
		if ((strcmp(full, "internet") == 0) != inet)
			fail("zones_of and ip_in_zones disagree on internet", ip);
		if (!kh_policy_ip_in_zones(s, ip, "*"))
			fail("* did not match", ip);
		if (!inet && !kh_policy_ip_in_zones(s, ip, full))
			fail("not in the zones zones_of named", full);
		for (p = full; !inet && *p != '\0'; p += n) {
			p += strspn(p, " ");
			n = strcspn(p, " ");
			if (n == 0 || n >= sizeof(tok))
				break;
			memcpy(tok, p, n);
			tok[n] = '\0';
			if (!kh_policy_ip_in_zones(s, ip, tok))
				fail("zones_of named a zone the address is not in", tok);
		}
		if ((small = malloc(5)) == NULL)
			fail("out of memory", NULL);
		kh_policy_zones_of(s, ip, small, 5);
		if (strlen(small) >= 5)
			fail("zones_of overran a short buffer", NULL);
		free(small);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *doc = malloc(size ? size : 1), err[512];
	struct kh_policy_set *s = (struct kh_policy_set *)1;
	const char *const *names;
	const char *hn, *hv;
	size_t i;
	int r;

	if (doc == NULL)
		fail("out of memory", NULL);
	memcpy(doc, data, size);
	memset(err, 'x', sizeof(err));
	r = kh_policy_load_json(doc, size, &s, err, sizeof(err));
	free(doc);
	if (r != KH_OK) {
		if (r != KH_ERR_CONFIG && r != KH_ERR_NOMEM)
			fail("refused with an unexpected code", NULL);
		if (s != NULL)
			fail("refused but *out set", NULL);
		if (memchr(err, '\0', sizeof(err)) == NULL || err[0] == '\0')
			fail("refused without a message", NULL);
		for (i = 0; err[i] != '\0'; i++)
			if ((unsigned char)err[i] < 0x20 || err[i] == 0x7f)
				fail("control byte in the message", err);
		return 0;
	}
	if (s == NULL || err[0] != '\0')
		fail("loaded without a set, or with a message", err);

	names = kh_policy_names(s);
	if (names[0] == NULL)
		fail("a loaded set without policies", NULL);
	for (i = 0; names[i] != NULL; i++) {
		size_t n = strlen(names[i]);

		if (n == 0 || n > KH_POLICY_NAME_MAX ||
		    strspn(names[i], "abcdefghijklmnopqrstuvwxyz0123456789_-") != n)
			fail("a policy name outside [a-z0-9_-]{1,64}", names[i]);
		if (i > 0 && strcmp(names[i - 1], names[i]) >= 0)
			fail("names not sorted and unique", names[i]);
		if (!kh_policy_exists(s, names[i]))
			fail("a listed name does not exist", names[i]);
		if (i > 128)
			fail("more than 128 policies", NULL);
	}
	kh_policy_managed_header(s, &hn, &hv);
	if ((hn == NULL) != (hv == NULL))
		fail("managed header half configured", NULL);

	for (i = 0; names[i] != NULL; i++)
		eval_all(s, names[i]);
	eval_all(s, NULL);
	eval_all(s, "");
	eval_all(s, "no-such-policy");
	check_zones(s);
	kh_policy_free(s);
	return 0;
}
