"""Loopback network audit for the browser tests (shared by run_login_e2e.py
and run_mfa_e2e.py).

  * SocketWatch samples, every 50 ms, the TCP and UDP sockets held by a
    process and all its descendants (node, Chromium's browser, network,
    renderer and GPU processes), looked up by inode in /proc/PID/fd and
    /proc/PID/net/{tcp,tcp6,udp,udp6}, and records any peer outside loopback;
  * load_netlog / audit_netlog read Chromium's NetLog (--log-net-log, written
    by lib/browser.mjs when KH_NETLOG is set) and list DNS lookups, TCP
    connects and UDP datagrams beyond loopback;
  * relay copies a node test's TAP lines as they come; need_browser,
    run_node_test, check_run and diag_blocked are the parts of a driver both
    scripts share (prerequisites, the run under a SocketWatch, the checks
    that follow it).
"""

import ipaddress
import json
import os
import re
import shutil
import subprocess
import sys
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))

import khtest  # noqa: E402

# Chromium's IPv6 reachability probe: connect() on a UDP socket to Google's
# public DNS address, then getsockname(); no datagram is ever sent on it. No
# switch turns it off in this Chromium; the NetLog check below proves that
# nothing was sent.
IPV6_PROBE = ("2001:4860:4860::8888", 443)


# ---- sockets of a process tree -------------------------------------------

def _children_map():
    kids = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat", "rb") as f:
                stat = f.read().decode("ascii", "replace")
        except OSError:
            continue
        # pid (comm) state ppid ...: comm may hold spaces and parentheses
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) >= 2:
            kids.setdefault(int(rest[1]), []).append(int(d))
    return kids


def descendants(pid):
    kids = _children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(kids.get(p, []))
    return out


def _comm(pid):
    try:
        with open(f"/proc/{pid}/comm", encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _socket_inodes(pid):
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def _addr(hexaddr):
    """'0100007F:1F90' (or a 32-hex-digit IPv6 address) -> (ip string, port)."""
    host, port = hexaddr.split(":")
    raw = bytes.fromhex(host)
    if len(raw) == 4:
        ip = ipaddress.IPv4Address(raw[::-1])
    else:
        # four 32-bit words, each in host (little-endian) order
        ip = ipaddress.IPv6Address(b"".join(raw[i:i + 4][::-1] for i in range(0, 16, 4)))
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
    return str(ip), int(port, 16)


def _socket_table(pid):
    """inode -> (proto, local, remote, state) from the process's network namespace."""
    table = {}
    for proto in ("tcp", "tcp6", "udp", "udp6"):
        try:
            with open(f"/proc/{pid}/net/{proto}", encoding="ascii") as f:
                lines = f.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            cols = line.split()
            if len(cols) < 10:
                continue
            table[cols[9]] = (proto, _addr(cols[1]), _addr(cols[2]), cols[3])
    return table


def _is_loopback_or_unset(ip, port):
    a = ipaddress.ip_address(ip)
    return a.is_loopback or (a.is_unspecified and port == 0)


class SocketWatch(threading.Thread):
    """Samples the sockets of root_pid's process tree until stop()."""

    def __init__(self, root_pid, interval=0.05):
        super().__init__(daemon=True)
        self.root = root_pid
        self.interval = interval
        self.samples = 0
        self.chromium_seen = set()
        self.loopback_peers = set()
        self.foreign = {}      # (proto, ip, port) -> (pid, comm)
        self.probe_seen = 0
        self._halt = threading.Event()

    def stop(self):
        self._halt.set()
        self.join(5)

    def sample(self):
        pids = descendants(self.root)
        table = None
        for pid in pids:
            comm = _comm(pid)
            if "chrom" in comm:
                self.chromium_seen.add(pid)
            inodes = _socket_inodes(pid)
            if not inodes:
                continue
            if table is None:
                table = _socket_table(pid)
            for ino in inodes:
                ent = table.get(ino)
                if ent is None:
                    continue
                proto, _, (rip, rport), _ = ent
                if _is_loopback_or_unset(rip, rport):
                    if rport:
                        self.loopback_peers.add(f"{rip}:{rport}")
                    continue
                if proto.startswith("udp") and (rip, rport) == IPV6_PROBE:
                    self.probe_seen += 1
                    continue
                self.foreign.setdefault((proto, rip, rport), (pid, comm))
        self.samples += 1

    def run(self):
        while not self._halt.is_set():
            try:
                self.sample()
            except Exception as e:  # a process may vanish mid-scan
                khtest.diag(f"socket sampler: {e!r}")
            self._halt.wait(self.interval)


# ---- NetLog ---------------------------------------------------------------

def load_netlog(path):
    """Parses a NetLog; tolerates a file cut short by a killed browser."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        fixed = text.rstrip().rstrip(",")
        for tail in ("]}", "}]}", ""):
            try:
                return json.loads(fixed + tail)
            except ValueError:
                continue
    raise ValueError("unreadable NetLog")


def audit_netlog(log):
    """Returns (problems, blocked_urls, tcp_peers, udp_connects)."""
    types = {v: k for k, v in log["constants"]["logEventTypes"].items()}
    problems, blocked, tcp_peers, udp = [], [], set(), {}
    sent_on = set()
    for ev in log.get("events", []):
        t = types.get(ev.get("type"), "?")
        p = ev.get("params") or {}
        src = (ev.get("source") or {}).get("id")
        if t.startswith("DNS_TRANSACTION") or t in ("HOST_RESOLVER_SYSTEM_TASK",
                                                     "HOST_RESOLVER_DNS_TASK", "MDNS_QUERY"):
            problems.append(f"{t}: {json.dumps(p)[:200]}")
        elif t in ("TCP_CONNECT_ATTEMPT", "TCP_CONNECT") and ("address" in p or
                                                               "remote_address" in p):
            addr = p.get("address") or p.get("remote_address")
            host, _, port = addr.rpartition(":")
            host = host.strip("[]")
            tcp_peers.add(addr)
            if not ipaddress.ip_address(host).is_loopback:
                problems.append(f"{t} to {addr}")
        elif t == "UDP_CONNECT" and "address" in p:
            udp[src] = p["address"]
        elif t in ("UDP_BYTES_SENT", "UDP_SEND_ERROR"):
            sent_on.add(src)
        elif t == "URL_REQUEST_START_JOB" and "url" in p:
            host = re.sub(r"^[a-z]+://", "", p["url"]).split("/")[0].rsplit(":", 1)[0]
            if host.strip("[]") not in ("127.0.0.1", "localhost", "::1"):
                u = p["url"].split("?")[0]
                blocked.append(u if len(u) <= 60 else u[:57] + "...")
    for src, addr in udp.items():
        host, _, port = addr.rpartition(":")
        host = host.strip("[]")
        if ipaddress.ip_address(host).is_loopback:
            continue
        if src in sent_on or (host, int(port)) != IPV6_PROBE:
            problems.append(f"UDP socket to {addr}" + (" sent data" if src in sent_on else ""))
    return problems, blocked, tcp_peers, list(udp.values())


# ---- the run --------------------------------------------------------------

def relay(proc):
    """Copies node's output as it comes; returns (tests, failures, plan)."""
    tests = failures = 0
    plan = None
    for raw in proc.stdout:
        line = raw.decode("utf-8", "replace").rstrip("\n")
        m = re.match(r"^(not )?ok (\d+)\b", line)
        if m:
            tests += 1
            failures += 1 if m.group(1) else 0
            print(line, flush=True)
        elif re.match(r"^1\.\.\d+$", line):
            plan = int(line[3:])
            print(f"# browser test plan: {line}", flush=True)
        elif line.startswith("#"):
            print(line, flush=True)
        elif line.strip():
            print(f"# node: {line}", flush=True)
    return tests, failures, plan


def need_browser():
    """node, playwright-core (npm ci) and Chromium, or bail out; returns the
    path of node."""
    node = shutil.which("node")
    if node is None:
        khtest.bail("node not found: apt-get install nodejs npm")
    if not os.path.isdir(os.path.join(HERE, "node_modules", "playwright-core")):
        khtest.bail("playwright-core not installed: (cd tests/e2e && npm ci)")
    chromium = os.environ.get("KH_CHROMIUM", "/usr/bin/chromium")
    if not os.access(chromium, os.X_OK):
        khtest.bail(f"{chromium} not found: apt-get install chromium")
    return node


def run_node_test(node, script, env, timeout):
    """Runs `node SCRIPT` (in tests/e2e) with env, its TAP lines relayed, its
    process tree's sockets sampled, killed after timeout seconds. Returns
    (exit code, tests, failures, plan, the stopped SocketWatch)."""
    proc = subprocess.Popen(
        [node, os.path.join(HERE, script)], cwd=HERE, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    khtest._procs.append(proc)  # killed (with Chromium) at exit if still running
    watch = SocketWatch(proc.pid)
    watch.start()
    timer = threading.Timer(timeout, lambda: khtest.stop(proc))
    timer.start()
    tests, failures, plan = relay(proc)
    rc = proc.wait()
    if not timer.is_alive():
        khtest.diag(f"browser test killed after {timeout} s")
    timer.cancel()
    watch.stop()
    return rc, tests, failures, plan, watch


def check_run(rc, tests, failures, plan, watch):
    """The driver's first checks, numbered after the browser test's: it ran
    to completion, and no socket left loopback."""
    khtest._n = tests
    khtest._failed = failures
    khtest.ok(rc == 0 and plan is not None and plan == tests and failures == 0,
              "browser test ran to completion: exit 0, every planned step reported",
              f"exit {rc}, plan {plan}, {tests} reported, {failures} failed")
    khtest.ok(len(watch.chromium_seen) > 0 and watch.samples > 0,
              "socket audit watched Chromium's processes",
              f"{watch.samples} samples, chromium pids {sorted(watch.chromium_seen)}")
    foreign = [f"{proto} {ip}:{port} (pid {pid} {comm})"
               for (proto, ip, port), (pid, comm) in sorted(watch.foreign.items())]
    khtest.ok(not foreign, "no socket of node or Chromium had a peer outside loopback",
              "\n".join(foreign))
    khtest.diag(f"socket audit: {watch.samples} samples of {len(watch.chromium_seen)} Chromium "
                f"processes; loopback peers {sorted(watch.loopback_peers)}"
                + (f"; IPv6 reachability probe socket seen {watch.probe_seen}x"
                   if watch.probe_seen else ""))


def diag_blocked(blocked, udp):
    """Diagnostics from audit_netlog: what the host-resolver rules stopped,
    and UDP sockets connected without a datagram."""
    if blocked:
        khtest.diag("requests Chromium tried and its host-resolver rules stopped before any "
                    "packet: " + ", ".join(sorted(set(blocked))))
    if udp:
        khtest.diag("UDP connect() without any datagram (IPv6 reachability probe): "
                    + ", ".join(sorted(set(udp))))
