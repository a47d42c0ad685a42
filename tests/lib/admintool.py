"""The admin side of kakehashid for tests: an admin tokens file, calls to the
admin REST API (/admin/api/v1/) and to kakehashictl, and the events of the
audit file (and of the daemon's log), both key=value lines (common/log.c)."""

import hashlib
import json
import os
import re
import subprocess

import khtest

CTL = khtest.binary("kakehashictl")
ERROR_FIELDS = {"error", "message", "message_ja"}


# ---- tokens ---------------------------------------------------------------

def sha(tok):
    """What the tokens file holds for a token: its SHA-256 in hex."""
    return hashlib.sha256(tok.encode()).hexdigest()


def write_tokens(path, *entries):
    """Writes [admin] tokens_file, mode 0600: a line NAME ROLE SHA256HEX for
    each entry (name, role, token). Returns path."""
    with open(path, "w") as f:
        for name, role, tok in entries:
            f.write(f"{name} {role} {sha(tok)}\n")
    os.chmod(path, 0o600)
    return path


# ---- the REST API and the CLI ------------------------------------------------

def api(cli, method, path, token=None, body=None, ctype="application/json", headers=None):
    """One admin API call with a kakehashid.Client; body is bytes or JSON.
    The answer gets .json (None when the body is empty or not JSON)."""
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    raw = None
    if body is not None:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        if ctype:
            h["Content-Type"] = ctype
    r = cli.request(method, path, raw_body=raw, headers=h)
    try:
        r.json = json.loads(r.text) if r.text else None
    except ValueError:
        r.json = None
    return r


def is_error(r, status, code=None, strict=False):
    """r is the API's JSON error: that status, exactly the fields error,
    message and message_ja, and error == code when given. strict: the
    messages are not empty and the Content-Type is application/json too."""
    j = r.json or {}
    res = (r.status == status and isinstance(j, dict) and set(j) == ERROR_FIELDS
           and (code is None or j["error"] == code))
    if res and strict:
        res = (j["message"] and j["message_ja"]
               and (r.header("Content-Type") or "").startswith("application/json"))
    return res


def ctl(port, *args, token=None, token_file=None, stdin=None, env_url=True):
    """Runs kakehashictl with KAKEHASHI_URL (unless env_url is false) and
    KAKEHASHI_TOKEN set, and no other KAKEHASHI_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
    if env_url:
        env["KAKEHASHI_URL"] = f"http://127.0.0.1:{port}"
    if token is not None:
        env["KAKEHASHI_TOKEN"] = token
    cmd = [CTL]
    if token_file:
        cmd += ["--token-file", token_file]
    return subprocess.run(cmd + list(args), capture_output=True, text=True, env=env, input=stdin,
                          timeout=60)


# ---- audit file and daemon log ---------------------------------------------------

_LOGFMT = re.compile(r'([A-Za-z_][\w.]*)=("(?:[^"\\]|\\.)*"|\S*)')


def _unquote(v):
    """A value as common/log.c writes it: plain, or in double quotes with \\",
    \\\\, \\n and \\xHH escapes."""
    if not v.startswith('"'):
        return v
    v = v[1:-1]
    out, i = bytearray(), 0
    b = v.encode()
    while i < len(b):
        if b[i:i + 1] == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            if n == b"n":
                out += b"\n"
                i += 2
            elif n == b"x":
                out.append(int(b[i + 2:i + 4], 16))
                i += 4
            else:
                out += n
                i += 2
        else:
            out.append(b[i])
            i += 1
    return out.decode("utf-8", errors="replace")


def parse_logfmt(line):
    """One log line as a dict of its key=value pairs."""
    return {k: _unquote(v) for k, v in _LOGFMT.findall(line)}


def audit_events(path, event=None, kind="audit"):
    """The events in a log file, oldest first: the lines of that kind (all
    lines with a key=value pair when kind is None: a daemon's stderr has no
    kind), only those of event when given. [] when the file cannot be read."""
    evs = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                d = parse_logfmt(line)
                if (d and (kind is None or d.get("kind") == kind) and
                        (event is None or d.get("event") == event)):
                    evs.append(d)
    except OSError:
        pass
    return evs


def find_ev(evs, event, **kw):
    """The events of that name whose fields have the given values."""
    return [e for e in evs if e.get("event") == event and
            all(e.get(k) == v for k, v in kw.items())]
