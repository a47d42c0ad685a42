# OpenID Connect provider. Sources join libkh_idp.a.
libkh_idp_a_SOURCES += \
	idp/oidc/authorize.c \
	idp/oidc/clients.c \
	idp/oidc/jose.c \
	idp/oidc/logout.c \
	idp/oidc/net.c idp/oidc/net.h \
	idp/oidc/oidc.h \
	idp/oidc/resource.c \
	idp/oidc/routes.c \
	idp/oidc/token.c \
	idp/oidc/tokens.c idp/oidc/tokens.h
