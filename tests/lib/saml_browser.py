"""A scripted browser for SAML/OIDC flows across loopback servers: one cookie
jar for 127.0.0.1 (like a real browser, cookies are per host, not per port),
redirects followed, auto-submitting POST forms submitted, the Kakehashi login
form filled in when it appears. Every hop is recorded in .trail."""

import html
import http.client
import re
import urllib.parse


class Page:
    def __init__(self, url, status, headers, body):
        self.url = url
        self.status = status
        self.headers = headers
        self.body = body
        self.text = body.decode("utf-8", errors="replace")

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def json(self):
        import json
        try:
            return json.loads(self.text)
        except ValueError:
            return {}


_FORM = re.compile(r'<form([^>]*)>(.*?)</form>', re.S | re.I)
_INPUT = re.compile(r'<input[^>]*>', re.I)
_ATTR = re.compile(r'(\w+)="([^"]*)"')


def forms(text):
    out = []
    for m in _FORM.finditer(text):
        fa = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(m.group(1))}
        if fa.get("method", "get").lower() != "post" or "action" not in fa:
            continue
        fields = {}
        for inp in _INPUT.findall(m.group(2)):
            a = {k.lower(): html.unescape(v) for k, v in _ATTR.findall(inp)}
            if "name" in a:
                fields[a["name"]] = a.get("value", "")
        out.append((fa["action"], fields))
    return out


class Browser:
    def __init__(self, username=None, password=None, accept_language="ja", max_hops=30):
        self.cookies = {}
        self.username = username
        self.password = password
        self.accept_language = accept_language
        self.max_hops = max_hops
        self.trail = []
        self.logins = 0  # times the login form was submitted

    def request(self, method, url, form=None, headers=None):
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=20)
        h = {"Accept-Language": self.accept_language}
        if self.cookies:
            h["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        body = None
        if form is not None:
            body = urllib.parse.urlencode(form) if not isinstance(form, (bytes, str)) else form
            h["Content-Type"] = "application/x-www-form-urlencoded"
        h.update(headers or {})
        path = u.path or "/"
        if u.query:
            path += "?" + u.query
        conn.request(method, path, body=body, headers=h)
        r = conn.getresponse()
        page = Page(url, r.status, r.getheaders(), r.read())
        conn.close()
        for k, v in page.headers:
            if k.lower() != "set-cookie":
                continue
            name, _, rest = v.partition("=")
            value = rest.split(";", 1)[0]
            if "max-age=0" in v.lower() or "expires=thu, 01 jan 1970" in v.lower() or value == "":
                self.cookies.pop(name.strip(), None)
            else:
                self.cookies[name.strip()] = value
        self.trail.append((method, url, page.status))
        return page

    def go(self, url, method="GET", form=None, stop=None):
        """Follows redirects and auto-submit forms until a page that is
        neither; `stop(page)` may end the walk early."""
        page = self.request(method, url, form)
        for _ in range(self.max_hops):
            if stop is not None and stop(page):
                return page
            loc = page.header("Location")
            if page.status in (301, 302, 303, 307) and loc:
                page = self.request("GET", urllib.parse.urljoin(page.url, loc))
                continue
            fs = forms(page.text)
            if page.status == 200 and fs and "document.forms[0].submit()" in page.text:
                action, fields = fs[0]
                page = self.request("POST", urllib.parse.urljoin(page.url, action), fields)
                continue
            if (page.status in (200, 401) and fs and self.username is not None
                    and 'name="password"' in page.text):
                action, fields = [f for f in fs if "password" in f[1]][0]
                fields["username"] = self.username
                fields["password"] = self.password
                self.logins += 1
                page = self.request("POST", urllib.parse.urljoin(page.url, action), fields)
                continue
            if page.status == 200 and fs and "SAMLRequest" in fs[0][1] or (
                    page.status == 200 and fs and "SAMLResponse" in fs[0][1]):
                # an SP's own POST-binding page (pysaml2 uses an onload handler)
                action, fields = fs[0]
                page = self.request("POST", urllib.parse.urljoin(page.url, action), fields)
                continue
            return page
        raise RuntimeError("too many hops: " + repr(self.trail[-10:]))
