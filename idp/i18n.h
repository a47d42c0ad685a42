/* Japanese and English UI text. Every string a person reads comes from here. */
#ifndef KH_I18N_H
#define KH_I18N_H

enum kh_lang { KH_LANG_JA = 0, KH_LANG_EN = 1 };

enum kh_msg {
	M_SITE_NAME,
	M_LOGIN_TITLE,
	M_LOGIN_LEAD,
	M_USERNAME,
	M_PASSWORD,
	M_SIGN_IN,
	M_SIGNED_IN_TITLE,
	M_SIGNED_IN_AS,
	M_SIGNED_IN_NOTE,
	M_SIGN_OUT,
	M_LOGOUT_TITLE,
	M_LOGOUT_CONFIRM,
	M_LOGGED_OUT,
	M_SIGN_IN_AGAIN,
	M_ERR_INVALID,
	M_ERR_MISSING_USER,
	M_ERR_MISSING_PASSWORD,
	M_ERR_BAD_CHARS,
	M_ERR_TOO_LONG,
	M_ERR_CSRF,
	M_ERR_THROTTLED,
	M_ERR_LOCKED,
	M_ERR_EXPIRED,
	M_ERR_MUST_CHANGE,
	M_ERR_DISABLED,
	M_ERR_ACCOUNT_EXPIRED,
	M_ERR_RESTRICTED,
	M_CHANGE_PASSWORD_AT,
	M_CONTACT_HELPDESK,
	M_WARN_GRACE,
	M_WARN_EXPIRING,
	M_CONTINUE,
	M_UNAVAILABLE_TITLE,
	M_UNAVAILABLE_BODY,
	M_REFERENCE_ID,
	M_NOT_FOUND_TITLE,
	M_NOT_FOUND_BODY,
	M_BAD_REQUEST_TITLE,
	M_BAD_REQUEST_BODY,
	M_METHOD_TITLE,
	M_TOO_LARGE_TITLE,
	M_INTERNAL_TITLE,
	M_INTERNAL_BODY,
	M_LANG_SWITCH,
	M_RETRY_IN,
	M_MINUTES,
	M_SKIP_TO_FORM,
	M_PENDING_EXPIRED_TITLE,
	M_PENDING_EXPIRED_BODY,
	M__COUNT
};

const char *kh_msg(enum kh_lang lang, enum kh_msg m);
const char *kh_lang_code(enum kh_lang lang);
/* Picks ja or en from an Accept-Language header (RFC 9110 q-values);
 * returns fallback when neither is acceptable or the header is malformed. */
enum kh_lang kh_lang_from_accept(const char *header, enum kh_lang fallback);
/* "ja" / "en" -> lang; -1 for anything else. */
int kh_lang_parse(const char *s);

#endif
