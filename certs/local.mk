# Signing keys, JWKS, SAML credentials. See certs/README.md.
noinst_LIBRARIES += libkh_certs.a
libkh_certs_a_SOURCES = certs/keys.c certs/keys.h certs/keys_internal.h
libkh_certs_a_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(JWT_CFLAGS)
KH_CERTS_LIBS = libkh_certs.a $(JWT_LIBS) $(JANSSON_LIBS) $(OPENSSL_LIBS)
EXTRA_DIST += certs/gen-dev-keys.sh certs/README.md

# Unit test: key checks, thumbprints, JWKS and JWS (verified with OpenSSL and libjwt).
check_PROGRAMS += tests/unit/test_keys
TESTS += tests/unit/test_keys
tests_unit_test_keys_SOURCES = tests/unit/test_keys.c tests/unit/tap.h
tests_unit_test_keys_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(JANSSON_CFLAGS) $(JWT_CFLAGS)
tests_unit_test_keys_LDADD = $(KH_CERTS_LIBS) $(KH_COMMON_LIBS)
