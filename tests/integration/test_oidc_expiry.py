#!/usr/bin/env python3
"""Authorization codes expire: with [oidc] code_lifetime = 10 s, a code
redeemed after 11 s is refused (invalid_grant) and gives no tokens."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import oidc_rp  # noqa: E402
import slapd  # noqa: E402
import stack  # noqa: E402

CB = "http://127.0.0.1:9/cb"
work = khtest.tmpdir("kh-oidc-exp-")
st = stack.Stack(overrides=oidc_rp.overrides(work, {"oidc.code_lifetime": 10,
                                                     "login.min_delay_ms": 10}))
try:
    st.start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
cid, secret = oidc_rp.register(st, "exp", {"redirect_uris": [CB],
                                          "token_endpoint_auth_method": "client_secret_basic",
                                          "scopes": ["openid", "profile"]})
rp = oidc_rp.ScriptedRp(st, cid, secret, CB)
verifier, challenge = oidc_rp.pkce()
r, url = rp.authorize("yamada.taro", slapd.DEMO_PASSWORD, scope="openid", state="s",
                      code_challenge=challenge, code_challenge_method="S256")
code = oidc_rp.query_of(url).get("code") if url else None
ok(code is not None, "a code is issued", r.status)
time.sleep(11)
tr, body = rp.exchange(code or "", verifier)
ok(tr.status == 400 and (body or {}).get("error") == "invalid_grant",
   "a code redeemed after code_lifetime is refused with invalid_grant", (tr.status, body))
ok("access_token" not in (body or {}), "and gives no tokens")
r, url = rp.authorize(None, None, scope="openid", state="s2",
                      code_challenge=challenge, code_challenge_method="S256")
code2 = oidc_rp.query_of(url).get("code") if url else None
tr, body = rp.exchange(code2 or "", verifier)
ok(tr.status == 200 and "id_token" in (body or {}), "a fresh code from the same session works",
   (tr.status, body))
ok(st.stop() == 0, "the daemon stops cleanly", st.daemon.log_tail())
khtest.done()
