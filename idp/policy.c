/* Zero-trust access policy (idp/policy.h, docs/policy.md).
 *
 * The JSON document is read once, every part of it checked, and turned into
 * flat structs: CIDRs as binary network + mask (IPv4-mapped IPv6 folded into
 * IPv4), zone conditions as bit sets over the zone table, group names with
 * their lengths, device conditions as bit sets. kh_policy_eval only reads
 * them: no allocation, no failure, no lock. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/errors.h"
#include "common/str.h"
#include "idp/policy.h"

#define ZONES_MAX 64 /* a zone set fits a uint64_t */
#define ZONE_NETS_MAX 256
#define POLICIES_MAX 128
#define RULES_MAX 64
#define NAMES_MAX 64 /* group names of one rule (groups + not_groups) */
#define ZONE_LIST_MAX (ZONES_MAX + 1) /* every zone and "internet" */
#define GROUP_NAME_MAX 256
#define DESCRIPTION_MAX 1024
#define HEADER_NAME_MAX 64
#define HEADER_VALUE_MAX 256

#define NAME_CHARS "abcdefghijklmnopqrstuvwxyz0123456789_-"

/* One CIDR. IPv4 uses the first four bytes of addr and mask. */
struct pol_net {
	uint8_t v6;
	uint8_t addr[16]; /* host bits are zero */
	uint8_t mask[16];
};

struct pol_zone {
	char name[KH_POLICY_NAME_MAX + 1];
	struct pol_net *nets;
	size_t nnets;
};

struct pol_str {
	char *s;
	size_t n;
};

struct pol_strs {
	struct pol_str *v;
	size_t n;
};

enum {
	COND_GROUPS = 1 << 0,
	COND_NOT_GROUPS = 1 << 1,
	COND_ZONE = 1 << 2,
	COND_NOT_ZONE = 1 << 3,
	COND_DEVICE = 1 << 4,
};

struct pol_rule {
	unsigned conds; /* COND_* present in the rule */
	struct pol_strs groups, not_groups;
	uint64_t zone, not_zone; /* bit i: zones[i] */
	int zone_internet, not_zone_internet;
	unsigned device; /* bit (1 << enum kh_device_trust) */
	enum kh_policy_action action;
	const char *reason; /* static */
};

struct pol_policy {
	char name[KH_POLICY_NAME_MAX + 1];
	struct pol_rule *rules;
	size_t nrules;
};

struct kh_policy_set {
	struct pol_zone zones[ZONES_MAX];
	size_t nzones;
	struct pol_policy *policies; /* sorted by name */
	size_t npolicies;
	const char **names; /* npolicies + 1, NULL-terminated */
	size_t default_idx;
	char *header_name, *header_value; /* NULL when not configured */
};

/* A client address after parsing: IPv4-mapped IPv6 becomes IPv4. */
struct pol_addr {
	int ok, v6;
	uint8_t a[16];
};

static const char *const reasons[] = { "managed_device", "network", "group", "policy" };
static const char *const device_names[] = { "unmanaged", "remembered", "managed" };

/* ---- addresses and zones ------------------------------------------------ */

static int
addr_parse(const char *s, struct pol_addr *ad)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	uint8_t b[16];

	memset(ad, 0, sizeof(*ad));
	if (s == NULL)
		return -1;
	if (inet_pton(AF_INET, s, b) == 1) {
		memcpy(ad->a, b, 4);
	} else if (inet_pton(AF_INET6, s, b) == 1) {
		if (memcmp(b, mapped, sizeof(mapped)) == 0)
			memcpy(ad->a, b + 12, 4);
		else {
			memcpy(ad->a, b, 16);
			ad->v6 = 1;
		}
	} else
		return -1;
	ad->ok = 1;
	return 0;
}

static int
net_contains(const struct pol_net *n, const struct pol_addr *ad)
{
	size_t i, len = ad->v6 ? 16 : 4;

	if (n->v6 != ad->v6)
		return 0;
	for (i = 0; i < len; i++)
		if ((ad->a[i] & n->mask[i]) != n->addr[i])
			return 0;
	return 1;
}

/* Bit i set when the address lies in zones[i]; 0 = "internet". */
static uint64_t
zones_mask(const struct kh_policy_set *set, const struct pol_addr *ad)
{
	uint64_t m = 0;
	size_t z, i;

	if (set == NULL || !ad->ok)
		return 0;
	for (z = 0; z < set->nzones; z++)
		for (i = 0; i < set->zones[z].nnets; i++)
			if (net_contains(&set->zones[z].nets[i], ad)) {
				m |= (uint64_t)1 << z;
				break;
			}
	return m;
}

static int
zone_index(const struct kh_policy_set *set, const char *name, size_t len)
{
	size_t z;

	for (z = 0; z < set->nzones; z++)
		if (strlen(set->zones[z].name) == len && memcmp(set->zones[z].name, name, len) == 0)
			return (int)z;
	return -1;
}

/* ---- evaluation ---------------------------------------------------------- */

/* The address is parsed and placed in zones only when a rule asks. */
struct eval_ip {
	const char *text;
	int done;
	uint64_t zones;
};

static uint64_t
eval_zones(const struct kh_policy_set *set, struct eval_ip *ip)
{
	struct pol_addr ad;

	if (!ip->done) {
		addr_parse(ip->text, &ad);
		ip->zones = zones_mask(set, &ad);
		ip->done = 1;
	}
	return ip->zones;
}

static int
in_zone_cond(uint64_t have, uint64_t want, int internet)
{
	return (have & want) != 0 || (internet && have == 0);
}

/* 1 when one of the newline-separated groups is in list. */
static int
has_group(const char *groups, const struct pol_strs *list)
{
	const char *p, *nl;
	size_t i, n;

	for (p = groups; *p != '\0'; p = nl + 1) {
		nl = strchr(p, '\n');
		n = nl ? (size_t)(nl - p) : strlen(p);
		for (i = 0; i < list->n; i++)
			if (list->v[i].n == n && memcmp(list->v[i].s, p, n) == 0)
				return 1;
		if (nl == NULL)
			break;
	}
	return 0;
}

static int
rule_matches(const struct kh_policy_set *set, const struct pol_rule *r, const char *groups,
    unsigned device_bit, struct eval_ip *ip)
{
	if ((r->conds & COND_DEVICE) && (r->device & device_bit) == 0)
		return 0;
	if ((r->conds & COND_GROUPS) && !has_group(groups, &r->groups))
		return 0;
	if ((r->conds & COND_NOT_GROUPS) && has_group(groups, &r->not_groups))
		return 0;
	if ((r->conds & COND_ZONE) && !in_zone_cond(eval_zones(set, ip), r->zone, r->zone_internet))
		return 0;
	if ((r->conds & COND_NOT_ZONE) &&
	    in_zone_cond(eval_zones(set, ip), r->not_zone, r->not_zone_internet))
		return 0;
	return 1;
}

static int
policy_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct pol_policy *)elem)->name);
}

static const struct pol_policy *
policy_find(const struct kh_policy_set *set, const char *name)
{
	if (set == NULL || name == NULL || set->npolicies == 0)
		return NULL;
	return bsearch(name, set->policies, set->npolicies, sizeof(*set->policies), policy_cmp);
}

void
kh_policy_eval(const struct kh_policy_set *set, const char *name, const struct kh_policy_ctx *ctx,
    struct kh_policy_result *out)
{
	const struct pol_policy *p;
	struct eval_ip ip;
	const char *groups = "";
	unsigned device_bit = 1u << KH_DEVICE_UNMANAGED;
	size_t i;

	if (out == NULL)
		return;
	out->action = KH_POLICY_DENY;
	out->policy = name != NULL ? name : "";
	out->rule = -1;
	out->reason = "unknown_policy";
	if (set == NULL || set->npolicies == 0)
		return;
	if (name == NULL || *name == '\0')
		p = &set->policies[set->default_idx];
	else if ((p = policy_find(set, name)) == NULL)
		return;
	out->policy = p->name;
	memset(&ip, 0, sizeof(ip));
	if (ctx != NULL) {
		if (ctx->groups != NULL)
			groups = ctx->groups;
		ip.text = ctx->client_ip;
		/* anything but the two known levels is treated as unmanaged */
		if (ctx->device == KH_DEVICE_REMEMBERED || ctx->device == KH_DEVICE_MANAGED)
			device_bit = 1u << ctx->device;
	}
	for (i = 0; i < p->nrules; i++) {
		if (rule_matches(set, &p->rules[i], groups, device_bit, &ip)) {
			out->action = p->rules[i].action;
			out->rule = (int)i;
			out->reason = p->rules[i].reason;
			return;
		}
	}
	out->reason = "no_rule";
}

int
kh_policy_exists(const struct kh_policy_set *set, const char *name)
{
	return policy_find(set, name) != NULL;
}

const char *const *
kh_policy_names(const struct kh_policy_set *set)
{
	static const char *const none[] = { NULL };

	return set != NULL && set->names != NULL ? set->names : none;
}

int
kh_policy_ip_in_zones(const struct kh_policy_set *set, const char *ip, const char *list)
{
	struct pol_addr ad;
	uint64_t have;
	const char *p;
	size_t n;
	int z, parsed = 0;

	if (list == NULL)
		return 0;
	have = 0;
	for (p = list; *p != '\0'; p += n) {
		p += strspn(p, " ,\t");
		if ((n = strcspn(p, " ,\t")) == 0)
			break;
		if (n == 1 && *p == '*')
			return 1;
		if (!parsed) {
			addr_parse(ip, &ad);
			have = zones_mask(set, &ad);
			parsed = 1;
		}
		if (n == strlen(KH_POLICY_ZONE_INTERNET) &&
		    memcmp(p, KH_POLICY_ZONE_INTERNET, n) == 0) {
			if (have == 0)
				return 1;
		} else if (set != NULL && (z = zone_index(set, p, n)) >= 0 &&
		    (have & ((uint64_t)1 << z)) != 0)
			return 1;
	}
	return 0;
}

void
kh_policy_zones_of(const struct kh_policy_set *set, const char *ip, char *out, size_t outlen)
{
	struct pol_addr ad;
	uint64_t have;
	size_t z, used = 0, n;

	if (out == NULL || outlen == 0)
		return;
	out[0] = '\0';
	addr_parse(ip, &ad);
	if ((have = zones_mask(set, &ad)) == 0) {
		kh_strlcpy(out, KH_POLICY_ZONE_INTERNET, outlen);
		return;
	}
	/* whole names only: a truncated list never names a zone it is not in */
	for (z = 0; z < set->nzones; z++) {
		if ((have & ((uint64_t)1 << z)) == 0)
			continue;
		n = strlen(set->zones[z].name);
		if (used + (used > 0) + n + 1 > outlen)
			break;
		if (used > 0)
			out[used++] = ' ';
		memcpy(out + used, set->zones[z].name, n + 1);
		used += n;
	}
}

void
kh_policy_managed_header(const struct kh_policy_set *set, const char **name, const char **value)
{
	if (name != NULL)
		*name = set != NULL ? set->header_name : NULL;
	if (value != NULL)
		*value = set != NULL && set->header_name != NULL ? set->header_value : NULL;
}

const char *
kh_policy_action_name(enum kh_policy_action a)
{
	switch (a) {
	case KH_POLICY_DENY: return "deny";
	case KH_POLICY_ALLOW: return "allow";
	case KH_POLICY_MFA: return "mfa";
	}
	return "unknown";
}

/* ---- freeing ------------------------------------------------------------- */

static void
strs_free(struct pol_strs *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].s);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

void
kh_policy_free(struct kh_policy_set *set)
{
	size_t i, j;

	if (set == NULL)
		return;
	for (i = 0; i < set->nzones; i++)
		free(set->zones[i].nets);
	for (i = 0; i < set->npolicies; i++) {
		for (j = 0; j < set->policies[i].nrules; j++) {
			strs_free(&set->policies[i].rules[j].groups);
			strs_free(&set->policies[i].rules[j].not_groups);
		}
		free(set->policies[i].rules);
	}
	free(set->policies);
	free(set->names);
	free(set->header_name);
	free(set->header_value);
	free(set);
}

/* ---- loading ------------------------------------------------------------- */

struct ld {
	const char *file; /* prefix of messages, or NULL */
	char *err;
	size_t errlen;
	struct kh_policy_set *set;
};

__attribute__((format(printf, 2, 3))) static int
ld_fail(struct ld *l, const char *fmt, ...)
{
	va_list ap;
	size_t off = 0;
	int n;

	if (l->err == NULL || l->errlen == 0)
		return KH_ERR_CONFIG;
	l->err[0] = '\0';
	if (l->file != NULL && (n = snprintf(l->err, l->errlen, "%s: ", l->file)) > 0)
		off = (size_t)n < l->errlen ? (size_t)n : l->errlen - 1;
	va_start(ap, fmt);
	vsnprintf(l->err + off, l->errlen - off, fmt, ap);
	va_end(ap);
	return KH_ERR_CONFIG;
}

/* Untrusted text made safe for a message: control bytes (and with quotes,
 * '"' and '\\') become '?', bytes >= 0x80 are kept only in valid UTF-8, long
 * values are cut (at a character boundary) and end in "...". */
static const char *
show_max(char *buf, size_t size, const char *s, size_t max, int quotes)
{
	size_t i, n = strlen(s), o = 0;
	int utf8 = kh_utf8_valid_text(s, n);

	if (n > max) {
		n = max;
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--;
	}
	for (i = 0; i < n && o + 1 < size; i++) {
		unsigned char c = (unsigned char)s[i];
		buf[o++] = (c < 0x20 || c == 0x7f || (quotes && (c == '"' || c == '\\')) ||
			       (c >= 0x80 && !utf8))
		    ? '?'
		    : (char)c;
	}
	if (n < strlen(s) && o + 4 < size) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static const char *
show(char *buf, size_t size, const char *s)
{
	return show_max(buf, size, s, 48, 1);
}

/* Refuses keys of o that are not in allowed (NULL-terminated). */
static int
check_keys(struct ld *l, json_t *o, const char *where, const char *const *allowed)
{
	const char *key;
	json_t *v;
	char b[200];
	size_t i;

	json_object_foreach(o, key, v)
	{
		for (i = 0; allowed[i] != NULL; i++)
			if (strcmp(key, allowed[i]) == 0)
				break;
		if (allowed[i] == NULL)
			return ld_fail(l, "%s: unknown key \"%s\"", where, show(b, sizeof(b), key));
	}
	return KH_OK;
}

static int
name_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n <= KH_POLICY_NAME_MAX && strspn(s, NAME_CHARS) == n;
}

static int
parse_prefix(const char *s, unsigned max, unsigned *out)
{
	size_t n = strlen(s);
	unsigned v = 0;
	size_t i;

	if (n == 0 || n > 3 || strspn(s, "0123456789") != n || (n > 1 && s[0] == '0'))
		return -1;
	for (i = 0; i < n; i++)
		v = v * 10 + (unsigned)(s[i] - '0');
	if (v > max)
		return -1;
	*out = v;
	return 0;
}

/* "a.b.c.d/len" or "x:y::/len" (a bare address is a single host). */
static int
parse_cidr(struct ld *l, const char *where, const char *text, struct pol_net *net)
{
	static const uint8_t mapped[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };
	char addr[INET6_ADDRSTRLEN + 1], b[200], shown[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t alen = slash ? (size_t)(slash - text) : strlen(text), i, len;
	uint8_t bin[16], host = 0;
	unsigned prefix, max;
	int af;

	memset(net, 0, sizeof(*net));
	if (alen == 0 || alen >= sizeof(addr))
		goto bad;
	memcpy(addr, text, alen);
	addr[alen] = '\0';
	if (inet_pton(AF_INET, addr, bin) == 1)
		af = AF_INET;
	else if (inet_pton(AF_INET6, addr, bin) == 1)
		af = AF_INET6;
	else
		goto bad;
	max = af == AF_INET ? 32 : 128;
	if (slash == NULL)
		prefix = max;
	else if (parse_prefix(slash + 1, 999, &prefix) != 0)
		goto bad;
	else if (prefix > max)
		return ld_fail(l, "%s: \"%s\": the prefix length of an %s network is 0 to %u",
		    where, show(b, sizeof(b), text), af == AF_INET ? "IPv4" : "IPv6", max);
	/* ::ffff:a.b.c.d/96+ is written for IPv4 clients: keep it as IPv4 */
	if (af == AF_INET6 && prefix >= 96 && memcmp(bin, mapped, sizeof(mapped)) == 0) {
		memmove(bin, bin + 12, 4);
		prefix -= 96;
		af = AF_INET;
	}
	net->v6 = af == AF_INET6;
	len = net->v6 ? 16 : 4;
	for (i = 0; i < len; i++) {
		unsigned bits = prefix >= 8 * (i + 1) ? 8 : prefix > 8 * i ? prefix - 8 * i : 0;
		net->mask[i] = (uint8_t)(bits == 0 ? 0 : 0xff << (8 - bits));
		net->addr[i] = bin[i] & net->mask[i];
		host |= bin[i] & (uint8_t)~net->mask[i];
	}
	if (host != 0) {
		if (inet_ntop(af, net->addr, shown, sizeof(shown)) == NULL)
			kh_strlcpy(shown, "?", sizeof(shown));
		return ld_fail(l,
		    "%s: \"%s\" has host bits set; the network is %s/%u (write that, or /%u for "
		    "one host)",
		    where, show(b, sizeof(b), text), shown, prefix, af == AF_INET ? 32 : 128);
	}
	return KH_OK;
bad:
	return ld_fail(l, "%s: \"%s\" is not an IPv4 or IPv6 network (a.b.c.d/len or x:y::/len)",
	    where, show(b, sizeof(b), text));
}

static int
load_zones(struct ld *l, json_t *zones)
{
	struct kh_policy_set *set = l->set;
	struct pol_zone *z;
	const char *key, *s;
	json_t *list, *e;
	char where[80], at[112], b[200];
	size_t i;
	int r;

	if (!json_is_object(zones))
		return ld_fail(l, "zones: expected an object of zone name: [CIDR, ...]");
	if (json_object_size(zones) > ZONES_MAX)
		return ld_fail(l, "zones: more than %d zones", ZONES_MAX);
	json_object_foreach(zones, key, list)
	{
		if (strcmp(key, KH_POLICY_ZONE_INTERNET) == 0)
			return ld_fail(l,
			    "zones: \"%s\" is reserved (it means an address in no named zone)",
			    KH_POLICY_ZONE_INTERNET);
		if (!name_ok(key))
			return ld_fail(l, "zones: zone name \"%s\" must be 1 to %d of a-z 0-9 _ -",
			    show(b, sizeof(b), key), KH_POLICY_NAME_MAX);
		snprintf(where, sizeof(where), "zones.%s", key);
		if (!json_is_array(list))
			return ld_fail(l, "%s: expected an array of CIDR strings", where);
		if (json_array_size(list) == 0)
			return ld_fail(l, "%s: lists no network", where);
		if (json_array_size(list) > ZONE_NETS_MAX)
			return ld_fail(l, "%s: more than %d networks", where, ZONE_NETS_MAX);
		z = &set->zones[set->nzones];
		kh_strlcpy(z->name, key, sizeof(z->name));
		if ((z->nets = calloc(json_array_size(list), sizeof(*z->nets))) == NULL)
			return KH_ERR_NOMEM;
		set->nzones++;
		json_array_foreach(list, i, e)
		{
			snprintf(at, sizeof(at), "%s[%zu]", where, i);
			if ((s = json_string_value(e)) == NULL)
				return ld_fail(l, "%s: expected a CIDR string", at);
			if ((r = parse_cidr(l, at, s, &z->nets[i])) != KH_OK)
				return r;
			z->nnets++;
		}
	}
	return KH_OK;
}

static int
header_name_ok(const char *s)
{
	static const char tchar[] = "!#$%&'*+-.^_`|~0123456789"
				    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
	size_t n = strlen(s);

	return n > 0 && n <= HEADER_NAME_MAX && strspn(s, tchar) == n;
}

static int
header_value_ok(const char *s)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > HEADER_VALUE_MAX || s[0] == ' ' || s[n - 1] == ' ')
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
load_managed_device(struct ld *l, json_t *md)
{
	static const char *const keys[] = { "header", "value", NULL };
	const char *name, *value;
	int r;

	if (!json_is_object(md))
		return ld_fail(
		    l, "managed_device: expected an object {\"header\": ..., \"value\": ...}");
	if ((r = check_keys(l, md, "managed_device", keys)) != KH_OK)
		return r;
	name = json_string_value(json_object_get(md, "header"));
	value = json_string_value(json_object_get(md, "value"));
	if (name == NULL)
		return ld_fail(l, "managed_device.header: a header name (string) is required");
	if (!header_name_ok(name))
		return ld_fail(l,
		    "managed_device.header: not an HTTP header name of 1 to %d characters",
		    HEADER_NAME_MAX);
	if (value == NULL)
		return ld_fail(l, "managed_device.value: a value (string) is required");
	if (!header_value_ok(value))
		return ld_fail(l,
		    "managed_device.value: expected 1 to %d printable ASCII characters",
		    HEADER_VALUE_MAX);
	if ((l->set->header_name = strdup(name)) == NULL ||
	    (l->set->header_value = strdup(value)) == NULL)
		return KH_ERR_NOMEM;
	return KH_OK;
}

/* A non-empty array of at most max strings. */
static int
check_list(struct ld *l, json_t *a, const char *where, size_t max)
{
	size_t i;
	json_t *e;

	if (!json_is_array(a))
		return ld_fail(l, "%s: expected an array of strings", where);
	if (json_array_size(a) == 0)
		return ld_fail(l, "%s: empty list (leave the condition out instead)", where);
	if (json_array_size(a) > max)
		return ld_fail(l, "%s: more than %zu entries", where, max);
	json_array_foreach(a, i, e)
	{
		if (!json_is_string(e))
			return ld_fail(l, "%s[%zu]: expected a string", where, i);
	}
	return KH_OK;
}

static int
load_groups(struct ld *l, json_t *a, const char *where, struct pol_strs *out)
{
	const char *s;
	size_t i, n;
	json_t *e;
	int r;

	if ((r = check_list(l, a, where, NAMES_MAX)) != KH_OK)
		return r;
	if ((out->v = calloc(json_array_size(a), sizeof(*out->v))) == NULL)
		return KH_ERR_NOMEM;
	json_array_foreach(a, i, e)
	{
		s = json_string_value(e);
		n = strlen(s);
		if (n == 0 || n > GROUP_NAME_MAX || !kh_utf8_valid_text(s, n))
			return ld_fail(l,
			    "%s[%zu]: a group name is 1 to %d bytes of UTF-8 text without "
			    "control characters",
			    where, i, GROUP_NAME_MAX);
		if ((out->v[i].s = strdup(s)) == NULL)
			return KH_ERR_NOMEM;
		out->v[i].n = n;
		out->n++;
	}
	return KH_OK;
}

static int
load_zone_list(struct ld *l, json_t *a, const char *where, uint64_t *mask, int *internet)
{
	const char *s;
	char b[200];
	size_t i;
	json_t *e;
	int r, z;

	if ((r = check_list(l, a, where, ZONE_LIST_MAX)) != KH_OK)
		return r;
	json_array_foreach(a, i, e)
	{
		s = json_string_value(e);
		if (strcmp(s, KH_POLICY_ZONE_INTERNET) == 0)
			*internet = 1;
		else if ((z = zone_index(l->set, s, strlen(s))) >= 0)
			*mask |= (uint64_t)1 << z;
		else
			return ld_fail(l, "%s[%zu]: unknown zone \"%s\" (not in \"zones\")", where,
			    i, show(b, sizeof(b), s));
	}
	return KH_OK;
}

static int
load_devices(struct ld *l, json_t *a, const char *where, unsigned *out)
{
	const char *s;
	char b[200];
	size_t i, d;
	json_t *e;
	int r;

	if ((r = check_list(l, a, where, 3)) != KH_OK)
		return r;
	json_array_foreach(a, i, e)
	{
		s = json_string_value(e);
		for (d = 0; d < sizeof(device_names) / sizeof(device_names[0]); d++)
			if (strcmp(s, device_names[d]) == 0)
				break;
		if (d == sizeof(device_names) / sizeof(device_names[0]))
			return ld_fail(l,
			    "%s[%zu]: unknown device \"%s\" (managed, remembered or unmanaged)",
			    where, i, show(b, sizeof(b), s));
		*out |= 1u << d;
	}
	return KH_OK;
}

static int
load_rule(struct ld *l, json_t *o, const char *where, struct pol_rule *rule)
{
	static const char *const keys[] = { "groups", "not_groups", "zone", "not_zone", "device",
		"action", "reason", NULL };
	char at[128], b[200];
	const char *s;
	json_t *v;
	size_t i;
	int r;

	if (!json_is_object(o))
		return ld_fail(l, "%s: expected an object", where);
	if ((r = check_keys(l, o, where, keys)) != KH_OK)
		return r;
	if ((v = json_object_get(o, "groups")) != NULL) {
		snprintf(at, sizeof(at), "%s.groups", where);
		if ((r = load_groups(l, v, at, &rule->groups)) != KH_OK)
			return r;
		rule->conds |= COND_GROUPS;
	}
	if ((v = json_object_get(o, "not_groups")) != NULL) {
		snprintf(at, sizeof(at), "%s.not_groups", where);
		if ((r = load_groups(l, v, at, &rule->not_groups)) != KH_OK)
			return r;
		rule->conds |= COND_NOT_GROUPS;
	}
	if (rule->groups.n + rule->not_groups.n > NAMES_MAX)
		return ld_fail(l, "%s: more than %d group names (groups and not_groups together)",
		    where, NAMES_MAX);
	if ((v = json_object_get(o, "zone")) != NULL) {
		snprintf(at, sizeof(at), "%s.zone", where);
		if ((r = load_zone_list(l, v, at, &rule->zone, &rule->zone_internet)) != KH_OK)
			return r;
		rule->conds |= COND_ZONE;
	}
	if ((v = json_object_get(o, "not_zone")) != NULL) {
		snprintf(at, sizeof(at), "%s.not_zone", where);
		if ((r = load_zone_list(l, v, at, &rule->not_zone, &rule->not_zone_internet)) !=
		    KH_OK)
			return r;
		rule->conds |= COND_NOT_ZONE;
	}
	if ((v = json_object_get(o, "device")) != NULL) {
		snprintf(at, sizeof(at), "%s.device", where);
		if ((r = load_devices(l, v, at, &rule->device)) != KH_OK)
			return r;
		rule->conds |= COND_DEVICE;
	}

	if ((v = json_object_get(o, "action")) == NULL)
		return ld_fail(l, "%s: \"action\" is required (allow, mfa or deny)", where);
	if ((s = json_string_value(v)) == NULL)
		return ld_fail(l, "%s.action: expected a string (allow, mfa or deny)", where);
	if (strcmp(s, "allow") == 0)
		rule->action = KH_POLICY_ALLOW;
	else if (strcmp(s, "mfa") == 0)
		rule->action = KH_POLICY_MFA;
	else if (strcmp(s, "deny") == 0)
		rule->action = KH_POLICY_DENY;
	else
		return ld_fail(l, "%s.action: unknown action \"%s\" (allow, mfa or deny)", where,
		    show(b, sizeof(b), s));

	rule->reason = "policy";
	if ((v = json_object_get(o, "reason")) != NULL) {
		if ((s = json_string_value(v)) == NULL)
			return ld_fail(l, "%s.reason: expected a string", where);
		for (i = 0; i < sizeof(reasons) / sizeof(reasons[0]); i++)
			if (strcmp(s, reasons[i]) == 0)
				break;
		if (i == sizeof(reasons) / sizeof(reasons[0]))
			return ld_fail(l,
			    "%s.reason: unknown reason \"%s\" (managed_device, network, group or "
			    "policy)",
			    where, show(b, sizeof(b), s));
		rule->reason = reasons[i];
	}
	return KH_OK;
}

static int
load_policy(struct ld *l, const char *name, json_t *o, struct pol_policy *p)
{
	static const char *const keys[] = { "description", "rules", NULL };
	char where[80], at[112];
	const char *desc;
	json_t *rules, *v;
	size_t i;
	int r;

	snprintf(where, sizeof(where), "policies.%s", name);
	kh_strlcpy(p->name, name, sizeof(p->name));
	if (!json_is_object(o))
		return ld_fail(l, "%s: expected an object {\"rules\": [...]}", where);
	if ((r = check_keys(l, o, where, keys)) != KH_OK)
		return r;
	if ((v = json_object_get(o, "description")) != NULL) {
		if ((desc = json_string_value(v)) == NULL)
			return ld_fail(l, "%s.description: expected a string", where);
		if (strlen(desc) > DESCRIPTION_MAX || !kh_utf8_valid_text(desc, strlen(desc)))
			return ld_fail(l,
			    "%s.description: at most %d bytes of UTF-8 text without control "
			    "characters",
			    where, DESCRIPTION_MAX);
	}
	if ((rules = json_object_get(o, "rules")) == NULL)
		return ld_fail(l, "%s: \"rules\" is required", where);
	if (!json_is_array(rules))
		return ld_fail(l, "%s.rules: expected an array of rules", where);
	if (json_array_size(rules) == 0)
		return ld_fail(l,
		    "%s.rules: no rules (write [{\"action\": \"deny\"}] for a policy that refuses "
		    "everyone)",
		    where);
	if (json_array_size(rules) > RULES_MAX)
		return ld_fail(l, "%s.rules: more than %d rules", where, RULES_MAX);
	if ((p->rules = calloc(json_array_size(rules), sizeof(*p->rules))) == NULL)
		return KH_ERR_NOMEM;
	json_array_foreach(rules, i, v)
	{
		snprintf(at, sizeof(at), "%s.rules[%zu]", where, i);
		/* counted first: a half-loaded rule is freed with the set */
		p->nrules++;
		if ((r = load_rule(l, v, at, &p->rules[i])) != KH_OK)
			return r;
	}
	return KH_OK;
}

static int
policy_sort_cmp(const void *a, const void *b)
{
	return strcmp(((const struct pol_policy *)a)->name, ((const struct pol_policy *)b)->name);
}

static int
load_policies(struct ld *l, json_t *pols)
{
	struct kh_policy_set *set = l->set;
	const char *key;
	char b[200];
	json_t *o;
	size_t i;
	int r;

	if (!json_is_object(pols))
		return ld_fail(
		    l, "policies: expected an object of policy name: {\"rules\": [...]}");
	if (json_object_size(pols) == 0)
		return ld_fail(l, "policies: no policy defined");
	if (json_object_size(pols) > POLICIES_MAX)
		return ld_fail(l, "policies: more than %d policies", POLICIES_MAX);
	if ((set->policies = calloc(json_object_size(pols), sizeof(*set->policies))) == NULL ||
	    (set->names = calloc(json_object_size(pols) + 1, sizeof(*set->names))) == NULL)
		return KH_ERR_NOMEM;
	json_object_foreach(pols, key, o)
	{
		if (!name_ok(key))
			return ld_fail(l,
			    "policies: policy name \"%s\" must be 1 to %d of a-z 0-9 _ -",
			    show(b, sizeof(b), key), KH_POLICY_NAME_MAX);
		set->npolicies++;
		if ((r = load_policy(l, key, o, &set->policies[set->npolicies - 1])) != KH_OK)
			return r;
	}
	qsort(set->policies, set->npolicies, sizeof(*set->policies), policy_sort_cmp);
	for (i = 0; i < set->npolicies; i++)
		set->names[i] = set->policies[i].name;
	return KH_OK;
}

static int
load_doc(struct ld *l, json_t *doc)
{
	static const char *const keys[] = { "zones", "managed_device", "policies", "default_policy",
		NULL };
	const struct pol_policy *def;
	const char *name;
	char b[200];
	json_t *v;
	int r;

	if (!json_is_object(doc))
		return ld_fail(l, "top level: expected a JSON object");
	if ((r = check_keys(l, doc, "top level", keys)) != KH_OK)
		return r;
	if ((v = json_object_get(doc, "zones")) != NULL && (r = load_zones(l, v)) != KH_OK)
		return r;
	if ((v = json_object_get(doc, "managed_device")) != NULL &&
	    (r = load_managed_device(l, v)) != KH_OK)
		return r;
	if ((v = json_object_get(doc, "policies")) == NULL)
		return ld_fail(l, "top level: \"policies\" is required");
	if ((r = load_policies(l, v)) != KH_OK)
		return r;
	if ((v = json_object_get(doc, "default_policy")) == NULL)
		return ld_fail(l, "top level: \"default_policy\" is required");
	if ((name = json_string_value(v)) == NULL)
		return ld_fail(l, "default_policy: expected a policy name (string)");
	if ((def = policy_find(l->set, name)) == NULL)
		return ld_fail(l, "default_policy: no policy \"%s\" in \"policies\"",
		    show(b, sizeof(b), name));
	l->set->default_idx = (size_t)(def - l->set->policies);
	return KH_OK;
}

static int
load_text(const char *file, const char *json, size_t len, struct kh_policy_set **out, char *err,
    size_t errlen)
{
	struct ld l;
	json_error_t jerr;
	json_t *doc = NULL;
	char text[sizeof(jerr.text) + 4];
	int r = KH_ERR_INTERNAL;

	memset(&l, 0, sizeof(l));
	l.file = file;
	l.err = err;
	l.errlen = errlen;
	if (json == NULL) {
		r = ld_fail(&l, "no document");
		goto out;
	}
	if (len > KH_POLICY_DOC_MAX) {
		r = ld_fail(&l, "larger than %d bytes", KH_POLICY_DOC_MAX);
		goto out;
	}
	if ((doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL) {
		/* jansson quotes the input near the error */
		r = ld_fail(&l, "line %d column %d: %s", jerr.line, jerr.column,
		    show_max(text, sizeof(text), jerr.text, sizeof(jerr.text), 0));
		goto out;
	}
	if ((l.set = calloc(1, sizeof(*l.set))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	if ((r = load_doc(&l, doc)) != KH_OK)
		goto out;
	*out = l.set;
	l.set = NULL; /* transferred */
	r = KH_OK;
out:
	if (r == KH_ERR_NOMEM)
		ld_fail(&l, "out of memory");
	kh_policy_free(l.set);
	json_decref(doc);
	return r;
}

int
kh_policy_load_json(
    const char *json, size_t len, struct kh_policy_set **out, char *err, size_t errlen)
{
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return KH_ERR_INTERNAL;
	*out = NULL;
	return load_text(NULL, json, len, out, err, errlen);
}

int
kh_policy_load(const char *path, struct kh_policy_set **out, char *err, size_t errlen)
{
	struct stat st;
	char *text = NULL;
	size_t len = 0;
	ssize_t n;
	int fd = -1, r = KH_ERR_CONFIG;

	if (err != NULL && errlen > 0)
		err[0] = '\0';
	if (out == NULL)
		return KH_ERR_INTERNAL;
	*out = NULL;
	if (path == NULL || *path == '\0')
		return load_text("built-in default policy", kh_policy_default_json,
		    strlen(kh_policy_default_json), out, err, errlen);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
		goto out;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: not a regular file", path);
		goto out;
	}
	/* one byte over the cap tells "too large" apart from "exactly the cap" */
	if ((text = malloc(KH_POLICY_DOC_MAX + 1)) == NULL) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", path);
		r = KH_ERR_NOMEM;
		goto out;
	}
	while (len < KH_POLICY_DOC_MAX + 1) {
		n = read(fd, text + len, KH_POLICY_DOC_MAX + 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	r = load_text(path, text, len, out, err, errlen);
out:
	if (fd >= 0)
		close(fd);
	free(text);
	return r;
}
