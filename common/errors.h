/* One error convention for the whole tree: 0 is success, failures are the
 * negative KH_ERR_* codes below. Functions set their output pointers to NULL on
 * entry and clean up through a single `out:` label. */
#ifndef KH_ERRORS_H
#define KH_ERRORS_H

enum kh_err {
	KH_OK = 0,
	KH_ERR_INTERNAL = -1, /* a bug or an impossible state */
	KH_ERR_NOMEM = -2, /* allocation failed */
	KH_ERR_INVALID = -3, /* malformed input */
	KH_ERR_TOO_LARGE = -4, /* input over a hard cap */
	KH_ERR_NOT_FOUND = -5, /* no such record */
	KH_ERR_UNAVAILABLE = -6, /* a backend (LDAP, Redis) cannot be reached */
	KH_ERR_DENIED = -7, /* authentication or authorisation refused */
	KH_ERR_CONFIG = -8, /* bad configuration */
	KH_ERR_IO = -9, /* file or socket error */
	KH_ERR_CRYPTO = -10, /* a cryptographic primitive failed */
	KH_ERR_EXISTS = -11, /* record already exists */
	KH_ERR_REPLAY = -12, /* a one-time value used again (TOTP step, sign counter) */
};

const char *kh_strerror(int err);

#endif
