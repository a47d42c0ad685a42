#!/usr/bin/env python3
"""Browser test of the second factor (TOTP, passkeys, recovery codes) with
headless Chromium, the whole stack on loopback.

Starts a private slapd and redis-server and two kakehashid daemons sharing
them (tests/lib/stack.py + kakehashid.Daemon), on fixed loopback ports and
with [server] base_url http://localhost:PORT so that WebAuthn has a valid RP
ID ("localhost"):

  A  [mfa] webauthn_attestation = none
  B  [mfa] webauthn_attestation = direct, webauthn_require_uv = yes

Both use the same [session] secret, so they share the app registry, the
client secret and the users' factors. One OIDC client with "policy": "mfa" is
registered through A's admin API; its redirect_uri is a tiny callback server
here (127.0.0.1) that redeems each code at the issuing daemon's token endpoint
and shows the verified ID token's acr/amr as JSON, for the browser test to
check.

Runs `node tests/e2e/mfa.test.mjs` (TAP lines relayed as they come) under
the loopback audit of netaudit.py (sockets of node and Chromium sampled every
50 ms; each Chromium's NetLog read afterwards), then checks the audit trail,
the callback's log, and that both daemons stop cleanly without sanitizer
reports. KH_KEEP_TMP=1 keeps the temporary directories (and the
screenshots mfa.test.mjs takes on failure).
"""

import base64
import glob
import http.client
import http.server
import json
import os
import secrets
import shutil
import sys
import threading
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import khtest  # noqa: E402
from netaudit import (audit_netlog, check_run, diag_blocked, load_netlog,  # noqa: E402
                      need_browser, run_node_test)

NODE_TIMEOUT = 240  # seconds for the whole browser test
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")
USER_TOTP = "yamada.taro"
USER_PASSKEY = "sato.hanako"
APP_ID = "mfa-e2e"
WELL_KNOWN = {"yamada.taro", "sato.hanako", "locked.user", "expired.user", "reset.user",
              "grace.user", "expiring.user", "dup.one", "dup.two", "odd.user"}


def distinct_ports(n):
    ports = set()
    while len(ports) < n:
        ports.add(khtest.free_port())
    return sorted(ports)


# ---- the application's redirect_uri -----------------------------------------

class Callback(http.server.BaseHTTPRequestHandler):
    """GET /cb?code=..&state=..&iss=..: redeems the code at the issuer's token
    endpoint (client_secret_basic), verifies the ID token with the issuer's
    JWKS and answers the outcome as JSON (text/plain)."""

    issuers = {}        # issuer (base_url) -> 127.0.0.1 port
    client_id = ""
    client_secret = ""
    redirect_uri = ""
    log = []            # one dict per request, for the driver's checks
    lock = threading.Lock()

    def do_GET(self):
        import oidc_rp
        u = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(u.query))
        out = {"path": u.path, "state": q.get("state"), "iss": q.get("iss"),
               "code": bool(q.get("code")), "error": q.get("error")}
        port = self.issuers.get(q.get("iss", ""))
        if u.path == "/cb" and q.get("code") and port is not None:
            try:
                out.update(self.redeem(port, q["code"], oidc_rp))
            except Exception as e:  # noqa: BLE001 - reported to the browser test
                out["token_error"] = repr(e)
        elif port is None:
            out["token_error"] = f"unknown iss {q.get('iss')!r}"
        with self.lock:
            self.log.append(out)
        body = json.dumps(out, ensure_ascii=False).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def redeem(self, port, code, oidc_rp):
        basic = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        form = urllib.parse.urlencode({"grant_type": "authorization_code", "code": code,
                                       "redirect_uri": self.redirect_uri}).encode()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=15)
        conn.request("POST", "/oidc/token", body=form, headers={
            "Authorization": f"Basic {basic}",
            "Content-Type": "application/x-www-form-urlencoded"})
        r = conn.getresponse()
        tok = json.loads(r.read() or b"{}")
        conn.request("GET", "/oidc/jwks")
        jwks = json.loads(conn.getresponse().read())
        conn.close()
        res = {"token_status": r.status}
        if r.status != 200 or "id_token" not in tok:
            res["token_error"] = json.dumps(tok)[:300]
            return res
        _, claims = oidc_rp.jwt_verify(tok["id_token"], jwks)
        res.update({"sub": claims.get("sub"), "acr": claims.get("acr"),
                    "amr": claims.get("amr"), "id_token_iss": claims.get("iss"),
                    "aud": claims.get("aud")})
        return res

    def log_message(self, *a):
        pass


def main():
    try:
        from admintool import api, audit_events, find_ev, write_tokens
        import kakehashid
        import oidc_rp
        import slapd
        import stack
    except ImportError as e:
        khtest.bail(f"test fixtures missing: {e}")
    node = need_browser()
    if shutil.which("oathtool") is None:
        khtest.bail("oathtool not found: apt-get install oathtool")

    work = khtest.tmpdir("kh-mfa-e2e-")
    admin_tok = secrets.token_urlsafe(32)
    tokens = write_tokens(os.path.join(work, "admin-tokens"), ("e2e-admin", "admin", admin_tok))
    port_a, port_b, port_cb = distinct_ports(3)
    base_a, base_b = f"http://localhost:{port_a}", f"http://localhost:{port_b}"
    redirect_uri = f"http://127.0.0.1:{port_cb}/cb"
    audit_a, audit_b = os.path.join(work, "audit-a.log"), os.path.join(work, "audit-b.log")
    try:
        common = oidc_rp.dev_keys(work)
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"dev keys: {e}")
    common.update({"session.secret": secrets.token_hex(32), "registry.poll_ms": "100",
                   "admin.tokens_file": tokens, "login.min_delay_ms": "50",
                   "login.max_delay_ms": "400"})
    over_a = dict(common, **{"server.base_url": base_a, "log.audit_file": audit_a,
                             "mfa.webauthn_attestation": "none"})
    over_b = dict(common, **{"server.base_url": base_b, "log.audit_file": audit_b,
                             "mfa.webauthn_attestation": "direct",
                             "mfa.webauthn_require_uv": "yes"})
    os.makedirs(os.path.join(work, "stack"))
    st = stack.Stack(count=20, overrides=over_a, port=port_a, workdir=os.path.join(work, "stack"))
    daemon_b = None
    try:
        st.start()
        daemon_b = kakehashid.Daemon(
            st.slapds[0].uri, slapd.BASE_DN, slapd.SERVICE_DN, slapd.SERVICE_PASSWORD,
            st.redis.port, "", over_b, workdir=os.path.join(work, "kakehashid-b"), port=port_b)
        daemon_b.start()
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"stack did not start: {e}")
    others = [u for u in st.users if u not in WELL_KNOWN]
    if len(others) < 2:
        khtest.bail(f"generated directory has too few ordinary users: {st.users}")
    user_b, user_i18n = others[0], others[1]
    khtest.diag(f"kakehashid A on {base_a} (attestation none), B on {base_b} (attestation "
                f"direct, require_uv); slapd {st.slapds[0].uri}, redis 127.0.0.1:{st.redis.port}; "
                f"callback {redirect_uri}")
    khtest.diag(f"users: TOTP {USER_TOTP}, passkey on A {USER_PASSKEY}, passkey on B {user_b}, "
                f"no factor {user_i18n}")

    # ---- the application: OIDC client with policy "mfa" ------------------------
    res = api(kakehashid.Client(port_a, accept_language=None), "POST",
              "/admin/api/v1/apps/oidc", token=admin_tok, body={
                  "id": APP_ID, "name": "MFA 試験アプリ", "enabled": True, "policy": "mfa",
                  "oidc": {"redirect_uris": [redirect_uri], "scopes": ["openid", "profile"],
                           "token_endpoint_auth_method": "client_secret_basic"}})
    status, doc, text = res.status, res.json, res.text
    secret = (doc or {}).get("client_secret")
    app = (doc or {}).get("app") or {}
    if status not in (200, 201) or not secret:
        khtest.bail(f"registering the OIDC client: {status} {text[:300]}")
    client_id = (app.get("oidc") or {}).get("client_id", APP_ID)
    khtest.diag(f"registered OIDC client {client_id} (policy {app.get('policy')!r})")
    time.sleep(0.5)  # B picks the registry change up within registry.poll_ms

    Callback.issuers = {base_a: port_a, base_b: port_b}
    Callback.client_id, Callback.client_secret = client_id, secret
    Callback.redirect_uri = redirect_uri
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", port_cb), Callback)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    netlogs = os.path.join(work, "netlogs")
    os.makedirs(netlogs)
    shots = os.path.join(work, "screenshots")
    env = dict(os.environ)
    env.update({
        "KH_BASE_A": base_a, "KH_BASE_B": base_b,
        "KH_ADMIN_A": f"http://127.0.0.1:{port_a}", "KH_ADMIN_B": f"http://127.0.0.1:{port_b}",
        "KH_ADMIN_TOKEN": admin_tok, "KH_CLIENT_ID": client_id,
        "KH_REDIRECT_URI": redirect_uri, "KH_PASSWORD": st.password,
        "KH_USER_TOTP": USER_TOTP, "KH_USER_PASSKEY": USER_PASSKEY,
        "KH_USER_PASSKEY_B": user_b, "KH_USER_NOFACTOR": user_i18n,
        "KH_NETLOG_DIR": netlogs, "KH_SHOTS": shots,
        "TMPDIR": work,  # the Chromium profiles go here too
    })
    env.pop("KH_NETLOG", None)

    t0 = time.time()
    rc, tests, failures, plan, watch = run_node_test(node, "mfa.test.mjs", env, NODE_TIMEOUT)
    srv.shutdown()
    khtest.diag(f"browser test took {time.time() - t0:.1f} s")
    if failures and os.path.isdir(shots) and os.listdir(shots):
        khtest.diag(f"screenshots of failed steps in {shots}" +
                    ("" if os.environ.get("KH_KEEP_TMP") else " (KH_KEEP_TMP=1 keeps them)"))

    # The run and the loopback audit of its sockets.
    ok = khtest.ok
    check_run(rc, tests, failures, plan, watch)

    # ---- loopback audit: NetLogs ------------------------------------------------
    files = sorted(glob.glob(os.path.join(netlogs, "*.json")))
    problems, blocked, peers, udp = [], [], set(), []
    for path in files:
        try:
            p, b, t, u = audit_netlog(load_netlog(path))
        except (OSError, ValueError, KeyError) as e:
            p, b, t, u = [f"{os.path.basename(path)}: {e}"], [], set(), []
        problems += [f"{os.path.basename(path)}: {x}" for x in p]
        blocked += b
        peers |= t
        udp += u
    ok(files and not problems,
       f"Chromium's NetLogs ({len(files)} browsers): no DNS lookup, no TCP or UDP traffic "
       "beyond loopback", "\n".join(problems[:20]) or f"{len(files)} NetLog files")
    # "localhost" may be tried as [::1] first: refused there, nothing listens.
    allowed = {f"{h}:{p}" for h in ("127.0.0.1", "[::1]") for p in (port_a, port_b)}
    allowed.add(f"127.0.0.1:{port_cb}")
    ok(peers and peers <= allowed and any(f":{port_a}" in x for x in peers) and
       any(f":{port_b}" in x for x in peers) and f"127.0.0.1:{port_cb}" in peers,
       "Chromium's NetLogs: every TCP connection went to kakehashid A or B or the "
       "application's callback", f"TCP peers: {sorted(peers)}; allowed {sorted(allowed)}")
    khtest.diag(f"NetLog TCP peers: {sorted(peers)}")
    diag_blocked(blocked, udp)

    # ---- what the application saw ------------------------------------------------
    log = [e for e in Callback.log if e.get("path") == "/cb"]  # not /favicon.ico
    good = [e for e in log if e.get("token_status") == 200 and
            e.get("acr") == "urn:kakehashi:acr:mfa"]
    ok(len(good) >= 6 and all(e.get("code") for e in log) and
       not any(e.get("error") for e in log),
       f"the application received {len(good)} codes, each redeemed for an ID token with "
       "acr urn:kakehashi:acr:mfa; no error came back",
       json.dumps(log, ensure_ascii=False, indent=1)[:3000])
    subs = {e.get("sub") for e in good}
    ok({USER_TOTP, USER_PASSKEY, user_b} <= subs,
       "codes for all three users (TOTP, passkey on A, passkey on B)", sorted(map(str, subs)))

    # ---- audit trail ------------------------------------------------------------
    ev = audit_events(audit_a, kind=None) + audit_events(audit_b, kind=None)
    checks = [
        ("mfa.enrol factor=totp for " + USER_TOTP,
         find_ev(ev, "mfa.enrol", user=USER_TOTP, factor="totp")),
        ("mfa.success via totp_enrol, totp and recovery_code for " + USER_TOTP,
         find_ev(ev, "mfa.success", user=USER_TOTP, via="totp_enrol") and
         find_ev(ev, "mfa.success", user=USER_TOTP, via="totp") and
         find_ev(ev, "mfa.success", user=USER_TOTP, via="recovery_code")),
        ("mfa.failure via totp: the two replayed codes and the wrong one on the English page",
         len(find_ev(ev, "mfa.failure", user=USER_TOTP, via="totp")) == 3),
        ("mfa.failure via recovery_code: the used recovery code",
         len(find_ev(ev, "mfa.failure", user=USER_TOTP, via="recovery_code")) == 1),
        ("mfa.success amr \"pwd otp mfa\" for the TOTP code",
         find_ev(ev, "mfa.success", user=USER_TOTP, via="totp", amr="pwd otp mfa")),
        ("mfa.enrol factor=webauthn fmt=none for " + USER_PASSKEY,
         find_ev(ev, "mfa.enrol", user=USER_PASSKEY, factor="webauthn", fmt="none")),
        ("mfa.enrol factor=webauthn fmt=packed for " + user_b,
         find_ev(ev, "mfa.enrol", user=user_b, factor="webauthn", fmt="packed")),
        ("mfa.success via webauthn for both passkey users",
         find_ev(ev, "mfa.success", user=USER_PASSKEY, via="webauthn") and
         find_ev(ev, "mfa.success", user=user_b, via="webauthn")),
        ("mfa.failure via webauthn: the tampered and the cloned assertion (A), the "
         "unverified one (B)",
         len(find_ev(ev, "mfa.failure", user=USER_PASSKEY, via="webauthn")) == 2 and
         len(find_ev(ev, "mfa.failure", user=user_b, via="webauthn")) == 1),
        ("mfa.webauthn_counter_replay for the clone",
         len(find_ev(ev, "mfa.webauthn_counter_replay", user=USER_PASSKEY)) == 1),
    ]
    missing = [name for name, got in checks if not got]
    ok(ev and not missing, "audit log: enrolments, successes and failures as the browser did them",
       ("missing: " + "; ".join(missing) + "\n" if missing else "") +
       "\n".join(json.dumps(e, ensure_ascii=False)[:200] for e in ev
                 if str(e.get("event", "")).startswith("mfa."))[:3000])
    khtest.diag(f"audit: {len(ev)} events, "
                f"{len([e for e in ev if str(e.get('event', '')).startswith('mfa.')])} mfa.*")

    # The daemons' own log says why each assertion was refused: the tampered
    # signature on A, the missing user verification on B (not, say, a lost
    # challenge).
    refused = (audit_events(st.daemon.log, "mfa.webauthn_refused", kind=None) +
               audit_events(daemon_b.log, "mfa.webauthn_refused", kind=None))
    want = [{"user": USER_PASSKEY, "why": "assertion signature does not verify"},
            {"user": USER_PASSKEY, "why": "signature counter did not grow (cloned authenticator?)"},
            {"user": user_b, "why": "user verification required but not performed"}]
    got = [{"user": e.get("user"), "why": e.get("why")} for e in refused]
    ok(got == want, "kakehashid log: mfa.webauthn_refused for the changed signature and the "
       "clone's counter (A), and for the assertion without user verification (B)",
       f"got {got}\nwant {want}")

    # ---- shutdown -------------------------------------------------------------------
    rc_b = daemon_b.stop()
    rc_a = st.stop()
    logs = daemon_b.log_text() + st.daemon.log_text()
    ok(rc_a == 0 and rc_b == 0, "both kakehashid daemons stop cleanly (exit 0)",
       f"A exit {rc_a}, B exit {rc_b}\nA:\n{st.daemon.log_tail()}\nB:\n{daemon_b.log_tail()}")
    ok(not any(m in logs for m in SANITIZER_MARKS), "kakehashid: no sanitizer report",
       "\n".join([ln for ln in logs.splitlines() if any(m in ln for m in SANITIZER_MARKS)][:10]))
    khtest.done()


if __name__ == "__main__":
    main()
