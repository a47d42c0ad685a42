/* IdP metadata: rendered from a template (lasso cannot generate it), signed
 * with xmlsec when [saml] sign_metadata is on, and checked at start by
 * loading the unsigned form into lasso with the signing key. */
#include <lasso/lasso.h>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xmlsec/crypto.h>
#include <xmlsec/templates.h>
#include <xmlsec/xmldsig.h>
#include <xmlsec/xmltree.h>

#include "certs/keys.h"
#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/log.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"

#define METADATA_MAX (64 * 1024)
#define MD_ID "kakehashi-idp-metadata"

static void
key_descriptor(struct kh_buf *b, const char *cert_b64)
{
	kh_buf_append_str(b,
	    "    <md:KeyDescriptor use=\"signing\">\n"
	    "      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>");
	kh_buf_append_html(b, cert_b64);
	kh_buf_append_str(b,
	    "</ds:X509Certificate></ds:X509Data></ds:KeyInfo>\n"
	    "    </md:KeyDescriptor>\n");
}

static void
endpoint(
    struct kh_buf *b, const char *elem, const char *binding, const char *base, const char *path)
{
	kh_buf_appendf(b, "    <md:%s Binding=\"%s\" Location=\"", elem, binding);
	kh_buf_append_html(b, base);
	kh_buf_append_str(b, path);
	kh_buf_append_str(b, "\"/>\n");
}

static int
render(struct kh_idp *app, struct kh_buf *b)
{
	const struct kh_config *cfg = app->cfg;
	const char *next = kh_keys_saml_next_cert_b64(app->keys);
	const char *base = cfg->base_url;
	size_t n = strlen(base);
	char *trimmed;
	int r;

	/* base_url without a trailing slash */
	if ((trimmed = strndup(base, n > 0 && base[n - 1] == '/' ? n - 1 : n)) == NULL)
		return KH_ERR_NOMEM;
	kh_buf_append_str(b,
	    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<md:EntityDescriptor xmlns:md=\"urn:oasis:names:tc:SAML:2.0:metadata\" "
	    "xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" ID=\"" MD_ID "\" entityID=\"");
	kh_buf_append_html(b, cfg->saml_entity_id);
	kh_buf_append_str(b,
	    "\">\n"
	    "  <md:IDPSSODescriptor WantAuthnRequestsSigned=\"false\" "
	    "protocolSupportEnumeration=\"urn:oasis:names:tc:SAML:2.0:protocol\">\n");
	key_descriptor(b, kh_keys_saml_cert_b64(app->keys));
	if (next != NULL && *next != '\0')
		key_descriptor(b, next);
	endpoint(
	    b, "SingleLogoutService", LASSO_SAML2_METADATA_BINDING_REDIRECT, trimmed, "/saml/slo");
	endpoint(b, "SingleLogoutService", LASSO_SAML2_METADATA_BINDING_POST, trimmed, "/saml/slo");
	kh_buf_append_str(b,
	    "    <md:NameIDFormat>" LASSO_SAML2_NAME_IDENTIFIER_FORMAT_PERSISTENT
	    "</md:NameIDFormat>\n"
	    "    <md:NameIDFormat>" LASSO_SAML2_NAME_IDENTIFIER_FORMAT_TRANSIENT
	    "</md:NameIDFormat>\n"
	    "    <md:NameIDFormat>" LASSO_SAML2_NAME_IDENTIFIER_FORMAT_EMAIL "</md:NameIDFormat>\n"
	    "    <md:NameIDFormat>" LASSO_SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED
	    "</md:NameIDFormat>\n");
	endpoint(
	    b, "SingleSignOnService", LASSO_SAML2_METADATA_BINDING_REDIRECT, trimmed, "/saml/sso");
	endpoint(b, "SingleSignOnService", LASSO_SAML2_METADATA_BINDING_POST, trimmed, "/saml/sso");
	r = kh_buf_append_str(b, "  </md:IDPSSODescriptor>\n</md:EntityDescriptor>\n");
	free(trimmed);
	return r;
}

/* Enveloped RSA-SHA256 signature over the whole EntityDescriptor. */
static int
sign_metadata(struct kh_idp *app, const char *xml, char **out, size_t *outlen)
{
	const char *key = kh_keys_saml_key_pem(app->keys), *cert = kh_keys_saml_cert_pem(app->keys);
	xmlDocPtr doc = NULL;
	xmlNodePtr root, sig, ref, ki;
	xmlAttrPtr id;
	xmlSecDSigCtxPtr ctx = NULL;
	xmlChar *mem = NULL;
	int len = 0, r = KH_ERR_CRYPTO;

	*out = NULL;
	doc = xmlReadMemory(xml, (int)strlen(xml), "metadata.xml", NULL, XML_PARSE_NONET);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL)
		goto out;
	if ((id = xmlHasProp(root, BAD_CAST "ID")) == NULL)
		goto out;
	xmlAddID(NULL, doc, BAD_CAST MD_ID, id);
	sig = xmlSecTmplSignatureCreate(
	    doc, xmlSecTransformExclC14NId, xmlSecTransformRsaSha256Id, NULL);
	if (sig == NULL)
		goto out;
	/* The signature is the first child of EntityDescriptor. */
	if (root->children != NULL)
		xmlAddPrevSibling(root->children, sig);
	else
		xmlAddChild(root, sig);
	ref = xmlSecTmplSignatureAddReference(
	    sig, xmlSecTransformSha256Id, NULL, BAD_CAST "#" MD_ID, NULL);
	if (ref == NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformEnvelopedId) == NULL ||
	    xmlSecTmplReferenceAddTransform(ref, xmlSecTransformExclC14NId) == NULL)
		goto out;
	if ((ki = xmlSecTmplSignatureEnsureKeyInfo(sig, NULL)) == NULL ||
	    xmlSecTmplKeyInfoAddX509Data(ki) == NULL)
		goto out;
	if ((ctx = xmlSecDSigCtxCreate(NULL)) == NULL)
		goto out;
	ctx->signKey = xmlSecCryptoAppKeyLoadMemory(
	    (const xmlSecByte *)key, strlen(key), xmlSecKeyDataFormatPem, NULL, NULL, NULL);
	if (ctx->signKey == NULL ||
	    xmlSecCryptoAppKeyCertLoadMemory(
		ctx->signKey, (const xmlSecByte *)cert, strlen(cert), xmlSecKeyDataFormatPem) < 0)
		goto out;
	if (xmlSecDSigCtxSign(ctx, sig) < 0)
		goto out;
	xmlDocDumpMemoryEnc(doc, &mem, &len, "UTF-8");
	if (mem == NULL || len <= 0)
		goto out;
	if ((*out = malloc((size_t)len + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	memcpy(*out, mem, (size_t)len);
	(*out)[len] = '\0';
	*outlen = (size_t)len;
	r = KH_OK;
out:
	if (ctx != NULL)
		xmlSecDSigCtxDestroy(ctx);
	xmlFree(mem);
	if (doc != NULL)
		xmlFreeDoc(doc);
	return r;
}

int
kh_saml_metadata_render(struct kh_idp *app, struct kh_saml_global *g, char **errmsg)
{
	struct kh_buf b;
	LassoServer *check = NULL;
	int r;

	kh_buf_init(&b, METADATA_MAX);
	if ((r = render(app, &b)) != KH_OK) {
		*errmsg = strdup("cannot render the SAML metadata");
		goto out;
	}
	g->metadata_unsigned = kh_buf_steal(&b, NULL);
	check = lasso_server_new_from_buffers(g->metadata_unsigned, kh_keys_saml_key_pem(app->keys),
	    NULL, kh_keys_saml_cert_pem(app->keys));
	if (check == NULL || check->parent.ProviderID == NULL ||
	    strcmp(check->parent.ProviderID, app->cfg->saml_entity_id) != 0) {
		*errmsg = strdup("lasso refused the rendered IdP metadata or the signing key");
		r = KH_ERR_CONFIG;
		goto out;
	}
	if (app->cfg->saml_sign_metadata) {
		if ((r = sign_metadata(
			 app, g->metadata_unsigned, &g->metadata, &g->metadata_len)) != KH_OK) {
			*errmsg = strdup("cannot sign the SAML metadata");
			goto out;
		}
	} else {
		if ((g->metadata = strdup(g->metadata_unsigned)) == NULL) {
			r = KH_ERR_NOMEM;
			goto out;
		}
		g->metadata_len = strlen(g->metadata);
	}
	r = KH_OK;
out:
	if (check != NULL)
		lasso_server_destroy(check);
	kh_buf_free(&b);
	return r;
}

void
kh_saml_handle_metadata(struct kh_req *req, struct kh_resp *resp)
{
	struct kh_saml_global *g = kh_saml_global(req->app);

	if (g == NULL) {
		kh_saml_error_page(req, resp, KH_SAML_E_DISABLED, "saml disabled", NULL);
		return;
	}
	resp->status = 200;
	resp->content_type = "application/samlmetadata+xml";
	kh_buf_reset(&resp->body);
	kh_buf_append(&resp->body, g->metadata, g->metadata_len);
	kh_resp_header(
	    resp, "Content-Disposition", "inline; filename=\"kakehashi-idp-metadata.xml\"");
}
