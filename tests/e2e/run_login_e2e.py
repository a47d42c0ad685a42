#!/usr/bin/env python3
"""Browser sign-in test: the whole stack on loopback, driven by headless Chromium.

Generates the directory, starts a private slapd, redis-server and kakehashid
(tests/lib/stack.py), runs `node tests/e2e/login.test.mjs` against them and
relays its TAP lines as they come, then audits Chromium's network use:

  * while the browser runs, every 50 ms, the TCP and UDP sockets held by the
    node process and all its descendants (Chromium's browser, network,
    renderer and GPU processes) are looked up by inode in /proc/PID/fd and
    /proc/PID/net/{tcp,tcp6,udp,udp6}: none may have a peer outside loopback;
  * Chromium's NetLog (--log-net-log, written by lib/browser.mjs when
    KH_NETLOG is set) must show no TCP connect and no UDP datagram to an
    address outside loopback and no DNS lookup at all; the Google services
    Chromium still tries to reach are listed as diagnostics (the
    host-resolver rules make each fail with ERR_NAME_NOT_RESOLVED before any
    packet is sent).

Prints TAP: the browser test's lines verbatim, then the driver's own checks
numbered after them, then one plan for all. Needs `npm ci` in tests/e2e first
(./test.sh does it). KH_SCREENSHOT=FILE keeps a screenshot of the signed-in
page; KH_KEEP_TMP=1 keeps the temporary directories.
"""

import os
import shutil
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import khtest  # noqa: E402
# The loopback audit (socket sampler, NetLog reader, TAP relay) and the
# driver's common steps are shared with run_mfa_e2e.py.
from netaudit import (audit_netlog, check_run, diag_blocked, load_netlog,  # noqa: E402
                      need_browser, run_node_test)

USER = "yamada.taro"
EXPECT_NAME = "山田 太郎"
MIN_DELAY_MS = 200
NODE_TIMEOUT = 240  # seconds for the whole browser test


def main():
    try:
        import stack  # tests/lib/stack.py (needs slapd.py, redisd.py, kakehashid.py)
    except ImportError as e:
        khtest.bail(f"test fixtures missing: {e}")
    node = need_browser()

    st = stack.Stack(count=250, overrides={"login.min_delay_ms": MIN_DELAY_MS})
    try:
        st.start()
    except Exception as e:
        khtest.bail(f"stack did not start: {e}")
    work = khtest.tmpdir("kh-e2e-")
    netlog = os.path.join(work, "netlog.json")
    env = dict(os.environ)
    env.update({
        "KH_BASE_URL": f"http://127.0.0.1:{st.daemon.port}",
        "KH_USER": USER,
        "KH_PASSWORD": st.password,
        "KH_EXPECT_NAME": EXPECT_NAME,
        "KH_MIN_DELAY_MS": str(MIN_DELAY_MS),
        "KH_NETLOG": netlog,
        "TMPDIR": work,  # the Chromium profile goes here too
    })
    khtest.diag(f"kakehashid on 127.0.0.1:{st.daemon.port}, slapd {st.slapds[0].uri}, "
                f"redis 127.0.0.1:{st.redis.port}")

    # tcpdump, when installed, watches the whole machine (TESTING.md): other
    # processes may add packets, so its count is a diagnostic, not a test.
    tcpdump = None
    if shutil.which("tcpdump") and os.geteuid() == 0:
        tcpdump_out = os.path.join(work, "tcpdump.txt")
        tcpdump = khtest.spawn(["tcpdump", "-i", "any", "-n", "-p", "-l",
                                "not host 127.0.0.1 and not ip6 host ::1"],
                               log_path=tcpdump_out)
        time.sleep(0.5)
    rc, tests, failures, plan, watch = run_node_test(node, "login.test.mjs", env, NODE_TIMEOUT)
    check_run(rc, tests, failures, plan, watch)

    try:
        problems, blocked, peers, udp = audit_netlog(load_netlog(netlog))
        readable = True
    except (OSError, ValueError, KeyError) as e:
        problems, blocked, peers, udp, readable = [f"NetLog: {e}"], [], set(), [], False
    khtest.ok(readable and not problems,
              "Chromium's NetLog: no DNS lookup, no TCP or UDP traffic beyond loopback",
              "\n".join(problems[:20]))
    want = f"127.0.0.1:{st.daemon.port}"
    khtest.ok(readable and peers == {want},
              f"Chromium's NetLog: every TCP connection went to kakehashid ({want})",
              f"TCP peers: {sorted(peers)}")
    diag_blocked(blocked, udp)

    if tcpdump is not None:
        khtest.stop(tcpdump)
        with open(tcpdump_out, encoding="utf-8", errors="replace") as f:
            pkts = [ln for ln in f.read().splitlines()
                    if ln and not ln.startswith(("tcpdump:", "listening on")) and
                    "packets " not in ln]
        khtest.diag(f"tcpdump -i any (whole machine, any process): {len(pkts)} packets "
                    "outside loopback during the browser test")
        for ln in pkts[:10]:
            khtest.diag(f"  {ln}")

    rc = st.stop()
    khtest.ok(rc == 0, "kakehashid stops cleanly (exit 0) after the browser test",
              f"exit {rc}\n{st.daemon.log_tail()}")
    khtest.done()


if __name__ == "__main__":
    main()
