#!/usr/bin/env python3
"""Registering SAML SPs through the admin API (admin/apps_saml.c): metadata
as XML or fetched from a URL, validation (DTD, not SP metadata, entityID
mismatch, unknown attribute source, no signing at all, non-https URL), the
running daemon picking the SP up at once, and updates (attribute renames)
taking effect for the next login."""

import hashlib
import json
import os
import secrets
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import pysaml2_sp  # noqa: E402
import saml_stack  # noqa: E402
from saml_browser import Browser  # noqa: E402

os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    os.path.dirname(__file__), "..", "lib", "lsan_lasso.supp"))
work = khtest.tmpdir("kh-saml-admin-")
token = secrets.token_urlsafe(32)
tokens = os.path.join(work, "admin-tokens")
with open(tokens, "w") as f:
    f.write(f"ops admin {hashlib.sha256(token.encode()).hexdigest()}\n")
st = saml_stack.saml_stack(count=20, overrides={"admin.tokens_file": tokens})
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
d = st.daemon
IDP = f"http://127.0.0.1:{d.port}"
md = d.client().get("/saml/metadata").text
sp = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-sp-")).start()
spmd = sp.metadata()
H = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}


def api(method, path, body=None):
    c = d.client()
    r = c.request(method, path, raw_body=json.dumps(body).encode() if body is not None else None,
                  headers=H)
    try:
        return r.status, json.loads(r.text)
    except ValueError:
        return r.status, {"raw": r.text[:300]}


def doc(**saml):
    return {"id": "py", "name": "pysaml2 テスト", "protocol": "saml", "saml": saml}


s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata="<x/>"))
ok(s == 400 and j.get("error") == "invalid_saml", "not SAML metadata: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(
    metadata='<!DOCTYPE x [<!ENTITY e "e">]>' + spmd.split("?>", 1)[-1]))
ok(s == 400, "metadata with a DTD: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata=spmd, entity_id="https://other/"))
ok(s == 400 and "entityID" in j.get("message", ""), "entity_id differs from metadata: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata=spmd, attributes=[{"source": "password"}]))
ok(s == 400, "unknown attribute source: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata=spmd, sign_response=False,
                                                   sign_assertion=False))
ok(s == 400, "nothing signed: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata_url="http://sp.example.com/md"))
ok(s == 400 and j.get("error") == "metadata_fetch", "plain-http non-loopback metadata URL: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", doc(metadata=spmd, nameid_format="bogus"))
ok(s == 400, "unknown nameid_format: 400", (s, j))
s, j = api("POST", "/admin/api/v1/apps/saml", {"id": "py", "name": "x", "protocol": "saml",
                                                "saml": {"metadata": spmd}})
st.redis.command("DEL", "kh:reg:app:py")  # (cleanup if the previous line succeeded)
st.redis.command("SREM", "kh:reg:apps", "py")
st.redis.command("INCR", "kh:reg:version")

# create from the SP's metadata URL (loopback http is allowed)
s, j = api("POST", "/admin/api/v1/apps/saml", doc(
    metadata_url=sp.base + "/metadata", nameid_format="email",
    attributes=[{"source": "display_name", "name": "displayName"}]))
ok(s == 201 and j.get("app", {}).get("saml", {}).get("entity_id") == sp.entity_id,
   "create from metadata_url: 201, entity_id taken from the metadata", (s, str(j)[:300]))
ok("EntityDescriptor" in j.get("app", {}).get("saml", {}).get("metadata", ""),
   "the fetched metadata is stored in the document")
s2, j2 = api("POST", "/admin/api/v1/apps/saml", dict(doc(metadata=spmd), id="py2"))
ok(s2 == 409, "a second app with the same entityID: 409", (s2, j2))

b = Browser("yamada.taro", st.password)
p = b.go(sp.base + "/login?binding=redirect")
info = p.json()
ok(p.status == 200 and info.get("name_id") == "yamada.taro@pref.example.lg.jp"
   and info.get("name_id_format", "").endswith("emailAddress"),
   "the new SP works at once; email NameID", (p.status, str(info)[:300]))
ok(info.get("attributes", {}).get("displayName") == ["山田 太郎"], "attribute released")

s, j = api("PUT", "/admin/api/v1/apps/py", {"saml": {
    "attributes": [{"source": "mail",
                    "name": "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress",
                    "name_format": "uri"}], "nameid_format": "unspecified",
    "nameid_attribute": "employee_number"}, "groups": ["情報政策課"]})
ok(s == 200 and j["app"]["saml"]["nameid_format"] == "unspecified"
   and "metadata" in j["app"]["saml"], "update keeps the metadata and changes the rest", (s, str(j)[:300]))
p = b.go(sp.base + "/login?binding=redirect")
info = p.json()
ok(info.get("attributes", {}).get(
    "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress") == [
        "yamada.taro@pref.example.lg.jp"], "renamed attribute after the update", str(info)[:400])
ok(info.get("name_id_format", "").endswith("unspecified") and info.get("name_id"),
   "unspecified NameID from employee_number", str(info)[:300])

# access by group: sato.hanako is not in 情報政策課
b2 = Browser("sato.hanako", st.password)
p = b2.go(sp.base + "/login?binding=redirect")
ok(p.status == 403 and 'data-code="saml_access_denied"' in p.text,
   "a user outside the app's groups is refused", (p.status, p.text[-300:]))

s, j = api("PUT", "/admin/api/v1/apps/py", {"enabled": False})
p = Browser("yamada.taro", st.password).go(sp.base + "/login?binding=redirect")
ok(s == 200 and 'data-code="saml_unknown_sp"' in p.text, "a disabled app is refused", (s, p.status))

# --- kakehashictl app add-saml / update-saml ---------------------------------
import subprocess  # noqa: E402
fake = os.path.join(work, "ctl-sp.xml")
with open(fake, "w", encoding="utf-8") as f:
    f.write('<?xml version="1.0"?><md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata"'
            ' entityID="https://ctl-sp.example/sp"><md:SPSSODescriptor protocolSupportEnumeration='
            '"urn:oasis:names:tc:SAML:2.0:protocol"><md:AssertionConsumerService Binding='
            '"urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://ctl-sp.example/acs"'
            ' index="0"/></md:SPSSODescriptor></md:EntityDescriptor>')
CTL = khtest.binary("kakehashictl")
cenv = dict(os.environ, KAKEHASHI_URL=IDP, KAKEHASHI_TOKEN=token)


def ctl(*args):
    return subprocess.run([CTL, *args], env=cenv, capture_output=True, text=True, timeout=30)


r = ctl("app", "add-saml", "--name", "ctlsp", "--metadata", fake, "--nameid", "unspecified:uid",
        "--attr", "mail=http://schemas.xmlsoap.org/ws/2005/05/identity/claims/emailaddress,uri",
        "--attr", "display_name=displayName", "--groups", "all-staff,情報政策課",
        "--sign", "both", "--require-signed-requests")
ok(r.returncode == 0 and "https://ctl-sp.example/sp" in r.stdout, "kakehashictl app add-saml",
   r.stdout + r.stderr)
r = ctl("--json", "app", "show", "ctlsp")
try:
    app = json.loads(r.stdout).get("app", {})
except ValueError:
    app = {}
sm = app.get("saml", {})
ok(sm.get("nameid_format") == "unspecified" and sm.get("nameid_attribute") == "uid"
   and sm.get("sign_response") is True and sm.get("sign_assertion") is True
   and sm.get("require_signed_requests") is True and app.get("groups") == ["all-staff", "情報政策課"]
   and sm.get("attributes", [{}])[0].get("name_format") == "uri",
   "the document holds every option", r.stdout[:600])
r = ctl("app", "update-saml", "ctlsp", "--sign", "assertion", "--encrypt")
r2 = ctl("--json", "app", "show", "ctlsp")
sm = json.loads(r2.stdout).get("app", {}).get("saml", {}) if r2.returncode == 0 else {}
ok(r.returncode == 0 and sm.get("sign_response") is False and sm.get("encrypt_assertion") is True
   and sm.get("nameid_attribute") == "uid", "kakehashictl app update-saml changes only what is given",
   r.stdout + r.stderr)
r = ctl("app", "add-saml", "--name", "bad", "--metadata", fake, "--sign", "nothing")
ok(r.returncode == 2, "usage error for --sign nothing", r.returncode)
r = ctl("app", "add-saml", "--name", "dup", "--metadata", fake)
ok(r.returncode == 1, "server refusal (entityID taken) exits 1", (r.returncode, r.stderr))

ok(d.proc.poll() is None, "kakehashid still running")
rc = st.stop()
sp.stop()
ok(rc == 0, "kakehashid exits 0", rc)
khtest.done()
