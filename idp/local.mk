sbin_PROGRAMS += kakehashid
kakehashid_SOURCES = idp/main.c
kakehashid_CFLAGS = $(AM_CFLAGS) $(MHD_CFLAGS) $(HIREDIS_CFLAGS) $(OPENSSL_CFLAGS)
kakehashid_LDADD = $(KH_COMMON_LIBS)
