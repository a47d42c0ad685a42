# login_bench: a libcurl load generator for the password login (see bench/README.md).
# Built by `make` (not installed); bench/run_login_bench.py drives it.
noinst_PROGRAMS += bench/login_bench
bench_login_bench_SOURCES = bench/login_bench.c
bench_login_bench_CFLAGS = $(AM_CFLAGS) $(CURL_CFLAGS)
bench_login_bench_LDADD = $(CURL_LIBS) -lpthread
