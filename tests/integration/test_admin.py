#!/usr/bin/env python3
"""The admin REST API (/admin/api/v1/) and kakehashictl against a real stack
(slapd, redis-server, kakehashid). TAP output.

Writes its own tokens file (NAME ROLE SHA256HEX) and passes it with
overrides={"admin.tokens_file": ...}; apps are put into the registry
directly in Redis, as the SAML/OIDC admin endpoints would."""

import json
import os
import secrets
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import admintool  # noqa: E402
from admintool import CTL, api, ctl, sha  # noqa: E402
import khtest  # noqa: E402
from khtest import ok, diag  # noqa: E402
import stack  # noqa: E402

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")
MAX_BODY = 4096
PREFIX = "kh:"


def is_error(r, status, code=None):
    """Here every error is also checked for its messages and Content-Type."""
    return admintool.is_error(r, status, code, strict=True)


def main():
    for b in (CTL, khtest.binary("kakehashid")):
        if not os.path.exists(b):
            khtest.bail(f"{b} not built (run make)")
    work = khtest.tmpdir("kh-admin-")
    admin_tok = secrets.token_urlsafe(32)
    help_tok = secrets.token_urlsafe(32)
    tokens = os.path.join(work, "admin-tokens")
    audit = os.path.join(work, "audit.log")
    with open(tokens, "w") as f:
        f.write("# NAME ROLE SHA256HEX\n\n")
        f.write(f"ops-alice admin {sha(admin_tok)}\n")
        f.write(f"helpdesk-bob   helpdesk\t{sha(help_tok).upper()}\n")
    os.chmod(tokens, 0o600)
    try:
        st = stack.Stack(count=5, overrides={"admin.tokens_file": tokens,
                                             "log.audit_file": audit,
                                             "server.max_body_bytes": MAX_BODY}).start()
    except RuntimeError as e:
        khtest.bail(str(e))
    port = st.daemon.port
    cli = st.daemon.client()
    r = st.redis

    # --- token hash -----------------------------------------------------------
    p = ctl(port, "token", "hash", stdin=admin_tok + "\n", env_url=False)
    ok(p.returncode == 0 and p.stdout.strip() == sha(admin_tok),
       "kakehashictl token hash prints the SHA-256 hex of stdin", p.stderr)
    p = ctl(port, "token", "hash", admin_tok, env_url=False)
    ok(p.returncode == 2 and admin_tok not in p.stdout, "token hash refuses a token argument")
    p = ctl(port, "token", "new", env_url=False)
    ok(p.returncode == 0 and len(p.stdout.strip()) == 43, "token new prints a 256-bit token")

    # --- authentication ---------------------------------------------------------
    res = api(cli, "GET", "/admin/api/v1/apps")
    ok(is_error(res, 401, "unauthorized") and "Bearer" in (res.header("WWW-Authenticate") or ""),
       "no token: 401 JSON with WWW-Authenticate", res.text)
    res = api(cli, "GET", "/admin/api/v1/apps", token="wrong-" + admin_tok)
    ok(is_error(res, 401, "invalid_token"), "wrong token: 401 invalid_token", res.text)
    res = api(cli, "GET", "/admin/api/v1/apps", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    ok(is_error(res, 401), "Basic auth: 401")
    res = api(cli, "GET", "/admin/api/v1/apps", token="bad token\x01")
    ok(is_error(res, 401), "a malformed bearer token: 401")
    res = api(cli, "GET", "/admin/api/v1/apps", token=sha(admin_tok))
    ok(is_error(res, 401), "the hash itself is not a token")
    res = api(cli, "GET", "/admin/api/v1/nowhere")
    ok(is_error(res, 401), "unknown paths need a token too (nothing revealed)")
    res = api(cli, "GET", "/admin/api/v1/apps", token=admin_tok)
    ok(res.status == 200 and res.json == {"apps": [], "version": 0},
       "admin token: empty list, version 0", res.text)
    res = api(cli, "GET", "/admin/api/v1/apps", token=help_tok)
    ok(res.status == 200, "helpdesk token (upper-case hex in the file) may list", res.text)
    ok(res.header("Cache-Control") == "no-store", "answers are not cached")

    # --- apps in the registry ---------------------------------------------------------
    def put_app(doc):
        r.command("SET", PREFIX + "reg:app:" + doc["id"], json.dumps(doc, ensure_ascii=False))
        r.command("SADD", PREFIX + "reg:apps", doc["id"])
        r.command("INCR", PREFIX + "reg:version")

    slack = {"id": "slack", "name": "Slack", "protocol": "saml", "enabled": True,
             "groups": ["staff"], "category": "communication", "created": "2026-01-01T00:00:00Z",
             "updated": "2026-01-01T00:00:00Z", "saml": {"entity_id": "https://slack.com"}}
    kintone = {"id": "kintone", "name": "キントーン 業務", "protocol": "oidc", "enabled": False,
               "groups": ["情報政策課", "staff"], "category": "general",
               "created": "2026-01-02T00:00:00Z", "updated": "2026-01-02T00:00:00Z",
               "oidc": {"client_id": "kintone", "redirect_uris": ["https://x.example/cb"]}}
    put_app(slack)
    put_app(kintone)
    res = api(cli, "GET", "/admin/api/v1/apps", token=help_tok)
    ids = [a.get("id") for a in (res.json or {}).get("apps", [])]
    ok(res.status == 200 and ids == ["kintone", "slack"] and res.json.get("version") == 2,
       "list: sorted summaries with the registry version", res.text)
    ok(all("saml" not in a and "oidc" not in a for a in res.json["apps"]) and
       res.json["apps"][0]["name"] == "キントーン 業務" and
       res.json["apps"][0]["enabled"] is False, "summaries carry the common fields only")
    res = api(cli, "GET", "/admin/api/v1/apps/slack", token=help_tok)
    ok(res.status == 200 and res.json.get("app") == slack and res.json.get("version") == 2,
       "show returns the whole document", res.text)
    res = api(cli, "GET", "/admin/api/v1/apps/nope", token=admin_tok)
    ok(is_error(res, 404, "not_found"), "show of an unknown app: 404 JSON")
    res = api(cli, "GET", "/admin/api/v1/apps/bad%20id", token=admin_tok)
    ok(is_error(res, 404), "show of an invalid id: 404 JSON")
    res = api(cli, "GET", "/admin/api/v1/users", token=admin_tok)
    ok(is_error(res, 404, "not_found"), "unknown resource: 404 JSON")
    res = api(cli, "GET", "/admin/api/v1/apps/slack/x/y/z", token=admin_tok)
    ok(is_error(res, 404), "too many segments: 404")
    res = api(cli, "PATCH", "/admin/api/v1/apps/slack", token=admin_tok)
    ok(is_error(res, 405, "method_not_allowed") and "DELETE" in (res.header("Allow") or ""),
       "PATCH: 405 JSON with Allow", res.text)
    res = api(cli, "POST", "/admin/api/v1/apps", token=admin_tok, body={})
    ok(is_error(res, 405), "POST on the collection: 405")

    # --- delete: roles ----------------------------------------------------------------
    res = api(cli, "DELETE", "/admin/api/v1/apps/slack", token=help_tok)
    ok(is_error(res, 403, "forbidden"), "helpdesk token: 403 on delete", res.text)
    ok(r.command("EXISTS", PREFIX + "reg:app:slack") == 1, "and the app is still there")
    res = api(cli, "DELETE", "/admin/api/v1/apps/slack", token=admin_tok)
    ok(res.status == 200 and res.json == {"deleted": "slack", "version": 3},
       "admin token: delete bumps the version", res.text)
    ok(r.command("EXISTS", PREFIX + "reg:app:slack") == 0 and
       r.command("SMEMBERS", PREFIX + "reg:apps") == [b"kintone"] and
       r.command("GET", PREFIX + "reg:version") == b"3", "the registry no longer has it")
    res = api(cli, "DELETE", "/admin/api/v1/apps/slack", token=admin_tok)
    ok(is_error(res, 404) and r.command("GET", PREFIX + "reg:version") == b"3",
       "a second delete: 404, no bump")

    # --- JSON bodies -----------------------------------------------------------------
    res = api(cli, "PUT", "/admin/api/v1/apps/kintone", token=admin_tok, body=b"{not json")
    ok(res.status in (400, 501) and is_error(res, res.status),
       "PUT routes to the protocol owner (JSON error shape)", res.text)
    res = api(cli, "POST", "/admin/api/v1/apps/oidc", token=admin_tok,
              body=b"x" * (MAX_BODY + 10))
    ok(is_error(res, 413, "too_large"), "oversized JSON body: 413 JSON", res.text)
    res = api(cli, "POST", "/admin/api/v1/apps/saml", token=help_tok, body={"id": "a"})
    ok(is_error(res, 403), "create with a helpdesk token: 403")
    res = api(cli, "POST", "/admin/api/v1/apps/kintone/rotate-secret", token=help_tok)
    ok(is_error(res, 403), "rotate-secret with a helpdesk token: 403")
    res = api(cli, "POST", "/admin/api/v1/apps/nope/rotate-secret", token=admin_tok)
    ok(is_error(res, 404), "rotate-secret of an unknown app: 404")

    # --- kakehashictl -----------------------------------------------------------------
    put_app(slack)
    p = ctl(port, "app", "list", token=admin_tok)
    ok(p.returncode == 0 and "slack" in p.stdout and "キントーン 業務" in p.stdout and
       "ID" in p.stdout.splitlines()[0] and "registry version 4" in p.stdout,
       "kakehashictl app list prints a table", p.stdout + p.stderr)
    lines = p.stdout.splitlines()
    ok(len(lines) == 4 and lines[1].startswith("kintone") and "no" in lines[1],
       "one row per app, sorted, enabled shown", lines)
    p = ctl(port, "--json", "app", "list", token=admin_tok)
    ok(p.returncode == 0 and json.loads(p.stdout).get("version") == 4, "--json prints the JSON")
    tf = os.path.join(work, "help.token")
    with open(tf, "w") as f:
        f.write(help_tok + "\n")
    os.chmod(tf, 0o600)
    p = ctl(port, "app", "show", "slack", token_file=tf)
    ok(p.returncode == 0 and "https://slack.com" in p.stdout and "communication" in p.stdout,
       "app show with --token-file", p.stdout + p.stderr)
    p = ctl(port, "app", "remove", "slack", token_file=tf)
    ok(p.returncode == 1 and "may not" in p.stderr and "403" in p.stderr,
       "app remove with a helpdesk token: exit 1 with the server's message", p.stderr)
    p = ctl(port, "app", "remove", "slack", token=admin_tok)
    ok(p.returncode == 0 and "removed slack" in p.stdout and "version 5" in p.stdout,
       "app remove with the admin token", p.stdout + p.stderr)
    p = ctl(port, "app", "show", "slack", token=admin_tok)
    ok(p.returncode == 1 and "No such app" in p.stderr, "show after remove: exit 1, 404 message")
    p = ctl(port, "--json", "app", "show", "slack", token=admin_tok)
    ok(p.returncode == 1 and json.loads(p.stdout or "{}").get("error") == "not_found",
       "--json prints the error JSON too")
    p = ctl(port, "app", "list", token="nope")
    ok(p.returncode == 1 and "not valid" in p.stderr, "a wrong token: exit 1")
    p = ctl(port, "app", "list")
    ok(p.returncode == 2 and "KAKEHASHI_TOKEN" in p.stderr, "no token: exit 2")
    p = ctl(port, "app", "list", "--token", admin_tok)
    ok(p.returncode == 2 and admin_tok not in p.stderr, "--token on the command line: refused")
    p = ctl(port, "app", "show", "../x", token=admin_tok)
    ok(p.returncode == 2, "an invalid id: exit 2 before any request")
    p = ctl(port, "app", "frobnicate", token=admin_tok)
    ok(p.returncode == 2, "unknown command: exit 2")
    p = ctl(port, "app", "list", token=admin_tok, env_url=False)
    ok(p.returncode == 2, "no --url / KAKEHASHI_URL: exit 2")
    p = ctl(port, "--url", f"http://127.0.0.1:{khtest.free_port()}", "app", "list",
            token=admin_tok, env_url=False)
    ok(p.returncode == 3 and "cannot reach" in p.stderr, "nothing listening: exit 3", p.stderr)

    # --- the tokens file is read on every call --------------------------------------------
    with open(tokens, "a") as f:
        f.write("broken line\n")
    res = api(cli, "GET", "/admin/api/v1/apps", token=admin_tok)
    ok(is_error(res, 500, "server_error"), "a malformed tokens file fails closed (500)")
    with open(tokens, "w") as f:
        f.write(f"ops-alice admin {sha(admin_tok)}\n")
    res = api(cli, "GET", "/admin/api/v1/apps", token=help_tok)
    ok(is_error(res, 401), "a token removed from the file stops working at once")

    # --- Redis down ------------------------------------------------------------------------
    r.stop()
    res = api(cli, "GET", "/admin/api/v1/apps", token=admin_tok)
    ok(is_error(res, 503, "unavailable"), "Redis down: 503 JSON", res.text)
    r.start()

    # --- audit ---------------------------------------------------------------------------
    try:
        with open(audit, encoding="utf-8") as f:
            lines = [ln for ln in f.read().splitlines() if "admin.call" in ln]
    except OSError:
        lines = []
    text = "\n".join(lines)
    ok(len(lines) >= 30, f"every admin call is audited ({len(lines)} lines)")
    ok(any("token=ops-alice" in ln and "method=DELETE" in ln and "app=slack" in ln and
           "result=200" in ln for ln in lines), "the audit line names the token, method, app, "
       "status", lines[:3])
    ok(any("token=helpdesk-bob" in ln and "result=403" in ln for ln in lines),
       "refusals are audited with the token name")
    ok(any("token=-" in ln and "result=401" in ln for ln in lines),
       "calls without a valid token are audited as token=-")
    logs = text + st.daemon.log_text()
    ok(admin_tok not in logs and help_tok not in logs and sha(admin_tok) not in logs,
       "no token (or its hash) in any log")

    rc = st.stop()
    log = st.daemon.log_text()
    ok(not any(m in log for m in SANITIZER_MARKS), "kakehashid: no sanitizer report",
       [ln for ln in log.splitlines() if any(m in ln for m in SANITIZER_MARKS)][:5])
    diag(f"kakehashid exit {rc}")
    khtest.done()


if __name__ == "__main__":
    main()
