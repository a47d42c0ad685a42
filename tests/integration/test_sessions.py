#!/usr/bin/env python3
"""sessions/ against a real redis-server: the session store and login
throttling, driven through tests/integration/session_probe. TAP output.

Needs the probe built (make) and redis-server installed; starts only private
redis-server instances on free loopback ports and stops them at exit."""

import base64
import hashlib
import hmac
import json
import os
import secrets
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import probes  # noqa: E402
from probes import clean, lp, rc  # noqa: E402
import redisd  # noqa: E402

PROBE = khtest.binary("tests/integration/session_probe")
PREFIX = "kht:"
SECRET = secrets.token_bytes(32)
TIMEOUT_MS = 300
IDLE, ABSOLUTE = 60, 300
USER_MAX, IP_MAX, WINDOW, LOCK = 3, 5, 10, 10

KH_OK, KH_ERR_INVALID, KH_ERR_NOT_FOUND, KH_ERR_UNAVAILABLE = 0, -3, -5, -6
KH_ERR_TOO_LARGE = -4


def write_config(path, port, password=None, db=0, prefix=PREFIX, secret=SECRET):
    redis = {"db": db, "timeout_ms": TIMEOUT_MS}
    if password:
        redis["password"] = password
    return probes.write_config(path, port, prefix, secret, {
        "redis": redis,
        "session": {"idle_timeout": IDLE, "absolute_timeout": ABSOLUTE},
        "login": {"user_max_failures": USER_MAX, "ip_max_failures": IP_MAX,
                  "failure_window": WINDOW, "lock_duration": LOCK}})


STDERR = []  # every probe stderr, checked for cookies at the end


def probe(conf, *args):
    """Runs one probe command; returns its JSON answer (None on a crash)."""
    return probes.run(PROBE, conf, *args, log=STDERR)


def session_key(cookie, prefix=PREFIX, secret=SECRET):
    return prefix + "s:" + hmac.new(secret, cookie.encode(), hashlib.sha256).hexdigest()


def user_index_key(uid, prefix=PREFIX, secret=SECRET):
    """The user's session index: prefix su: hex(HMAC(secret, "user" || folded uid))."""
    msg = lp("user", uid.lower())
    return prefix + "su:" + hmac.new(secret, msg, hashlib.sha256).hexdigest()


def throttle_key(kind, value, prefix=PREFIX):
    msg = lp("throttle", kind, value)
    tag = "t:u:" if kind == "u" else "t:i:"
    return prefix + tag + hmac.new(SECRET, msg, hashlib.sha256).hexdigest()


def b64url_raw(cookie):
    return base64.urlsafe_b64decode(cookie + "=")


def dump_bytes(r, db=0):
    """Every key name and value in the database, as one byte string."""
    out = []
    for k, v in r.dump(db=db).items():
        out.append(k)
        if isinstance(v["value"], list):
            out += v["value"]
        elif isinstance(v["value"], bytes):
            out.append(v["value"])
    return b"\n".join(out)


def main():
    r, work = probes.setup(PROBE, "kh-sessions-")
    conf = write_config(os.path.join(work, "probe.conf"), r.port)

    # --- basics --------------------------------------------------------
    ok(rc(probe(conf, "ping")) == KH_OK, "ping answers")
    before = time.time()
    res = probe(conf, "create", "taro")
    cookie = (res or {}).get("cookie", "")
    ok(rc(res) == KH_OK and len(cookie) == 43 and
       all(c.isalnum() or c in "-_" for c in cookie) and len(b64url_raw(cookie)) == 32,
       "create returns a 43-character base64url cookie of 32 bytes")
    res = probe(conf, "get", cookie)
    s = (res or {}).get("session", {})
    ok(rc(res) == KH_OK and s.get("uid") == "taro" and
       s.get("dn") == "uid=taro,ou=people,dc=example,dc=jp" and
       s.get("display_name") == "山田 太郎" and s.get("mail") == "taro@example.jp" and
       s.get("groups") == "staff\n情報政策課" and s.get("amr") == "pwd" and
       s.get("acr") == "urn:kakehashi:acr:pwd" and s.get("client_ip") == "192.0.2.10",
       "get returns the stored identity", res)
    ok(s.get("family_name") == "山田" and s.get("given_name") == "太郎" and
       s.get("employee_number") == "E-0042" and s.get("department") == "情報政策課" and
       s.get("title") == "主任", "get returns the extra directory attributes", res)
    ok(int(before) - 1 <= s.get("created", 0) <= time.time() + 1 and
       s.get("auth_time") == s.get("created") and
       s.get("absolute_expiry") == s.get("created", 0) + ABSOLUTE,
       "created/auth_time now, absolute expiry = created + absolute_timeout", s)

    # --- what Redis holds ----------------------------------------------
    key = session_key(cookie)
    keys = r.keys()
    ix = user_index_key("taro")
    ok(sorted(keys) == sorted([key.encode(), ix.encode()]),
       "the only keys are prefix s: hex(HMAC(secret, cookie)) and the user's index su:", keys)
    ok(r.command("SMEMBERS", ix) == [key[len(PREFIX) + 2:].encode()] and
       0 < int(r.command("TTL", ix)) <= ABSOLUTE,
       "the index holds the session's key hash, TTL the absolute lifetime",
       (r.command("SMEMBERS", ix), r.command("TTL", ix)))
    raw = b64url_raw(cookie)
    everything = dump_bytes(r)
    ok(cookie.encode() not in everything and raw not in everything and
       raw.hex().encode() not in everything,
       "no key or value holds the cookie (text, bytes or hex)")
    fields = r.command("HGETALL", key)
    names = sorted(fields[0::2])
    ok(names == sorted([b"uid", b"dn", b"display_name", b"mail", b"groups", b"amr", b"acr",
                        b"auth_time", b"created", b"abs_exp", b"client_ip", b"family_name",
                        b"given_name", b"employee_number", b"department", b"title",
                        b"uix"]),
       "the hash has exactly the documented fields", names)
    ttl = r.command("TTL", key)
    ok(IDLE - 2 <= ttl <= IDLE, f"TTL is the idle timeout ({ttl})")
    mac = bytes.fromhex(key[len(PREFIX) + 2:])
    stolen = [key, key[len(PREFIX):], key[len(PREFIX) + 2:],
              base64.urlsafe_b64encode(mac).decode().rstrip("=")]
    ok(all(rc(probe(conf, "get", x)) == KH_ERR_NOT_FOUND for x in stolen),
       "nothing taken from a Redis dump works as a cookie")

    # --- malformed cookies never reach Redis ---------------------------
    conns = int(r.info()["total_connections_received"])
    bad = {
        "42 characters": cookie[:-1],
        "44 characters": cookie + "A",
        "'+' in it": "+" + cookie[1:],
        "'/' in it": "/" + cookie[1:],
        "'=' padding": cookie[:-1] + "=",
        "'.' in it": "." + cookie[1:],
        "non-canonical last character": cookie[:-1] + "B",
        "10 KB": "A" * 10240,
    }
    for name, value in bad.items():
        ok(rc(probe(conf, "get", value)) == KH_ERR_NOT_FOUND, f"malformed cookie ({name}): not found")
    ok(rc(probe(conf, "getx", (cookie[:10].encode() + b"\0" + cookie[11:].encode()).hex()))
       == KH_ERR_NOT_FOUND, "malformed cookie (NUL inside): not found")
    ok(rc(probe(conf, "getx", "-")) == KH_ERR_NOT_FOUND, "empty cookie: not found")
    ok(rc(probe(conf, "destroy", cookie[:-1])) == KH_ERR_NOT_FOUND, "destroy malformed: not found")
    after = int(r.info()["total_connections_received"])
    ok(after == conns + 1, "malformed cookies opened no Redis connection "
       f"(connections {conns} -> {after}, 1 for INFO itself)")
    flipped = ("B" if cookie[0] != "B" else "C") + cookie[1:]
    ok(rc(probe(conf, "get", flipped)) == KH_ERR_NOT_FOUND, "a well-formed unknown cookie: not found")
    ok(sorted(r.keys()) == sorted([key.encode(), ix.encode()]), "failed lookups created nothing")

    # --- idle timeout slides, absolute lifetime holds ------------------
    r.command("EXPIRE", key, 5)
    ok(rc(probe(conf, "get", cookie)) == KH_OK and r.command("TTL", key) >= IDLE - 2,
       "get slides the idle timeout back to idle_timeout")
    now = int(time.time())
    r.command("HSET", key, "abs_exp", str(now + 20))
    res = probe(conf, "get", cookie)
    ttl = r.command("TTL", key)
    ok(rc(res) == KH_OK and 0 < ttl <= 20, f"near the absolute expiry the TTL is capped ({ttl})")
    r.command("HSET", key, "abs_exp", str(now - 1))
    ok(rc(probe(conf, "get", cookie)) == KH_ERR_NOT_FOUND, "past abs_exp: not found")
    ok(r.command("EXISTS", key) == 0, "an expired session is deleted on get")

    c2 = probe(conf, "create", "hanako")["cookie"]
    k2 = session_key(c2)
    r.command("HSET", k2, "created", str(int(time.time()) - ABSOLUTE - 5))
    ok(rc(probe(conf, "get", c2)) == KH_ERR_NOT_FOUND and r.command("EXISTS", k2) == 0,
       "created + absolute_timeout is enforced even if abs_exp says later")

    # --- module fields (x_*) and the session handle ----------------------
    c3 = probe(conf, "create", "jiro")["cookie"]
    k3 = session_key(c3)
    ttl0 = r.command("TTL", k3)
    dump_val = "<lasso:Session>…</lasso:Session>".encode()
    ok(rc(probe(conf, "fset", c3, "x_saml", dump_val.hex())) == KH_OK and
       r.command("HGET", k3, "x_saml") == dump_val, "field_set stores x_saml in the session hash")
    res = probe(conf, "fget", c3, "x_saml")
    ok(rc(res) == KH_OK and bytes.fromhex(res.get("hex", "")) == dump_val,
       "field_get returns it", res)
    ok(rc(probe(conf, "fset", c3, "x_rps", b"rp1\nrp2".hex())) == KH_OK and
       rc(probe(conf, "fget", c3, "x_saml")) == KH_OK, "several module fields coexist")
    ok(rc(probe(conf, "get", c3)) == KH_OK, "a session with module fields still loads")
    ok(r.command("TTL", k3) <= max(ttl0, IDLE), "field_set does not extend the TTL")
    ok(rc(probe(conf, "fget", c3, "x_none")) == KH_ERR_NOT_FOUND, "an absent field: not found")
    ok(rc(probe(conf, "fset", c3, "x_rps", "del")) == KH_OK and
       rc(probe(conf, "fget", c3, "x_rps")) == KH_ERR_NOT_FOUND, "NULL value removes the field")
    ok(rc(probe(conf, "fset", c3, "x_e", "-")) == KH_OK and
       probe(conf, "fget", c3, "x_e").get("len") == 0, "an empty value is a value")
    bad_fields = ["uid", "abs_exp", "x_", "X_a", "x_A", "x-a", "x_a.b", "y_a", "x_" + "a" * 31]
    codes = [rc(probe(conf, "fset", c3, f, "61")) for f in bad_fields]
    ok(all(c == KH_ERR_INVALID for c in codes) and
       r.command("HGET", k3, "uid") == b"jiro", "fields must be x_[a-z0-9_]{1,30}", codes)
    ok(rc(probe(conf, "fget", c3, "uid")) == KH_ERR_INVALID,
       "field_get cannot read core fields either")
    ok(rc(probe(conf, "fset", c3, "x_" + "a" * 30, "61")) == KH_OK, "a 32-character name is fine")
    ok(rc(probe(conf, "fsetn", c3, "x_big", str(64 * 1024))) == KH_OK and
       probe(conf, "fget", c3, "x_big").get("len") == 64 * 1024, "a 64 KiB value round-trips")
    ok(rc(probe(conf, "fsetn", c3, "x_big2", str(64 * 1024 + 1))) == KH_ERR_TOO_LARGE and
       r.command("HEXISTS", k3, "x_big2") == 0, "64 KiB + 1: TOO_LARGE, nothing written")
    gone = ("B" if c3[0] != "B" else "C") + c3[1:]
    ok(rc(probe(conf, "fset", gone, "x_saml", "61")) == KH_ERR_NOT_FOUND and
       r.command("EXISTS", session_key(gone)) == 0,
       "field_set on an unknown session: not found, and no orphan hash created")
    ok(rc(probe(conf, "fget", gone, "x_saml")) == KH_ERR_NOT_FOUND and
       rc(probe(conf, "fset", "short", "x_saml", "61")) == KH_ERR_NOT_FOUND,
       "unknown or malformed cookies: not found")
    sid = probe(conf, "sid", c3).get("sid", "")
    msg = len(b"sid").to_bytes(4, "big") + b"sid" + len(c3).to_bytes(4, "big") + c3.encode()
    ok(sid == hmac.new(SECRET, msg, hashlib.sha256).hexdigest(),
       "session id = hex(HMAC(secret, 'sid' ‖ cookie)), length-prefixed")
    ok(probe(conf, "sid", c3).get("sid") == sid and sid != k3[len(PREFIX) + 2:] and
       probe(conf, "sid", gone).get("sid") != sid,
       "stable, distinct from the Redis key hash, different per cookie")
    ok(rc(probe(conf, "sid", "bad")) == KH_ERR_NOT_FOUND, "malformed cookie: no session id")
    ok(rc(probe(conf, "get", sid[:43])) == KH_ERR_NOT_FOUND, "a session id is not a cookie")
    legacy = probe(conf, "create", "legacy")["cookie"]
    kl = session_key(legacy)
    r.command("HDEL", kl, "family_name", "given_name", "employee_number", "department", "title")
    res = probe(conf, "get", legacy)
    ok(rc(res) == KH_OK and res["session"].get("title") == "" and
       res["session"].get("uid") == "legacy",
       "a session written before the extra attributes still loads (fields read as '')")
    probe(conf, "destroy", c3)
    probe(conf, "destroy", legacy)

    # --- corrupt records: not found and deleted, never a crash ---------
    corruptions = {
        "missing uid": lambda k: r.command("HDEL", k, "uid"),
        "missing abs_exp": lambda k: r.command("HDEL", k, "abs_exp"),
        "non-numeric abs_exp": lambda k: r.command("HSET", k, "abs_exp", "12x"),
        "negative created": lambda k: r.command("HSET", k, "created", "-5"),
        "NUL in uid": lambda k: r.command("HSET", k, "uid", b"ta\0ro"),
        "empty uid": lambda k: r.command("HSET", k, "uid", ""),
        "not a hash": lambda k: (r.command("DEL", k), r.command("SET", k, "x")),
    }
    for name, spoil in corruptions.items():
        c = probe(conf, "create", "corrupt")["cookie"]
        k = session_key(c)
        spoil(k)
        ok(rc(probe(conf, "get", c)) == KH_ERR_NOT_FOUND and r.command("EXISTS", k) == 0,
           f"corrupt session ({name}): not found and deleted")
    c = probe(conf, "create", "extra")["cookie"]
    r.command("HSET", session_key(c), "future_field", "x")
    ok(rc(probe(conf, "get", c)) == KH_OK, "unknown extra fields are ignored")
    probe(conf, "destroy", c)

    # --- destroy and fixation ------------------------------------------
    c = probe(conf, "create", "jiro")["cookie"]
    ok(rc(probe(conf, "destroy", c)) == KH_OK, "destroy: ok")
    ok(rc(probe(conf, "get", c)) == KH_ERR_NOT_FOUND and r.command("EXISTS", session_key(c)) == 0,
       "destroyed session is gone")
    ok(r.command("EXISTS", user_index_key("jiro")) == 0,
       "destroy removes the session from its user's index")
    ok(rc(probe(conf, "destroy", c)) == KH_ERR_NOT_FOUND, "destroy twice: not found")
    old = probe(conf, "create", "saburo")["cookie"]
    res = probe(conf, "create", "saburo", old)
    new = (res or {}).get("cookie", "")
    ok(rc(res) == KH_OK and new != old, "login with an old cookie gets a new one")
    ok(rc(probe(conf, "get", old)) == KH_ERR_NOT_FOUND and
       r.command("EXISTS", session_key(old)) == 0, "the old session is destroyed (no fixation)")
    ok(rc(probe(conf, "get", new)) == KH_OK, "the new session works")
    ok(rc(probe(conf, "create", "saburo", "garbage")) == KH_OK,
       "a malformed old cookie is ignored")

    # --- threads (ASan/UBSan build) ------------------------------------
    r.command("FLUSHDB")
    res = probe(conf, "threads", "8", "150")
    ok(rc(res) == KH_OK and res.get("ok") == 1200,
       "8 threads x 150 create/get/destroy/throttle rounds, no error, no sanitizer report", res)
    ok(r.keys() == [], "the threads left no keys behind", r.keys()[:5])

    # --- throttling -----------------------------------------------------
    r.command("FLUSHDB")
    user = "yamada.taro"
    res = probe(conf, "throttle-check", "user", user)
    ok(rc(res) == KH_OK and res["failures"] == 0 and res["locked_for"] == 0, "no failures at first")
    counts = [probe(conf, "throttle-fail", "user", user) for _ in range(USER_MAX)]
    ok([c["failures"] for c in counts] == list(range(1, USER_MAX + 1)), "failures are counted")
    ok(all(c["locked_for"] == 0 for c in counts[:-1]) and counts[-1]["locked_for"] == LOCK,
       f"locked for lock_duration at user_max_failures ({USER_MAX})", counts)
    res = probe(conf, "throttle-check", "user", user)
    ok(rc(res) == KH_OK and res["failures"] == USER_MAX and 0 < res["locked_for"] <= LOCK,
       "check reports the lock and its remaining time", res)
    ck = throttle_key("u", user)
    ok(sorted(r.keys()) == sorted([ck.encode(), (ck + ":lock").encode()]),
       "keys are prefix t:u: hex(HMAC(secret, throttle|u|name)) and its :lock", r.keys())
    ok(0 < r.command("TTL", ck) <= WINDOW and 0 < r.command("TTL", ck + ":lock") <= LOCK,
       "counter TTL = failure_window, lock TTL = lock_duration")
    everything = dump_bytes(r)
    ok(user.encode() not in everything, "no user name in Redis")
    other = probe(conf, "throttle-check", "user", "suzuki")
    ok(other["failures"] == 0 and other["locked_for"] == 0, "other users are not affected")
    ok(rc(probe(conf, "throttle-reset", "user", user)) == KH_OK, "reset: ok")
    res = probe(conf, "throttle-check", "user", user)
    ok(res["failures"] == 0 and res["locked_for"] == 0 and r.keys() == [],
       "reset clears the count (and the lock)", res)

    ip = "198.51.100.23"
    counts = [probe(conf, "throttle-fail", "ip", ip) for _ in range(IP_MAX)]
    ok([c["locked_for"] > 0 for c in counts] == [False] * (IP_MAX - 1) + [True],
       f"addresses lock at ip_max_failures ({IP_MAX}), not at the user maximum", counts)
    ik = throttle_key("i", ip)
    ok(r.command("EXISTS", ik) == 1 and ip.encode() not in dump_bytes(r),
       "address keys are prefix t:i: HMAC, no address in Redis")
    ok(probe(conf, "throttle-check", "user", ip)["failures"] == 0,
       "user and address counters are separate")

    probe(conf, "throttle-fail", "user", "window")
    wk = throttle_key("u", "window")
    r.command("PEXPIRE", wk, 4000)
    probe(conf, "throttle-fail", "user", "window")
    ok(r.command("PTTL", wk) <= 4000, "later failures do not extend the window")
    r.command("PEXPIRE", wk, 150)
    time.sleep(0.3)
    res = probe(conf, "throttle-check", "user", "window")
    ok(res["failures"] == 0, "the failure count expires with the window")
    res = probe(conf, "throttle-fail", "user", "window")
    ok(res["failures"] == 1 and 0 < r.command("TTL", wk) <= WINDOW,
       "a new window starts with the next failure")
    r.command("PEXPIRE", ik + ":lock", 150)
    time.sleep(0.3)
    ok(probe(conf, "throttle-check", "ip", ip)["locked_for"] == 0, "the lock expires")
    r.command("SET", wk, "not-a-number")
    ok(rc(probe(conf, "throttle-check", "user", "window")) == KH_ERR_UNAVAILABLE,
       "a corrupt counter fails closed")

    # --- AUTH and SELECT -------------------------------------------------
    pw = "pw-" + secrets.token_hex(8)
    try:
        ra = redisd.Redis(password=pw).start()
    except RuntimeError as e:
        khtest.bail(str(e))
    good = write_config(os.path.join(work, "auth.conf"), ra.port, password=pw, db=3)
    wrong = write_config(os.path.join(work, "wrong.conf"), ra.port, password=pw + "x")
    nopw = write_config(os.path.join(work, "nopw.conf"), ra.port)
    res = probe(good, "create", "authuser")
    ok(rc(probe(good, "ping")) == KH_OK and rc(res) == KH_OK and
       rc(probe(good, "get", res["cookie"])) == KH_OK, "AUTH with the right password works")
    ok(sorted(ra.keys(db=3)) == sorted([session_key(res["cookie"]).encode(),
                                        user_index_key("authuser").encode()])
       and ra.keys(db=0) == [],
       "SELECT db: keys land in the configured database")
    p = subprocess.run([PROBE, wrong, "create", "x"], capture_output=True, text=True)
    STDERR.append(p.stderr)
    wrong_res = json.loads(p.stdout or "{}")
    ok(rc(probe(wrong, "ping")) == KH_ERR_UNAVAILABLE and rc(wrong_res) == KH_ERR_UNAVAILABLE and
       rc(probe(wrong, "get", res["cookie"])) == KH_ERR_UNAVAILABLE,
       "a wrong password fails closed with unavailable")
    ok("redis.auth" in p.stderr and pw not in p.stderr,
       "the AUTH failure is logged without the password", p.stderr[-500:])
    ok(rc(probe(nopw, "get", res["cookie"])) == KH_ERR_UNAVAILABLE and
       rc(probe(nopw, "throttle-fail", "user", "x")) == KH_ERR_UNAVAILABLE,
       "no password against requirepass: unavailable, not 'no session'")
    ra.stop()

    # --- Redis stops and comes back under one running process ----------
    r.command("FLUSHDB")
    sh = probes.Shell(PROBE, conf, log=STDERR, wait=30)
    c = sh("create", "outage").get("cookie", "")
    ok(rc(sh("get", c)) == KH_OK, "shell: session works before the outage")
    r.stop()
    results = {cmd[0]: sh(*cmd) for cmd in
               (("get", c), ("create", "outage2"), ("destroy", c), ("ping",),
                ("throttle-fail", "user", "o"), ("throttle-check", "user", "o"),
                ("throttle-reset", "user", "o"))}
    ok(all(rc(v) == KH_ERR_UNAVAILABLE for v in results.values()),
       "Redis stopped: every call fails closed with unavailable", results)
    slow = max(v.get("ms", 1e9) for v in results.values())
    ok(slow < TIMEOUT_MS, f"and fast (slowest {slow} ms, timeout_ms {TIMEOUT_MS})")
    r.start()
    res = sh("create", "after")
    ok(rc(res) == KH_OK, "Redis restarted: the same process creates on its first call", res)
    ok(rc(sh("get", res.get("cookie", ""))) == KH_OK, "and reads")
    ok(rc(sh("get", c)) == KH_ERR_NOT_FOUND, "a session lost with Redis is not found")
    ok(sh("throttle-fail", "user", "o").get("failures") == 1, "throttling works again")
    # A connection that dies between calls (server restarts while idle) is
    # detected before the next command, so even a non-idempotent call works.
    r.restart()
    ok(sh("throttle-fail", "user", "o").get("failures") == 1,
       "restart while idle: the next counting call succeeds (no stale connection used)")

    # A hung server (SIGSTOP) costs at most the timeout.
    os.kill(r.proc.pid, signal.SIGSTOP)
    try:
        t0 = time.time()
        res = sh("get", c)
        took = (time.time() - t0) * 1000
    finally:
        os.kill(r.proc.pid, signal.SIGCONT)
    ok(rc(res) == KH_ERR_UNAVAILABLE and took < TIMEOUT_MS * 2 + 200,
       f"hung Redis: unavailable after about timeout_ms ({took:.0f} ms)")
    ok(rc(sh("ping")) == KH_OK, "hung Redis resumed: recovered")
    rc_exit, err = sh.close()
    ok(rc_exit == 0 and clean(err), "the shell probe exits cleanly (no sanitizer report)",
       err[-1500:])
    ok(err.count("event=redis.connect") == 1 and "event=redis.recovered" in err,
       "the outage is logged once (not once per call), and the recovery",
       [line for line in err.splitlines() if "redis." in line][:10])

    # --- nothing secret in any log ---------------------------------------
    logs = "\n".join(STDERR)
    ok(cookie not in logs and new not in logs and key not in logs and
       key[len(PREFIX) + 2:][:16] not in logs,
       "no cookie or key hash in any probe log")

    r.stop()
    ok(not r.running() and not ra.running(), "all redis-server instances stopped")
    khtest.done()


if __name__ == "__main__":
    main()
