"""The C probes of the integration tests (tests/integration/*_probe, one JSON
line an answer; probe_shell.h) driven from Python: their configuration,
one-shot runs and the long-lived shell, and the keys they compute."""

import json
import os
import subprocess

import khtest
import redisd

SANITIZER_MARKS = ("AddressSanitizer", "LeakSanitizer", "runtime error:", "UndefinedBehavior")


def setup(binary, tmp_prefix):
    """Bails out unless the probe is built; starts a private redis-server.
    Returns (the redisd.Redis, a new temporary directory)."""
    if not os.path.exists(binary):
        khtest.bail(f"{binary} not built (run make)")
    try:
        r = redisd.Redis().start()
    except RuntimeError as e:
        khtest.bail(str(e))
    return r, khtest.tmpdir(tmp_prefix)


def write_config(path, port, prefix, secret, more=None):
    """A probe's configuration, mode 0600: placeholder [server] and [ldap],
    [redis] on 127.0.0.1:port with key_prefix, [session] secret (bytes),
    [log] debug; more = {section: {key: value}} adds or replaces keys."""
    sections = {
        "server": {"base_url": "http://127.0.0.1:8080"},
        "ldap": {"uris": "ldap://127.0.0.1:9", "base_dn": "dc=example,dc=jp"},
        "redis": {"host": "127.0.0.1", "port": port, "timeout_ms": 300, "key_prefix": prefix},
        "session": {"secret": secret.hex()},
        "log": {"level": "debug"},
    }
    for sec, kv in (more or {}).items():
        sections.setdefault(sec, {}).update(kv)
    lines = []
    for sec, kv in sections.items():
        lines += [f"[{sec}]"] + [f"{k} = {v}" for k, v in kv.items()] + [""]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write("\n".join(lines))
    return path


def clean(stderr):
    """No sanitizer report in a probe's stderr."""
    return not any(m in stderr for m in SANITIZER_MARKS)


def rc(res):
    """The return code in a probe's answer (None for no answer)."""
    return None if res is None else res.get("rc")


def lp(*parts):
    """Length-prefixed parts (4-byte big-endian length, then the bytes), as
    the daemon builds HMAC inputs; str parts are UTF-8."""
    out = b""
    for p in parts:
        p = p.encode() if isinstance(p, str) else p
        out += len(p).to_bytes(4, "big") + p
    return out


def run(binary, conf, *args, log=None, timeout=120):
    """Runs one probe command; returns its JSON answer (the last line), None
    after a crash, a non-zero exit or a sanitizer report. Its stderr is
    appended to log."""
    p = subprocess.run([binary, conf, *args], capture_output=True, text=True, timeout=timeout)
    if log is not None:
        log.append(p.stderr)
    if p.returncode != 0 or not clean(p.stderr):
        khtest.diag(f"probe {args[:1]} exited {p.returncode}: {p.stderr[-2000:]}")
        return None
    try:
        return json.loads(p.stdout.splitlines()[-1])
    except (ValueError, IndexError):
        khtest.diag(f"probe {args[:1]} printed {p.stdout!r}")
        return None


class Shell:
    """One long-lived probe process ("shell" mode): keeps its Redis
    connection across commands, so it sees an outage and the recovery. Its
    stderr is appended to log when it is closed."""

    def __init__(self, binary, conf, log=None, wait=60):
        self.log = log
        self.wait = wait
        self.p = subprocess.Popen([binary, conf, "shell"], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                  start_new_session=True)

    def __call__(self, *args):
        self.p.stdin.write(" ".join(str(a) for a in args) + "\n")
        self.p.stdin.flush()
        line = self.p.stdout.readline()
        try:
            return json.loads(line)
        except ValueError:
            return {"rc": None, "raw": line}

    def close(self):
        """Ends the shell; returns (exit code, stderr)."""
        self.p.stdin.write("quit\n")
        self.p.stdin.close()
        rc = self.p.wait(self.wait)
        err = self.p.stderr.read()
        if self.log is not None:
            self.log.append(err)
        return rc, err
