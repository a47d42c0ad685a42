#!/usr/bin/env python3
"""An OIDC client's whole life through the admin CLI: kakehashictl app
add-oidc (secret shown once, stored hashed), the running daemon picks the
client up without restart, a code flow with PKCE signs a Japanese-named user
in, rotate-secret retires the old secret, update-oidc changes the redirect
URIs, remove ends it; a helpdesk token may do none of this."""

import hashlib
import json
import os
import secrets
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import oidc_rp  # noqa: E402
import slapd  # noqa: E402
import stack  # noqa: E402

CTL = khtest.binary("kakehashictl")
PW = slapd.DEMO_PASSWORD
CB = "http://127.0.0.1:9/cb"

work = khtest.tmpdir("kh-oidc-admin-")
admin_tok, help_tok = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
tokens = os.path.join(work, "admin-tokens")
with open(tokens, "w") as f:
    f.write(f"ops admin {hashlib.sha256(admin_tok.encode()).hexdigest()}\n")
    f.write(f"desk helpdesk {hashlib.sha256(help_tok.encode()).hexdigest()}\n")
st = stack.Stack(overrides=oidc_rp.overrides(work, {"admin.tokens_file": tokens,
                                                     "login.min_delay_ms": 10}))
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
base = f"http://127.0.0.1:{st.daemon.port}"


def ctl(*args, token=admin_tok):
    env = {k: v for k, v in os.environ.items() if not k.startswith("KAKEHASHI_")}
    env.update(KAKEHASHI_URL=base, KAKEHASHI_TOKEN=token)
    return subprocess.run([CTL, *args], capture_output=True, text=True, env=env, timeout=60)


def wait_for(pred, timeout=5.0):
    end = time.time() + timeout
    while time.time() < end:
        if pred():
            return True
        time.sleep(0.1)
    return pred()


p = ctl("app", "add-oidc", "--name", "portal", "--redirect-uri", CB, "--scopes",
        "openid,profile,email,groups", token=help_tok)
ok(p.returncode == 1 and "kh_" not in p.stdout, "a helpdesk token cannot register a client",
   p.stdout + p.stderr)
p = ctl("--json", "app", "add-oidc", "--name", "portal", "--redirect-uri", CB, "--scopes",
        "openid,profile,email,groups")
ok(p.returncode == 0, "kakehashictl app add-oidc registers a client", p.stdout + p.stderr)
reply = json.loads(p.stdout or "{}")
secret = reply.get("client_secret", "")
cid = reply.get("app", {}).get("oidc", {}).get("client_id", "")
ok(len(secret) >= 22 and cid, "the client secret (>= 128 bits) is shown once", reply)
stored = st.redis.cli("GET", f"kh:reg:app:{reply.get('app', {}).get('id', '')}")
ok(secret and secret not in stored and "secret_hash" in stored,
   "the registry holds a hash, never the secret")
p = ctl("--json", "app", "show", reply.get("app", {}).get("id", ""))
ok(p.returncode == 0 and secret not in p.stdout, "app show never prints the secret")

rp = oidc_rp.ScriptedRp(st, cid, secret, CB)


def id_claims(res):
    tok = (res.get("tokens") or {}).get("id_token")
    return oidc_rp.jwt_parts(tok)[1] if tok else {}


ok(wait_for(lambda: st.daemon.client().get(rp.authorize_url()).status in (302, 303)),
   "the running daemon picks the new client up without a restart")
res = rp.code_flow("yamada.taro", PW, scope="openid profile groups")
idt = id_claims(res)
ok(idt.get("name") == "山田 太郎" and idt.get("aud") in (cid, [cid]),
   "code flow with PKCE: the ID token names 山田 太郎 for this client",
   {k: v for k, v in res.items() if k != "response"})

app_id = reply.get("app", {}).get("id", "")
p = ctl("--json", "app", "rotate-secret", app_id)
new_secret = json.loads(p.stdout or "{}").get("client_secret", "")
ok(p.returncode == 0 and new_secret and new_secret != secret, "rotate-secret issues a new secret")
time.sleep(0.6)
old_rp = oidc_rp.ScriptedRp(st, cid, secret, CB)
r, _ = old_rp.token_request({"grant_type": "client_credentials"})
ok(r.status == 401, "the old secret is refused after rotation", r.status)
new_rp = oidc_rp.ScriptedRp(st, cid, new_secret, CB)
res = new_rp.code_flow("sato.hanako", PW, scope="openid profile")
ok(id_claims(res).get("name") == "佐藤 花子", "the new secret works",
   {k: v for k, v in res.items() if k != "response"})

p = ctl("app", "update-oidc", app_id, "--redirect-uri", "http://127.0.0.1:9/other")
ok(p.returncode == 0, "update-oidc changes the redirect URIs", p.stdout + p.stderr)
ok(wait_for(lambda: st.daemon.client().get(new_rp.authorize_url()).status == 400),
   "the old redirect URI is refused once the change is picked up")

p = ctl("app", "remove", app_id, token=help_tok)
ok(p.returncode == 1, "a helpdesk token cannot remove a client")
p = ctl("app", "remove", app_id)
ok(p.returncode == 0, "app remove", p.stdout + p.stderr)
ok(wait_for(lambda: st.daemon.client().get(
    f"/oidc/authorize?client_id={cid}&response_type=code&redirect_uri=http%3A%2F%2F127.0.0.1%3A9"
    f"%2Fother&scope=openid").status == 400), "a removed client is refused")
p = ctl("app", "add-oidc", "--name", "x", "--redirect-uri", "javascript:alert(1)")
ok(p.returncode != 0, "a non-http(s) redirect URI is refused", p.stdout + p.stderr)
for bad in ("http://localhost:1@evil.example/cb", "http://127.0.0.1:808@/cb",
            "http://evil.example/cb", "https://user@portal.example.lg.jp/cb",
            "http://127.0.0.1.evil.example/cb", "http://localhost:99999/cb"):
    p = ctl("app", "add-oidc", "--name", "y", "--redirect-uri", bad)
    ok(p.returncode != 0, f"redirect URI refused: {bad} (userinfo/host tricks, found by fuzzing)",
       p.stdout + p.stderr)
p = ctl("app", "add-oidc", "--name", "z", "--redirect-uri", "http://127.0.0.1:8080/cb")
ok(p.returncode == 0, "a loopback http redirect URI with a port is accepted", p.stdout + p.stderr)
ok(st.stop() == 0, "the daemon stops cleanly", st.daemon.log_tail())
khtest.done()
