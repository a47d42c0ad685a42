#!/usr/bin/env python3
"""Zero-trust access policy end to end through the protocol endpoints, with a
real slapd, redis-server and kakehashid (plus a pysaml2 SP), scripted HTTP on
loopback only:

1. the built-in prefecture default (docs/policy.example.json): OIDC clients
   of category communication, general (no policy: managed-only), policy allow
   and policy mfa, each tried from every zone (XFF from the trusted proxy
   127.0.0.1: gov, internet, internet over IPv6) with every device level
   (managed via X-Client-Verify, remembered via kh_dev, unmanaged), with and
   without a second factor in the session; allow / MFA / deny page + audit;
2. group conditions (groups, not_groups) in a policy file of our own;
3. spoofing: X-Forwarded-For and X-Client-Verify from an untrusted peer
   (127.0.0.2), another user's kh_dev cookie, XFF lists (last element only);
4. OIDC step-up (acr_values), prompt=none, acr/amr in the ID token;
5. SAML step-up (RequestedAuthnContext MobileTwoFactorContract), IsPassive,
   and a denied SAML SP;
6. no sanitizer report in the daemons' output.

TAP on stdout. KH_BUILD_DIR names the build tree."""

import base64
import ipaddress
import json
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))

import admintool  # noqa: E402
from admintool import audit_events, parse_logfmt  # noqa: E402
import gen_directory  # noqa: E402
import kakehashid  # noqa: E402
from kakehashid import csrf_of  # noqa: E402
import khtest  # noqa: E402
import oidc_rp  # noqa: E402
import pysaml2_sp  # noqa: E402
import redisd  # noqa: E402
import saml_browser  # noqa: E402
import slapd  # noqa: E402
from khtest import diag, ok  # noqa: E402
from stack import Stack  # noqa: E402

os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    HERE, "..", "lib", "lsan_lasso.supp"))

ROOT = khtest.ROOT
DEFAULT_DOC = os.path.join(ROOT, "docs", "policy.example.json")
USER, OTHER = "yamada.taro", "sato.hanako"
PW = slapd.DEMO_PASSWORD
CB = "http://127.0.0.1:9/cb"
ACR_PWD, ACR_MFA = "urn:kakehashi:acr:pwd", "urn:kakehashi:acr:mfa"
MOBILE2F = "urn:oasis:names:tc:SAML:2.0:ac:classes:MobileTwoFactorContract"
SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:",
                   "UndefinedBehaviorSanitizer", "ThreadSanitizer")

# The client addresses the trusted proxy (127.0.0.1) reports.
ZONE_IPS = [("gov", "10.20.30.40"), ("internet", "203.0.113.7"), ("internet6", "2001:db8::1")]
DEVICES = ["managed", "remembered", "unmanaged"]
DEVICE_LABEL = {"managed": "Managed device", "remembered": "Remembered device",
                "unmanaged": "Unmanaged device"}
PENDING_RE = r"/mfa\?p=[A-Za-z0-9_-]{16,64}"
DENY_TEXT = {"managed_device": "only from a device managed by the organisation",
             "group": "You are not permitted to use this app.",
             "no_rule": "access policy does not allow access to this app",
             "policy": "access policy does not allow access to this app"}


# ---- HTTP: a browser that can come from another loopback address ----------

class Browser(kakehashid.Client):
    """kakehashid.Client with a chosen source address (127.0.0.2 is an
    untrusted peer) and optional repeated header lines."""

    def __init__(self, port, source=None, accept_language="en", **kw):
        super().__init__(port, accept_language=accept_language, source=source, **kw)

    def request(self, method, path, body=None, headers=None, raw_body=None, header_lines=()):
        h, data = self.prepare(body, headers, raw_body)
        conn = self.connection()
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in list(h.items()) + list(header_lines):
            conn.putheader(k, v)
        if data is not None:
            conn.putheader("Content-Length", str(len(data)))
        conn.endheaders(data)
        r = conn.getresponse()
        resp = kakehashid.Response(r.status, r.getheaders(), r.read())
        conn.close()
        kakehashid.keep_cookies(self.cookies, resp)
        return resp


def path_of(loc, base):
    """A Location inside the IdP as a path (relative or absolute form)."""
    if loc and loc.startswith(base):
        return loc[len(base):]
    return loc


def text_of(r, elem_id):
    v = r.find(r'id="' + re.escape(elem_id) + r'"[^>]*>([^<]*)<')
    return v.strip() if v is not None else None


# ---- TOTP with oathtool, one code per 30 s step ---------------------------

class Totp:
    """Codes from oathtool. The daemon accepts a step once (each code must be
    for a later step than the last one used) within +-1 step of now."""

    def __init__(self, secret):
        self.secret = secret
        self.last = None

    def code(self):
        now = time.time()
        cur = int(now // 30)
        low = cur - 1 if now - cur * 30 < 27 else cur  # cur-1 only when not near the edge
        step = low if self.last is None else max(self.last + 1, low)
        if step > cur + 1:  # all usable steps spent: wait for the next one
            wait = (step - 1) * 30 - now + 0.5
            diag(f"waiting {wait:.1f} s for a fresh TOTP step")
            time.sleep(max(0, wait))
        self.last = step
        out = subprocess.run(["oathtool", "--totp", "-b", self.secret, "--now",
                              f"@{step * 30 + 1}"], capture_output=True, text=True, check=True)
        return out.stdout.strip()


# ---- audit file ---------------------------------------------------------------

def audit_by_rid(path, rid, event="access.denied"):
    for r in audit_events(path, event):
        if r.get("rid") == rid:
            return r
    return None


# ---- the policy as documented ------------------------------------------------

def ref_eval(doc, pname, ip, device, groups=()):
    """An independent reading of docs/policy.md: first matching rule decides,
    no match = deny no_rule. Returns (action, reason)."""
    pol = doc["policies"].get(pname or doc["default_policy"])
    if pol is None:
        return "deny", "unknown_policy"
    addr = ipaddress.ip_address(ip)
    zones = {z for z, nets in doc.get("zones", {}).items()
             if any(addr in ipaddress.ip_network(n) for n in nets)} or {"internet"}
    for rule in pol["rules"]:
        if "groups" in rule and not set(rule["groups"]) & set(groups):
            continue
        if "not_groups" in rule and set(rule["not_groups"]) & set(groups):
            continue
        if "zone" in rule and not set(rule["zone"]) & zones:
            continue
        if "not_zone" in rule and set(rule["not_zone"]) & zones:
            continue
        if "device" in rule and device not in rule["device"]:
            continue
        return rule["action"], rule.get("reason", "policy")
    return "deny", "no_rule"


def outcome(action, session_mfa):
    if action == "mfa" and session_mfa:
        return "allow"
    return action


def expected_builtin(app, zone, device, session_mfa):
    """The built-in default written out by hand from docs/policy.md:
    communication: managed / gov / remembered -> allow, else MFA;
    general (no policy -> managed-only): managed -> allow, else deny
    managed_device; allow: allow; mfa: always a second factor."""
    if app == "comm":
        if device in ("managed", "remembered") or zone == "gov":
            return "allow"
        return "allow" if session_mfa else "mfa"
    if app == "general":
        return "allow" if device == "managed" else "deny"
    if app == "allow":
        return "allow"
    if app == "mfa":
        return "allow" if session_mfa else "mfa"
    raise ValueError(app)


# ---- the test ---------------------------------------------------------------------

class Ctx:
    pass


def api(d, token, method, path, body=None):
    """An admin API call (Content-Type set even without a body); returns
    (status, JSON document: {} when empty, {"raw": text} when not JSON)."""
    r = admintool.api(d.client(accept_language=None), method, path, token=token, body=body,
                      headers={"Content-Type": "application/json"})
    if r.json is None:
        return r.status, {"raw": r.text[:300]} if r.text else {}
    return r.status, r.json


def add_oidc(x, d, app_id, name, extra):
    body = {"id": app_id, "name": name,
            "oidc": {"redirect_uris": [CB], "scopes": ["openid", "profile"],
                     "token_endpoint_auth_method": "client_secret_basic"}}
    body.update(extra)
    s, j = api(d, x.token, "POST", "/admin/api/v1/apps/oidc", body)
    ok(s == 201 and j.get("client_secret") and j.get("app", {}).get("oidc", {}).get("client_id"),
       f"admin API registers OIDC client {app_id} {extra}", (s, str(j)[:400]))
    cid = j.get("app", {}).get("oidc", {}).get("client_id", app_id)
    return {"id": app_id, "name": name, "cid": cid, "secret": j.get("client_secret"),
            "doc": j.get("app", {})}


def wait_clients(d, cids, timeout=10):
    """Until the daemon's registry view knows every client (no session: the
    authorize request goes to the login page instead of an error page)."""
    c = d.client()
    end = time.time() + timeout
    pending = list(cids)
    while pending and time.time() < end:
        q = urllib.parse.urlencode({"response_type": "code", "client_id": pending[0],
                                    "redirect_uri": CB, "scope": "openid"})
        if c.get("/oidc/authorize?" + q).status in (302, 303):
            pending.pop(0)
        else:
            time.sleep(0.1)
    return not pending


def authorize_url(cid, **extra):
    p = {"response_type": "code", "client_id": cid, "redirect_uri": CB, "scope": "openid",
         "state": "st-" + secrets.token_hex(4)}
    p.update(extra)
    return "/oidc/authorize?" + urllib.parse.urlencode(p)


def authz(b, app, ip=None, device="unmanaged", dev_cookie=None, header_lines=(), **extra):
    """One authorization request with the zone (XFF) and device of a cell."""
    h = {}
    if ip is not None:
        h["X-Forwarded-For"] = ip
    if device == "managed":
        h["X-Client-Verify"] = "SUCCESS"
    if device == "remembered":
        b.cookies["kh_dev"] = dev_cookie
    else:
        b.cookies.pop("kh_dev", None)
    r = b.get(authorize_url(app["cid"], **extra), headers=h, header_lines=header_lines)
    b.cookies.pop("kh_dev", None)
    return r


def classify(r, base):
    loc = r.header("Location") or ""
    if r.status == 302 and loc.startswith(CB + "?") and "code" in oidc_rp.query_of(loc):
        return "allow"
    if r.status == 303 and re.fullmatch(PENDING_RE, path_of(loc, base) or ""):
        return "mfa"
    if r.status == 403 and not loc and 'id="denied"' in r.text:
        return "deny"
    return f"other({r.status} {loc[:60]})"


def check_denied(x, r, app, reason, zone, device, ip, user, what, audit_path=None):
    """The 403 page says why, and access.denied is in the audit trail."""
    got_reason = r.find(r'id="denied"[^>]*data-reason="([^"]*)"')
    rid = r.find(r'<p class="ref">[^<]*<code[^>]*>([^<]+)</code>')
    msg = r.find(r'id="denied"[^>]*>([^<]*)<') or ""
    page_ok = (r.status == 403 and r.header("Location") is None and got_reason == reason and
               DENY_TEXT[reason] in msg and
               text_of(r, "zone") == zone and text_of(r, "device") == DEVICE_LABEL[device] and
               text_of(r, "app") == app["name"] and "SAMLResponse" not in r.text and
               "code=" not in r.text)
    ok(page_ok, f"{what}: 403 page, reason {reason} (and its text), zone {zone}, device {device}",
       f"{r.status} reason={got_reason} msg={msg!r} zone={text_of(r, 'zone')} "
       f"device={text_of(r, 'device')} "
       f"app={text_of(r, 'app')} {r.text[-600:]}")
    rec = audit_by_rid(audit_path or x.audit, rid) if rid else None
    ok(rec is not None and rec.get("user") == user and rec.get("app") == app["id"] and
       rec.get("zone") == zone and rec.get("device") == device and rec.get("reason") == reason
       and rec.get("ip") == ip and rec.get("policy") and rec.get("rule"),
       f"{what}: access.denied audit (user, app, zone, device, reason, ip)", (rid, rec))


def mfa_post(b, base, pending, **codes):
    """GET /mfa[?p=], then POST it with the given code fields."""
    r = b.get("/mfa" + (f"?p={pending}" if pending else ""))
    form = {"csrf": csrf_of(r)}
    if pending:
        form["p"] = pending
    form.update(codes)
    return r, b.post("/mfa", form)


def main():
    x = Ctx()
    work = khtest.tmpdir("kh-policy-")
    x.token = secrets.token_urlsafe(32)
    tokens = admintool.write_tokens(os.path.join(work, "admin-tokens"), ("ops", "admin", x.token))
    x.audit = os.path.join(work, "audit.log")
    ov = oidc_rp.overrides(work, {
        "policy.file": "", "server.trusted_proxies": "127.0.0.1", "mfa.enrol_zones": "*",
        "admin.tokens_file": tokens, "log.audit_file": x.audit,
        "login.min_delay_ms": 50, "login.max_delay_ms": 100})
    try:
        st = Stack(count=20, overrides=ov, workdir=work).start()
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"stack: {e}")
    d = st.daemon
    port = d.port
    base = f"http://127.0.0.1:{port}"
    with open(DEFAULT_DOC, encoding="utf-8") as f:
        default_doc = json.load(f)

    # ---- discovery ----------------------------------------------------------------
    r = d.client().get("/.well-known/openid-configuration")
    disc = json.loads(r.text) if r.status == 200 else {}
    ok(set(disc.get("acr_values_supported") or []) >= {ACR_PWD, ACR_MFA},
       "discovery lists acr_values_supported (pwd and mfa)", r.text[:400])
    jwks = json.loads(d.client().get("/oidc/jwks").text)

    # ---- clients -------------------------------------------------------------------
    apps = {
        "comm": add_oidc(x, d, "comm", "チャット", {"category": "communication"}),
        "general": add_oidc(x, d, "general", "庶務システム", {"category": "general"}),
        "allow": add_oidc(x, d, "allow", "ポータル",
                          {"category": "general", "policy": "allow"}),
        "mfa": add_oidc(x, d, "mfa", "人事給与", {"policy": "mfa"}),
    }
    ok(apps["general"]["doc"].get("category") == "general" and
       "policy" not in apps["general"]["doc"] and
       apps["comm"]["doc"].get("category") == "communication" and
       "policy" not in apps["comm"]["doc"],
       "apps without a policy keep none in the registry (category decides)",
       (apps["general"]["doc"], apps["comm"]["doc"]))
    s, j = api(d, x.token, "POST", "/admin/api/v1/apps/oidc",
               {"id": "nopol", "name": "x", "policy": "no-such-policy",
                "oidc": {"redirect_uris": [CB]}})
    ok(s == 400, "a policy the loaded document does not define: 400", (s, j))
    s, j = api(d, x.token, "GET", "/admin/api/v1/policies")
    ok(s == 200 and j.get("policies") == sorted(default_doc["policies"]) and
       j.get("default_policy") == default_doc["default_policy"] and j.get("source") == "built-in",
       "GET /admin/api/v1/policies lists the built-in policies and the default", (s, j))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
    env.update({"KAKEHASHI_URL": base, "KAKEHASHI_TOKEN": x.token})
    out = subprocess.run([khtest.binary("kakehashictl"), "policy", "list"], capture_output=True,
                         text=True, env=env, timeout=30)
    ok(out.returncode == 0 and "managed-only  (default)" in out.stdout and
       "communication\n" in out.stdout and "source: built-in" in out.stdout,
       "kakehashictl policy list marks the default", out.stdout + out.stderr)
    out = subprocess.run([khtest.binary("kakehashictl"), "app", "list"], capture_output=True,
                         text=True, env=env, timeout=30)
    ok(out.returncode == 0 and re.search(r"\bmfa\b.*general/mfa", out.stdout) and
       re.search(r"\bcomm\b.*communication ", out.stdout),
       "kakehashictl app list shows category and policy", out.stdout + out.stderr)
    ok(wait_clients(d, [a["cid"] for a in apps.values()]), "the daemon sees the new clients")

    # ---- TOTP enrolment (session E) --------------------------------------------------
    ce = Browser(port)
    ok(ce.login(USER, PW).status == 303, "yamada.taro signs in (password)")
    r = ce.get("/mfa/setup")
    r = ce.post("/mfa/totp", {"csrf": csrf_of(r), "action": "begin"})
    secret = (r.find(r'<code id="totp-secret">([^<]*)</code>') or "").replace(" ", "")
    ok(r.status == 200 and re.fullmatch(r"[A-Z2-7]{16,}", secret or ""),
       "TOTP enrolment begins: a base32 secret is shown", r.text[-500:])
    totp = Totp(secret)
    r = ce.post("/mfa/totp", {"csrf": csrf_of(r), "action": "confirm", "otp": totp.code()})
    recovery = re.findall(r'<code class="code">([^<]+)</code>', r.text)
    ok(r.status == 200 and len(recovery) == 10, "TOTP confirmed with oathtool; 10 recovery codes",
       f"{r.status} {r.text[-500:]}")

    # ---- the remembered device (session M: password + TOTP, remember=1) -------------
    cm = Browser(port)
    cm.login(USER, PW)
    r0, r = mfa_post(cm, base, None, otp=totp.code(), remember="1")
    devc = [sc for sc in r.headers_all("Set-Cookie") if sc.startswith("kh_dev=")]
    dev_cookie = cm.cookies.get("kh_dev")
    ok(r0.status == 200 and 'id="remember"' in r0.text and r.status == 303 and dev_cookie and
       devc and "HttpOnly" in devc[0] and "Max-Age=" in devc[0],
       "POST /mfa with TOTP and remember=1: 303 and a kh_dev cookie (HttpOnly, Max-Age)",
       f"{r0.status} {r.status} {r.headers} {r.text[-300:]}")
    cm.cookies.pop("kh_dev", None)
    ok(any(e.get("user") == USER for e in audit_events(x.audit, "mfa.device_remembered")),
       "audit: mfa.device_remembered")

    # ---- session N: password only ---------------------------------------------------
    cn = Browser(port)
    ok(cn.login(USER, PW).status == 303, "a second browser signs in with the password only")

    # ---- 1. the matrix --------------------------------------------------------------
    policy_of = {"comm": "communication", "general": None, "allow": "allow", "mfa": "mfa"}
    agree = True
    rows = []
    fails = 0
    deny_cells = []
    for app_key in ("comm", "general", "allow", "mfa"):
        for zname, ip in ZONE_IPS:
            zone = "gov" if zname == "gov" else "internet"
            for dev in DEVICES:
                for smfa in (False, True):
                    exp = expected_builtin(app_key, zone, dev, smfa)
                    ref = outcome(ref_eval(default_doc, policy_of[app_key], ip, dev)[0], smfa)
                    if ref != exp:
                        agree = False
                    b = cm if smfa else cn
                    r = authz(b, apps[app_key], ip, dev, dev_cookie)
                    got = classify(r, base)
                    flag = "" if got == exp else "   <-- MISMATCH"
                    fails += got != exp
                    rows.append(f"{app_key:8} {ip:12} {zone:9} {dev:11} "
                                f"{'yes' if smfa else 'no':4} {exp:6} {got}{flag}")
                    ok(got == exp, f"matrix {app_key}/{ip}/{dev}/mfa={'yes' if smfa else 'no'}: "
                       f"{exp}", f"got {got}; {r.status} {r.header('Location')} {r.text[-300:]}")
                    if exp == "deny" and got == "deny":
                        deny_cells.append((app_key, ip, zone, dev, smfa, r))
    ok(agree, "the explicit table agrees with a reading of docs/policy.example.json")
    diag("policy matrix (built-in default), XFF from the trusted proxy 127.0.0.1:")
    diag(f"{'app':8} {'XFF':12} {'zone':9} {'device':11} {'mfa':4} {'expect':6} got")
    for row in rows:
        diag(row)
    diag(f"{len(rows)} cells, {fails} mismatches")
    ok(len(deny_cells) == 12, "12 denied cells (general app, not managed)", len(deny_cells))
    for app_key, ip, zone, dev, smfa, r in deny_cells:
        check_denied(x, r, apps[app_key], "managed_device", zone, dev, ip, USER,
                     f"deny {app_key}/{ip}/{dev}/mfa={'yes' if smfa else 'no'}")

    # ---- 3. spoofing ------------------------------------------------------------------
    cu = Browser(port, source="127.0.0.2")
    r = cu.login(USER, PW)
    ok(r.status == 303, "sign-in from the untrusted peer 127.0.0.2", r.status)
    spoof = {"X-Forwarded-For": "10.20.30.40", "X-Client-Verify": "SUCCESS"}
    r = cu.get(authorize_url(apps["general"]["cid"]), headers=spoof)
    ok(classify(r, base) == "deny", "untrusted peer: XFF gov + X-Client-Verify ignored, general "
       "app denied", f"{r.status} {r.header('Location')}")
    check_denied(x, r, apps["general"], "managed_device", "internet", "unmanaged", "127.0.0.2",
                 USER, "untrusted peer, general app")
    log_mark = len(d.log_text())
    r = cu.get(authorize_url(apps["comm"]["cid"]), headers=spoof)
    ok(classify(r, base) == "mfa", "untrusted peer: communication app asks for MFA "
       "(not gov, not managed)", f"{r.status} {r.header('Location')}")
    lines = [parse_logfmt(line) for line in d.log_text()[log_mark:].splitlines()
             if "event=access.mfa_required" in line]
    ok(lines and lines[-1].get("zone") == "internet" and lines[-1].get("device") == "unmanaged"
       and lines[-1].get("app") == "comm",
       "access.mfa_required logged with zone internet, device unmanaged", lines)
    # the same session and headers through the trusted proxy: believed
    cu.source = None
    r = cu.get(authorize_url(apps["general"]["cid"]), headers=spoof)
    ok(classify(r, base) == "allow", "control: the same headers from the trusted proxy are "
       "believed (general app allowed)", f"{r.status} {r.header('Location')}")
    cu.source = "127.0.0.2"
    cu.cookies["kh_dev"] = dev_cookie
    r = cu.get(authorize_url(apps["comm"]["cid"]))
    cu.cookies.pop("kh_dev", None)
    ok(classify(r, base) == "allow", "untrusted peer: the user's own kh_dev cookie still makes "
       "the device remembered (communication allowed)", f"{r.status} {r.header('Location')}")

    # another user's remembered-device cookie
    co = Browser(port)
    ok(co.login(OTHER, PW).status == 303, "sato.hanako signs in (password only)")
    inet = {"X-Forwarded-For": "203.0.113.7"}
    co.cookies["kh_dev"] = dev_cookie
    r = co.get(authorize_url(apps["comm"]["cid"]), headers=inet)
    ok(classify(r, base) == "mfa", "yamada.taro's kh_dev cookie gives sato.hanako no trust "
       "(communication asks for MFA)", f"{r.status} {r.header('Location')}")
    r = co.get(authorize_url(apps["general"]["cid"]), headers=inet)
    co.cookies.pop("kh_dev", None)
    ok(classify(r, base) == "deny", "... and the general app is denied to her",
       f"{r.status} {r.header('Location')}")
    check_denied(x, r, apps["general"], "managed_device", "internet", "unmanaged", "203.0.113.7",
                 OTHER, "another user's kh_dev")

    # X-Forwarded-For lists: only the last (proxy-appended) element counts
    r = authz(cn, apps["comm"], "10.20.30.40, 203.0.113.7")
    ok(classify(r, base) == "mfa", "XFF '10.20.30.40, 203.0.113.7': the client's gov entry is "
       "ignored (communication asks for MFA)", f"{r.status} {r.header('Location')}")
    r = authz(cn, apps["general"], "10.20.30.40,203.0.113.7")
    check_denied(x, r, apps["general"], "managed_device", "internet", "unmanaged", "203.0.113.7",
                 USER, "XFF '10.20.30.40,203.0.113.7'")
    r = authz(cn, apps["comm"], "203.0.113.7, 10.20.30.40")
    ok(classify(r, base) == "allow", "XFF '203.0.113.7, 10.20.30.40': last element gov "
       "(communication allowed)", f"{r.status} {r.header('Location')}")
    r = authz(cn, apps["general"], "203.0.113.7, 198.51.100.1, 10.20.30.40")
    check_denied(x, r, apps["general"], "managed_device", "gov", "unmanaged", "10.20.30.40", USER,
                 "XFF with three elements")
    # a last element that is not an address: the peer (the proxy) counts, never
    # an earlier element
    for xff in ("10.20.30.40, not-an-address", "10.20.30.40, ", "10.20.30.40, 10.1.2.3:443"):
        r = authz(cn, apps["general"], xff)
        check_denied(x, r, apps["general"], "managed_device", "internet", "unmanaged",
                     "127.0.0.1", USER, f"XFF {xff!r} (unreadable last element)")
    # a proxy that appends its own header line (HAProxy option forwardfor):
    # the two lines are one list (RFC 9110 5.3), the proxy's line is last
    r = authz(cn, apps["general"], header_lines=[("X-Forwarded-For", "10.20.30.40"),
                                                 ("X-Forwarded-For", "203.0.113.7")])
    check_denied(x, r, apps["general"], "managed_device", "internet", "unmanaged", "203.0.113.7",
                 USER, "XFF on two header lines (client's gov line first)")

    # ---- 4. OIDC step-up ----------------------------------------------------------------
    rp = oidc_rp.ScriptedRp(st, apps["allow"]["cid"], apps["allow"]["secret"], CB)
    cs = Browser(port)
    ok(cs.login(USER, PW).status == 303, "step-up: a fresh password-only session")
    rp.browser = cs
    nonce = secrets.token_urlsafe(8)
    r = cs.get(authorize_url(apps["allow"]["cid"], nonce=nonce))
    code = oidc_rp.query_of(r.header("Location") or "").get("code")
    ok(classify(r, base) == "allow", "policy allow, no acr_values: a code at once",
       f"{r.status} {r.header('Location')}")
    tr, body = rp.exchange(code)
    claims = {}
    try:
        claims = oidc_rp.jwt_verify((body or {}).get("id_token", ""), jwks)[1]
    except Exception as e:  # noqa: BLE001
        diag(f"id_token: {e!r}")
    ok(tr.status == 200 and claims.get("acr") == ACR_PWD and claims.get("amr") == ["pwd"] and
       claims.get("nonce") == nonce, "ID token: acr urn:kakehashi:acr:pwd, amr [pwd]",
       f"{tr.status} {claims}")
    r = cs.get(authorize_url(apps["allow"]["cid"], acr_values=ACR_MFA, prompt="none",
                             state="pn"))
    q = oidc_rp.query_of(r.header("Location") or "")
    ok(r.status == 302 and (r.header("Location") or "").startswith(CB + "?") and
       q.get("error") == "interaction_required" and q.get("state") == "pn" and "code" not in q,
       "prompt=none + acr_values mfa on a password session: error=interaction_required",
       f"{r.status} {r.header('Location')}")
    nonce = secrets.token_urlsafe(8)
    r = cs.get(authorize_url(apps["allow"]["cid"], acr_values=ACR_MFA, nonce=nonce,
                             state="su"))
    loc = path_of(r.header("Location"), base) or ""
    ok(r.status == 303 and re.fullmatch(PENDING_RE, loc),
       "acr_values=urn:kakehashi:acr:mfa: 303 to /mfa?p=ID", f"{r.status} {loc}")
    pid = oidc_rp.query_of(loc).get("p", "")
    r0, r = mfa_post(cs, base, pid, otp=totp.code())
    loc = path_of(r.header("Location"), base) or ""
    ok(r0.status == 200 and 'id="otp"' in r0.text and r.status == 303 and
       loc == f"/oidc/authorize?resume={pid}",
       "the TOTP from oathtool: 303 to /oidc/authorize?resume=ID", f"{r0.status} {r.status} {loc}")
    r = cs.get(loc) if loc.startswith("/") else r
    q = oidc_rp.query_of(r.header("Location") or "")
    ok(classify(r, base) == "allow" and q.get("state") == "su",
       "resume: 302 with a code and the original state", f"{r.status} {r.header('Location')}")
    tr, body = rp.exchange(q.get("code"))
    claims = {}
    try:
        claims = oidc_rp.jwt_verify((body or {}).get("id_token", ""), jwks)[1]
    except Exception as e:  # noqa: BLE001
        diag(f"id_token: {e!r}")
    amr = claims.get("amr") or []
    ok(tr.status == 200 and claims.get("acr") == ACR_MFA and "otp" in amr and "mfa" in amr and
       claims.get("nonce") == nonce and claims.get("sub") == USER,
       "token (client_secret_basic): ID token acr urn:kakehashi:acr:mfa, amr has otp and mfa",
       f"{tr.status} {claims}")
    r = cs.get(authorize_url(apps["allow"]["cid"], acr_values=ACR_MFA, prompt="none"))
    ok(classify(r, base) == "allow", "after the step-up: acr_values mfa + prompt=none gets a code",
       f"{r.status} {r.header('Location')}")
    ok(any(e.get("user") == USER and e.get("via") == "totp"
           for e in audit_events(x.audit, "mfa.success")), "audit: mfa.success via totp")

    # ---- 5. SAML ---------------------------------------------------------------------------
    saml_part(x, st, base, totp)

    # ---- 2. groups (a daemon with a policy file of our own) --------------------------------
    groups_part(x, st, work, ov, tokens)

    # ---- 6. the end ----------------------------------------------------------------------
    alive = d.proc.poll() is None
    ok(alive, "kakehashid still running after all of it")
    rc = st.stop()
    log = d.log_text()
    found = [m for m in SANITIZER_MARKS if m in log]
    ok(not found, "no sanitizer report in kakehashid's output", found and log[-3000:])
    ok(rc == 0, "kakehashid exits 0", rc)
    ok(x.token not in log and dev_cookie not in log and secret not in log,
       "no admin token, device cookie or TOTP secret in the log")
    khtest.done()


class SamlBrowser(saml_browser.Browser):
    """saml_browser.Browser that adds headers (X-Forwarded-For) to every
    request to the IdP, as the trusted proxy would."""

    def __init__(self, idp, headers, *a, **kw):
        super().__init__(*a, **kw)
        self.idp = idp
        self.idp_headers = headers

    def request(self, method, url, form=None, headers=None):
        h = dict(headers or {})
        if url.startswith(self.idp):
            h.update(self.idp_headers)
        return super().request(method, url, form, h)


def saml_response_xml(page):
    fs = saml_browser.forms(page.text)
    if not fs or "SAMLResponse" not in fs[0][1]:
        return None, None
    return fs[0], base64.b64decode(fs[0][1]["SAMLResponse"]).decode("utf-8", "replace")


def saml_part(x, st, idp, totp):
    d = st.daemon
    md = d.client().get("/saml/metadata").text
    try:
        sp = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-pol-sp1-"), name="policy-allow").start()
        spg = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-pol-sp2-"), name="policy-gen").start()
    except Exception as e:  # noqa: BLE001
        ok(False, f"pysaml2 SP fixture: {e}")
        return
    attrs = [{"source": "uid", "name": "uid"}]
    s, j = api(d, x.token, "POST", "/admin/api/v1/apps/saml", {
        "id": "saml-allow", "name": "文書管理", "protocol": "saml", "policy": "allow",
        "saml": {"metadata": sp.metadata(), "nameid_format": "persistent", "attributes": attrs}})
    ok(s == 201, "admin API registers the pysaml2 SP with policy allow", (s, str(j)[:300]))
    s2, j2 = api(d, x.token, "POST", "/admin/api/v1/apps/saml", {
        "id": "saml-general", "name": "財務会計", "protocol": "saml", "category": "general",
        "saml": {"metadata": spg.metadata(), "nameid_format": "persistent",
                 "attributes": attrs}})
    ok(s2 == 201, "admin API registers a second pysaml2 SP, category general, no policy",
       (s2, str(j2)[:300]))
    v = max(j.get("version", 0), j2.get("version", 0))
    end = time.time() + 10
    while time.time() < end and not re.search(rf"event=saml\.view version=(\d+) ", d.log_text()):
        time.sleep(0.05)
    while time.time() < end and not any(
            int(m) >= v for m in re.findall(r"event=saml\.view version=(\d+) ", d.log_text())):
        time.sleep(0.05)
    inet = {"X-Forwarded-For": "203.0.113.7"}
    b = SamlBrowser(idp, inet, USER, PW, accept_language="en")
    p = b.go(idp + "/login")
    ok("kh_session" in b.cookies and b.logins == 1, "SAML browser signs in with the password",
       f"{p.status} {p.url} {b.trail[-3:]}")

    def at_response(pg):
        return pg.url.startswith(idp + "/saml/sso") and "SAMLResponse" in pg.text

    # IsPassive + MobileTwoFactorContract on a password session: NoPassive
    n = len(b.trail)
    p = b.go(sp.base + f"/login?binding=redirect&passive=1&ctx={MOBILE2F}", stop=at_response)
    form, xml = saml_response_xml(p)
    ok(xml is not None and "urn:oasis:names:tc:SAML:2.0:status:NoPassive" in xml and
       "<saml:Assertion" not in xml and "EncryptedAssertion" not in xml,
       "IsPassive + RequestedAuthnContext MobileTwoFactorContract on a password session: "
       "NoPassive status, no assertion", f"{p.status} {p.url} {(xml or p.text)[:700]}")
    ok(not any("/mfa" in u or "/login" in u for _, u, _ in b.trail[n:] if u.startswith(idp)),
       "IsPassive never shows the MFA or login page", b.trail[n:])
    if form is not None:
        pa = b.request("POST", form[0], form[1])
        ok(pa.status != 200 and "NoPassive" in pa.text,
           "pysaml2 reads the NoPassive status (no SP session)", f"{pa.status} {pa.text[:300]}")

    # step-up: RequestedAuthnContext MobileTwoFactorContract (exact)
    p = b.go(sp.base + f"/login?binding=redirect&ctx={MOBILE2F}&cmp=exact",
             stop=lambda pg: pg.status == 303 and "/mfa?p=" in (pg.header("Location") or ""))
    loc = path_of(p.header("Location"), idp) or ""
    ok(p.status == 303 and p.url.startswith(idp + "/saml/sso") and re.fullmatch(PENDING_RE, loc),
       "AuthnRequest asking for MobileTwoFactorContract, password session: 303 to /mfa?p=ID",
       f"{p.status} {p.url} {loc} {p.text[:300]}")
    pid = oidc_rp.query_of(loc).get("p", "")
    pm = b.request("GET", idp + f"/mfa?p={pid}")
    m = re.search(r'name="csrf" value="([^"]+)"', pm.text)
    csrf = m.group(1) if m else ""
    pr = b.request("POST", idp + "/mfa", {"csrf": csrf, "p": pid, "otp": totp.code()})
    loc = path_of(pr.header("Location"), idp) or ""
    ok(pm.status == 200 and pr.status == 303 and loc == f"/saml/sso?resume={pid}",
       "TOTP on the MFA page: 303 to /saml/sso?resume=ID", f"{pm.status} {pr.status} {loc}")
    p = b.go(idp + loc, stop=at_response) if loc.startswith("/") else pr
    form, xml = saml_response_xml(p)
    ok(xml is not None and f"<saml:AuthnContextClassRef>{MOBILE2F}</saml:AuthnContextClassRef>"
       in xml and "status:Success" in xml,
       "resume: a Response with AuthnContextClassRef MobileTwoFactorContract",
       f"{p.status} {p.url} {(xml or p.text)[:800]}")
    if form is not None:
        pa = b.request("POST", form[0], form[1])
        info = pa.json() if pa.status == 200 else {}
        ok(pa.status == 200 and info.get("authn_class") == MOBILE2F and
           info.get("attributes", {}).get("uid") == [USER],
           "pysaml2 accepts it: authn_class MobileTwoFactorContract, uid yamada.taro",
           f"{pa.status} {pa.text[:400]}")
    else:
        ok(False, "pysaml2 accepts the step-up Response (no Response to post)")
    # now the session has the second factor: IsPassive + the same context passes silently
    p = b.go(sp.base + f"/login?binding=redirect&passive=1&ctx={MOBILE2F}")
    ok(p.status == 200 and p.json().get("authn_class") == MOBILE2F,
       "after the step-up, IsPassive + MobileTwoFactorContract signs in silently",
       f"{p.status} {p.text[:300]}")

    # a general SAML SP under managed-only, from the internet: the deny page
    bg = SamlBrowser(idp, inet, USER, PW, accept_language="en")
    p = bg.go(spg.base + "/login?binding=redirect")
    ok(p.status == 403 and p.url.startswith(idp + "/saml/sso") and 'id="denied"' in p.text and
       "SAMLResponse" not in p.text and not any(u.startswith(spg.base + "/acs")
                                                  for _, u, _ in bg.trail),
       "SAML SP of category general from the internet: 403 deny page, no SAML response",
       f"{p.status} {p.url} {bg.trail[-4:]} {p.text[:300]}")
    r = kakehashid.Response(p.status, p.headers, p.body)
    check_denied(x, r, {"id": "saml-general", "name": "財務会計"}, "managed_device", "internet",
                 "unmanaged", "203.0.113.7", USER, "SAML general SP")
    sp.stop()
    spg.stop()


GROUP_POLICY_NAMES = ("only-it", "not-helpdesk", "dept-somu", "staff-not-it", "case-it",
                      "nobody")


def groups_part(x, st, work, ov, tokens):
    """A second kakehashid (same slapd, its own Redis) with a policy file of
    our own: rules on the directory groups of yamada.taro and sato.hanako."""
    groups = {}
    for uid, _sn, _gn, dept, _t, extra, _x, _e in gen_directory.WELL_KNOWN:
        groups[uid] = ["all-staff", dept] + list(extra)
    yg, sg = set(groups[USER]), set(groups[OTHER])
    only_y = sorted(yg - sg)  # it-admins, 情報政策課
    only_s = sorted(sg - yg)  # helpdesk, 総務課
    common = sorted(yg & sg)  # all-staff
    ok("it-admins" in only_y and "helpdesk" in only_s and "総務課" in only_s and common,
       "groups of yamada.taro and sato.hanako from gen_directory.py", (groups[USER],
                                                                        groups[OTHER]))
    deny_g = {"action": "deny", "reason": "group"}
    doc = {
        "zones": {"gov": ["10.0.0.0/8"]},
        "managed_device": {"header": "X-Client-Verify", "value": "SUCCESS"},
        "policies": {
            "only-it": {"rules": [{"groups": ["it-admins"], "action": "allow"}, deny_g]},
            "not-helpdesk": {"rules": [{"not_groups": ["helpdesk"], "action": "allow"}, deny_g]},
            "dept-somu": {"rules": [{"groups": ["総務課", "no-such-group"], "action": "allow"},
                                    deny_g]},
            "staff-not-it": {"rules": [{"groups": common, "not_groups": ["it-admins"],
                                        "action": "allow"}, deny_g]},
            "case-it": {"rules": [{"groups": ["IT-Admins"], "action": "allow"}, deny_g]},
            "nobody": {"rules": [{"groups": ["no-such-group"], "action": "allow"}]},
            "allow": {"rules": [{"action": "allow"}]},
        },
        "default_policy": "allow",
    }
    pfile = os.path.join(work, "policy-groups.json")
    with open(pfile, "w", encoding="utf-8") as f:
        json.dump(doc, f, ensure_ascii=False, indent=1)
    r2 = redisd.Redis(workdir=os.path.join(work, "redis2"))
    os.makedirs(r2.dir, exist_ok=True)
    ov2 = dict(ov)
    ov2.update({"policy.file": pfile, "log.audit_file": os.path.join(work, "audit2.log")})
    try:
        r2.start()
        d2 = kakehashid.Daemon(st.slapds[0].uri, slapd.BASE_DN, slapd.SERVICE_DN,
                               slapd.SERVICE_PASSWORD, r2.port, "", ov2,
                               workdir=os.path.join(work, "kakehashid2")).start()
    except Exception as e:  # noqa: BLE001
        ok(False, f"second daemon with {pfile}: {e}")
        return
    audit2 = ov2["log.audit_file"]
    apps = {n: add_oidc(x, d2, n, f"グループ {n}", {"policy": n}) for n in GROUP_POLICY_NAMES}
    ok(wait_clients(d2, [a["cid"] for a in apps.values()]), "the second daemon sees its clients")
    expect = {}
    for n in GROUP_POLICY_NAMES:
        for u in (USER, OTHER):
            expect[(n, u)] = ref_eval(doc, n, "203.0.113.7", "unmanaged", groups[u])
    hand = {("only-it", USER): "allow", ("only-it", OTHER): "deny",
            ("not-helpdesk", USER): "allow", ("not-helpdesk", OTHER): "deny",
            ("dept-somu", USER): "deny", ("dept-somu", OTHER): "allow",
            ("staff-not-it", USER): "deny", ("staff-not-it", OTHER): "allow",
            ("case-it", USER): "deny", ("case-it", OTHER): "deny",
            ("nobody", USER): "deny", ("nobody", OTHER): "deny"}
    ok(all(expect[k][0] == v for k, v in hand.items()),
       "the hand-written group table agrees with a reading of the policy file", expect)
    rows = []
    port2 = d2.port
    base2 = f"http://127.0.0.1:{port2}"
    for u in (USER, OTHER):
        b = Browser(port2)
        ok(b.login(u, PW).status == 303, f"{u} signs in at the second daemon")
        for n in GROUP_POLICY_NAMES:
            want = hand[(n, u)]
            reason = "no_rule" if n == "nobody" else "group"
            r = authz(b, apps[n], "203.0.113.7")
            got = classify(r, base2)
            rows.append(f"{n:13} {u:12} {want:6} {got}{'' if got == want else '   <-- MISMATCH'}")
            ok(got == want, f"groups: {n} for {u}: {want}", f"{got} {r.text[-300:]}")
            if want == "deny" and got == "deny":
                check_denied(x, r, apps[n], reason, "internet", "unmanaged", "203.0.113.7", u,
                             f"groups: {n} for {u}", audit_path=audit2)
    diag("group rules (policy file of the test):")
    for row in rows:
        diag(row)
    rc = d2.stop()
    log = d2.log_text()
    found = [m for m in SANITIZER_MARKS if m in log]
    ok(not found, "no sanitizer report in the second kakehashid's output", found and log[-3000:])
    ok(rc == 0, "second kakehashid exits 0", rc)
    r2.stop()


if __name__ == "__main__":
    main()
