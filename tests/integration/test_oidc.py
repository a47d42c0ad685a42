#!/usr/bin/env python3
"""OpenID Connect provider: discovery, JWKS, the code flow with PKCE, tokens,
userinfo, introspection, revocation, refresh rotation, client authentication
(secret basic/post, private_key_jwt), logout with back-channel delivery, and
the negative cases of issue #4. A scripted RP (tests/lib/oidc_rp.py) drives
kakehashid over http.client on loopback; slapd and redis-server are private.

TAP on stdout. KH_BUILD_DIR names the build tree."""

import http.server
import json
import os
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))

import khtest  # noqa: E402
import oidc_rp  # noqa: E402
import slapd  # noqa: E402
from oidc_rp import ScriptedRp, query_of  # noqa: E402
from stack import Stack  # noqa: E402

ok = khtest.ok
USER, NAME = "yamada.taro", "山田 太郎"
PW = slapd.DEMO_PASSWORD
CB = "http://127.0.0.1:9/cb"


class LogoutSink(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(n).decode()
        LogoutSink.received.append((self.path, self.headers.get("Content-Type"), body))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    work = khtest.tmpdir("kh-oidc-")
    try:
        st = Stack(count=50, overrides=oidc_rp.overrides(work), workdir=work).start()
    except Exception as e:  # noqa: BLE001
        khtest.bail(f"stack: {e}")
    base = f"http://127.0.0.1:{st.daemon.port}"
    c = st.daemon.client()

    sink_port = khtest.free_port()
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), LogoutSink)
    threading.Thread(target=srv.serve_forever, daemon=True).start()

    # ---- discovery and keys -------------------------------------------------
    r = c.get("/.well-known/openid-configuration")
    disc = json.loads(r.text) if r.status == 200 else {}
    ok(r.status == 200 and disc.get("issuer") == base, "discovery: issuer is base_url exactly",
       r.text[:300])
    ok(disc.get("token_endpoint") == base + "/oidc/token" and
       disc.get("authorization_endpoint") == base + "/oidc/authorize" and
       disc.get("jwks_uri") == base + "/oidc/jwks", "discovery: endpoint URLs")
    ok(disc.get("code_challenge_methods_supported") == ["S256"] and
       disc.get("response_types_supported") == ["code"], "discovery: S256 only, code only")
    r = c.get("/oidc/jwks")
    jwks = json.loads(r.text) if r.status == 200 else {"keys": []}
    algs = sorted(k.get("alg") for k in jwks["keys"])
    ok("RS256" in algs and "ES256" in algs, "jwks: RS256 and ES256 keys", r.text[:300])
    ok(all(k.get("kid") == oidc_rp.jwk_thumbprint(k) for k in jwks["keys"]) and jwks["keys"],
       "jwks: kid is the RFC 7638 thumbprint")
    ok(all("d" not in k and "p" not in k for k in jwks["keys"]), "jwks: public parts only")

    # ---- clients --------------------------------------------------------------
    sink = f"http://127.0.0.1:{sink_port}/bcl"
    cid, secret = oidc_rp.register(st, "app1", {
        "redirect_uris": [CB, "http://127.0.0.1:9/other?x=1"],
        "post_logout_redirect_uris": ["http://127.0.0.1:9/bye"],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "profile", "email", "groups", "org", "offline_access"],
        "backchannel_logout_uri": sink, "access_token_format": "jwt"})
    pub_id, _ = oidc_rp.register(st, "spa", {"public": True, "redirect_uris": [CB],
                                           "scopes": ["openid", "profile", "offline_access"]})
    post_id, post_secret = oidc_rp.register(st, "postapp", {
        "redirect_uris": [CB], "token_endpoint_auth_method": "client_secret_post",
        "access_token_format": "opaque", "pairwise": True,
        "scopes": ["openid", "profile"]})
    grp_id, grp_secret = oidc_rp.register(st, "helpdeskapp", {
        "redirect_uris": [CB], "groups": ["helpdesk"]})
    rsa_key, rsa_jwk = oidc_rp.client_key("RS256")
    ec_key, ec_jwk = oidc_rp.client_key("ES256")
    pkj_id, _ = oidc_rp.register(st, "m2m", {
        "redirect_uris": [CB], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [rsa_jwk, ec_jwk]}, "scopes": ["openid", "profile"],
        "access_token_format": "opaque"})

    rp = ScriptedRp(st, cid, secret, CB)

    # ---- code flow ----------------------------------------------------------------
    res = rp.code_flow(USER, PW, scope="openid profile email groups org offline_access")
    q = res.get("query", {})
    ok(res["url"] is not None and res["url"].startswith(CB + "?") and "code" in q,
       "authorize: sign-in then code back at the exact redirect_uri",
       f"{res['response'].status} {res['url']} {res['response'].text[:400]}")
    ok(q.get("state") == res["state"] and q.get("iss") == base,
       "authorize: state and iss (RFC 9207) returned")
    toks = res.get("tokens") or {}
    ok(res.get("token_response") is not None and res["token_response"].status == 200 and
       {"access_token", "id_token", "refresh_token"} <= set(toks),
       "token: code + PKCE + client_secret_basic gives access, ID and refresh tokens",
       res.get("token_response") and res["token_response"].text[:400])
    tr = res.get("token_response")
    ok(tr is not None and "no-store" in (tr.header("Cache-Control") or ""),
       "token: Cache-Control no-store")
    idt = {}
    try:
        h, idt = oidc_rp.jwt_verify(toks["id_token"], jwks)
        ok(h["alg"] == "RS256" and h.get("typ") == "JWT", "id_token: RS256 signed, verifies")
    except Exception as e:  # noqa: BLE001
        ok(False, "id_token: RS256 signed, verifies", repr(e))
    now = time.time()
    ok(idt.get("iss") == base and idt.get("aud") == cid and idt.get("sub") == USER and
       idt.get("nonce") == res["nonce"] and abs(idt.get("iat", 0) - now) < 30 and
       idt.get("exp", 0) > now, "id_token: iss, aud, sub, nonce, iat, exp", json.dumps(idt))
    ok(idt.get("at_hash") == oidc_rp.half_hash(toks.get("access_token", "")) and
       idt.get("sid") and idt.get("auth_time") and idt.get("amr") == ["pwd"] and idt.get("acr"),
       "id_token: at_hash, sid, auth_time, amr, acr")
    ok(idt.get("name") == NAME and idt.get("family_name") == "山田" and
       idt.get("given_name") == "太郎" and idt.get("email"),
       "id_token: profile and email claims with the Japanese names", json.dumps(idt,
                                                                              ensure_ascii=False))
    ok("it-admins" in (idt.get("groups") or []) and idt.get("employee_number") and
       idt.get("department") == "情報政策課", "id_token: groups and org claims")
    at = toks.get("access_token", "")
    try:
        h, atc = oidc_rp.jwt_verify(at, jwks)
        ok(h.get("typ") == "at+jwt" and atc.get("client_id") == cid and atc.get("jti") and
           atc.get("scope") and atc.get("aud") and atc.get("sub") == USER,
           "access token: RFC 9068 JWT (typ at+jwt, client_id, scope, jti)", json.dumps(h))
    except Exception as e:  # noqa: BLE001
        ok(False, "access token: RFC 9068 JWT", repr(e))

    # userinfo
    r = c.get("/oidc/userinfo", headers={"Authorization": "Bearer " + at})
    ui = json.loads(r.text) if r.status == 200 else {}
    ok(ui.get("sub") == USER and ui.get("name") == NAME, "userinfo: GET with Bearer", r.text[:300])
    r = c.post("/oidc/userinfo", {"access_token": at})
    ok(r.status == 200 and json.loads(r.text).get("sub") == USER, "userinfo: POST form token")
    r = c.get("/oidc/userinfo", headers={"Authorization": "Bearer " + at + "x"})
    ok(r.status == 401 and "invalid_token" in (r.header("WWW-Authenticate") or ""),
       "userinfo: unknown token -> 401 invalid_token")

    # introspection
    r, body = rp.token_request({"token": at}, path="/oidc/introspect")
    ok(r.status == 200 and body.get("active") is True and body.get("client_id") == cid and
       body.get("sub") == USER and "openid" in body.get("scope", ""),
       "introspect: active access token", r.text[:300])
    r, body = rp.token_request({"token": "nonsense"}, path="/oidc/introspect")
    ok(r.status == 200 and body == {"active": False}, "introspect: unknown -> {active:false}")
    r, body = rp.token_request({"token": at}, auth="none", path="/oidc/introspect")
    ok(r.status == 401, "introspect: needs client authentication")

    # refresh rotation and reuse detection
    rt1 = toks.get("refresh_token")
    r, b2 = rp.token_request({"grant_type": "refresh_token", "refresh_token": rt1})
    ok(r.status == 200 and b2.get("refresh_token") and b2["refresh_token"] != rt1 and
       b2.get("access_token"), "refresh: rotates the refresh token", r.text[:300])
    rt2 = (b2 or {}).get("refresh_token")
    at2 = (b2 or {}).get("access_token")
    r, b3 = rp.token_request({"grant_type": "refresh_token", "refresh_token": rt1})
    ok(r.status == 400 and b3.get("error") == "invalid_grant", "refresh: reuse refused")
    r, b4 = rp.token_request({"grant_type": "refresh_token", "refresh_token": rt2})
    ok(r.status == 400 and b4.get("error") == "invalid_grant",
       "refresh: reuse revoked the whole family (the newest token too)")
    r, body = rp.token_request({"token": at2}, path="/oidc/introspect")
    ok(body == {"active": False}, "refresh: reuse revoked the family's access tokens")

    # code replay revokes the first redemption's tokens
    res = rp.code_flow(USER, PW, scope="openid offline_access")
    code = res.get("query", {}).get("code")
    at_first = (res.get("tokens") or {}).get("access_token")
    r, body = rp.token_request({"token": at_first}, path="/oidc/introspect")
    ok(body.get("active") is True, "code replay: first redemption worked")
    r, body = rp.exchange(code, res["verifier"])
    ok(r.status == 400 and body.get("error") == "invalid_grant", "code replay: refused")
    r, body = rp.token_request({"token": at_first}, path="/oidc/introspect")
    ok(body == {"active": False}, "code replay: first redemption's access token revoked")
    r, body = rp.token_request({"grant_type": "refresh_token",
                                "refresh_token": res["tokens"].get("refresh_token")})
    ok(r.status == 400, "code replay: first redemption's refresh token revoked")

    # PKCE
    verifier, challenge = oidc_rp.pkce()
    _, url = rp.authorize(scope="openid", state="s", code_challenge=challenge,
                          code_challenge_method="S256")
    code = query_of(url or "").get("code")
    r, body = rp.exchange(code, None)
    ok(r.status == 400 and body.get("error") == "invalid_grant", "PKCE: missing verifier refused")
    _, url = rp.authorize(scope="openid", state="s", code_challenge=challenge,
                          code_challenge_method="S256")
    r, body = rp.exchange(query_of(url or "").get("code"), oidc_rp.pkce()[0])
    ok(r.status == 400 and body.get("error") == "invalid_grant", "PKCE: wrong verifier refused")
    _, url = rp.authorize(scope="openid", state="s", code_challenge=verifier,
                          code_challenge_method="plain")
    q = query_of(url or "")
    ok(q.get("error") == "invalid_request" and q.get("state") == "s", "PKCE: plain refused")
    _, url = rp.authorize(scope="openid", state="s")
    r, body = rp.exchange(query_of(url or "").get("code"), verifier)
    ok(r.status == 400, "PKCE: verifier without a challenge refused (no downgrade)")
    prp = ScriptedRp(st, pub_id, None, CB, auth="none")
    prp.browser = rp.browser
    _, url = prp.authorize(scope="openid", state="s")
    ok(query_of(url or "").get("error") == "invalid_request",
       "PKCE: required for a public client")
    res = prp.code_flow(USER, PW, scope="openid offline_access")
    ok((res.get("tokens") or {}).get("id_token"), "public client: code flow with PKCE, no secret",
       res.get("token_response") and res["token_response"].text[:300])

    # redirect_uri exact match
    tricks = {"prefix": CB + "/evil", "suffix": CB + "x", "case": CB.replace("cb", "CB"),
              "percent-encoding": CB.replace("cb", "%63b"), "trailing slash": CB + "/",
              "query added": CB + "?a=1", "other host": "http://127.0.0.2:9/cb",
              "userinfo": "http://127.0.0.1:9@evil.example/cb", "fragment": CB + "#x"}
    for name, uri in tricks.items():
        r = rp.browser.get(rp.authorize_url(redirect_uri=uri, state="s"))
        ok(r.status == 400 and r.header("Location") is None,
           f"redirect_uri {name}: error page, no redirect", f"{r.status} {r.header('Location')}")
    r = rp.browser.get(rp.authorize_url(client_id="nobody", state="s"))
    ok(r.status == 400 and r.header("Location") is None, "unknown client_id: error page")
    r = rp.browser.get("/oidc/authorize?" + urllib.parse.urlencode(
        [("client_id", cid), ("client_id", cid), ("redirect_uri", CB), ("response_type", "code"),
         ("scope", "openid")]))
    ok(r.status == 400 and r.header("Location") is None, "duplicate client_id: error page")
    r = rp.browser.get("/oidc/authorize?" + urllib.parse.urlencode(
        [("client_id", cid), ("redirect_uri", CB), ("response_type", "code"), ("scope", "openid"),
         ("state", "a"), ("state", "b")]))
    q = query_of(r.header("Location") or "")
    ok(r.status in (302, 303) and q.get("error") == "invalid_request" and "state" not in q,
       "duplicate state: invalid_request back to the client", r.header("Location"))
    r = rp.browser.get(rp.authorize_url(response_type="token", state="s"))
    ok(query_of(r.header("Location") or "").get("error") == "unsupported_response_type",
       "response_type=token: unsupported_response_type")
    r, body = rp.token_request([("grant_type", "authorization_code"), ("code", "a"),
                                ("code", "b"), ("redirect_uri", CB)])
    ok(r.status == 400 and body.get("error") == "invalid_request",
       "token: duplicate parameters refused")

    # client authentication
    bad = ScriptedRp(st, cid, "wrong-secret", CB)
    r, body = bad.token_request({"grant_type": "client_credentials"})
    ok(r.status == 401 and body.get("error") == "invalid_client" and
       r.header("WWW-Authenticate"), "client auth: wrong secret -> 401 invalid_client")
    r, body = rp.token_request({"grant_type": "client_credentials"}, auth="post")
    ok(r.status == 401, "client auth: unregistered method (post for a basic client) refused")
    prp2 = ScriptedRp(st, post_id, post_secret, CB, auth="post")
    r, body = prp2.token_request({"grant_type": "client_credentials"})
    ok(r.status == 200 and body.get("access_token") and "." not in body["access_token"] and
       "id_token" not in body and "refresh_token" not in body,
       "client_credentials: client_secret_post, opaque access token", r.text[:300])
    r, ib = prp2.token_request({"token": body.get("access_token", "")}, path="/oidc/introspect")
    ok(ib.get("active") is True and ib.get("client_id") == post_id,
       "introspect: opaque client_credentials token")
    r, _ = prp2.token_request({"token": body.get("access_token", "")}, path="/oidc/revoke")
    r2, ib = prp2.token_request({"token": body.get("access_token", "")}, path="/oidc/introspect")
    ok(r.status == 200 and ib == {"active": False}, "revoke: access token inactive afterwards")

    # private_key_jwt
    def assertion_req(token):
        c2 = st.daemon.client(accept_language=None)
        r = c2.post("/oidc/token", {
            "grant_type": "client_credentials", "client_assertion": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"})
        return r, json.loads(r.text or "{}")
    tok_url = base + "/oidc/token"
    cl = oidc_rp.assertion_claims(pkj_id, tok_url)
    good = oidc_rp.jws({"alg": "RS256", "kid": rsa_jwk["kid"]}, cl, rsa_key)
    r, body = assertion_req(good)
    ok(r.status == 200 and body.get("access_token"), "private_key_jwt: RS256 assertion accepted",
       r.text[:300])
    r, body = assertion_req(good)
    ok(r.status == 401, "private_key_jwt: replayed jti refused")
    r, body = assertion_req(oidc_rp.jws({"alg": "ES256", "kid": ec_jwk["kid"]},
                                        oidc_rp.assertion_claims(pkj_id, base), ec_key))
    ok(r.status == 200, "private_key_jwt: ES256 assertion, aud = issuer")
    r, body = assertion_req(oidc_rp.jws({"alg": "none"}, oidc_rp.assertion_claims(pkj_id,
                                                                                  tok_url)))
    ok(r.status == 401, "private_key_jwt: alg=none refused")
    from cryptography.hazmat.primitives import serialization
    pem = rsa_key.public_key().public_bytes(serialization.Encoding.PEM,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    r, body = assertion_req(oidc_rp.jws({"alg": "HS256", "kid": rsa_jwk["kid"]},
                                        oidc_rp.assertion_claims(pkj_id, tok_url),
                                        hs_secret=pem))
    ok(r.status == 401, "private_key_jwt: HS256 keyed with the public key refused")
    r, body = assertion_req(oidc_rp.jws({"alg": "RS256", "kid": rsa_jwk["kid"]},
                                        oidc_rp.assertion_claims(pkj_id, "http://evil/"),
                                        rsa_key))
    ok(r.status == 401, "private_key_jwt: wrong aud refused")
    old = oidc_rp.assertion_claims(pkj_id, tok_url)
    old["exp"] = int(time.time()) - 3600
    r, body = assertion_req(oidc_rp.jws({"alg": "RS256"}, old, rsa_key))
    ok(r.status == 401, "private_key_jwt: expired assertion refused")
    other_key, _ = oidc_rp.client_key("RS256")
    r, body = assertion_req(oidc_rp.jws({"alg": "RS256"}, oidc_rp.assertion_claims(
        pkj_id, tok_url), other_key))
    ok(r.status == 401, "private_key_jwt: unregistered key refused")

    # prompt, max_age, groups, login_hint, pairwise
    rp.new_browser()
    _, url = rp.authorize(scope="openid", state="s", prompt="none")
    ok(query_of(url or "").get("error") == "login_required",
       "prompt=none without a session: login_required")
    r = rp.browser.get(rp.authorize_url(login_hint="sato.hanako", state="s"))
    r, _ = rp.follow(r)
    ok('value="sato.hanako"' in r.text, "login_hint pre-fills the staff ID")
    res = rp.code_flow(USER, PW)
    t0 = oidc_rp.jwt_parts(res["tokens"]["id_token"])[1]["auth_time"]
    r, url = rp.authorize(scope="openid", state="s", prompt="none")
    ok(query_of(url or "").get("code"), "prompt=none with a session: code at once")
    time.sleep(1.1)
    r = rp.browser.get(rp.authorize_url(prompt="login", state="s"))
    r, url = rp.follow(r)
    ok(url is None and 'name="password"' in r.text, "prompt=login: password asked again")
    res = rp.code_flow(USER, PW, prompt="login")
    t1 = oidc_rp.jwt_parts((res.get("tokens") or {}).get("id_token", "e30.e30.x"))[1].get(
        "auth_time", 0)
    ok(t1 > t0, "prompt=login: new auth_time after the password", f"{t0} {t1}")
    r = rp.browser.get(rp.authorize_url(max_age="0", state="s"))
    r, url = rp.follow(r)
    ok(url is None and 'name="password"' in r.text, "max_age=0: password asked again")
    grp = ScriptedRp(st, grp_id, grp_secret, CB)
    grp.browser = rp.browser
    _, url = grp.authorize(scope="openid", state="s")
    ok(query_of(url or "").get("error") == "access_denied",
       "groups: a user outside the client's groups gets access_denied")
    prp2.browser = rp.browser
    res = prp2.code_flow(USER, PW, scope="openid profile")
    pw_sub = oidc_rp.jwt_parts((res.get("tokens") or {}).get("id_token", "e30.e30.x"))[1].get(
        "sub")
    res2 = prp2.code_flow(USER, PW, scope="openid")
    ok(pw_sub and pw_sub != USER and pw_sub == oidc_rp.jwt_parts(
        res2["tokens"]["id_token"])[1]["sub"], "pairwise: stable per-client subject, not the uid")

    # logout: id_token_hint, exact post_logout_redirect_uri, state, back-channel
    res = rp.code_flow(USER, PW)
    idtok = res["tokens"]["id_token"]
    sid = oidc_rp.jwt_parts(idtok)[1].get("sid")
    r = rp.browser.get("/oidc/logout?" + urllib.parse.urlencode({
        "id_token_hint": idtok, "post_logout_redirect_uri": "http://127.0.0.1:9/bye/",
        "state": "x"}))
    ok(r.status == 400 and r.header("Location") is None,
       "logout: unregistered post_logout_redirect_uri refused")
    LogoutSink.received.clear()
    r = rp.browser.get("/oidc/logout?" + urllib.parse.urlencode({
        "id_token_hint": idtok, "post_logout_redirect_uri": "http://127.0.0.1:9/bye",
        "state": "x y"}))
    ok(r.status == 302 and r.header("Location") in ("http://127.0.0.1:9/bye?state=x+y",
                                                     "http://127.0.0.1:9/bye?state=x%20y"),
       "logout: back to post_logout_redirect_uri with state", r.header("Location"))
    r = rp.browser.get(rp.authorize_url(prompt="none", state="s"))
    ok(query_of(r.header("Location") or "").get("error") == "login_required",
       "logout: the SSO session is gone")
    for _ in range(50):
        if LogoutSink.received:
            break
        time.sleep(0.1)
    got = LogoutSink.received[0] if LogoutSink.received else ("", "", "")
    lt = urllib.parse.parse_qs(got[2]).get("logout_token", [""])[0]
    try:
        h, lc = oidc_rp.jwt_verify(lt, jwks)
        ok(h.get("typ") == "logout+jwt" and lc.get("aud") == cid and lc.get("sid") == sid and
           "http://schemas.openid.net/event/backchannel-logout" in lc.get("events", {}) and
           "nonce" not in lc, "back-channel logout: logout+jwt with events and sid delivered")
    except Exception as e:  # noqa: BLE001
        ok(False, "back-channel logout: logout+jwt delivered", f"{e!r} {got}")
    r = rp.browser.get("/oidc/logout?" + urllib.parse.urlencode({"id_token_hint": idtok[:-4] +
                                                                 "AAAA"}))
    ok(r.status == 400, "logout: forged id_token_hint refused")

    # expired code (code_lifetime = 10 s is the minimum; this daemon uses 60)
    rc = st.stop()
    log = st.daemon.log_text()
    leaks = log[log.find("ERROR: LeakSanitizer"):] if "LeakSanitizer" in log else ""
    ok(rc == 0 or (leaks and "idp/oidc/" not in leaks),
       "daemon exits; no leak from idp/oidc", leaks[-3000:])
    if rc != 0:
        khtest.diag(f"daemon exit status {rc} (leaks elsewhere: see its log)")
    ok("ERROR: AddressSanitizer" not in log and "runtime error" not in log,
       "no sanitizer reports", log[-2000:])
    ok(secret not in log and at not in log, "no client secret or token in the log")
    srv.shutdown()
    khtest.done()


if __name__ == "__main__":
    main()
