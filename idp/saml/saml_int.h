/* Internal interface of idp/saml. Nothing outside idp/saml includes this. */
#ifndef KH_SAML_INT_H
#define KH_SAML_INT_H

#include <lasso/lasso.h>
#include <stddef.h>
#include <stdint.h>

#include "common/buf.h"
#include "idp/http.h"

struct kh_idp;
struct kh_session;
struct kh_apps_view;

#define KH_SAML_RELAYSTATE_MAX 1024
#define KH_SAML_REQUEST_MAX_AGE 300 /* seconds an AuthnRequest stays acceptable */
#define KH_SAML_ATTRS_MAX 32
#define KH_SAML_NAME_MAX 512
#define KH_SAML_SLO_TTL 300
#define KH_SAML_FIELD_LASSO "x_saml_lasso" /* session field: lasso session dump */
#define KH_SAML_FIELD_SPS "x_saml_sps" /* session field: SP entity ids, \n-joined */

enum kh_saml_nameid {
	KH_NAMEID_PERSISTENT = 1,
	KH_NAMEID_TRANSIENT,
	KH_NAMEID_EMAIL,
	KH_NAMEID_UNSPECIFIED, /* value of nameid_attribute */
};

struct kh_saml_attr {
	char *source; /* session field: uid, mail, display_name, groups, ... */
	char *name; /* attribute Name sent to the SP */
	char *name_format; /* NameFormat URI */
};

/* One registered SP, parsed from its registry document. */
struct kh_saml_sp {
	char *app_id;
	char *name;
	char *entity_id;
	enum kh_saml_nameid nameid;
	char *nameid_attribute; /* for KH_NAMEID_UNSPECIFIED */
	struct kh_saml_attr attrs[KH_SAML_ATTRS_MAX];
	size_t nattrs;
	char **groups; /* users must be in one of these (none: everyone) */
	size_t ngroups;
	int sign_response;
	int sign_assertion;
	int encrypt_assertion;
	int require_signed_requests; /* registry flag or AuthnRequestsSigned */
	int has_slo;
};

struct kh_saml_view {
	LassoServer *server; /* one per registry version, never mutated */
	struct kh_saml_sp *sps;
	size_t nsps;
};

struct kh_saml_global {
	char *metadata; /* rendered IdP metadata served at /saml/metadata */
	size_t metadata_len;
	char *metadata_unsigned; /* fed to lasso */
	unsigned char nameid_key[32]; /* persistent NameIDs */
	unsigned char index_key[32]; /* SessionIndex values */
	char script_csp[96]; /* "'sha256-...'" of the auto-submit script */
};

/* Error kinds: each has a ja/en explanation and an HTTP status. */
enum kh_saml_error {
	KH_SAML_E_MALFORMED = 0,
	KH_SAML_E_TOO_LARGE,
	KH_SAML_E_UNKNOWN_SP,
	KH_SAML_E_BAD_ACS,
	KH_SAML_E_SIGNATURE,
	KH_SAML_E_UNSIGNED,
	KH_SAML_E_WEAK_ALG,
	KH_SAML_E_REPLAY,
	KH_SAML_E_EXPIRED,
	KH_SAML_E_BINDING,
	KH_SAML_E_DENIED,
	KH_SAML_E_NO_SESSION,
	KH_SAML_E_DISABLED,
	KH_SAML_E_UNAVAILABLE,
	KH_SAML_E_INTERNAL,
	KH_SAML_E__COUNT
};

/* module.c */
/* 1 when s names a session field an attribute may be released from. */
int kh_saml_attr_source_valid(const char *s);
struct kh_saml_global *kh_saml_global(const struct kh_idp *app);
const struct kh_saml_sp *kh_saml_sp_find(const struct kh_saml_view *sv, const char *entity_id);
/* The view's SAML part, or NULL when SAML is off or no SP is registered. */
struct kh_saml_view *kh_saml_view_of(const struct kh_apps_view *v);

/* msg.c: message intake at one boundary */
struct kh_saml_msg {
	int binding_post; /* 0: HTTP-Redirect */
	const char *param; /* "SAMLRequest" or "SAMLResponse" */
	const char *value; /* as received (base64, deflated for Redirect) */
	const char *raw_query; /* Redirect: the raw query string for lasso */
	const char *relay_state; /* NULL when absent */
	int has_signature; /* a Signature param or element is present */
	char *xml; /* decoded XML (NUL-terminated), for checks only */
	size_t xml_len;
	char root[32]; /* local name of the root element */
	char *id;
	char *issuer;
	int64_t issue_instant;
};
/* Reads SAMLRequest/SAMLResponse + RelayState from the query (GET) or form
 * (POST), enforces size caps, decodes, refuses DTDs, weak algorithms and
 * duplicates. On failure *err says which error page to show and *why what to
 * log. */
int kh_saml_msg_read(struct kh_req *req, const char *param, struct kh_saml_msg *m,
    enum kh_saml_error *err, const char **why);
void kh_saml_msg_free(struct kh_saml_msg *m);
int kh_saml_parse_instant(const char *s, int64_t *out);
/* The raw query string of the request (after '?'), or NULL. */
const char *kh_saml_raw_query(const struct kh_req *req);

/* page.c */
void kh_saml_error_page(struct kh_req *req, struct kh_resp *resp, enum kh_saml_error e,
    const char *why, const char *sp);
/* Sends msg to url: a redirect for HTTP-Redirect messages (url already holds
 * the query), else an auto-submitting form with name=msg and RelayState. */
int kh_saml_send(struct kh_req *req, struct kh_resp *resp, int post, const char *url,
    const char *name, const char *msg, const char *relay_state);

/* assertion.c */
int kh_saml_fill_assertion(struct kh_idp *app, LassoLogin *login, const struct kh_saml_sp *sp,
    const struct kh_session *s, const char *session_ref);
const char *kh_saml_authn_class(struct kh_idp *app, const struct kh_session *s);
int kh_saml_random_id(char *out, size_t outlen); /* "_" + 40 hex */

/* store.c: SAML state kept in the SSO session */
int kh_saml_session_load(struct kh_idp *app, const char *cookie, char **lasso_dump);
int kh_saml_session_save(struct kh_idp *app, const char *cookie, const char *lasso_dump);
/* A stable, opaque reference for the session (for SessionIndex). */
int kh_saml_session_ref(struct kh_idp *app, const char *cookie, char out[64]);

/* slo.c */
void kh_saml_handle_slo(struct kh_req *req, struct kh_resp *resp);
/* sso.c */
void kh_saml_handle_sso(struct kh_req *req, struct kh_resp *resp);
void kh_saml_handle_init(struct kh_req *req, struct kh_resp *resp);
/* metadata.c */
void kh_saml_handle_metadata(struct kh_req *req, struct kh_resp *resp);
int kh_saml_metadata_render(struct kh_idp *app, struct kh_saml_global *g, char **errmsg);

#endif
