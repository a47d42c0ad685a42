#!/usr/bin/env python3
"""The demo behind ./demo.sh: a generated directory of staff with Japanese
names in a private slapd, a private redis-server and kakehashid, all on
loopback; prints where to go and whom to sign in as; Ctrl-C stops it all."""

import argparse
import os
import signal
import socket
import sys
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))
os.environ.setdefault("KH_KEEP_TMP", "")
import khtest  # noqa: E402
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


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--port", type=int, default=8080, help="kakehashid port (default 8080, "
                    "or a free one when taken)")
    ap.add_argument("--staff", type=int, default=250, help="generated staff (default 250)")
    args = ap.parse_args()
    port = args.port if port_free(args.port) else khtest.free_port()
    st = stack.Stack(count=args.staff, slapd_loglevel="none", port=port,
                     overrides={"log.level": "info"})
    print("Starting slapd, redis-server and kakehashid on 127.0.0.1 ...", flush=True)
    try:
        st.start()
    except Exception as e:  # noqa: BLE001
        print(f"demo: could not start: {e}", file=sys.stderr)
        return 1
    acc = st.accounts
    base = f"http://127.0.0.1:{st.daemon.port}"
    print(f"""
Kakehashi demo is running / デモを起動しました

  Sign-in page / サインイン:   {base}/login
  Readiness / 稼働確認:        {base}/readyz
  Metrics / メトリクス:        {base}/metrics

  Demo staff / デモ職員 (password / パスワード: {st.password})""")
    notes = {"ok": "", "locked": "locked / ロック中", "password_expired": "password expired / 期限切れ",
             "must_change": "must change password / 要変更"}
    for uid, a in acc.get("accounts", {}).items():
        note = notes.get(a.get("expect", ""), a.get("expect", ""))
        groups = ", ".join(a.get("groups", []))
        print(f"    {uid:<16} {a.get('display_name', ''):<8} {note or groups}")
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
