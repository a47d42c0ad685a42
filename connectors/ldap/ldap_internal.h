/* Internal interface of the LDAP connector (connectors/ldap). Nothing outside
 * connectors/ldap and its unit tests includes this header; the public
 * interface is connectors/connector.h. */
#ifndef KH_LDAP_INTERNAL_H
#define KH_LDAP_INTERNAL_H

#include <ldap.h>
#include <pthread.h>
#include <stddef.h>

#include "connectors/connector.h"

#define KH_LDAP_VALUE_MAX 4096 /* longest attribute value taken into an identity */
#define KH_LDAP_DN_MAX 4096 /* longest DN accepted from the directory */
#define KH_LDAP_GROUPS_MAX 1024 /* more groups than this is an error, not a truncation */
#define KH_LDAP_FILTER_MAX 16384 /* longest filter we build */
#define KH_LDAP_AD_IN_CHAIN "1.2.840.113556.1.4.1941"

enum kh_ldap_group_mode {
	KH_LDAP_GROUPS_NONE = 0,
	KH_LDAP_GROUPS_MEMBEROF,
	KH_LDAP_GROUPS_SEARCH,
};

/* Indexes into kh_connector.attr (the attribute map). */
enum kh_ldap_attr {
	KH_LDAP_ATTR_DISPLAY_NAME = 0,
	KH_LDAP_ATTR_FAMILY_NAME,
	KH_LDAP_ATTR_GIVEN_NAME,
	KH_LDAP_ATTR_MAIL,
	KH_LDAP_ATTR_EMPLOYEE_NUMBER,
	KH_LDAP_ATTR_DEPARTMENT,
	KH_LDAP_ATTR_TITLE,
	KH_LDAP_ATTR_N
};

/* Everything the connector needs, copied out of struct kh_config at creation
 * and immutable afterwards (shared by all threads without a lock). */
struct kh_connector {
	char *uris;
	char *bind_dn;
	char *bind_password; /* wiped on free */
	char *base_dn;
	char *login_attr;
	char *user_filter;
	char *attr[KH_LDAP_ATTR_N]; /* NULL when not mapped */
	enum kh_ldap_group_mode group_mode;
	char *group_base;
	char *group_filter;
	char *group_name_attr;
	int nested_ad; /* nested_groups && active_directory: in-chain group search */
	int ad;
	long network_timeout;
	long timeout;
	int starttls;
	char *ca_file;
	char **user_attrs; /* attributes asked for in the user search */
	pthread_key_t key; /* per-thread struct kh_ldap_thread */
};

/* One worker thread's handles. svc is bound as the service account; user is
 * used only for user binds (and stays bound as the last user). */
struct kh_ldap_thread {
	LDAP *svc;
	LDAP *user;
};

/* ldap_handle.c */
struct kh_ldap_thread *kh_ldap_thread_get(struct kh_connector *c);
void kh_ldap_thread_free(void *arg);
int kh_ldap_service(struct kh_connector *c, struct kh_ldap_thread *t, LDAP **ldp);
int kh_ldap_user_handle(struct kh_connector *c, struct kh_ldap_thread *t, LDAP **ldp);
void kh_ldap_drop(LDAP **ldp);
int kh_ldap_rc_down(int rc);
int kh_ldap_search(struct kh_connector *c, struct kh_ldap_thread *t, const char *base, int scope,
    const char *filter, char **attrs, int sizelimit, LDAP **ldp, LDAPMessage **resp, int *ldrcp);

/* ldap_filter.c (pure: no network) */
int kh_ldap_input_ok(const char *s, size_t n, size_t max);
int kh_ldap_user_filter(
    const char *attr, const char *value, size_t n, const char *user_filter, char **out);
int kh_ldap_group_filter(
    const char *group_filter, const char *member_dn, int nested_ad, char **out);
int kh_ldap_group_name_from_dn(const char *dn, size_t n, char **out);

/* ldap_ad.c (pure) */
enum kh_auth_result kh_ldap_ad_result(const char *diag, int *code);

/* ldap_entry.c */
int kh_ldap_entry_identity(
    struct kh_connector *c, LDAP *ld, LDAPMessage *e, struct kh_identity **out);

/* ldap_groups.c */
int kh_ldap_groups(struct kh_connector *c, struct kh_ldap_thread *t, LDAP *ld, LDAPMessage *e,
    struct kh_identity *id);

/* ldap_ppolicy.c */
enum kh_auth_result kh_ldap_user_bind(struct kh_connector *c, struct kh_ldap_thread *t,
    const char *dn, const char *password, size_t plen, struct kh_auth_info *info);
void kh_ldap_diag_copy(char *dst, size_t size, const char *src);

/* ldap_auth.c: the length-aware entry point (the probe and unit tests use it
 * to pass embedded NULs, which a C string cannot carry). */
enum kh_auth_result kh_ldap_authenticate_n(struct kh_connector *c, const char *username,
    size_t ulen, const char *password, size_t plen, struct kh_identity **id,
    struct kh_auth_info *info);

#endif
