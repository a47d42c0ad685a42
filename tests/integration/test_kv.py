#!/usr/bin/env python3
"""sessions/kv.h (short-lived protocol state) and sessions/registry.h (the app
registry) against a real redis-server, driven through
tests/integration/kv_probe. TAP output.

Needs the probe built (make) and redis-server installed; starts only private
redis-server instances on free loopback ports and stops them at exit."""

import hashlib
import hmac
import json
import os
import secrets
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok, diag  # noqa: E402
import probes  # noqa: E402
from probes import clean, rc  # noqa: E402

PROBE = khtest.binary("tests/integration/kv_probe")
PREFIX = "kvt:"
SECRET = secrets.token_bytes(32)
KV_VALUE_MAX = 256 * 1024
APP_DOC_MAX = 512 * 1024

(KH_OK, KH_ERR_INVALID, KH_ERR_TOO_LARGE, KH_ERR_NOT_FOUND, KH_ERR_UNAVAILABLE,
 KH_ERR_EXISTS) = 0, -3, -4, -5, -6, -11

STDERR = []  # every probe stderr


def hx(s):
    return s.encode().hex() if isinstance(s, str) else s.hex()


def secret_id(purpose, secret):
    return hmac.new(SECRET, probes.lp("kv", purpose, secret), hashlib.sha256).hexdigest()


def kv_tests(sh, r):
    # --- put / get / take ------------------------------------------------
    val = b"\x00\x01binary\xffvalue\x00"
    ok(rc(sh("put", "p:", "req-1", hx(val), 60)) == KH_OK, "put stores a value")
    res = sh("get", "p:", "req-1")
    ok(rc(res) == KH_OK and res.get("hex") == val.hex() and res.get("len") == len(val) and
       res.get("nul") is True, "get returns the exact bytes (NULs included), NUL-terminated", res)
    ok(r.command("GET", PREFIX + "p:req-1") == val, "the Redis key is prefix ‖ tag ‖ id")
    ttl = r.command("TTL", PREFIX + "p:req-1")
    ok(58 <= ttl <= 60, f"the TTL is set ({ttl})")
    ok(rc(sh("get", "p:", "req-1")) == KH_OK, "get does not consume")
    res = sh("take", "p:", "req-1")
    ok(rc(res) == KH_OK and res.get("hex") == val.hex(), "take returns the value", res)
    ok(rc(sh("take", "p:", "req-1")) == KH_ERR_NOT_FOUND, "take is single use (GETDEL)")
    ok(rc(sh("get", "p:", "req-1")) == KH_ERR_NOT_FOUND, "nothing left after take")
    ok(rc(sh("get", "p:", "never")) == KH_ERR_NOT_FOUND, "get of an absent id: NOT_FOUND")
    ok(rc(sh("put", "p:", "empty", "-", 60)) == KH_OK and
       sh("get", "p:", "empty").get("len") == 0, "an empty value round-trips")
    ok(rc(sh("put", "p:", "req-1", hx("a"), 60)) == KH_OK and
       rc(sh("put", "p:", "req-1", hx("b"), 60)) == KH_OK and
       sh("get", "p:", "req-1").get("hex") == hx("b"), "put without nx replaces")
    ok(rc(sh("put", "c:", "req-1", hx("c"), 60)) == KH_OK and
       sh("get", "p:", "req-1").get("hex") == hx("b"), "tags separate namespaces")
    ok(rc(sh("del", "p:", "req-1")) == KH_OK and rc(sh("del", "p:", "req-1")) == KH_ERR_NOT_FOUND,
       "del removes; a second del: NOT_FOUND")

    # --- NX: replay caches and single-use codes ---------------------------
    ok(rc(sh("put", "r:", "jti-1", hx("1"), 60, "nx")) == KH_OK, "put nx on a new id")
    ok(rc(sh("put", "r:", "jti-1", hx("2"), 60, "nx")) == KH_ERR_EXISTS,
       "put nx on an existing id: EXISTS (replay)")
    ok(sh("get", "r:", "jti-1").get("hex") == hx("1"), "the replay did not overwrite")

    # --- TTL ----------------------------------------------------------------
    ok(rc(sh("put", "p:", "short", hx("x"), 1)) == KH_OK, "put with a 1 s TTL")
    time.sleep(2.2)
    ok(rc(sh("get", "p:", "short")) == KH_ERR_NOT_FOUND, "the value expires with its TTL")
    ok(rc(sh("put", "p:", "short", hx("x"), 1, "nx")) == KH_OK,
       "an expired replay entry no longer blocks nx")
    ok(all(rc(sh("put", "p:", "t", hx("x"), t)) == KH_ERR_INVALID for t in (0, -1)),
       "TTL 0 or negative: INVALID (nothing lives forever)")
    ok(rc(sh("put", "p:", "t", hx("x"), 10 ** 9)) == KH_ERR_INVALID, "an absurd TTL: INVALID")

    # --- INCR -----------------------------------------------------------------
    vals = [sh("incr", "n:", "ctr", 30).get("value") for _ in range(3)]
    ok(vals == [1, 2, 3], f"incr counts 1, 2, 3 ({vals})")
    ttl = r.command("TTL", PREFIX + "n:ctr")
    ok(28 <= ttl <= 30, f"incr sets the TTL when the counter is created ({ttl})")
    r.command("PERSIST", PREFIX + "n:ctr")
    ok(sh("incr", "n:", "ctr", 30).get("value") == 4 and r.command("TTL", PREFIX + "n:ctr") > 0,
       "a counter left without a TTL gets one back")
    ok(rc(sh("put", "n:", "str", hx("abc"), 30)) == KH_OK and
       rc(sh("incr", "n:", "str", 30)) == KH_ERR_INVALID, "incr of a non-number: INVALID")
    ok(rc(sh("incr", "n:", "ctr2", 0)) == KH_ERR_INVALID, "incr with TTL 0: INVALID")

    # --- ids and tags ----------------------------------------------------------
    keys_before = r.keys()
    bad_ids = ["a/b", "é", "a*", "x" * 257, "a{b}", "a\\b", "a\"b", "a%b"]
    codes = [rc(sh("put", "p:", i, hx("x"), 60)) for i in bad_ids]
    ok(all(c == KH_ERR_INVALID for c in codes), "bad ids are refused with INVALID", codes)
    ok(rc(sh("get", "p:", "x" * 257)) == KH_ERR_INVALID and
       rc(sh("get", "p:", "x" * 256)) == KH_ERR_NOT_FOUND,
       "ids up to 256 characters; 257: INVALID")
    ok(rc(sh("put", "p:", "é", hx("x"), 60)) == KH_ERR_INVALID and
       rc(sh("take", "p:", "a*", )) == KH_ERR_INVALID and
       rc(sh("incr", "p:", "a/b", 10)) == KH_ERR_INVALID and rc(sh("del", "p:", "a{b")) ==
       KH_ERR_INVALID, "every call checks the id (non-ASCII, glob, slash, brace)")
    ok(rc(sh("put", "p/", "id", hx("x"), 60)) == KH_ERR_INVALID and
       rc(sh("put", "x" * 17, "id", hx("x"), 60)) == KH_ERR_INVALID,
       "bad tags are refused with INVALID")
    ok(r.keys() == keys_before, "refused calls wrote nothing")
    ok(rc(sh("put", "p:", "A-z_0.9:x", hx("x"), 60)) == KH_OK, "the whole id alphabet is accepted")

    # --- sizes -----------------------------------------------------------------
    ok(rc(sh("putn", "p:", "big", KV_VALUE_MAX, 60)) == KH_OK and
       sh("get", "p:", "big").get("len") == KV_VALUE_MAX, "a value of exactly 256 KiB round-trips")
    ok(rc(sh("putn", "p:", "big2", KV_VALUE_MAX + 1, 60)) == KH_ERR_TOO_LARGE and
       r.command("EXISTS", PREFIX + "p:big2") == 0, "256 KiB + 1: TOO_LARGE, nothing written")
    r.command("SET", PREFIX + "p:huge", b"h" * (KV_VALUE_MAX + 10))
    ok(rc(sh("get", "p:", "huge")) == KH_ERR_TOO_LARGE,
       "an oversize value planted in Redis is refused on read")
    r.command("HSET", PREFIX + "p:hash", "a", "b")
    ok(rc(sh("get", "p:", "hash")) == KH_ERR_UNAVAILABLE, "a key of the wrong type: an error, "
       "not a value")

    # --- secret ids --------------------------------------------------------------
    res = sh("secret-id", "code", "s3cr3t-code")
    ok(rc(res) == KH_OK and res.get("id") == secret_id("code", "s3cr3t-code"),
       "secret_id = hex(HMAC(secret, 'kv' ‖ purpose ‖ value)), length-prefixed", res)
    ok(sh("secret-id", "refresh", "s3cr3t-code").get("id") != res.get("id"),
       "the purpose separates ids of the same secret")
    ok(len(res.get("id", "")) == 64 and rc(sh("put", "c:", res["id"], hx("x"), 60)) == KH_OK,
       "a secret id is a valid kv id")
    dump = b"".join(k for k in r.keys())
    ok(b"s3cr3t-code" not in dump, "the secret itself never reaches Redis")


def registry_tests(sh, r):
    ok(sh("reg-version").get("version") == 0, "an empty registry has version 0")
    res = sh("reg-list")
    ok(rc(res) == KH_OK and res.get("docs") == [] and res.get("version") == 0,
       "list of an empty registry", res)
    doc1 = json.dumps({"id": "app1", "name": "Slack", "protocol": "saml"})
    ok(rc(sh("reg-put", "app1", hx(doc1), "create")) == KH_OK, "create app1")
    ok(sh("reg-version").get("version") == 1, "create bumps the version to 1")
    ok(rc(sh("reg-put", "app1", hx(doc1), "create")) == KH_ERR_EXISTS and
       sh("reg-version").get("version") == 1, "create of an existing id: EXISTS, no bump")
    ok(sh("reg-get", "app1").get("json") == doc1, "get returns the document")
    doc1b = json.dumps({"id": "app1", "name": "Slack 2"})
    ok(rc(sh("reg-put", "app1", hx(doc1b))) == KH_OK and sh("reg-version").get("version") == 2 and
       sh("reg-get", "app1").get("json") == doc1b, "put replaces and bumps")
    doc2 = json.dumps({"id": "app-2", "name": "kintone"})
    sh("reg-put", "app-2", hx(doc2), "create")
    res = sh("reg-list")
    ok(rc(res) == KH_OK and sorted(res.get("docs", [])) == sorted([doc1b, doc2]) and
       res.get("version") == 3, "list returns every document with the version", res)
    ok(sorted(r.command("SMEMBERS", PREFIX + "reg:apps")) == [b"app-2", b"app1"] and
       r.command("GET", PREFIX + "reg:version") == b"3" and
       r.command("EXISTS", PREFIX + "reg:app:app1") == 1, "the Redis layout matches registry.h")
    ok(rc(sh("reg-del", "app1")) == KH_OK and sh("reg-version").get("version") == 4 and
       rc(sh("reg-get", "app1")) == KH_ERR_NOT_FOUND and
       r.command("SMEMBERS", PREFIX + "reg:apps") == [b"app-2"], "delete removes and bumps")
    ok(rc(sh("reg-del", "app1")) == KH_ERR_NOT_FOUND and sh("reg-version").get("version") == 4,
       "delete of an absent app: NOT_FOUND, no bump")
    ok(rc(sh("reg-get", "nope")) == KH_ERR_NOT_FOUND, "get of an absent app: NOT_FOUND")

    # ids
    valid = {"a": 1, "A.b_c-9": 1, "x" * 128: 1, "x" * 129: 0, "a:b": 0, "a/b": 0, "é": 0,
             "a*": 0}
    got = {k: sh("reg-idvalid", k).get("valid") for k in valid}
    ok(got == valid, "id_valid: [A-Za-z0-9._-], 1..128", got)
    ok(rc(sh("reg-put", "a:b", hx(doc1))) == KH_ERR_INVALID and
       rc(sh("reg-get", "a*")) == KH_ERR_INVALID and rc(sh("reg-del", "x" * 129)) ==
       KH_ERR_INVALID, "bad ids are refused by put, get and delete")
    ok(rc(sh("reg-put", "e", "-")) == KH_ERR_INVALID, "an empty document is refused")
    # sizes
    ok(rc(sh("reg-putn", "big", APP_DOC_MAX)) == KH_OK, "a 512 KiB document is accepted")
    ok(rc(sh("reg-putn", "big2", APP_DOC_MAX + 1)) == KH_ERR_TOO_LARGE and
       rc(sh("reg-get", "big2")) == KH_ERR_NOT_FOUND, "512 KiB + 1: TOO_LARGE")
    sh("reg-del", "big")

    # a document in the set but missing, a planted bad id
    r.command("SADD", PREFIX + "reg:apps", "ghost")
    res = sh("reg-list")
    ok(rc(res) == KH_OK and res.get("docs") == [doc2], "an id without a document is skipped")
    r.command("SADD", PREFIX + "reg:apps", "bad id!")
    ok(rc(sh("reg-list")) == KH_ERR_UNAVAILABLE, "a corrupt id in the set: an error, not a guess")
    r.command("SREM", PREFIX + "reg:apps", "bad id!", "ghost")

    # concurrency: one winner for create_only
    res = sh("reg-race", "raced", 16)
    ok(rc(res) == KH_OK and res.get("created") == 1 and res.get("exists") == 15,
       "16 threads create the same id: exactly one wins, 15 get EXISTS", res)
    v0 = sh("reg-version").get("version")
    res = sh("reg-churn", 4, 200)
    v1 = sh("reg-version").get("version")
    ok(rc(res) == KH_OK and res.get("inconsistent") == 0 and res.get("backwards") == 0 and
       res.get("writer_rc") == KH_OK and res.get("lists") == 200,
       "lists stay consistent while 4 writers churn", res)
    ok(v1 - v0 >= 2 * 4, f"every churn write bumped the version ({v0} -> {v1})")


def main():
    r, work = probes.setup(PROBE, "kh-kv-")
    conf = probes.write_config(os.path.join(work, "probe.conf"), r.port, PREFIX, SECRET)

    sh = probes.Shell(PROBE, conf, log=STDERR)
    kv_tests(sh, r)
    registry_tests(sh, r)

    # --- Redis down: fail closed -------------------------------------------------
    r.stop()
    res = [sh("put", "p:", "x", hx("v"), 60), sh("put", "p:", "x", hx("v"), 60, "nx"),
           sh("get", "p:", "x"), sh("take", "p:", "x"), sh("del", "p:", "x"),
           sh("incr", "n:", "x", 60), sh("reg-version"), sh("reg-get", "app-2"),
           sh("reg-put", "app-3", hx("{}")), sh("reg-put", "app-3", hx("{}"), "create"),
           sh("reg-del", "app-2"), sh("reg-list")]
    codes = [rc(x) for x in res]
    ok(all(c == KH_ERR_UNAVAILABLE for c in codes),
       "Redis down: every kv and registry call returns UNAVAILABLE", codes)
    ok(rc(sh("secret-id", "code", "abc")) == KH_OK, "secret_id needs no Redis")
    r.start()
    ok(rc(sh("put", "p:", "back", hx("v"), 60)) == KH_OK and
       sh("get", "p:", "back").get("hex") == hx("v"), "after Redis returns, calls work again")
    ok(rc(sh("reg-version")) == KH_OK, "registry works again too")
    # a restart mid-connection: the idempotent GET is retried transparently
    r.restart()
    ok(rc(sh("reg-version")) == KH_OK and rc(sh("get", "p:", "back")) == KH_ERR_NOT_FOUND,
       "a Redis restart between calls is absorbed by one retry")

    code, err = sh.close()
    ok(code == 0 and clean(err), "the probe exits cleanly (no sanitizer report, no leak)",
       err[-3000:])
    allerr = "".join(STDERR)
    ok("s3cr3t-code" not in allerr, "no secret in the probe's log")
    khtest.done()


if __name__ == "__main__":
    main()
