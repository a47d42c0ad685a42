/* SAML state kept in the SSO session hash: the lasso session dump (which
 * SPs got an assertion, with NameID and SessionIndex, for single logout). */
#include <string.h>

#include "common/buf.h"
#include "common/crypto.h"
#include "common/errors.h"
#include "idp/idp.h"
#include "idp/saml/saml_int.h"
#include "sessions/sessions.h"

int
kh_saml_session_load(struct kh_idp *app, const char *cookie, char **lasso_dump)
{
	size_t len = 0;
	int r;

	*lasso_dump = NULL;
	r = kh_session_field_get(app->store, cookie, KH_SAML_FIELD_LASSO, lasso_dump, &len);
	if (r == KH_ERR_NOT_FOUND)
		return KH_OK; /* no SAML SP yet */
	return r;
}

int
kh_saml_session_save(struct kh_idp *app, const char *cookie, const char *lasso_dump)
{
	return kh_session_field_set(app->store, cookie, KH_SAML_FIELD_LASSO, lasso_dump,
	    lasso_dump ? strlen(lasso_dump) : 0);
}

int
kh_saml_session_ref(struct kh_idp *app, const char *cookie, char out[64])
{
	char sid[65];
	int r;

	if ((r = kh_session_id(app->store, cookie, sid)) != KH_OK)
		return r;
	memcpy(out, sid, 43);
	out[43] = '\0';
	return KH_OK;
}
