/* Builds a kh_identity from a directory entry through the attribute map.
 * Directory replies are untrusted: a missing attribute leaves the field NULL,
 * of several values the first usable one is taken, and values that are empty,
 * too long, not UTF-8 or carry control characters are skipped. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/ldap/ldap_internal.h"

/* First usable value of attr, or NULL (also when attr is not mapped).
 * Returns KH_ERR_NOMEM only on allocation failure. */
static int
first_value(LDAP *ld, LDAPMessage *e, const char *attr, char **out)
{
	struct berval **vals;
	size_t i;
	int r = KH_OK;

	*out = NULL;
	if (attr == NULL || (vals = ldap_get_values_len(ld, e, attr)) == NULL)
		return KH_OK;
	for (i = 0; vals[i] != NULL; i++) {
		struct berval *v = vals[i];
		if (v->bv_len == 0 || v->bv_len > KH_LDAP_VALUE_MAX ||
		    !kh_utf8_valid_text(v->bv_val, v->bv_len))
			continue;
		if ((*out = strndup(v->bv_val, v->bv_len)) == NULL)
			r = KH_ERR_NOMEM;
		break;
	}
	ldap_value_free_len(vals);
	return r;
}

int
kh_ldap_entry_identity(struct kh_connector *c, LDAP *ld, LDAPMessage *e, struct kh_identity **out)
{
	struct kh_identity *id = NULL;
	char **fields[KH_LDAP_ATTR_N];
	char *dn = NULL;
	size_t i, dnlen;
	int r = KH_ERR_NOMEM;

	*out = NULL;
	if ((id = calloc(1, sizeof(*id))) == NULL ||
	    (id->groups = calloc(1, sizeof(*id->groups))) == NULL)
		goto out;
	if ((dn = ldap_get_dn(ld, e)) == NULL) {
		r = KH_ERR_INVALID;
		goto out;
	}
	dnlen = strlen(dn);
	if (dnlen == 0 || dnlen > KH_LDAP_DN_MAX || !kh_utf8_valid_text(dn, dnlen)) {
		kh_warn("ldap.entry_invalid", "reason", "DN is not clean UTF-8", NULL);
		r = KH_ERR_INVALID;
		goto out;
	}
	if ((id->dn = strdup(dn)) == NULL)
		goto out;
	if ((r = first_value(ld, e, c->login_attr, &id->uid)) != KH_OK)
		goto out;
	if (id->uid == NULL) {
		kh_warn("ldap.entry_invalid", "dn", id->dn, "reason",
		    "no usable value of the login attribute", "attr", c->login_attr, NULL);
		r = KH_ERR_INVALID;
		goto out;
	}
	fields[KH_LDAP_ATTR_DISPLAY_NAME] = &id->display_name;
	fields[KH_LDAP_ATTR_FAMILY_NAME] = &id->family_name;
	fields[KH_LDAP_ATTR_GIVEN_NAME] = &id->given_name;
	fields[KH_LDAP_ATTR_MAIL] = &id->mail;
	fields[KH_LDAP_ATTR_EMPLOYEE_NUMBER] = &id->employee_number;
	fields[KH_LDAP_ATTR_DEPARTMENT] = &id->department;
	fields[KH_LDAP_ATTR_TITLE] = &id->title;
	for (i = 0; i < KH_LDAP_ATTR_N; i++) {
		if ((r = first_value(ld, e, c->attr[i], fields[i])) != KH_OK)
			goto out;
	}
	*out = id;
	id = NULL; /* transferred */
	r = KH_OK;
out:
	if (dn != NULL)
		ldap_memfree(dn);
	kh_identity_free(id);
	return r;
}
