#!/usr/bin/env python3
"""Real relying parties nobody on the team wrote, against kakehashid's OpenID
Provider:

  1. Apache httpd + mod_auth_openidc (Debian), a private instance on a free
     loopback port, configured only with OIDCProviderMetadataURL (our
     discovery), PKCE S256 and client_secret_basic; a CGI prints the
     OIDC_CLAIM_* variables it receives. Driven by a scripted browser
     (http.client, redirects followed by hand, our login form posted with
     its csrf), then RP-initiated logout through mod_auth_openidc.
  2. The same Apache RP driven by headless Chromium (tests/e2e/oidc_rp.mjs,
     playwright-core, tests/e2e/lib/browser.mjs).
  3. The npm openid-client library (tests/e2e/oidc_client.mjs): discovery,
     code flow with PKCE, userinfo, refresh, introspection, revocation and
     end-session URL. A failure when openid-client is not
     installed in tests/e2e/node_modules.

TAP on stdout. KH_BUILD_DIR names the build tree."""

import json
import os
import subprocess
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import openidc_apache  # noqa: E402
import khtest  # noqa: E402
import oidc_rp  # noqa: E402
import slapd  # noqa: E402
from stack import Stack  # noqa: E402

ok = khtest.ok
USER, NAME = "yamada.taro", "山田 太郎"
PW = slapd.DEMO_PASSWORD
E2E = os.path.join(khtest.ROOT, "tests", "e2e")

start_apache = openidc_apache.start_apache


def claims_of(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition("=")
        out[k] = v
    return out


def scripted(st, a, idp):
    b = oidc_rp.Browser()
    r = b.go(a.url("/protected/claims"))
    ok(r.url.startswith(idp + "/login") and 'name="password"' in r.text,
       "mod_auth_openidc: unauthenticated visit lands on our login page",
       f"{r.status} {r.url} {b.trail[-4:]}")
    auth_req = next((u for m, u, s in b.trail if "/oidc/authorize?" in u), "")
    q = oidc_rp.query_of(auth_req)
    ok(q.get("code_challenge_method") == "S256" and q.get("code_challenge"),
       "mod_auth_openidc: sends PKCE S256", auth_req)
    r = b.login(r, USER, PW)
    c = claims_of(r.text)
    ok(r.status == 200 and r.url == a.url("/protected/claims") and
       c.get("OIDC_CLAIM_sub") == USER, "mod_auth_openidc: code flow completes, sub = uid",
       f"{r.status} {r.url}\n{r.text[:800]}\n{a.error_log()[-1500:]}")
    ok(c.get("OIDC_CLAIM_name") == NAME and c.get("OIDC_CLAIM_family_name") == "山田" and
       c.get("OIDC_CLAIM_given_name") == "太郎", "mod_auth_openidc: Japanese names arrive",
       r.text[:800])
    ok("it-admins" in c.get("OIDC_CLAIM_groups", "") and c.get("OIDC_CLAIM_department") ==
       "情報政策課" and c.get("OIDC_CLAIM_email"), "mod_auth_openidc: groups, org and email claims")
    # A second visit rides the RP session; a fresh RP session rides our SSO session.
    r = b.go(a.url("/protected/claims"))
    ok(r.status == 200 and claims_of(r.text).get("OIDC_CLAIM_sub") == USER,
       "mod_auth_openidc: RP session kept")
    # RP-initiated logout through mod_auth_openidc: it calls our end_session_endpoint.
    r = b.go(a.url("/protected/redirect_uri?logout=" +
                   urllib.parse.quote(a.url("/loggedout.html"), safe="")))
    went = [u for m, u, s in b.trail if "/oidc/logout?" in u]
    ok(r.status == 200 and "logged out of the RP" in r.text and went and
       "id_token_hint=" in went[-1], "mod_auth_openidc: RP-initiated logout via our "
       "end_session_endpoint back to the RP", f"{r.status} {r.url} {b.trail[-5:]}")
    r = b.go(a.url("/protected/claims"))
    ok(r.url.startswith(idp + "/login") and 'name="password"' in r.text,
       "after logout: our SSO session is gone too (password asked again)", r.url)


def chromium(a, idp):
    if not os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core")):
        ok(False, "chromium: tests/e2e/node_modules/playwright-core missing (npm ci)")
        return
    env = dict(os.environ, KH_RP_URL=a.url("/protected/claims"), KH_IDP=idp, KH_USER=USER,
               KH_PASSWORD=PW, KH_EXPECT_NAME=NAME)
    p = subprocess.run(["node", os.path.join(E2E, "oidc_rp.mjs")], env=env, cwd=E2E,
                       capture_output=True, text=True, timeout=180)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok ", "not ok "))]
    for ln in lines:
        name = ln.split(" - ", 1)[-1]
        ok(ln.startswith("ok "), "chromium: " + name, p.stderr[-1500:])
    if not lines or p.returncode != 0:
        ok(False, "chromium: browser script ran", p.stdout[-1500:] + p.stderr[-1500:])


def openid_client(st, idp):
    if not (os.path.isdir(os.path.join(E2E, "node_modules", "openid-client")) or
            os.environ.get("KH_OPENID_CLIENT")):
        ok(False, "openid-client is installed in tests/e2e/node_modules (npm ci there)")
        return
    cb = "http://127.0.0.1:9/cb"
    cid, secret = oidc_rp.register(st, "node-rp", {
        "redirect_uris": [cb], "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "profile", "email", "offline_access"]})
    env = dict(os.environ, KH_IDP=idp, KH_CLIENT_ID=cid, KH_CLIENT_SECRET=secret,
               KH_REDIRECT_URI=cb, KH_USER=USER, KH_PASSWORD=PW, KH_EXPECT_NAME=NAME)
    p = subprocess.run(["node", os.path.join(E2E, "oidc_client.mjs")], env=env, cwd=E2E,
                       capture_output=True, text=True, timeout=120)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith(("ok ", "not ok "))]
    for ln in lines:
        ok(ln.startswith("ok "), "openid-client: " + ln.split(" - ", 1)[-1],
           p.stdout[-1500:] + p.stderr[-1500:])
    if not lines or p.returncode != 0:
        ok(False, "openid-client: script ran", p.stdout[-1500:] + p.stderr[-1500:])


def main():
    work = khtest.tmpdir("kh-oidc-rp-")
    try:
        st = Stack(count=50, overrides=oidc_rp.overrides(work), workdir=work).start()
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"stack: {e}")
    idp = f"http://127.0.0.1:{st.daemon.port}"
    try:
        a = start_apache(st, idp)
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"apache: {e}")
    try:
        scripted(st, a, idp)
    except Exception as e:  # noqa: BLE001
        ok(False, "mod_auth_openidc scripted flow", f"{e!r}\n{a.error_log()[-2000:]}")
    try:
        chromium(a, idp)
    except Exception as e:  # noqa: BLE001
        ok(False, "chromium flow", repr(e))
    try:
        openid_client(st, idp)
    except Exception as e:  # noqa: BLE001
        ok(False, "openid-client flow", repr(e))
    a.stop()
    rc = st.stop()
    log = st.daemon.log_text()
    leaks = log[log.find("ERROR: LeakSanitizer"):] if "LeakSanitizer" in log else ""
    ok("ERROR: AddressSanitizer" not in log and "runtime error" not in log and
       "idp/oidc/" not in leaks, "kakehashid: no sanitizer report from idp/oidc",
       log[-2000:])
    if rc != 0:
        khtest.diag(f"kakehashid exit status {rc}")
    khtest.done()


if __name__ == "__main__":
    main()
