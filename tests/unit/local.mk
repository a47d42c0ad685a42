# Unit tests: TAP programs, run by make check and ./test.sh.
UNIT_TESTS = tests/unit/test_buf tests/unit/test_crypto tests/unit/test_str tests/unit/test_config tests/unit/test_i18n \
	tests/unit/test_totp tests/unit/test_qr tests/unit/test_webauthn tests/unit/test_policy
check_PROGRAMS += $(UNIT_TESTS)
TESTS += $(UNIT_TESTS)
LOG_DRIVER = env AM_TAP_AWK='$(AWK)' $(SHELL) $(top_srcdir)/build-aux/tap-driver.sh
tests_unit_test_buf_SOURCES = tests/unit/test_buf.c tests/unit/tap.h
tests_unit_test_buf_LDADD = $(KH_COMMON_LIBS)
tests_unit_test_crypto_SOURCES = tests/unit/test_crypto.c tests/unit/tap.h
tests_unit_test_crypto_LDADD = $(KH_COMMON_LIBS)
tests_unit_test_str_SOURCES = tests/unit/test_str.c tests/unit/tap.h
tests_unit_test_str_LDADD = $(KH_COMMON_LIBS)
tests_unit_test_config_SOURCES = tests/unit/test_config.c tests/unit/tap.h
tests_unit_test_config_LDADD = $(KH_COMMON_LIBS)

tests_unit_test_i18n_SOURCES = tests/unit/test_i18n.c tests/unit/tap.h
tests_unit_test_i18n_LDADD = libkh_idp.a $(KH_COMMON_LIBS)

tests_unit_test_totp_SOURCES = tests/unit/test_totp.c tests/unit/tap.h
tests_unit_test_totp_LDADD = $(KH_COMMON_LIBS)
tests_unit_test_qr_SOURCES = tests/unit/test_qr.c tests/unit/tap.h
tests_unit_test_qr_CFLAGS = $(AM_CFLAGS) $(QRENCODE_CFLAGS)
tests_unit_test_qr_LDADD = libkh_idp.a $(QRENCODE_LIBS) $(KH_COMMON_LIBS)
tests_unit_test_webauthn_SOURCES = tests/unit/test_webauthn.c tests/unit/tap.h
tests_unit_test_webauthn_CFLAGS = $(AM_CFLAGS) $(OPENSSL_CFLAGS) $(CBOR_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_webauthn_LDADD = libkh_idp.a $(CBOR_LIBS) $(JANSSON_LIBS) $(KH_COMMON_LIBS)
tests_unit_test_policy_SOURCES = tests/unit/test_policy.c tests/unit/tap.h
tests_unit_test_policy_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_unit_test_policy_LDADD = libkh_idp.a $(JANSSON_LIBS) $(KH_COMMON_LIBS)
