#!/usr/bin/env python3
"""Headless Chromium (Debian's chromium via playwright-core) through SAML
with mod_auth_mellon and pysaml2: runs tests/e2e/saml.test.mjs against a
private stack and passes its TAP lines through."""

import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402
import mellon_sp  # noqa: E402
import pysaml2_sp  # noqa: E402
import saml_stack  # noqa: E402

E2E = os.path.join(khtest.ROOT, "tests", "e2e")
if not (shutil.which("node") and os.path.exists("/usr/bin/chromium")
        and os.path.isdir(os.path.join(E2E, "node_modules", "playwright-core"))):
    khtest.bail("node, /usr/bin/chromium or tests/e2e/node_modules/playwright-core missing")
os.environ.setdefault("LSAN_OPTIONS", "suppressions=" + os.path.join(
    os.path.dirname(__file__), "..", "lib", "lsan_lasso.supp"))
st = saml_stack.saml_stack(count=20)
try:
    st.start()
    d = st.daemon
    md = d.client().get("/saml/metadata").text
    py = pysaml2_sp.PySaml2SP(md, khtest.tmpdir("kh-e2e-py-")).start()
    mel = mellon_sp.MellonSP(md, khtest.tmpdir("kh-e2e-mel-")).start()
except Exception as e:  # noqa: BLE001
    khtest.bail(str(e))
attrs = [{"source": "display_name", "name": "displayName"}, {"source": "mail", "name": "mail"}]
saml_stack.register(st, "py", py.entity_id, py.metadata(), attributes=attrs)
saml_stack.register(st, "mellon", mel.entity_id, mel.metadata(), attributes=attrs)
env = dict(os.environ, KH_IDP=f"http://127.0.0.1:{d.port}", KH_MELLON=mel.base,
           KH_PYSAML2=py.base, KH_USER="yamada.taro", KH_PASSWORD=st.password,
           KH_EXPECT_NAME="山田 太郎")
p = subprocess.run(["node", os.path.join(E2E, "saml.test.mjs")], env=env, cwd=E2E,
                   capture_output=True, text=True, timeout=300)
lines = [x for x in p.stdout.splitlines() if x.startswith(("ok ", "not ok ", "#"))]
for line in lines:
    if line.startswith("#"):
        khtest.diag(line[1:].strip())
    else:
        good = line.startswith("ok ")
        ok(good, "chromium: " + line.split(" - ", 1)[-1])
ok(p.returncode == 0 and lines, "saml.test.mjs exits 0", p.stderr[-2000:])
ok(d.proc.poll() is None, "kakehashid still running")
rc = st.stop()
mel.stop()
py.stop()
ok(rc == 0, "kakehashid exits 0", rc)
khtest.done()
