/* Active Directory reports why a bind failed only in the diagnostic message
 * of the invalidCredentials (49) result, e.g.
 *   80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error,
 *   data 775, v4563
 * The hex number after "data " is the Windows error (ERROR_ACCOUNT_LOCKED_OUT
 * and friends). Pure function, unit-tested. */
#include <string.h>

#include "connectors/ldap/ldap_internal.h"

static int
hexval(char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Maps an AD diagnostic message to a result; *code (may be NULL) gets the
 * sub-code (0x52e...) or -1 when the message holds none. Unknown codes and
 * messages without one are KH_AUTH_INVALID: the bind failed after all. */
enum kh_auth_result
kh_ldap_ad_result(const char *diag, int *code)
{
	const char *p;
	int v = 0, d, n = 0;

	/* Real sub-codes have three hex digits; four bound the value well
	 * inside an int whatever a (possibly hostile) server sends. */
	if (code != NULL)
		*code = -1;
	if (diag == NULL || (p = strstr(diag, "data ")) == NULL)
		return KH_AUTH_INVALID;
	for (p += 5; n < 4 && (d = hexval(*p)) >= 0; p++, n++)
		v = v * 16 + d;
	if (n == 0 || (*p != '\0' && *p != ',' && *p != ' '))
		return KH_AUTH_INVALID;
	if (code != NULL)
		*code = v;
	switch (v) {
	case 0x525: /* user not found */
	case 0x52e: /* invalid credentials */ return KH_AUTH_INVALID;
	case 0x530: /* not permitted to log on at this time */
	case 0x531: /* not permitted to log on at this workstation */ return KH_AUTH_RESTRICTED;
	case 0x532: /* password expired */ return KH_AUTH_PASSWORD_EXPIRED;
	case 0x533: /* account disabled */ return KH_AUTH_DISABLED;
	case 0x701: /* account expired */ return KH_AUTH_ACCOUNT_EXPIRED;
	case 0x773: /* user must reset password */ return KH_AUTH_MUST_CHANGE;
	case 0x775: /* account locked out */ return KH_AUTH_LOCKED;
	default: return KH_AUTH_INVALID;
	}
}
