#!/usr/bin/env python3
"""One SSO session across protocols: a browser signs in once at a SAML SP
(python3-pysaml2), then reaches an OIDC relying party without a second
password prompt; RP-initiated OIDC logout ends the one shared session, SAML
SP included (front-channel), after which both ask for the password again."""

import os
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import oidc_rp  # noqa: E402
import pysaml2_sp  # noqa: E402
import saml_browser  # noqa: E402
import saml_stack  # noqa: E402
import slapd  # noqa: E402
import stack  # noqa: E402

os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "lib", "lsan_lasso.supp"))
PW = slapd.DEMO_PASSWORD
CB = "http://127.0.0.1:9/cb"
BYE = "http://127.0.0.1:9/bye"

work = khtest.tmpdir("kh-cross-")
st = stack.Stack(overrides=oidc_rp.overrides(work, {"login.min_delay_ms": 10,
                                                     "registry.poll_ms": 100}))
try:
    st.start()
    IDP = f"http://127.0.0.1:{st.daemon.port}"
    md = st.daemon.client().get("/saml/metadata").text
    py = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-pysaml2-")).start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
saml_stack.register(st, "pysaml2", py.entity_id, py.metadata(), nameid_format="persistent",
                    attributes=[{"source": "display_name", "name": "displayName"}])
cid, secret = oidc_rp.register(st, "portal", {
    "redirect_uris": [CB], "post_logout_redirect_uris": [BYE],
    "token_endpoint_auth_method": "client_secret_basic", "scopes": ["openid", "profile"]})


def client_known():
    return st.daemon.client().get(f"/oidc/authorize?response_type=code&client_id={cid}"
                                  f"&redirect_uri={urllib.parse.quote(CB, safe='')}"
                                  "&scope=openid&code_challenge=" + "a" * 43 +
                                  "&code_challenge_method=S256").status != 400


deadline = time.time() + 10
while not client_known() and time.time() < deadline:
    time.sleep(0.1)
b = saml_browser.Browser(username="yamada.taro", password=PW)
p = b.go(py.base + "/login?binding=redirect")
ok(p.status == 200 and p.url == py.base + "/acs" and b.logins == 1,
   "SAML: signed in once at the pysaml2 SP", f"{p.status} {p.url} {b.trail[-5:]}")
ok(p.json().get("attributes", {}).get("displayName") == ["山田 太郎"] if p.status == 200 else False,
   "SAML: the SP sees 山田 太郎")

verifier, challenge = oidc_rp.pkce()
q = urllib.parse.urlencode({"response_type": "code", "client_id": cid, "redirect_uri": CB,
                            "scope": "openid profile", "state": "s1", "nonce": "n1",
                            "code_challenge": challenge, "code_challenge_method": "S256"})
p = b.go(IDP + "/oidc/authorize?" + q,
         stop=lambda pg: (pg.header("Location") or "").startswith(CB))
loc = p.header("Location") or ""
code = urllib.parse.parse_qs(urllib.parse.urlsplit(loc).query).get("code", [None])[0]
ok(code is not None and b.logins == 1,
   "OIDC: the same browser gets a code without a second password prompt", (loc, b.trail[-5:]))
rp = oidc_rp.ScriptedRp(st, cid, secret, CB)
r, tokens = rp.exchange(code, verifier)
claims = oidc_rp.jwt_parts(tokens["id_token"])[1] if tokens and "id_token" in tokens else {}
ok(claims.get("name") == "山田 太郎" and claims.get("sub") == "yamada.taro",
   "OIDC: the ID token is for the same user", claims)
ok("pwd" in (claims.get("amr") or []), "OIDC: amr says how the one sign-in happened", claims)

lq = urllib.parse.urlencode({"id_token_hint": tokens.get("id_token", "") if tokens else "",
                             "post_logout_redirect_uri": BYE, "state": "bye"})
p = b.go(IDP + "/oidc/logout?" + lq, stop=lambda pg: (pg.header("Location") or "").startswith(BYE))
ok(p.status in (200, 302, 303), "OIDC: RP-initiated logout runs", f"{p.status} {b.trail[-6:]}")
ok(any(u.startswith(py.base + "/slo") for _, u, _ in b.trail),
   "the logout visits the SAML SP's SingleLogoutService", b.trail[-8:])
w = b.request("GET", py.base + "/whoami")
ok(w.status == 401, "the SAML SP has ended its session", w.text[:200])
p = b.go(py.base + "/login?binding=redirect")
ok(b.logins == 2, "the shared SSO session is gone: the password is asked again", b.trail[-5:])
ok(st.stop() == 0, "the daemon stops cleanly", st.daemon.log_tail())
khtest.done()
