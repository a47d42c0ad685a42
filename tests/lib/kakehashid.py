"""Starts a private kakehashid for tests, and a small HTTP client for it.

The client keeps cookies like a browser would (per name, no domain logic:
everything is 127.0.0.1) and never follows redirects by itself, so tests can
check every status and header."""

import http.client
import os
import re
import secrets
import time
import urllib.parse

import khtest

BIN = khtest.binary("kakehashid")
POLICY_OPEN = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "fixtures",
                           "policy-open.json")


def write_config(path, port, ldap_uris, base_dn, bind_dn, bind_password, redis_port,
                 redis_password="", overrides=None):
    sections = {
        "server": {"base_url": f"http://127.0.0.1:{port}", "listen": f"127.0.0.1:{port}",
                   "threads": "4"},
        "ldap": {"uris": ldap_uris, "base_dn": base_dn, "bind_dn": bind_dn,
                 "bind_password": bind_password, "network_timeout": "2", "timeout": "3"},
        "redis": {"host": "127.0.0.1", "port": str(redis_port), "timeout_ms": "500"},
        "session": {"secret": secrets.token_hex(32)},
        "login": {"min_delay_ms": "200", "max_delay_ms": "800",
                  "password_change_url": "https://password.example.lg.jp/change",
                  "helpdesk": "情報政策課 ヘルプデスク 内線 1234"},
        "log": {"level": "info"},
        # Suites not about access policy run with everything allowed; the
        # policy suites override policy.file ("" = the built-in default).
        "policy": {"file": POLICY_OPEN},
        "mfa": {"enrol_zones": "*"},
    }
    if redis_password:
        sections["redis"]["password"] = redis_password
    for key, value in (overrides or {}).items():
        sec, name = key.split(".", 1)
        sections.setdefault(sec, {})[name] = str(value)
    with open(path, "w", encoding="utf-8") as f:
        for sec, kv in sections.items():
            f.write(f"[{sec}]\n")
            for k, v in kv.items():
                f.write(f"{k} = {v}\n")
            f.write("\n")
    return path


class Daemon:
    def __init__(self, slapd_uris, base_dn, bind_dn, bind_password, redis_port,
                 redis_password="", overrides=None, workdir=None, port=None):
        self.dir = workdir or khtest.tmpdir("kh-daemon-")
        os.makedirs(self.dir, exist_ok=True)
        self.port = port or khtest.free_port()
        self.conf = write_config(os.path.join(self.dir, "kakehashi.conf"), self.port,
                                 slapd_uris, base_dn, bind_dn, bind_password, redis_port,
                                 redis_password, overrides)
        self.log = os.path.join(self.dir, "kakehashid.log")
        self.audit = None
        self.proc = None

    def start(self):
        env = dict(os.environ)
        env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
        self.proc = khtest.spawn([BIN, "-c", self.conf], log_path=self.log, env=env)
        if not khtest.wait_port(self.port, 15, self.proc):
            raise RuntimeError("kakehashid did not start:\n" + self.log_tail())
        return self

    def stop(self):
        rc = khtest.stop(self.proc)
        return rc

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def client(self, **kw):
        return Client(self.port, **kw)


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers  # list of (name, value)
        self.body = body
        self.text = body.decode("utf-8", errors="replace")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def headers_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def find(self, pattern):
        m = re.search(pattern, self.text, re.S)
        return m.group(1) if m else None


CSRF_RE = r'name="csrf" value="([^"]+)"'


def csrf_of(r):
    """The csrf field of a page ("" when it has none)."""
    return r.find(CSRF_RE) or ""


def keep_cookies(jar, resp, browser=False):
    """Applies the Set-Cookie headers of resp to jar (name -> value): a cookie
    with Max-Age=0 or an empty value is removed. browser: as a browser does
    with other servers too (Max-Age in any case, an Expires in 1970, white
    space around the name)."""
    for sc in resp.headers_all("Set-Cookie"):
        name, _, rest = sc.partition("=")
        value = rest.split(";", 1)[0]
        if browser:
            name, low = name.strip(), sc.lower()
            gone = "max-age=0" in low or "expires=thu, 01 jan 1970" in low
        else:
            gone = "Max-Age=0" in sc
        if gone or value == "":
            jar.pop(name, None)
        else:
            jar[name] = value


class Client:
    """source: the loopback address to connect from (127.0.0.2 is another
    peer than the default 127.0.0.1); None lets the kernel choose."""

    def __init__(self, port, accept_language="ja", timeout=15, source=None):
        self.port = port
        self.cookies = {}
        self.accept_language = accept_language
        self.timeout = timeout
        self.source = source

    def connection(self):
        kw = {"source_address": (self.source, 0)} if self.source else {}
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout, **kw)

    def prepare(self, body=None, headers=None, raw_body=None):
        """The headers and the body (bytes or None) of a request: a form body
        (dict or list) is URL-encoded; raw_body is sent as it is."""
        h = {"Accept-Language": self.accept_language} if self.accept_language else {}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        data = None
        if body is not None:
            data = urllib.parse.urlencode(body).encode() if isinstance(body, (dict, list)) else body
            h["Content-Type"] = "application/x-www-form-urlencoded"
        if raw_body is not None:
            data = raw_body
        h.update(headers or {})
        return h, data

    def request(self, method, path, body=None, headers=None, raw_body=None):
        h, data = self.prepare(body, headers, raw_body)
        conn = self.connection()
        conn.request(method, path, body=data, headers=h)
        r = conn.getresponse()
        resp = Response(r.status, r.getheaders(), r.read())
        conn.close()
        keep_cookies(self.cookies, resp)
        return resp

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, form, **kw):
        return self.request("POST", path, body=form, **kw)

    def csrf(self, path="/login"):
        r = self.get(path)
        token = r.find(CSRF_RE)
        return token, r

    def login(self, username, password, extra=None):
        token, _ = self.csrf()
        form = {"csrf": token or "", "username": username, "password": password}
        form.update(extra or {})
        return self.post("/login", form)
