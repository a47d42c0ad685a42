/* idp/policy.c: the built-in default, evaluation of every condition, every
 * validation refusal with its message, zone helpers, loading from files. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/errors.h"
#include "idp/policy.h"
#include "tests/unit/tap.h"

#define RULES(r) "\"policies\": {\"p\": {\"rules\": [" r "]}}, \"default_policy\": \"p\""
#define GOV "\"zones\": {\"gov\": [\"10.0.0.0/8\"]}"
#define DOC(r) "{" GOV ", " RULES(r) "}"
#define ZDOC(cidr) "{\"zones\": {\"gov\": [\"" cidr "\"]}, " RULES("{\"action\": \"allow\"}") "}"

static char err[1024];

static struct kh_policy_set *
load(const char *json)
{
	struct kh_policy_set *s = NULL;

	if (kh_policy_load_json(json, strlen(json), &s, err, sizeof(err)) != KH_OK)
		printf("# load failed: %s\n", err);
	return s;
}

/* Refused with KH_ERR_CONFIG, no set, and a message containing needle. */
static int
fails_with(const char *json, const char *needle)
{
	struct kh_policy_set *s = (struct kh_policy_set *)1;
	int r = kh_policy_load_json(json, strlen(json), &s, err, sizeof(err)), match;

	match = r == KH_ERR_CONFIG && s == NULL && strstr(err, needle) != NULL;
	if (!match)
		printf("# got r=%d err=%s\n", r, err);
	if (r == KH_OK)
		kh_policy_free(s);
	return match;
}

static int
expect(const struct kh_policy_set *s, const char *policy, const char *ip, enum kh_device_trust dev,
    const char *groups, enum kh_policy_action action, int rule, const char *reason)
{
	struct kh_policy_ctx c = { groups, ip, dev };
	struct kh_policy_result r;

	memset(&r, 0xa5, sizeof(r));
	kh_policy_eval(s, policy, &c, &r);
	if (r.action == action && r.rule == rule && r.reason != NULL && r.policy != NULL &&
	    strcmp(r.reason, reason) == 0)
		return 1;
	printf("# got %s rule %d reason %s policy %s\n", kh_policy_action_name(r.action), r.rule,
	    r.reason ? r.reason : "(null)", r.policy ? r.policy : "(null)");
	return 0;
}

static const char *
zones_of(const struct kh_policy_set *s, const char *ip, size_t outlen)
{
	static char buf[512];

	memset(buf, 'x', sizeof(buf));
	kh_policy_zones_of(s, ip, buf, outlen);
	return buf;
}

/* A document from a printf-style generator (for the size caps). */
static char *
gen(void (*fill)(FILE *, int), int n)
{
	char *text = NULL;
	size_t len = 0;
	FILE *fp = open_memstream(&text, &len);

	if (fp == NULL)
		return NULL;
	fill(fp, n);
	fclose(fp);
	return text;
}

static void
gen_zones(FILE *fp, int n)
{
	int i;

	fputs("{\"zones\": {", fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"z%d\": [\"10.%d.0.0/16\"]", i ? ", " : "", i, i);
	fputs("}, " RULES("{\"action\": \"allow\"}") "}", fp);
}

static void
gen_cidrs(FILE *fp, int n)
{
	int i;

	fputs("{\"zones\": {\"big\": [", fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"10.%d.%d.0/24\"", i ? ", " : "", i / 256, i % 256);
	fputs("]}, " RULES("{\"zone\": [\"big\"], \"action\": \"allow\"}") "}", fp);
}

static void
gen_policies(FILE *fp, int n)
{
	int i;

	fputs("{\"policies\": {", fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"p%d\": {\"rules\": [{\"action\": \"allow\"}]}", i ? ", " : "", i);
	fputs("}, \"default_policy\": \"p0\"}", fp);
}

static void
gen_rules(FILE *fp, int n)
{
	int i;

	fputs("{\"policies\": {\"p\": {\"rules\": [", fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s{\"groups\": [\"g%d\"], \"action\": \"allow\"}", i ? ", " : "", i);
	fputs("]}}, \"default_policy\": \"p\"}", fp);
}

static void
gen_groups(FILE *fp, int n)
{
	int i;

	fputs("{\"policies\": {\"p\": {\"rules\": [{\"not_groups\": [", fp);
	for (i = 0; i < n; i++)
		fprintf(fp, "%s\"g%d\"", i ? ", " : "", i);
	fputs("], \"action\": \"allow\"}]}}, \"default_policy\": \"p\"}", fp);
}

/* n group names split between groups and not_groups */
static void
gen_split(FILE *fp, int n)
{
	int i;

	fputs("{\"policies\": {\"p\": {\"rules\": [{\"groups\": [", fp);
	for (i = 0; i < n / 2; i++)
		fprintf(fp, "%s\"g%d\"", i ? ", " : "", i);
	fputs("], \"not_groups\": [", fp);
	for (; i < n; i++)
		fprintf(fp, "%s\"g%d\"", i > n / 2 ? ", " : "", i);
	fputs("], \"action\": \"allow\"}]}}, \"default_policy\": \"p\"}", fp);
}

static void
gen_big(FILE *fp, int n)
{
	int i;

	fputs("{\"policies\": {\"p\": {\"description\": \"\", \"rules\": [{\"action\": "
	      "\"allow\"}]}}, \"default_policy\": \"p\"",
	    fp);
	for (i = 0; i < n; i++)
		fputc(' ', fp);
	fputs("}", fp);
}

/* A cap: n loads, n + 1 is refused with needle. */
static int
cap(void (*fill)(FILE *, int), int n, const char *needle)
{
	char *a = gen(fill, n), *b = gen(fill, n + 1);
	struct kh_policy_set *s = NULL;
	int good = 0;

	if (a == NULL || b == NULL)
		goto out;
	if (kh_policy_load_json(a, strlen(a), &s, err, sizeof(err)) != KH_OK) {
		printf("# %d refused: %s\n", n, err);
		goto out;
	}
	good = fails_with(b, needle);
out:
	kh_policy_free(s);
	free(a);
	free(b);
	return good;
}

static int
write_file(char *path, size_t size, const char *text, size_t len)
{
	FILE *fp;
	int fd;

	snprintf(path, size, "/tmp/kh-policy-XXXXXX");
	if ((fd = mkstemp(path)) < 0 || (fp = fdopen(fd, "w")) == NULL)
		return -1;
	fwrite(text, 1, len, fp);
	fclose(fp);
	return 0;
}

/* docs/policy.example.json next to the sources: $srcdir (make check), else
 * from this file's path (a build directory outside the tree). */
static char *
read_example(void)
{
	const char *srcdir = getenv("srcdir"), *me = __FILE__, *tail = "tests/unit/test_policy.c";
	char path[4096];
	size_t n = strlen(me), tl = strlen(tail);
	char *text = NULL;
	long len;
	FILE *fp;

	if (srcdir != NULL)
		snprintf(path, sizeof(path), "%s/docs/policy.example.json", srcdir);
	else if (n >= tl && strcmp(me + n - tl, tail) == 0)
		snprintf(path, sizeof(path), "%.*sdocs/policy.example.json", (int)(n - tl), me);
	else
		return NULL;
	if ((fp = fopen(path, "rb")) == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) == 0 && (len = ftell(fp)) >= 0 && fseek(fp, 0, SEEK_SET) == 0 &&
	    (text = calloc(1, (size_t)len + 1)) != NULL &&
	    fread(text, 1, (size_t)len, fp) != (size_t)len) {
		free(text);
		text = NULL;
	}
	fclose(fp);
	return text;
}

static void
test_default(void)
{
	static const struct {
		const char *ip, *what;
		int gov;
	} ips[] = {
		{ "10.20.30.40", "gov IPv4", 1 },
		{ "192.168.1.7", "gov IPv4 (192.168/16)", 1 },
		{ "203.0.113.5", "internet IPv4", 0 },
		{ "2001:db8::1", "IPv6 (no IPv6 in the default gov zone)", 0 },
		{ "::ffff:172.16.4.5", "IPv4-mapped gov address", 1 },
		{ "::ffff:203.0.113.5", "IPv4-mapped internet address", 0 },
	};
	static const struct {
		enum kh_device_trust d;
		const char *what;
	} devs[] = { { KH_DEVICE_MANAGED, "managed" }, { KH_DEVICE_REMEMBERED, "remembered" },
		{ KH_DEVICE_UNMANAGED, "unmanaged" } };
	struct kh_policy_set *s = NULL;
	const char *const *names;
	const char *hn = "x", *hv = "x";
	char *example;
	size_t i, j;
	int r;

	r = kh_policy_load(NULL, &s, err, sizeof(err));
	ok(r == KH_OK && s != NULL && err[0] == '\0', "built-in default loads (path NULL)");
	if (s == NULL)
		return;
	names = kh_policy_names(s);
	ok(names[0] && strcmp(names[0], "allow") == 0 && names[1] &&
		strcmp(names[1], "communication") == 0 && names[2] &&
		strcmp(names[2], "managed-only") == 0 && names[3] && strcmp(names[3], "mfa") == 0 &&
		names[4] == NULL,
	    "default names: allow communication managed-only mfa (sorted)");
	ok(kh_policy_exists(s, "communication") && kh_policy_exists(s, "managed-only") &&
		!kh_policy_exists(s, "nosuch") && !kh_policy_exists(s, "") &&
		!kh_policy_exists(s, NULL) && !kh_policy_exists(NULL, "allow"),
	    "kh_policy_exists");
	kh_policy_managed_header(s, &hn, &hv);
	ok(hn && hv && strcmp(hn, "X-Client-Verify") == 0 && strcmp(hv, "SUCCESS") == 0,
	    "default managed_device header X-Client-Verify: SUCCESS");

	for (i = 0; i < sizeof(ips) / sizeof(ips[0]); i++) {
		for (j = 0; j < sizeof(devs) / sizeof(devs[0]); j++) {
			enum kh_device_trust d = devs[j].d;
			int managed = d == KH_DEVICE_MANAGED;

			/* communication: managed, gov, remembered allow; else mfa */
			if (managed)
				r = expect(s, "communication", ips[i].ip, d, "", KH_POLICY_ALLOW, 0,
				    "policy");
			else if (ips[i].gov)
				r = expect(s, "communication", ips[i].ip, d, "", KH_POLICY_ALLOW, 1,
				    "policy");
			else if (d == KH_DEVICE_REMEMBERED)
				r = expect(s, "communication", ips[i].ip, d, "", KH_POLICY_ALLOW, 2,
				    "policy");
			else
				r = expect(s, "communication", ips[i].ip, d, "", KH_POLICY_MFA, 3,
				    "policy");
			ok(r, "communication, %s, %s device", ips[i].what, devs[j].what);

			r = managed ? expect(s, "managed-only", ips[i].ip, d, "", KH_POLICY_ALLOW,
					  0, "policy")
				    : expect(s, "managed-only", ips[i].ip, d, "", KH_POLICY_DENY, 1,
					  "managed_device");
			ok(r, "managed-only, %s, %s device", ips[i].what, devs[j].what);
			r = managed
			    ? expect(s, NULL, ips[i].ip, d, "", KH_POLICY_ALLOW, 0, "policy")
			    : expect(s, "", ips[i].ip, d, "", KH_POLICY_DENY, 1, "managed_device");
			ok(r, "no policy named = managed-only, %s, %s device", ips[i].what,
			    devs[j].what);
			ok(expect(
			       s, "nosuch", ips[i].ip, d, "", KH_POLICY_DENY, -1, "unknown_policy"),
			    "unknown policy denies, %s, %s device", ips[i].what, devs[j].what);
			ok(expect(s, "allow", ips[i].ip, d, "", KH_POLICY_ALLOW, 0, "policy") &&
				expect(s, "mfa", ips[i].ip, d, "", KH_POLICY_MFA, 0, "policy"),
			    "allow and mfa policies, %s, %s device", ips[i].what, devs[j].what);
		}
	}
	{
		struct kh_policy_result res;
		struct kh_policy_ctx c = { "", "10.0.0.1", KH_DEVICE_UNMANAGED };

		kh_policy_eval(s, NULL, &c, &res);
		ok(res.policy && strcmp(res.policy, "managed-only") == 0,
		    "result names the default policy it used");
		kh_policy_eval(s, "nosuch", &c, &res);
		ok(res.policy && strcmp(res.policy, "nosuch") == 0 && res.rule == -1,
		    "unknown policy: result names what was asked");
		kh_policy_eval(NULL, "allow", &c, &res);
		ok(res.action == KH_POLICY_DENY && strcmp(res.reason, "unknown_policy") == 0,
		    "no set at all: deny");
	}
	ok(strcmp(zones_of(s, "10.1.1.1", 64), "gov") == 0 &&
		strcmp(zones_of(s, "8.8.8.8", 64), "internet") == 0,
	    "default zones_of");

	example = read_example();
	ok(example != NULL && strcmp(example, kh_policy_default_json) == 0,
	    "docs/policy.example.json is byte for byte the built-in default");
	free(example);
	kh_policy_free(s);

	ok(kh_policy_load("", &s, err, sizeof(err)) == KH_OK && s != NULL,
	    "built-in default loads (path \"\")");
	kh_policy_free(s);
}

static const char conds_doc[] =
    "{\"zones\": {\"gov\": [\"10.0.0.0/8\", \"2001:db8::/32\"],"
    "   \"lab\": [\"10.9.0.0/16\", \"::ffff:192.0.2.0/120\"]},"
    " \"policies\": {"
    "  \"p\": {\"description\": \"条件のテスト / conditions\", \"rules\": ["
    "   {\"groups\": [\"停止中\"], \"action\": \"deny\", \"reason\": \"group\"},"
    "   {\"groups\": [\"admins\", \"全職員\"], \"not_groups\": [\"contractors\"],"
    "    \"zone\": [\"gov\"], \"action\": \"allow\"},"
    "   {\"groups\": [\"admins\"], \"not_zone\": [\"gov\"], \"action\": \"mfa\","
    "    \"reason\": \"network\"},"
    "   {\"zone\": [\"internet\"], \"device\": [\"managed\", \"remembered\"],"
    "    \"action\": \"mfa\"},"
    "   {\"not_zone\": [\"internet\"], \"action\": \"deny\", \"reason\": \"network\"}]},"
    "  \"only-x\": {\"rules\": [{\"groups\": [\"x\"], \"action\": \"allow\"}]},"
    "  \"remembered\": {\"rules\": [{\"device\": [\"remembered\"], \"action\": \"allow\"}]}},"
    " \"default_policy\": \"p\"}";

static void
test_conditions(void)
{
	struct kh_policy_set *s = load(conds_doc);
	struct kh_policy_result res;
	const char *hn = "x", *hv = "x";
	const enum kh_device_trust U = KH_DEVICE_UNMANAGED, M = KH_DEVICE_MANAGED,
				   R = KH_DEVICE_REMEMBERED;

	ok(s != NULL, "conditions document loads");
	if (s == NULL)
		return;
	ok(expect(s, "p", "10.1.1.1", M, "停止中\nadmins", KH_POLICY_DENY, 0, "group"),
	    "first match wins: a suspended admin is denied by rule 0");
	ok(expect(s, "p", "10.1.1.1", U, "admins", KH_POLICY_ALLOW, 1, "policy"),
	    "groups + zone: admins on gov allowed");
	ok(expect(s, "p", "10.1.1.1", U, "users\n全職員\n", KH_POLICY_ALLOW, 1, "policy"),
	    "groups: any of the list, UTF-8 names, trailing newline");
	ok(expect(s, "p", "10.1.1.1", U, "全職員\ncontractors", KH_POLICY_DENY, 4, "network"),
	    "not_groups: a contractor skips rule 1 and falls to rule 4");
	ok(expect(s, "p", "203.0.113.9", U, "admins", KH_POLICY_MFA, 2, "network"),
	    "not_zone: admins off the network need MFA (reason network)");
	ok(expect(s, "p", "2001:db8:1::5", U, "admins", KH_POLICY_ALLOW, 1, "policy"), "IPv6 zone");
	ok(expect(s, "p", "2001:db9::5", U, "admins", KH_POLICY_MFA, 2, "network"),
	    "IPv6 outside the zone");
	ok(expect(s, "p", "::ffff:10.3.3.3", U, "admins", KH_POLICY_ALLOW, 1, "policy"),
	    "IPv4-mapped client in an IPv4 zone");
	ok(expect(s, "p", "10.1.1.1", U, "admin\nadmins2\nAdmins\n admins", KH_POLICY_DENY, 4,
	       "network"),
	    "groups match exactly (no prefix, case or space games)");
	ok(expect(s, "p", "203.0.113.9", M, "", KH_POLICY_MFA, 3, "policy") &&
		expect(s, "p", "203.0.113.9", R, "", KH_POLICY_MFA, 3, "policy"),
	    "zone internet + device list");
	ok(expect(s, "p", "203.0.113.9", U, "", KH_POLICY_DENY, -1, "no_rule"),
	    "nothing matches: deny, rule -1, no_rule");
	ok(expect(s, "p", "192.0.2.77", U, "", KH_POLICY_DENY, 4, "network") &&
		expect(s, "p", "::ffff:192.0.2.77", U, "", KH_POLICY_DENY, 4, "network"),
	    "::ffff:192.0.2.0/120 is the IPv4 network 192.0.2.0/24");
	ok(expect(s, "p", "not-an-ip", M, "", KH_POLICY_MFA, 3, "policy") &&
		expect(s, "p", NULL, U, NULL, KH_POLICY_DENY, -1, "no_rule") &&
		expect(s, "p", "fe80::1%eth0", M, "", KH_POLICY_MFA, 3, "policy"),
	    "an unparseable or missing address is in no zone (internet)");
	ok(expect(s, "p", "10.1.1.1", (enum kh_device_trust)7, "", KH_POLICY_DENY, 4, "network") &&
		expect(s, "remembered", "10.1.1.1", (enum kh_device_trust)7, "", KH_POLICY_DENY, -1,
		    "no_rule"),
	    "an out-of-range device value counts as unmanaged");
	ok(expect(s, "remembered", "10.1.1.1", R, "", KH_POLICY_ALLOW, 0, "policy") &&
		expect(s, "remembered", "10.1.1.1", M, "", KH_POLICY_DENY, -1, "no_rule") &&
		expect(s, "remembered", "10.1.1.1", U, "", KH_POLICY_DENY, -1, "no_rule"),
	    "device remembered matches only the remembered level, not managed");
	ok(expect(s, "only-x", "10.1.1.1", M, "y\n\nxx", KH_POLICY_DENY, -1, "no_rule") &&
		expect(s, "only-x", "10.1.1.1", M, "y\n\nx", KH_POLICY_ALLOW, 0, "policy"),
	    "empty lines in groups are ignored");
	kh_policy_eval(s, "p", NULL, &res);
	ok(res.action == KH_POLICY_DENY && res.rule == -1 && strcmp(res.reason, "no_rule") == 0,
	    "ctx NULL: no groups, no address, unmanaged");
	kh_policy_managed_header(s, &hn, &hv);
	ok(hn == NULL && hv == NULL, "no managed_device: header NULL");

	/* zone helpers */
	ok(strcmp(zones_of(s, "10.9.1.1", 64), "gov lab") == 0, "zones_of: two zones");
	ok(strcmp(zones_of(s, "192.0.2.1", 64), "lab") == 0 &&
		strcmp(zones_of(s, "::ffff:192.0.2.1", 64), "lab") == 0,
	    "zones_of: mapped network and mapped client");
	ok(strcmp(zones_of(s, "2001:db8::2", 64), "gov") == 0, "zones_of: IPv6");
	ok(strcmp(zones_of(s, "203.0.113.1", 64), "internet") == 0 &&
		strcmp(zones_of(s, "junk", 64), "internet") == 0 &&
		strcmp(zones_of(s, NULL, 64), "internet") == 0,
	    "zones_of: internet, junk, NULL");
	ok(strcmp(zones_of(s, "10.9.1.1", 7), "gov") == 0 &&
		strcmp(zones_of(s, "10.9.1.1", 4), "gov") == 0 &&
		strcmp(zones_of(s, "10.9.1.1", 3), "") == 0 &&
		strcmp(zones_of(s, "10.9.1.1", 8), "gov lab") == 0,
	    "zones_of: whole names only when the buffer is short");
	ok(zones_of(s, "10.9.1.1", 0)[0] == 'x', "zones_of: outlen 0 writes nothing");

	ok(kh_policy_ip_in_zones(s, "10.1.1.1", "gov") == 1 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "lab") == 0,
	    "ip_in_zones: one zone");
	ok(kh_policy_ip_in_zones(s, "10.9.1.1", "lab, gov") == 1 &&
		kh_policy_ip_in_zones(s, "192.0.2.5", "gov,lab") == 1 &&
		kh_policy_ip_in_zones(s, "192.0.2.5", " gov ,\tlab ") == 1 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "lab,,nosuch  ") == 0,
	    "ip_in_zones: lists with commas and spaces");
	ok(kh_policy_ip_in_zones(s, "203.0.113.1", "internet") == 1 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "internet") == 0 &&
		kh_policy_ip_in_zones(s, "203.0.113.1", "gov internet") == 1 &&
		kh_policy_ip_in_zones(s, "garbage", "internet") == 1,
	    "ip_in_zones: internet");
	ok(kh_policy_ip_in_zones(s, "203.0.113.1", "*") == 1 &&
		kh_policy_ip_in_zones(s, "garbage", "gov, *") == 1 &&
		kh_policy_ip_in_zones(NULL, "10.1.1.1", "*") == 1,
	    "ip_in_zones: * is any address");
	ok(kh_policy_ip_in_zones(s, "10.1.1.1", "") == 0 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", " , ") == 0 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", NULL) == 0 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "go") == 0 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "gov2") == 0 &&
		kh_policy_ip_in_zones(s, "10.1.1.1", "**") == 0,
	    "ip_in_zones: empty list, unknown or partial names match nothing");
	ok(kh_policy_ip_in_zones(s, "::ffff:10.1.1.1", "gov") == 1 &&
		kh_policy_ip_in_zones(s, "2001:db8::1", "gov") == 1 &&
		kh_policy_ip_in_zones(s, "2001:db9::1", "gov") == 0,
	    "ip_in_zones: IPv6 and mapped addresses");
	kh_policy_free(s);

	s = load("{\"zones\": {\"all4\": [\"0.0.0.0/0\"], \"all6\": [\"::/0\"], \"h\": "
		 "[\"192.0.2.1\", \"2001:db8::1/128\"]}, " RULES("{\"action\": \"allow\"}") "}");
	ok(s && strcmp(zones_of(s, "198.51.100.1", 64), "all4") == 0 &&
		strcmp(zones_of(s, "::ffff:198.51.100.1", 64), "all4") == 0 &&
		strcmp(zones_of(s, "2001:db8::2", 64), "all6") == 0 &&
		strcmp(zones_of(s, "192.0.2.1", 64), "all4 h") == 0 &&
		strcmp(zones_of(s, "2001:db8::1", 64), "all6 h") == 0 &&
		strcmp(zones_of(s, "192.0.2.2", 64), "all4") == 0,
	    "/0 networks and single hosts (bare address or full prefix)");
	kh_policy_free(s);

	s = load("{\"zones\": {\"n\": [\"10.128.0.0/9\", \"172.16.0.0/12\"]}, " RULES(
	    "{\"zone\": [\"n\"], \"action\": \"allow\"}") "}");
	ok(s && kh_policy_ip_in_zones(s, "10.128.0.0", "n") &&
		kh_policy_ip_in_zones(s, "10.255.255.255", "n") &&
		!kh_policy_ip_in_zones(s, "10.127.255.255", "n") &&
		kh_policy_ip_in_zones(s, "172.31.255.255", "n") &&
		!kh_policy_ip_in_zones(s, "172.32.0.0", "n"),
	    "prefixes that are not a multiple of 8: edges");
	kh_policy_free(s);
}

static void
test_validation(void)
{
	char *doc;

	/* CIDRs */
	ok(fails_with(
	       ZDOC("10.0.0/8"), "zones.gov[0]: \"10.0.0/8\" is not an IPv4 or IPv6 network"),
	    "bad CIDR refused with the place");
	ok(fails_with(ZDOC("10.0.0.0/"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("10.0.0.0/08"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("10.0.0.0/+8"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("10.0.0.0/8 "), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("/8"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC(""), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("010.0.0.0/8"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("gov.example.jp/24"), "is not an IPv4 or IPv6 network") &&
		fails_with(ZDOC("fe80::/10%eth0"), "is not an IPv4 or IPv6 network"),
	    "malformed prefixes and addresses refused");
	ok(fails_with(ZDOC("10.0.0.1/8"),
	       "zones.gov[0]: \"10.0.0.1/8\" has host bits set; the network is 10.0.0.0/8"),
	    "IPv4 host bits refused, the network suggested");
	ok(fails_with(ZDOC("2001:db8::1/32"),
	       "\"2001:db8::1/32\" has host bits set; the network is 2001:db8::/32"),
	    "IPv6 host bits refused");
	ok(fails_with(ZDOC("172.16.0.0/11"), "the network is 172.0.0.0/11"),
	    "host bits below a byte boundary");
	ok(fails_with(ZDOC("10.0.0.0/33"),
	       "\"10.0.0.0/33\": the prefix length of an IPv4 network is 0 to 32"),
	    "IPv4 prefix > 32 refused");
	ok(fails_with(ZDOC("2001:db8::/129"), "the prefix length of an IPv6 network is 0 to 128"),
	    "IPv6 prefix > 128 refused");
	ok(fails_with(
	       "{\"zones\": {\"gov\": [\"10.0.0.0/8\", 10]}, " RULES("{\"action\": \"allow\"}") "}",
	       "zones.gov[1]: expected a CIDR string"),
	    "CIDR not a string");
	ok(fails_with("{\"zones\": {\"gov\": []}, " RULES("{\"action\": \"allow\"}") "}",
	       "zones.gov: lists no network"),
	    "empty zone refused");

	/* zone and policy names */
	ok(fails_with("{\"zones\": {\"internet\": [\"10.0.0.0/8\"]}, " RULES(
			  "{\"action\": \"allow\"}") "}",
	       "zones: \"internet\" is reserved"),
	    "\"internet\" cannot be defined");
	ok(fails_with(
	       "{\"zones\": {\"Gov\": [\"10.0.0.0/8\"]}, " RULES("{\"action\": \"allow\"}") "}",
	       "zones: zone name \"Gov\" must be 1 to 64 of a-z 0-9 _ -"),
	    "zone name charset");
	ok(fails_with("{\"zones\": {\"\": [\"10.0.0.0/8\"]}, " RULES("{\"action\": \"allow\"}") "}",
	       "zone name \"\" must be"),
	    "empty zone name");
	ok(fails_with("{\"policies\": {\"my app\": {\"rules\": [{\"action\": \"allow\"}]}}, "
		      "\"default_policy\": \"my app\"}",
	       "policies: policy name \"my app\" must be 1 to 64 of a-z 0-9 _ -"),
	    "policy name charset");
	ok(fails_with("{\"policies\": {\"a\\u001b[31m\\\"\": {\"rules\": [{\"action\": "
		      "\"allow\"}]}}, \"default_policy\": \"a\"}",
	       "policy name \"a?[31m?\" must be"),
	    "control characters and quotes in a name are not copied into the message");
	ok(fails_with(
	       "{\"policies\": {\"p012345678901234567890123456789012345678"
	       "9012345678901234567890123\": {\"rules\": [{\"action\": \"allow\"}]}}, \"default_policy\": \"p\"}",
	       "must be 1 to 64"),
	    "65-character policy name refused");
	ok(fails_with(
	       "{\"policies\": {\"p012345678901234567890123456789012345678"
	       "901234567890123456789012\": {\"rules\": [{\"action\": \"allow\"}]}}, \"default_policy\": \"p\"}",
	       "default_policy: no policy \"p\""),
	    "64-character policy name accepted");

	/* references */
	ok(fails_with(DOC("{\"zone\": [\"lgwan\"], \"action\": \"allow\"}"),
	       "policies.p.rules[0].zone[0]: unknown zone \"lgwan\" (not in \"zones\")"),
	    "unknown zone reference");
	ok(fails_with(DOC("{\"action\": \"mfa\"}, {\"not_zone\": [\"gov\", \"lan\"], \"action\": "
			  "\"allow\"}"),
	       "policies.p.rules[1].not_zone[1]: unknown zone \"lan\""),
	    "unknown zone reference in not_zone");
	ok(fails_with("{" GOV ", \"policies\": {\"p\": {\"rules\": [{\"action\": \"allow\"}]}}, "
		      "\"default_policy\": \"q\"}",
	       "default_policy: no policy \"q\" in \"policies\""),
	    "default_policy must exist");
	ok(fails_with("{" GOV ", \"policies\": {\"p\": {\"rules\": [{\"action\": \"allow\"}]}}}",
	       "top level: \"default_policy\" is required"),
	    "default_policy missing");
	ok(fails_with(
	       "{" GOV ", \"default_policy\": \"p\"}", "top level: \"policies\" is required"),
	    "policies missing");
	ok(fails_with(
	       "{\"policies\": {}, \"default_policy\": \"p\"}", "policies: no policy defined"),
	    "no policies");

	/* rules */
	ok(fails_with(DOC("{\"action\": \"permit\"}"),
	       "policies.p.rules[0].action: unknown action \"permit\" (allow, mfa or deny)"),
	    "unknown action");
	ok(fails_with(DOC("{\"action\": \"Allow\"}"), "unknown action \"Allow\""),
	    "actions are lower case");
	ok(fails_with(DOC("{\"action\": \"allow\"}, {\"device\": [\"managed\"]}"),
	       "policies.p.rules[1]: \"action\" is required"),
	    "action missing");
	ok(fails_with(DOC("{\"action\": \"deny\", \"reason\": \"because\"}"),
	       "policies.p.rules[0].reason: unknown reason \"because\""),
	    "unknown reason");
	ok(fails_with(DOC("{\"device\": [\"byod\"], \"action\": \"allow\"}"),
	       "policies.p.rules[0].device[0]: unknown device \"byod\""),
	    "unknown device");
	ok(fails_with(DOC("{\"groups\": [\"a\\nb\"], \"action\": \"allow\"}"),
	       "policies.p.rules[0].groups[0]: a group name is 1 to 256 bytes"),
	    "group name with a newline refused");
	ok(fails_with(DOC("{\"not_groups\": [\"\"], \"action\": \"allow\"}"),
	       "policies.p.rules[0].not_groups[0]: a group name"),
	    "empty group name refused");
	ok(fails_with(DOC("{\"groups\": [], \"action\": \"allow\"}"),
	       "policies.p.rules[0].groups: empty list"),
	    "empty condition list refused");
	ok(fails_with(DOC("{\"zone\": [], \"action\": \"allow\"}"), "rules[0].zone: empty list") &&
		fails_with(
		    DOC("{\"device\": [], \"action\": \"allow\"}"), "rules[0].device: empty list"),
	    "empty zone and device lists refused");
	ok(fails_with("{" GOV ", \"policies\": {\"p\": {\"rules\": []}}, \"default_policy\": "
		      "\"p\"}",
	       "policies.p.rules: no rules"),
	    "empty rules refused");
	ok(fails_with("{" GOV ", \"policies\": {\"p\": {\"description\": \"x\"}}, "
		      "\"default_policy\": \"p\"}",
	       "policies.p: \"rules\" is required"),
	    "rules missing");

	/* unknown keys */
	ok(fails_with("{" GOV ", \"policies\": {\"communication\": {\"rules\": [{\"action\": "
		      "\"allow\"}, {\"action\": \"mfa\"}, {\"zones\": [\"gov\"], \"action\": "
		      "\"deny\"}]}}, \"default_policy\": \"communication\"}",
	       "policies.communication.rules[2]: unknown key \"zones\""),
	    "unknown key in a rule");
	ok(fails_with("{" GOV ", \"policies\": {\"p\": {\"rule\": []}}, \"default_policy\": \"p\"}",
	       "policies.p: unknown key \"rule\""),
	    "unknown key in a policy");
	ok(fails_with("{" GOV ", \"default\": \"p\", " RULES("{\"action\": \"allow\"}") "}",
	       "top level: unknown key \"default\""),
	    "unknown key at the top level");
	ok(fails_with("{\"managed_device\": {\"header\": \"X-A\", \"value\": \"1\", \"values\": "
		      "[]}, " RULES("{\"action\": \"allow\"}") "}",
	       "managed_device: unknown key \"values\""),
	    "unknown key in managed_device");

	/* JSON level */
	ok(fails_with("{" GOV ", \"zones\": {}, " RULES("{\"action\": \"allow\"}") "}",
	       "duplicate object key"),
	    "duplicate top-level key");
	ok(fails_with(DOC("{\"action\": \"allow\", \"action\": \"deny\"}"), "duplicate object key"),
	    "duplicate key in a rule");
	ok(fails_with("not json", "line 1 column 3: '[' or '{' expected"), "non-JSON input");
	ok(fails_with("", "line 1"), "empty input");
	ok(fails_with(DOC("{\"action\": \"allow\"}") " x", "line 1"), "trailing garbage");
	ok(fails_with("[]", "top level: expected a JSON object"), "top level an array");

	/* types */
	ok(fails_with("{\"zones\": [\"10.0.0.0/8\"], " RULES("{\"action\": \"allow\"}") "}",
	       "zones: expected an object"),
	    "zones of the wrong type");
	ok(fails_with(
	       "{\"zones\": {\"gov\": \"10.0.0.0/8\"}, " RULES("{\"action\": \"allow\"}") "}",
	       "zones.gov: expected an array of CIDR strings"),
	    "a zone that is a string");
	ok(fails_with(
	       "{\"policies\": [], \"default_policy\": \"p\"}", "policies: expected an object"),
	    "policies of the wrong type");
	ok(fails_with("{\"policies\": {\"p\": []}, \"default_policy\": \"p\"}",
	       "policies.p: expected an object"),
	    "a policy that is an array");
	ok(fails_with("{\"policies\": {\"p\": {\"rules\": {}}}, \"default_policy\": \"p\"}",
	       "policies.p.rules: expected an array of rules"),
	    "rules of the wrong type");
	ok(fails_with(DOC("\"allow\""), "policies.p.rules[0]: expected an object"),
	    "a rule that is a string");
	ok(fails_with(DOC("{\"groups\": \"admins\", \"action\": \"allow\"}"),
	       "policies.p.rules[0].groups: expected an array of strings"),
	    "groups that is a string");
	ok(fails_with(DOC("{\"zone\": [1], \"action\": \"allow\"}"),
	       "policies.p.rules[0].zone[0]: expected a string"),
	    "zone entry a number");
	ok(fails_with(DOC("{\"action\": true}"), "policies.p.rules[0].action: expected a string"),
	    "action of the wrong type");
	ok(fails_with(DOC("{\"action\": \"deny\", \"reason\": null}"),
	       "policies.p.rules[0].reason: expected a string"),
	    "reason of the wrong type");
	ok(fails_with("{\"policies\": {\"p\": {\"description\": 5, \"rules\": [{\"action\": "
		      "\"allow\"}]}}, \"default_policy\": \"p\"}",
	       "policies.p.description: expected a string"),
	    "description of the wrong type");
	ok(fails_with("{" RULES("{\"action\": \"allow\"}") ", \"x\": 1}", "unknown key \"x\"") &&
		fails_with("{\"policies\": {\"p\": {\"rules\": [{\"action\": \"allow\"}]}}, "
			   "\"default_policy\": [\"p\"]}",
		    "default_policy: expected a policy name (string)"),
	    "default_policy of the wrong type");
	ok(fails_with(
	       "{\"managed_device\": \"X-Client-Verify\", " RULES("{\"action\": \"allow\"}") "}",
	       "managed_device: expected an object"),
	    "managed_device of the wrong type");
	ok(fails_with("{\"managed_device\": {\"header\": \"X Client\", \"value\": \"1\"}, " RULES(
			  "{\"action\": \"allow\"}") "}",
	       "managed_device.header: not an HTTP header name"),
	    "managed_device header name checked");
	ok(fails_with("{\"managed_device\": {\"header\": \"X-Client-Verify\"}, " RULES(
			  "{\"action\": \"allow\"}") "}",
	       "managed_device.value: a value (string) is required"),
	    "managed_device value required");
	ok(fails_with(
	       "{\"managed_device\": {\"header\": \"X-A\", \"value\": \"ok\\r\\nX: y\"}, " RULES(
		   "{\"action\": \"allow\"}") "}",
	       "managed_device.value: expected 1 to 256 printable ASCII"),
	    "managed_device value checked");

	/* caps */
	ok(cap(gen_zones, 64, "zones: more than 64 zones"), "64 zones load, 65 refused");
	ok(cap(gen_cidrs, 256, "zones.big: more than 256 networks"),
	    "256 CIDRs per zone load, 257 refused");
	ok(cap(gen_policies, 128, "policies: more than 128 policies"),
	    "128 policies load, 129 refused");
	ok(cap(gen_rules, 64, "policies.p.rules: more than 64 rules"),
	    "64 rules per policy load, 65 refused");
	ok(cap(gen_groups, 64, "policies.p.rules[0].not_groups: more than 64 entries"),
	    "64 groups per list load, 65 refused");
	ok(cap(gen_split, 64,
	       "policies.p.rules[0]: more than 64 group names (groups and not_groups together)"),
	    "64 groups per rule (groups + not_groups) load, 65 refused");
	doc = gen(gen_big, 0);
	ok(doc != NULL &&
		cap(gen_big, KH_POLICY_DOC_MAX - (int)strlen(doc), "larger than 262144 bytes"),
	    "a document of KH_POLICY_DOC_MAX bytes loads, one more is refused");
	free(doc);
	{
		struct kh_policy_set *s = (struct kh_policy_set *)1;

		ok(kh_policy_load_json(NULL, 0, &s, err, sizeof(err)) == KH_ERR_CONFIG && s == NULL,
		    "NULL document refused");
		ok(kh_policy_load_json("x", 1, &s, NULL, 0) == KH_ERR_CONFIG && s == NULL,
		    "no error buffer is fine");
		ok(kh_policy_load_json("x", 1, &s, err, 8) == KH_ERR_CONFIG && strlen(err) == 7,
		    "a short error buffer is filled and terminated");
	}
}

static void
test_files(void)
{
	static const char custom[] =
	    "{\"zones\": {\"honcho\": [\"192.0.2.0/24\"]}, \"policies\": {\"allow\": {\"rules\": "
	    "[{\"zone\": [\"honcho\"], \"action\": \"allow\"}, {\"action\": \"mfa\", \"reason\": "
	    "\"network\"}]}}, \"default_policy\": \"allow\"}";
	struct kh_policy_set *s = (struct kh_policy_set *)1;
	char path[64], want[160];
	int r;

	if (write_file(path, sizeof(path), custom, strlen(custom)) != 0) {
		ok(0, "temp file");
		return;
	}
	r = kh_policy_load(path, &s, err, sizeof(err));
	ok(r == KH_OK && s != NULL, "a policy file loads");
	ok(s &&
		expect(
		    s, NULL, "192.0.2.9", KH_DEVICE_UNMANAGED, "", KH_POLICY_ALLOW, 0, "policy") &&
		expect(s, NULL, "198.51.100.9", KH_DEVICE_UNMANAGED, "", KH_POLICY_MFA, 1,
		    "network") &&
		!kh_policy_exists(s, "managed-only"),
	    "the file replaces the built-in default entirely");
	kh_policy_free(s);
	unlink(path);

	if (write_file(path, sizeof(path), DOC("{\"action\": \"permit\"}"),
		strlen(DOC("{\"action\": \"permit\"}"))) != 0) {
		ok(0, "temp file");
		return;
	}
	r = kh_policy_load(path, &s, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: policies.p.rules[0].action: unknown action", path);
	ok(r == KH_ERR_CONFIG && s == NULL && strncmp(err, want, strlen(want)) == 0,
	    "a refused file: the message names the file and the place");
	if (strncmp(err, want, strlen(want)) != 0)
		printf("# got %s\n", err);
	unlink(path);

	if (write_file(path, sizeof(path), "{\n  \"zones\": {},\n  oops\n}",
		strlen("{\n  \"zones\": {},\n  oops\n}")) != 0) {
		ok(0, "temp file");
		return;
	}
	r = kh_policy_load(path, &s, err, sizeof(err));
	snprintf(want, sizeof(want), "%s: line 3 column", path);
	ok(r == KH_ERR_CONFIG && strncmp(err, want, strlen(want)) == 0,
	    "a JSON syntax error names the file and the line: %s", err);
	unlink(path);

	r = kh_policy_load("/nonexistent/kakehashi/policy.json", &s, err, sizeof(err));
	ok(r == KH_ERR_CONFIG && s == NULL &&
		strcmp(err,
		    "cannot open /nonexistent/kakehashi/policy.json: No such file or directory") ==
		    0,
	    "a missing file: %s", err);
	r = kh_policy_load("/tmp", &s, err, sizeof(err));
	ok(r == KH_ERR_CONFIG && s == NULL && strcmp(err, "/tmp: not a regular file") == 0,
	    "a directory is refused");
}

int
main(void)
{
	ok(strcmp(kh_policy_action_name(KH_POLICY_ALLOW), "allow") == 0 &&
		strcmp(kh_policy_action_name(KH_POLICY_MFA), "mfa") == 0 &&
		strcmp(kh_policy_action_name(KH_POLICY_DENY), "deny") == 0 &&
		strcmp(kh_policy_action_name((enum kh_policy_action)9), "unknown") == 0,
	    "action names");
	test_default();
	test_conditions();
	test_validation();
	test_files();
	return tap_done();
}
