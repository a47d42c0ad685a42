/* The one stylesheet, compiled in: pages work offline and load nothing from
 * elsewhere. */
#include <string.h>

#include "idp/idp.h"
#include "idp/webauthn.h"

static const char css[] =
    ":root{--fg:#1a1a1a;--bg:#f5f7fa;--accent:#0b5cad;--err:#b00020;--card:#fff}\n"
    "*{box-sizing:border-box}\n"
    "body{margin:0;font-family:\"Noto Sans JP\",\"Hiragino Sans\",\"Yu Gothic UI\",Meiryo,"
    "system-ui,sans-serif;color:var(--fg);background:var(--bg);line-height:1.6}\n"
    ".skip{position:absolute;left:-999px}.skip:focus{left:8px;top:8px;background:#fff;padding:4px}\n"
    "header{display:flex;justify-content:space-between;align-items:center;padding:12px 20px;"
    "background:var(--accent);color:#fff}\n"
    "header a{color:#fff}\n.brand{font-weight:bold}\n"
    "main{max-width:28rem;margin:2rem auto;padding:1.5rem 2rem;background:var(--card);"
    "border-radius:8px;box-shadow:0 1px 4px rgba(0,0,0,.15)}\n"
    "h1{font-size:1.4rem;margin-top:0}\n"
    "label{display:block;margin-top:1rem;font-weight:bold}\n"
    "input[type=text],input[type=password]{width:100%;padding:.6rem;font-size:1rem;"
    "border:1px solid #888;border-radius:4px}\n"
    "input:focus,button:focus,a:focus{outline:3px solid #ffbf47;outline-offset:1px}\n"
    "button{margin-top:1.5rem;width:100%;padding:.7rem;font-size:1rem;color:#fff;"
    "background:var(--accent);border:0;border-radius:4px;cursor:pointer}\n"
    ".error{color:var(--err);font-weight:bold;border-left:4px solid var(--err);padding-left:.6rem}\n"
    ".notice{border-left:4px solid #c77700;padding-left:.6rem}\n"
    ".ref code{font-size:1.1rem}\n"
    ".who{font-size:1.2rem;font-weight:bold}\n"
    "h2{font-size:1.1rem;margin-top:1.5rem}\n"
    "label.check{font-weight:normal}\n"
    "#qr svg{width:14rem;height:14rem;display:block;margin:1rem auto}\n"
    "#recovery-codes code{font-size:1.1rem}\n"
    "details{margin-top:1.5rem}\n";

void
kh_handle_static(struct kh_req *req, struct kh_resp *resp)
{
	if (strcmp(req->path, "/static/webauthn.js") == 0) {
		resp->content_type = "text/javascript; charset=utf-8";
		kh_buf_append(&resp->body, kh_webauthn_js, kh_webauthn_js_len);
		return;
	}
	if (strcmp(req->path, "/static/kakehashi.css") != 0) {
		resp->status = 404;
		resp->content_type = "text/plain; charset=utf-8";
		kh_buf_append_str(&resp->body, "not found\n");
		return;
	}
	resp->content_type = "text/css; charset=utf-8";
	kh_buf_append(&resp->body, css, sizeof(css) - 1);
}
