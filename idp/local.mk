noinst_LIBRARIES += libkh_idp.a
libkh_idp_a_SOURCES = \
	idp/access.c idp/access.h \
	idp/apps.c idp/apps.h \
	idp/csrf.c idp/csrf.h \
	idp/delay.c idp/delay.h \
	idp/health.c \
	idp/http.c idp/http.h \
	idp/i18n.c idp/i18n.h \
	idp/idp.h \
	idp/login.c \
	idp/metrics.c idp/metrics.h \
	idp/mfa.c idp/mfa.h idp/mfa_setup.c idp/mfa_webauthn.c \
	idp/page.c idp/page.h \
	idp/pending.c idp/pending.h \
	idp/policy.c idp/policy.h idp/policy_default.c \
	idp/qr.c idp/qr.h \
	idp/routes.c \
	idp/static.c \
	idp/webauthn.c idp/webauthn.h idp/webauthn_js.c
libkh_idp_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(OPENSSL_CFLAGS) $(LASSO_CFLAGS) $(JWT_CFLAGS) \
	$(OAUTH2_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) $(HIREDIS_CFLAGS) \
	$(QRENCODE_CFLAGS) $(CBOR_CFLAGS)

sbin_PROGRAMS += kakehashid
kakehashid_SOURCES = idp/main.c
kakehashid_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
kakehashid_LDADD = libkh_idp.a $(KH_CERTS_LIBS) $(KH_LDAP_LIBS) $(KH_SESSIONS_LIBS) $(LASSO_LIBS) \
	$(OAUTH2_LIBS) $(CURL_LIBS) $(JANSSON_LIBS) $(MHD_LIBS) $(QRENCODE_LIBS) \
	$(CBOR_LIBS) $(KH_COMMON_LIBS)
