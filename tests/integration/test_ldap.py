#!/usr/bin/env python3
"""The LDAP connector against real private slapd servers, through
tests/integration/ldap_probe: logins and identities (Japanese names, groups
via memberOf and via search), refusals before any traffic, filter injection,
password policy outcomes, odd directory data, failover between two servers,
all servers down, and many threads at once (run under ASan when configured
with --enable-sanitizers). Prints TAP; exits non-zero on failure."""

import json
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import slapd  # noqa: E402

PROBE = khtest.binary("tests/integration/ldap_probe")
if not os.access(PROBE, os.X_OK):
    khtest.bail(f"{PROBE} not built: run make")

tmp = khtest.tmpdir("kh-ldap-test-")
acc = slapd.generate_directory(tmp, count=250)
PW = acc["password"]
A = slapd.Slapd(acc["ldif"], workdir=os.path.join(tmp, "a"))
B = slapd.Slapd(acc["ldif"], workdir=os.path.join(tmp, "b"))
try:
    A.start()
    B.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))

_ncfg = 0


def config(uris=None, **ldap):
    """Writes a kakehashi.conf for the probe; ldap keys override [ldap]."""
    global _ncfg
    _ncfg += 1
    keys = {"uris": uris or A.uri, "bind_dn": slapd.SERVICE_DN,
            "bind_password": slapd.SERVICE_PASSWORD, "base_dn": slapd.BASE_DN,
            "network_timeout": "2", "timeout": "5"}
    keys.update(ldap)
    path = os.path.join(tmp, f"probe{_ncfg}.conf")
    with open(path, "w", encoding="utf-8") as f:
        f.write("[server]\nbase_url = http://127.0.0.1:8080\n\n[session]\n")
        f.write(f"secret = {os.urandom(32).hex()}\n\n[ldap]\n")
        for k, v in keys.items():
            f.write(f"{k} = {v}\n")
        f.write("\n[log]\nlevel = info\n")
    return path


def probe(cfg, *args, timeout=60):
    t0 = time.monotonic()
    r = subprocess.run([PROBE, cfg, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout)
    out = r.stdout.decode("utf-8", "replace").splitlines()
    res = {"rc": r.returncode, "name": out[0] if out else "", "json": None,
           "stderr": r.stderr.decode("utf-8", "replace"), "elapsed": time.monotonic() - t0}
    if len(out) > 1:
        try:
            res["json"] = json.loads(out[1])
        except ValueError:
            pass
    return res


def auth(cfg, user, pw):
    return probe(cfg, "auth", user, pw)


def auth_hex(cfg, user: bytes, pw: bytes):
    return probe(cfg, "auth-hex", user.hex(), pw.hex())


def ident(r):
    return (r["json"] or {}).get("identity") or {}


def show(r):
    return f"rc={r['rc']} name={r['name']} json={r['json']}\nstderr: {r['stderr'][-1500:]}"


CFG = config()
DEPT_IT = "情報政策課"

# --- basics ---------------------------------------------------------------
r = probe(CFG, "ping")
ok(r["rc"] == 0 and r["name"] == "ok", "ping answers with the service account", show(r))

r = auth(CFG, "yamada.taro", PW)
i = ident(r)
ok(r["rc"] == 0 and r["name"] == "ok", "good login: ok", show(r))
ok(i.get("display_name") == "山田 太郎" and i.get("family_name") == "山田"
   and i.get("given_name") == "太郎", "Japanese display, family and given names", i)
ok(i.get("uid") == "yamada.taro"
   and i.get("dn") == "uid=yamada.taro,ou=people,dc=example,dc=lg,dc=jp"
   and i.get("mail") == "yamada.taro@pref.example.lg.jp" and i.get("employee_number") == "000001"
   and i.get("department") == DEPT_IT and i.get("title") == "主任",
   "uid, dn, mail, employee number, department and title mapped", i)
ok(sorted(i.get("groups", [])) == sorted(["all-staff", "it-admins", DEPT_IT]),
   "groups via memberOf: all-staff, it-admins and the department", i.get("groups"))
ok(r["json"]["info"]["grace_logins_left"] == -1 and r["json"]["info"]["expires_in"] == -1,
   "no policy warnings for a normal account", r["json"]["info"])

r = auth(CFG, "sato.hanako", PW)
g = ident(r).get("groups", [])
ok(r["name"] == "ok" and ident(r).get("display_name") == "佐藤 花子" and "helpdesk" in g
   and "it-admins" not in g, "sato.hanako: 佐藤 花子, helpdesk, not it-admins", show(r))

wrong = auth(CFG, "yamada.taro", "not-the-password")
ok(wrong["rc"] != 0 and wrong["name"] == "invalid" and ident(wrong) == {},
   "wrong password: invalid, no identity", show(wrong))
unknown = auth(CFG, "no.such.user", PW)
ok(unknown["name"] == "invalid" and unknown["json"]["result"] == wrong["json"]["result"]
   and unknown["json"]["info"]["grace_logins_left"] == -1,
   "unknown user: the same result as a wrong password", show(unknown))
ok(auth(CFG, "YAMADA.TARO", PW)["name"] == "ok",
   "login names match as the directory matches them (uid is case-insensitive)")

# --- refused before any traffic -------------------------------------------


def no_traffic(name, fn):
    """fn() must give 'invalid' and slapd must see no connection at all."""
    off_a, off_b = A.log_size(), B.log_size()
    r = fn()
    new = A.log_since(off_a) + B.log_since(off_b)
    ok(r["name"] == "invalid" and slapd.Slapd.count_ops(new, "ACCEPT") == 0
       and slapd.Slapd.count_ops(new, "BIND") == 0,
       f"{name}: invalid, refused before any connection", show(r) + "\n" + new[-800:])


# positive control: the log does show a normal attempt
off = A.log_size()
auth(CFG, "yamada.taro", "not-the-password")
seen = A.log_since(off)
ok(slapd.Slapd.count_ops(seen, "ACCEPT") >= 1 and slapd.Slapd.count_ops(
    seen, "BIND", "uid=yamada.taro,ou=people,dc=example,dc=lg,dc=jp") == 1,
   "(control) a wrong password shows up in slapd's log as a user BIND", seen[-800:])

no_traffic("empty password", lambda: auth(CFG, "yamada.taro", ""))
no_traffic("empty password (hex)", lambda: auth_hex(CFG, b"yamada.taro", b""))
no_traffic("empty username", lambda: auth(CFG, "", PW))
no_traffic("NUL in username", lambda: auth_hex(CFG, b"yamada.taro\x00x", PW.encode()))
no_traffic("NUL in password", lambda: auth_hex(CFG, b"yamada.taro", PW.encode() + b"\x00x"))
no_traffic("invalid UTF-8 username", lambda: auth_hex(CFG, b"yamada.taro\xc3", PW.encode()))
no_traffic("Latin-1 username", lambda: auth_hex(CFG, b"jos\xe9", PW.encode()))
no_traffic("control character in username", lambda: auth_hex(CFG, b"yamada\x01taro", PW.encode()))
no_traffic("invalid UTF-8 password", lambda: auth_hex(CFG, b"yamada.taro", b"pw\xff\xfe"))
no_traffic("over-long username (257 bytes)", lambda: auth(CFG, "a" * 257, PW))
no_traffic("over-long password (1025 bytes)", lambda: auth(CFG, "yamada.taro", "p" * 1025))

# --- filter injection -----------------------------------------------------
for name in ("*)(uid=*", "*", "yamada*", "*)(|(uid=*", "yamada.taro)(uid=*"):
    off = A.log_size()
    r = auth(CFG, name, PW)
    new = A.log_since(off)
    ok(r["name"] == "invalid" and slapd.Slapd.count_ops(new, "BIND", None) ==
       slapd.Slapd.count_ops(new, "BIND", slapd.SERVICE_DN),
       f"username {name!r}: invalid, no user bind at all", show(r))
off = A.log_size()
auth(CFG, "*)(uid=*", PW)
new = A.log_since(off)
ok("(uid=\\2A\\29\\28uid=\\2A)" in new, "the injection reaches slapd escaped", new[-600:])
r = probe(CFG, "lookup", "*")
ok(r["rc"] == 1 and r["name"] == "not_found", "lookup '*': not found", show(r))

# --- password policy ------------------------------------------------------
r = auth(CFG, "locked.user", PW)
ok(r["name"] == "locked" and ident(r) == {}, "locked account: locked, no identity", show(r))
r = auth(CFG, "expired.user", PW)
ok(r["name"] == "password_expired" and ident(r) == {}, "expired password: password_expired",
   show(r))
r = auth(CFG, "expired.user", "not-the-password")
ok(r["name"] == "invalid", "expired account with a wrong password: invalid", show(r))
r = auth(CFG, "reset.user", PW)
ok(r["name"] == "must_change" and r["rc"] != 0 and ident(r) == {},
   "reset password (bind succeeds with changeAfterReset): must_change, never ok", show(r))
r = auth(CFG, "grace.user", PW)
ok(r["name"] == "ok" and r["json"]["info"]["grace_logins_left"] >= 0,
   "grace login: ok with grace_logins_left reported", show(r))
r = auth(CFG, "expiring.user", PW)
ok(r["name"] == "ok" and r["json"]["info"]["expires_in"] > 0,
   "expiring password: ok with expires_in reported", show(r))

# --- odd directory data ---------------------------------------------------
r = auth(CFG, "odd.user", PW)
i = ident(r)
ok(r["name"] == "ok" and i.get("display_name") is None
   and i.get("mail") == "odd.user@pref.example.lg.jp" and i.get("title") == "主任"
   and "all-staff" in i.get("groups", []),
   "odd entry: missing displayName is null, first mail, control-char title skipped", show(r))

# --- lookup ---------------------------------------------------------------
r = probe(CFG, "lookup", "yamada.taro")
ok(r["rc"] == 0 and r["name"] == "found" and (r["json"] or {}).get("display_name") == "山田 太郎"
   and "it-admins" in (r["json"] or {}).get("groups", []), "lookup: identity with groups", show(r))
r = probe(CFG, "lookup", "no.such.user")
ok(r["rc"] == 1 and r["name"] == "not_found", "lookup of an unknown user: not_found", show(r))

# --- other configurations -------------------------------------------------
cfg_search = config(group_mode="search", group_base="ou=groups," + slapd.BASE_DN)
r = auth(cfg_search, "yamada.taro", PW)
ok(r["name"] == "ok" and sorted(ident(r).get("groups", [])) ==
   sorted(["all-staff", "it-admins", DEPT_IT]), "group_mode=search gives the same groups",
   show(r))
r = auth(config(group_mode="none"), "yamada.taro", PW)
ok(r["name"] == "ok" and ident(r).get("groups") == [], "group_mode=none: no groups", show(r))
cfg_mail = config(login_attribute="mail")
r = auth(cfg_mail, "sato.hanako@pref.example.lg.jp", PW)
ok(r["name"] == "ok" and ident(r).get("uid") == "sato.hanako@pref.example.lg.jp"
   and ident(r).get("display_name") == "佐藤 花子", "login_attribute=mail", show(r))
r = auth(cfg_mail, "shared.mailbox@pref.example.lg.jp", PW)
ok(r["name"] == "invalid", "two entries match: invalid (ambiguous, never the first)", show(r))
r = auth(config(user_filter="(memberOf=cn=it-admins,ou=groups," + slapd.BASE_DN + ")"),
         "sato.hanako", PW)
ok(r["name"] == "invalid", "user_filter is ANDed: a user outside it cannot log in", show(r))
cfg_badsvc = config(bind_password="wrong-service-password")
r = auth(cfg_badsvc, "yamada.taro", PW)
ok(r["name"] == "error" and "ldap.service_bind_failed" in r["stderr"],
   "wrong service password: error, logged", show(r))
ok(PW not in r["stderr"] and "wrong-service-password" not in r["stderr"],
   "no password in the logs")
ok(probe(cfg_badsvc, "ping")["rc"] != 0, "ping fails with a wrong service password")

# --- threads --------------------------------------------------------------
r = probe(CFG, "threads", "8", "yamada.taro", PW, "25", timeout=300)
j = r["json"] if r["json"] is not None else {}
if not j and r["name"].startswith("{"):
    j = json.loads(r["name"])
ok(r["rc"] == 0 and j.get("unexpected") == 0 and j.get("ok") == 8 * 25 * 3,
   "8 threads x 25 rounds (login, wrong password, lookup): all answers right", show(r))
ok("AddressSanitizer" not in r["stderr"] and "runtime error" not in r["stderr"],
   "threads: no sanitizer report", r["stderr"][-2000:])

# --- failover -------------------------------------------------------------
CFG2 = config(uris=f"{A.uri} {B.uri}")
rp = subprocess.Popen([PROBE, CFG2, "repl"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                      stderr=subprocess.PIPE, text=True, encoding="utf-8")


def repl(line):
    rp.stdin.write(line + "\n")
    rp.stdin.flush()
    name = rp.stdout.readline().strip()
    js = rp.stdout.readline().strip()
    return name, json.loads(js) if js else None


name, _ = repl(f"auth yamada.taro {PW}")
ok(name == "ok", "failover: login with both servers up (handles now open on the first)", name)
offb = B.log_size()
A.stop()
name, js = repl(f"auth yamada.taro {PW}")
newb = B.log_since(offb)
ok(name == "ok" and (js or {}).get("identity", {}).get("display_name") == "山田 太郎",
   "failover: first server stopped, the same process logs in again", name)
ok(slapd.Slapd.count_ops(newb, "BIND", "uid=yamada.taro,ou=people,dc=example,dc=lg,dc=jp") == 1,
   "failover: the login went to the second server", newb[-600:])
name, _ = repl("lookup sato.hanako")
ok(name == "found", "failover: lookups continue on the second server", name)
rp.stdin.close()
rp.wait(30)
err = rp.stderr.read()
ok(rp.returncode == 0 and "ldap.failover" in err, "failover: logged as ldap.failover", err[-800:])

r = auth(CFG2, "yamada.taro", PW)
ok(r["name"] == "ok", "a fresh process with the first server down uses the second", show(r))

B.stop()
r = auth(CFG2, "yamada.taro", PW)
ok(r["name"] == "unavailable" and r["elapsed"] < 2 + 1.5,
   f"all servers down: unavailable within network_timeout ({r['elapsed']:.2f} s)", show(r))
r = probe(CFG2, "ping")
ok(r["rc"] != 0 and r["name"] != "ok",
   "all servers down: ping fails", show(r))
r = probe(CFG2, "lookup", "yamada.taro")
ok(r["rc"] == 2, "all servers down: lookup reports unavailable (not 'not found')", show(r))

A.start()
r = auth(CFG2, "yamada.taro", PW)
ok(r["name"] == "ok", "first server back: logins work again", show(r))
A.stop()
ok(not A.running() and not B.running(), "both slapd servers stopped")

# --- scale ----------------------------------------------------------------
t0 = time.monotonic()
big = slapd.generate_directory(tmp, count=7500)
gen_s = time.monotonic() - t0
C = slapd.Slapd(big["ldif"], workdir=os.path.join(tmp, "c"))
t0 = time.monotonic()
try:
    C.start()
    started = True
except slapd.SlapdError as e:
    started = False
    khtest.diag(str(e))
load_s = time.monotonic() - t0
ok(started and gen_s < 10 and load_s < 20,
   f"7,500 staff: generated in {gen_s:.1f} s, loaded and started in {load_s:.1f} s")
if started:
    r = auth(config(uris=C.uri), "yamada.taro", PW)
    ok(r["name"] == "ok" and ident(r).get("display_name") == "山田 太郎",
       "login against the 7,500-staff directory", show(r))
    C.stop()
with open(acc["accounts_file"], encoding="utf-8") as f:
    small = json.load(f)
ok(small["first_generated"] == big["first_generated"],
   "the seed gives the same first users for any --count", (small["first_generated"],
                                                            big["first_generated"]))

khtest.done()
