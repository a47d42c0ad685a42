#!/usr/bin/env python3
"""OIDC provider benchmark: throughput, latency and daemon CPU per operation.

    KH_BUILD_DIR=build/release python3 bench/oidc_bench.py [--seconds 5] [--workers 4]
        [--scenario all|login|client_credentials|client_credentials_jwt|refresh|introspect]

Starts the whole stack on loopback (tests/lib/stack.py: generated directory,
slapd, redis-server, kakehashid with dev keys), registers clients, then runs
each scenario with N worker processes on keep-alive connections:

  login                   full code flow: /oidc/authorize -> /login (GET+POST)
                          -> resume -> code -> /oidc/token (PKCE, secret basic)
  client_credentials      POST /oidc/token, client_secret_basic, opaque token
  client_credentials_jwt  the same with an RFC 9068 JWT access token (ES256)
  refresh                 refresh_token grant with rotation (each worker walks
                          its own chain)
  introspect              POST /oidc/introspect of an opaque access token

For each: requests/s, p50/p99 latency (ms) and the daemon's CPU time per
operation from /proc/PID/stat (utime+stime; the load generator's own CPU is
not counted). Prints a table and one JSON line per scenario. Use a release
build (no sanitizers) for figures worth quoting."""

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import sys
import time
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

import khtest  # noqa: E402
import oidc_rp  # noqa: E402
import slapd  # noqa: E402
from stack import Stack  # noqa: E402

CB = "http://127.0.0.1:9/cb"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def basic(cid, secret):
    return "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def post(self, path, form, headers=None):
        h = {"Content-Type": "application/x-www-form-urlencoded"}
        h.update(headers or {})
        body = urllib.parse.urlencode(form)
        for attempt in range(2):
            try:
                self.c.request("POST", path, body=body, headers=h)
                r = self.c.getresponse()
                return r.status, r.read()
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        raise RuntimeError("connection failed")


def worker(args):
    scenario, port, seconds, ctx, wid = args
    lat = []
    errors = 0
    conn = Conn(port)
    deadline = time.monotonic() + seconds
    rt = ctx.get("refresh", [None])[wid % max(1, len(ctx.get("refresh", [None])))]
    if scenario == "login":
        from types import SimpleNamespace
        import kakehashid
        st = SimpleNamespace(daemon=SimpleNamespace(port=port,
                                                    client=lambda **kw: kakehashid.Client(port,
                                                                                          **kw)))
        users = ctx["users"]
        n = wid
    while time.monotonic() < deadline:
        t0 = time.perf_counter()
        try:
            if scenario.startswith("client_credentials"):
                cid, secret = ctx[scenario]
                s, b = conn.post("/oidc/token", {"grant_type": "client_credentials"},
                                 {"Authorization": basic(cid, secret)})
                good = s == 200
            elif scenario == "introspect":
                cid, secret = ctx["client_credentials"]
                s, b = conn.post("/oidc/introspect", {"token": ctx["token"]},
                                 {"Authorization": basic(cid, secret)})
                good = s == 200 and b"true" in b
            elif scenario == "refresh":
                cid, secret = ctx["app"]
                s, b = conn.post("/oidc/token", {"grant_type": "refresh_token",
                                                 "refresh_token": rt},
                                 {"Authorization": basic(cid, secret)})
                good = s == 200
                if good:
                    rt = json.loads(b)["refresh_token"]
            else:  # login: a fresh browser each time
                cid, secret = ctx["app"]
                rp = oidc_rp.ScriptedRp(st, cid, secret, CB)
                user = users[n % len(users)]
                n += 7
                res = rp.code_flow(user, slapd.DEMO_PASSWORD, scope="openid profile")
                good = bool((res.get("tokens") or {}).get("id_token"))
        except Exception:  # noqa: BLE001
            good = False
        dt = time.perf_counter() - t0
        if good:
            lat.append(dt)
        else:
            errors += 1
    return lat, errors


def pct(v, p):
    if not v:
        return 0.0
    v = sorted(v)
    return v[min(len(v) - 1, int(len(v) * p))]


def run(scenario, st, ctx, seconds, workers):
    pid = st.daemon.proc.pid
    c0, t0 = cpu_seconds(pid), time.monotonic()
    with mp.Pool(workers) as pool:
        results = pool.map(worker, [(scenario, st.daemon.port, seconds, ctx, i)
                                    for i in range(workers)])
    c1, t1 = cpu_seconds(pid), time.monotonic()
    lat = [x for r in results for x in r[0]]
    errors = sum(r[1] for r in results)
    n = len(lat)
    out = {"scenario": scenario, "ok": n, "errors": errors, "seconds": round(t1 - t0, 2),
           "req_per_s": round(n / (t1 - t0), 1), "p50_ms": round(pct(lat, .5) * 1000, 2),
           "p99_ms": round(pct(lat, .99) * 1000, 2),
           "daemon_cpu_ms_per_op": round((c1 - c0) * 1000 / n, 4) if n else None}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=float, default=5)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--scenario", default="all")
    ap.add_argument("--users", type=int, default=500)
    a = ap.parse_args()
    work = khtest.tmpdir("kh-oidc-bench-")
    extra = {"login.min_delay_ms": "0", "log.level": "warn", "server.threads": "4",
             "login.user_max_failures": "1000", "login.ip_max_failures": "1000"}
    # The project's CPU targets are stated for RSA-2048 signing keys.
    os.environ.setdefault("KH_RSA_BITS", "2048")
    st = Stack(count=a.users, overrides=oidc_rp.overrides(work, extra), workdir=work,
               slapd_loglevel="none").start()
    # generated staff only (the fixed accounts include locked and expired ones)
    ctx = {"users": st.accounts["first_generated"][:a.users] or ["yamada.taro"]}
    ctx["client_credentials"] = oidc_rp.register(st, "cc-opaque", {
        "redirect_uris": [], "access_token_format": "opaque", "scopes": ["profile"]}, wait=False)
    ctx["client_credentials_jwt"] = oidc_rp.register(st, "cc-jwt", {
        "redirect_uris": [], "access_token_format": "jwt", "scopes": ["profile"]}, wait=False)
    ctx["app"] = oidc_rp.register(st, "bench-app", {
        "redirect_uris": [CB], "scopes": ["openid", "profile", "offline_access"],
        "access_token_format": "opaque"})
    cid, secret = ctx["client_credentials"]
    s, b = Conn(st.daemon.port).post("/oidc/token", {"grant_type": "client_credentials"},
                                     {"Authorization": basic(cid, secret)})
    ctx["token"] = json.loads(b)["access_token"]
    rts = []
    rp = oidc_rp.ScriptedRp(st, *ctx["app"], CB)
    for i in range(a.workers):
        rp.new_browser()
        res = rp.code_flow(ctx["users"][i], slapd.DEMO_PASSWORD,
                           scope="openid profile offline_access")
        rts.append(res["tokens"]["refresh_token"])
    ctx["refresh"] = rts
    scen = ["login", "client_credentials", "client_credentials_jwt", "refresh",
            "introspect"] if a.scenario == "all" else a.scenario.split(",")
    rows = [run(s, st, ctx, a.seconds, a.workers) for s in scen]
    print(f"{'scenario':24} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu ms/op':>10} "
          f"{'errors':>6}")
    for r in rows:
        print(f"{r['scenario']:24} {r['req_per_s']:9} {r['p50_ms']:8} {r['p99_ms']:8} "
              f"{r['daemon_cpu_ms_per_op']!s:>10} {r['errors']:6}")
    for r in rows:
        print(json.dumps(r))
    st.stop()


if __name__ == "__main__":
    main()
