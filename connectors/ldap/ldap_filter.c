/* Input checks and LDAP filter construction. Pure functions: nothing here
 * talks to a server, so all of it is unit-tested (tests/unit/test_ldap.c). */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/errors.h"
#include "common/str.h"
#include "connectors/ldap/ldap_internal.h"

/* 1 when s[0..n) is a usable credential: non-empty, at most max bytes,
 * well-formed UTF-8 with no NUL or control characters. */
int
kh_ldap_input_ok(const char *s, size_t n, size_t max)
{
	if (s == NULL || n == 0 || n > max)
		return 0;
	return kh_utf8_valid_text(s, n);
}

/* Appends value escaped as an LDAP filter assertion value (RFC 4515) by
 * libldap: * ( ) \ NUL and every non-ASCII byte become \hh. */
static int
append_escaped(struct kh_buf *b, const char *value, size_t n)
{
	struct berval in, out = { 0, NULL };
	int r;

	in.bv_val = (char *)value;
	in.bv_len = n;
	if (ldap_bv2escaped_filter_value(&in, &out) != 0 || out.bv_val == NULL)
		return KH_ERR_NOMEM;
	r = kh_buf_append(b, out.bv_val, out.bv_len);
	ber_memfree(out.bv_val);
	return r;
}

/* (&(ATTR=escaped value)USER_FILTER), or (ATTR=escaped value) without a
 * user filter. The caller has checked value with kh_ldap_input_ok. */
int
kh_ldap_user_filter(
    const char *attr, const char *value, size_t n, const char *user_filter, char **out)
{
	struct kh_buf b;
	int and = user_filter != NULL && *user_filter != '\0';
	int r;

	*out = NULL;
	if (attr == NULL || *attr == '\0' || value == NULL)
		return KH_ERR_INVALID;
	kh_buf_init(&b, KH_LDAP_FILTER_MAX);
	if ((r = kh_buf_appendf(&b, "%s(%s=", and? "(&" : "", attr)) != KH_OK ||
	    (r = append_escaped(&b, value, n)) != KH_OK ||
	    (r = kh_buf_append_str(&b, ")")) != KH_OK)
		goto out;
	if (and&&((r = kh_buf_append_str(&b, user_filter)) != KH_OK ||
		(r = kh_buf_append_str(&b, ")")) != KH_OK))
		goto out;
	if ((*out = kh_buf_steal(&b, NULL)) == NULL)
		r = KH_ERR_NOMEM;
out:
	kh_buf_free(&b);
	return r;
}

/* (&GROUP_FILTER(member=escaped DN)); with nested_ad the Active Directory
 * LDAP_MATCHING_RULE_IN_CHAIN form (member:1.2.840.113556.1.4.1941:=DN), which
 * makes AD return every group the DN belongs to, directly or through others. */
int
kh_ldap_group_filter(const char *group_filter, const char *member_dn, int nested_ad, char **out)
{
	struct kh_buf b;
	int and = group_filter != NULL && *group_filter != '\0';
	int r;

	*out = NULL;
	if (member_dn == NULL || *member_dn == '\0')
		return KH_ERR_INVALID;
	kh_buf_init(&b, KH_LDAP_FILTER_MAX);
	if (and&&((r = kh_buf_append_str(&b, "(&")) != KH_OK ||
		(r = kh_buf_append_str(&b, group_filter)) != KH_OK))
		goto out;
	if ((r = kh_buf_append_str(
		 &b, nested_ad ? "(member:" KH_LDAP_AD_IN_CHAIN ":=" : "(member=")) != KH_OK ||
	    (r = append_escaped(&b, member_dn, strlen(member_dn))) != KH_OK ||
	    (r = kh_buf_append_str(&b, and? "))" : ")")) != KH_OK)
		goto out;
	if ((*out = kh_buf_steal(&b, NULL)) == NULL)
		r = KH_ERR_NOMEM;
out:
	kh_buf_free(&b);
	return r;
}

/* The value of the first RDN of a group DN (cn=総務部,ou=groups,... gives
 * 総務部), unescaped by libldap's DN parser. KH_ERR_INVALID for a DN that
 * does not parse, a binary (#hex) value, or a value that is not clean UTF-8. */
int
kh_ldap_group_name_from_dn(const char *dn, size_t n, char **out)
{
	struct berval bv;
	LDAPDN parsed = NULL;
	LDAPAVA *ava;
	int r = KH_ERR_INVALID;

	*out = NULL;
	if (dn == NULL || n == 0 || n > KH_LDAP_DN_MAX || !kh_utf8_valid_text(dn, n))
		return KH_ERR_INVALID;
	bv.bv_val = (char *)dn;
	bv.bv_len = n;
	if (ldap_bv2dn(&bv, &parsed, LDAP_DN_FORMAT_LDAPV3) != LDAP_SUCCESS || parsed == NULL ||
	    parsed[0] == NULL || parsed[0][0] == NULL)
		goto out;
	ava = parsed[0][0];
	if ((ava->la_flags & LDAP_AVA_BINARY) != 0 || ava->la_value.bv_len == 0 ||
	    ava->la_value.bv_len > KH_LDAP_VALUE_MAX ||
	    !kh_utf8_valid_text(ava->la_value.bv_val, ava->la_value.bv_len))
		goto out;
	if ((*out = strndup(ava->la_value.bv_val, ava->la_value.bv_len)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	r = KH_OK;
out:
	if (parsed != NULL)
		ldap_dnfree(parsed);
	return r;
}
