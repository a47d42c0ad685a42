# SAML 2.0 IdP (lasso). Sources join libkh_idp.a; kakehashid additionally
# links xmlsec (metadata signing), libxml2 (message checks) and zlib
# (HTTP-Redirect inflate with a cap), which LASSO_LIBS does not bring.
libkh_idp_a_SOURCES += \
	idp/saml/assertion.c \
	idp/saml/metadata.c \
	idp/saml/module.c \
	idp/saml/msg.c \
	idp/saml/page.c \
	idp/saml/routes.c \
	idp/saml/saml.h \
	idp/saml/saml_int.h \
	idp/saml/slo.c \
	idp/saml/sso.c \
	idp/saml/store.c
KH_SAML_LIBS = -lxmlsec1-openssl -lxmlsec1 -lxml2 -lz
kakehashid_LDADD += $(KH_SAML_LIBS)
