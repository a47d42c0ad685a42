# Admin and helpdesk REST API (server side joins libkh_idp.a) and kakehashictl.
# See admin/README.md.
libkh_idp_a_SOURCES += \
	admin/admin.h \
	admin/api.c \
	admin/apps.c \
	admin/apps_oidc.c \
	admin/apps_saml.c \
	admin/audit_api.c \
	admin/routes.c \
	admin/users.c \
	admin/users_mfa.c

# kakehashictl: the admin CLI (libcurl + jansson; no server code linked in).
bin_PROGRAMS += kakehashictl
kakehashictl_SOURCES = \
	admin/ctl/ctl.h \
	admin/ctl/ctl_oidc.c \
	admin/ctl/ctl_saml.c \
	admin/ctl/ctl_mfa.c \
	admin/ctl/ctl_users.c \
	admin/ctl/http.c \
	admin/ctl/main.c
kakehashictl_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS) $(JANSSON_CFLAGS) $(OPENSSL_CFLAGS)
kakehashictl_LDADD = $(CURL_LIBS) $(JANSSON_LIBS) $(KH_COMMON_LIBS)
