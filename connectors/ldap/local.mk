# LDAP connector (OpenLDAP and Active Directory): connectors/ldap/README.md
noinst_LIBRARIES += libkh_ldap.a
libkh_ldap_a_SOURCES = \
	connectors/connector.h \
	connectors/ldap/ldap_internal.h \
	connectors/ldap/ldap_ad.c \
	connectors/ldap/ldap_auth.c \
	connectors/ldap/ldap_connector.c \
	connectors/ldap/ldap_entry.c \
	connectors/ldap/ldap_filter.c \
	connectors/ldap/ldap_groups.c \
	connectors/ldap/ldap_handle.c \
	connectors/ldap/ldap_ppolicy.c
libkh_ldap_a_CFLAGS = $(AM_CFLAGS)
KH_LDAP_LIBS = libkh_ldap.a $(LDAP_LIBS)

# A CLI over the connector for tests/integration/test_ldap.py.
noinst_PROGRAMS += tests/integration/ldap_probe
tests_integration_ldap_probe_SOURCES = tests/integration/ldap_probe.c
tests_integration_ldap_probe_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_integration_ldap_probe_LDADD = $(KH_LDAP_LIBS) $(KH_COMMON_LIBS) $(JANSSON_LIBS) -lpthread

# Unit tests of the parts that need no server (filters, AD codes, DN names).
check_PROGRAMS += tests/unit/test_ldap
TESTS += tests/unit/test_ldap
tests_unit_test_ldap_SOURCES = tests/unit/test_ldap.c tests/unit/tap.h
tests_unit_test_ldap_LDADD = $(KH_LDAP_LIBS) $(KH_COMMON_LIBS)

EXTRA_DIST += connectors/README.md connectors/ldap/README.md \
	tests/fixtures/gen_directory.py tests/lib/slapd.py tests/integration/test_ldap.py
