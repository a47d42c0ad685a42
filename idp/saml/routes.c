/* The saml endpoint table (contract paths from ARCHITECTURE.md). */
#include <stddef.h>

#include "idp/idp.h"
#include "idp/saml/saml_int.h"

const struct kh_endpoint kh_saml_endpoints[] = {
	{ "/saml/metadata", KH_GET, kh_saml_handle_metadata, 0, "saml_metadata" },
	{ "/saml/sso", KH_GET | KH_POST, kh_saml_handle_sso, KH_EP_HTML, "saml_sso" },
	{ "/saml/init", KH_GET, kh_saml_handle_init, KH_EP_HTML, "saml_init" },
	{ "/saml/slo", KH_GET | KH_POST, kh_saml_handle_slo, KH_EP_HTML, "saml_slo" },
	{ NULL, 0, NULL, 0, NULL },
};
