/* What goes into an assertion: NameID (persistent = HMAC per user and SP),
 * SessionIndex, AuthnContextClassRef, released attributes, fresh IDs from
 * RAND_bytes, and which parts are signed. */
#include <lasso/lasso.h>
#include <lasso/xml/misc_text_node.h>
#include <lasso/xml/saml-2.0/saml2_attribute.h>
#include <lasso/xml/saml-2.0/saml2_attribute_statement.h>
#include <lasso/xml/saml-2.0/saml2_attribute_value.h>
#include <lasso/xml/saml-2.0/saml2_authn_statement.h>
#include <lasso/xml/saml-2.0/samlp2_response.h>
#include <stdint.h>
#include <string.h>

#include "common/config.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "common/str.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"
#include "sessions/sessions.h"

int
kh_saml_random_id(char *out, size_t outlen)
{
	unsigned char rnd[20];

	if (outlen < 2 + 2 * sizeof(rnd) || kh_random(rnd, sizeof(rnd)) != KH_OK)
		return KH_ERR_CRYPTO;
	out[0] = '_';
	kh_hex_encode(rnd, sizeof(rnd), out + 1);
	return KH_OK;
}

/* The value of a session field by attribute source name ("" when empty). */
static const char *
session_value(const struct kh_session *s, const char *src)
{
	const char *v = NULL;

	if (strcmp(src, "uid") == 0)
		v = s->uid;
	else if (strcmp(src, "mail") == 0)
		v = s->mail;
	else if (strcmp(src, "display_name") == 0)
		v = s->display_name;
	else if (strcmp(src, "groups") == 0)
		v = s->groups;
	else if (strcmp(src, "family_name") == 0)
		v = s->family_name;
	else if (strcmp(src, "given_name") == 0)
		v = s->given_name;
	else if (strcmp(src, "employee_number") == 0)
		v = s->employee_number;
	else if (strcmp(src, "department") == 0)
		v = s->department;
	else if (strcmp(src, "title") == 0)
		v = s->title;
	return v ? v : "";
}

static int
has_factor(const char *amr, const char *m)
{
	size_t n = strlen(m);
	const char *p = amr;

	while (p != NULL && *p != '\0') {
		while (*p == ' ')
			p++;
		if (strncmp(p, m, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
		p = strchr(p, ' ');
	}
	return 0;
}

const char *
kh_saml_authn_class(struct kh_idp *app, const struct kh_session *s)
{
	const char *amr = s->amr ? s->amr : "";

	if (has_factor(amr, "otp") || has_factor(amr, "mfa") || has_factor(amr, "hwk") ||
	    has_factor(amr, "swk"))
		return LASSO_SAML2_AUTHN_CONTEXT_MOBILE_TWO_FACTOR_CONTRACT;
	if (kh_startswith(app->cfg->base_url, "https://"))
		return LASSO_SAML2_AUTHN_CONTEXT_PASSWORD_PROTECTED_TRANSPORT;
	return LASSO_SAML2_AUTHN_CONTEXT_PASSWORD;
}

static LassoSaml2Assertion *
first_assertion(LassoLogin *login)
{
	LassoProfile *p = LASSO_PROFILE(login);
	LassoSamlp2Response *r;

	if (!LASSO_IS_SAMLP2_RESPONSE(p->response))
		return NULL;
	r = LASSO_SAMLP2_RESPONSE(p->response);
	if (r->Assertion == NULL || !LASSO_IS_SAML2_ASSERTION(r->Assertion->data))
		return NULL;
	return LASSO_SAML2_ASSERTION(r->Assertion->data);
}

static void
gassign(char **dst, const char *src)
{
	g_free(*dst);
	*dst = src ? g_strdup(src) : NULL;
}

static int
hmac_b64(const unsigned char key[32], const char *a, const char *b, char out[64])
{
	const void *parts[2] = { a, b };
	size_t lens[2] = { strlen(a), strlen(b) };
	unsigned char mac[KH_HMAC_LEN];
	int r;

	if ((r = kh_hmac_sha256_parts(key, 32, parts, lens, 2, mac)) != KH_OK)
		return r;
	kh_b64url_encode(mac, sizeof(mac), out);
	return KH_OK;
}

static int
set_nameid(struct kh_idp *app, LassoSaml2Assertion *as, const struct kh_saml_sp *sp,
    const struct kh_session *s)
{
	struct kh_saml_global *g = kh_saml_global(app);
	LassoSaml2NameID *nid;
	const char *fmt, *value;
	char buf[64];

	if (as->Subject == NULL || as->Subject->NameID == NULL)
		return KH_ERR_INTERNAL;
	nid = as->Subject->NameID;
	switch (sp->nameid) {
	case KH_NAMEID_PERSISTENT:
		if (hmac_b64(g->nameid_key, sp->entity_id, s->uid, buf) != KH_OK)
			return KH_ERR_CRYPTO;
		value = buf;
		fmt = LASSO_SAML2_NAME_IDENTIFIER_FORMAT_PERSISTENT;
		break;
	case KH_NAMEID_TRANSIENT:
		if (kh_saml_random_id(buf, sizeof(buf)) != KH_OK)
			return KH_ERR_CRYPTO;
		value = buf;
		fmt = LASSO_SAML2_NAME_IDENTIFIER_FORMAT_TRANSIENT;
		break;
	case KH_NAMEID_EMAIL:
		value = s->mail;
		fmt = LASSO_SAML2_NAME_IDENTIFIER_FORMAT_EMAIL;
		break;
	default:
		value = session_value(s, sp->nameid_attribute ? sp->nameid_attribute : "uid");
		fmt = LASSO_SAML2_NAME_IDENTIFIER_FORMAT_UNSPECIFIED;
		break;
	}
	if (value == NULL || *value == '\0')
		return KH_ERR_NOT_FOUND; /* e.g. no mail for an email NameID */
	gassign(&nid->content, value);
	gassign(&nid->Format, fmt);
	gassign(&nid->NameQualifier, app->cfg->saml_entity_id);
	gassign(&nid->SPNameQualifier, sp->entity_id);
	return KH_OK;
}

static LassoSaml2Attribute *
attribute_new(const struct kh_saml_attr *at, const char *value)
{
	LassoSaml2Attribute *a = LASSO_SAML2_ATTRIBUTE(lasso_saml2_attribute_new());
	const char *p = value, *nl;

	a->Name = g_strdup(at->name);
	a->NameFormat = g_strdup(at->name_format);
	while (*p != '\0') {
		LassoSaml2AttributeValue *v;
		LassoMiscTextNode *t;
		char *one;

		nl = strchr(p, '\n');
		one = nl ? g_strndup(p, (gsize)(nl - p)) : g_strdup(p);
		if (*one != '\0') {
			v = LASSO_SAML2_ATTRIBUTE_VALUE(lasso_saml2_attribute_value_new());
			t = LASSO_MISC_TEXT_NODE(lasso_misc_text_node_new_with_string(one));
			t->text_child = TRUE;
			v->any = g_list_append(v->any, t);
			a->AttributeValue = g_list_append(a->AttributeValue, v);
		}
		g_free(one);
		if (nl == NULL)
			break;
		p = nl + 1;
	}
	if (a->AttributeValue == NULL) {
		g_object_unref(a);
		return NULL;
	}
	return a;
}

static void
add_attributes(LassoSaml2Assertion *as, const struct kh_saml_sp *sp, const struct kh_session *s)
{
	LassoSaml2AttributeStatement *st;
	size_t i;

	if (sp->nattrs == 0)
		return;
	st = LASSO_SAML2_ATTRIBUTE_STATEMENT(lasso_saml2_attribute_statement_new());
	for (i = 0; i < sp->nattrs; i++) {
		const char *v = session_value(s, sp->attrs[i].source);
		LassoSaml2Attribute *a;

		/* groups are multi-valued; other fields are single values */
		if (strcmp(sp->attrs[i].source, "groups") != 0 && strchr(v, '\n') != NULL)
			continue;
		if ((a = attribute_new(&sp->attrs[i], v)) != NULL)
			st->Attribute = g_list_append(st->Attribute, a);
	}
	if (st->Attribute == NULL) {
		g_object_unref(st);
		return;
	}
	as->AttributeStatement = g_list_append(as->AttributeStatement, st);
}

/* Lasso always sets a signature up on the assertion it builds and exports no
 * way to take it off: for an SP that wants only the Response signed, the
 * assertion is replaced by a copy sharing its parts (Subject is shared, so
 * the Recipient lasso adds later lands in the copy too). */
static gpointer
ref_copy(gconstpointer src, gpointer data)
{
	(void)data;
	return g_object_ref((gpointer)(uintptr_t)src);
}

static LassoSaml2Assertion *
unsigned_copy(LassoSaml2Assertion *as)
{
	LassoSaml2Assertion *c = LASSO_SAML2_ASSERTION(lasso_saml2_assertion_new());

#define REF(f)                                                                                     \
	do {                                                                                       \
		if (as->f)                                                                         \
			c->f = g_object_ref(as->f);                                                \
	} while (0)
	REF(Issuer);
	REF(Subject);
	REF(Conditions);
	REF(Advice);
#undef REF
	c->AuthnStatement = g_list_copy_deep(as->AuthnStatement, ref_copy, NULL);
	c->AttributeStatement = g_list_copy_deep(as->AttributeStatement, ref_copy, NULL);
	c->Statement = g_list_copy_deep(as->Statement, ref_copy, NULL);
	c->Version = g_strdup(as->Version);
	c->ID = g_strdup(as->ID);
	c->IssueInstant = g_strdup(as->IssueInstant);
	return c;
}

int
kh_saml_fill_assertion(struct kh_idp *app, LassoLogin *login, const struct kh_saml_sp *sp,
    const struct kh_session *s, const char *session_ref)
{
	struct kh_saml_global *g = kh_saml_global(app);
	LassoProfile *p = LASSO_PROFILE(login);
	LassoSaml2Assertion *as = first_assertion(login), *copy;
	LassoSamlp2StatusResponse *resp = LASSO_SAMLP2_STATUS_RESPONSE(p->response);
	LassoSamlp2Response *r2 = LASSO_SAMLP2_RESPONSE(p->response);
	char id[64], sidx[64];
	GList *it;
	int r;

	if (as == NULL)
		return KH_ERR_INTERNAL;
	/* IDs from the CSPRNG, not g_random */
	if (kh_saml_random_id(id, sizeof(id)) != KH_OK)
		return KH_ERR_CRYPTO;
	gassign(&as->ID, id);
	if (kh_saml_random_id(id, sizeof(id)) != KH_OK)
		return KH_ERR_CRYPTO;
	gassign(&resp->ID, id);
	if ((r = set_nameid(app, as, sp, s)) != KH_OK)
		return r;
	if (hmac_b64(g->index_key, session_ref, sp->entity_id, sidx) != KH_OK)
		return KH_ERR_CRYPTO;
	sidx[0] = '_';
	for (it = as->AuthnStatement; it != NULL; it = it->next)
		if (LASSO_IS_SAML2_AUTHN_STATEMENT(it->data))
			gassign(&LASSO_SAML2_AUTHN_STATEMENT(it->data)->SessionIndex, sidx);
	add_attributes(as, sp, s);
	lasso_profile_set_signature_hint(p,
	    sp->sign_response ? LASSO_PROFILE_SIGNATURE_HINT_FORCE
			      : LASSO_PROFILE_SIGNATURE_HINT_FORBID);
	if (!sp->sign_assertion && !sp->encrypt_assertion) {
		copy = unsigned_copy(as);
		for (it = r2->Assertion; it != NULL; it = it->next)
			if (it->data == as) {
				it->data = copy;
				g_object_unref(as);
				break;
			}
	}
	return KH_OK;
}
