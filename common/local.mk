noinst_LIBRARIES += libkh_common.a
libkh_common_a_SOURCES = \
	common/buf.c common/buf.h \
	common/config.c common/config.h \
	common/crypto.c common/crypto.h \
	common/errors.c common/errors.h \
	common/log.c common/log.h \
	common/str.c common/str.h \
	common/totp.c common/totp.h
libkh_common_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(INIH_CFLAGS) $(OATH_CFLAGS)
KH_COMMON_LIBS = libkh_common.a $(OPENSSL_LIBS) $(INIH_LIBS) $(OATH_LIBS) -lpthread
