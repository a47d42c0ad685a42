#!/usr/bin/env python3
"""kakehashid's command line: -t checks, -T prints with secrets redacted,
precise messages and non-zero exits for bad configuration."""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "lib"))
import khtest  # noqa: E402
from khtest import ok  # noqa: E402

BIN = khtest.binary("kakehashid")
EXAMPLE = os.path.join(khtest.ROOT, "docs", "kakehashi.conf.example")
SECRET = "8f14e45fceea167a5a36dedd4bea2543" * 2
tmp = khtest.tmpdir()


def run(*args):
    p = subprocess.run([BIN, *args], capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def conf(text, name="k.conf"):
    path = os.path.join(tmp, name)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    return path


with open(EXAMPLE, encoding="utf-8") as f:
    example = f.read()
rc, out, err = run("-c", EXAMPLE, "-t")
ok(rc == 1 and "placeholder" in err, "the shipped example is refused until its secret is replaced",
   err)
good = conf(example.replace("secret = " + "0" * 64, "secret = " + SECRET))
rc, out, err = run("-c", good, "-t")
ok(rc == 0 and "valid" in out, "the example with a real secret passes -t", err)
rc, out, err = run("-c", good, "-T")
ok(rc == 0 and "[ldap]" in out and "base_url = https://idp.pref.example.lg.jp" in out,
   "-T prints the effective configuration")
ok("change-me" not in out and SECRET not in out and "bind_password = (redacted)" in out
   and "secret = (redacted)" in out, "-T redacts secrets")
ok("threads = 8" in out and "idle_timeout = 1800" in out, "-T includes defaults")

cases = [
    ("missing file", None, "cannot open"),
    ("unknown key", example.replace("[log]", "[log]\ncolour = blue"), "unknown key [log] colour"),
    ("bad number", example.replace("threads = 8", "threads = lots"), "threads"),
    ("out of range", example.replace("threads = 8", "threads = 100000"), "from 1 to 256"),
    ("http off loopback", example.replace("https://idp.pref", "http://idp.pref"), "https://"),
    ("duplicate key", example.replace("[log]", "[log]\nlevel = debug"), "set twice"),
]
for name, text, needle in cases:
    path = os.path.join(tmp, "missing.conf") if text is None else conf(
        text.replace("secret = " + "0" * 64, "secret = " + SECRET), name.replace(" ", "_"))
    rc, out, err = run("-c", path, "-t")
    ok(rc == 1 and needle in err, f"-t refuses: {name}", err)
m = re.search(r"line (\d+)", run("-c", conf(example.replace("threads = 8", "threads = x"), "l.conf"),
                                    "-t")[2])
ok(m is not None, "errors name the line")
# Signing keys: -t loads them and renders the SAML metadata through lasso.
keys1, keys2 = os.path.join(tmp, "k1"), os.path.join(tmp, "k2")
for d in (keys1, keys2):
    subprocess.run([os.path.join(khtest.ROOT, "certs", "gen-dev-keys.sh"), d], check=True,
                   capture_output=True, env=dict(os.environ, KH_RSA_BITS="2048"))
with_keys = example.replace("secret = " + "0" * 64, "secret = " + SECRET).replace(
    "\nrsa_key =\n", f"\nrsa_key = {keys1}/rsa.key\n").replace(
    "\nrsa_cert =\n", f"\nrsa_cert = {keys1}/rsa.crt\n").replace(
    "\nec_key =\n", f"\nec_key = {keys1}/ec.key\n")
rc, out, err = run("-c", conf(with_keys, "keys.conf"), "-t")
ok(rc == 0, "-t accepts a configuration with signing keys (metadata checked by lasso)", err)
rc, out, err = run("-c", conf(with_keys.replace(f"rsa_cert = {keys1}", f"rsa_cert = {keys2}"),
                              "mismatch.conf"), "-t")
ok(rc == 1 and "rsa" in err.lower(), "-t refuses a certificate that does not match the key", err)
rc, out, err = run("-c", conf(with_keys.replace(f"{keys1}/rsa.key", f"{tmp}/none.key"),
                              "nokey.conf"), "-t")
ok(rc == 1 and "none.key" in err, "-t names a missing key file", err)
rc, out, err = run("-x")
ok(rc == 2 and "usage" in err, "unknown option prints usage, exit 2")
rc, out, err = run()
ok(rc == 2, "no -c is a usage error")
khtest.done()
