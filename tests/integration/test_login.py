#!/usr/bin/env python3
"""Sign-in through kakehashid against real slapd and redis-server.

Covers the foundation issue's list: good login, wrong password, unknown user,
empty password, filter injection, NUL and invalid UTF-8 user names, locked,
expired and must-change accounts, throttling per user and per address, CSRF,
session fixation, logout, language choice, limits, and security headers."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import stack  # noqa: E402

MIN_DELAY = 200

st = stack.Stack(overrides={"login.min_delay_ms": MIN_DELAY, "login.max_delay_ms": 800,
                            "login.user_max_failures": 4, "login.ip_max_failures": 1000})
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
PW = st.password

# --- the page -------------------------------------------------------------
c = d.client()
token, r = c.csrf()
ok(r.status == 200 and 'lang="ja"' in r.text and "サインイン" in r.text,
   "GET /login answers 200 with the Japanese page", r.status)
ok(token is not None and len(token) == 43, "the form carries a CSRF token")
ok("kh_csrf" in c.cookies, "a CSRF cookie is set")
ok("default-src 'none'" in (r.header("Content-Security-Policy") or "")
   and r.header("X-Frame-Options") == "DENY" and r.header("Cache-Control") == "no-store",
   "security headers on the login page")
ok("<script" not in r.text and "http://" not in r.text.replace(f"http://127.0.0.1:{d.port}", ""),
   "the page loads no script and no external resource")
css = c.get("/static/kakehashi.css")
ok(css.status == 200 and "text/css" in css.header("Content-Type"), "stylesheet served locally")

en = d.client(accept_language="en-US,en;q=0.9")
r = en.get("/login")
ok('lang="en"' in r.text and "Sign in" in r.text, "Accept-Language: en gives the English page")
r = c.get("/login?lang=en")
ok('lang="en"' in r.text and c.cookies.get("kh_lang") == "en", "?lang=en switches and is remembered")
r = c.get("/login")
ok('lang="en"' in r.text, "the remembered language wins over Accept-Language")
c.get("/login?lang=ja")

# --- good login -----------------------------------------------------------
c = d.client()
r = c.login("yamada.taro", PW)
ok(r.status == 303 and r.header("Location") == "/login", "good login redirects (303) to /login",
   f"{r.status} {r.text[:300]}")
sc = [h for h in r.headers_all("Set-Cookie") if h.startswith("kh_session=")]
ok(len(sc) == 1 and "HttpOnly" in sc[0] and "SameSite=Lax" in sc[0] and "Path=/" in sc[0],
   "session cookie is HttpOnly, SameSite=Lax", sc)
ok(len(sc) == 1 and "Secure" not in sc[0], "no Secure flag on plain-http loopback", sc)
cookie = c.cookies.get("kh_session", "")
ok(re.fullmatch(r"[A-Za-z0-9_-]{43}", cookie) is not None, "cookie is 256 bits of base64url")
r = c.get("/login")
ok(r.status == 200 and r.find(r'id="display-name">([^<]*)<') == "山田 太郎",
   "signed-in page shows the Japanese display name", r.text[-600:])
ok(r.find(r'id="uid">([^<]*)<') == "yamada.taro", "signed-in page shows the staff ID")
keys = st.redis.cli("KEYS", "*")
ok(cookie not in keys, "the cookie value is not a Redis key", keys)

# --- session fixation -----------------------------------------------------
fix = d.client()
fix.cookies["kh_session"] = "A" * 43
r = fix.login("yamada.taro", PW)
ok(r.status == 303 and fix.cookies.get("kh_session") not in (None, "A" * 43),
   "a planted session id is replaced at login")
old = fix.cookies["kh_session"]
r = fix.login("yamada.taro", PW)
new = fix.cookies["kh_session"]
ok(r.status == 303 and new != old, "every login issues a new session id")
stale = d.client()
stale.cookies["kh_session"] = old
r = stale.get("/login")
ok('id="display-name"' not in r.text and 'name="password"' in r.text,
   "the previous session id no longer works")

# --- wrong password, unknown user: same answer, same minimum delay -----------
def timed_login(user, pw):
    cl = d.client()
    token, _ = cl.csrf()
    t0 = time.monotonic()
    r = cl.post("/login", {"csrf": token, "username": user, "password": pw})
    return r, (time.monotonic() - t0) * 1000, cl


r1, t1, _ = timed_login("sato.hanako", "wrong-password")
r2, t2, _ = timed_login("no.such.person", "wrong-password")
ok(r1.status == 401, "wrong password is 401", r1.status)
ok(r2.status == 401, "unknown user is 401", r2.status)
e1 = r1.find(r'id="error"[^>]*>([^<]*)<')
e2 = r2.find(r'id="error"[^>]*>([^<]*)<')
ok(e1 is not None and e1 == e2, "the same message for unknown user and wrong password", (e1, e2))
ok(t1 >= MIN_DELAY and t2 >= MIN_DELAY, f"both answered after at least {MIN_DELAY} ms",
   (t1, t2))
ok(r1.find(r'name="username"[^>]*value="([^"]*)"') == "sato.hanako",
   "the staff ID is kept in the form after a failure")

# --- bad input: never reaches the directory as a login --------------------
r, _, _ = timed_login("yamada.taro", "")
ok(r.status == 400 and "パスワードを入力" in r.text, "empty password refused with a message", r.status)
r, _, cl = timed_login("*)(uid=*", PW)
ok(r.status == 401 and "kh_session" not in cl.cookies, "'*)(uid=*' is not a login", r.status)
r, _, cl = timed_login("*", PW)
ok(r.status == 401 and "kh_session" not in cl.cookies, "'*' is not a login", r.status)
r, _, cl = timed_login("yamada.taro)(|(uid=*", PW)
ok(r.status == 401 and "kh_session" not in cl.cookies, "filter injection suffix is not a login")
cl = d.client()
token, _ = cl.csrf()
r = cl.request("POST", "/login", raw_body=f"csrf={token}&username=yamada%00taro&password=x".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 400 and "kh_session" not in cl.cookies, "NUL in the user name refused (400)", r.status)
r = cl.request("POST", "/login",
               raw_body=f"csrf={token}&username=yamada.taro&password={PW}%00junk".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 400 and "kh_session" not in cl.cookies,
   "a NUL after the right password is not a login", r.status)
r = cl.request("POST", "/login", raw_body=f"csrf={token}&username=admin%C3&password=x".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 400, "invalid UTF-8 user name refused (400)", r.status)
r = cl.request("POST", "/login",
               raw_body=f"csrf={token}&username={'a' * 300}&password=x".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 400, "over-long user name refused", r.status)
r = cl.request("POST", "/login",
               raw_body=f"csrf={token}&username=a&username=b&password=x".encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 400, "repeated username field refused", r.status)
r = cl.request("POST", "/login", raw_body=b"x=" + b"A" * 70000,
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 413, "body over max_body_bytes is 413", r.status)
r = cl.request("POST", "/login",
               raw_body="&".join(f"f{i}=1" for i in range(40)).encode(),
               headers={"Content-Type": "application/x-www-form-urlencoded"})
ok(r.status == 413, "more than 32 form fields is 413", r.status)
r = cl.request("POST", "/login", raw_body=b'{"username":"x"}',
               headers={"Content-Type": "application/json"})
ok(r.status == 400, "a JSON body is refused on the form endpoint", r.status)
r = cl.request("PUT", "/login")
ok(r.status == 405 and "POST" in (r.header("Allow") or ""), "PUT /login is 405 with Allow", r.status)
r = cl.get("/no/such/page")
ok(r.status == 404 and "ページが見つかりません" in r.text, "unknown path is a 404 page")
r = cl.get("/login?" + "&".join(f"q{i}=1" for i in range(40)))
ok(r.status == 413, "more than 32 query fields is 413", r.status)
r = cl.get("/login", headers={"X-Big": "x" * 70000})
ok(r.status in (413, 431), "64 KiB of headers is refused", r.status)

# --- pending protocol requests ---------------------------------------------
cl = d.client()
r = cl.get("/login?p=" + "A" * 22)
ok(r.status == 400 and "サインイン要求の有効期限切れ" in r.text,
   "an unknown pending request id gets the 'expired' page", r.status)
r = cl.get("/login?p=short")
ok(r.status == 400, "a malformed pending id is refused", r.status)
r = cl.get("/login?p=" + "A" * 22 + "&p=" + "B" * 22)
ok(r.status == 400, "a repeated pending id is refused", r.status)
token, _ = cl.csrf()
r = cl.post("/login", {"csrf": token, "username": "yamada.taro", "password": PW, "p": "C" * 22})
ok(r.status == 400 and "kh_session" not in cl.cookies,
   "a sign-in naming an unknown pending request does not sign in", r.status)

# --- CSRF -----------------------------------------------------------------
cl = d.client()
cl.csrf()
r = cl.post("/login", {"username": "yamada.taro", "password": PW})
ok(r.status == 403 and "kh_session" not in cl.cookies, "login without a CSRF token is refused")
r = cl.post("/login", {"csrf": "A" * 43, "username": "yamada.taro", "password": PW})
ok(r.status == 403 and "kh_session" not in cl.cookies, "login with a forged CSRF token is refused")
other = d.client()
other_token, _ = other.csrf()
r = cl.post("/login", {"csrf": other_token, "username": "yamada.taro", "password": PW})
ok(r.status == 403, "another browser's CSRF token is refused")
token, _ = cl.csrf()
r = cl.post("/login", {"csrf": token, "username": "yamada.taro", "password": PW},
            headers={"Origin": "https://evil.example"})
ok(r.status == 403 and "kh_session" not in cl.cookies, "a cross-origin POST is refused")
r = cl.post("/login", {"csrf": token, "username": "yamada.taro", "password": PW},
            headers={"Origin": f"http://127.0.0.1:{d.port}"})
ok(r.status == 303, "a same-origin POST with a valid token signs in", r.status)

# --- account states -------------------------------------------------------
r, _, cl = timed_login("locked.user", PW)
ok(r.status == 403 and "ロック" in r.text and "ヘルプデスク" in r.text and "kh_session" not in cl.cookies,
   "locked account: 403 with the helpdesk contact", r.status)
r, _, cl = timed_login("expired.user", PW)
ok(r.status == 403 and "有効期限" in r.text and 'id="password-change"' in r.text
   and "kh_session" not in cl.cookies, "expired password: 403 with the change link", r.status)
r, _, cl = timed_login("reset.user", PW)
ok(r.status == 403 and 'id="password-change"' in r.text and "kh_session" not in cl.cookies,
   "password that must be changed: 403, never a session", r.status)

# --- throttling per user --------------------------------------------------
victim = "suzuki.ichiro" if "suzuki.ichiro" in st.users else st.users[5]
for i in range(4):
    r, _, _ = timed_login(victim, "bad-%d" % i)
r, t, cl = timed_login(victim, PW)
ok(r.status == 429 and "kh_session" not in cl.cookies,
   "after user_max_failures the right password is refused too (429)", r.status)
ok(r.header("Retry-After") is not None and int(r.header("Retry-After")) > 0, "Retry-After is set")
r, _, _ = timed_login(victim.upper(), PW)
ok(r.status == 429, "the lock is not bypassed by changing case", r.status)
keys = st.redis.cli("KEYS", "*")
ok(victim not in keys and "127.0.0.1" not in keys, "throttle keys hold no raw name or address")
r, _, cl = timed_login("yamada.taro", PW)
ok(r.status == 303, "other users are not affected", r.status)

# --- logout ---------------------------------------------------------------
c = d.client()
c.login("yamada.taro", PW)
cookie = c.cookies["kh_session"]
r = c.get("/logout")
ok(r.status == 200 and 'action="/logout"' in r.text, "GET /logout asks for confirmation")
r = c.get("/login")
ok('id="display-name"' in r.text, "a GET does not sign out")
token = r.find(r'action="/logout">\s*<input type="hidden" name="csrf" value="([^"]+)"')
r = c.post("/logout", {"csrf": "B" * 43})
ok(r.status == 403, "logout without a valid CSRF token is refused", r.status)
r = c.post("/logout", {"csrf": token})
ok(r.status == 200 and 'id="signed-out"' in r.text and "kh_session" not in c.cookies,
   "POST /logout signs out and clears the cookie", r.status)
again = d.client()
again.cookies["kh_session"] = cookie
r = again.get("/login")
ok('id="display-name"' not in r.text, "the old cookie no longer works after logout")

# --- health, metrics, audit ------------------------------------------------
r = c.get("/healthz")
ok(r.status == 200, "/healthz is 200")
r = c.get("/readyz")
ok(r.status == 200 and '"ready":true' in r.text, "/readyz is 200 with LDAP and Redis up", r.text)
r = c.get("/metrics")
ok(r.status == 200 and 'kakehashi_login_total{outcome="ok"}' in r.text
   and re.search(r'kakehashi_login_total\{outcome="invalid_credentials"\} [1-9]', r.text)
   and 'kakehashi_http_requests_total{endpoint="login",status="303"}' in r.text
   and "kakehashi_http_request_duration_seconds_bucket" in r.text, "/metrics counts logins")
log = d.log_text()
ok("kind=audit event=login.success" in log and "outcome=invalid_credentials" in log,
   "sign-ins are audited")
ok(PW not in log and "wrong-password" not in log, "no password reaches the log")

rc = st.stop()
ok(rc == 0, "SIGTERM stops the daemon cleanly (exit 0, no leak report)", d.log_tail())
khtest.done()
