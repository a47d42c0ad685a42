/* kh_connector_authenticate and kh_connector_lookup: check the input, find
 * exactly one entry with the service account, bind as it on a separate
 * handle, then map the entry to an identity. */
#include <stdlib.h>
#include <string.h>

#include "common/errors.h"
#include "common/log.h"
#include "connectors/ldap/ldap_internal.h"

/* Finds the one entry for username. KH_ERR_NOT_FOUND for none or several;
 * on KH_OK the caller ldap_msgfree()s *resp; *ldp and *ep point into this
 * thread's service handle and *resp. */
static int
find_user(struct kh_connector *c, struct kh_ldap_thread *t, const char *username, size_t ulen,
    LDAP **ldp, LDAPMessage **resp, LDAPMessage **ep)
{
	LDAPMessage *res = NULL;
	LDAP *ld = NULL;
	char *filter = NULL;
	int n, ldrc, r;

	*ldp = NULL;
	*resp = NULL;
	*ep = NULL;
	if ((r = kh_ldap_user_filter(c->login_attr, username, ulen, c->user_filter, &filter)) !=
	    KH_OK)
		return r;
	/* Size limit 2: enough to tell "exactly one" from "ambiguous". */
	r = kh_ldap_search(
	    c, t, c->base_dn, LDAP_SCOPE_SUBTREE, filter, c->user_attrs, 2, &ld, &res, &ldrc);
	if (r != KH_OK)
		goto out;
	n = ldap_count_entries(ld, res);
	if (ldrc == LDAP_SIZELIMIT_EXCEEDED || n > 1) {
		kh_warn("ldap.ambiguous_login", "attr", c->login_attr, "filter", filter, NULL);
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	if (n != 1) {
		r = KH_ERR_NOT_FOUND;
		goto out;
	}
	*ep = ldap_first_entry(ld, res);
	*ldp = ld;
	*resp = res;
	res = NULL; /* transferred */
	r = KH_OK;
out:
	ldap_msgfree(res);
	free(filter);
	return r;
}

static void
info_init(struct kh_auth_info *info)
{
	info->grace_logins_left = -1;
	info->expires_in = -1;
	info->diag[0] = '\0';
}

static enum kh_auth_result
err_to_result(int r)
{
	switch (r) {
	case KH_OK: return KH_AUTH_OK;
	case KH_ERR_NOT_FOUND: return KH_AUTH_INVALID;
	case KH_ERR_UNAVAILABLE: return KH_AUTH_UNAVAILABLE;
	default: return KH_AUTH_ERROR;
	}
}

enum kh_auth_result
kh_ldap_authenticate_n(struct kh_connector *c, const char *username, size_t ulen,
    const char *password, size_t plen, struct kh_identity **id, struct kh_auth_info *info)
{
	struct kh_auth_info scratch;
	struct kh_ldap_thread *t;
	struct kh_identity *ident = NULL;
	LDAPMessage *res = NULL, *e;
	LDAP *ld;
	enum kh_auth_result ar;
	int r;

	*id = NULL;
	if (info == NULL)
		info = &scratch;
	info_init(info);
	/* Refused before any traffic: an empty password would make an
	 * unauthenticated bind "succeed". */
	if (c == NULL || !kh_ldap_input_ok(username, ulen, KH_USERNAME_MAX) ||
	    !kh_ldap_input_ok(password, plen, KH_PASSWORD_MAX))
		return KH_AUTH_INVALID;
	if ((t = kh_ldap_thread_get(c)) == NULL)
		return KH_AUTH_ERROR;
	if ((r = find_user(c, t, username, ulen, &ld, &res, &e)) != KH_OK)
		return err_to_result(r);
	/* The entry is read before anything may reconnect the service
	 * handle that ld points to. */
	if ((r = kh_ldap_entry_identity(c, ld, e, &ident)) != KH_OK) {
		ar = err_to_result(r == KH_ERR_INVALID ? KH_ERR_INTERNAL : r);
		goto out;
	}
	if ((ar = kh_ldap_user_bind(c, t, ident->dn, password, plen, info)) != KH_AUTH_OK)
		goto out;
	if ((r = kh_ldap_groups(c, t, ld, e, ident)) != KH_OK) {
		ar = err_to_result(r == KH_ERR_NOT_FOUND ? KH_ERR_INTERNAL : r);
		goto out;
	}
	*id = ident;
	ident = NULL; /* transferred */
	ar = KH_AUTH_OK;
out:
	ldap_msgfree(res);
	kh_identity_free(ident);
	return ar;
}

enum kh_auth_result
kh_connector_authenticate(struct kh_connector *c, const char *username, const char *password,
    struct kh_identity **id, struct kh_auth_info *info)
{
	/* strnlen: an over-long value is refused without reading all of it */
	size_t ulen = username ? strnlen(username, KH_USERNAME_MAX + 1) : 0;
	size_t plen = password ? strnlen(password, KH_PASSWORD_MAX + 1) : 0;

	return kh_ldap_authenticate_n(c, username, ulen, password, plen, id, info);
}

int
kh_connector_lookup(struct kh_connector *c, const char *username, struct kh_identity **id)
{
	struct kh_ldap_thread *t;
	struct kh_identity *ident = NULL;
	LDAPMessage *res = NULL, *e;
	LDAP *ld;
	size_t ulen;
	int r;

	*id = NULL;
	ulen = username ? strnlen(username, KH_USERNAME_MAX + 1) : 0;
	if (c == NULL || !kh_ldap_input_ok(username, ulen, KH_USERNAME_MAX))
		return KH_ERR_NOT_FOUND;
	if ((t = kh_ldap_thread_get(c)) == NULL)
		return KH_ERR_NOMEM;
	if ((r = find_user(c, t, username, ulen, &ld, &res, &e)) != KH_OK)
		return r;
	if ((r = kh_ldap_entry_identity(c, ld, e, &ident)) != KH_OK ||
	    (r = kh_ldap_groups(c, t, ld, e, ident)) != KH_OK)
		goto out;
	*id = ident;
	ident = NULL; /* transferred */
	r = KH_OK;
out:
	ldap_msgfree(res);
	kh_identity_free(ident);
	return r;
}
