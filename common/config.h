/* The one typed configuration table. The INI file (libinih) is parsed once at
 * start into struct kh_config; nothing reads configuration by name afterwards.
 * Every key is described in the table in config.c and in
 * docs/kakehashi.conf.example. */
#ifndef KH_CONFIG_H
#define KH_CONFIG_H

#include <stddef.h>
#include <stdio.h>

#define KH_SESSION_SECRET_MIN 32
#define KH_CONFIG_FILE_MAX (256 * 1024)
#define KH_CONFIG_LINE_MAX 4000

struct kh_config {
	/* [server] */
	char *base_url;
	char *listen; /* host:port */
	char *listen_host; /* derived */
	int listen_port; /* derived */
	long threads;
	long max_connections;
	long per_ip_connections;
	long connection_timeout;
	long max_body_bytes;
	char *trusted_proxies; /* space separated addresses */
	int secure_cookies; /* derived: 0 only for http:// on loopback */

	/* [ldap] */
	char *ldap_uris;
	char *ldap_bind_dn;
	char *ldap_bind_password;
	char *ldap_base_dn;
	char *ldap_login_attribute;
	char *ldap_user_filter;
	char *ldap_attr_display_name;
	char *ldap_attr_family_name;
	char *ldap_attr_given_name;
	char *ldap_attr_mail;
	char *ldap_attr_employee_number;
	char *ldap_attr_department;
	char *ldap_attr_title;
	char *ldap_group_mode; /* memberof | search | none */
	char *ldap_group_base;
	char *ldap_group_filter;
	char *ldap_group_name_attr;
	int ldap_nested_groups;
	int ldap_ad; /* interpret Active Directory diagnostic codes */
	long ldap_network_timeout;
	long ldap_timeout;
	int ldap_starttls;
	char *ldap_ca_file;

	/* [redis] */
	char *redis_host;
	long redis_port;
	char *redis_password;
	long redis_db;
	long redis_timeout_ms;
	char *redis_prefix;

	/* [session] */
	char *session_secret; /* hex, >= 32 bytes */
	unsigned char session_key[64];
	size_t session_key_len;
	long session_idle_timeout;
	long session_absolute_timeout;
	char *session_cookie;

	/* [login] */
	long login_min_delay_ms;
	long login_max_delay_ms;
	long login_user_max_failures;
	long login_ip_max_failures;
	long login_failure_window;
	long login_lock_duration;
	char *login_password_change_url;
	char *login_helpdesk;
	char *login_default_lang;

	/* [keys] signing keys (PEM files); next_* are published for rotation */
	char *keys_rsa_key;
	char *keys_rsa_cert;
	char *keys_ec_key;
	char *keys_next_rsa_key;
	char *keys_next_rsa_cert;
	char *keys_next_ec_key;

	/* [saml] */
	char *saml_entity_id; /* derived default: base_url + /saml/metadata */
	long saml_assertion_lifetime;
	long saml_clock_skew;
	long saml_max_message_bytes;
	int saml_sign_metadata;

	/* [oidc] */
	long oidc_code_lifetime;
	long oidc_id_token_lifetime;
	long oidc_access_token_lifetime;
	long oidc_refresh_token_lifetime;

	/* [admin] */
	char *admin_tokens_file;

	/* [mfa] */
	char *mfa_kek; /* hex, 32 bytes: seals TOTP secrets; "" = derived from the session secret */
	unsigned char mfa_kek_bytes[32]; /* derived */
	char *mfa_issuer; /* the name authenticator apps show */
	long mfa_totp_window;
	long mfa_max_failures;
	long mfa_failure_window;
	long mfa_lock_duration;
	long mfa_bypass_ttl;
	long mfa_remember_days; /* 0: no "remember this device" */
	char *mfa_enrol_zones; /* where a user without any factor may enrol with a password */
	char *mfa_webauthn_rp_id; /* derived default: the host of base_url */
	char *mfa_webauthn_attestation; /* none | direct */
	int mfa_webauthn_require_uv;

	/* [policy] */
	char *policy_file; /* "" = the built-in prefecture default */

	/* [registry] */
	long registry_poll_ms;

	/* [log] */
	char *log_level;
	char *log_audit_file;
};

/* Loads FILE into a new config with defaults applied and cross-checked.
 * On failure *errmsg (caller frees) says which line or key and why. */
int kh_config_load(const char *path, struct kh_config **out, char **errmsg);
/* Prints the effective configuration as INI, secrets redacted. */
void kh_config_print(const struct kh_config *cfg, FILE *fp);
void kh_config_free(struct kh_config *cfg);

#endif
