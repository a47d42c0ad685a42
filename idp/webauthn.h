/* WebAuthn (Level 2) server-side checks: registration (attestation formats
 * "none" and "packed", self and x5c) and authentication (assertions).
 * CBOR is read with libcbor and signatures are checked with OpenSSL EVP;
 * nothing here parses CBOR by hand. No Redis, no HTTP: the caller
 * keeps the challenge (bound to the session) and the credentials
 * (sessions/mfa.h).
 *
 * Every input is the base64url text the page posts; each has a size cap and
 * is refused (KH_ERR_INVALID / KH_ERR_TOO_LARGE, *why set to a short English
 * reason for the log) before any crypto runs when malformed. */
#ifndef KH_WEBAUTHN_H
#define KH_WEBAUTHN_H

#include <stddef.h>
#include <stdint.h>

#define KH_WA_CHALLENGE_LEN 32 /* bytes of random challenge */
#define KH_WA_CLIENT_DATA_MAX 4096 /* decoded clientDataJSON */
#define KH_WA_ATT_OBJ_MAX 16384 /* decoded attestationObject */
#define KH_WA_AUTH_DATA_MAX 4096
#define KH_WA_SIG_MAX 1024
#define KH_WA_CRED_ID_MAX 1023 /* bytes (WebAuthn allows up to 1023) */

struct kh_wa_rp {
	const char *rp_id; /* e.g. "idp.pref.example.lg.jp" or "localhost" */
	const char *origin; /* e.g. "https://idp.pref.example.lg.jp" */
};

/* A registered credential, as kept between ceremonies. */
struct kh_wa_cred {
	char *id; /* credential id, base64url */
	int alg; /* COSE algorithm: -7 ES256, -257 RS256, -8 EdDSA */
	char *pubkey; /* COSE_Key bytes, base64url */
	uint32_t sign_count;
	char aaguid[37]; /* 8-4-4-4-12 hex, all zero for "none" */
	char fmt[16]; /* attestation format at registration */
	int uv; /* user verified at registration */
	int backup_eligible; /* BE flag: a synced passkey */
};

/* Verifies navigator.credentials.create() output: clientDataJSON (type
 * "webauthn.create", challenge = challenge_b64 exactly, origin = rp->origin,
 * no cross-origin), the attestation object (authData RP ID hash = SHA-256 of
 * rp->rp_id, UP set, UV set when require_uv, AT flag with credential data,
 * attestation statement "none" or "packed" verified over authData ‖
 * SHA-256(clientDataJSON)). On KH_OK *out is filled (free with
 * kh_wa_cred_clear). KH_ERR_DENIED for a well-formed response that fails a
 * check (wrong challenge, origin, RP, flags, signature). */
int kh_wa_verify_registration(const struct kh_wa_rp *rp, const char *challenge_b64,
    const char *client_data_b64, const char *att_obj_b64, int require_uv, struct kh_wa_cred *out,
    const char **why);

/* Verifies navigator.credentials.get() output against a stored credential:
 * clientDataJSON (type "webauthn.get", challenge, origin), authenticatorData
 * (RP ID hash, UP, UV when require_uv), the signature over authData ‖
 * SHA-256(clientDataJSON) with the credential's public key. *new_count gets
 * the authenticator's counter; the caller rejects a counter that did not grow
 * (sessions/mfa.h kh_mfa_webauthn_counter). */
int kh_wa_verify_assertion(const struct kh_wa_rp *rp, const char *challenge_b64,
    const struct kh_wa_cred *cred, const char *client_data_b64, const char *auth_data_b64,
    const char *sig_b64, int require_uv, uint32_t *new_count, const char **why);

/* The credential as a JSON document for storage (jansson), and back.
 * *json: free(). kh_wa_cred_from_json refuses unknown algorithms and
 * malformed fields. */
int kh_wa_cred_to_json(const struct kh_wa_cred *c, char **json);
int kh_wa_cred_from_json(const char *json, struct kh_wa_cred *out);
void kh_wa_cred_clear(struct kh_wa_cred *c);

/* The browser side: /static/webauthn.js (idp/static.c serves it). */
extern const char kh_webauthn_js[];
extern const size_t kh_webauthn_js_len;

#endif
