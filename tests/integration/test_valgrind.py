#!/usr/bin/env python3
"""Valgrind over the release build (no sanitizers): every unit program, and
kakehashid serving real sign-ins against slapd and Redis, must show no memory
error and no definite leak."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402

REL = os.environ.get("KH_RELEASE_DIR", os.path.join(khtest.ROOT, "build", "release"))
VG = ["valgrind", "--quiet", "--error-exitcode=99", "--leak-check=full",
      "--errors-for-leak-kinds=definite", "--show-leak-kinds=definite",
      "--track-origins=yes"]

if not os.path.exists(os.path.join(REL, "kakehashid")):
    khtest.bail(f"no release build in {REL} (scripts/build.sh release)")

tests = subprocess.run(["make", "-s", "-C", REL, "print-unit-tests"], capture_output=True,
                       text=True).stdout.split()
ok(len(tests) >= 5, f"found {len(tests)} unit programs")
for t in tests:
    p = subprocess.run(VG + [os.path.join(REL, t)], capture_output=True, text=True, timeout=600)
    ok(p.returncode == 0, f"valgrind clean: {t}", (p.stderr or p.stdout)[-3000:])

# The daemon under valgrind, serving logins.
os.environ["KH_BUILD_DIR"] = REL
import kakehashid  # noqa: E402
import stack  # noqa: E402

kakehashid.BIN = os.path.join(REL, "kakehashid")
orig_spawn = khtest.spawn


def vg_spawn(args, **kw):
    if args and args[0] == kakehashid.BIN:
        args = VG + ["--log-file=" + os.path.join(st.dir, "valgrind.log")] + args
    return orig_spawn(args, **kw)


khtest.spawn = vg_spawn
st = stack.Stack(overrides={"login.min_delay_ms": 10, "server.threads": 2})
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
c = d.client()
r = c.login("yamada.taro", st.password)
ok(r.status == 303, "login under valgrind", r.status)
r = c.get("/login")
ok("山田 太郎" in r.text, "session page under valgrind")
r = d.client().login("yamada.taro", "wrong")
ok(r.status == 401, "failed login (delayed response) under valgrind", r.status)
r = d.client().login("*)(uid=*", "x")
ok(r.status == 401, "hostile user name under valgrind", r.status)
token = r.find(r'name="csrf" value="([^"]+)"')

# Two-step verification: enrolment (QR code, liboath, AES-GCM), recovery codes,
# the challenge with a right, a replayed and a malformed code, a passkey
# ceremony's options and a malformed finish (libcbor, OpenSSL).
r = c.get("/mfa/setup")
csrf = r.find(r'name="csrf" value="([^"]+)"')
r = c.post("/mfa/totp", {"csrf": csrf, "action": "begin"})
secret = (r.find(r'id="totp-secret">([^<]*)<') or "").replace(" ", "")
ok(r.status == 200 and "<svg" in r.text and secret, "TOTP enrolment page under valgrind",
   r.status)
code = subprocess.run(["oathtool", "--totp", "-b", secret], capture_output=True,
                      text=True).stdout.strip()
r = c.post("/mfa/totp", {"csrf": csrf, "action": "confirm", "otp": code})
ok(r.status == 200 and r.text.count('class="code"') == 10,
   "TOTP confirmed, recovery codes shown, under valgrind", r.status)
c2 = d.client()
c2.login("yamada.taro", st.password)
r = c2.get("/mfa")
csrf2 = r.find(r'name="csrf" value="([^"]+)"')
r = c2.post("/mfa", {"csrf": csrf2, "otp": code})
ok(r.status == 401, "replayed TOTP code refused under valgrind", r.status)
r = c2.post("/mfa", {"csrf": csrf2, "otp": "x" * 5000})
ok(r.status == 401, "malformed code refused under valgrind", r.status)
r = c.post("/mfa/webauthn/options", {"csrf": csrf, "mode": "register"})
ok(r.status == 200 and '"challenge"' in r.text, "passkey options under valgrind", r.status)
r = c.post("/mfa/webauthn/finish", {"csrf": csrf, "mode": "register", "id": "AAAA",
                                    "clientDataJSON": "e30", "attestationObject": "oWNmbXQ"})
ok(r.status == 400, "malformed attestation refused under valgrind", r.status)
r = c.get("/metrics")
ok(r.status == 200, "metrics under valgrind")
r = c.get("/readyz")
ok(r.status == 200, "readyz under valgrind")
rc = st.stop()
with open(os.path.join(st.dir, "valgrind.log"), encoding="utf-8", errors="replace") as f:
    vglog = f.read()
ok(rc == 0 and "definitely lost" not in vglog and "Invalid" not in vglog,
   "kakehashid: no memory error and no definite leak after SIGTERM", f"rc={rc}\n{vglog[-3000:]}")
khtest.done()
