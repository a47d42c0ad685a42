#!/usr/bin/env python3
"""sessions/mfa.h (per-user MFA state) against a real redis-server, driven
through tests/integration/mfa_probe. TAP output.

TOTP codes are computed here (RFC 6238 with hmac/hashlib), independently of
liboath. Needs the probe built (make) and redis-server installed; starts only
a private redis-server on a free loopback port and stops it at exit."""

import base64
import hashlib
import hmac
import json
import os
import re
import secrets
import struct
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok, diag  # noqa: E402
import probes  # noqa: E402
from probes import clean, lp, rc  # noqa: E402

PROBE = khtest.binary("tests/integration/mfa_probe")
PREFIX = "mfat:"
SECRET = secrets.token_bytes(32)
KEK = secrets.token_bytes(32)

(KH_OK, KH_ERR_INVALID, KH_ERR_TOO_LARGE, KH_ERR_NOT_FOUND, KH_ERR_UNAVAILABLE,
 KH_ERR_CRYPTO, KH_ERR_EXISTS, KH_ERR_REPLAY) = 0, -3, -4, -5, -6, -10, -11, -12

CODE_RE = re.compile(r"^[0-9A-HJKMNP-TV-Z]{4}(-[0-9A-HJKMNP-TV-Z]{4}){3}$")
SEALED_LEN = 20 + 1 + 12 + 16

# Everything that must never reach Redis in clear, filled as the test runs
# (TOTP secrets, recovery and bypass codes, device tokens, the KEK). The
# 6-digit TOTP codes are left out: as substrings they can occur by chance in
# hex digests and timestamps, and nothing stores them.
SENSITIVE = []


STDERR = []  # every probe stderr


# --- reference computations ---------------------------------------------------

def fold(uid):
    return "".join(chr(ord(c) + 32) if "A" <= c <= "Z" else c for c in uid)


def user_hash(uid):
    return hmac.new(SECRET, lp("user", fold(uid)), hashlib.sha256).hexdigest()


def mfa_key(uid):
    return PREFIX + "mfa:" + user_hash(uid)


def device_key(token):
    return PREFIX + "rd:" + hmac.new(SECRET, lp("rd", token), hashlib.sha256).hexdigest()


def code_hmac(purpose, code):
    canon = code.replace("-", "").replace(" ", "").upper()
    canon = canon.replace("O", "0").replace("I", "1").replace("L", "1")
    return hmac.new(SECRET, lp(purpose, canon), hashlib.sha256).hexdigest()


def totp(secret, t, digits=6, period=30):
    """RFC 6238 / RFC 4226 with HMAC-SHA-1, written from the RFCs."""
    mac = hmac.new(secret, struct.pack(">Q", t // period), hashlib.sha1).digest()
    off = mac[-1] & 15
    val = struct.unpack(">I", mac[off:off + 4])[0] & 0x7fffffff
    return str(val % 10 ** digits).zfill(digits)


def other_code(code):
    """A well-formed code that differs from code."""
    return ("1" if code[0] != "1" else "2") + code[1:]


def hx(s):
    return s.encode().hex()


# --- TOTP -----------------------------------------------------------------------

def totp_tests(sh, r):
    uid = "tanaka.taro"
    now = int(time.time())
    res = sh("state", uid)
    st = res.get("state", {})
    ok(rc(res) == KH_OK and st.get("totp_active") == 0 and st.get("has_factor") == 0 and
       st.get("webauthn") == [] and st.get("remembered_devices") == 0,
       "a new user has no MFA state", res)
    ok(rc(sh("totp-pending", uid)) == KH_ERR_NOT_FOUND and
       rc(sh("totp-check", uid, "123456", now, 1)) == KH_ERR_NOT_FOUND and
       rc(sh("totp-activate", uid, "123456", now, 1)) == KH_ERR_NOT_FOUND,
       "before enrolment: pending, check and activate are NOT_FOUND")

    res = sh("totp-begin", uid)
    first = bytes.fromhex(res.get("secret", ""))
    ok(rc(res) == KH_OK and len(first) == 20 and
       res.get("b32") == base64.b32encode(first).decode().rstrip("="),
       "begin returns a 20-byte secret (base32 as RFC 4648, unpadded)")
    SENSITIVE.extend([first, first.hex().encode(), res.get("b32", "").encode()])
    res = sh("totp-begin", uid)
    secret = bytes.fromhex(res.get("secret", ""))
    SENSITIVE.extend([secret, secret.hex().encode(), res.get("b32", "").encode()])
    ok(rc(res) == KH_OK and secret != first, "a second begin makes a fresh secret")
    res = sh("totp-pending", uid)
    ok(rc(res) == KH_OK and res.get("secret") == secret.hex(),
       "pending returns the latest pending secret")
    st = sh("state", uid).get("state", {})
    ok(st.get("totp_pending") == 1 and st.get("totp_active") == 0 and st.get("has_factor") == 0,
       "state: pending, not active, no factor yet", st)
    sealed = r.command("HGET", mfa_key(uid), "totp_pending")
    ok(isinstance(sealed, bytes) and len(sealed) == SEALED_LEN and secret not in sealed,
       f"the pending secret is stored sealed ({len(sealed or b'')} bytes = 1+12+20+16)")

    code = totp(secret, now)
    ok(rc(sh("totp-activate", uid, totp(first, now), now, 1)) == KH_ERR_INVALID,
       "activate with a code of the replaced secret: INVALID")
    ok(rc(sh("totp-activate", uid, other_code(code), now, 1)) == KH_ERR_INVALID,
       "activate with a wrong code: INVALID")
    ok(rc(sh("totp-activate", uid, code, now, 1)) == KH_OK,
       "activate with the code computed in Python (RFC 6238): OK")
    res = sh("state", uid)
    st = res.get("state", {})
    ok(st.get("totp_active") == 1 and st.get("totp_pending") == 0 and
       abs(st.get("totp_enrolled_at", 0) - now) <= 5 and st.get("has_factor") == 1,
       "state: active, enrolled now, nothing pending, has a factor", res)
    h = r.command("HGETALL", mfa_key(uid))
    fields = dict(zip(h[0::2], h[1::2]))
    ok(set(fields) == {b"totp", b"totp_at", b"totp_last"} and
       fields[b"totp_last"] == str(now // 30).encode() and len(fields[b"totp"]) == SEALED_LEN,
       "layout: totp (sealed), totp_at, totp_last = the step used", sorted(fields))
    ok(rc(sh("totp-pending", uid)) == KH_ERR_NOT_FOUND, "nothing pending after activation")

    ok(rc(sh("totp-check", uid, code, now, 1)) == KH_ERR_REPLAY,
       "check with the activation code again: REPLAY")
    t1 = now + 30
    c1 = totp(secret, t1)
    ok(rc(sh("totp-check", uid, c1, t1, 1)) == KH_OK, "check with the next step's code: OK")
    ok(rc(sh("totp-check", uid, c1, t1, 1)) == KH_ERR_REPLAY, "the same code again: REPLAY")
    ok(rc(sh("totp-check", uid, code, t1, 1)) == KH_ERR_REPLAY,
       "an older code still inside the window: REPLAY")
    ok(rc(sh("totp-check", uid, other_code(totp(secret, t1 + 30)), t1 + 30, 1)) ==
       KH_ERR_INVALID, "a wrong code: INVALID")
    ok(all(rc(sh("totp-check", uid, bad, t1 + 30, 1)) == KH_ERR_INVALID
           for bad in ("12a456", "12345", "1234567", "x" * 200)),
       "malformed codes: INVALID")
    t2 = now + 60
    c2 = totp(secret, t2)
    ok(rc(sh("totp-check", uid, c2[:3] + "+" + c2[3:], t2, 1)) == KH_OK,
       "a code typed as '123 456': OK")
    t3 = now + 150
    ok(rc(sh("totp-check", uid, totp(secret, t3 + 60), t3, 1)) == KH_ERR_INVALID,
       "two steps ahead with window 1: INVALID")
    res = sh("race", 8, "totp", uid, totp(secret, t3), t3, 1)
    ok(rc(res) == KH_OK and res.get("ok") == 1 and res.get("replay") == 7,
       "8 threads check one code at once: exactly one OK, 7 REPLAY", res)

    # --- the key-encryption key and the AAD ---------------------------------------
    wrong = secrets.token_bytes(32)
    sh("kek", wrong.hex())
    t4 = now + 180
    ok(rc(sh("totp-check", uid, totp(secret, t4), t4, 1)) == KH_ERR_CRYPTO,
       "check under a wrong KEK: CRYPTO")
    sh("kek", KEK.hex())
    sh("totp-begin", "kek.user")
    ok(rc(sh("totp-pending", "kek.user")) == KH_OK, "pending opens under the KEK it was sealed with")
    sh("kek", wrong.hex())
    ok(rc(sh("totp-pending", "kek.user")) == KH_ERR_CRYPTO, "pending under a wrong KEK: CRYPTO")
    sh("kek", KEK.hex())
    ok(rc(sh("totp-check", uid, totp(secret, t4), t4, 1)) == KH_OK,
       "the right KEK again: OK (the failed check used no step)")
    r.command("HSET", mfa_key("other.user"), "totp", r.command("HGET", mfa_key(uid), "totp"))
    t5 = now + 210
    ok(rc(sh("totp-check", "other.user", totp(secret, t5), t5, 1)) == KH_ERR_CRYPTO,
       "a sealed secret copied to another user's record does not open (AAD = uid)")
    r.command("DEL", mfa_key("other.user"))

    # --- folding -------------------------------------------------------------------
    ok(sh("state", "TANAKA.Taro").get("state", {}).get("totp_active") == 1,
       "user names are folded: TANAKA.Taro is tanaka.taro")
    ok(rc(sh("totp-check", "TANAKA.TARO", totp(secret, t5), t5, 1)) == KH_OK,
       "and a check under the upper-case name uses the same record")

    # --- pending expiry -------------------------------------------------------------
    sh("totp-begin", uid)
    r.command("HSET", mfa_key(uid), "totp_pending_at", str(int(time.time()) - 901))
    st = sh("state", uid).get("state", {})
    ok(rc(sh("totp-pending", uid)) == KH_ERR_NOT_FOUND and st.get("totp_pending") == 0 and
       st.get("totp_active") == 1,
       "a pending secret older than 15 minutes is gone; the active one stays")
    ok(rc(sh("totp-activate", uid, "123456", now, 1)) == KH_ERR_NOT_FOUND,
       "activate of an expired pending secret: NOT_FOUND")
    return secret


def totp_remove_tests(sh, r):
    uid = "remove.me"
    res = sh("totp-begin", uid)
    s = bytes.fromhex(res.get("secret", "00"))
    now = int(time.time())
    sh("totp-activate", uid, totp(s, now), now, 1)
    ok(rc(sh("totp-remove", uid)) == KH_OK and
       sh("state", uid).get("state", {}).get("totp_active") == 0 and
       rc(sh("totp-check", uid, totp(s, now + 30), now + 30, 1)) == KH_ERR_NOT_FOUND,
       "totp-remove: no active secret afterwards, check NOT_FOUND")
    ok(rc(sh("totp-remove", uid)) == KH_ERR_NOT_FOUND, "remove again: NOT_FOUND")
    ok(r.command("HGETALL", mfa_key(uid)) == [], "no TOTP field is left behind")


# --- recovery codes ----------------------------------------------------------------

def recovery_tests(sh, r):
    uid = "sato.hanako"
    res = sh("rc-gen", uid)
    codes = res.get("codes", [])
    SENSITIVE.extend(c.encode() for c in codes)
    SENSITIVE.extend(c.replace("-", "").encode() for c in codes)
    ok(rc(res) == KH_OK and len(codes) == 10 and len(set(codes)) == 10,
       "10 distinct recovery codes", codes)
    ok(all(CODE_RE.match(c) for c in codes), "format xxxx-xxxx-xxxx-xxxx, Crockford base32")
    st = sh("state", uid).get("state", {})
    ok(st.get("recovery_left") == 10 and st.get("has_factor") == 1,
       "state: 10 left; recovery codes count as a factor", st)
    fields = sorted(f.decode() for f in r.command("HKEYS", mfa_key(uid)))
    want = sorted("rc:" + code_hmac("mfa-recovery", c) for c in codes)
    ok(fields == want, "stored as rc:hex(HMAC(S, 'mfa-recovery' ‖ code)) only")

    ok(rc(sh("rc-use", uid, codes[0])) == KH_OK, "a code works once")
    ok(rc(sh("rc-use", uid, codes[0])) == KH_ERR_INVALID, "and not twice")
    ok(rc(sh("rc-use", uid, codes[1].replace("-", "").lower())) == KH_OK,
       "lower case without dashes: OK")
    ok(rc(sh("rc-use", uid, "+" + codes[2].replace("-", "+").lower() + "+")) == KH_OK,
       "spaces instead of dashes: OK")
    ok(rc(sh("rc-use", uid, codes[3].replace("0", "o").replace("1", "l"))) == KH_OK,
       "O read as 0, L as 1 (Crockford)")
    ok(rc(sh("rc-use", uid, codes[4].replace("1", "I").replace("0", "O"))) == KH_OK,
       "I read as 1")
    ok(sh("state", uid).get("state", {}).get("recovery_left") == 5, "5 left after 5 uses")
    bad = [codes[5][:-1], codes[5] + "A", "U" + codes[5][1:], codes[5].replace("-", "_"),
           "x" * 100, "-"]
    ok(all(rc(sh("rc-use", uid, b)) == KH_ERR_INVALID for b in bad),
       "malformed codes (15/17 symbols, U, '_', overlong): INVALID")
    ok(rc(sh("rc-use", "someone.else", codes[5])) == KH_ERR_INVALID,
       "a code of another user: INVALID")
    ok(sh("state", uid).get("state", {}).get("recovery_left") == 5,
       "refused attempts used nothing")

    res = sh("rc-gen", uid)
    new = res.get("codes", [])
    SENSITIVE.extend(c.encode() for c in new)
    ok(rc(res) == KH_OK and not set(new) & set(codes), "regenerate gives new codes")
    ok(rc(sh("rc-use", uid, codes[6])) == KH_ERR_INVALID, "an old code no longer works")
    ok(sh("state", uid).get("state", {}).get("recovery_left") == 10 and
       len(r.command("HKEYS", mfa_key(uid))) == 10, "exactly 10 codes after regenerating")
    res = sh("race", 16, "rc", uid, new[0])
    ok(rc(res) == KH_OK and res.get("ok") == 1 and res.get("invalid") == 15,
       "16 threads use one code at once: exactly one succeeds", res)
    res = sh("race", 2, "rc", uid, new[1])
    ok(res.get("ok") == 1 and res.get("invalid") == 1, "two racing uses: exactly one", res)


# --- WebAuthn ----------------------------------------------------------------------------

def webauthn_tests(sh, r):
    uid = "suzuki.ichiro"
    doc = json.dumps({"id": "credA", "alg": -7, "pubkey": "pQECAyYgASFYIA"})
    ok(rc(sh("wa-add", uid, "credA", hx(doc), 5)) == KH_OK, "add a credential")
    ok(rc(sh("wa-add", uid, "credA", hx(doc), 0)) == KH_ERR_EXISTS, "the same id again: EXISTS")
    res = sh("wa-get", uid, "credA")
    ok(rc(res) == KH_OK and res.get("doc") == doc and res.get("count") == 5,
       "get returns the document and the counter")
    ok(rc(sh("wa-counter", uid, "credA", 6)) == KH_OK, "counter 5 -> 6: OK")
    ok(rc(sh("wa-counter", uid, "credA", 6)) == KH_ERR_REPLAY, "6 -> 6: REPLAY")
    ok(rc(sh("wa-counter", uid, "credA", 2)) == KH_ERR_REPLAY, "6 -> 2: REPLAY (a clone)")
    ok(rc(sh("wa-counter", uid, "credA", 0)) == KH_ERR_REPLAY, "6 -> 0: REPLAY")
    ok(sh("wa-get", uid, "credA").get("count") == 6, "the counter kept the highest value")
    ok(rc(sh("wa-counter", uid, "credA", 4294967295)) == KH_OK and
       sh("wa-get", uid, "credA").get("count") == 4294967295, "counter up to 2^32 - 1")
    ok(rc(sh("wa-add", uid, "credB", hx("{}"), 0)) == KH_OK and
       rc(sh("wa-counter", uid, "credB", 0)) == KH_OK, "both counters 0 (no counter): OK")
    ok(rc(sh("wa-counter", uid, "credB", 1)) == KH_OK and
       rc(sh("wa-counter", uid, "credB", 0)) == KH_ERR_REPLAY,
       "0 -> 1: OK; then 1 -> 0: REPLAY")
    ok(rc(sh("wa-counter", uid, "nope", 9)) == KH_ERR_NOT_FOUND and
       rc(sh("wa-get", uid, "nope")) == KH_ERR_NOT_FOUND and
       rc(sh("wa-get", "nobody", "credA")) == KH_ERR_NOT_FOUND,
       "unknown credential (or another user's): NOT_FOUND")
    ok(all(rc(sh("wa-add", uid, i, hx(doc), 0)) == KH_ERR_INVALID
           for i in ("a/b", "a=", "a.b", "x" * 1367)),
       "credential ids must be base64url, at most 1366 characters")
    ok(rc(sh("wa-get", uid, "a+b")) == KH_ERR_INVALID, "get checks the id too")
    ok(rc(sh("wa-addn", uid, "big", 4097, 0)) == KH_ERR_TOO_LARGE and
       rc(sh("wa-addn", uid, "empty", 0, 0)) == KH_ERR_INVALID,
       "a document over 4096 bytes: TOO_LARGE; empty: INVALID")
    ok(rc(sh("wa-addn", uid, "x" * 1366, 4096, 0)) == KH_OK,
       "a 1366-character id with a 4096-byte document is accepted")
    for i in range(7):
        sh("wa-add", uid, f"c{i}", hx("{}"), 0)
    st = sh("state", uid).get("state", {})
    ok(len(st.get("webauthn", [])) == 10, "10 credentials stored", len(st.get("webauthn", [])))
    ok(rc(sh("wa-add", uid, "eleventh", hx("{}"), 0)) == KH_ERR_TOO_LARGE,
       "the 11th credential: TOO_LARGE")
    wa = {w["id"]: w for w in st.get("webauthn", [])}
    ok(wa.get("credA", {}).get("doc") == doc and wa.get("credA", {}).get("count") == 4294967295
       and wa.get("credB", {}).get("count") == 1 and st.get("has_factor") == 1,
       "state lists ids, documents and counters")
    ok(rc(sh("wa-remove", uid, "c0")) == KH_OK and rc(sh("wa-remove", uid, "c0")) ==
       KH_ERR_NOT_FOUND and rc(sh("wa-get", uid, "c0")) == KH_ERR_NOT_FOUND,
       "remove, then NOT_FOUND")
    ok(rc(sh("wa-add", uid, "eleventh", hx("{}"), 0)) == KH_OK, "room again after a remove")
    ok(r.command("HGET", mfa_key(uid), "wc:credA") == b"4294967295" and
       r.command("HGET", mfa_key(uid), "wa:credA") == doc.encode(),
       "layout: wa:<id> = document, wc:<id> = counter")
    # planted oversize document: refused on read
    r.command("HSET", mfa_key("planted"), "wa:p", b"d" * 5000, "wc:p", "0")
    ok(rc(sh("wa-get", "planted", "p")) == KH_ERR_TOO_LARGE and
       rc(sh("state", "planted")) == KH_ERR_TOO_LARGE,
       "an oversize document planted in Redis is refused on read")
    r.command("DEL", mfa_key("planted"))
    for i in range(80):
        r.command("HSET", mfa_key("planted"), f"junk{i}", "1")
    ok(rc(sh("state", "planted")) == KH_ERR_TOO_LARGE, "a hash with too many fields is refused")
    r.command("DEL", mfa_key("planted"))
    r.command("SET", mfa_key("planted"), "x")
    ok(rc(sh("state", "planted")) == KH_ERR_UNAVAILABLE,
       "a key of the wrong type: an error, not empty state")
    r.command("DEL", mfa_key("planted"))


# --- bypass -------------------------------------------------------------------------------

def bypass_tests(sh, r):
    uid = "helpdesk.target"
    res = sh("bypass-issue", uid, 3600)
    code = res.get("code", "")
    SENSITIVE.extend([code.encode(), code.replace("-", "").encode()])
    now = int(time.time())
    ok(rc(res) == KH_OK and CODE_RE.match(code), "issue a bypass code")
    st = sh("state", uid).get("state", {})
    ok(st.get("bypass_active") == 1 and abs(st.get("bypass_expires", 0) - (now + 3600)) <= 5 and
       st.get("has_factor") == 0, "state: bypass active with its expiry (not a factor)", st)
    ok(r.command("HGET", mfa_key(uid), "bypass") == code_hmac("mfa-bypass", code).encode(),
       "stored as hex(HMAC(S, 'mfa-bypass' ‖ code))")
    ok(rc(sh("bypass-use", uid, other_code(code))) == KH_ERR_INVALID and
       sh("state", uid).get("state", {}).get("bypass_active") == 1,
       "a wrong code: INVALID, the right one still works afterwards")
    ok(rc(sh("rc-use", uid, code)) == KH_ERR_INVALID, "a bypass code is no recovery code")
    ok(rc(sh("bypass-use", "someone.else", code)) == KH_ERR_INVALID, "nor another user's bypass")
    ok(rc(sh("bypass-use", uid, code.lower())) == KH_OK, "the code works once")
    ok(rc(sh("bypass-use", uid, code)) == KH_ERR_INVALID, "and not twice")
    ok(sh("state", uid).get("state", {}).get("bypass_active") == 0, "state: no bypass left")

    a = sh("bypass-issue", uid, 3600).get("code", "")
    b = sh("bypass-issue", uid, 3600).get("code", "")
    SENSITIVE.extend([a.encode(), b.encode()])
    ok(rc(sh("bypass-use", uid, a)) == KH_ERR_INVALID and rc(sh("bypass-use", uid, b)) == KH_OK,
       "a new bypass code replaces the earlier one")
    c = sh("bypass-issue", uid, 1).get("code", "")
    SENSITIVE.append(c.encode())
    time.sleep(2.2)
    ok(sh("state", uid).get("state", {}).get("bypass_active") == 0,
       "state: an expired bypass is not active")
    ok(rc(sh("bypass-use", uid, c)) == KH_ERR_INVALID, "an expired bypass code: INVALID")
    ok(rc(sh("bypass-issue", uid, 0)) == KH_ERR_INVALID and
       rc(sh("bypass-issue", uid, 31 * 86400)) == KH_ERR_INVALID,
       "ttl 0 or over 30 days: INVALID")
    d = sh("bypass-issue", uid, 600).get("code", "")
    SENSITIVE.append(d.encode())
    res = sh("race", 8, "bypass", uid, d)
    ok(res.get("ok") == 1 and res.get("invalid") == 7,
       "8 threads use one bypass code at once: exactly one succeeds", res)


# --- failures and lock ----------------------------------------------------------------------

def failure_tests(sh, r):
    uid = "fail.user"
    got = [sh("fail", uid, 3, 60, 120) for _ in range(3)]
    ok([g.get("failures") for g in got] == [1, 2, 3] and
       [g.get("locked_for") for g in got] == [0, 0, 120],
       "failures count 1, 2, 3 and the third locks for 120 s", got)
    res = sh("lock-check", uid)
    ok(rc(res) == KH_OK and res.get("failures") == 3 and 118 <= res.get("locked_for", 0) <= 120,
       "lock-check: 3 failures, locked", res)
    st = sh("state", uid).get("state", {})
    ok(st.get("failures") == 3 and st.get("locked_for", 0) > 0, "state shows them too")
    uh = user_hash(uid)
    ttl_c = r.command("TTL", PREFIX + "mff:" + uh)
    ttl_l = r.command("TTL", PREFIX + "mfl:" + uh)
    ok(55 <= ttl_c <= 60 and 115 <= ttl_l <= 120,
       f"layout: mff: with the window's TTL ({ttl_c}), mfl: with the lock's ({ttl_l})")
    ok(sh("fail", uid, 3, 60, 120).get("failures") == 4, "counting goes on while locked")
    ok(rc(sh("unlock", uid)) == KH_OK, "unlock")
    res = sh("lock-check", uid)
    ok(res.get("failures") == 0 and res.get("locked_for") == 0, "unlock clears count and lock",
       res)
    ok(r.command("EXISTS", PREFIX + "mff:" + uh) == 0 and
       r.command("EXISTS", PREFIX + "mfl:" + uh) == 0, "both keys are gone")
    ok(all(rc(sh("fail", uid, *a)) == KH_ERR_INVALID
           for a in ((0, 60, 60), (3, 0, 60), (3, 60, 0), (3, 31 * 86400, 60))),
       "max, window or lock out of range: INVALID")
    r.command("SET", PREFIX + "mfl:" + uh, "1")
    res = sh("lock-check", uid)
    ok(res.get("locked_for", 0) > 0, "a lock left without TTL still locks", res)
    res = sh("fail", uid, 3, 60, 120)
    ok(0 < r.command("TTL", PREFIX + "mfl:" + uh) <= 120, "and the next failure repairs its TTL")
    sh("unlock", uid)


# --- remembered devices -------------------------------------------------------------------------

def device_tests(sh, r):
    uid, other = "yamada.hanako", "kimura.jiro"
    res = sh("dev-remember", uid, 30)
    tok = res.get("token", "")
    SENSITIVE.append(tok.encode())
    ok(rc(res) == KH_OK and re.fullmatch(r"[A-Za-z0-9_-]{43}", tok), "remember a device")
    ok(sh("dev-check", uid, tok).get("live") == 1, "the token is live for its user")
    ok(sh("dev-check", "YAMADA.Hanako", tok).get("live") == 1, "under the folded name too")
    ok(sh("dev-check", other, tok).get("live") == 0, "another user's token is refused")
    tok2 = sh("dev-remember", other, 30).get("token", "")
    SENSITIVE.append(tok2.encode())
    ok(sh("dev-check", uid, tok2).get("live") == 0 and sh("dev-check", other, tok2).get("live") == 1,
       "each user only with their own token")
    fake = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    ok(sh("dev-check", uid, fake).get("live") == 0, "an unknown token: 0")
    ok(all(sh("dev-check", uid, t).get("live") == 0
           for t in (tok[:-1], tok + "A", tok[:-1] + "!", "x")),
       "malformed tokens: 0 without a lookup")
    key = device_key(tok)
    ttl = r.command("TTL", key)
    ok(r.command("GET", key) == user_hash(uid).encode() and 30 * 86400 - 5 <= ttl <= 30 * 86400,
       "layout: rd:hex(HMAC(S, 'rd' ‖ token)) -> U(uid), TTL 30 days")
    members = r.command("SMEMBERS", PREFIX + "rdu:" + user_hash(uid))
    ok(members == [key[len(PREFIX) + 3:].encode()], "rdu: lists the device's hash")
    tok3 = sh("dev-remember", uid, 1).get("token", "")
    SENSITIVE.append(tok3.encode())
    ok(sh("state", uid).get("state", {}).get("remembered_devices") == 2, "state: 2 devices")
    r.command("PEXPIRE", device_key(tok3), 1)
    time.sleep(0.2)
    ok(sh("dev-check", uid, tok3).get("live") == 0, "an expired device token: 0")
    ok(sh("state", uid).get("state", {}).get("remembered_devices") == 1 and
       len(r.command("SMEMBERS", PREFIX + "rdu:" + user_hash(uid))) == 1,
       "state counts live devices only and prunes the index")
    ok(rc(sh("dev-remember", uid, 0)) == KH_ERR_INVALID and
       rc(sh("dev-remember", uid, 366)) == KH_ERR_INVALID, "days 0 or over 365: INVALID")
    cap_uid = "many.devices"
    res = [rc(sh("dev-remember", cap_uid, 1)) for _ in range(51)]
    ok(res[:50] == [KH_OK] * 50 and res[50] == KH_ERR_TOO_LARGE,
       "at most 50 remembered devices per user")
    sh("reset", cap_uid)
    return tok, tok2


# --- the whole-store scan and the reset -----------------------------------------------------------

def dump_all(r):
    out = []
    for k in r.keys():
        out.append(k)
        t = r.command("TYPE", k)
        if t == b"hash":
            out.extend(r.command("HGETALL", k))
        elif t == b"string":
            out.append(r.command("GET", k))
        elif t == b"set":
            out.extend(r.command("SMEMBERS", k))
        else:
            out.append(b"?type " + t)
    return out


def scan_tests(r, uids):
    items = dump_all(r)
    blob = b"\n".join(items)
    ok(not any(b"?type" in i for i in items), "only hashes, strings and sets in Redis")
    leaked = [s for s in SENSITIVE if s and s in blob]
    ok(not leaked, f"no secret, code or token in any key or value ({len(SENSITIVE)} checked)",
       [s[:8] for s in leaked])
    names = [u.encode() for u in uids] + [fold(u).encode() for u in uids]
    ok(not any(n in blob for n in names), "no user name in any key or value",
       [n for n in names if n in blob])


def reset_tests(sh, r, dev_tok, other_tok):
    uid = "yamada.hanako"
    s = bytes.fromhex(sh("totp-begin", uid).get("secret", "00"))
    now = int(time.time())
    sh("totp-activate", uid, totp(s, now), now, 1)
    sh("totp-begin", uid)  # a pending one too
    sh("rc-gen", uid)
    sh("wa-add", uid, "k1", hx("{}"), 0)
    sh("wa-add", uid, "k2", hx("{}"), 0)
    sh("bypass-issue", uid, 600)
    sh("fail", uid, 5, 60, 60)
    tok_b = sh("dev-remember", uid, 30).get("token", "")
    uh = user_hash(uid)
    keys_before = [k for k in r.keys() if uh.encode() in k]
    ok(len(keys_before) == 3, "before the reset: mfa:, mff:, rdu: of the user",
       keys_before)
    res = sh("reset", uid)
    ok(rc(res) == KH_OK and res.get("totp") == 1 and res.get("recovery") == 10 and
       res.get("webauthn") == 2 and res.get("devices") == 2,
       "reset reports 1 TOTP, 10 codes, 2 credentials, 2 devices", res)
    ok(not [k for k in r.keys() if uh.encode() in k], "every key of the user is gone")
    ok(r.command("EXISTS", device_key(dev_tok)) == 0 and r.command("EXISTS", device_key(tok_b))
       == 0, "the remembered devices' rd: keys are gone")
    ok(sh("dev-check", uid, dev_tok).get("live") == 0, "a remembered device no longer passes")
    ok(sh("dev-check", "kimura.jiro", other_tok).get("live") == 1,
       "another user's remembered device is untouched")
    st = sh("state", uid).get("state", {})
    ok(st.get("totp_active") == 0 and st.get("totp_pending") == 0 and
       st.get("recovery_left") == 0 and st.get("webauthn") == [] and
       st.get("bypass_active") == 0 and st.get("failures") == 0 and
       st.get("remembered_devices") == 0 and st.get("has_factor") == 0,
       "state after the reset: nothing", st)
    res = sh("reset", uid)
    ok(rc(res) == KH_OK and [res.get(k) for k in ("totp", "recovery", "webauthn", "devices")] ==
       [0, 0, 0, 0], "a second reset: all zero")


def bad_uid_tests(sh, r):
    keys_before = r.keys()
    ok(rc(sh("state", "x" * 1025)) == KH_ERR_TOO_LARGE and
       rc(sh("rc-gen", "x" * 1025)) == KH_ERR_TOO_LARGE,
       "a user name over 1024 bytes: TOO_LARGE")
    ok(r.keys() == keys_before, "refused calls wrote nothing")


def down_tests(sh, r):
    r.stop()
    uid = "tanaka.taro"
    now = int(time.time())
    tok = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    calls = [("state", uid), ("totp-begin", uid), ("totp-pending", uid),
             ("totp-activate", uid, "123456", now, 1), ("totp-check", uid, "123456", now, 1),
             ("totp-remove", uid), ("rc-gen", uid), ("rc-use", uid, "AAAA-BBBB-CCCC-DDDD"),
             ("wa-add", uid, "z", hx("{}"), 0), ("wa-get", uid, "z"), ("wa-counter", uid, "z", 1),
             ("wa-remove", uid, "z"), ("bypass-issue", uid, 60),
             ("bypass-use", uid, "AAAA-BBBB-CCCC-DDDD"), ("fail", uid, 3, 60, 60),
             ("lock-check", uid), ("unlock", uid), ("dev-remember", uid, 1),
             ("dev-check", uid, tok), ("reset", uid)]
    codes = {c[0]: rc(sh(*c)) for c in calls}
    ok(all(v == KH_ERR_UNAVAILABLE for v in codes.values()),
       "Redis down: every mfa.h call returns UNAVAILABLE", codes)
    r.start()
    ok(rc(sh("state", uid)) == KH_OK, "after Redis returns, calls work again")


def main():
    r, work = probes.setup(PROBE, "kh-mfa-")
    conf = probes.write_config(os.path.join(work, "probe.conf"), r.port, PREFIX, SECRET,
                               {"mfa": {"kek": KEK.hex()}})
    SENSITIVE.append(KEK)
    SENSITIVE.append(KEK.hex().encode())

    sh = probes.Shell(PROBE, conf, log=STDERR)
    totp_tests(sh, r)
    totp_remove_tests(sh, r)
    recovery_tests(sh, r)
    webauthn_tests(sh, r)
    bypass_tests(sh, r)
    failure_tests(sh, r)
    dev_tok, other_tok = device_tests(sh, r)
    uids = ["tanaka.taro", "sato.hanako", "suzuki.ichiro", "helpdesk.target", "fail.user",
            "yamada.hanako", "kimura.jiro", "kek.user", "山田太郎"]
    # a Japanese user name end to end
    s = bytes.fromhex(sh("totp-begin", "山田太郎").get("secret", "00"))
    SENSITIVE.append(s)
    now = int(time.time())
    ok(rc(sh("totp-activate", "山田太郎", totp(s, now), now, 1)) == KH_OK and
       rc(sh("totp-check", "山田太郎", totp(s, now + 30), now + 30, 1)) == KH_OK,
       "a Japanese user name: enrol and check")
    scan_tests(r, uids)
    reset_tests(sh, r, dev_tok, other_tok)
    bad_uid_tests(sh, r)
    down_tests(sh, r)

    code, err = sh.close()
    ok(code == 0 and clean(err), "the probe exits cleanly (no sanitizer report, no leak)",
       err[-3000:])
    allerr = "".join(STDERR).encode()
    ok(not [s for s in SENSITIVE if s and s in allerr], "no secret, code or token in the log")
    khtest.done()


if __name__ == "__main__":
    main()
