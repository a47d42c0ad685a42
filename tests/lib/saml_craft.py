"""Hand-made SAML messages for negative tests: AuthnRequests and
LogoutRequests with any ID, IssueInstant, Issuer or ACS URL, DEFLATE +
base64 for HTTP-Redirect, query signatures with `openssl dgst`, enveloped
XML signatures with the xmlsec1 command (RSA-SHA256 or RSA-SHA1)."""

import base64
import datetime
import os
import secrets
import subprocess
import tempfile
import urllib.parse
import zlib

NS = ('xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" '
      'xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion"')
SIG_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SIG_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"


def instant(offset=0):
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=offset)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def new_id():
    return "_" + secrets.token_hex(16)


def authn_request(issuer, destination, acs=None, req_id=None, issue_instant=None, extra="",
                  doctype="", force=False):
    acs_attrs = ""
    if acs:
        acs_attrs = (f' AssertionConsumerServiceURL="{acs}" ProtocolBinding='
                     '"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST"')
    fa = ' ForceAuthn="true"' if force else ""
    return (f'{doctype}<samlp:AuthnRequest {NS} ID="{req_id or new_id()}" Version="2.0" '
            f'IssueInstant="{issue_instant or instant()}" Destination="{destination}"{acs_attrs}'
            f'{fa}>'
            f'<saml:Issuer>{issuer}</saml:Issuer>{extra}</samlp:AuthnRequest>')


def deflate_b64(xml):
    c = zlib.compressobj(9, zlib.DEFLATED, -15)
    raw = c.compress(xml.encode()) + c.flush()
    return base64.b64encode(raw).decode()


def redirect_query(xml, relay=None, key=None, sigalg=SIG_SHA256):
    q = "SAMLRequest=" + urllib.parse.quote(deflate_b64(xml), safe="")
    if relay is not None:
        q += "&RelayState=" + urllib.parse.quote(relay, safe="")
    if key is not None:
        q += "&SigAlg=" + urllib.parse.quote(sigalg, safe="")
        digest = "-sha1" if sigalg == SIG_SHA1 else "-sha256"
        sig = subprocess.run(["openssl", "dgst", digest, "-sign", key], input=q.encode(),
                             capture_output=True, check=True).stdout
        q += "&Signature=" + urllib.parse.quote(base64.b64encode(sig).decode(), safe="")
    return q


def sign_xml(xml, key, cert, root="AuthnRequest", sha1=False):
    """Enveloped signature right after the Issuer (SAML's schema order)."""
    sm = SIG_SHA1 if sha1 else SIG_SHA256
    dm = ("http://www.w3.org/2000/09/xmldsig#sha1" if sha1
          else "http://www.w3.org/2001/04/xmlenc#sha256")
    rid = xml.split(' ID="', 1)[1].split('"', 1)[0]
    tmpl = ('<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"><ds:SignedInfo>'
            '<ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
            f'<ds:SignatureMethod Algorithm="{sm}"/><ds:Reference URI="#{rid}"><ds:Transforms>'
            '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
            '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/></ds:Transforms>'
            f'<ds:DigestMethod Algorithm="{dm}"/><ds:DigestValue></ds:DigestValue></ds:Reference>'
            '</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue><ds:KeyInfo><ds:X509Data/>'
            '</ds:KeyInfo></ds:Signature>')
    i = xml.index("</saml:Issuer>") + len("</saml:Issuer>")
    doc = xml[:i] + tmpl + xml[i:]
    with tempfile.TemporaryDirectory() as d:
        p = os.path.join(d, "in.xml")
        with open(p, "w", encoding="utf-8") as f:
            f.write(doc)
        out = subprocess.run(["xmlsec1", "--sign", "--privkey-pem", f"{key},{cert}",
                              "--id-attr:ID", f"urn:oasis:names:tc:SAML:2.0:protocol:{root}", p],
                             capture_output=True, check=True)
    return out.stdout.decode()


def b64(xml):
    return base64.b64encode(xml.encode() if isinstance(xml, str) else xml).decode()
