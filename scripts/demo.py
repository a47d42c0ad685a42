#!/usr/bin/env python3
"""The demo behind ./demo.sh: a generated directory of staff with Japanese
names in a private slapd, a private redis-server, kakehashid with development
signing keys, and two real applications that sign in through it: a SAML
service provider (Apache + mod_auth_mellon) and an OpenID Connect relying
party (Apache + mod_auth_openidc). All on loopback; prints where to go and
whom to sign in as; Ctrl-C stops it all."""

import argparse
import json
import os
import secrets
import signal
import socket
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
os.environ.setdefault("KH_KEEP_TMP", "")
import admintool  # noqa: E402
import khtest  # noqa: E402
import mellon_sp  # noqa: E402
import oidc_rp  # noqa: E402
import openidc_apache  # noqa: E402
import saml_stack  # noqa: E402
import stack  # noqa: E402


def port_free(port):
    s = socket.socket()
    try:
        s.bind(("127.0.0.1", port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def set_category(st, app_id, category):
    """Marks a registered demo app as a communication app (registry layout in
    sessions/registry.h); running daemons pick it up at the next poll."""
    key = f"kh:reg:app:{app_id}"
    doc = json.loads(st.redis.command("GET", key))
    doc["category"] = category
    st.redis.command("SET", key, json.dumps(doc, ensure_ascii=False))
    st.redis.command("INCR", "kh:reg:version")


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8080, help="kakehashid port (default 8080, "
                    "or a free one when taken)")
    ap.add_argument("--staff", type=int, default=250, help="generated staff (default 250)")
    args = ap.parse_args()
    port = args.port if port_free(args.port) else khtest.free_port()
    work = khtest.tmpdir("kh-demo-")
    admin_token = secrets.token_urlsafe(32)
    tokens = admintool.write_tokens(os.path.join(work, "admin-tokens"),
                                    ("demo-admin", "admin", admin_token))
    overrides = oidc_rp.dev_keys(work)
    overrides.update({"log.level": "info", "admin.tokens_file": tokens,
                      "registry.poll_ms": 200,
                      # The built-in prefecture policy: the two demo apps are
                      # communication apps, so outside the government network
                      # (loopback is not in it) they ask for a second factor.
                      "policy.file": "", "mfa.enrol_zones": "*"})
    st = stack.Stack(count=args.staff, slapd_loglevel="none", port=port, overrides=overrides)
    print("Starting slapd, redis-server, kakehashid and two demo applications on 127.0.0.1 ...",
          flush=True)
    try:
        st.start()
        base = f"http://127.0.0.1:{st.daemon.port}"
        md = st.daemon.client().get("/saml/metadata").text
        sp = mellon_sp.MellonSP(md, khtest.tmpdir("kh-demo-mellon-"))
        saml_stack.register(st, "demo-saml-sp", sp.entity_id, sp.metadata(),
                            nameid_format="persistent",
                            attributes=[{"source": "display_name", "name": "displayName"},
                                        {"source": "mail", "name": "mail"},
                                        {"source": "groups", "name": "groups"}])
        sp.start()
        rp = openidc_apache.start_apache(st, base)
        for app_id in ("demo-saml-sp", "apache-rp"):
            set_category(st, app_id, "communication")
    except Exception as e:  # noqa: BLE001
        print(f"demo: could not start: {e}", file=sys.stderr)
        return 1
    acc = st.accounts
    print(f"""
Kakehashi demo is running / デモを起動しました

  Sign-in page / サインイン:   {base}/login
  SAML app (mod_auth_mellon):  {sp.base}/secret/env
  OIDC app (mod_auth_openidc): {rp.url("/protected/claims")}
    Sign in at one app, then open the other: no second password (SSO).
    一方のアプリでサインインすると、もう一方はパスワードなしで開けます。
    Both are communication apps under the prefecture policy: from outside the
    government network they ask for a second factor; the first time you set up an
    authenticator app (TOTP: QR code) and get recovery codes (passkeys need a
    host name, not 127.0.0.1: see docs/mfa.md).
    両アプリは「コミュニケーション系」: 庁外からは二段階認証（初回は認証アプリ/
    パスキーを登録）が必要です。
  MFA settings / 二段階認証の設定: {base}/mfa/setup
  Helpdesk reset / ヘルプデスク:  kakehashictl mfa reset UID --reason TEXT --bypass
  IdP metadata / メタデータ:   {base}/saml/metadata
  OIDC discovery:              {base}/.well-known/openid-configuration
  Readiness / 稼働確認:        {base}/readyz
  Metrics / メトリクス:        {base}/metrics

  Admin CLI / 管理 CLI:
    export KAKEHASHI_URL={base} KAKEHASHI_TOKEN={admin_token}
    {os.path.join(khtest.BUILD, "kakehashictl")} app list

  Demo staff / デモ職員 (password / パスワード: {st.password})""")
    notes = {"ok": "", "locked": "locked / ロック中", "password_expired": "password expired / 期限切れ",
             "must_change": "must change password / 要変更"}
    for uid, a in acc.get("accounts", {}).items():
        if uid.startswith(("dup.", "odd.")):
            continue  # fixtures for edge-case tests, not demo people
        note = notes.get(a.get("expect", ""), a.get("expect", ""))
        groups = ", ".join(a.get("groups", []))
        print(f"    {uid:<16} {a.get('display_name') or '':<8} {note or groups}")
    print(f"""    ... and {len(st.users)} staff in all (e.g. {', '.join(st.users[10:13])})

  Directory / ディレクトリ:    {st.slapds[0].uri}  base {stack.slapd.BASE_DN}
  Redis:                       127.0.0.1:{st.redis.port}
  Daemon log / ログ:           {st.daemon.log}

Press Ctrl-C to stop everything / Ctrl-C で停止します。""", flush=True)

    stopping = []
    signal.signal(signal.SIGINT, lambda *_: stopping.append(1))
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    while not stopping:
        if st.daemon.proc.poll() is not None:
            print("demo: kakehashid exited; log tail:\n" + st.daemon.log_tail(), file=sys.stderr)
            break
        time.sleep(0.5)
    print("\nStopping ...", flush=True)
    st.stop()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
