#include "common/errors.h"

const char *
kh_strerror(int err)
{
	switch (err) {
	case KH_OK: return "success";
	case KH_ERR_INTERNAL: return "internal error";
	case KH_ERR_NOMEM: return "out of memory";
	case KH_ERR_INVALID: return "invalid input";
	case KH_ERR_TOO_LARGE: return "input too large";
	case KH_ERR_NOT_FOUND: return "not found";
	case KH_ERR_UNAVAILABLE: return "backend unavailable";
	case KH_ERR_DENIED: return "denied";
	case KH_ERR_CONFIG: return "configuration error";
	case KH_ERR_IO: return "I/O error";
	case KH_ERR_CRYPTO: return "cryptographic failure";
	case KH_ERR_EXISTS: return "already exists";
	case KH_ERR_REPLAY: return "already used";
	}
	return "unknown error";
}
