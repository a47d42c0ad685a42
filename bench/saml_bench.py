#!/usr/bin/env python3
"""SAML benchmark: SP-initiated login and SSO-reuse throughput against the
whole stack (private slapd, redis-server, kakehashid with RSA keys from
certs/gen-dev-keys.sh, one registered SP) on loopback ports.

  login  AuthnRequest (HTTP-Redirect) -> login form -> password POST ->
         resume -> signed Response (4 HTTP requests, one LDAP bind)
  reuse  AuthnRequest with an SSO session cookie -> signed Response
         (1 HTTP request: parse, replay-cache SET NX, session read, sign,
         session write)

Reports logins/s, p50/p99 latency of one whole login, and kakehashid CPU
(user+sys from /proc) per login. Each worker process drives its own
keep-alive connection; every AuthnRequest has a fresh ID (the replay cache
would refuse a repeat).

  bench/saml_bench.py [--build DIR] [--concurrency 1,4] [--requests N]
                      [--mode login,reuse] [--key-bits 2048|3072] [--json FILE]
"""

import argparse
import base64
import http.client
import json
import multiprocessing as mp
import os
import re
import secrets
import subprocess
import sys
import time
import urllib.parse
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "lib"))

SP_METADATA = """<?xml version="1.0"?>
<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="https://bench-sp.example/sp">
 <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol">
  <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"
      Location="https://bench-sp.example/acs" index="0"/>
 </md:SPSSODescriptor>
</md:EntityDescriptor>"""
ENTITY = "https://bench-sp.example/sp"


def authn_query(port):
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    xml = ('<samlp:AuthnRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
           'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" '
           f'ID="_{secrets.token_hex(16)}" Version="2.0" IssueInstant="{now}" '
           f'Destination="http://127.0.0.1:{port}/saml/sso">'
           f'<saml:Issuer>{ENTITY}</saml:Issuer></samlp:AuthnRequest>')
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(xml.encode()) + c.flush()
    return ("SAMLRequest=" + urllib.parse.quote(base64.b64encode(raw).decode(), safe="")
            + "&RelayState=%2Fapp")


class Conn:
    def __init__(self, port):
        self.port = port
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        self.cookies = {}

    def req(self, method, path, body=None):
        h = {"Accept-Language": "ja"}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if body is not None:
            body = urllib.parse.urlencode(body)
            h["Content-Type"] = "application/x-www-form-urlencoded"
        for attempt in (0, 1):
            try:
                self.c.request(method, path, body=body, headers=h)
                r = self.c.getresponse()
                data = r.read()
                break
            except (http.client.HTTPException, OSError):
                self.c.close()
                self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt:
                    raise
        for k, v in r.getheaders():
            if k.lower() == "set-cookie":
                name, _, rest = v.partition("=")
                val = rest.split(";", 1)[0]
                if "Max-Age=0" in v or not val:
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = val
        return r.status, r.getheader("Location"), data


def one_login(conn, user, password):
    s, loc, _ = conn.req("GET", "/saml/sso?" + authn_query(conn.port))
    if s != 303 or not loc or "/login?p=" not in loc:
        return False
    s, _, page = conn.req("GET", loc)
    m = re.search(rb'name="csrf" value="([^"]+)"', page)
    p = re.search(rb'name="p" value="([^"]+)"', page)
    if s != 200 or not m or not p:
        return False
    s, loc, _ = conn.req("POST", "/login", {"csrf": m.group(1).decode(), "p": p.group(1).decode(),
                                            "username": user, "password": password})
    if s != 303 or not loc:
        return False
    s, _, page = conn.req("GET", loc)
    return s == 200 and b"SAMLResponse" in page


def one_reuse(conn):
    s, _, page = conn.req("GET", "/saml/sso?" + authn_query(conn.port))
    return s == 200 and b"SAMLResponse" in page


def worker(args):
    port, mode, n, users, password, seed = args
    conn = Conn(port)
    lat, fails = [], 0
    if mode == "reuse":
        one_login(conn, users[seed % len(users)], password)
    for i in range(n):
        t0 = time.perf_counter()
        if mode == "login":
            conn.cookies.pop("kh_session", None)
            good = one_login(conn, users[(seed * 7919 + i) % len(users)], password)
        else:
            good = one_reuse(conn)
        lat.append(time.perf_counter() - t0)
        fails += not good
    return lat, fails


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        parts = f.read().rsplit(")", 1)[1].split()
    return int(parts[11]) + int(parts[12])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.environ.get("KH_BUILD_DIR"))
    ap.add_argument("--concurrency", default="1,4")
    ap.add_argument("--requests", type=int, default=2000)
    ap.add_argument("--mode", default="login,reuse")
    ap.add_argument("--users", type=int, default=500)
    ap.add_argument("--key-bits", type=int, default=2048)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.build:
        os.environ["KH_BUILD_DIR"] = os.path.abspath(a.build)
    import khtest
    import stack
    import saml_stack
    kd = khtest.tmpdir("kh-bench-keys-")
    key, cert = os.path.join(kd, "rsa.key"), os.path.join(kd, "rsa.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", f"rsa:{a.key_bits}", "-nodes", "-sha256",
                    "-days", "30", "-subj", "/CN=bench", "-keyout", key, "-out", cert],
                   check=True, capture_output=True)
    st = stack.Stack(count=a.users, slapd_loglevel="0", overrides={
        "keys.rsa_key": key, "keys.rsa_cert": cert, "registry.poll_ms": 100,
        "login.min_delay_ms": 0, "login.max_delay_ms": 0, "server.threads": os.cpu_count() * 2,
        "log.level": "warn"})
    st.start()
    asan = b"__asan_init" in open(khtest.binary("kakehashid"), "rb").read()
    if asan:
        print("# WARNING: kakehashid is built with AddressSanitizer: figures are not the product's")
    saml_stack.register(st, "bench", ENTITY, SP_METADATA, attributes=[
        {"source": "mail", "name": "mail"}, {"source": "display_name", "name": "displayName"}])
    users = [u for u in st.users if "." in u and u not in (
        "locked.user", "expired.user", "reset.user", "grace.user", "expiring.user")]
    pid = st.daemon.proc.pid
    results = []
    for mode in a.mode.split(","):
        for conc in [int(x) for x in a.concurrency.split(",")]:
            per = max(1, a.requests // conc)
            with mp.Pool(conc) as pool:
                pool.map(worker, [(st.daemon.port, mode, 20, users, st.password, 1000 + i)
                                  for i in range(conc)])  # warm-up
                c0, t0 = cpu_ticks(pid), time.perf_counter()
                out = pool.map(worker, [(st.daemon.port, mode, per, users, st.password, i)
                                        for i in range(conc)])
                el, c1 = time.perf_counter() - t0, cpu_ticks(pid)
            lat = sorted(x for o in out for x in o[0])
            fails = sum(o[1] for o in out)
            n = len(lat)
            res = {"mode": mode, "concurrency": conc, "logins": n, "failures": fails,
                   "logins_per_s": round(n / el, 1),
                   "p50_ms": round(lat[n // 2] * 1000, 2),
                   "p99_ms": round(lat[min(n - 1, int(n * 0.99))] * 1000, 2),
                   "daemon_cpu_ms_per_login": round((c1 - c0) * 1000 / os.sysconf("SC_CLK_TCK") / n, 3),
                   "key_bits": a.key_bits, "asan": asan}
            results.append(res)
            print(json.dumps(res), flush=True)
    st.stop()
    if a.json:
        with open(a.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
