#include "common/config.h"

#include <errno.h>
#include <ini.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/log.h"
#include "common/str.h"

enum cfg_type { CFG_STR, CFG_SECRET, CFG_INT, CFG_BOOL };

struct cfg_entry {
	const char *section;
	const char *name;
	enum cfg_type type;
	size_t offset;
	const char *def; /* NULL: no default */
	long min, max; /* CFG_INT bounds */
	int required;
};

#define O(f) offsetof(struct kh_config, f)
static const struct cfg_entry cfg_table[] = {
	{ "server", "base_url", CFG_STR, O(base_url), NULL, 0, 0, 1 },
	{ "server", "listen", CFG_STR, O(listen), "127.0.0.1:8080", 0, 0, 0 },
	{ "server", "threads", CFG_INT, O(threads), "8", 1, 256, 0 },
	{ "server", "max_connections", CFG_INT, O(max_connections), "1024", 1, 65536, 0 },
	{ "server", "per_ip_connections", CFG_INT, O(per_ip_connections), "64", 0, 65536, 0 },
	{ "server", "connection_timeout", CFG_INT, O(connection_timeout), "30", 1, 3600, 0 },
	{ "server", "max_body_bytes", CFG_INT, O(max_body_bytes), "65536", 1024, 1048576, 0 },
	{ "server", "trusted_proxies", CFG_STR, O(trusted_proxies), "", 0, 0, 0 },

	{ "ldap", "uris", CFG_STR, O(ldap_uris), NULL, 0, 0, 1 },
	{ "ldap", "bind_dn", CFG_STR, O(ldap_bind_dn), "", 0, 0, 0 },
	{ "ldap", "bind_password", CFG_SECRET, O(ldap_bind_password), "", 0, 0, 0 },
	{ "ldap", "base_dn", CFG_STR, O(ldap_base_dn), NULL, 0, 0, 1 },
	{ "ldap", "login_attribute", CFG_STR, O(ldap_login_attribute), "uid", 0, 0, 0 },
	{ "ldap", "user_filter", CFG_STR, O(ldap_user_filter), "(objectClass=inetOrgPerson)", 0, 0,
	    0 },
	{ "ldap", "attr_display_name", CFG_STR, O(ldap_attr_display_name), "displayName", 0, 0, 0 },
	{ "ldap", "attr_family_name", CFG_STR, O(ldap_attr_family_name), "sn", 0, 0, 0 },
	{ "ldap", "attr_given_name", CFG_STR, O(ldap_attr_given_name), "givenName", 0, 0, 0 },
	{ "ldap", "attr_mail", CFG_STR, O(ldap_attr_mail), "mail", 0, 0, 0 },
	{ "ldap", "attr_employee_number", CFG_STR, O(ldap_attr_employee_number), "employeeNumber",
	    0, 0, 0 },
	{ "ldap", "attr_department", CFG_STR, O(ldap_attr_department), "departmentNumber", 0, 0,
	    0 },
	{ "ldap", "attr_title", CFG_STR, O(ldap_attr_title), "title", 0, 0, 0 },
	{ "ldap", "group_mode", CFG_STR, O(ldap_group_mode), "memberof", 0, 0, 0 },
	{ "ldap", "group_base", CFG_STR, O(ldap_group_base), "", 0, 0, 0 },
	{ "ldap", "group_filter", CFG_STR, O(ldap_group_filter), "(objectClass=groupOfNames)", 0, 0,
	    0 },
	{ "ldap", "group_name_attr", CFG_STR, O(ldap_group_name_attr), "cn", 0, 0, 0 },
	{ "ldap", "nested_groups", CFG_BOOL, O(ldap_nested_groups), "no", 0, 0, 0 },
	{ "ldap", "active_directory", CFG_BOOL, O(ldap_ad), "no", 0, 0, 0 },
	{ "ldap", "network_timeout", CFG_INT, O(ldap_network_timeout), "3", 1, 60, 0 },
	{ "ldap", "timeout", CFG_INT, O(ldap_timeout), "5", 1, 120, 0 },
	{ "ldap", "starttls", CFG_BOOL, O(ldap_starttls), "no", 0, 0, 0 },
	{ "ldap", "ca_file", CFG_STR, O(ldap_ca_file), "", 0, 0, 0 },

	{ "redis", "host", CFG_STR, O(redis_host), "127.0.0.1", 0, 0, 0 },
	{ "redis", "port", CFG_INT, O(redis_port), "6379", 1, 65535, 0 },
	{ "redis", "password", CFG_SECRET, O(redis_password), "", 0, 0, 0 },
	{ "redis", "db", CFG_INT, O(redis_db), "0", 0, 15, 0 },
	{ "redis", "timeout_ms", CFG_INT, O(redis_timeout_ms), "1000", 10, 60000, 0 },
	{ "redis", "key_prefix", CFG_STR, O(redis_prefix), "kh:", 0, 0, 0 },

	{ "session", "secret", CFG_SECRET, O(session_secret), NULL, 0, 0, 1 },
	{ "session", "idle_timeout", CFG_INT, O(session_idle_timeout), "1800", 60, 86400, 0 },
	{ "session", "absolute_timeout", CFG_INT, O(session_absolute_timeout), "36000", 300, 604800,
	    0 },
	{ "session", "cookie_name", CFG_STR, O(session_cookie), "kh_session", 0, 0, 0 },

	{ "login", "min_delay_ms", CFG_INT, O(login_min_delay_ms), "400", 0, 10000, 0 },
	{ "login", "max_delay_ms", CFG_INT, O(login_max_delay_ms), "5000", 0, 60000, 0 },
	{ "login", "user_max_failures", CFG_INT, O(login_user_max_failures), "5", 1, 1000, 0 },
	{ "login", "ip_max_failures", CFG_INT, O(login_ip_max_failures), "50", 1, 100000, 0 },
	{ "login", "failure_window", CFG_INT, O(login_failure_window), "900", 10, 86400, 0 },
	{ "login", "lock_duration", CFG_INT, O(login_lock_duration), "900", 10, 86400, 0 },
	{ "login", "password_change_url", CFG_STR, O(login_password_change_url), "", 0, 0, 0 },
	{ "login", "helpdesk", CFG_STR, O(login_helpdesk), "", 0, 0, 0 },
	{ "login", "default_lang", CFG_STR, O(login_default_lang), "ja", 0, 0, 0 },

	{ "keys", "rsa_key", CFG_STR, O(keys_rsa_key), "", 0, 0, 0 },
	{ "keys", "rsa_cert", CFG_STR, O(keys_rsa_cert), "", 0, 0, 0 },
	{ "keys", "ec_key", CFG_STR, O(keys_ec_key), "", 0, 0, 0 },
	{ "keys", "next_rsa_key", CFG_STR, O(keys_next_rsa_key), "", 0, 0, 0 },
	{ "keys", "next_rsa_cert", CFG_STR, O(keys_next_rsa_cert), "", 0, 0, 0 },
	{ "keys", "next_ec_key", CFG_STR, O(keys_next_ec_key), "", 0, 0, 0 },

	{ "saml", "entity_id", CFG_STR, O(saml_entity_id), "", 0, 0, 0 },
	{ "saml", "assertion_lifetime", CFG_INT, O(saml_assertion_lifetime), "300", 30, 3600, 0 },
	{ "saml", "clock_skew", CFG_INT, O(saml_clock_skew), "180", 0, 900, 0 },
	{ "saml", "max_message_bytes", CFG_INT, O(saml_max_message_bytes), "262144", 4096, 4194304,
	    0 },
	{ "saml", "sign_metadata", CFG_BOOL, O(saml_sign_metadata), "yes", 0, 0, 0 },

	{ "oidc", "code_lifetime", CFG_INT, O(oidc_code_lifetime), "60", 10, 600, 0 },
	{ "oidc", "id_token_lifetime", CFG_INT, O(oidc_id_token_lifetime), "300", 60, 86400, 0 },
	{ "oidc", "access_token_lifetime", CFG_INT, O(oidc_access_token_lifetime), "600", 60, 86400,
	    0 },
	{ "oidc", "refresh_token_lifetime", CFG_INT, O(oidc_refresh_token_lifetime), "28800", 300,
	    2592000, 0 },

	{ "admin", "tokens_file", CFG_STR, O(admin_tokens_file), "", 0, 0, 0 },

	{ "mfa", "kek", CFG_SECRET, O(mfa_kek), "", 0, 0, 0 },
	{ "mfa", "issuer", CFG_STR, O(mfa_issuer), "Kakehashi", 0, 0, 0 },
	{ "mfa", "totp_window", CFG_INT, O(mfa_totp_window), "1", 0, 2, 0 },
	{ "mfa", "max_failures", CFG_INT, O(mfa_max_failures), "5", 1, 100, 0 },
	{ "mfa", "failure_window", CFG_INT, O(mfa_failure_window), "900", 60, 86400, 0 },
	{ "mfa", "lock_duration", CFG_INT, O(mfa_lock_duration), "900", 60, 86400, 0 },
	{ "mfa", "bypass_ttl", CFG_INT, O(mfa_bypass_ttl), "14400", 300, 172800, 0 },
	{ "mfa", "remember_days", CFG_INT, O(mfa_remember_days), "30", 0, 365, 0 },
	{ "mfa", "enrol_zones", CFG_STR, O(mfa_enrol_zones), "gov", 0, 0, 0 },
	{ "mfa", "webauthn_rp_id", CFG_STR, O(mfa_webauthn_rp_id), "", 0, 0, 0 },
	{ "mfa", "webauthn_attestation", CFG_STR, O(mfa_webauthn_attestation), "none", 0, 0, 0 },
	{ "mfa", "webauthn_require_uv", CFG_BOOL, O(mfa_webauthn_require_uv), "no", 0, 0, 0 },

	{ "policy", "file", CFG_STR, O(policy_file), "", 0, 0, 0 },

	{ "registry", "poll_ms", CFG_INT, O(registry_poll_ms), "1000", 100, 60000, 0 },

	{ "log", "level", CFG_STR, O(log_level), "info", 0, 0, 0 },
	{ "log", "audit_file", CFG_STR, O(log_audit_file), "", 0, 0, 0 },
};
#undef O
#define CFG_N (sizeof(cfg_table) / sizeof(cfg_table[0]))

struct load_ctx {
	struct kh_config *cfg;
	unsigned char seen[CFG_N];
	char *err;
};

static void
set_err(char **err, const char *fmt, ...)
{
	va_list ap;
	struct kh_buf b;

	if (*err != NULL)
		return;
	kh_buf_init(&b, 1024);
	va_start(ap, fmt);
	kh_buf_vappendf(&b, fmt, ap);
	va_end(ap);
	*err = kh_buf_steal(&b, NULL);
}

static int
entry_set(struct kh_config *cfg, const struct cfg_entry *e, const char *value, char **err)
{
	char *base = (char *)cfg;
	long v;
	int bv;

	switch (e->type) {
	case CFG_STR:
	case CFG_SECRET: {
		char **slot = (char **)(base + e->offset);
		char *dup;
		if (!kh_utf8_valid_text(value, strlen(value))) {
			set_err(err, "[%s] %s: invalid UTF-8 or control characters", e->section,
			    e->name);
			return KH_ERR_CONFIG;
		}
		if ((dup = strdup(value)) == NULL)
			return KH_ERR_NOMEM;
		kh_free_str(*slot);
		*slot = dup;
		return KH_OK;
	}
	case CFG_INT:
		if (kh_parse_long(value, e->min, e->max, &v) != KH_OK) {
			set_err(err, "[%s] %s: expected an integer from %ld to %ld, got \"%s\"",
			    e->section, e->name, e->min, e->max, value);
			return KH_ERR_CONFIG;
		}
		*(long *)(base + e->offset) = v;
		return KH_OK;
	case CFG_BOOL:
		if (kh_parse_bool(value, &bv) != KH_OK) {
			set_err(err, "[%s] %s: expected yes or no, got \"%s\"", e->section, e->name,
			    value);
			return KH_ERR_CONFIG;
		}
		*(int *)(base + e->offset) = bv;
		return KH_OK;
	}
	return KH_ERR_INTERNAL;
}

static int
cfg_ini_handler(void *user, const char *section, const char *name, const char *value)
{
	struct load_ctx *ctx = user;
	size_t i;

	for (i = 0; i < CFG_N; i++) {
		if (strcmp(cfg_table[i].section, section) == 0 &&
		    strcmp(cfg_table[i].name, name) == 0) {
			if (ctx->seen[i]) {
				set_err(&ctx->err, "[%s] %s is set twice", section, name);
				return 0;
			}
			ctx->seen[i] = 1;
			return entry_set(ctx->cfg, &cfg_table[i], value, &ctx->err) == KH_OK;
		}
	}
	set_err(&ctx->err, "unknown key [%s] %s", section, name);
	return 0;
}

static int
is_loopback_host(const char *h, size_t n)
{
	return (n == 9 && strncmp(h, "localhost", 9) == 0) ||
	    (n >= 4 && strncmp(h, "127.", 4) == 0) || (n == 5 && strncmp(h, "[::1]", 5) == 0);
}

static int
cross_check(struct kh_config *cfg, char **err)
{
	const char *p, *host;
	size_t hlen, slen;
	long port;
	char *colon;

	/* base_url: absolute http(s) URL without query, fragment or trailing slash */
	p = cfg->base_url;
	if (kh_startswith(p, "https://"))
		host = p + 8;
	else if (kh_startswith(p, "http://"))
		host = p + 7;
	else {
		set_err(err, "[server] base_url must start with https:// or http://");
		return KH_ERR_CONFIG;
	}
	if (strpbrk(p, "?#\"'<> ") != NULL || p[strlen(p) - 1] == '/' || *host == '\0' ||
	    *host == '/') {
		set_err(err,
		    "[server] base_url must be an absolute URL with no query, fragment "
		    "or trailing slash (e.g. https://idp.example.jp)");
		return KH_ERR_CONFIG;
	}
	hlen = strcspn(host, ":/");
	cfg->secure_cookies = 1;
	if (kh_startswith(p, "http://")) {
		if (!is_loopback_host(host, hlen)) {
			set_err(err,
			    "[server] base_url may use plain http:// only on loopback "
			    "(localhost, 127.0.0.0/8, [::1]); use https://");
			return KH_ERR_CONFIG;
		}
		cfg->secure_cookies = 0;
	}

	/* listen = host:port */
	if ((colon = strrchr(cfg->listen, ':')) == NULL || colon == cfg->listen ||
	    kh_parse_long(colon + 1, 1, 65535, &port) != KH_OK) {
		set_err(err, "[server] listen must be host:port, got \"%s\"", cfg->listen);
		return KH_ERR_CONFIG;
	}
	free(cfg->listen_host);
	if ((cfg->listen_host = strndup(cfg->listen, (size_t)(colon - cfg->listen))) == NULL)
		return KH_ERR_NOMEM;
	cfg->listen_port = (int)port;

	/* session secret: hex encoded, at least 32 bytes */
	slen = strlen(cfg->session_secret);
	if (slen % 2 != 0 || slen / 2 < KH_SESSION_SECRET_MIN ||
	    slen / 2 > sizeof(cfg->session_key) ||
	    kh_hex_decode(cfg->session_secret, cfg->session_key, slen / 2) != KH_OK) {
		set_err(err,
		    "[session] secret must be %d to %zu random bytes written as hex "
		    "(make one with: openssl rand -hex 32)",
		    KH_SESSION_SECRET_MIN, sizeof(cfg->session_key));
		return KH_ERR_CONFIG;
	}
	cfg->session_key_len = slen / 2;
	{
		size_t i, same = 1;
		for (i = 1; i < cfg->session_key_len; i++)
			same += cfg->session_key[i] == cfg->session_key[0];
		if (same == cfg->session_key_len) {
			set_err(err,
			    "[session] secret is a placeholder (every byte equal): "
			    "make a real one with: openssl rand -hex 32");
			return KH_ERR_CONFIG;
		}
	}

	if (cfg->session_idle_timeout > cfg->session_absolute_timeout) {
		set_err(err, "[session] idle_timeout (%ld) must not exceed absolute_timeout (%ld)",
		    cfg->session_idle_timeout, cfg->session_absolute_timeout);
		return KH_ERR_CONFIG;
	}
	if (strspn(cfg->session_cookie,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") !=
		strlen(cfg->session_cookie) ||
	    *cfg->session_cookie == '\0') {
		set_err(err, "[session] cookie_name may hold only letters, digits, _ and -");
		return KH_ERR_CONFIG;
	}
	if (cfg->login_min_delay_ms > cfg->login_max_delay_ms) {
		set_err(err, "[login] min_delay_ms must not exceed max_delay_ms");
		return KH_ERR_CONFIG;
	}
	if (strcmp(cfg->login_default_lang, "ja") != 0 &&
	    strcmp(cfg->login_default_lang, "en") != 0) {
		set_err(err, "[login] default_lang must be ja or en");
		return KH_ERR_CONFIG;
	}
	if (strcmp(cfg->ldap_group_mode, "memberof") != 0 &&
	    strcmp(cfg->ldap_group_mode, "search") != 0 &&
	    strcmp(cfg->ldap_group_mode, "none") != 0) {
		set_err(err, "[ldap] group_mode must be memberof, search or none");
		return KH_ERR_CONFIG;
	}
	if (*cfg->ldap_bind_dn != '\0' && *cfg->ldap_bind_password == '\0') {
		set_err(err,
		    "[ldap] bind_password is empty while bind_dn is set: an empty-password "
		    "bind would be unauthenticated");
		return KH_ERR_CONFIG;
	}
	if (strspn(cfg->ldap_login_attribute,
		"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") !=
	    strlen(cfg->ldap_login_attribute)) {
		set_err(err, "[ldap] login_attribute must be an attribute name");
		return KH_ERR_CONFIG;
	}
	if (*cfg->ldap_user_filter != '\0' && cfg->ldap_user_filter[0] != '(') {
		set_err(err, "[ldap] user_filter must be an LDAP filter in parentheses");
		return KH_ERR_CONFIG;
	}
	if (strpbrk(cfg->redis_prefix, " \t\r\n") != NULL) {
		set_err(err, "[redis] key_prefix must not contain white space");
		return KH_ERR_CONFIG;
	}
	if (*cfg->saml_entity_id == '\0') {
		struct kh_buf b;
		kh_buf_init(&b, KH_CONFIG_LINE_MAX + 32);
		if (kh_buf_appendf(&b, "%s/saml/metadata", cfg->base_url) != KH_OK)
			return KH_ERR_NOMEM;
		free(cfg->saml_entity_id);
		cfg->saml_entity_id = kh_buf_steal(&b, NULL);
	}
	if ((*cfg->keys_next_rsa_key != '\0') != (*cfg->keys_next_rsa_cert != '\0')) {
		set_err(err, "[keys] next_rsa_key and next_rsa_cert go together");
		return KH_ERR_CONFIG;
	}
	if ((*cfg->keys_rsa_key != '\0') != (*cfg->keys_rsa_cert != '\0')) {
		set_err(err, "[keys] rsa_key and rsa_cert go together");
		return KH_ERR_CONFIG;
	}
	if (*cfg->mfa_kek != '\0') {
		if (strlen(cfg->mfa_kek) != 2 * sizeof(cfg->mfa_kek_bytes) ||
		    kh_hex_decode(cfg->mfa_kek, cfg->mfa_kek_bytes, sizeof(cfg->mfa_kek_bytes)) !=
			KH_OK) {
			set_err(err,
			    "[mfa] kek must be 32 random bytes written as hex "
			    "(make one with: openssl rand -hex 32)");
			return KH_ERR_CONFIG;
		}
	} else {
		/* Derived from the session secret under its own label. */
		static const char label[] = "kakehashi mfa key-encryption key";
		if (kh_hmac_sha256(cfg->session_key, cfg->session_key_len, label, sizeof(label) - 1,
			cfg->mfa_kek_bytes) != KH_OK)
			return KH_ERR_CONFIG;
	}
	if (strcmp(cfg->mfa_webauthn_attestation, "none") != 0 &&
	    strcmp(cfg->mfa_webauthn_attestation, "direct") != 0) {
		set_err(err, "[mfa] webauthn_attestation must be none or direct");
		return KH_ERR_CONFIG;
	}
	if (*cfg->mfa_webauthn_rp_id == '\0') {
		/* The host of base_url. */
		const char *h = strstr(cfg->base_url, "://");
		size_t n;
		h = h != NULL ? h + 3 : cfg->base_url;
		n = strcspn(h, ":/");
		free(cfg->mfa_webauthn_rp_id);
		if ((cfg->mfa_webauthn_rp_id = strndup(h, n)) == NULL)
			return KH_ERR_NOMEM;
	}
	{
		enum kh_log_level lvl;
		if (kh_log_level_parse(cfg->log_level, &lvl) != KH_OK) {
			set_err(err, "[log] level must be debug, info, warn or error");
			return KH_ERR_CONFIG;
		}
	}
	return KH_OK;
}

/* Reads the whole file with caps on its size and line length, so the INI
 * parser never splits or truncates a line. */
static int
read_config_text(const char *path, char **out, char **err)
{
	struct kh_buf b;
	char chunk[4096];
	size_t n, i, linelen = 0, lineno = 1;
	FILE *fp;
	int r = KH_ERR_CONFIG;

	*out = NULL;
	kh_buf_init(&b, KH_CONFIG_FILE_MAX);
	if ((fp = fopen(path, "re")) == NULL) {
		set_err(err, "cannot open %s: %s", path, strerror(errno));
		return KH_ERR_CONFIG;
	}
	while ((n = fread(chunk, 1, sizeof(chunk), fp)) > 0) {
		for (i = 0; i < n; i++) {
			if (chunk[i] == '\n') {
				linelen = 0;
				lineno++;
			} else if (chunk[i] == '\0') {
				set_err(err, "%s: line %zu: NUL byte", path, lineno);
				goto out;
			} else if (++linelen > KH_CONFIG_LINE_MAX) {
				set_err(err, "%s: line %zu: longer than %d bytes", path, lineno,
				    KH_CONFIG_LINE_MAX);
				goto out;
			}
		}
		if (kh_buf_append(&b, chunk, n) != KH_OK) {
			set_err(err, "%s: larger than %d bytes", path, KH_CONFIG_FILE_MAX);
			goto out;
		}
	}
	if (ferror(fp)) {
		set_err(err, "cannot read %s: %s", path, strerror(errno));
		goto out;
	}
	if ((*out = strdup(kh_buf_cstr(&b))) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	r = KH_OK;
out:
	fclose(fp);
	kh_buf_free(&b);
	explicit_bzero(chunk, sizeof(chunk));
	return r;
}

int
kh_config_load(const char *path, struct kh_config **out, char **errmsg)
{
	struct load_ctx ctx;
	struct kh_config *cfg;
	char *text = NULL;
	size_t i;
	int rc, r = KH_ERR_CONFIG;

	*out = NULL;
	*errmsg = NULL;
	memset(&ctx, 0, sizeof(ctx));
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return KH_ERR_NOMEM;
	ctx.cfg = cfg;
	if ((r = read_config_text(path, &text, &ctx.err)) != KH_OK)
		goto out;
	r = KH_ERR_CONFIG;
	/* Full-line comments only: ';' and '#' may appear in values (filters, passwords). */
	ini_allow_inline_comments = 0;
	ini_allow_multiline = 0;
	ini_stop_on_first_error = 1;
	ini_use_stack = 0;
	ini_allow_realloc = 0;
	ini_max_line = KH_CONFIG_LINE_MAX + 3;
	rc = ini_parse_string(text, cfg_ini_handler, &ctx);
	if (rc < 0) {
		set_err(&ctx.err, "%s: out of memory while parsing", path);
		goto out;
	}
	if (rc > 0) {
		char *inner = ctx.err;
		ctx.err = NULL;
		if (inner != NULL)
			set_err(&ctx.err, "%s: line %d: %s", path, rc, inner);
		else
			set_err(&ctx.err,
			    "%s: line %d: syntax error (expected [section] or key = value)", path,
			    rc);
		free(inner);
		goto out;
	}
	for (i = 0; i < CFG_N; i++) {
		if (ctx.seen[i])
			continue;
		if (cfg_table[i].required) {
			set_err(&ctx.err, "[%s] %s is required", cfg_table[i].section,
			    cfg_table[i].name);
			goto out;
		}
		if (cfg_table[i].def != NULL &&
		    entry_set(cfg, &cfg_table[i], cfg_table[i].def, &ctx.err) != KH_OK)
			goto out;
	}
	if ((r = cross_check(cfg, &ctx.err)) != KH_OK)
		goto out;
	*out = cfg;
	cfg = NULL;
	r = KH_OK;
out:
	kh_free_str(text);
	if (cfg != NULL)
		kh_config_free(cfg);
	if (r != KH_OK && ctx.err == NULL)
		set_err(&ctx.err, "%s", kh_strerror(r));
	*errmsg = ctx.err;
	return r;
}

void
kh_config_print(const struct kh_config *cfg, FILE *fp)
{
	const char *base = (const char *)cfg, *section = "";
	size_t i;

	for (i = 0; i < CFG_N; i++) {
		const struct cfg_entry *e = &cfg_table[i];
		if (strcmp(section, e->section) != 0) {
			fprintf(fp, "%s[%s]\n", i ? "\n" : "", e->section);
			section = e->section;
		}
		switch (e->type) {
		case CFG_STR:
			fprintf(fp, "%s = %s\n", e->name, *(char *const *)(base + e->offset));
			break;
		case CFG_SECRET:
			fprintf(fp, "%s = %s\n", e->name,
			    **(char *const *)(base + e->offset) ? "(redacted)" : "");
			break;
		case CFG_INT:
			fprintf(fp, "%s = %ld\n", e->name, *(const long *)(base + e->offset));
			break;
		case CFG_BOOL:
			fprintf(fp, "%s = %s\n", e->name,
			    *(const int *)(base + e->offset) ? "yes" : "no");
			break;
		}
	}
}

void
kh_config_free(struct kh_config *cfg)
{
	char *base = (char *)cfg;
	size_t i;

	if (cfg == NULL)
		return;
	for (i = 0; i < CFG_N; i++)
		if (cfg_table[i].type == CFG_STR || cfg_table[i].type == CFG_SECRET)
			kh_free_str(*(char **)(base + cfg_table[i].offset));
	free(cfg->listen_host);
	explicit_bzero(cfg, sizeof(*cfg)); /* keys included */
	free(cfg);
}
