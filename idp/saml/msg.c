/* The one boundary where SAML messages enter: size caps, base64 and DEFLATE
 * decoding with caps, no DTD (no XXE, no entity expansion), duplicate
 * parameters, signature algorithms (no SHA-1), and the facts the handlers
 * check before lasso sees the message (root element, ID, Issuer,
 * IssueInstant). Lasso parses and verifies the message again itself. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "common/buf.h"
#include "common/config.h"
#include "common/errors.h"
#include "common/str.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"

#define NS_DSIG "http://www.w3.org/2000/09/xmldsig#"
#define NS_SAML "urn:oasis:names:tc:SAML:2.0:assertion"

static const char *const strong_sig_algs[] = {
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256",
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha384",
	"http://www.w3.org/2001/04/xmldsig-more#rsa-sha512",
	NULL,
};
static const char *const strong_digests[] = {
	"http://www.w3.org/2001/04/xmlenc#sha256",
	"http://www.w3.org/2001/04/xmldsig-more#sha384",
	"http://www.w3.org/2001/04/xmlenc#sha512",
	NULL,
};

static int
in_list(const char *s, const char *const *list)
{
	size_t i;

	for (i = 0; s != NULL && list[i] != NULL; i++)
		if (strcmp(s, list[i]) == 0)
			return 1;
	return 0;
}

const char *
kh_saml_raw_query(const struct kh_req *req)
{
	return req->raw_query;
}

/* Standard base64 with optional white space; out gets a NUL. */
static int
b64_decode(const char *in, size_t inlen, size_t max, unsigned char **out, size_t *outlen)
{
	char *clean = NULL;
	unsigned char *buf = NULL;
	size_t i, n = 0, pad = 0;
	int dec, r = KH_ERR_INVALID;

	*out = NULL;
	if ((clean = malloc(inlen + 1)) == NULL)
		return KH_ERR_NOMEM;
	for (i = 0; i < inlen; i++) {
		char c = in[i];
		if (c == ' ' || c == '\n' || c == '\r' || c == '\t')
			continue;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
			c == '+' || c == '/' || c == '='))
			goto out;
		clean[n++] = c;
	}
	if (n == 0 || n % 4 != 0)
		goto out;
	/* '=' only as padding, at the very end: EVP_DecodeBlock would read one in
	 * the middle as zero bits, and lasso must see the same bytes we check. */
	for (i = 0; i + 2 < n; i++)
		if (clean[i] == '=')
			goto out;
	if (clean[n - 2] == '=' && clean[n - 1] != '=')
		goto out;
	if (n / 4 * 3 > max) {
		r = KH_ERR_TOO_LARGE;
		goto out;
	}
	pad = (clean[n - 1] == '=') + (clean[n - 2] == '=');
	if ((buf = malloc(n / 4 * 3 + 1)) == NULL) {
		r = KH_ERR_NOMEM;
		goto out;
	}
	dec = EVP_DecodeBlock(buf, (const unsigned char *)clean, (int)n);
	if (dec < 0 || (size_t)dec < pad)
		goto out;
	*outlen = (size_t)dec - pad;
	buf[*outlen] = '\0';
	*out = buf;
	buf = NULL;
	r = KH_OK;
out:
	free(buf);
	free(clean);
	return r;
}

/* Raw DEFLATE (HTTP-Redirect binding) with an output cap: no deflate bombs. */
static int
inflate_capped(const unsigned char *in, size_t inlen, size_t max, char **out, size_t *outlen)
{
	z_stream z;
	char *buf;
	int zr, r = KH_ERR_INVALID;

	*out = NULL;
	if ((buf = malloc(max + 1)) == NULL)
		return KH_ERR_NOMEM;
	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, -15) != Z_OK) {
		free(buf);
		return KH_ERR_INTERNAL;
	}
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)inlen;
	z.next_out = (Bytef *)buf;
	z.avail_out = (uInt)max;
	zr = inflate(&z, Z_FINISH);
	if (zr == Z_STREAM_END) {
		*outlen = z.total_out;
		buf[*outlen] = '\0';
		*out = buf;
		buf = NULL;
		r = KH_OK;
	} else if (zr == Z_BUF_ERROR && z.avail_out == 0)
		r = KH_ERR_TOO_LARGE;
	inflateEnd(&z);
	free(buf);
	return r;
}

static xmlNodePtr
child_elem(xmlNodePtr parent, const char *ns, const char *name)
{
	xmlNodePtr c;

	for (c = parent ? parent->children : NULL; c != NULL; c = c->next)
		if (c->type == XML_ELEMENT_NODE && xmlStrcmp(c->name, BAD_CAST name) == 0 &&
		    c->ns != NULL && xmlStrcmp(c->ns->href, BAD_CAST ns) == 0)
			return c;
	return NULL;
}

static char *
prop_dup(xmlNodePtr n, const char *name)
{
	xmlChar *v = xmlGetNoNsProp(n, BAD_CAST name);
	char *s = v ? strdup((const char *)v) : NULL;

	xmlFree(v);
	return s;
}

int
kh_saml_parse_instant(const char *s, int64_t *out)
{
	struct tm tm;
	const char *p;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return KH_ERR_INVALID;
	if (*p == '.') {
		p++;
		while (*p >= '0' && *p <= '9')
			p++;
	}
	if (strcmp(p, "Z") != 0)
		return KH_ERR_INVALID;
	if ((t = timegm(&tm)) == (time_t)-1)
		return KH_ERR_INVALID;
	*out = (int64_t)t;
	return KH_OK;
}

/* Parses the decoded XML without DTD, network or entity substitution and
 * records what the handlers check. Any DOCTYPE is refused outright. */
static int
inspect(struct kh_saml_msg *m, enum kh_saml_error *err, const char **why)
{
	xmlDocPtr doc = NULL;
	xmlNodePtr root, sig, si, sm, ref, dm, issuer;
	xmlChar *alg = NULL, *txt = NULL;
	char *instant = NULL;
	int r = KH_ERR_INVALID;

	*err = KH_SAML_E_MALFORMED;
	if (memchr(m->xml, '\0', m->xml_len) != NULL) {
		*why = "NUL byte in message";
		return r;
	}
	if (strstr(m->xml, "<!DOCTYPE") != NULL || strstr(m->xml, "<!ENTITY") != NULL) {
		*why = "DTD in message";
		return r;
	}
	doc = xmlReadMemory(m->xml, (int)m->xml_len, "saml.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL || (root = xmlDocGetRootElement(doc)) == NULL) {
		*why = "not well-formed XML";
		goto out;
	}
	if (doc->intSubset != NULL || doc->extSubset != NULL) {
		*why = "DTD in message";
		goto out;
	}
	kh_strlcpy(m->root, (const char *)root->name, sizeof(m->root));
	m->id = prop_dup(root, "ID");
	if ((instant = prop_dup(root, "IssueInstant")) == NULL ||
	    kh_saml_parse_instant(instant, &m->issue_instant) != KH_OK) {
		*why = "missing or malformed IssueInstant";
		goto out;
	}
	if ((issuer = child_elem(root, NS_SAML, "Issuer")) != NULL &&
	    (txt = xmlNodeGetContent(issuer)) != NULL)
		m->issuer = strdup((const char *)txt);
	if (m->id == NULL || m->issuer == NULL) {
		*why = "missing ID or Issuer";
		goto out;
	}
	if ((sig = child_elem(root, NS_DSIG, "Signature")) != NULL) {
		if (m->binding_post)
			m->has_signature = 1;
		si = child_elem(sig, NS_DSIG, "SignedInfo");
		sm = child_elem(si, NS_DSIG, "SignatureMethod");
		ref = child_elem(si, NS_DSIG, "Reference");
		dm = child_elem(ref, NS_DSIG, "DigestMethod");
		alg = sm ? xmlGetNoNsProp(sm, BAD_CAST "Algorithm") : NULL;
		if (!in_list((const char *)alg, strong_sig_algs)) {
			*err = KH_SAML_E_WEAK_ALG;
			*why = "signature algorithm refused (SHA-1 or unknown)";
			goto out;
		}
		xmlFree(alg);
		alg = dm ? xmlGetNoNsProp(dm, BAD_CAST "Algorithm") : NULL;
		if (!in_list((const char *)alg, strong_digests)) {
			*err = KH_SAML_E_WEAK_ALG;
			*why = "digest algorithm refused (SHA-1 or unknown)";
			goto out;
		}
	}
	r = KH_OK;
out:
	xmlFree(alg);
	xmlFree(txt);
	free(instant);
	if (doc != NULL)
		xmlFreeDoc(doc);
	return r;
}

int
kh_saml_msg_read(struct kh_req *req, const char *param, struct kh_saml_msg *m,
    enum kh_saml_error *err, const char **why)
{
	const struct kh_params *ps;
	size_t max = (size_t)req->app->cfg->saml_max_message_bytes, vlen = 0, rlen = 0;
	unsigned char *bin = NULL;
	size_t binlen = 0;
	const char *sigalg;
	int r;

	memset(m, 0, sizeof(*m));
	*err = KH_SAML_E_MALFORMED;
	m->binding_post = req->method == KH_POST;
	m->param = param;
	ps = m->binding_post ? &req->form : &req->query;
	if (ps->duplicates &&
	    (kh_param_count(ps, param) > 1 || kh_param_count(ps, "RelayState") > 1 ||
		kh_param_count(ps, "Signature") > 1 || kh_param_count(ps, "SigAlg") > 1)) {
		*why = "repeated SAML parameter";
		return KH_ERR_INVALID;
	}
	if ((m->value = kh_param_get(ps, param, &vlen)) == NULL || vlen == 0) {
		*why = "no SAML message";
		return KH_ERR_INVALID;
	}
	if (vlen > max ||
	    (!m->binding_post && req->raw_query != NULL && strlen(req->raw_query) > max + 8192)) {
		*err = KH_SAML_E_TOO_LARGE;
		*why = "message over [saml] max_message_bytes";
		return KH_ERR_TOO_LARGE;
	}
	if ((m->relay_state = kh_param_get(ps, "RelayState", &rlen)) != NULL) {
		if (rlen > KH_SAML_RELAYSTATE_MAX) {
			*err = KH_SAML_E_TOO_LARGE;
			*why = "RelayState too long";
			return KH_ERR_TOO_LARGE;
		}
		if (strlen(m->relay_state) != rlen || !kh_utf8_valid_text(m->relay_state, rlen)) {
			*why = "RelayState is not text";
			return KH_ERR_INVALID;
		}
	}
	if (!m->binding_post) {
		if ((m->raw_query = req->raw_query) == NULL) {
			*why = "no raw query";
			return KH_ERR_INVALID;
		}
		if (kh_param_get(ps, "Signature", NULL) != NULL) {
			m->has_signature = 1;
			sigalg = kh_param_get(ps, "SigAlg", NULL);
			if (!in_list(sigalg, strong_sig_algs)) {
				*err = KH_SAML_E_WEAK_ALG;
				*why = "SigAlg refused (SHA-1 or unknown)";
				return KH_ERR_DENIED;
			}
		}
	}
	r = b64_decode(m->value, vlen, max, &bin, &binlen);
	if (r == KH_OK && !m->binding_post) {
		r = inflate_capped(bin, binlen, max, &m->xml, &m->xml_len);
		free(bin);
	} else if (r == KH_OK) {
		m->xml = (char *)bin;
		m->xml_len = binlen;
	}
	if (r != KH_OK) {
		if (r == KH_ERR_TOO_LARGE)
			*err = KH_SAML_E_TOO_LARGE;
		*why = r == KH_ERR_TOO_LARGE ? "decoded message over [saml] max_message_bytes"
					     : "message is not base64/DEFLATE";
		return r;
	}
	return inspect(m, err, why);
}

void
kh_saml_msg_free(struct kh_saml_msg *m)
{
	if (m->xml != NULL)
		kh_freezero(m->xml, m->xml_len + 1);
	free(m->id);
	free(m->issuer);
	memset(m, 0, sizeof(*m));
}
