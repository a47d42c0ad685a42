#!/usr/bin/env python3
"""Backends failing under a running daemon: Redis stopped mid-run (503 and an
error page, no crash, recovery when it returns), the first directory server
stopped (logins continue through the second), all directory servers down."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import stack  # noqa: E402

st = stack.Stack(ldap_servers=2, overrides={"login.min_delay_ms": 50})
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
PW = st.password

c = d.client()
r = c.login("yamada.taro", PW)
ok(r.status == 303, "login works with both directory servers up", r.status)

# --- Redis stopped mid-run ------------------------------------------------
st.redis.stop()
fresh = d.client()
t0 = time.monotonic()
r = fresh.login("yamada.taro", PW)
elapsed = time.monotonic() - t0
ok(r.status == 503, "login with Redis down answers 503", r.status)
ref = r.find(r'id="reference">([0-9a-f]+)<')
ok(ref is not None and "ただいま利用できません" in r.text, "the 503 page is readable and has a reference id")
ok(ref is not None and f"rid={ref}" in d.log_text(), "the reference id leads to the log line")
ok("kh_session" not in fresh.cookies, "no session cookie is handed out while Redis is down")
ok(elapsed < 5, f"the 503 comes quickly ({elapsed:.2f} s)")
r = c.get("/login")
ok(r.status == 503, "an existing session is not mistaken for 'signed out' (503, fail closed)",
   r.status)
r = c.get("/readyz")
ok(r.status == 503 and '"redis":"unavailable"' in r.text, "/readyz is 503 naming Redis", r.text)
r = c.get("/healthz")
ok(r.status == 200, "/healthz stays 200 (the process is alive)")
ok(d.proc.poll() is None, "the daemon did not crash")

st.redis.start()
deadline = time.time() + 10
while time.time() < deadline:
    r = d.client().get("/readyz")
    if r.status == 200:
        break
    time.sleep(0.2)
ok(r.status == 200, "/readyz recovers when Redis returns", r.text)
again = d.client()
r = again.login("yamada.taro", PW)
ok(r.status == 303, "logins work again after Redis returns (new connection)", r.status)

# --- first directory server stopped -------------------------------------------
st.slapds[0].stop()
t0 = time.monotonic()
r = d.client().login("sato.hanako", PW)
ok(r.status == 303, "login still works through the second directory server", r.status)
ok(time.monotonic() - t0 < 8, "failover is quick")
ok(d.client().get("/readyz").status == 200, "/readyz is 200 with one directory server")
r = d.client().login("sato.hanako", "wrong")
ok(r.status == 401, "a wrong password is still refused through the second server", r.status)

# --- every directory server down -------------------------------------------
st.slapds[1].stop()
fresh = d.client()
t0 = time.monotonic()
r = fresh.login("yamada.taro", PW)
ok(r.status == 503 and "kh_session" not in fresh.cookies, "all directory servers down: 503",
   r.status)
ok(time.monotonic() - t0 < 10, "and answered within the network timeout")
r = d.client().get("/readyz")
ok(r.status == 503 and '"ldap":"unavailable"' in r.text, "/readyz names LDAP", r.text)
r = c.get("/metrics")
ok('kakehashi_login_total{outcome="backend_unavailable"}' in r.text, "outage counted in /metrics")

st.slapds[1].start()
deadline = time.time() + 10
while time.time() < deadline:
    r = d.client().login("yamada.taro", PW)
    if r.status == 303:
        break
    time.sleep(0.3)
ok(r.status == 303, "logins recover when a directory server returns", r.status)
ok(st.stop() == 0, "the daemon stops cleanly after all that", d.log_tail())
khtest.done()
