#!/usr/bin/env python3
"""Helpdesk work against a real stack (slapd, redis-server, kakehashid): a
user's directory entry, groups and live sessions (kakehashictl user show),
signing a user out everywhere (user revoke-sessions, reason required and
audited), the audit trail in Redis (audit tail, per user), role limits, and
the audit stream riding out a short Redis outage. TAP output."""

import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from admintool import CTL, api, ctl, is_error, write_tokens  # noqa: E402
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import stack  # noqa: E402

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")
PREFIX = "kh:"
USER = "yamada.taro"
REASON = "端末紛失の報告 (ticket #4711)"


def signed_in(c):
    r = c.get("/login")
    return r.status == 200 and r.find(r'id="uid">([^<]*)<') == USER


def shows_form(c):
    r = c.get("/login")
    return r.status == 200 and 'name="password"' in r.text and r.find(r'id="uid">') is None


def main():
    for b in (CTL, khtest.binary("kakehashid")):
        if not os.path.exists(b):
            khtest.bail(f"{b} not built (run make)")
    work = khtest.tmpdir("kh-helpdesk-")
    admin_tok = secrets.token_urlsafe(32)
    help_tok = secrets.token_urlsafe(32)
    tokens = write_tokens(os.path.join(work, "admin-tokens"), ("ops-alice", "admin", admin_tok),
                          ("helpdesk-bob", "helpdesk", help_tok))
    try:
        st = stack.Stack(count=5, overrides={"admin.tokens_file": tokens,
                                             "log.audit_file": os.path.join(work, "audit.log"),
                                             "login.min_delay_ms": 50}).start()
    except RuntimeError as e:
        khtest.bail(str(e))
    d = st.daemon
    port = d.port
    cli = d.client()
    r = st.redis

    # --- two sessions of one user ----------------------------------------------
    c1, c2 = d.client(), d.client()
    ok(c1.login(USER, st.password).status == 303 and c2.login(USER, st.password).status == 303,
       "yamada.taro signs in twice (two browsers)")
    ok(signed_in(c1) and signed_in(c2), "both sessions work")
    cookies = (c1.cookies.get("kh_session", "-"), c2.cookies.get("kh_session", "-"))

    # --- user show ---------------------------------------------------------------
    p = ctl(port, "user", "show", USER, token=help_tok)
    ok(p.returncode == 0 and "山田 太郎" in p.stdout, "user show (helpdesk): 山田 太郎",
       p.stdout + p.stderr)
    ok("it-admins" in p.stdout and "all-staff" in p.stdout, "user show lists the groups",
       p.stdout)
    ok("sessions     2" in p.stdout and "pwd" in p.stdout, "user show: 2 sessions", p.stdout)
    p = ctl(port, "--json", "user", "show", USER, token=help_tok)
    j = json.loads(p.stdout) if p.returncode == 0 else {}
    sess = j.get("sessions", [])
    ok(len(sess) == 2 and all(set(s) == {"id", "created", "auth_time", "expires", "client_ip",
                                        "amr"} for s in sess)
       and all(s["client_ip"] == "127.0.0.1" and s["amr"] == "pwd" for s in sess),
       "--json: two sessions with created, auth_time, expires, client_ip, amr", p.stdout)
    ok(all(ck not in p.stdout for ck in cookies) and
       j.get("user", {}).get("family_name") == "山田" and
       j.get("throttle") == {"failures": 0, "locked": False, "locked_for": 0},
       "no cookie in the answer; directory attributes and throttle state", p.stdout)
    res = api(cli, "GET", "/admin/api/v1/users/YAMADA.TARO", token=admin_tok)
    ok(res.status == 200 and len((res.json or {}).get("sessions", [])) == 2,
       "the uid matches case-insensitively (admin token)", res.text)

    # --- unknown user ----------------------------------------------------------------
    res = api(cli, "GET", "/admin/api/v1/users/no.such.user", token=help_tok)
    ok(is_error(res, 404, "not_found"), "unknown user: 404 JSON error", res.text)
    p = ctl(port, "user", "show", "no.such.user", token=help_tok)
    ok(p.returncode == 1 and "no.such.user" not in p.stdout and p.stderr,
       "user show of an unknown user exits 1 with the server's message", p.stderr)
    res = api(cli, "GET", "/admin/api/v1/users/" + USER)
    ok(is_error(res, 401), "no token: 401")

    # --- revoke-sessions -------------------------------------------------------------
    p = ctl(port, "user", "revoke-sessions", USER, token=help_tok)
    ok(p.returncode == 2 and "--reason" in p.stderr, "revoke-sessions without --reason: refused",
       p.stderr)
    res = api(cli, "POST", f"/admin/api/v1/users/{USER}/revoke-sessions", token=help_tok,
              body={})
    ok(is_error(res, 400, "invalid_field"), "API: no reason: 400", res.text)
    res = api(cli, "POST", f"/admin/api/v1/users/{USER}/revoke-sessions", token=help_tok,
              body={"reason": "あ" * 501})
    ok(is_error(res, 400, "invalid_field"), "API: 501-character reason: 400", res.text)
    res = api(cli, "POST", f"/admin/api/v1/users/{USER}/revoke-sessions", token=help_tok,
              body={"reason": "x\ny"})
    ok(is_error(res, 400, "invalid_field"), "API: control characters in the reason: 400")
    res = api(cli, "GET", f"/admin/api/v1/users/{USER}/revoke-sessions", token=help_tok)
    ok(is_error(res, 405), "GET revoke-sessions: 405", res.text)
    ok(signed_in(c1) and signed_in(c2), "refused revokes changed nothing")
    p = ctl(port, "user", "revoke-sessions", USER, "--reason", REASON, token=help_tok)
    ok(p.returncode == 0 and "revoked 2 session" in p.stdout, "revoke-sessions with a reason",
       p.stdout + p.stderr)
    ok(shows_form(c1) and shows_form(c2), "both sessions are gone: GET /login shows the form")
    p = ctl(port, "--json", "user", "show", USER, token=help_tok)
    ok(p.returncode == 0 and json.loads(p.stdout).get("sessions") == [],
       "user show: no sessions left", p.stdout)
    ok(r.keys(PREFIX + "su:*") == [] and r.keys(PREFIX + "s:*") == [],
       "no session and no session index left in Redis")
    c3 = d.client()
    ok(c3.login(USER, st.password).status == 303 and signed_in(c3),
       "the user can sign in again afterwards")

    # --- audit tail ---------------------------------------------------------------
    p = ctl(port, "audit", "tail", "--user", USER, "--count", "50", token=help_tok)
    ok(p.returncode == 0 and p.stdout.count("login.success") >= 3 and
       "helpdesk.revoke_sessions" in p.stdout, "audit tail --user: logins and the revoke",
       p.stdout + p.stderr)
    ok("helpdesk-bob" in p.stdout and REASON in p.stdout,
       "the revoke shows the helpdesk token's name and the reason", p.stdout)
    p = ctl(port, "--json", "audit", "tail", "--user", USER, "--count", "50", token=help_tok)
    ev = json.loads(p.stdout).get("events", []) if p.returncode == 0 else []
    rev = [e for e in ev if e.get("event") == "helpdesk.revoke_sessions"]
    ok(len(rev) == 1 and rev[0].get("token") == "helpdesk-bob" and
       rev[0].get("user") == USER and rev[0].get("reason") == REASON and
       rev[0].get("count") == "2" and rev[0].get("ts", "").endswith("Z"),
       "--json: the revoke event has ts, token, user, reason, count", rev)
    ok(ev and ev[0].get("event") == "login.success" and
       all(e.get("user") == USER for e in ev) and
       [e["id"] for e in ev] == sorted((e["id"] for e in ev),
                                       key=lambda i: tuple(map(int, i.split("-"))),
                                       reverse=True),
       "newest first, only this user's events", [e.get("event") for e in ev])
    res = api(cli, "GET", "/admin/api/v1/audit?count=3", token=help_tok)
    ok(res.status == 200 and len(res.json.get("events", [])) == 3 and
       res.json.get("user") is None, "GET /audit?count=3: the 3 newest of all events", res.text)
    for q in ("count=0", "count=1001", "count=x", "count=1&count=2", "user="):
        res = api(cli, "GET", "/admin/api/v1/audit?" + q, token=help_tok)
        ok(is_error(res, 400), f"GET /audit?{q}: 400", res.text)
    res = api(cli, "GET", "/admin/api/v1/audit?user=nobody.here", token=help_tok)
    ok(res.status == 200 and res.json.get("events") == [], "a user without events: []")
    keys = r.keys(PREFIX + "audit*")
    ok(PREFIX.encode() + b"audit" in keys and
       len([k for k in keys if k.startswith(PREFIX.encode() + b"audit:u:")]) >= 1 and
       not any(b"yamada" in k for k in r.keys()),
       "streams kh:audit and kh:audit:u:HMAC; no user name in any key", keys)
    info = r.command("XINFO", "STREAM", PREFIX + "audit")
    ok(isinstance(info, list) and info[info.index(b"length") + 1] > 5,
       "the main stream holds every event", info[:2])

    # --- roles --------------------------------------------------------------------
    res = api(cli, "DELETE", "/admin/api/v1/apps/some-app", token=help_tok)
    ok(is_error(res, 403), "helpdesk token: app delete still 403", res.text)
    p = ctl(port, "app", "remove", "some-app", token=help_tok)
    ok(p.returncode == 1, "kakehashictl app remove with the helpdesk token: refused")

    # --- Redis briefly down --------------------------------------------------------------
    st.redis.stop()
    for _ in range(5):
        api(cli, "GET", "/admin/api/v1/apps", token=help_tok)  # audited: admin.call
        d.client().login(USER, st.password)
    ok(d.proc.poll() is None, "Redis down: audited calls do not crash the daemon")
    log = d.log_text()
    ok(log.count("event=audit.redis") == 1 and "error=unavailable" in log,
       "the audit stream failure is logged once", [l for l in log.splitlines()
                                                   if "audit.redis" in l])
    st.redis.start()
    deadline = time.time() + 10
    while time.time() < deadline and d.client().get("/readyz").status != 200:
        time.sleep(0.2)
    time.sleep(1.2)  # past the audit back-off
    c4 = d.client()
    ok(c4.login(USER, st.password).status == 303 and signed_in(c4),
       "Redis back: logins work")
    res = api(cli, "GET", f"/admin/api/v1/audit?user={USER}&count=1", token=help_tok)
    ev = (res.json or {}).get("events", [])
    ok(res.status == 200 and len(ev) == 1 and ev[0].get("event") == "login.success",
       "the audit stream records again after the outage", res.text)
    ok("result=recovered" in d.log_text(), "the recovery is logged")

    log = d.log_text()
    ok(not any(m in log for m in SANITIZER_MARKS), "no sanitizer report")
    ok(all(ck not in log for ck in cookies), "no cookie in the daemon log")
    ok(st.stop() == 0, "the daemon stops cleanly")
    khtest.done()


if __name__ == "__main__":
    main()
