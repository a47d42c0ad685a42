/* libFuzzer target for kh_saml_msg_read (idp/saml/msg.c): the one boundary
 * where SAMLRequest/SAMLResponse values (base64, raw DEFLATE for the
 * HTTP-Redirect binding) enter before lasso sees them.
 *
 * The first input byte chooses how the rest reaches the parameter value:
 *   bits 0-1  0: the bytes are the parameter value as received (base64
 *                text, white space, NULs, junk);
 *             1: POST binding, the harness base64-encodes the bytes (the
 *                fuzzer works on the XML directly);
 *             2: Redirect binding, the harness DEFLATEs and base64-encodes
 *                the bytes (XML directly, through the inflate path);
 *             3: Redirect binding, the harness base64-encodes the bytes
 *                (a raw DEFLATE stream: bombs, truncation, garbage);
 *   bit 2     mode 0 only: POST (set) or Redirect;
 *   bits 3-4  [saml] max_message_bytes: 4096 (the config minimum), 262144
 *             (the default), 1024 or 300 (below the minimum, to reach the
 *             caps with -max_len 4096 inputs; the function takes any cap);
 *   bit 5     a RelayState parameter;
 *   bit 6     Signature + SigAlg (rsa-sha256) parameters;
 *   bit 7     the parameter arrives twice (must be refused).
 *
 * Properties (abort() with a message when one fails):
 *  - no crash, leak or UB (ASan/UBSan), the value is an exact-size heap block;
 *  - a success has a NUL-terminated xml of xml_len <= cap bytes with no NUL
 *    inside, a root name, an ID, an Issuer;
 *  - DTDs are always refused: a success contains neither "<!DOCTYPE" nor
 *    "<!ENTITY", and libxml2 (same options as msg.c) finds no internal or
 *    external subset, no DTD node and no entity reference in it, whatever
 *    the declared encoding;
 *  - modes 1 and 2: a success returns exactly the bytes encoded;
 *  - mode 0, POST: a success means the value was strict base64 (RFC 4648
 *    alphabet, white space skipped, '=' only as the last one or two of a
 *    length multiple of 4) and the xml is its decoding, so the bytes checked
 *    here are the bytes lasso decodes again;
 *  - a repeated parameter is always refused. */
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "common/config.h"
#include "common/errors.h"
#include "idp/http.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"

#define SIG_ALG "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"

static void
fail(const char *what)
{
	fprintf(stderr, "saml_msg: %s\n", what);
	abort();
}

static void
silent(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	xmlInitParser();
	xmlSetGenericErrorFunc(NULL, silent);
	return 0;
}

static char *
b64_encode(const unsigned char *in, size_t n)
{
	char *out = malloc(4 * ((n + 2) / 3) + 1);

	if (out == NULL)
		fail("out of memory");
	EVP_EncodeBlock((unsigned char *)out, in, (int)n);
	return out;
}

static unsigned char *
deflate_raw(const unsigned char *in, size_t n, size_t *outlen)
{
	z_stream z;
	unsigned char *out;
	size_t max = n + n / 8 + 64;

	if ((out = malloc(max)) == NULL)
		fail("out of memory");
	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		fail("deflateInit2");
	z.next_in = (Bytef *)(uintptr_t)in;
	z.avail_in = (uInt)n;
	z.next_out = out;
	z.avail_out = (uInt)max;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		fail("deflate");
	*outlen = z.total_out;
	deflateEnd(&z);
	return out;
}

static int
b64_val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Strict RFC 4648 base64 with ' ', \t, \r, \n skipped: *out (malloc) or -1. */
static long
ref_b64_decode(const unsigned char *in, size_t n, unsigned char **out)
{
	unsigned char *clean = malloc(n + 1), *o;
	size_t i, m = 0, pad = 0, len = 0;
	unsigned long acc = 0;
	int v;

	*out = NULL;
	if (clean == NULL)
		fail("out of memory");
	for (i = 0; i < n; i++)
		if (in[i] != ' ' && in[i] != '\t' && in[i] != '\r' && in[i] != '\n')
			clean[m++] = in[i];
	if (m == 0 || m % 4 != 0)
		goto bad;
	if (clean[m - 1] == '=')
		pad = clean[m - 2] == '=' ? 2 : 1;
	if ((o = malloc(m / 4 * 3 + 1)) == NULL)
		fail("out of memory");
	for (i = 0; i < m; i++) {
		if (i >= m - pad) {
			if (clean[i] != '=')
				goto bad_o;
			v = 0;
		} else if ((v = b64_val(clean[i])) < 0)
			goto bad_o;
		acc = (acc << 6) | (unsigned long)v;
		if (i % 4 == 3) {
			o[len++] = (unsigned char)(acc >> 16);
			o[len++] = (unsigned char)(acc >> 8);
			o[len++] = (unsigned char)acc;
			acc = 0;
		}
	}
	free(clean);
	*out = o;
	return (long)(len - pad);
bad_o:
	free(o);
bad:
	free(clean);
	return -1;
}

static int
has_entity_or_dtd(xmlNodePtr n)
{
	for (; n != NULL; n = n->next) {
		if (n->type == XML_ENTITY_REF_NODE || n->type == XML_ENTITY_NODE ||
		    n->type == XML_ENTITY_DECL || n->type == XML_DTD_NODE ||
		    n->type == XML_DOCUMENT_TYPE_NODE)
			return 1;
		if (n->type == XML_ELEMENT_NODE && has_entity_or_dtd(n->children))
			return 1;
	}
	return 0;
}

static void
check_no_dtd(const struct kh_saml_msg *m)
{
	xmlDocPtr doc;

	if (strstr(m->xml, "<!DOCTYPE") != NULL || strstr(m->xml, "<!ENTITY") != NULL)
		fail("accepted a message with a DTD");
	doc = xmlReadMemory(m->xml, (int)m->xml_len, "saml.xml", NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	if (doc == NULL)
		fail("accepted a message libxml2 does not parse");
	if (doc->intSubset != NULL || doc->extSubset != NULL || has_entity_or_dtd(doc->children))
		fail("accepted a message whose parse has a DTD or entity");
	xmlFreeDoc(doc);
}

static void
param_set(struct kh_params *ps, const char *name, const char *value, size_t len)
{
	struct kh_param *p = &ps->items[ps->n++];

	p->name = (char *)name;
	p->value = (char *)value;
	p->len = len;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const long caps[4] = { 4096, 262144, 1024, 300 };
	struct kh_config cfg;
	struct kh_idp app;
	struct kh_req req;
	struct kh_saml_msg m;
	struct kh_params *ps;
	enum kh_saml_error err;
	const char *why = NULL;
	unsigned char flags, *payload = NULL, *ref = NULL, *z = NULL;
	size_t plen, vlen, zlen = 0;
	char *value = NULL, *raw = NULL;
	int mode, post, r;
	long cap, reflen = -1;

	if (size < 1)
		return 0;
	flags = data[0];
	mode = flags & 3;
	plen = size - 1;
	if ((payload = malloc(plen + 1)) == NULL)
		fail("out of memory");
	memcpy(payload, data + 1, plen);
	payload[plen] = '\0';

	switch (mode) {
	case 0:
		post = (flags & 4) != 0;
		/* exact-size block: ASan sees any read past the value */
		if ((value = malloc(plen ? plen : 1)) == NULL)
			fail("out of memory");
		memcpy(value, data + 1, plen);
		vlen = plen;
		break;
	case 1:
		post = 1;
		value = b64_encode(payload, plen);
		vlen = strlen(value);
		break;
	case 2:
		post = 0;
		z = deflate_raw(payload, plen, &zlen);
		value = b64_encode(z, zlen);
		vlen = strlen(value);
		break;
	default:
		post = 0;
		value = b64_encode(payload, plen);
		vlen = strlen(value);
		break;
	}
	cap = caps[(flags >> 3) & 3];

	memset(&cfg, 0, sizeof(cfg));
	cfg.saml_max_message_bytes = cap;
	memset(&app, 0, sizeof(app));
	app.cfg = &cfg;
	memset(&req, 0, sizeof(req));
	req.app = &app;
	req.method = post ? KH_POST : KH_GET;
	req.path = "/saml/sso";
	ps = post ? &req.form : &req.query;
	param_set(ps, "SAMLRequest", value, vlen);
	if (flags & 0x20)
		param_set(ps, "RelayState", "https://sp.example.org/after", 28);
	if (flags & 0x40) {
		param_set(ps, "SigAlg", SIG_ALG, strlen(SIG_ALG));
		param_set(ps, "Signature", "c2ln", 4);
	}
	if (flags & 0x80) {
		param_set(ps, "SAMLRequest", "x", 1);
		ps->duplicates = 1;
	}
	if (!post) {
		/* only its length and presence matter to msg.c */
		if ((raw = malloc(vlen + 16)) == NULL)
			fail("out of memory");
		memcpy(raw, "SAMLRequest=", 12);
		memset(raw + 12, 'A', vlen);
		raw[12 + vlen] = '\0';
		req.raw_query = raw;
	}

	r = kh_saml_msg_read(&req, "SAMLRequest", &m, &err, &why);
	if (r != KH_OK) {
		if (why == NULL)
			fail("failure without a reason");
		if ((int)err < 0 || err >= KH_SAML_E__COUNT)
			fail("failure with an unknown error kind");
	} else {
		if (flags & 0x80)
			fail("accepted a repeated SAMLRequest");
		if (m.xml == NULL || m.xml_len > (size_t)cap)
			fail("decoded message over the cap");
		if (m.xml[m.xml_len] != '\0' || memchr(m.xml, '\0', m.xml_len) != NULL)
			fail("xml not a NUL-terminated text of xml_len bytes");
		if (m.root[0] == '\0' || m.id == NULL || m.issuer == NULL)
			fail("success without root, ID or Issuer");
		if (m.binding_post != post)
			fail("binding mixed up");
		check_no_dtd(&m);
		if ((mode == 1 || mode == 2) &&
		    (m.xml_len != plen || memcmp(m.xml, payload, plen) != 0))
			fail("decoded message differs from the bytes encoded");
		if (mode == 0 && post) {
			reflen = ref_b64_decode((const unsigned char *)value, vlen, &ref);
			if (reflen < 0)
				fail("accepted a value that is not strict base64");
			if ((size_t)reflen != m.xml_len || memcmp(ref, m.xml, m.xml_len) != 0)
				fail("decoded message differs from the strict base64 decoding");
		}
	}
	kh_saml_msg_free(&m);

	free(ref);
	free(raw);
	free(value);
	free(z);
	free(payload);
	return 0;
}
