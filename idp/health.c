/* /healthz (process alive), /readyz (LDAP and Redis answer), /metrics. */
#include "common/errors.h"
#include "connectors/connector.h"
#include "idp/idp.h"
#include "idp/metrics.h"
#include "sessions/sessions.h"

void
kh_handle_healthz(struct kh_req *req, struct kh_resp *resp)
{
	(void)req;
	resp->content_type = "text/plain; charset=utf-8";
	kh_buf_append_str(&resp->body, "ok\n");
}

void
kh_handle_readyz(struct kh_req *req, struct kh_resp *resp)
{
	int ldap_ok = kh_connector_ping(req->app->connector) == KH_OK;
	int redis_ok = kh_store_ping(req->app->store) == KH_OK;

	resp->status = ldap_ok && redis_ok ? 200 : 503;
	resp->content_type = "application/json";
	kh_buf_appendf(&resp->body, "{\"ready\":%s,\"ldap\":\"%s\",\"redis\":\"%s\"}\n",
	    ldap_ok && redis_ok ? "true" : "false", ldap_ok ? "ok" : "unavailable",
	    redis_ok ? "ok" : "unavailable");
}

void
kh_handle_metrics(struct kh_req *req, struct kh_resp *resp)
{
	resp->content_type = "text/plain; version=0.0.4; charset=utf-8";
	if (kh_metrics_render(req->app->metrics, &resp->body) != KH_OK) {
		resp->status = 500;
		kh_buf_reset(&resp->body);
	}
}
