# sessions/: the Redis store (SSO sessions, login throttling). See sessions/README.md.
noinst_LIBRARIES += libkh_sessions.a
libkh_sessions_a_SOURCES = \
	sessions/audit.c sessions/audit.h \
	sessions/kv.c sessions/kv.h \
	sessions/mfa.c sessions/mfa.h sessions/mfa_int.h \
	sessions/mfa_codes.c sessions/mfa_devices.c \
	sessions/mfa_totp.c sessions/mfa_webauthn.c \
	sessions/redis_conn.c \
	sessions/registry.c sessions/registry.h \
	sessions/session.c \
	sessions/sessions.h \
	sessions/store.h \
	sessions/throttle.c
libkh_sessions_a_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS) $(OPENSSL_CFLAGS)
KH_SESSIONS_LIBS = libkh_sessions.a $(HIREDIS_LIBS)

# Unit tests that need no Redis (make check).
check_PROGRAMS += sessions/test_store
TESTS += sessions/test_store
sessions_test_store_SOURCES = sessions/test_store.c tests/unit/tap.h
sessions_test_store_CFLAGS = $(AM_CFLAGS) $(HIREDIS_CFLAGS)
sessions_test_store_LDADD = $(KH_SESSIONS_LIBS) $(KH_COMMON_LIBS)

# Driven by tests/integration/test_sessions.py against a private redis-server.
noinst_PROGRAMS += tests/integration/session_probe
tests_integration_session_probe_SOURCES = tests/integration/session_probe.c \
	tests/integration/probe_shell.h
tests_integration_session_probe_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_integration_session_probe_LDADD = $(KH_SESSIONS_LIBS) $(JANSSON_LIBS) $(KH_COMMON_LIBS)

# Driven by tests/integration/test_kv.py: kv.h and registry.h.
noinst_PROGRAMS += tests/integration/kv_probe
tests_integration_kv_probe_SOURCES = tests/integration/kv_probe.c \
	tests/integration/probe_shell.h
tests_integration_kv_probe_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_integration_kv_probe_LDADD = $(KH_SESSIONS_LIBS) $(JANSSON_LIBS) $(KH_COMMON_LIBS)

# Driven by tests/integration/test_mfa_store.py: mfa.h.
noinst_PROGRAMS += tests/integration/mfa_probe
tests_integration_mfa_probe_SOURCES = tests/integration/mfa_probe.c \
	tests/integration/probe_shell.h
tests_integration_mfa_probe_CFLAGS = $(AM_CFLAGS) $(JANSSON_CFLAGS)
tests_integration_mfa_probe_LDADD = $(KH_SESSIONS_LIBS) $(JANSSON_LIBS) $(KH_COMMON_LIBS)
