noinst_LIBRARIES += libkh_idp.a
libkh_idp_a_SOURCES = \
	idp/csrf.c idp/csrf.h \
	idp/delay.c idp/delay.h \
	idp/health.c \
	idp/http.c idp/http.h \
	idp/i18n.c idp/i18n.h \
	idp/idp.h \
	idp/login.c \
	idp/metrics.c idp/metrics.h \
	idp/page.c idp/page.h \
	idp/routes.c \
	idp/static.c
libkh_idp_a_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(OPENSSL_CFLAGS)

sbin_PROGRAMS += kakehashid
kakehashid_SOURCES = idp/main.c
kakehashid_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS)
kakehashid_LDADD = libkh_idp.a $(KH_LDAP_LIBS) $(KH_SESSIONS_LIBS) $(MHD_LIBS) $(KH_COMMON_LIBS)
