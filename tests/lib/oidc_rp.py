"""OpenID Connect test helpers: development signing keys, client registration
in the app registry, PKCE, JWT checks (python3-cryptography) and a scripted
relying party that drives kakehashid with http.client (kakehashid.Client),
following every redirect by hand.

    keys = oidc_rp.dev_keys(workdir)             # overrides for Stack(...)
    cid, secret = oidc_rp.register(stack, "app1", {...})
    rp = oidc_rp.ScriptedRp(stack, cid, secret, "http://127.0.0.1:9/cb")
    res = rp.code_flow(user, password)           # tokens, id_token claims, ...
"""

import base64
import hashlib
import hmac
import json
import os
import secrets
import struct
import subprocess
import time
import urllib.parse

import khtest

GEN_KEYS = os.path.join(khtest.ROOT, "certs", "gen-dev-keys.sh")
SESSION_SECRET = "6b68" * 16  # fixed so tests can compute client secret hashes
POLL_MS = 100


# ---- keys and configuration -------------------------------------------------

def dev_keys(workdir):
    """Generates dev keys (certs/gen-dev-keys.sh) and returns Stack overrides."""
    d = os.path.join(workdir, "keys")
    if not os.path.exists(os.path.join(d, "rsa.key")):
        subprocess.run(["sh", GEN_KEYS, d], check=True, capture_output=True)
    return {"keys.rsa_key": os.path.join(d, "rsa.key"),
            "keys.rsa_cert": os.path.join(d, "rsa.crt"),
            "keys.ec_key": os.path.join(d, "ec.key")}


def overrides(workdir, extra=None):
    o = dev_keys(workdir)
    o.update({"session.secret": SESSION_SECRET, "registry.poll_ms": str(POLL_MS)})
    o.update(extra or {})
    return o


def _parts(*parts):
    out = b""
    for p in parts:
        b = p.encode() if isinstance(p, str) else p
        out += struct.pack(">I", len(b)) + b
    return out


def secret_hash(client_id, secret, session_secret=SESSION_SECRET):
    """What kh_oidc_secret_hash computes (idp/oidc/clients.c)."""
    key = hmac.new(bytes.fromhex(session_secret), b"kakehashi oidc client secret",
                   hashlib.sha256).digest()
    return hmac.new(key, _parts(client_id, secret), hashlib.sha256).hexdigest()


# ---- registry -----------------------------------------------------------------

def put_app(stack, app_id, doc, prefix="kh:"):
    """Writes an app document straight into the registry (what the admin API does)."""
    r = stack.redis
    r.command("SET", f"{prefix}reg:app:{app_id}", json.dumps(doc, ensure_ascii=False))
    r.command("SADD", f"{prefix}reg:apps", app_id)
    r.command("INCR", f"{prefix}reg:version")


def _session_secret(stack):
    """The [session] secret of the stack's daemon, read from its config file."""
    section = None
    try:
        with open(stack.daemon.conf, encoding="utf-8") as f:
            for line in f:
                line = line.strip()
                if line.startswith("["):
                    section = line
                elif section == "[session]" and line.startswith("secret"):
                    return line.split("=", 1)[1].strip()
    except (AttributeError, OSError):
        pass
    return None


def register(stack, app_id, oidc, name=None, secret=None, wait=True):
    """Registers an OIDC client; returns (client_id, secret or None)."""
    oidc = dict(oidc)
    oidc.setdefault("client_id", app_id)
    if not oidc.get("public") and oidc.get("token_endpoint_auth_method") != "private_key_jwt":
        secret = secret or b64u(secrets.token_bytes(32))
        oidc["secret_hash"] = secret_hash(oidc["client_id"], secret,
                                          _session_secret(stack) or SESSION_SECRET)
    doc = {"id": app_id, "name": name or app_id, "protocol": "oidc", "enabled": True,
           "oidc": oidc}
    put_app(stack, app_id, doc)
    if wait:
        time.sleep(POLL_MS * 4 / 1000)
    return oidc["client_id"], secret


# ---- encoding, PKCE, JWT ------------------------------------------------------

def b64u(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def b64u_dec(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def pkce():
    verifier = b64u(secrets.token_bytes(32))
    challenge = b64u(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge


def jwt_parts(token):
    h, p, s = token.split(".")
    return json.loads(b64u_dec(h)), json.loads(b64u_dec(p)), b64u_dec(s)


def _int(b):
    return int.from_bytes(b64u_dec(b), "big")


def jwk_public_key(jwk):
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if jwk["kty"] == "RSA":
        return rsa.RSAPublicNumbers(_int(jwk["e"]), _int(jwk["n"])).public_key()
    return ec.EllipticCurvePublicNumbers(_int(jwk["x"]), _int(jwk["y"]),
                                         ec.SECP256R1()).public_key()


def jwk_thumbprint(jwk):
    """RFC 7638."""
    if jwk["kty"] == "RSA":
        m = {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}
    else:
        m = {"crv": jwk["crv"], "kty": "EC", "x": jwk["x"], "y": jwk["y"]}
    return b64u(hashlib.sha256(json.dumps(m, separators=(",", ":"),
                                          sort_keys=True).encode()).digest())


def jwt_verify(token, jwks):
    """Verifies an RS256/ES256 JWS against a JWKS; returns (header, claims)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
    h, p, sig = jwt_parts(token)
    signing_input = token.rsplit(".", 1)[0].encode()
    key = next(k for k in jwks["keys"] if k["kid"] == h["kid"])
    pub = jwk_public_key(key)
    if h["alg"] == "RS256":
        pub.verify(sig, signing_input, padding.PKCS1v15(), hashes.SHA256())
    elif h["alg"] == "ES256":
        der = encode_dss_signature(int.from_bytes(sig[:32], "big"),
                                   int.from_bytes(sig[32:], "big"))
        pub.verify(der, signing_input, ec.ECDSA(hashes.SHA256()))
    else:
        raise ValueError("unexpected alg " + h["alg"])
    return h, p


def half_hash(s):
    return b64u(hashlib.sha256(s.encode()).digest()[:16])


# ---- client keys and assertions (private_key_jwt) ---------------------------

def client_key(kind="RS256"):
    """(private key, public JWK with kid) for a client."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    if kind == "RS256":
        k = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        n = k.public_key().public_numbers()
        jwk = {"kty": "RSA", "n": b64u(n.n.to_bytes((n.n.bit_length() + 7) // 8, "big")),
               "e": b64u(n.e.to_bytes(3, "big")), "alg": "RS256", "use": "sig"}
    else:
        k = ec.generate_private_key(ec.SECP256R1())
        n = k.public_key().public_numbers()
        jwk = {"kty": "EC", "crv": "P-256", "x": b64u(n.x.to_bytes(32, "big")),
               "y": b64u(n.y.to_bytes(32, "big")), "alg": "ES256", "use": "sig"}
    jwk["kid"] = jwk_thumbprint(jwk)
    return k, jwk


def jws(header, claims, key=None, hs_secret=None):
    """Compact JWS: RS256/ES256 with key, HS256 with hs_secret, or alg none."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    si = (b64u(json.dumps(header, separators=(",", ":")).encode()) + "." +
          b64u(json.dumps(claims, separators=(",", ":")).encode()))
    alg = header["alg"]
    if alg == "none":
        return si + "."
    if alg == "HS256":
        return si + "." + b64u(hmac.new(hs_secret, si.encode(), hashlib.sha256).digest())
    if alg == "RS256":
        return si + "." + b64u(key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256()))
    r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
    return si + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


def assertion_claims(client_id, aud, lifetime=60, jti=None):
    now = int(time.time())
    return {"iss": client_id, "sub": client_id, "aud": aud, "iat": now, "exp": now + lifetime,
            "jti": jti or secrets.token_urlsafe(16)}


# ---- the scripted relying party -----------------------------------------------

def refresh_target(r):
    """The URL of a "Refresh: 0; url=..." header (our page after sign-in)."""
    h = r.header("Refresh")
    if h and r.status == 200 and "url=" in h:
        return h.split("url=", 1)[1].strip()
    return None


def query_of(url):
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


class ScriptedRp:
    """A relying party written for the tests: builds authorization requests,
    walks the browser side with a cookie-keeping kakehashid.Client and calls
    the token endpoints directly."""

    def __init__(self, stack, client_id, secret, redirect_uri, auth="basic"):
        self.stack = stack
        self.port = stack.daemon.port
        self.base = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.secret = secret
        self.redirect_uri = redirect_uri
        self.auth = auth
        self.browser = stack.daemon.client()

    def new_browser(self):
        self.browser = self.stack.daemon.client()
        return self.browser

    def authorize_url(self, **params):
        p = {"response_type": "code", "client_id": self.client_id,
             "redirect_uri": self.redirect_uri, "scope": "openid"}
        p.update({k: v for k, v in params.items() if v is not None})
        return "/oidc/authorize?" + urllib.parse.urlencode(p)

    def follow(self, r, max_hops=10):
        """Follows redirects inside the IdP; stops at the first Location that
        leaves it (the RP's redirect_uri) and returns (last response, url)."""
        for _ in range(max_hops):
            loc = r.header("Location") or refresh_target(r)
            if loc is None or r.status not in (200, 301, 302, 303, 307):
                return r, None
            if loc.startswith("/"):
                r = self.browser.get(loc)
                continue
            if loc.startswith(self.base + "/"):
                r = self.browser.get(loc[len(self.base):])
                continue
            return r, loc
        raise RuntimeError("redirect loop")

    def login_form(self, r, user, password):
        """Submits the login page in r (with its csrf and pending id)."""
        csrf = r.find(r'name="csrf" value="([^"]+)"')
        p = r.find(r'name="p" value="([^"]+)"')
        form = {"csrf": csrf or "", "username": user, "password": password}
        if p:
            form["p"] = p
        return self.browser.post("/login", form)

    def authorize(self, user=None, password=None, **params):
        """Runs the browser part; returns (final response, redirect url or None)."""
        r = self.browser.get(self.authorize_url(**params))
        r, url = self.follow(r)
        if url is None and user is not None and 'name="password"' in r.text:
            r = self.login_form(r, user, password)
            r, url = self.follow(r)
        return r, url

    def token_request(self, form, auth=None, path="/oidc/token"):
        auth = self.auth if auth is None else auth
        headers = {}
        form = dict(form) if isinstance(form, dict) else list(form)
        if auth == "basic":
            cred = (urllib.parse.quote(self.client_id, safe="") + ":" +
                    urllib.parse.quote(self.secret or "", safe=""))
            headers["Authorization"] = "Basic " + base64.b64encode(cred.encode()).decode()
        elif auth == "post" and isinstance(form, dict):
            form.update({"client_id": self.client_id, "client_secret": self.secret})
        elif auth == "none" and isinstance(form, dict):
            form["client_id"] = self.client_id
        c = self.stack.daemon.client(accept_language=None)
        r = c.post(path, form, headers=headers)
        try:
            body = json.loads(r.text) if r.text else None
        except ValueError:
            body = None
        return r, body

    def exchange(self, code, verifier=None, auth=None):
        form = {"grant_type": "authorization_code", "code": code,
                "redirect_uri": self.redirect_uri}
        if verifier:
            form["code_verifier"] = verifier
        return self.token_request(form, auth)

    def code_flow(self, user, password, scope="openid profile email", **params):
        verifier, challenge = pkce()
        state = secrets.token_urlsafe(12)
        nonce = secrets.token_urlsafe(12)
        r, url = self.authorize(user, password, scope=scope, state=state, nonce=nonce,
                                code_challenge=challenge, code_challenge_method="S256",
                                **params)
        res = {"response": r, "url": url, "state": state, "nonce": nonce,
               "verifier": verifier}
        if url is None:
            return res
        q = query_of(url)
        res["query"] = q
        if "code" not in q:
            return res
        tr, body = self.exchange(q["code"], verifier)
        res["token_response"] = tr
        res["tokens"] = body
        return res

    def jwks(self):
        return json.loads(self.stack.daemon.client().get("/oidc/jwks").text)


# ---- a scripted browser for real RPs (several hosts:ports) -------------------

class Browser:
    """Follows redirects between a relying party and kakehashid by hand with
    http.client, one cookie jar per host:port, like a browser without
    JavaScript. Submits our login form (csrf and pending id included)."""

    def __init__(self, accept_language="ja"):
        self.jars = {}
        self.accept_language = accept_language
        self.trail = []  # every URL visited

    def request(self, method, url, form=None):
        import http.client
        u = urllib.parse.urlsplit(url)
        hostport = u.netloc
        jar = self.jars.setdefault(hostport, {})
        conn = http.client.HTTPConnection(u.hostname, u.port or 80, timeout=20)
        h = {"Accept-Language": self.accept_language,
             "Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8",
             "User-Agent": "kakehashi-test-browser"}
        if jar:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in jar.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form).encode()
            h["Content-Type"] = "application/x-www-form-urlencoded"
        path = u.path + ("?" + u.query if u.query else "")
        conn.request(method, path or "/", body=body, headers=h)
        r = conn.getresponse()
        import kakehashid
        resp = kakehashid.Response(r.status, r.getheaders(), r.read())
        conn.close()
        kakehashid.keep_cookies(jar, resp, browser=True)
        resp.url = url
        self.trail.append((method, url, resp.status))
        return resp

    def go(self, url, method="GET", form=None, max_hops=20):
        r = self.request(method, url, form)
        for _ in range(max_hops):
            loc = r.header("Location") or refresh_target(r)
            if loc is None or r.status not in (200, 301, 302, 303, 307):
                return r
            loc = urllib.parse.urljoin(r.url, loc)
            r = self.request("GET", loc)
        raise RuntimeError("redirect loop: " + repr(self.trail[-6:]))

    def login(self, r, user, password):
        """r is our login page: post it back and follow the redirects."""
        csrf = r.find(r'name="csrf" value="([^"]+)"')
        p = r.find(r'name="p" value="([^"]+)"')
        form = {"csrf": csrf or "", "username": user, "password": password}
        if p:
            form["p"] = p
        action = urllib.parse.urljoin(r.url, "/login")
        return self.go(action, "POST", form)
