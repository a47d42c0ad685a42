"""A SAML 2.0 service provider built on pysaml2 (Debian's python3-pysaml2,
which lives in /usr/bin/python3's site-packages, not in the pyenv python the
tests run under). Nobody on the team wrote its SAML code: it checks our
responses the way a third-party SP would.

As a module (any python): PySaml2SP(...) writes a config, generates an SP key
and certificate, and starts this file under /usr/bin/python3 as a tiny HTTP
server on a free loopback port.

As a script (/usr/bin/python3 pysaml2_sp.py CONFIG.json): the server.
  GET  /metadata                      SP metadata (XML)
  GET  /login?binding=redirect|post&force=1&passive=1&relay=R&ctx=CLASSREF
                                      starts SP-initiated SSO (302 or POST form)
  POST /acs                           assertion consumer (sets cookie sp<port>)
  GET  /whoami                        JSON: the SP session (NameID, attributes)
  GET  /logout                        SP-initiated single logout (302 to the IdP)
  GET|POST /slo                       LogoutRequest from the IdP / LogoutResponse
"""

import json
import os
import subprocess
import sys
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"


# ---------------------------------------------------------------- fixture side

class PySaml2SP:
    def __init__(self, idp_metadata_xml, workdir, sign_requests=False, want_response_signed=False,
                 want_assertions_signed=True, encrypt=False, nameid_format=None, name="pysaml2"):
        import khtest  # the tests' helper module (tests/lib)
        self.khtest = khtest
        self.dir = workdir
        os.makedirs(self.dir, exist_ok=True)
        self.port = khtest.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.entity_id = f"{self.base}/metadata"
        self.idp_md = os.path.join(self.dir, "idp-metadata.xml")
        with open(self.idp_md, "w", encoding="utf-8") as f:
            f.write(idp_metadata_xml)
        self.key = os.path.join(self.dir, "sp.key")
        self.cert = os.path.join(self.dir, "sp.crt")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
                        "-days", "30", "-subj", f"/CN={name}", "-keyout", self.key,
                        "-out", self.cert], check=True, capture_output=True)
        self.conf = os.path.join(self.dir, "sp.json")
        with open(self.conf, "w", encoding="utf-8") as f:
            json.dump({"port": self.port, "base": self.base, "idp_metadata": self.idp_md,
                       "key": self.key, "cert": self.cert, "sign_requests": sign_requests,
                       "want_response_signed": want_response_signed,
                       "want_assertions_signed": want_assertions_signed,
                       "encrypt": encrypt, "nameid_format": nameid_format}, f)
        self.log = os.path.join(self.dir, "sp.log")
        self.proc = None

    def start(self):
        self.proc = self.khtest.spawn([SYSTEM_PYTHON, os.path.abspath(__file__), self.conf],
                                      log_path=self.log)
        if not self.khtest.wait_port(self.port, 20, self.proc):
            raise RuntimeError("pysaml2 SP did not start:\n" + self.log_text()[-3000:])
        return self

    def stop(self):
        return self.khtest.stop(self.proc)

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def metadata(self):
        import urllib.request
        with urllib.request.urlopen(self.base + "/metadata", timeout=10) as r:
            return r.read().decode()


# ---------------------------------------------------------------- server side

def _serve(conf_path):
    import http.server
    import secrets
    from http.cookies import SimpleCookie

    from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT, xmldsig
    from saml2.client import Saml2Client
    from saml2.config import SPConfig
    from saml2.metadata import entity_descriptor
    from saml2.saml import NameID
    from saml2.samlp import RequestedAuthnContext
    from saml2.saml import AuthnContextClassRef

    with open(conf_path, encoding="utf-8") as f:
        c = json.load(f)
    base = c["base"]
    cfg = {
        "entityid": f"{base}/metadata",
        "service": {"sp": {
            "name": "pysaml2 test SP",
            "endpoints": {
                "assertion_consumer_service": [(f"{base}/acs", BINDING_HTTP_POST)],
                "single_logout_service": [(f"{base}/slo", BINDING_HTTP_REDIRECT),
                                          (f"{base}/slo", BINDING_HTTP_POST)],
            },
            "allow_unsolicited": True,
            "authn_requests_signed": bool(c["sign_requests"]),
            "logout_requests_signed": True,
            "want_assertions_signed": bool(c["want_assertions_signed"]),
            "want_response_signed": bool(c["want_response_signed"]),
            "want_assertions_or_response_signed": True,
        }},
        "metadata": {"local": [c["idp_metadata"]]},
        "key_file": c["key"],
        "cert_file": c["cert"],
        "encryption_keypairs": [{"key_file": c["key"], "cert_file": c["cert"]}],
        "xmlsec_binary": "/usr/bin/xmlsec1",
        "signing_algorithm": xmldsig.SIG_RSA_SHA256,
        "digest_algorithm": xmldsig.DIGEST_SHA256,
        "accepted_time_diff": 60,
        "allow_unknown_attributes": True,
    }
    if c.get("nameid_format"):
        cfg["service"]["sp"]["name_id_format"] = [c["nameid_format"]]
    spconf = SPConfig().load(cfg)
    client = Saml2Client(config=spconf)
    idp_entity = list(client.metadata.identity_providers())[0]
    sessions = {}  # cookie -> dict
    outstanding = {}  # request id -> path
    cookie_name = f"sp{c['port']}"

    class H(http.server.BaseHTTPRequestHandler):
        def log_message(self, fmt, *args):
            sys.stderr.write("sp: " + (fmt % args) + "\n")

        def _send(self, status, body, ctype="text/html; charset=utf-8", headers=()):
            data = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            for k, v in headers:
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def _session(self):
            ck = SimpleCookie(self.headers.get("Cookie", ""))
            if cookie_name in ck and ck[cookie_name].value in sessions:
                return ck[cookie_name].value, sessions[ck[cookie_name].value]
            return None, None

        def _http_args(self, info):
            """Turns pysaml2's http_args into a response."""
            headers = [(k, v) for k, v in info["headers"] if k.lower() != "content-type"]
            status = info.get("status", 200)
            if status in (302, 303) or any(k.lower() == "location" for k, _ in headers):
                self._send(302, "", headers=headers)
            else:
                self._send(200, info["data"], headers=headers)

        def _params(self):
            u = urllib.parse.urlsplit(self.path)
            q = dict(urllib.parse.parse_qsl(u.query))
            if self.command == "POST":
                n = int(self.headers.get("Content-Length", "0"))
                q.update(dict(urllib.parse.parse_qsl(self.rfile.read(n).decode())))
            return u.path, q

        def do_GET(self):
            self._route()

        def do_POST(self):
            self._route()

        def _route(self):
            try:
                path, q = self._params()
                getattr(self, "h_" + path.strip("/").replace("/", "_") or "h_root")(q)
            except AttributeError:
                self._send(404, "not found")
            except Exception as e:  # noqa: BLE001
                import traceback
                traceback.print_exc()
                self._send(500, json.dumps({"error": type(e).__name__, "detail": str(e)}),
                           "application/json")

        def h_metadata(self, q):
            ed = entity_descriptor(spconf)
            self._send(200, str(ed), "application/samlmetadata+xml")

        def h_login(self, q):
            binding = BINDING_HTTP_POST if q.get("binding") == "post" else BINDING_HTTP_REDIRECT
            kw = {}
            if q.get("force"):
                kw["force_authn"] = "true"
            if q.get("passive"):
                kw["is_passive"] = "true"
            if q.get("ctx"):
                kw["requested_authn_context"] = RequestedAuthnContext(
                    authn_context_class_ref=[AuthnContextClassRef(text=q["ctx"])],
                    comparison=q.get("cmp", "exact"))
            sign = bool(c["sign_requests"]) or bool(q.get("sign"))
            sso = client.metadata.single_sign_on_service(idp_entity, binding)[0]["location"]
            reqid, req = client.create_authn_request(
                sso, binding=BINDING_HTTP_POST, sign=sign if binding == BINDING_HTTP_POST else False,
                sign_alg=xmldsig.SIG_RSA_SHA256, digest_alg=xmldsig.DIGEST_SHA256, **kw)
            outstanding[reqid] = q.get("relay", "/whoami")
            if binding == BINDING_HTTP_REDIRECT:
                info = client.apply_binding(binding, str(req), sso, relay_state=q.get("relay", "/whoami"),
                                            sign=sign, sigalg=xmldsig.SIG_RSA_SHA256)
            else:
                info = client.apply_binding(binding, str(req), sso, relay_state=q.get("relay", "/whoami"))
            self._http_args(info)

        def h_acs(self, q):
            resp = client.parse_authn_request_response(
                q["SAMLResponse"], BINDING_HTTP_POST, outstanding=outstanding)
            if resp is None:
                self._send(400, "no response")
                return
            ava = resp.get_identity()
            subj = resp.get_subject()
            info = {"name_id": subj.text, "name_id_format": subj.format,
                    "sp_name_qualifier": subj.sp_name_qualifier,
                    "attributes": ava, "session_index": resp.assertion.authn_statement[0].session_index,
                    "authn_class": resp.assertion.authn_statement[0].authn_context.authn_context_class_ref.text,
                    "relay_state": q.get("RelayState"), "in_response_to": resp.in_response_to,
                    "issuer": resp.issuer()}
            ck = secrets.token_urlsafe(16)
            sessions[ck] = info
            self._send(200, json.dumps(info, ensure_ascii=False), "application/json; charset=utf-8",
                       headers=[("Set-Cookie", f"{cookie_name}={ck}; Path=/")])

        def h_whoami(self, q):
            ck, s = self._session()
            if s is None:
                self._send(401, json.dumps({"signed_in": False}), "application/json")
            else:
                self._send(200, json.dumps(dict(s, signed_in=True), ensure_ascii=False),
                           "application/json; charset=utf-8")

        def h_logout(self, q):
            ck, s = self._session()
            if s is None:
                self._send(401, "not signed in")
                return
            binding = BINDING_HTTP_POST if q.get("binding") == "post" else BINDING_HTTP_REDIRECT
            slo = client.metadata.single_logout_service(idp_entity, binding, "idpsso")[0]["location"]
            nid = NameID(text=s["name_id"], format=s["name_id_format"],
                         sp_name_qualifier=s["sp_name_qualifier"],
                         name_qualifier=s["issuer"])
            reqid, req = client.create_logout_request(
                slo, idp_entity, name_id=nid, session_indexes=[s["session_index"]],
                sign=binding == BINDING_HTTP_POST, sign_alg=xmldsig.SIG_RSA_SHA256,
                digest_alg=xmldsig.DIGEST_SHA256)
            if binding == BINDING_HTTP_REDIRECT:
                info = client.apply_binding(binding, str(req), slo, relay_state="/after-logout",
                                            sign=True, sigalg=xmldsig.SIG_RSA_SHA256)
            else:
                info = client.apply_binding(binding, str(req), slo, relay_state="/after-logout")
            self._http_args(info)

        def h_slo(self, q):
            binding = BINDING_HTTP_POST if self.command == "POST" else BINDING_HTTP_REDIRECT
            if "SAMLResponse" in q:
                r = client.parse_logout_request_response(q["SAMLResponse"], binding)
                ok = r is not None and r.status_ok()
                if ok:
                    ck, _ = self._session()
                    sessions.pop(ck, None)
                self._send(200, json.dumps({"logout_response": bool(ok),
                                            "relay_state": q.get("RelayState")}),
                           "application/json")
                return
            req = client.parse_logout_request(q["SAMLRequest"], binding)
            msg = req.message
            gone = [k for k, v in sessions.items() if v["name_id"] == msg.name_id.text]
            for k in gone:
                sessions.pop(k, None)
            resp = client.create_logout_response(msg, [BINDING_HTTP_REDIRECT],
                                                 sign_alg=xmldsig.SIG_RSA_SHA256,
                                                 digest_alg=xmldsig.DIGEST_SHA256)
            slo = client.metadata.single_logout_service(idp_entity, BINDING_HTTP_REDIRECT,
                                                        "idpsso")[0]["location"]
            info = client.apply_binding(BINDING_HTTP_REDIRECT, str(resp), slo,
                                        relay_state=q.get("RelayState"), response=True,
                                        sign=True, sigalg=xmldsig.SIG_RSA_SHA256)
            sys.stderr.write(f"sp: logged out {len(gone)} session(s) at the IdP's request\n")
            self._http_args(info)

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", c["port"]), H)
    srv.serve_forever()


if __name__ == "__main__":
    _serve(sys.argv[1])
