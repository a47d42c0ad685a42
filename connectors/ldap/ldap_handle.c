/* Per-thread directory handles: opening (URI list, v3, no referrals,
 * timeouts, TLS), the service-account bind, dropping a dead handle, and the
 * one search helper that reconnects once when the server went away. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "common/errors.h"
#include "common/log.h"
#include "connectors/ldap/ldap_internal.h"

struct kh_ldap_thread *
kh_ldap_thread_get(struct kh_connector *c)
{
	struct kh_ldap_thread *t;

	if ((t = pthread_getspecific(c->key)) != NULL)
		return t;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return NULL;
	if (pthread_setspecific(c->key, t) != 0) {
		free(t);
		return NULL;
	}
	return t;
}

/* Also the pthread key destructor. */
void
kh_ldap_thread_free(void *arg)
{
	struct kh_ldap_thread *t = arg;

	if (t == NULL)
		return;
	kh_ldap_drop(&t->svc);
	kh_ldap_drop(&t->user);
	free(t);
}

void
kh_ldap_drop(LDAP **ldp)
{
	if (*ldp != NULL)
		ldap_unbind_ext(*ldp, NULL, NULL);
	*ldp = NULL;
}

/* Results after which the handle is unusable and worth one reconnect. */
int
kh_ldap_rc_down(int rc)
{
	return rc == LDAP_SERVER_DOWN || rc == LDAP_CONNECT_ERROR;
}

/* "127.0.0.1:389" of the server a handle is connected to, for logs. */
static void
peer_name(LDAP *ld, char *out, size_t size)
{
	struct sockaddr_storage ss;
	socklen_t len = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";
	int fd = -1, port = 0;

	out[0] = '\0';
	if (ldap_get_option(ld, LDAP_OPT_DESC, &fd) != LDAP_OPT_SUCCESS || fd < 0 ||
	    getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
		return;
	if (ss.ss_family == AF_INET) {
		struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
		inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
		port = ntohs(sin->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
		inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
		port = ntohs(sin6->sin6_port);
	}
	snprintf(out, size, "%s:%d", host, port);
}

/* A new handle on the URI list with all options set. With starttls the TLS
 * session is started here (this connects); otherwise libldap connects on the
 * first operation, trying the URIs in order. */
static int
handle_open(struct kh_connector *c, LDAP **ldp)
{
	LDAP *ld = NULL;
	struct timeval nto, to;
	int v3 = LDAP_VERSION3, deref = LDAP_DEREF_NEVER, demand = LDAP_OPT_X_TLS_HARD;
	int newctx = 0, rc, r = KH_ERR_INTERNAL;

	*ldp = NULL;
	if ((rc = ldap_initialize(&ld, c->uris)) != LDAP_SUCCESS || ld == NULL) {
		kh_error("ldap.init_failed", "error", ldap_err2string(rc), NULL);
		return KH_ERR_CONFIG;
	}
	nto.tv_sec = c->network_timeout;
	nto.tv_usec = 0;
	to.tv_sec = c->timeout;
	to.tv_usec = 0;
	if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_DEREF, &deref) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_RESTART, LDAP_OPT_ON) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &nto) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_TIMEOUT, &to) != LDAP_OPT_SUCCESS ||
	    ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &demand) != LDAP_OPT_SUCCESS)
		goto out;
	if (c->ca_file != NULL &&
	    (ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) != LDAP_OPT_SUCCESS ||
		ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &newctx) != LDAP_OPT_SUCCESS)) {
		kh_error("ldap.tls_config_failed", "ca_file", c->ca_file, NULL);
		r = KH_ERR_CONFIG;
		goto out;
	}
	if (c->starttls && (rc = ldap_start_tls_s(ld, NULL, NULL)) != LDAP_SUCCESS) {
		kh_error("ldap.starttls_failed", "error", ldap_err2string(rc), NULL);
		r = KH_ERR_UNAVAILABLE; /* fail closed: never fall back to plain text */
		goto out;
	}
	*ldp = ld;
	ld = NULL; /* transferred */
	r = KH_OK;
out:
	kh_ldap_drop(&ld);
	return r;
}

/* This thread's service handle, opened and bound as bind_dn when needed
 * (anonymous when bind_dn is empty). KH_ERR_UNAVAILABLE when no server in
 * the list answered, KH_ERR_CONFIG when the service bind is refused. */
int
kh_ldap_service(struct kh_connector *c, struct kh_ldap_thread *t, LDAP **ldp)
{
	struct berval cred;
	char peer[INET6_ADDRSTRLEN + 8];
	int rc, r;

	*ldp = NULL;
	if (t->svc != NULL) {
		*ldp = t->svc;
		return KH_OK;
	}
	if ((r = handle_open(c, &t->svc)) != KH_OK)
		return r;
	if (*c->bind_dn != '\0') {
		cred.bv_val = c->bind_password;
		cred.bv_len = strlen(c->bind_password);
		rc =
		    ldap_sasl_bind_s(t->svc, c->bind_dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
		if (rc != LDAP_SUCCESS) {
			kh_ldap_drop(&t->svc);
			if (kh_ldap_rc_down(rc) || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
			    rc == LDAP_UNAVAILABLE) {
				kh_warn("ldap.unavailable", "uris", c->uris, "error",
				    ldap_err2string(rc), NULL);
				return KH_ERR_UNAVAILABLE;
			}
			kh_error("ldap.service_bind_failed", "bind_dn", c->bind_dn, "error",
			    ldap_err2string(rc), NULL);
			return KH_ERR_CONFIG;
		}
		peer_name(t->svc, peer, sizeof(peer));
		kh_debug("ldap.connect", "handle", "service", "peer", peer, NULL);
	}
	*ldp = t->svc;
	return KH_OK;
}

/* This thread's user-bind handle (never used for searches). */
int
kh_ldap_user_handle(struct kh_connector *c, struct kh_ldap_thread *t, LDAP **ldp)
{
	int r;

	*ldp = NULL;
	if (t->user == NULL && (r = handle_open(c, &t->user)) != KH_OK)
		return r;
	*ldp = t->user;
	return KH_OK;
}

/* Searches with the service handle. On a dead connection the handle is
 * dropped and the search retried once on a fresh one (libldap then tries the
 * URIs in order, which is the failover). Returns KH_OK with *resp (caller
 * ldap_msgfree()s it) and the LDAP result code in *ldrcp (LDAP_SUCCESS or
 * LDAP_SIZELIMIT_EXCEEDED), or KH_ERR_UNAVAILABLE / KH_ERR_CONFIG /
 * KH_ERR_INTERNAL. */
int
kh_ldap_search(struct kh_connector *c, struct kh_ldap_thread *t, const char *base, int scope,
    const char *filter, char **attrs, int sizelimit, LDAP **ldp, LDAPMessage **resp, int *ldrcp)
{
	LDAPMessage *res = NULL;
	LDAP *ld = NULL;
	struct timeval tv;
	int attempt, fresh, rc = LDAP_OTHER, r;

	*ldp = NULL;
	*resp = NULL;
	*ldrcp = LDAP_OTHER;
	for (attempt = 0; attempt < 2; attempt++) {
		/* Only a reused handle is worth a retry: a fresh one has just
		 * tried every URI. */
		fresh = t->svc == NULL;
		if ((r = kh_ldap_service(c, t, &ld)) != KH_OK)
			return r;
		tv.tv_sec = c->timeout;
		tv.tv_usec = 0;
		res = NULL;
		rc = ldap_search_ext_s(
		    ld, base, scope, filter, attrs, 0, NULL, NULL, &tv, sizelimit, &res);
		if (!kh_ldap_rc_down(rc) || fresh)
			break;
		ldap_msgfree(res);
		res = NULL;
		kh_ldap_drop(&t->svc);
		kh_warn("ldap.failover", "uris", c->uris, "error", ldap_err2string(rc), NULL);
	}
	if (rc == LDAP_SUCCESS || rc == LDAP_SIZELIMIT_EXCEEDED) {
		*ldp = ld;
		*resp = res;
		*ldrcp = rc;
		return KH_OK;
	}
	ldap_msgfree(res);
	if (kh_ldap_rc_down(rc) || rc == LDAP_TIMEOUT || rc == LDAP_BUSY ||
	    rc == LDAP_UNAVAILABLE || rc == LDAP_TIMELIMIT_EXCEEDED) {
		/* A timed-out operation may still be pending on the handle. */
		kh_ldap_drop(&t->svc);
		kh_warn("ldap.unavailable", "uris", c->uris, "error", ldap_err2string(rc), NULL);
		return KH_ERR_UNAVAILABLE;
	}
	kh_error("ldap.search_failed", "base", base, "error", ldap_err2string(rc), NULL);
	return rc == LDAP_NO_SUCH_OBJECT ? KH_ERR_CONFIG : KH_ERR_INTERNAL;
}
