/* Group names for an identity:
 *  - memberof: the memberOf values of the user entry (already fetched with
 *    the user search, no extra round trip); the name is the value of each
 *    group DN's first RDN (cn=総務部,ou=groups,... gives 総務部);
 *  - search:   groups under group_base matching (&group_filter(member=DN)),
 *    the name from group_name_attr;
 *  - nested_groups with active_directory: the search above with the
 *    in-chain matching rule, whatever group_mode says (memberOf is not
 *    transitive on AD).
 * More than KH_LDAP_GROUPS_MAX groups is an error: a truncated list could
 * silently change an access decision. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/ldap/ldap_internal.h"

static int
add_group(struct kh_identity *id, char *name)
{
	char **g;

	if (id->ngroups >= KH_LDAP_GROUPS_MAX) {
		free(name);
		kh_warn("ldap.too_many_groups", "dn", id->dn, NULL);
		return KH_ERR_TOO_LARGE;
	}
	if ((g = reallocarray(id->groups, id->ngroups + 2, sizeof(*g))) == NULL) {
		free(name);
		return KH_ERR_NOMEM;
	}
	id->groups = g;
	g[id->ngroups++] = name;
	g[id->ngroups] = NULL;
	return KH_OK;
}

static int
groups_memberof(LDAP *ld, LDAPMessage *e, struct kh_identity *id)
{
	struct berval **vals;
	char *name;
	size_t i;
	int r = KH_OK;

	if ((vals = ldap_get_values_len(ld, e, "memberOf")) == NULL)
		return KH_OK;
	for (i = 0; vals[i] != NULL; i++) {
		r = kh_ldap_group_name_from_dn(vals[i]->bv_val, vals[i]->bv_len, &name);
		if (r == KH_ERR_INVALID) {
			r = KH_OK; /* skip values we cannot read */
			continue;
		}
		if (r != KH_OK || (r = add_group(id, name)) != KH_OK)
			break;
	}
	ldap_value_free_len(vals);
	return r;
}

static int
groups_search(struct kh_connector *c, struct kh_ldap_thread *t, struct kh_identity *id)
{
	LDAPMessage *res = NULL, *e;
	LDAP *ld = NULL;
	char *filter = NULL, *attrs[2], *name;
	struct berval **vals;
	size_t i;
	int ldrc, r;

	if ((r = kh_ldap_group_filter(c->group_filter, id->dn, c->nested_ad, &filter)) != KH_OK)
		return r;
	attrs[0] = c->group_name_attr;
	attrs[1] = NULL;
	r = kh_ldap_search(c, t, *c->group_base != '\0' ? c->group_base : c->base_dn,
	    LDAP_SCOPE_SUBTREE, filter, attrs, KH_LDAP_GROUPS_MAX + 1, &ld, &res, &ldrc);
	if (r != KH_OK)
		goto out;
	if (ldrc == LDAP_SIZELIMIT_EXCEEDED) {
		kh_warn("ldap.too_many_groups", "dn", id->dn, NULL);
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	for (e = ldap_first_entry(ld, res); e != NULL; e = ldap_next_entry(ld, e)) {
		if ((vals = ldap_get_values_len(ld, e, c->group_name_attr)) == NULL)
			continue;
		name = NULL;
		for (i = 0; vals[i] != NULL; i++) {
			if (vals[i]->bv_len == 0 || vals[i]->bv_len > KH_LDAP_VALUE_MAX ||
			    !kh_utf8_valid_text(vals[i]->bv_val, vals[i]->bv_len))
				continue;
			if ((name = strndup(vals[i]->bv_val, vals[i]->bv_len)) == NULL)
				r = KH_ERR_NOMEM;
			break;
		}
		ldap_value_free_len(vals);
		if (r != KH_OK)
			goto out;
		if (name != NULL && (r = add_group(id, name)) != KH_OK)
			goto out;
	}
	r = KH_OK;
out:
	ldap_msgfree(res);
	free(filter);
	return r;
}

/* ld and e: the handle and the user entry from the user search. */
int
kh_ldap_groups(struct kh_connector *c, struct kh_ldap_thread *t, LDAP *ld, LDAPMessage *e,
    struct kh_identity *id)
{
	if (c->group_mode == KH_LDAP_GROUPS_NONE)
		return KH_OK;
	if (c->nested_ad || c->group_mode == KH_LDAP_GROUPS_SEARCH)
		return groups_search(c, t, id);
	return groups_memberof(ld, e, id);
}
