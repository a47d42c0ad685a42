"""A private redis-server for tests, and a tiny RESP client to inspect it.

    r = redisd.Redis(password="s3cret").start()  # a free 127.0.0.1 port (never 6379)
    r.command("SET", "k", "v")        # -> b"OK"; bytes / int / None / list; errors raise RedisError
    r.cli("KEYS", "*")                # -> the reply as text, one element per line (like redis-cli)
    r.keys(); r.dump(); r.info()      # key list, every key with type/TTL/value, INFO as a dict
    r.stop(); r.start()               # start again on the same port ("Redis stopped mid-run")
    r.restart()                       # stop + start
    r.pid                             # for SIGSTOP/SIGCONT ("Redis hung")

RedisServer(...) returns a Redis that is already started.

The server runs with no persistence (--save "", --appendonly no), its own
working directory and log file, bound to 127.0.0.1 only; it is killed when the
test exits (khtest's atexit cleanup) even if the test forgets stop(). A server
that does not come up raises RuntimeError with the tail of its log. The
system redis (port 6379, systemd) is never touched."""

import os
import shutil
import socket
import time

import khtest

SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


class RedisError(Exception):
    """An error reply (-ERR ...) from Redis."""


class Redis:
    """A private redis-server. Nothing runs until start(); workdir need not
    exist yet."""

    def __init__(self, password=None, port=None, workdir=None, start=False):
        self.password = password or None
        self.port = port or _free_port()
        self.dir = workdir or khtest.tmpdir("kh-redis-")
        self.conf = os.path.join(self.dir, "redis.conf")
        self.log = os.path.join(self.dir, "redis.log")
        self.proc = None
        if start:
            self.start()

    @property
    def pid(self):
        return self.proc.pid if self.proc is not None else None

    def _write_conf(self):
        os.makedirs(self.dir, exist_ok=True)
        lines = [
            "bind 127.0.0.1",
            f"port {self.port}",
            "protected-mode yes",
            'save ""',
            "appendonly no",
            f"dir {self.dir}",
            f"logfile {self.log}",
            "daemonize no",
            "databases 16",
        ]
        if self.password:
            lines.append(f"requirepass {self.password}")
        fd = os.open(self.conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write("\n".join(lines) + "\n")

    def start(self, timeout=10.0):
        if self.running():
            return self
        if not os.path.exists(SERVER):
            raise RuntimeError("redis-server not found: apt-get install redis-server")
        self._write_conf()
        # The command line repeats the persistence switches so they hold even
        # if the config file were edited.
        self.proc = khtest.spawn([SERVER, self.conf, "--save", "", "--appendonly", "no"],
                                 log_path=self.log + ".stdout")
        if not khtest.wait_port(self.port, timeout, self.proc):
            tail = self._log_tail()
            khtest.stop(self.proc)
            self.proc = None
            raise RuntimeError(f"redis-server did not come up on 127.0.0.1:{self.port}\n{tail}")
        deadline = time.time() + timeout
        while True:
            try:
                if self.command("PING") == b"PONG":
                    break
            except (OSError, RedisError) as e:
                if time.time() > deadline:
                    self.stop()
                    raise RuntimeError(f"redis-server on port {self.port} does not answer "
                                       f"PING: {e}\n{self._log_tail()}")
                time.sleep(0.05)
        return self

    def stop(self):
        """Stops the server (SIGTERM, then SIGKILL); waits until the port is closed."""
        if self.proc is not None:
            khtest.stop(self.proc)
            self.proc = None
        return self

    def restart(self, timeout=10.0):
        """Stops and starts again on the same port (the data is gone: no persistence)."""
        self.stop()
        return self.start(timeout)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _log_tail(self, n=20):
        out = []
        for path in (self.log, self.log + ".stdout"):
            try:
                with open(path, errors="replace") as f:
                    out += f.read().splitlines()[-n:]
            except OSError:
                pass
        return "\n".join(out)

    # --- a minimal RESP2 client: one connection per call, AUTH when needed ---

    def command(self, *args, db=0, auth=True, timeout=5.0):
        """Runs one command; returns bytes / int / None / list; raises RedisError."""
        cmds = []
        if auth and self.password:
            cmds.append(("AUTH", self.password))
        if db:
            cmds.append(("SELECT", str(db)))
        cmds.append(args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(b"".join(_encode(c) for c in cmds))
            f = s.makefile("rb")
            replies = [_read(f) for _ in cmds]
        for rep in replies:
            if isinstance(rep, RedisError):
                raise rep
        return replies[-1]

    def cli(self, *args, db=0):
        """Runs one command and renders the reply as text, one element per line
        (so `x in r.cli("KEYS", "*")` is a substring test over every key)."""
        return _text(self.command(*args, db=db))

    def keys(self, pattern="*", db=0):
        return sorted(self.command("KEYS", pattern, db=db))

    def dump(self, db=0):
        """Every key with its type, TTL and value (HGETALL for hashes): what an
        attacker with a copy of Redis would see."""
        out = {}
        for k in self.keys(db=db):
            t = self.command("TYPE", k, db=db)
            if t == b"hash":
                v = self.command("HGETALL", k, db=db)
            elif t == b"string":
                v = self.command("GET", k, db=db)
            else:
                v = None
            out[k] = {"type": t, "ttl": self.command("TTL", k, db=db), "value": v}
        return out

    def info(self, section="stats"):
        text = self.command("INFO", section).decode()
        res = {}
        for line in text.splitlines():
            if ":" in line and not line.startswith("#"):
                k, v = line.split(":", 1)
                res[k] = v
        return res


def RedisServer(password=None, port=None, workdir=None):
    """A Redis already started."""
    return Redis(password=password, port=port, workdir=workdir, start=True)


def _text(rep):
    if rep is None:
        return ""
    if isinstance(rep, bytes):
        return rep.decode(errors="replace")
    if isinstance(rep, list):
        return "\n".join(_text(x) for x in rep)
    return str(rep)


def _free_port():
    """A free loopback port other than 6379 (the system redis's, even when stopped)."""
    while True:
        port = khtest.free_port()
        if port != 6379:
            return port


def _encode(args):
    parts = [f"*{len(args)}\r\n".encode()]
    for a in args:
        if isinstance(a, str):
            a = a.encode()
        elif isinstance(a, int):
            a = str(a).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(parts)


def _read(f):
    line = f.readline()
    if not line.endswith(b"\r\n"):
        raise OSError("connection closed by redis-server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest
    if kind == b"-":
        return RedisError(rest.decode(errors="replace"))
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)
        return data[:-2]
    if kind == b"*":
        n = int(rest)
        if n < 0:
            return None
        return [_read(f) for _ in range(n)]
    raise OSError(f"unexpected RESP line {line[:20]!r}")
