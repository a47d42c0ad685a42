/* libFuzzer target for kh_ldap_ad_result (connectors/ldap/ldap_ad.c), the
 * parser of Active Directory bind diagnostics such as
 *   80090308: LdapErr: DSID-0C09044E, comment: AcceptSecurityContext error, data 775, v4563
 * The input (up to the first NUL) is the diagnostic message.
 *
 * Properties:
 *  - no crash, no undefined behaviour, no read past the terminating NUL;
 *  - agreement with ref_parse() below: the first "data " is followed by 1 to
 *    4 hex digits ended by NUL, ',' or ' '; *code is that number, or -1 when
 *    there is none; the result is the documented mapping of the number, and
 *    KH_AUTH_INVALID for anything else;
 *  - the same result with code == NULL. */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "connectors/ldap/ldap_internal.h"

/* Returns the sub-code as a non-negative number, or -1 when there is none. */
static long long
ref_parse(const char *s)
{
	const char *p = strstr(s, "data ");
	unsigned long long v = 0;
	int n;

	if (p == NULL)
		return -1;
	p += 5;
	for (n = 0; n < 4 && strchr("0123456789abcdefABCDEF", *p) != NULL && *p != '\0'; n++, p++)
		v = v * 16 + (unsigned long long)(*p <= '9' ? *p - '0' : (*p | 0x20) - 'a' + 10);
	if (n == 0 || (*p != '\0' && *p != ',' && *p != ' '))
		return -1;
	return (long long)v;
}

static enum kh_auth_result
ref_map(long long v)
{
	switch (v) {
	case 0x530:
	case 0x531: return KH_AUTH_RESTRICTED;
	case 0x532: return KH_AUTH_PASSWORD_EXPIRED;
	case 0x533: return KH_AUTH_DISABLED;
	case 0x701: return KH_AUTH_ACCOUNT_EXPIRED;
	case 0x773: return KH_AUTH_MUST_CHANGE;
	case 0x775: return KH_AUTH_LOCKED;
	/* 0x525, 0x52e, unknown codes and none: the bind failed all the same */
	default: return KH_AUTH_INVALID;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	enum kh_auth_result r, r2, want;
	long long ref;
	int code = -2;
	char *s;

	if ((s = malloc(size + 1)) == NULL)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	r = kh_ldap_ad_result(s, &code);
	r2 = kh_ldap_ad_result(s, NULL);
	ref = ref_parse(s);
	want = ref_map(ref);
	if (r != want || r2 != r || (long long)code != ref) {
		fprintf(stderr,
		    "kh_ldap_ad_result: result %d/%d code %d; reference result %d code %lld\n"
		    "input: \"%s\"\n",
		    (int)r, (int)r2, code, (int)want, ref, s);
		abort();
	}
	free(s);
	return 0;
}
