/* The connector object: created from [ldap] config (no connection yet),
 * per-thread handle cleanup, ping, and the small shared helpers of
 * connector.h. */
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"
#include "connectors/ldap/ldap_internal.h"

const char *
kh_auth_result_name(enum kh_auth_result r)
{
	switch (r) {
	case KH_AUTH_OK: return "ok";
	case KH_AUTH_INVALID: return "invalid";
	case KH_AUTH_LOCKED: return "locked";
	case KH_AUTH_PASSWORD_EXPIRED: return "password_expired";
	case KH_AUTH_MUST_CHANGE: return "must_change";
	case KH_AUTH_DISABLED: return "disabled";
	case KH_AUTH_ACCOUNT_EXPIRED: return "account_expired";
	case KH_AUTH_RESTRICTED: return "restricted";
	case KH_AUTH_UNAVAILABLE: return "unavailable";
	case KH_AUTH_ERROR: return "error";
	}
	return "error";
}

void
kh_identity_free(struct kh_identity *id)
{
	size_t i;

	if (id == NULL)
		return;
	free(id->uid);
	free(id->dn);
	free(id->display_name);
	free(id->family_name);
	free(id->given_name);
	free(id->mail);
	free(id->employee_number);
	free(id->department);
	free(id->title);
	if (id->groups != NULL) {
		for (i = 0; i < id->ngroups; i++)
			free(id->groups[i]);
		free(id->groups);
	}
	free(id);
}

/* A copy of a config string; "" becomes NULL when empty_is_null. */
static int
dup_opt(const char *s, int empty_is_null, char **out)
{
	*out = NULL;
	if (s == NULL || (empty_is_null && *s == '\0'))
		return KH_OK;
	return (*out = strdup(s)) == NULL ? KH_ERR_NOMEM : KH_OK;
}

/* The attributes fetched by the user search: login attribute, the mapped
 * attributes and memberOf (an operational attribute on OpenLDAP, so it has
 * to be named). */
static int
build_user_attrs(struct kh_connector *c)
{
	size_t i, n = 0;

	if ((c->user_attrs = calloc(KH_LDAP_ATTR_N + 3, sizeof(char *))) == NULL)
		return KH_ERR_NOMEM;
	c->user_attrs[n++] = c->login_attr;
	for (i = 0; i < KH_LDAP_ATTR_N; i++) {
		if (c->attr[i] != NULL)
			c->user_attrs[n++] = c->attr[i];
	}
	if (c->group_mode == KH_LDAP_GROUPS_MEMBEROF && !c->nested_ad)
		c->user_attrs[n++] = "memberOf";
	c->user_attrs[n] = NULL;
	return KH_OK;
}

int
kh_ldap_connector_new(const struct kh_config *cfg, struct kh_connector **out)
{
	struct kh_connector *c;
	const char *map[KH_LDAP_ATTR_N];
	size_t i;
	int v, r = KH_ERR_NOMEM;

	*out = NULL;
	if (cfg == NULL || cfg->ldap_uris == NULL || *cfg->ldap_uris == '\0' ||
	    cfg->ldap_base_dn == NULL || cfg->ldap_login_attribute == NULL ||
	    *cfg->ldap_login_attribute == '\0' || cfg->ldap_group_mode == NULL)
		return KH_ERR_CONFIG;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return KH_ERR_NOMEM;
	if (pthread_key_create(&c->key, kh_ldap_thread_free) != 0) {
		free(c);
		return KH_ERR_INTERNAL;
	}
	map[KH_LDAP_ATTR_DISPLAY_NAME] = cfg->ldap_attr_display_name;
	map[KH_LDAP_ATTR_FAMILY_NAME] = cfg->ldap_attr_family_name;
	map[KH_LDAP_ATTR_GIVEN_NAME] = cfg->ldap_attr_given_name;
	map[KH_LDAP_ATTR_MAIL] = cfg->ldap_attr_mail;
	map[KH_LDAP_ATTR_EMPLOYEE_NUMBER] = cfg->ldap_attr_employee_number;
	map[KH_LDAP_ATTR_DEPARTMENT] = cfg->ldap_attr_department;
	map[KH_LDAP_ATTR_TITLE] = cfg->ldap_attr_title;
	for (i = 0; i < KH_LDAP_ATTR_N; i++) {
		if ((r = dup_opt(map[i], 1, &c->attr[i])) != KH_OK)
			goto out;
	}
	if ((r = dup_opt(cfg->ldap_uris, 0, &c->uris)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_bind_dn ? cfg->ldap_bind_dn : "", 0, &c->bind_dn)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_bind_password ? cfg->ldap_bind_password : "", 0,
		 &c->bind_password)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_base_dn, 0, &c->base_dn)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_login_attribute, 0, &c->login_attr)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_user_filter, 1, &c->user_filter)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_group_base ? cfg->ldap_group_base : "", 0, &c->group_base)) !=
		KH_OK ||
	    (r = dup_opt(cfg->ldap_group_filter, 1, &c->group_filter)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_group_name_attr && *cfg->ldap_group_name_attr
		     ? cfg->ldap_group_name_attr
		     : "cn",
		 0, &c->group_name_attr)) != KH_OK ||
	    (r = dup_opt(cfg->ldap_ca_file, 1, &c->ca_file)) != KH_OK)
		goto out;
	r = KH_ERR_CONFIG;
	if (strcmp(cfg->ldap_group_mode, "memberof") == 0)
		c->group_mode = KH_LDAP_GROUPS_MEMBEROF;
	else if (strcmp(cfg->ldap_group_mode, "search") == 0)
		c->group_mode = KH_LDAP_GROUPS_SEARCH;
	else if (strcmp(cfg->ldap_group_mode, "none") == 0)
		c->group_mode = KH_LDAP_GROUPS_NONE;
	else
		goto out;
	c->ad = cfg->ldap_ad;
	c->nested_ad = cfg->ldap_nested_groups && cfg->ldap_ad;
	if (cfg->ldap_nested_groups && !cfg->ldap_ad)
		kh_warn("ldap.config", "reason",
		    "nested_groups is resolved only with active_directory = yes; "
		    "direct groups only",
		    NULL);
	c->network_timeout = cfg->ldap_network_timeout > 0 ? cfg->ldap_network_timeout : 3;
	c->timeout = cfg->ldap_timeout > 0 ? cfg->ldap_timeout : 5;
	c->starttls = cfg->ldap_starttls;
	if ((r = build_user_attrs(c)) != KH_OK)
		goto out;
	/* libldap initialises its global state on first use: do that here,
	 * in the thread that creates the connector, not in racing workers. */
	(void)ldap_get_option(NULL, LDAP_OPT_PROTOCOL_VERSION, &v);
	*out = c;
	c = NULL; /* transferred */
	r = KH_OK;
out:
	kh_connector_free(c);
	return r;
}

/* Frees the calling thread's handles too. Other threads must have called
 * kh_connector_thread_cleanup (or exited) before. */
void
kh_connector_free(struct kh_connector *c)
{
	size_t i;

	if (c == NULL)
		return;
	kh_connector_thread_cleanup(c);
	pthread_key_delete(c->key);
	free(c->uris);
	free(c->bind_dn);
	kh_free_str(c->bind_password);
	free(c->base_dn);
	free(c->login_attr);
	free(c->user_filter);
	for (i = 0; i < KH_LDAP_ATTR_N; i++)
		free(c->attr[i]);
	free(c->group_base);
	free(c->group_filter);
	free(c->group_name_attr);
	free(c->ca_file);
	free(c->user_attrs);
	free(c);
}

void
kh_connector_thread_cleanup(struct kh_connector *c)
{
	struct kh_ldap_thread *t;

	if (c == NULL || (t = pthread_getspecific(c->key)) == NULL)
		return;
	pthread_setspecific(c->key, NULL);
	kh_ldap_thread_free(t);
}

int
kh_connector_ping(struct kh_connector *c)
{
	struct kh_ldap_thread *t;
	LDAPMessage *res = NULL;
	LDAP *ld;
	char *attrs[] = { LDAP_NO_ATTRS, NULL };
	int ldrc, r;

	if (c == NULL)
		return KH_ERR_INVALID;
	if ((t = kh_ldap_thread_get(c)) == NULL)
		return KH_ERR_NOMEM;
	r = kh_ldap_search(
	    c, t, c->base_dn, LDAP_SCOPE_BASE, "(objectClass=*)", attrs, 1, &ld, &res, &ldrc);
	ldap_msgfree(res);
	return r;
}
