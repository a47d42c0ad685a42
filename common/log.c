#include "common/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>

#include "common/buf.h"
#include "common/errors.h"

static enum kh_log_level log_level = KH_LOG_INFO;
static FILE *audit_fp;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
/* Set before the worker threads start, cleared after they stop. */
static kh_audit_sink_fn audit_sink;
static void *audit_sink_ctx;
static _Thread_local int audit_in_sink; /* a sink that audits would loop */

void
kh_log_set_level(enum kh_log_level lvl)
{
	log_level = lvl;
}

int
kh_log_level_parse(const char *s, enum kh_log_level *out)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	int i;

	for (i = 0; i < 4; i++) {
		if (strcasecmp(s, names[i]) == 0) {
			*out = (enum kh_log_level)i;
			return KH_OK;
		}
	}
	return KH_ERR_INVALID;
}

int
kh_log_open_audit(const char *path)
{
	if (path == NULL || *path == '\0')
		return KH_OK;
	if ((audit_fp = fopen(path, "ae")) == NULL)
		return KH_ERR_IO;
	setvbuf(audit_fp, NULL, _IOLBF, 0);
	return KH_OK;
}

void
kh_log_close(void)
{
	if (audit_fp != NULL)
		fclose(audit_fp);
	audit_fp = NULL;
}

static void
append_value(struct kh_buf *b, const char *v)
{
	const unsigned char *p;
	int quote = (*v == '\0');

	for (p = (const unsigned char *)v; *p; p++)
		if (*p <= ' ' || *p == '"' || *p == '=' || *p == '\\' || *p == 0x7f)
			quote = 1;
	if (!quote) {
		kh_buf_append_str(b, v);
		return;
	}
	kh_buf_append(b, "\"", 1);
	for (p = (const unsigned char *)v; *p; p++) {
		if (*p == '"' || *p == '\\')
			kh_buf_appendf(b, "\\%c", *p);
		else if (*p == '\n')
			kh_buf_append_str(b, "\\n");
		else if (*p < ' ' || *p == 0x7f)
			kh_buf_appendf(b, "\\x%02x", *p);
		else
			kh_buf_append(b, p, 1);
	}
	kh_buf_append(b, "\"", 1);
}

static void
log_emit(FILE *fp, const char *level, const char *kind, const char *event, va_list ap)
{
	static const char *const nil = "-";
	struct kh_buf b;
	struct timeval tv;
	struct tm tm;
	char ts[40];
	const char *k, *v;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	kh_buf_init(&b, 8192);
	kh_buf_appendf(&b, "ts=%s.%03ldZ level=%s", ts, (long)(tv.tv_usec / 1000), level);
	if (kind != NULL)
		kh_buf_appendf(&b, " kind=%s", kind);
	kh_buf_append_str(&b, " event=");
	append_value(&b, event);
	while ((k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		kh_buf_appendf(&b, " %s=", k);
		append_value(&b, v != NULL ? v : nil);
	}
	kh_buf_append(&b, "\n", 1);
	pthread_mutex_lock(&log_lock);
	fwrite(kh_buf_cstr(&b), 1, b.len, fp);
	fflush(fp);
	pthread_mutex_unlock(&log_lock);
	kh_buf_free(&b);
}

void
kh_log(enum kh_log_level lvl, const char *event, ...)
{
	static const char *names[] = { "debug", "info", "warn", "error" };
	va_list ap;

	if (lvl < log_level)
		return;
	va_start(ap, event);
	log_emit(stderr, names[lvl], NULL, event, ap);
	va_end(ap);
}

void
kh_log_set_audit_sink(kh_audit_sink_fn fn, void *ctx)
{
	pthread_mutex_lock(&log_lock);
	audit_sink = fn;
	audit_sink_ctx = ctx;
	pthread_mutex_unlock(&log_lock);
}

void
kh_audit(const char *event, ...)
{
	const char *kv[2 * KH_AUDIT_SINK_PAIRS];
	const char *k, *v;
	size_t n = 0;
	va_list ap;

	va_start(ap, event);
	log_emit(audit_fp != NULL ? audit_fp : stderr, "info", "audit", event, ap);
	va_end(ap);
	if (audit_sink == NULL || audit_in_sink)
		return;
	va_start(ap, event);
	while (n < KH_AUDIT_SINK_PAIRS && (k = va_arg(ap, const char *)) != NULL) {
		v = va_arg(ap, const char *);
		kv[2 * n] = k;
		kv[2 * n + 1] = v != NULL ? v : "-";
		n++;
	}
	va_end(ap);
	audit_in_sink = 1;
	audit_sink(audit_sink_ctx, event, kv, n);
	audit_in_sink = 0;
}
