"""Shared helpers for Kakehashi's Python integration tests.

TAP output (ok / not ok lines, then 1..N) read by ./test.sh; free loopback
ports; processes that are always stopped when the test exits."""

import atexit
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
# Where the binaries are: ./test.sh builds out of tree and sets KH_BUILD_DIR.
BUILD = os.path.abspath(os.environ.get("KH_BUILD_DIR", ROOT))


def binary(relpath):
    """Path of a built program, e.g. binary("kakehashid")."""
    return os.path.join(BUILD, relpath)
_n = 0
_failed = 0
_procs = []
_tmpdirs = []


def ok(cond, name, detail=None):
    """Records one test case."""
    global _n, _failed
    _n += 1
    if cond:
        print(f"ok {_n} - {name}", flush=True)
    else:
        _failed += 1
        print(f"not ok {_n} - {name}", flush=True)
        if detail is not None:
            for line in str(detail).splitlines()[:40]:
                print(f"#   {line}", flush=True)
    return bool(cond)


def diag(msg):
    for line in str(msg).splitlines():
        print(f"# {line}", flush=True)


def done():
    print(f"1..{_n}", flush=True)
    sys.exit(1 if _failed else 0)


def bail(msg):
    """A fixture could not start: report it as a failure, not a skip."""
    ok(False, f"fixture: {msg}")
    done()


def free_port():
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def wait_port(port, timeout=10.0, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            return False
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def tmpdir(prefix="kh-test-"):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d


def spawn(args, log_path=None, env=None, **kw):
    """Starts a process that is killed at exit (process group)."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL
    p = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT if log_path else out,
                         env=env, start_new_session=True, **kw)
    _procs.append(p)
    return p


def stop(p, sig=signal.SIGTERM, timeout=10.0):
    if p is None or p.poll() is not None:
        return p.returncode if p else None
    try:
        os.killpg(p.pid, sig)
    except ProcessLookupError:
        pass
    try:
        return p.wait(timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        return p.wait()


@atexit.register
def _cleanup():
    for p in reversed(_procs):
        try:
            stop(p, timeout=5)
        except Exception:
            pass
    if not os.environ.get("KH_KEEP_TMP"):
        for d in _tmpdirs:
            shutil.rmtree(d, ignore_errors=True)
