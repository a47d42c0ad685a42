#!/usr/bin/env python3
"""Two-step verification benchmark: daemon CPU per operation.

    KH_BUILD_DIR=build/release python3 bench/mfa_bench.py [--users 300]

Starts the stack on loopback (tests/lib/stack.py), signs N users in, then
measures, sequentially over keep-alive-free HTTP (one request at a time, so
the figures are CPU per operation, not throughput):

  totp_begin    POST /mfa/totp action=begin: a fresh secret sealed with
                AES-256-GCM into Redis and the QR code drawn as SVG
  totp_confirm  POST /mfa/totp action=confirm: the code checked (liboath),
                the secret activated, ten recovery codes made (HMACs)
  challenge     POST /mfa with a valid TOTP code in a new session: the code
                checked and its step recorded (one Lua script), the session
                elevated
  page          GET /mfa (baseline: the challenge page alone)

The daemon's utime+stime from /proc before and after each phase, divided by
the number of operations; requests/s and p50/p99 latency as seen by the
client. Use a release build."""

import argparse
import hmac
import os
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

import khtest  # noqa: E402
from stack import Stack  # noqa: E402

TICK = os.sysconf("SC_CLK_TCK")


def cpu(pid):
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def totp(secret_b32, t=None):
    import base64
    key = base64.b32decode(secret_b32 + "=" * (-len(secret_b32) % 8))
    step = int((t or time.time()) // 30)
    h = hmac.new(key, struct.pack(">Q", step), "sha1").digest()
    o = h[-1] & 15
    return "%06d" % ((struct.unpack(">I", h[o:o + 4])[0] & 0x7fffffff) % 1000000)


def phase(name, pid, items, fn):
    lat = []
    c0, t0 = cpu(pid), time.time()
    for it in items:
        s = time.perf_counter()
        fn(it)
        lat.append((time.perf_counter() - s) * 1000)
    c1, t1 = cpu(pid), time.time()
    lat.sort()
    n = len(items)
    print(f"{name:14} {n:6} {n / (t1 - t0):9.0f} {lat[n // 2]:8.2f} {lat[int(n * 0.99)]:8.2f} "
          f"{(c1 - c0) * 1000 / n:10.3f}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--users", type=int, default=300)
    a = ap.parse_args()
    st = Stack(count=max(a.users + 20, 250), slapd_loglevel="none",
               overrides={"login.min_delay_ms": 10, "log.level": "warn"}).start()
    try:
        d = st.daemon
        pid = d.proc.pid
        users = [u for u in st.users if u.startswith("user")][:a.users] or st.users[:a.users]
        sess = {}
        for u in users:
            c = d.client()
            if c.login(u, st.password).status == 303:
                sess[u] = c
        users = list(sess)
        csrf = {}
        for u in users:
            r = sess[u].get("/mfa/setup")
            csrf[u] = r.find(r'name="csrf" value="([^"]+)"')
        print(f"{'operation':14} {'n':>6} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} "
              f"{'cpu ms/op':>10}")
        secrets = {}

        def begin(u):
            r = sess[u].post("/mfa/totp", {"csrf": csrf[u], "action": "begin"})
            secrets[u] = r.find(r'id="totp-secret">([^<]*)<').replace(" ", "")
        phase("totp_begin", pid, users, begin)

        def confirm(u):
            r = sess[u].post("/mfa/totp", {"csrf": csrf[u], "action": "confirm",
                                           "otp": totp(secrets[u])})
            assert r.status == 200, r.status
        # each code once: confirm and challenge use different steps
        phase("totp_confirm", pid, users, confirm)
        fresh = {}
        for u in users:
            c = d.client()
            c.login(u, st.password)
            r = c.get("/mfa")
            fresh[u] = (c, r.find(r'name="csrf" value="([^"]+)"'))
        time.sleep(30 - time.time() % 30 + 0.5)  # a step no code was used in

        def challenge(u):
            c, t = fresh[u]
            r = c.post("/mfa", {"csrf": t, "otp": totp(secrets[u])})
            assert r.status == 303, r.status
        phase("challenge", pid, users, challenge)
        phase("page", pid, users, lambda u: fresh[u][0].get("/mfa"))
        print(f"# kakehashid {khtest.binary('kakehashid')}, {len(users)} users")
    finally:
        st.stop()


if __name__ == "__main__":
    main()
