#!/usr/bin/env python3
"""Second factor against a real stack (slapd, redis-server, kakehashid), as a
scripted browser (kakehashid.Client, no JavaScript): TOTP self-enrolment
through the pages (QR, secret, confirm, recovery codes shown once), the /mfa
challenge (RFC 6238 window and no replay, malformed input), recovery codes
(single use, typing variants, regeneration), the failure lock and the
helpdesk unlock, remembered devices, enrolment zones behind a trusted proxy,
the helpdesk reset with a one-time bypass code end to end (sessions, OIDC
tokens, audit, the code never stored or logged), role limits of helpdesk
tokens, the CLI's argument checks, and Redis going away during POST /mfa.
TOTP codes come from oathtool. TAP output."""

import base64
import json
import os
import re
import secrets
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
from admintool import (CTL, api, audit_events, ctl, find_ev, is_error,  # noqa: E402
                       write_tokens)
import kakehashid  # noqa: E402
from kakehashid import csrf_of  # noqa: E402
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import oidc_rp  # noqa: E402
import stack  # noqa: E402

OATHTOOL = "oathtool"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior",
                   "ThreadSanitizer")
CB = "http://127.0.0.1:9/cb"
CODE_RE = re.compile(r"^[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$")
REMEMBER_DAYS = 30          # the default [mfa] remember_days
BYPASS_TTL = 14400          # the default [mfa] bypass_ttl
RESET_REASON = "端末紛失 #123"
UNLOCK_REASON = "本人確認済み (電話) ticket #77"
HELPDESK = "helpdesk-bob"


# ---- HTTP helpers --------------------------------------------------------------

class PeerClient(kakehashid.Client):
    """kakehashid.Client that connects from a chosen loopback source address
    and may add an X-Forwarded-For header (a proxy in front, or a liar)."""

    def __init__(self, port, source="127.0.0.1", xff=None, **kw):
        super().__init__(port, source=source, **kw)
        self.xff = xff

    def request(self, method, path, body=None, headers=None, raw_body=None):
        if self.xff is not None:
            headers = {"X-Forwarded-For": self.xff, **(headers or {})}
        return super().request(method, path, body, headers, raw_body)


def has_id(r, ident):
    return re.search(r'\bid="%s"' % re.escape(ident), r.text) is not None


def is_html(r):
    return (r.header("Content-Type") or "").startswith("text/html") and "</html>" in r.text


def loc(r):
    return r.header("Location") or ""


def secret_of(r):
    s = r.find(r'<code id="totp-secret">([^<]*)</code>')
    return s.replace(" ", "") if s else None


def codes_of(r):
    return re.findall(r'<code class="code">([^<]*)</code>', r.text)


def recovery_left(r):
    v = r.find(r'<span id="recovery-left">([0-9]+)</span>')
    return int(v) if v is not None else None


def totp_active(r):
    return r.find(r'<p id="totp-status" data-active="([01])"')


# ---- TOTP with oathtool ------------------------------------------------------------

def oath(secret, when):
    """The TOTP code of base32 secret at 'when' (an oathtool --now string)."""
    p = subprocess.run([OATHTOOL, "--totp", "-b", "--now", when, secret], capture_output=True,
                       text=True, timeout=10)
    if p.returncode != 0:
        raise RuntimeError("oathtool: " + p.stderr)
    return p.stdout.strip()


class Totp:
    """One authenticator app. The server accepts steps now-1..now+1 ([mfa]
    totp_window = 1) that are later than the last one used; next() hands out
    the lowest such step, so a user gets up to three codes without waiting
    for the clock (it sleeps when none is left)."""

    def __init__(self, secret):
        self.secret = secret
        self.last = -1

    def at_step(self, step):
        return oath(self.secret, f"@{step * 30}")

    def next(self):
        while True:
            now = time.time()
            cur = int(now // 30)
            left = 30 - now % 30
            # Near the end of a step, now-1 would be now-2 by the time the
            # server looks: not a candidate then.
            cands = [s for s in (cur - 1, cur, cur + 1) if s > self.last and
                     not (s == cur - 1 and left < 3)]
            if cands:
                self.last = min(cands)
                return self.at_step(self.last)
            time.sleep(left + 0.3)

    def wrong(self):
        """Six digits that match no step within now-2..now+2."""
        cur = int(time.time() // 30)
        near = {self.at_step(s) for s in range(cur - 2, cur + 3)}
        return next(c for c in ("000000", "111111", "222222", "333333", "444444")
                    if c not in near)


# ---- Redis inspection ------------------------------------------------------------------

def _flat(v):
    if v is None:
        return []
    if isinstance(v, (bytes, int)):
        return [v if isinstance(v, bytes) else str(v).encode()]
    out = []
    for x in v:
        out += _flat(x)
    return out


def redis_everything(r):
    """Every key and every value in Redis (strings, hashes, sets, lists,
    sorted sets, streams), as one blob: what a copy of Redis would reveal."""
    parts = []
    for k in r.keys():
        parts.append(k)
        t = r.command("TYPE", k)
        if t == b"string":
            v = r.command("GET", k)
        elif t == b"hash":
            v = r.command("HGETALL", k)
        elif t == b"set":
            v = r.command("SMEMBERS", k)
        elif t == b"list":
            v = r.command("LRANGE", k, "0", "-1")
        elif t == b"zset":
            v = r.command("ZRANGE", k, "0", "-1", "WITHSCORES")
        elif t == b"stream":
            v = r.command("XRANGE", k, "-", "+")
        else:
            v = None
        parts += _flat(v)
    return b"\n".join(parts)


def code_forms(code):
    """The ways a code could be written down (upper/lower, with/without dashes)."""
    plain = code.replace("-", "")
    return {code, plain, code.lower(), plain.lower()}


# ---- the flows -------------------------------------------------------------------

def start_stack(work, name, ov):
    """slapd, redis-server and kakehashid (20 users) in WORK/NAME with the
    overrides ov; bails out when they do not start."""
    os.makedirs(os.path.join(work, name))
    try:
        return stack.Stack(count=20, overrides=ov, workdir=os.path.join(work, name)).start()
    except Exception as e:  # noqa: BLE001
        khtest.bail(str(e))


def enrol(c):
    """A signed-in browser that may enrol sets up TOTP through the pages.
    Returns (Totp or None, recovery codes, begin response, confirm response)."""
    r = c.get("/mfa/setup")
    begin = c.post("/mfa/totp", {"csrf": csrf_of(r), "action": "begin"})
    secret = secret_of(begin)
    if begin.status != 200 or not secret:
        return None, [], begin, begin
    t = Totp(secret)
    conf = c.post("/mfa/totp", {"csrf": csrf_of(begin), "action": "confirm", "otp": t.next()})
    return t, codes_of(conf), begin, conf


def challenge(c, **form):
    """POST /mfa from a browser's challenge page with the given fields."""
    r = c.get("/mfa")
    f = {"csrf": csrf_of(r)}
    f.update(form)
    return c.post("/mfa", f)


def main():
    for b in (CTL, khtest.binary("kakehashid")):
        if not os.path.exists(b):
            khtest.bail(f"{b} not built (run make)")
    if subprocess.run(["sh", "-c", f"command -v {OATHTOOL}"], capture_output=True).returncode:
        khtest.bail("oathtool not installed (apt-get install oathtool)")
    t0 = time.time()
    work = khtest.tmpdir("kh-mfa-")
    admin_tok = secrets.token_urlsafe(32)
    help_tok = secrets.token_urlsafe(32)
    tokens = write_tokens(os.path.join(work, "admin-tokens"), ("ops-alice", "admin", admin_tok),
                          (HELPDESK, "helpdesk", help_tok))
    fast = {"login.min_delay_ms": 10, "login.max_delay_ms": 50,
            "admin.tokens_file": tokens}

    zones_check(work, fast, help_tok)
    main_stack(work, fast, admin_tok, help_tok)
    khtest.diag(f"runtime {time.time() - t0:.1f} s")
    khtest.done()


# ---- 6. enrolment zones behind a trusted proxy (own stack) --------------------------------

def zones_check(work, fast, help_tok):
    audit = os.path.join(work, "audit-zones.log")
    ov = dict(fast)
    ov.update({"mfa.enrol_zones": "gov", "server.trusted_proxies": "127.0.0.1",
               "log.audit_file": audit})
    st = start_stack(work, "zones", ov)
    d = st.daemon
    user = st.users[10]
    c = PeerClient(d.port)
    ok(c.login(user, st.password).status == 303, f"[zones] {user} signs in from 127.0.0.1")
    r = c.get("/mfa")
    ok(r.status == 200 and has_id(r, "no-factor") and has_id(r, "enrol-not-here") and
       not has_id(r, "setup"),
       "[zones] /mfa from 127.0.0.1 (not in gov): #no-factor, #enrol-not-here, no setup link",
       r.text[-800:])
    csrf = csrf_of(r)
    r = c.get("/mfa/setup")
    ok(r.status == 403 and has_id(r, "enrol-not-here") and not has_id(r, "totp-begin"),
       "[zones] GET /mfa/setup outside the enrolment zone: 403 #enrol-not-here",
       f"{r.status} {r.text[-600:]}")
    r = c.post("/mfa/totp", {"csrf": csrf, "action": "begin"})
    ok(r.status == 403 and has_id(r, "enrol-not-here") and secret_of(r) is None and
       "<svg" not in r.text,
       "[zones] POST /mfa/totp action=begin outside the zone: 403, no secret, no QR",
       f"{r.status} {r.text[-600:]}")

    # Through the trusted proxy, the client is 10.1.2.3 (gov).
    c.xff = "10.1.2.3"
    r = c.get("/mfa/setup")
    ok(r.status == 200 and has_id(r, "totp-begin") and totp_active(r) == "0",
       "[zones] via trusted proxy 127.0.0.1, X-Forwarded-For 10.1.2.3: /mfa/setup allowed",
       f"{r.status} {r.text[-600:]}")
    begin = c.post("/mfa/totp", {"csrf": csrf_of(r), "action": "begin"})
    secret = secret_of(begin)
    ok(begin.status == 200 and secret and "<svg" in begin.text,
       "[zones] ... and action=begin shows the QR code and the secret", begin.status)
    r = c.get("/mfa")
    ok(r.status == 200 and has_id(r, "setup") and not has_id(r, "enrol-not-here"),
       "[zones] /mfa via the proxy offers a#setup")

    # The same header from an untrusted peer (127.0.0.2) is ignored.
    c.source = "127.0.0.2"
    r = c.get("/mfa/setup")
    ok(r.status == 403 and has_id(r, "enrol-not-here"),
       "[zones] untrusted peer 127.0.0.2 with X-Forwarded-For 10.1.2.3: 403 (header ignored)",
       f"{r.status} {r.text[-400:]}")
    t = Totp(secret or "A" * 32)
    r = c.post("/mfa/totp", {"csrf": csrf_of(begin), "action": "confirm", "otp": t.next()})
    ok(r.status == 403 and has_id(r, "enrol-not-here") and not codes_of(r),
       "[zones] confirm from the untrusted peer: 403, TOTP not activated",
       f"{r.status} {r.text[-400:]}")
    c.source = "127.0.0.1"
    c.xff = "10.1.2.3, 192.0.2.7"
    r = c.get("/mfa/setup")
    ok(r.status == 403, "[zones] trusted proxy, XFF '10.1.2.3, 192.0.2.7': the last element "
       "(192.0.2.7) counts: 403", r.status)
    c.xff = "10.1.2.3"
    r = c.post("/mfa/totp", {"csrf": csrf_of(begin), "action": "confirm", "otp": t.next()})
    codes = codes_of(r)
    ok(r.status == 200 and len(set(codes)) == 10,
       "[zones] confirm through the trusted proxy: TOTP active, 10 recovery codes",
       f"{r.status} {r.text[-600:]}")
    res = api(d.client(), "GET", f"/admin/api/v1/users/{user}", token=help_tok)
    m = (res.json or {}).get("mfa", {})
    ok(m.get("totp") is True and m.get("recovery_codes_left") == 10,
       "[zones] admin API: totp on, 10 recovery codes", res.text[:400])
    evs = audit_events(audit)
    ok(len(find_ev(evs, "mfa.enrol_refused", user=user, ip="127.0.0.1")) >= 2 and
       find_ev(evs, "mfa.enrol_refused", user=user, ip="127.0.0.2") and
       find_ev(evs, "mfa.totp_begin", user=user, ip="10.1.2.3") and
       find_ev(evs, "mfa.enrol", user=user, ip="10.1.2.3", factor="totp", via="zone"),
       "[zones] audit: enrol_refused with the real peer address, begin/enrol with 10.1.2.3",
       [(e.get("event"), e.get("ip")) for e in evs if e.get("event", "").startswith("mfa.")])

    rc = st.stop()
    log = d.log_text()
    ok(rc == 0, "[zones] the daemon stops cleanly", rc)
    ok(not any(m in log for m in SANITIZER_MARKS), "[zones] no sanitizer report in the "
       "daemon's stderr", [l for l in log.splitlines() if any(m in l for m in SANITIZER_MARKS)])


# ---- everything else: one stack with max_failures 3 -------------------------------------

def main_stack(work, fast, admin_tok, help_tok):
    audit = os.path.join(work, "audit.log")
    ov = oidc_rp.overrides(work)
    ov.update(fast)
    ov.update({"log.audit_file": audit, "mfa.max_failures": 3, "mfa.lock_duration": 60})
    st = start_stack(work, "main", ov)
    d = st.daemon
    port = d.port
    cli = d.client()
    pw = st.password
    U1 = "yamada.taro"
    U2, U3, U4 = st.users[10], st.users[11], st.users[12]

    def mfa_of(uid):
        res = api(cli, "GET", f"/admin/api/v1/users/{uid}", token=help_tok)
        return (res.json or {}).get("mfa", {}), (res.json or {}).get("sessions", []), res

    def amrs(uid):
        return sorted(s.get("amr", "") for s in mfa_of(uid)[1])

    def clear(uid):
        res = api(cli, "POST", f"/admin/api/v1/users/{uid}/mfa/unlock", token=help_tok,
                  body={"reason": "test: clear the failure count"})
        return res.status == 200

    def login(uid):
        c = d.client()
        r = c.login(uid, pw)
        return c, r

    # ==== 1. TOTP self-enrolment through the pages ====================================
    c1, r = login(U1)
    ok(r.status == 303, "[enrol] yamada.taro signs in (password)")
    r = c1.get("/mfa/setup")
    ok(r.status == 200 and totp_active(r) == "0" and recovery_left(r) == 0 and
       has_id(r, "totp-begin") and not has_id(r, "recovery-generate"),
       "[enrol] /mfa/setup: TOTP not set, 0 recovery codes, #totp-begin", r.text[-800:])
    begin = c1.post("/mfa/totp", {"csrf": csrf_of(r), "action": "begin"})
    qr = begin.find(r'<div id="qr">(.*?)</div>') or ""
    grouped = begin.find(r'<code id="totp-secret">([^<]*)</code>') or ""
    secret = grouped.replace(" ", "")
    ok(begin.status == 200 and "<svg" in qr and "</svg>" in qr and
       ("<path" in qr or "<rect" in qr),
       "[enrol] action=begin: div#qr holds an inline SVG QR code", begin.text[:600])
    ok(re.fullmatch(r"[A-Z2-7]{4}( [A-Z2-7]{4}){7}", grouped) is not None and
       len(secret) == 32 and has_id(begin, "otp") and has_id(begin, "confirm"),
       "[enrol] the secret is shown as base32 in groups of 4 (160 bits), confirm form",
       grouped)
    t1 = Totp(secret)
    wrong = t1.wrong()
    r = c1.post("/mfa/totp", {"csrf": csrf_of(begin), "action": "confirm", "otp": wrong})
    ok(r.status == 400 and has_id(r, "error") and secret_of(r) == secret and not codes_of(r),
       "[enrol] a wrong code: 400 with #error, the same secret offered again",
       f"{r.status} {r.text[-600:]}")
    mfa, _, _ = mfa_of(U1)
    ok(mfa.get("totp") is False, "[enrol] ... and TOTP is still off", mfa)
    conf = c1.post("/mfa/totp", {"csrf": csrf_of(r), "action": "confirm", "otp": t1.next()})
    codes = codes_of(conf)
    ok(conf.status == 200 and has_id(conf, "recovery-codes") and len(codes) == 10 and
       len(set(codes)) == 10 and all(CODE_RE.match(x) for x in codes),
       "[enrol] the oathtool code is accepted: 10 distinct recovery codes xxxx-xxxx-xxxx-xxxx",
       f"{conf.status} {codes} {conf.text[-800:]}")
    ok(conf.find(r'<a id="continue" href="([^"]*)"') == "/mfa/setup",
       "[enrol] a#continue leads back to /mfa/setup", conf.text[-400:])
    ok(secret not in conf.text and grouped not in conf.text,
       "[enrol] the codes page does not show the secret again")
    r = c1.get("/mfa/setup")
    ok(r.status == 200 and recovery_left(r) == 10 and totp_active(r) == "1" and
       not codes_of(r) and not any(x in r.text for x in codes) and
       has_id(r, "recovery-generate"),
       "[enrol] a second GET /mfa/setup: recovery-left 10, TOTP active, no codes shown",
       r.text[-800:])
    ok(amrs(U1) == ["pwd otp mfa"],
       "[enrol] the enrolling session now counts as MFA (amr pwd otp mfa)", amrs(U1))
    p = ctl(port, "--json", "audit", "tail", "--user", U1, "--count", "50", token=help_tok)
    ev = json.loads(p.stdout).get("events", []) if p.returncode == 0 else []
    ok([e for e in ev if e.get("event") == "mfa.enrol" and e.get("factor") == "totp"] and
       [e for e in ev if e.get("event") == "mfa.recovery_generated"] and
       [e for e in ev if e.get("event") == "mfa.totp_begin"],
       "[enrol] kakehashictl audit tail --user: mfa.totp_begin, mfa.enrol factor=totp, "
       "mfa.recovery_generated", p.stdout[:800] + p.stderr)
    evs = audit_events(audit)
    ok(find_ev(evs, "mfa.enrol", user=U1, factor="totp", via="zone") and
       find_ev(evs, "mfa.recovery_generated", user=U1) and
       find_ev(evs, "mfa.failure", user=U1, via="totp_enrol"),
       "[enrol] audit file: mfa.enrol (via zone), mfa.recovery_generated, the wrong "
       "code as mfa.failure via totp_enrol",
       [e.get("event") for e in evs])
    blob = redis_everything(st.redis)
    raw = base64.b32decode(secret)
    ok(secret.encode() not in blob and raw not in blob and raw.hex().encode() not in blob and
       not any(f.encode() in blob for x in codes for f in code_forms(x)),
       "[enrol] Redis holds neither the TOTP secret (base32, raw, hex) nor any recovery "
       "code")

    # ==== 2. the challenge ==========================================================
    c2, r = login(U1)
    r = c2.get("/mfa")
    ok(r.status == 200 and has_id(r, "otp") and has_id(r, "verify") and
       has_id(r, "remember") and has_id(r, "recovery-section") and
       not has_id(r, "no-factor"),
       "[challenge] a new browser: /mfa offers #otp, #remember, #recovery-section",
       r.text[-800:])
    c2_csrf = csrf_of(r)
    code = t1.next()
    r = c2.post("/mfa", {"otp": code})
    ok(r.status == 403 and amrs(U1).count("pwd") == 1,
       "[challenge] POST /mfa without the csrf field: 403, nothing verified", r.status)
    r = c2.post("/mfa", {"csrf": c2_csrf, "otp": code})
    ok(r.status == 303 and loc(r) == "/mfa/setup",
       "[challenge] POST /mfa with the current oathtool code: 303 /mfa/setup",
       f"{r.status} {loc(r)} {r.text[-400:]}")
    ok(not [h for h in r.headers_all("Set-Cookie") if h.startswith("kh_dev=")],
       "[challenge] without remember=1 no kh_dev cookie")
    ok(amrs(U1) == ["pwd otp mfa", "pwd otp mfa"],
       "[challenge] admin API: that session's amr is 'pwd otp mfa'", amrs(U1))
    c3, _ = login(U1)
    r = challenge(c3, otp=code)
    ok(r.status == 401 and has_id(r, "error") and is_html(r),
       "[challenge] the SAME code in a third browser: 401 #error (used code refused, "
       "RFC 6238 §5.2)", f"{r.status} {r.text[-400:]}")
    ok(amrs(U1).count("pwd") == 1, "[challenge] ... that session stays password-only",
       amrs(U1))
    r = c3.get("/mfa/setup")
    ok(r.status == 303 and loc(r) == "/mfa",
       "[challenge] GET /mfa/setup with a factor but no MFA in the session: 303 /mfa",
       f"{r.status} {loc(r)}")
    r = c3.post("/mfa/totp", {"csrf": csrf_of(c3.get("/mfa")), "action": "begin"})
    ok(r.status == 303 and loc(r) == "/mfa" and secret_of(r) is None,
       "[challenge] a password-only session cannot replace the TOTP (begin: 303 /mfa)",
       f"{r.status} {loc(r)}")
    far = oath(secret, "now + 120 seconds")
    r = challenge(c3, otp=far)
    ok(r.status == 401 and has_id(r, "error"),
       "[challenge] a code 4 steps ahead (oathtool --now 'now + 120 seconds'): 401",
       f"{r.status} {r.text[-300:]}")
    evs = audit_events(audit)
    ok(len(find_ev(evs, "mfa.failure", user=U1, via="totp")) == 2 and
       find_ev(evs, "mfa.success", user=U1, via="totp", amr="pwd otp mfa"),
       "[challenge] audit: mfa.success via totp, two mfa.failure via totp",
       [(e.get("event"), e.get("via")) for e in evs if e.get("user") == U1])
    ok(clear(U1), "[challenge] (helpdesk clears the failure count)")
    for label, bad in (("'12345a'", "12345a"), ("7 digits", "1234567")):
        r = challenge(c3, otp=bad)
        ok(r.status == 401 and has_id(r, "error") and is_html(r) and has_id(r, "otp"),
           f"[challenge] malformed code {label}: 401 page with #error and the form again",
           f"{r.status} {r.text[-300:]}")
    ok(clear(U1), "[challenge] (helpdesk clears the failure count)")
    r = challenge(c3, otp="9" * 40000)
    ok(400 <= r.status < 500 and r.status != 429 and is_html(r) and "9" * 100 not in r.text,
       "[challenge] a 40000-digit code: a clear 4xx page, input not echoed",
       f"{r.status} {r.text[-300:]}")
    r = challenge(c3, otp="1" * 200000)
    ok(400 <= r.status < 500 and d.proc.poll() is None,
       "[challenge] a body over max_body_bytes: 4xx, daemon alive", r.status)
    for label, form in (("otp and recovery together", {"otp": "123456", "recovery": "x"}),
                        ("no field", {}), ("an empty otp", {"otp": ""})):
        r = challenge(c3, **form)
        ok(400 <= r.status < 500 and r.status != 429 and is_html(r),
           f"[challenge] {label}: 4xx page", f"{r.status} {r.text[-200:]}")
    ok(d.proc.poll() is None and amrs(U1).count("pwd") == 1,
       "[challenge] after all that: daemon alive, the session still has no MFA")
    ok(clear(U1), "[challenge] (helpdesk clears the failure count)")

    # ==== 3. recovery codes ============================================================
    c4, _ = login(U1)
    r = challenge(c4, recovery=codes[0])
    ok(r.status == 303 and loc(r) == "/mfa/setup",
       "[recovery] a recovery code works: 303", f"{r.status} {r.text[-300:]}")
    ok(recovery_left(c4.get("/mfa/setup")) == 9, "[recovery] 9 left")
    c5, _ = login(U1)
    r = challenge(c5, recovery=codes[0])
    ok(r.status == 401 and has_id(r, "error"), "[recovery] the same code again: 401",
       f"{r.status} {r.text[-300:]}")
    variant = codes[1].lower().replace("-", "")
    r = challenge(c5, recovery=variant)
    ok(r.status == 303, f"[recovery] another code in lower case without dashes ({variant}): "
       "303", f"{r.status} {r.text[-300:]}")
    r = c5.get("/mfa/setup")
    ok(recovery_left(r) == 8, "[recovery] 8 left", recovery_left(r))
    evs = audit_events(audit)
    ok(len(find_ev(evs, "mfa.success", user=U1, via="recovery_code")) == 2,
       "[recovery] audit: mfa.success via recovery_code twice")
    regen = c5.post("/mfa/recovery", {"csrf": csrf_of(r)})
    new_codes = codes_of(regen)
    ok(regen.status == 200 and len(set(new_codes)) == 10 and
       not set(new_codes) & set(codes) and all(CODE_RE.match(x) for x in new_codes),
       "[recovery] POST /mfa/recovery (session has MFA): 10 new codes",
       f"{regen.status} {regen.text[-500:]}")
    ok(recovery_left(c5.get("/mfa/setup")) == 10, "[recovery] 10 left after regenerating")
    c6, _ = login(U1)
    r = challenge(c6, recovery=codes[2])
    ok(r.status == 401, "[recovery] an old, never used code after regenerating: 401",
       r.status)
    r = challenge(c6, recovery=new_codes[0])
    ok(r.status == 303, "[recovery] a new code works", r.status)
    c7, _ = login(U1)
    r = c7.get("/mfa")
    r = c7.post("/mfa/recovery", {"csrf": csrf_of(r)})
    ok(r.status == 303 and loc(r) == "/mfa" and not codes_of(r),
       "[recovery] POST /mfa/recovery without MFA in the session: 303 /mfa, no codes",
       f"{r.status} {loc(r)}")
    ok(mfa_of(U1)[0].get("recovery_codes_left") == 9,
       "[recovery] ... and the codes were not replaced (9 left)", mfa_of(U1)[0])

    # ==== 4. lockout ====================================================================
    ca, r = login(U2)
    t2, codes2, _, conf = enrol(ca)
    ok(t2 is not None and len(codes2) == 10, f"[lock] {U2} enrols TOTP", conf.text[-300:])
    cb, _ = login(U2)
    cb_csrf = csrf_of(cb.get("/mfa"))  # the locked page has no form: keep this one
    st1 = [cb.post("/mfa", {"csrf": cb_csrf, "otp": t2.wrong()}).status for _ in range(2)]
    r = cb.post("/mfa", {"csrf": cb_csrf, "otp": t2.wrong()})
    ok(st1 == [401, 401] and r.status == 429 and
       r.find(r'id="error"[^>]*data-error="([a-z]+)"') == "locked" and not has_id(r, "otp"),
       "[lock] max_failures = 3 wrong codes: 401, 401, then 429 locked page without a form",
       f"{st1} {r.status} {r.text[-500:]}")
    good = t2.next()
    r = cb.post("/mfa", {"csrf": cb_csrf, "otp": good})
    ok(r.status == 429 and r.find(r'data-error="([a-z]+)"') == "locked",
       "[lock] while locked even the right code is refused: 429", f"{r.status} {r.text[-300:]}")
    r = cb.post("/mfa", {"csrf": cb_csrf, "recovery": codes2[0]})
    ok(r.status == 429, "[lock] ... and so is a valid recovery code", r.status)
    r = cb.get("/mfa")
    ok(r.status == 429 and has_id(r, "helpdesk"),
       "[lock] GET /mfa while locked: 429 with the helpdesk contact", r.status)
    ok(amrs(U2).count("pwd") == 1, "[lock] ... and that session has no MFA", amrs(U2))
    evs = audit_events(audit)
    ok(find_ev(evs, "mfa.locked", user=U2, failures="3") and
       len(find_ev(evs, "mfa.refused_locked", user=U2)) == 2,
       "[lock] audit: mfa.locked (failures 3), mfa.refused_locked",
       [e.get("event") for e in evs if e.get("user") == U2])
    p = ctl(port, "user", "show", U2, token=help_tok)
    m = re.search(r"^mfa\s+(\d+) recent failure\(s\), locked for (\d+) s$", p.stdout, re.M)
    ok(p.returncode == 0 and m and int(m.group(1)) >= 3 and 0 < int(m.group(2)) <= 60,
       "[lock] kakehashictl user show: 'locked for N s' (N <= lock_duration 60)",
       p.stdout + p.stderr)
    p = ctl(port, "mfa", "unlock", U2, "--reason", UNLOCK_REASON, token=help_tok)
    ok(p.returncode == 0 and f"unlocked MFA of {U2}" in p.stdout,
       "[lock] kakehashictl mfa unlock UID --reason ...: unlocked", p.stdout + p.stderr)
    p = ctl(port, "user", "show", U2, token=help_tok)
    ok(re.search(r"^mfa\s+0 recent failure\(s\), not locked$", p.stdout, re.M),
       "[lock] user show: 0 failures, not locked", p.stdout)
    evs = audit_events(audit)
    ok(find_ev(evs, "helpdesk.mfa_unlock", user=U2, token=HELPDESK, reason=UNLOCK_REASON),
       "[lock] audit: helpdesk.mfa_unlock with the token's name and the reason",
       find_ev(evs, "helpdesk.mfa_unlock"))
    r = cb.post("/mfa", {"csrf": cb_csrf, "otp": t2.next()})
    ok(r.status == 303 and amrs(U2) == ["pwd otp mfa", "pwd otp mfa"],
       "[lock] after the unlock the right code works: 303, amr has mfa",
       f"{r.status} {amrs(U2)}")

    # ==== 2b. replacing the authenticator (U5) ============================================
    U5, U6 = st.users[13], st.users[14]
    cr, _ = login(U5)
    t5, codes5, _, conf = enrol(cr)
    enrol_code = t5.at_step(t5.last)
    ok(t5 is not None and len(codes5) == 10, f"[replace] {U5} enrols TOTP")
    cs, _ = login(U5)
    r = challenge(cs, otp=enrol_code)
    ok(r.status == 401, "[replace] the code that confirmed the enrolment cannot be used again "
       "at /mfa: 401", r.status)
    begin = cr.post("/mfa/totp", {"csrf": csrf_of(cr.get("/mfa/setup")), "action": "begin"})
    new_secret = secret_of(begin)
    ok(begin.status == 200 and new_secret and new_secret != t5.secret,
       "[replace] the verified session starts a replacement: a new secret", begin.status)
    r = challenge(cs, otp=t5.next())
    ok(r.status == 303, "[replace] until it is confirmed, the old authenticator still works",
       f"{r.status} {r.text[-300:]}")
    t5n = Totp(new_secret or "A" * 32)
    r = cr.post("/mfa/totp", {"csrf": csrf_of(begin), "action": "confirm", "otp": t5n.next()})
    ok(r.status == 303 and loc(r) == "/mfa/setup" and not codes_of(r),
       "[replace] confirm with the new app: 303 /mfa/setup (recovery codes kept, none shown)",
       f"{r.status} {loc(r)} {r.text[-300:]}")
    ok(mfa_of(U5)[0].get("recovery_codes_left") == 10, "[replace] still 10 recovery codes")
    ct, _ = login(U5)
    r = challenge(ct, otp=t5.next())
    ok(r.status == 401, "[replace] a fresh code of the OLD authenticator is refused", r.status)
    r = challenge(ct, otp=t5n.next())
    ok(r.status == 303, "[replace] the new authenticator works", r.status)
    evs = audit_events(audit)
    ok(find_ev(evs, "mfa.enrol", user=U5, factor="totp", via="mfa"),
       "[replace] audit: mfa.enrol via mfa")

    # ==== 2c. two browsers racing with the same code (U6) ===================================
    cu, _ = login(U6)
    t6, codes6, _, _ = enrol(cu)
    ok(t6 is not None and len(codes6) == 10, f"[race] {U6} enrols TOTP")
    for label, field, value in (("TOTP code", "otp", t6.next()),
                                ("recovery code", "recovery", codes6[0])):
        racers = []
        for _ in range(3):  # two losers: below max_failures
            c, _ = login(U6)
            racers.append((c, csrf_of(c.get("/mfa"))))
        clear(U6)
        gate = threading.Barrier(len(racers))
        results = [None] * len(racers)

        def run(i, c, form):
            gate.wait()
            results[i] = c.post("/mfa", form).status

        th = [threading.Thread(target=run, args=(i, c, {"csrf": tok, field: value}))
              for i, (c, tok) in enumerate(racers)]
        for x in th:
            x.start()
        for x in th:
            x.join(30)
        ok(sorted(results) == [303, 401, 401],
           f"[race] one {label} posted by 3 browsers at once: exactly one 303", results)
    clear(U6)

    # ==== 5. remember this device ========================================================
    cc, _ = login(U3)
    t3, codes3, _, _ = enrol(cc)
    ok(t3 is not None, f"[remember] {U3} enrols TOTP")
    cd, _ = login(U3)
    r = challenge(cd, otp=t3.next(), remember="1")
    sc = [h for h in r.headers_all("Set-Cookie") if h.startswith("kh_dev=")]
    attrs = [a.strip().lower() for a in (sc[0].split(";")[1:] if sc else [])]
    ok(r.status == 303 and len(sc) == 1, "[remember] POST /mfa with remember=1: 303 and a "
       "kh_dev cookie", f"{r.status} {r.headers}")
    ok(f"max-age={REMEMBER_DAYS * 86400}" in attrs and "httponly" in attrs and
       any(a.startswith("samesite=") for a in attrs) and "path=/" in attrs,
       f"[remember] kh_dev: Max-Age={REMEMBER_DAYS}*86400, HttpOnly, SameSite, Path=/", sc)
    val = sc[0].split(";", 1)[0].split("=", 1)[1] if sc else ""
    ok(re.fullmatch(r"[A-Za-z0-9_-]{43}", val) is not None,
       "[remember] the device token is 32 random bytes (base64url)", val)
    p = ctl(port, "user", "show", U3, token=help_tok)
    ok(p.returncode == 0 and re.search(r"^devices\s+1$", p.stdout, re.M),
       "[remember] kakehashictl user show: devices 1", p.stdout)
    evs = audit_events(audit)
    ok(find_ev(evs, "mfa.device_remembered", user=U3),
       "[remember] audit: mfa.device_remembered")
    ok(val and val.encode() not in redis_everything(st.redis) and val not in d.log_text(),
       "[remember] the device token is neither in Redis nor in the log")

    # ==== 7. helpdesk reset end to end =====================================================
    ce, _ = login(U4)
    t4, codes4, _, _ = enrol(ce)
    ok(t4 is not None and len(codes4) == 10, f"[reset] {U4} enrols TOTP (10 recovery codes)")
    cf, _ = login(U4)
    r = challenge(cf, otp=t4.next(), remember="1")
    ok(r.status == 303 and "kh_dev" in cf.cookies,
       "[reset] a second browser verifies with remember=1")
    # An OIDC client and a refresh token for the user (first browser's SSO session).
    cid, csec = oidc_rp.register(st, "mfa-app", {
        "redirect_uris": [CB], "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "profile", "offline_access"]})
    rp = oidc_rp.ScriptedRp(st, cid, csec, CB)
    rp.browser = ce
    res = rp.code_flow(U4, pw, scope="openid offline_access")
    toks = res.get("tokens") or {}
    ok({"access_token", "refresh_token"} <= set(toks),
       "[reset] the user holds an OIDC access and refresh token", str(res.get("url")))
    rt0 = toks.get("refresh_token", "")
    rr, rb = rp.token_request({"grant_type": "refresh_token", "refresh_token": rt0})
    rt = (rb or {}).get("refresh_token", "")
    at = (rb or {}).get("access_token", "")
    ok(rr.status == 200 and rt and at, "[reset] the refresh token works before the reset",
       rr.text[:200])
    m, sess, _ = mfa_of(U4)
    ok(m.get("totp") is True and m.get("recovery_codes_left") == 10 and
       m.get("remembered_devices") == 1 and len(sess) == 2,
       "[reset] before: totp, 10 recovery codes, 1 device, 2 sessions", (m, len(sess)))
    p = ctl(port, "mfa", "reset", U4, "--reason", RESET_REASON, "--bypass", token=help_tok)
    t_reset = time.time()
    out = p.stdout
    bm = re.search(r"^bypass code: (\S+)$", out, re.M)
    bypass = bm.group(1) if bm else ""
    ok(p.returncode == 0 and "totp removed" in out and "10 recovery code(s)" in out and
       "1 remembered device(s)" in out and "2 session(s) signed out" in out and
       "tokens revoked" in out,
       "[reset] kakehashictl mfa reset --bypass: lists totp, 10 codes, 1 device, 2 sessions, "
       "tokens", out + p.stderr)
    ok(CODE_RE.match(bypass) is not None, "[reset] ... and prints a bypass code "
       "XXXX-XXXX-XXXX-XXXX", out)
    for name, c in (("first", ce), ("second", cf)):
        r = c.get("/mfa")
        ok(r.status == 303 and loc(r) == "/login",
           f"[reset] the {name} browser is signed out (/mfa -> /login)",
           f"{r.status} {loc(r)}")
    p = ctl(port, "user", "show", U4, token=help_tok)
    ok(re.search(r"^totp\s+off$", p.stdout, re.M) and
       re.search(r"^recovery\s+0 left$", p.stdout, re.M) and
       re.search(r"^devices\s+0$", p.stdout, re.M) and
       re.search(r"^bypass\s+active until \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$", p.stdout, re.M) and
       re.search(r"^passkeys\s+0$", p.stdout, re.M),
       "[reset] user show: totp off, 0 recovery, 0 devices, bypass active", p.stdout)
    m, sess, _ = mfa_of(U4)
    ok(m.get("bypass_active") is True and
       abs(m.get("bypass_expires", 0) - (t_reset + BYPASS_TTL)) <= 5 and sess == [],
       "[reset] JSON: bypass_expires = now + bypass_ttl (14400 s), no sessions", m)
    rr, rb = rp.token_request({"grant_type": "refresh_token", "refresh_token": rt})
    ok(rr.status == 400 and (rb or {}).get("error") == "invalid_grant",
       "[reset] the OIDC refresh token is dead", rr.text[:200])
    rr, rb = rp.token_request({"token": at}, path="/oidc/introspect")
    ok(rb == {"active": False}, "[reset] the access token is inactive", rr.text[:200])
    evs = audit_events(audit)
    rs = find_ev(evs, "helpdesk.mfa_reset", user=U4)
    ok(len(rs) == 1 and rs[0].get("token") == HELPDESK and
       rs[0].get("reason") == RESET_REASON and rs[0].get("sessions") == "2" and
       rs[0].get("bypass") == "issued" and
       rs[0].get("removed") == "totp=1 recovery=10 passkeys=0 devices=1",
       "[reset] audit helpdesk.mfa_reset: token name, reason, user, removed, sessions", rs)
    ok(find_ev(evs, "helpdesk.bypass_issued", user=U4, token=HELPDESK, reason=RESET_REASON),
       "[reset] audit helpdesk.bypass_issued", find_ev(evs, "helpdesk.bypass_issued"))

    # The user comes back with the bypass code: the sign-in goes to /mfa
    # at once (enrolment is forced at the next sign-in), audited.
    cg, rl = login(U4)
    ok(rl.status == 303 and rl.header("Location") == "/mfa" and
       find_ev(audit_events(audit), "login.enrol_required", user=U4),
       "[reset] the next sign-in is sent to /mfa (login.enrol_required)",
       (rl.status, rl.header("Location")))
    r = cg.get("/mfa")
    ok(r.status == 200 and has_id(r, "no-factor") and has_id(r, "bypass") and
       not has_id(r, "otp") and not has_id(r, "recovery-section"),
       "[reset] /mfa: #no-factor, the bypass form, no TOTP and no recovery form",
       r.text[-600:])
    mfa_sessions = sum("mfa" in a for a in amrs(U1))
    cx, _ = login(U1)
    rx = challenge(cx, bypass=bypass)
    ok(rx.status == 401 and sum("mfa" in a for a in amrs(U1)) == mfa_sessions,
       "[reset] another user cannot use that bypass code: 401", rx.status)
    r = cg.post("/mfa", {"csrf": csrf_of(r), "bypass": bypass.lower()})
    ok(r.status == 303 and loc(r) == "/mfa/setup",
       "[reset] the bypass code (typed in lower case) is accepted: 303 /mfa/setup",
       f"{r.status} {loc(r)} {r.text[-300:]}")
    r = cg.get("/mfa/setup")
    ok(r.status == 200 and has_id(r, "enrol-required") and totp_active(r) == "0",
       "[reset] /mfa/setup shows #enrol-required", r.text[-600:])
    ok(amrs(U4) == ["pwd"], "[reset] the bypass does not count as MFA: amr is 'pwd'",
       amrs(U4))
    rp.browser = cg
    ra = cg.get(rp.authorize_url(scope="openid", acr_values="urn:kakehashi:acr:mfa",
                                 state="s1", code_challenge=oidc_rp.pkce()[1],
                                 code_challenge_method="S256"))
    ok(ra.status == 303 and loc(ra).startswith("/mfa?p="),
       "[reset] an app asking for MFA (acr_values ...:mfa) still sends the browser to /mfa",
       f"{ra.status} {loc(ra)}")
    r = cg.post("/mfa/recovery", {"csrf": csrf_of(cg.get("/mfa/setup"))})
    ok(r.status == 303 and loc(r) == "/mfa/setup" and not codes_of(r) and
       mfa_of(U4)[0].get("recovery_codes_left") == 0,
       "[reset] the bypass session cannot mint recovery codes (303 /mfa/setup)",
       f"{r.status} {loc(r)}")
    t4b, codes4b, _, conf = enrol(cg)
    ok(t4b is not None and len(codes4b) == 10,
       "[reset] the user enrols TOTP again (new recovery codes)", conf.text[-400:])
    r = cg.get("/mfa/setup")
    ok(r.status == 200 and not has_id(r, "enrol-required") and totp_active(r) == "1",
       "[reset] after enrolling: no #enrol-required, TOTP active", r.text[-400:])
    ok(amrs(U4) == ["pwd otp mfa"], "[reset] now the session has MFA", amrs(U4))
    m = mfa_of(U4)[0]
    ok(m.get("bypass_active") is False and m.get("totp") is True,
       "[reset] the bypass code is used up", m)
    evs = audit_events(audit)
    ok(find_ev(evs, "mfa.bypass_used", user=U4) and
       find_ev(evs, "mfa.enrol", user=U4, via="bypass_code"),
       "[reset] audit: mfa.bypass_used, mfa.enrol via bypass_code")
    ch, _ = login(U4)
    r = challenge(ch, bypass=bypass)
    ok(r.status == 401 and has_id(r, "error"), "[reset] the bypass code a second time "
       "(new browser): 401", f"{r.status} {r.text[-300:]}")
    ok(amrs(U4).count("pwd") == 1, "[reset] ... and that session has no MFA", amrs(U4))
    # New tokens once the revocation second has passed.
    time.sleep(max(0.0, t_reset + 1.2 - time.time()))
    rp.browser = d.client()
    res = rp.code_flow(U4, pw, scope="openid offline_access")
    rr, rb = rp.token_request({"grant_type": "refresh_token",
                               "refresh_token": (res.get("tokens") or {}).get("refresh_token",
                                                                             "")})
    ok(rr.status == 200 and (rb or {}).get("access_token"),
       "[reset] signing in to the app again gives working tokens", rr.text[:200])

    # ==== 8. roles, reasons and the CLI's arguments =========================================
    res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/reset", token=help_tok,
              body={"reason": "スマホ機種変更", "bypass": True})
    j = res.json or {}
    api_bypass = j.get("bypass_code", "")
    ok(res.status == 200 and j.get("user") == U3 and
       j.get("removed") == {"totp": True, "recovery_codes": 10, "passkeys": 0,
                            "remembered_devices": 1} and
       j.get("sessions_revoked") == 2 and j.get("tokens_revoked") is True and
       CODE_RE.match(api_bypass) and abs(j.get("bypass_expires", 0) -
                                         (time.time() + BYPASS_TTL)) <= 5,
       "[roles] helpdesk token: POST /users/UID/mfa/reset -> removed, sessions, bypass code "
       "and bypass_expires = now + ttl", res.text)
    app_body = {"id": "hd-made", "name": "ヘルプデスク作成",
                "oidc": {"redirect_uris": [CB], "scopes": ["openid", "profile"],
                         "token_endpoint_auth_method": "client_secret_basic"}}
    res = api(cli, "POST", "/admin/api/v1/apps/oidc", token=help_tok, body=app_body)
    ok(is_error(res, 403), "[roles] helpdesk token: POST /apps/oidc (valid body) -> 403 JSON "
       "error", res.text)
    ok(api(cli, "GET", "/admin/api/v1/apps/hd-made", token=admin_tok).status == 404,
       "[roles] ... and nothing was created")
    res = api(cli, "POST", "/admin/api/v1/apps/oidc", token=admin_tok, body=app_body)
    ok(res.status == 201, "[roles] the same body with the admin token: 201", res.text[:300])
    res = api(cli, "DELETE", "/admin/api/v1/apps/hd-made", token=help_tok)
    ok(is_error(res, 403), "[roles] helpdesk token: DELETE /apps/ID -> 403 JSON error",
       res.text)
    ok(api(cli, "GET", "/admin/api/v1/apps/hd-made", token=admin_tok).status == 200,
       "[roles] ... and the app is still there")
    res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/reset", body={"reason": "x"})
    ok(is_error(res, 401), "[roles] no token: 401", res.text)
    res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/unlock", body={"reason": "x"})
    ok(is_error(res, 401), "[roles] no token on unlock: 401", res.text)
    for label, body in (("no reason", {"bypass": True}), ("empty reason", {"reason": ""}),
                        ("501-character reason", {"reason": "あ" * 501}),
                        ("reason not a string", {"reason": 5}),
                        ("bypass not a boolean", {"reason": "x", "bypass": "yes"})):
        res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/reset", token=help_tok,
                  body=body)
        ok(is_error(res, 400), f"[roles] reset with {label}: 400", res.text)
    res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/unlock", token=help_tok, body={})
    ok(is_error(res, 400), "[roles] unlock without a reason: 400", res.text)
    m = mfa_of(U3)[0]
    ok(m.get("bypass_active") is True, "[roles] refused resets did not touch the user "
       "(the bypass from the accepted one is still active)", m)
    res = api(cli, "POST", f"/admin/api/v1/users/{U3}/mfa/reset", token=help_tok,
              body={"reason": "あ" * 500})
    ok(res.status == 200 and "bypass_code" not in (res.json or {}),
       "[roles] a 500-character reason is accepted; without bypass no code", res.text[:300])
    ok(mfa_of(U3)[0].get("bypass_active") is False,
       "[roles] ... and a reset clears an earlier bypass code")
    p = ctl(port, "mfa", "reset", U3, "--bypass", token=help_tok)
    ok(p.returncode == 2 and "--reason" in p.stderr and not p.stdout,
       "[roles] kakehashictl mfa reset without --reason: exit 2 with a message", p.stderr)
    p = ctl(port, "mfa", "reset", U3, "--reason", "x", "--frobnicate", token=help_tok)
    ok(p.returncode == 2 and "unknown option" in p.stderr,
       "[roles] kakehashictl mfa reset with an unknown option: exit 2", p.stderr)
    p = ctl(port, "mfa", "unlock", U3, token=help_tok)
    ok(p.returncode == 2 and "--reason" in p.stderr,
       "[roles] kakehashictl mfa unlock without --reason: exit 2", p.stderr)
    p = ctl(port, "mfa", "unlock", U3, "--reason", "x", "--bypass", token=help_tok)
    ok(p.returncode == 2 and "unknown option" in p.stderr,
       "[roles] kakehashictl mfa unlock --bypass: exit 2 (unknown option)", p.stderr)
    evs = audit_events(audit)
    ok(len(find_ev(evs, "helpdesk.mfa_reset", user=U3)) == 2,
       "[roles] only the two accepted resets of that user are audited")

    # ---- the bypass codes are nowhere at rest ------------------------------------------
    blob = redis_everything(st.redis)
    files = []
    for path in (audit, d.log):
        with open(path, "rb") as f:
            files.append(f.read())
    for label, code in (("CLI", bypass), ("API", api_bypass)):
        forms = code_forms(code) if code else {"<none>"}
        ok(code and not any(x.encode() in blob for x in forms),
           f"[reset] the {label} bypass code is not in Redis (keys, values, streams)")
        ok(code and not any(x.encode() in data for x in forms for data in files),
           f"[reset] the {label} bypass code is in neither the audit file nor the daemon log")
    ok(not any(x.encode() in data for x in codes + new_codes + codes4 for data in files),
       "[recovery] no recovery code in the audit file or the daemon log")
    ok(secret.encode() not in files[0] and secret.encode() not in files[1],
       "[enrol] the TOTP secret is in no log")

    # ==== 9. Redis down during POST /mfa (last) ==============================================
    ci, _ = login(U1)
    r = ci.get("/mfa")
    csrf = csrf_of(r)
    st.redis.stop()
    for label, form in (("otp", {"otp": "123456"}), ("recovery", {"recovery": codes[3]}),
                        ("bypass", {"bypass": bypass})):
        f = {"csrf": csrf}
        f.update(form)
        r = ci.post("/mfa", f)
        ok(r.status == 503 and r.header("Retry-After") and is_html(r) and not loc(r),
           f"[redis down] POST /mfa ({label}): 503 page with Retry-After, no redirect",
           f"{r.status} {r.headers}")
    r = ci.get("/mfa")
    ok(r.status == 503 and r.header("Retry-After"), "[redis down] GET /mfa: 503",
       r.status)
    r = ci.post("/mfa/totp", {"csrf": csrf, "action": "begin"})
    ok(r.status == 503 and secret_of(r) is None, "[redis down] POST /mfa/totp: 503", r.status)
    ok(d.proc.poll() is None, "[redis down] the daemon is still running")
    ok("event=mfa.unavailable" in d.log_text(), "[redis down] the outage is logged "
       "(mfa.unavailable)")
    st.redis.start()
    deadline = time.time() + 10
    while time.time() < deadline and d.client().get("/readyz").status != 200:
        time.sleep(0.2)
    r = ci.get("/mfa")
    ok(r.status == 303 and loc(r) == "/login",
       "[redis down] Redis back (empty): the lost session leads to /login", r.status)

    # ==== 10. shutdown and sanitizer ==========================================================
    rc = st.stop()
    log = d.log_text()
    ok(rc == 0, "the daemon stops cleanly", rc)
    ok(not any(m in log for m in SANITIZER_MARKS), "no sanitizer report in the daemon's stderr",
       [l for l in log.splitlines() if any(m in l for m in SANITIZER_MARKS)])


if __name__ == "__main__":
    main()
