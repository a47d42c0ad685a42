/* Unit tests for the LDAP connector's pure parts: input checks, filter
 * construction (escaping, AD in-chain), AD diagnostic codes, group names from
 * DNs, and that bad input is refused without contacting a server. */
#include <stdlib.h>
#include <string.h>

#include "common/config.h"
#include "common/errors.h"
#include "connectors/connector.h"
#include "connectors/ldap/ldap_internal.h"
#include "tests/unit/tap.h"

static void
test_ad(void)
{
	static const struct {
		const char *msg;
		enum kh_auth_result want;
		int code;
	} cases[] = {
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 52e, v4563",
		    KH_AUTH_INVALID, 0x52e },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 525, v4563",
		    KH_AUTH_INVALID, 0x525 },
		{ "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, "
		  "data 530, v3839",
		    KH_AUTH_RESTRICTED, 0x530 },
		{ "80090308: LdapErr: DSID-0C090447, comment: AcceptSecurityContext error, "
		  "data 531, v3839",
		    KH_AUTH_RESTRICTED, 0x531 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 532, v4563",
		    KH_AUTH_PASSWORD_EXPIRED, 0x532 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 533, v4563",
		    KH_AUTH_DISABLED, 0x533 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 701, v4563",
		    KH_AUTH_ACCOUNT_EXPIRED, 0x701 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 773, v4563",
		    KH_AUTH_MUST_CHANGE, 0x773 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 775, v4563",
		    KH_AUTH_LOCKED, 0x775 },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 775, v2580\n",
		    KH_AUTH_LOCKED, 0x775 },
		{ "data 533", KH_AUTH_DISABLED, 0x533 },
		{ "data 52E, v23f0", KH_AUTH_INVALID, 0x52e },
		{ "80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, "
		  "data 999, v4563",
		    KH_AUTH_INVALID, 0x999 },
		{ "data 77x5, v1", KH_AUTH_INVALID, -1 },
		{ "data , v1", KH_AUTH_INVALID, -1 },
		{ "data 7750000000000, v1", KH_AUTH_INVALID, -1 },
		{ "Invalid credentials", KH_AUTH_INVALID, -1 },
		{ "", KH_AUTH_INVALID, -1 },
	};
	size_t i;
	int code;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		enum kh_auth_result got = kh_ldap_ad_result(cases[i].msg, &code);
		ok(got == cases[i].want && code == cases[i].code, "AD diag %zu -> %s (code %x)", i,
		    kh_auth_result_name(got), code);
	}
	ok(kh_ldap_ad_result(NULL, &code) == KH_AUTH_INVALID && code == -1, "AD diag NULL");
	ok(kh_ldap_ad_result("data 775", NULL) == KH_AUTH_LOCKED, "AD diag without code out");
}

static void
test_input(void)
{
	char big[KH_USERNAME_MAX + 2];

	ok(kh_ldap_input_ok("yamada.taro", 11, KH_USERNAME_MAX), "plain username ok");
	ok(kh_ldap_input_ok("山田", strlen("山田"), KH_USERNAME_MAX), "UTF-8 username ok");
	ok(!kh_ldap_input_ok("", 0, KH_USERNAME_MAX), "empty refused");
	ok(!kh_ldap_input_ok(NULL, 0, KH_USERNAME_MAX), "NULL refused");
	ok(!kh_ldap_input_ok("ab\0cd", 5, KH_USERNAME_MAX), "embedded NUL refused");
	ok(!kh_ldap_input_ok("admin\xc3", 6, KH_USERNAME_MAX), "truncated UTF-8 refused");
	ok(!kh_ldap_input_ok("jos\xe9", 4, KH_USERNAME_MAX), "Latin-1 byte refused");
	ok(!kh_ldap_input_ok("a\nb", 3, KH_USERNAME_MAX), "newline refused");
	ok(!kh_ldap_input_ok("a\x7f", 2, KH_USERNAME_MAX), "DEL refused");
	memset(big, 'a', sizeof(big));
	ok(kh_ldap_input_ok(big, KH_USERNAME_MAX, KH_USERNAME_MAX), "username at the cap ok");
	ok(!kh_ldap_input_ok(big, KH_USERNAME_MAX + 1, KH_USERNAME_MAX), "over the cap refused");
}

/* Builds first, then checks: the message must not read f before the call. */
static void
check_user_filter(
    const char *attr, const char *v, size_t n, const char *uf, const char *want, const char *name)
{
	char *f = NULL;
	int r = kh_ldap_user_filter(attr, v, n, uf, &f);

	ok(r == KH_OK && f != NULL && strcmp(f, want) == 0, "%s: %s", name, f ? f : "(null)");
	free(f);
}

static void
check_group_filter(const char *gf, const char *dn, int nested, const char *want, const char *name)
{
	char *f = NULL;
	int r = kh_ldap_group_filter(gf, dn, nested, &f);

	if (want == NULL)
		ok(r != KH_OK && f == NULL, "%s", name);
	else
		ok(r == KH_OK && f != NULL && strcmp(f, want) == 0, "%s: %s", name,
		    f ? f : "(null)");
	free(f);
}

static void
test_filters(void)
{
	check_user_filter("uid", "yamada.taro", 11, "(objectClass=inetOrgPerson)",
	    "(&(uid=yamada.taro)(objectClass=inetOrgPerson))", "user filter");
	check_user_filter("uid", "*)(uid=*", 8, "(objectClass=inetOrgPerson)",
	    "(&(uid=\\2A\\29\\28uid=\\2A)(objectClass=inetOrgPerson))", "injection escaped");
	check_user_filter("sAMAccountName", "a\\b", 3, NULL, "(sAMAccountName=a\\5Cb)",
	    "no user filter, backslash");
	check_user_filter("uid", "*", 1, "", "(uid=\\2A)", "lone star escaped");
	/* Non-ASCII bytes survive (as \hh escapes), never dropped. */
	check_user_filter("cn", "山", strlen("山"), NULL, "(cn=\\E5\\B1\\B1)", "UTF-8 kept");
	check_user_filter("mail", "a\0b", 3, NULL, "(mail=a\\00b)", "NUL escaped, not truncated");

	check_group_filter("(objectClass=groupOfNames)",
	    "uid=yamada.taro,ou=people,dc=example,dc=lg,dc=jp", 0,
	    "(&(objectClass=groupOfNames)(member=uid=yamada.taro,ou=people,"
	    "dc=example,dc=lg,dc=jp))",
	    "group filter");
	check_group_filter("(objectClass=group)",
	    "CN=Yamada\\, Taro (IT),OU=Staff,DC=example,DC=lg,DC=jp", 1,
	    "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:="
	    "CN=Yamada\\5C, Taro \\28IT\\29,OU=Staff,DC=example,DC=lg,DC=jp))",
	    "AD in-chain group filter");
	check_group_filter(NULL, "cn=x,dc=jp", 1, "(member:1.2.840.113556.1.4.1941:=cn=x,dc=jp)",
	    "in-chain without group filter");
	check_group_filter("(objectClass=group)", "", 0, NULL, "group filter needs a DN");
}

static void
test_group_names(void)
{
	static const struct {
		const char *dn;
		const char *want; /* NULL: refused */
	} cases[] = {
		{ "cn=all-staff,ou=groups,dc=example,dc=lg,dc=jp", "all-staff" },
		{ "cn=総務部,ou=groups,dc=example,dc=lg,dc=jp", "総務部" },
		{ "CN=Domain Users,CN=Users,DC=example,DC=lg,DC=jp", "Domain Users" },
		{ "cn=a\\,b,ou=groups,dc=jp", "a,b" },
		{ "cn=x+ou=y,dc=jp", "x" },
		{ "cn=#04024869,dc=jp", NULL },
		{ "not a dn", NULL },
		{ "cn=a\\00b,dc=jp", NULL },
		{ "", NULL },
	};
	size_t i;
	char *name;
	int r;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		r = kh_ldap_group_name_from_dn(cases[i].dn, strlen(cases[i].dn), &name);
		if (cases[i].want == NULL)
			ok(r != KH_OK && name == NULL, "group DN %zu refused", i);
		else
			ok(r == KH_OK && name != NULL && strcmp(name, cases[i].want) == 0,
			    "group DN %zu -> %s", i, name ? name : "(null)");
		free(name);
	}
	ok(kh_ldap_group_name_from_dn("cn=\xc3,dc=jp", 9, &name) == KH_ERR_INVALID,
	    "group DN with bad UTF-8 refused");
}

static void
test_names(void)
{
	int i;

	ok(strcmp(kh_auth_result_name(KH_AUTH_OK), "ok") == 0, "name ok");
	ok(strcmp(kh_auth_result_name(KH_AUTH_MUST_CHANGE), "must_change") == 0,
	    "name must_change");
	for (i = KH_AUTH_OK; i <= KH_AUTH_ERROR; i++)
		if (kh_auth_result_name((enum kh_auth_result)i) == NULL)
			break;
	ok(i == KH_AUTH_ERROR + 1, "every result has a name");
}

/* Bad input must come back INVALID without traffic: the URI points at a
 * port nothing listens on, so any attempt would give UNAVAILABLE. */
static void
test_no_traffic(void)
{
	struct kh_config cfg;
	struct kh_connector *c = NULL;
	struct kh_identity *id = NULL;
	struct kh_auth_info info;
	char longpw[KH_PASSWORD_MAX + 2];

	memset(&cfg, 0, sizeof(cfg));
	cfg.ldap_uris = "ldap://127.0.0.1:1";
	cfg.ldap_base_dn = "dc=example,dc=lg,dc=jp";
	cfg.ldap_bind_dn = "";
	cfg.ldap_bind_password = "";
	cfg.ldap_login_attribute = "uid";
	cfg.ldap_user_filter = "(objectClass=inetOrgPerson)";
	cfg.ldap_attr_display_name = "displayName";
	cfg.ldap_group_mode = "memberof";
	cfg.ldap_group_filter = "(objectClass=groupOfNames)";
	cfg.ldap_group_name_attr = "cn";
	cfg.ldap_network_timeout = 1;
	cfg.ldap_timeout = 1;
	if (!ok(kh_ldap_connector_new(&cfg, &c) == KH_OK, "connector from config"))
		return;
	ok(kh_connector_authenticate(c, "yamada.taro", "", &id, &info) == KH_AUTH_INVALID &&
		id == NULL,
	    "empty password: INVALID, no traffic");
	ok(kh_connector_authenticate(c, "", "pw", &id, &info) == KH_AUTH_INVALID,
	    "empty username: INVALID");
	ok(kh_connector_authenticate(c, NULL, NULL, &id, NULL) == KH_AUTH_INVALID,
	    "NULLs: INVALID");
	ok(kh_connector_authenticate(c, "a\x01", "pw", &id, &info) == KH_AUTH_INVALID,
	    "control character: INVALID");
	ok(kh_ldap_authenticate_n(c, "yamada.taro\0x", 13, "pw", 2, &id, &info) == KH_AUTH_INVALID,
	    "embedded NUL in username: INVALID");
	ok(kh_ldap_authenticate_n(c, "yamada.taro", 11, "pw\0", 3, &id, &info) == KH_AUTH_INVALID,
	    "embedded NUL in password: INVALID");
	memset(longpw, 'p', sizeof(longpw));
	longpw[KH_PASSWORD_MAX + 1] = '\0';
	ok(kh_connector_authenticate(c, "yamada.taro", longpw, &id, &info) == KH_AUTH_INVALID,
	    "over-long password: INVALID");
	ok(info.grace_logins_left == -1 && info.expires_in == -1 && info.diag[0] == '\0',
	    "info reset");
	ok(kh_connector_authenticate(c, "yamada.taro", "pw", &id, &info) == KH_AUTH_UNAVAILABLE,
	    "good-looking input does try the (absent) server: UNAVAILABLE");
	ok(kh_connector_lookup(c, "", &id) == KH_ERR_NOT_FOUND, "lookup of empty: NOT_FOUND");
	ok(kh_connector_ping(c) == KH_ERR_UNAVAILABLE, "ping: UNAVAILABLE");
	kh_connector_free(c);
	cfg.ldap_group_mode = "bogus";
	ok(kh_ldap_connector_new(&cfg, &c) == KH_ERR_CONFIG && c == NULL, "bad group_mode");
}

int
main(void)
{
	test_ad();
	test_input();
	test_filters();
	test_group_names();
	test_names();
	test_no_traffic();
	return tap_done();
}
