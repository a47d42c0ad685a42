#!/usr/bin/env python3
"""SAML refusals: unknown SP, ACS URL not in metadata, missing / bad /
SHA-1 signatures, a tampered signed AuthnRequest, XML signature wrapping,
replayed AuthnRequest IDs, expired and future IssueInstant, oversized and
malformed messages, XXE and entity expansion (billion laughs) in a POSTed
AuthnRequest. Each gets a clear ja/en error page with a reference id, a log
line with the reason, and nothing is ever posted anywhere else."""

import os
import re
import sys
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import pysaml2_sp  # noqa: E402
import saml_craft as sc  # noqa: E402
import saml_stack  # noqa: E402

os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    os.path.dirname(__file__), "..", "lib", "lsan_lasso.supp"))
MAX = 16384
st = saml_stack.saml_stack(count=20, overrides={"saml.max_message_bytes": MAX,
                                                "server.max_body_bytes": 262144})
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
IDP = f"http://127.0.0.1:{d.port}"
SSO = IDP + "/saml/sso"
md = d.client().get("/saml/metadata").text
try:
    sp = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-sp1-")).start()
    sp2 = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-sp2-"), sign_requests=True).start()
except Exception as e:  # noqa: BLE001
    khtest.bail(f"SP fixture: {e}")
saml_stack.register(st, "sp1", sp.entity_id, sp.metadata())
saml_stack.register(st, "sp2", sp2.entity_id, sp2.metadata(), require_signed_requests=True)
ACS = sp.base + "/acs"
EVIL = "http://127.0.0.1:9/evil-acs"


def refused(r, code, name, status=None):
    """An error page with this code, a reference id, no form, no redirect."""
    good = (r.status >= 400 and f'data-code="{code}"' in r.text
            and re.search(r'id="reference">[0-9a-f]{16}<', r.text) is not None
            and "<form" not in r.text and r.header("Location") is None
            and (status is None or r.status == status))
    rid = r.find(r'id="reference">([0-9a-f]{16})<')
    logged = rid is not None and f"rid={rid}" in d.log_text() and f"error={code}" in d.log_text()
    ok(good and logged, name, f"{r.status} {r.text[-600:]}")
    return good


def get(query, lang="ja"):
    return d.client(accept_language=lang).get("/saml/sso?" + query)


def post(fields, path="/saml/sso"):
    return d.client().post(path, fields)


def signed_post(xml, sha1=False):
    return sc.b64(sc.sign_xml(xml, sp.key, sp.cert, sha1=sha1))


# --- baseline: a hand-made request is accepted (so refusals below mean something)
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO)))
ok(r.status == 303 and "/login?p=" in (r.header("Location") or ""),
   "baseline: a well-formed unsigned Redirect AuthnRequest goes to the login page",
   f"{r.status} {r.text[-300:]}")
r = post({"SAMLRequest": signed_post(sc.authn_request(sp.entity_id, SSO))})
ok(r.status == 303 and "/login?p=" in (r.header("Location") or ""),
   "baseline: a signed (RSA-SHA256) POST AuthnRequest is accepted", f"{r.status} {r.text[-300:]}")
r = get(sc.redirect_query(sc.authn_request(sp2.entity_id, SSO), relay="x", key=sp2.key))
ok(r.status == 303, "baseline: a signed Redirect AuthnRequest from an SP that must sign",
   f"{r.status} {r.text[-300:]}")

# --- unknown SP --------------------------------------------------------------
r = get(sc.redirect_query(sc.authn_request("https://unknown.example/sp", SSO)))
refused(r, "saml_unknown_sp", "unknown SP (Redirect) refused", 400)
ok("このサービスは Kakehashi に登録されていません" in r.text and 'lang="ja"' in r.text,
   "error page in Japanese")
r = get(sc.redirect_query(sc.authn_request("https://unknown.example/sp", SSO)), lang="en")
ok("not registered" in r.text and 'lang="en"' in r.text, "error page in English")
r = post({"SAMLRequest": sc.b64(sc.authn_request("https://unknown.example/sp", SSO))})
refused(r, "saml_unknown_sp", "unknown SP (POST) refused")
r = d.client().get("/saml/init?sp=https://unknown.example/sp")
refused(r, "saml_unknown_sp", "IdP-initiated for an unknown SP refused")

# --- ACS URL not in metadata -------------------------------------------------
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO, acs=EVIL)))
refused(r, "saml_bad_acs", "ACS URL not in the SP metadata refused")
ok(EVIL not in r.text, "the unregistered ACS URL appears nowhere in the answer")

# --- signatures --------------------------------------------------------------
r = get(sc.redirect_query(sc.authn_request(sp2.entity_id, SSO)))
refused(r, "saml_unsigned", "unsigned request from an SP that must sign (Redirect)")
r = post({"SAMLRequest": sc.b64(sc.authn_request(sp2.entity_id, SSO))})
refused(r, "saml_unsigned", "unsigned request from an SP that must sign (POST)")
q = sc.redirect_query(sc.authn_request(sp.entity_id, SSO), relay="a", key=sp.key)
tampered = q.replace("RelayState=a", "RelayState=b")
refused(get(tampered), "saml_bad_signature", "tampered Redirect query (RelayState changed) refused")
q = sc.redirect_query(sc.authn_request(sp.entity_id, SSO), key=sp2.key)
refused(get(q), "saml_bad_signature", "Redirect request signed with another SP's key refused")
sx = sc.sign_xml(sc.authn_request(sp.entity_id, SSO, acs=ACS), sp.key, sp.cert)
bad = sx.replace(ACS, ACS + "x")
refused(post({"SAMLRequest": sc.b64(bad)}), "saml_bad_signature",
        "tampered signed POST AuthnRequest (ACS URL changed) refused")
q = sc.redirect_query(sc.authn_request(sp.entity_id, SSO), key=sp.key, sigalg=sc.SIG_SHA1)
refused(get(q), "saml_weak_algorithm", "RSA-SHA1 Redirect signature refused")
r = post({"SAMLRequest": signed_post(sc.authn_request(sp.entity_id, SSO), sha1=True)})
refused(r, "saml_weak_algorithm", "RSA-SHA1 POST signature refused")

# XML signature wrapping: the signed original hides in Extensions, an evil
# request with another ID and the attacker's ACS URL becomes the root and
# carries the original's signature.
orig = sc.sign_xml(sc.authn_request(sp.entity_id, SSO), sp.key, sp.cert)
sig = re.search(r"<ds:Signature.*</ds:Signature>", orig, re.S).group(0)
inner = orig.replace(sig, "")
inner = re.sub(r"^<\?xml[^>]*\?>\s*", "", inner)
wrapped = (f'<samlp:AuthnRequest {sc.NS} ID="{sc.new_id()}" Version="2.0" '
           f'IssueInstant="{sc.instant()}" AssertionConsumerServiceURL="{EVIL}" '
           f'ProtocolBinding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST">'
           f'<saml:Issuer>{sp.entity_id}</saml:Issuer>{sig}'
           f'<samlp:Extensions>{inner}</samlp:Extensions></samlp:AuthnRequest>')
r = post({"SAMLRequest": sc.b64(wrapped)})
ok(r.status >= 400 and "<form" not in r.text and EVIL not in r.text,
   "XML signature wrapping refused, nothing posted", f"{r.status} {r.text[-400:]}")
wrapped2 = wrapped.replace(f' AssertionConsumerServiceURL="{EVIL}" ProtocolBinding='
                           '"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"', "")
r = post({"SAMLRequest": sc.b64(wrapped2)})
refused(r, "saml_bad_signature", "signature wrapping (evil root, signed child) refused as a bad signature")

# --- replay, time ------------------------------------------------------------
rid = sc.new_id()
q = sc.redirect_query(sc.authn_request(sp.entity_id, SSO, req_id=rid))
r1, r2 = get(q), get(q)
ok(r1.status == 303, "first use of an AuthnRequest ID accepted")
refused(r2, "saml_replay", "replayed AuthnRequest ID refused")
r = post({"SAMLRequest": sc.b64(sc.authn_request(sp.entity_id, SSO, req_id=rid))})
refused(r, "saml_replay", "the same ID over the other binding is a replay too")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO, issue_instant=sc.instant(-3600))))
refused(r, "saml_expired", "IssueInstant an hour ago refused")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO, issue_instant=sc.instant(+3600))))
refused(r, "saml_expired", "IssueInstant an hour ahead refused")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO, issue_instant=sc.instant(+60))))
ok(r.status == 303, "IssueInstant within clock_skew accepted")

# --- size and form -------------------------------------------------------------
pad = "<samlp:Extensions>" + "x" * (MAX + 100) + "</samlp:Extensions>"
r = post({"SAMLRequest": sc.b64(sc.authn_request(sp.entity_id, SSO, extra=pad))})
refused(r, "saml_too_large", "POST message over max_message_bytes refused", 413)
# highly compressible: small on the wire, large once inflated (deflate bomb)
bomb = sc.authn_request(sp.entity_id, SSO, extra="<!--" + "A" * (MAX * 4) + "-->")
r = get(sc.redirect_query(bomb))
refused(r, "saml_too_large", "Redirect message inflating past max_message_bytes refused", 413)
r = get("SAMLRequest=" + urllib.parse.quote("not base64 !!"))
refused(r, "saml_malformed", "garbage SAMLRequest refused")
good = sc.b64(sc.authn_request(sp.entity_id, SSO))
mid = len(good) // 8 * 4
r = post({"SAMLRequest": good[:mid] + "=" + good[mid + 1:]})
refused(r, "saml_malformed", "'=' inside a base64 SAMLRequest refused (found by fuzzing)")
r = post({"SAMLRequest": sc.b64("<samlp:AuthnRequest")})
refused(r, "saml_malformed", "truncated XML refused")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO)) + "&SAMLRequest=x")
refused(r, "saml_malformed", "repeated SAMLRequest parameter refused")
r = d.client().get("/saml/sso")
refused(r, "saml_malformed", "no SAMLRequest at all")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO), relay="r" * 2000))
refused(r, "saml_too_large", "RelayState over 1024 bytes refused")
r = get(sc.redirect_query(sc.authn_request(sp.entity_id, SSO).replace("AuthnRequest", "LogoutRequest")))
refused(r, "saml_malformed", "a LogoutRequest sent to /saml/sso refused")

# --- XXE and entity expansion in a POSTed AuthnRequest -----------------------
secret = os.path.join(khtest.tmpdir("kh-xxe-"), "secret.txt")
with open(secret, "w") as f:
    f.write("TOPSECRET-XXE")
xxe = sc.authn_request(sp.entity_id, SSO, doctype=(
    f'<!DOCTYPE r [<!ENTITY xxe SYSTEM "file://{secret}">]>')).replace(
    f"<saml:Issuer>{sp.entity_id}</saml:Issuer>", f"<saml:Issuer>{sp.entity_id}&xxe;</saml:Issuer>")
r = post({"SAMLRequest": sc.b64(xxe)})
refused(r, "saml_malformed", "XXE (external entity) refused")
ok("TOPSECRET" not in r.text and "TOPSECRET" not in d.log_text(), "the file never leaks")
lol = ('<!DOCTYPE lolz [<!ENTITY lol "lol">' + "".join(
    f'<!ENTITY lol{i} "{("&lol%s;" % (i - 1 if i > 1 else "")) * 10}">' for i in range(1, 10))
    + ']>')
billion = sc.authn_request(sp.entity_id, SSO, doctype=lol).replace(
    "</saml:Issuer>", "&lol9;</saml:Issuer>")
r = post({"SAMLRequest": sc.b64(billion)})
refused(r, "saml_malformed", "billion laughs refused")
r = get(sc.redirect_query(billion))
refused(r, "saml_malformed", "billion laughs over HTTP-Redirect refused")

# --- the SLO endpoint refuses the same way ------------------------------------
lr = (f'<samlp:LogoutRequest {sc.NS} ID="{sc.new_id()}" Version="2.0" IssueInstant="{sc.instant()}">'
      f'<saml:Issuer>https://unknown.example/sp</saml:Issuer>'
      f'<saml:NameID>x</saml:NameID></samlp:LogoutRequest>')
r = d.client().get("/saml/slo?" + sc.redirect_query(lr))
refused(r, "saml_unknown_sp", "LogoutRequest from an unknown SP refused")
r = d.client().get("/saml/slo?SAMLResponse=" + urllib.parse.quote(sc.deflate_b64(
    f'<samlp:LogoutResponse {sc.NS} ID="{sc.new_id()}" Version="2.0" IssueInstant="{sc.instant()}">'
    f'<saml:Issuer>{sp.entity_id}</saml:Issuer></samlp:LogoutResponse>')) + "&RelayState=" + "0" * 32)
refused(r, "saml_expired", "LogoutResponse for an unknown logout state refused")

ok(d.proc.poll() is None, "kakehashid still running")
ok("AddressSanitizer" not in d.log_text(), "no sanitizer report", d.log_tail(20))
rc = st.stop()
sp.stop()
sp2.stop()
ok(rc == 0, "kakehashid exits 0", rc)
khtest.done()
