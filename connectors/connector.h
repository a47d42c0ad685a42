/* The interface between the IdP and an upstream identity source. The first and
 * only implementation is connectors/ldap (OpenLDAP and Active Directory).
 *
 * Threading: a kh_connector is shared by all worker threads; implementations
 * keep per-thread directory handles internally (no handle is ever used by two
 * threads at once). All functions are safe to call from any worker thread. */
#ifndef KH_CONNECTOR_H
#define KH_CONNECTOR_H

#include <stddef.h>

struct kh_config;
struct kh_connector;

/* The outcome of a password check. Each is a distinct result so the login page
 * can say what to do next; INVALID covers both "no such user" and "wrong
 * password" so nothing reveals which. */
enum kh_auth_result {
	KH_AUTH_OK = 0,
	KH_AUTH_INVALID, /* unknown user or wrong password (also ambiguous match) */
	KH_AUTH_LOCKED, /* ppolicy pwdAccountLocked / AD 775 */
	KH_AUTH_PASSWORD_EXPIRED, /* ppolicy passwordExpired / AD 532 */
	KH_AUTH_MUST_CHANGE, /* ppolicy changeAfterReset / AD 773 */
	KH_AUTH_DISABLED, /* AD 533 */
	KH_AUTH_ACCOUNT_EXPIRED, /* AD 701 */
	KH_AUTH_RESTRICTED, /* AD 530 / 531: not permitted now or from here */
	KH_AUTH_UNAVAILABLE, /* no directory server answered */
	KH_AUTH_ERROR, /* unexpected directory error */
};

struct kh_identity {
	char *uid; /* the login attribute's value as stored in the directory */
	char *dn;
	char *display_name;
	char *family_name;
	char *given_name;
	char *mail;
	char *employee_number;
	char *department;
	char *title;
	char **groups; /* group names (group_name_attr), NULL-terminated */
	size_t ngroups;
};

/* Warnings that come with a successful bind (ppolicy or AD). */
struct kh_auth_info {
	int grace_logins_left; /* -1 when none reported */
	long expires_in; /* seconds until the password expires, -1 when none */
	char diag[128]; /* directory diagnostic, for logs only */
};

/* Hard caps on untrusted credentials, checked before anything is sent. */
#define KH_USERNAME_MAX 256
#define KH_PASSWORD_MAX 1024

const char *kh_auth_result_name(enum kh_auth_result r);

/* Creates the connector from [ldap] config. Does not connect yet. */
int kh_ldap_connector_new(const struct kh_config *cfg, struct kh_connector **out);
void kh_connector_free(struct kh_connector *c);

/* Checks username + password. On KH_AUTH_OK *id is filled (caller frees with
 * kh_identity_free). Empty passwords, invalid UTF-8, control characters and
 * over-long values give KH_AUTH_INVALID without contacting the directory. */
enum kh_auth_result kh_connector_authenticate(struct kh_connector *c, const char *username,
    const char *password, struct kh_identity **id, struct kh_auth_info *info);
/* Looks a user up by login name without a password (for SSO refresh, helpdesk).
 * Returns KH_OK, KH_ERR_NOT_FOUND, KH_ERR_UNAVAILABLE or another KH_ERR. */
int kh_connector_lookup(struct kh_connector *c, const char *username, struct kh_identity **id);
/* KH_OK when a directory server answers a trivial query with the service account. */
int kh_connector_ping(struct kh_connector *c);
/* Releases this thread's handles (call from a worker thread before it exits). */
void kh_connector_thread_cleanup(struct kh_connector *c);

void kh_identity_free(struct kh_identity *id);

#endif
