#!/usr/bin/env python3
"""SAML web SSO and single logout with real SPs nobody on the team wrote:
Apache2 + mod_auth_mellon and a python3-pysaml2 SP, through a scripted
browser. SP-initiated (Redirect and POST bindings), attributes (Japanese
display name), persistent NameIDs, SSO reuse across SPs, IdP-initiated SSO,
ForceAuthn, IsPassive, RequestedAuthnContext, and SLO across both SPs."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import mellon_sp  # noqa: E402
import pysaml2_sp  # noqa: E402
import saml_stack  # noqa: E402
from saml_browser import Browser  # noqa: E402

os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    os.path.dirname(__file__), "..", "lib", "lsan_lasso.supp"))
st = saml_stack.saml_stack(count=50)
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
IDP = f"http://127.0.0.1:{d.port}"
PW = st.password
ATTRS = [{"source": "mail", "name": "mail"},
         {"source": "display_name", "name": "displayName"},
         {"source": "groups", "name": "groups"},
         {"source": "uid", "name": "uid"}]

# --- metadata ---------------------------------------------------------------
c = d.client()
r = c.get("/saml/metadata")
md = r.text
ok(r.status == 200 and "samlmetadata+xml" in (r.header("Content-Type") or ""),
   "GET /saml/metadata answers SAML metadata", r.status)
ok(f'entityID="{IDP}/saml/metadata"' in md, "entityID defaults to base_url + /saml/metadata")
ok(md.count("SingleSignOnService") == 2 and md.count("SingleLogoutService") == 2
   and "HTTP-Redirect" in md and "HTTP-POST" in md, "SSO and SLO for Redirect and POST")
ok("nameid-format:persistent" in md and "nameid-format:transient" in md
   and "emailAddress" in md, "NameID formats advertised")
ok("<ds:X509Certificate>" in md and "rsa-sha256" in md and "SignatureValue" in md,
   "metadata carries the certificate and is signed with RSA-SHA256")

mdfile = os.path.join(khtest.tmpdir("kh-md-"), "idp.xml")
with open(mdfile, "w", encoding="utf-8") as f:
    f.write(md)
v = __import__("subprocess").run(
    ["xmlsec1", "--verify", "--pubkey-cert-pem", st.overrides["keys.rsa_cert"], "--id-attr:ID",
     "urn:oasis:names:tc:SAML:2.0:metadata:EntityDescriptor", mdfile], capture_output=True, text=True)
ok(v.returncode == 0, "xmlsec1 verifies the metadata signature with the IdP certificate", v.stderr[-500:])

# --- SPs --------------------------------------------------------------------
try:
    py = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-pysaml2-")).start()
    mel = mellon_sp.MellonSP(md, khtest.tmpdir("kh-mellon-")).start()
except Exception as e:  # noqa: BLE001
    khtest.bail(f"SP fixture: {e}")
saml_stack.register(st, "pysaml2", py.entity_id, py.metadata(), nameid_format="persistent",
                    attributes=ATTRS)
saml_stack.register(st, "mellon", mel.entity_id, mel.metadata(), nameid_format="persistent",
                    attributes=ATTRS + [{"source": "mail", "name":
                                         "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                                         "name_format": "uri"}])

# --- pysaml2, SP-initiated, HTTP-Redirect ------------------------------------
b = Browser("yamada.taro", PW)
p = b.go(py.base + "/login?binding=redirect&relay=/app%3Fx%3D1%26y%3D%3Cz%3E")
ok(p.status == 200 and p.url == py.base + "/acs", "pysaml2: Redirect-binding login ends at the ACS",
   f"{p.status} {p.url} {p.text[:400]} {d.log_tail(5)}")
info = p.json() if p.status == 200 else {}
attrs = info.get("attributes", {})
ok(attrs.get("displayName") == ["山田 太郎"], "pysaml2 sees the Japanese display name intact", attrs)
ok(attrs.get("mail") == ["yamada.taro@pref.example.lg.jp"] and attrs.get("uid") == ["yamada.taro"],
   "pysaml2 sees mail and uid", attrs)
ok(len(attrs.get("groups", [])) >= 2 and "情報政策課" in attrs.get("groups", []),
   "groups arrive multi-valued", attrs.get("groups"))
ok(info.get("name_id_format", "").endswith("persistent")
   and re.fullmatch(r"[A-Za-z0-9_-]{43}", info.get("name_id", "")) is not None,
   "persistent NameID is opaque (256-bit HMAC)", info.get("name_id"))
ok("yamada" not in info.get("name_id", ""), "NameID does not reveal the uid")
ok(info.get("relay_state") == "/app?x=1&y=<z>", "RelayState comes back unchanged",
   info.get("relay_state"))
ok(info.get("authn_class", "").endswith(":Password"), "AuthnContextClassRef reflects a password sign-in",
   info.get("authn_class"))
ok(b.logins == 1, "one login form for the first SP")
nid1 = info.get("name_id")
sidx1 = info.get("session_index", "")
ok(re.fullmatch(r"_[A-Za-z0-9_-]{42}", sidx1 or "") is not None, "SessionIndex is opaque", sidx1)

# --- SSO reuse: mellon without a second login --------------------------------
p = b.go(mel.base + "/secret/env")
env = p.json() if p.status == 200 and p.text.startswith("{") else {}
ok(p.status == 200 and b.logins == 1, "mellon: SSO reuse without a second login form",
   f"{p.status} {p.url} logins={b.logins} {p.text[:300]} {mel.error_log()[-800:]}")
ok(env.get("MELLON_displayName") == "山田 太郎", "mellon sees the Japanese display name", env)
ok(env.get("MELLON_http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress")
   == "yamada.taro@pref.example.lg.jp" or any("emailaddress" in k for k in env),
   "renamed attribute (mail -> WS-Fed emailaddress claim) is released", sorted(env))
mel_nid = env.get("MELLON_NAME_ID") or env.get("REMOTE_USER")
ok(mel_nid and mel_nid != nid1, "persistent NameIDs differ per SP", (mel_nid, nid1))

# --- HTTP-POST binding + same NameID on a second login ----------------------
b2 = Browser("yamada.taro", PW)
p = b2.go(py.base + "/login?binding=post")
info2 = p.json() if p.status == 200 else {}
ok(p.status == 200 and info2.get("attributes", {}).get("displayName") == ["山田 太郎"],
   "pysaml2: POST-binding login", f"{p.status} {p.url} {p.text[:600]} {b2.trail}")
ok(info2.get("name_id") == nid1, "persistent NameID is stable across logins", (info2.get("name_id"), nid1))

# --- another user gets another NameID ---------------------------------------
other = "sato.hanako"
b3 = Browser(other, PW)
p = b3.go(py.base + "/login?binding=redirect")
ok(p.status == 200 and p.json().get("name_id") not in (None, nid1), "another user, another NameID")

# --- ForceAuthn asks for the password again ---------------------------------
n = b.logins
p = b.go(py.base + "/login?binding=redirect&force=1")
ok(p.status == 200 and b.logins == n + 1, "ForceAuthn shows the login form even with a session",
   f"{p.status} logins {n}->{b.logins}")

# --- IsPassive without a session: NoPassive to the SP ------------------------
bp = Browser(None, None)
p = bp.go(py.base + "/login?binding=redirect&passive=1")
ok(p.status != 200 or "NoPassive" in p.text or "error" in p.text.lower(),
   "IsPassive without a session gets a status response, no login form", p.text[:300])
ok(not any("/login?" in u and u.startswith(IDP) for _, u, _ in bp.trail),
   "IsPassive never shows the login page", bp.trail)
ok(any(u.startswith(py.base + "/acs") for _, u, _ in bp.trail), "the NoPassive response goes to the ACS")

# --- IsPassive with a session: signed in silently ---------------------------
p = b.go(py.base + "/login?binding=redirect&passive=1")
ok(p.status == 200 and p.json().get("name_id") == nid1, "IsPassive with a session signs in silently")

# --- RequestedAuthnContext ---------------------------------------------------
p = b.go(py.base + "/login?binding=redirect&ctx=urn:oasis:names:tc:SAML:2.0:ac:classes:Password")
ok(p.status == 200 and p.json().get("authn_class", "").endswith(":Password"),
   "RequestedAuthnContext Password (exact) is met")
p = b.go(py.base + "/login?binding=redirect&ctx=urn:oasis:names:tc:SAML:2.0:ac:classes:Smartcard")
ok(p.status != 200 or "NoAuthnContext" in p.text or "error" in p.text.lower(),
   "an unavailable AuthnContext (Smartcard) gets NoAuthnContext", p.text[:300])
ok("NoAuthnContext" in d.log_text() or "no_authn_context" in d.log_text().lower(),
   "the IdP logs the NoAuthnContext status")

# --- IdP-initiated -----------------------------------------------------------
bi = Browser("yamada.taro", PW)
p = bi.go(IDP + "/saml/init?sp=" + py.entity_id + "&RelayState=/idp-init")
iinfo = p.json() if p.status == 200 else {}
ok(p.status == 200 and iinfo.get("attributes", {}).get("displayName") == ["山田 太郎"],
   "IdP-initiated SSO to pysaml2 (login first)", f"{p.status} {p.text[:300]}")
ok(iinfo.get("relay_state") == "/idp-init" and iinfo.get("in_response_to") in (None, ""),
   "IdP-initiated: RelayState kept, no InResponseTo", iinfo)
p = bi.go(IDP + "/saml/init?sp=" + mel.entity_id + "&RelayState=" + mel.base + "/secret/env")
ok(p.status == 200 and bi.logins == 1 and "MELLON_displayName" in p.text,
   "IdP-initiated SSO to mellon reuses the session", f"{p.status} {p.url} {p.text[:300]}")

# --- Single logout across both SPs (started at pysaml2) ---------------------
# b's IdP session was rotated by the ForceAuthn re-login: the SAML SPs of the
# old session must have been carried over, so SLO still reaches mellon.
p = b.go(mel.base + "/secret/env")
ok(p.status == 200 and b.logins == 2, "mellon session present before SLO",
   f"{p.status} {p.url} {b.logins} {p.text[-700:]} {b.trail[-6:]}")
b.trail.clear()
p = b.go(py.base + "/logout")
ok(p.status == 200 and '"logout_response": true' in p.text,
   "SLO from pysaml2 ends with a successful LogoutResponse at pysaml2", f"{p.status} {p.text[:300]}")
ok(any(u.startswith(mel.base + "/mellon/logout") for _, u, _ in b.trail),
   "the browser visited mellon's SingleLogoutService", b.trail)
ok("kh_session" not in b.cookies, "IdP session cookie cleared")
p = b.request("GET", py.base + "/whoami")
ok(p.status == 401, "pysaml2 session gone")
p = b.request("GET", mel.base + "/secret/env")
ok(p.status in (302, 303) and ("/saml/sso" in (p.header("Location") or "")
                               or "/mellon/login" in (p.header("Location") or "")),
   "mellon session gone (redirects to the IdP again)", f"{p.status} {p.header('Location')}")
p = b.request("GET", IDP + "/login")
ok('name="password"' in p.text, "IdP session gone: login form again")

# --- SLO started at mellon ----------------------------------------------------
b4 = Browser("yamada.taro", PW)
p = b4.go(mel.base + "/secret/env")
ok(p.status == 200 and "MELLON_displayName" in p.text, "fresh browser: mellon SP-initiated login",
   f"{p.status} {p.url} {p.text[-700:]} {b4.trail[-6:]}")
b4.go(py.base + "/login?binding=redirect")
b4.trail.clear()
p = b4.go(mel.base + "/mellon/logout?ReturnTo=" + mel.base + "/bye")
ok(any(u.startswith(py.base + "/slo") for _, u, _ in b4.trail),
   "SLO from mellon propagates to pysaml2", b4.trail)
ok(p.url.startswith(mel.base + "/bye"), "mellon gets its LogoutResponse and returns the user",
   f"{p.status} {p.url}")
p = b4.request("GET", py.base + "/whoami")
ok(p.status == 401, "pysaml2 logged out by the IdP's LogoutRequest")

# --- SLO over HTTP-POST, arriving cross-site without the IdP cookie -----------
# (SameSite=Lax keeps kh_session off a cross-site POST: the IdP posts the
# message again from its own origin, which carries the cookie.)
from saml_browser import forms  # noqa: E402
b6 = Browser("yamada.taro", PW)
b6.go(py.base + "/login?binding=redirect")
b6.go(mel.base + "/secret/env")
p = b6.request("GET", py.base + "/logout?binding=post")
fs = forms(p.text)
ok(fs and "SAMLRequest" in fs[0][1], "pysaml2 builds a POST-binding LogoutRequest", p.text[:300])
saved = b6.cookies.pop("kh_session", None)
r = b6.request("POST", fs[0][0], fs[0][1])
b6.cookies["kh_session"] = saved
rf = forms(r.text)
ok(r.status == 200 and rf and rf[0][0].endswith("/saml/slo?r=1") and "<script>" in r.text,
   "cookie-less POST LogoutRequest is re-posted from the IdP's origin", r.text[:400])
b6.trail.clear()
p = b6.go(IDP + "/saml/slo?r=1", method="POST", form=rf[0][1])
ok('"logout_response": true' in p.text and any(u.startswith(mel.base + "/mellon/logout")
                                                for _, u, _ in b6.trail),
   "POST-binding SLO completes across both SPs", (p.text[:200], b6.trail[-4:]))
ok("kh_session" not in b6.cookies, "IdP session ended by the POST-binding SLO")

# --- encrypted assertion, signed response --------------------------------------
import base64  # noqa: E402
saml_stack.register(st, "pysaml2", py.entity_id, py.metadata(), nameid_format="persistent",
                    attributes=ATTRS, encrypt_assertion=True, sign_response=True)
be = Browser("yamada.taro", PW)
pg = be.go(py.base + "/login?binding=redirect",
           stop=lambda x: x.url.startswith(IDP + "/saml/sso") and "SAMLResponse" in x.text)
fs = forms(pg.text)
xml = base64.b64decode(fs[0][1]["SAMLResponse"]).decode() if fs else ""
ok("EncryptedAssertion" in xml and "山田" not in xml and "yamada" not in xml,
   "encrypted assertion: no attribute or NameID in clear", xml[:300])
ok(re.search(r"<samlp:Response[^>]*>\s*<saml:Issuer[^<]*</saml:Issuer>\s*<Signature", xml) is not None
   or xml.count("SignatureValue") >= 1, "the Response itself is signed", xml[:600])
ok("aes256-cbc" in xml and "rsa-oaep" in xml, "AES-256 + RSA-OAEP key transport")
p = be.request("POST", fs[0][0], fs[0][1]) if fs else None
ok(p is not None and p.json().get("attributes", {}).get("displayName") == ["山田 太郎"],
   "pysaml2 decrypts the assertion and sees the attributes", p.text[:300] if p else None)
saml_stack.register(st, "pysaml2", py.entity_id, py.metadata(), nameid_format="transient",
                    attributes=ATTRS, sign_response=True, sign_assertion=False)
pg = Browser("yamada.taro", PW).go(
    py.base + "/login?binding=redirect",
    stop=lambda x: x.url.startswith(IDP + "/saml/sso") and "SAMLResponse" in x.text)
fs = forms(pg.text)
xml = base64.b64decode(fs[0][1]["SAMLResponse"]).decode() if fs else ""
ok(xml.count("</SignatureValue>") == 1 and xml.find("</SignatureValue>") < xml.find("<saml:Assertion")
   and "transient" in xml, "sign_assertion=false: only the Response is signed; transient NameID",
   xml[:400])

# --- sign-out at the IdP (/logout -> kh_saml_logout_begin_or_respond) ----------
saml_stack.register(st, "pysaml2", py.entity_id, py.metadata(), nameid_format="persistent",
                    attributes=ATTRS)
b5 = Browser("yamada.taro", PW)
b5.go(py.base + "/login?binding=redirect")
b5.go(mel.base + "/secret/env")
p = b5.request("GET", IDP + "/logout")
lf = [f for f in forms(p.text) if f[0].endswith("/logout")]
ok(bool(lf), "the IdP's sign-out confirmation has a form", p.text[-400:])
b5.trail.clear()
p = b5.go(IDP + "/logout", method="POST", form=lf[0][1] if lf else {})
visited = [u for _, u, _ in b5.trail]
ok(any(u.startswith(py.base + "/slo") for u in visited)
   and any(u.startswith(mel.base + "/mellon/logout") for u in visited),
   "IdP-initiated logout visits both SPs' SingleLogoutService", visited)
ok(p.url.startswith(IDP + "/logout?done=1") and p.status == 200,
   "and ends at /logout?done=1", f"{p.status} {p.url}")
ok(b5.request("GET", py.base + "/whoami").status == 401, "pysaml2 session ended by /logout")
r = b5.request("GET", mel.base + "/secret/env")
ok(r.status in (302, 303), "mellon session ended by /logout", r.status)
ok("kh_session" not in b5.cookies, "IdP session ended by /logout")
keys = st.redis.keys()
ok(not any(k.startswith(b"kh:saml-slo:") for k in keys), "no SLO state left behind")

ok(d.proc.poll() is None, "kakehashid still running")
ok("AddressSanitizer" not in d.log_text(), "no sanitizer report", d.log_tail(20))
rc = st.stop()
mel.stop()
py.stop()
ok(rc == 0, "kakehashid exits 0", rc)
khtest.done()
