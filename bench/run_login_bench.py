#!/usr/bin/env python3
"""Password-login benchmark: the whole stack on loopback, driven by login_bench.

Generates a directory of 7,500 staff, starts a private slapd, redis-server and
kakehashid (login.min_delay_ms=0, server.threads = 2 x cores) on free loopback
ports, then runs bench/login_bench at each concurrency level (default 1, 4, 16)
and prints a table: logins/s, p50, p99, and the CPU time per login of
kakehashid, slapd and redis-server (utime+stime from /proc/PID/stat before and
after each level) and of the load generator itself. Everything is stopped at
the end.

  bench/run_login_bench.py [--requests 10000] [--warmup 500] [--concurrency 1,4,16]
      [--users 7500] [--threads N] [--mode login|page] [--build DIR]
      [--json FILE] [--slapd-loglevel LEVEL] [--log-level LEVEL]

Binaries: kakehashid from --build DIR, else $KH_BUILD_DIR, else build/release,
else the source tree. A sanitizer build is flagged in the output: its figures
are not the product's. login_bench is taken from the same build unless it is
sanitized, in which case an -O2 copy is compiled into the temporary directory.
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, ".."))
sys.path.insert(0, os.path.join(ROOT, "tests", "lib"))

CLK_TCK = os.sysconf("SC_CLK_TCK")


def pick_build(arg):
    if arg:
        return os.path.abspath(arg)
    if os.environ.get("KH_BUILD_DIR"):
        return os.path.abspath(os.environ["KH_BUILD_DIR"])
    rel = os.path.join(ROOT, "build", "release")
    if os.access(os.path.join(rel, "kakehashid"), os.X_OK):
        return rel
    return ROOT


def sanitized(path):
    """True when the binary carries AddressSanitizer (gcc or clang)."""
    try:
        with open(path, "rb") as f:
            return b"__asan_init" in f.read()
    except OSError:
        return False


def cpu_ticks(pid):
    """(utime, stime) of a process (all its threads), in clock ticks."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read().decode("ascii", "replace")
    rest = stat[stat.rfind(")") + 2:].split()
    return int(rest[11]), int(rest[12])  # fields 14 and 15 of proc(5)


def machine_busy_ticks():
    """Non-idle CPU time of the whole machine (all cores), in clock ticks."""
    with open("/proc/stat", encoding="ascii") as f:
        cols = [int(x) for x in f.readline().split()[1:]]
    return sum(cols[:8]) - cols[3] - cols[4]  # minus idle and iowait


def children_cpu_s():
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def find_login_bench(build, workdir):
    cand = os.path.join(build, "bench", "login_bench")
    if os.access(cand, os.X_OK) and not sanitized(cand):
        return cand, "built"
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("no C compiler for login_bench")
    pc = subprocess.run(["pkg-config", "--cflags", "--libs", "libcurl"], check=True,
                        stdout=subprocess.PIPE, text=True).stdout.split()
    out = os.path.join(workdir, "login_bench")
    subprocess.run([cc, "-std=c11", "-D_GNU_SOURCE", "-O2", "-Wall", "-Wextra", "-Werror",
                    "-o", out, os.path.join(HERE, "login_bench.c")] + pc + ["-lpthread"],
                   check=True)
    return out, "compiled -O2 (the build's copy is sanitized)" if os.path.exists(cand) \
        else "compiled -O2"


def bench_args(bench, url, users_file, password, conc, requests, mode):
    args = [bench, "--url", url, "--concurrency", str(conc), "--requests", str(requests),
            "--mode", mode]
    if mode == "login":
        args += ["--users", users_file, "--password", password]
    return args


def run_level(bench, url, users_file, password, conc, requests, warmup, mode, pids):
    """One concurrency level: an untimed warm-up run, then the timed run with
    the CPU counters of every server read just before and just after it."""
    if warmup:
        subprocess.run(bench_args(bench, url, users_file, password, conc, warmup, mode),
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    args = bench_args(bench, url, users_file, password, conc, requests, mode)
    before = {k: cpu_ticks(p) for k, p in pids.items()}
    m0 = machine_busy_ticks()
    c0 = children_cpu_s()
    t0 = time.monotonic()
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.monotonic() - t0
    c1 = children_cpu_s()
    m1 = machine_busy_ticks()
    after = {k: cpu_ticks(p) for k, p in pids.items()}
    summary = None
    for line in r.stdout.splitlines():
        if line.startswith("{"):
            summary = json.loads(line)
    if summary is None:
        raise RuntimeError(f"login_bench printed no summary (exit {r.returncode}):\n"
                           f"{r.stdout}\n{r.stderr}")
    ok = max(summary["ok"], 1)
    ms = 1000.0 / CLK_TCK / ok
    summary["cpu_ms_per_login"] = {
        k: (sum(after[k]) - sum(before[k])) * ms for k in pids}
    summary["user_sys_ms_per_login"] = {
        k: [(after[k][0] - before[k][0]) * ms, (after[k][1] - before[k][1]) * ms] for k in pids}
    summary["cpu_ms_per_login"]["login_bench"] = (c1 - c0) * 1000.0 / ok
    # CPU the machine spent on anything else (other processes, interrupts):
    # a busy neighbour makes the run's figures unreliable.
    ours = sum(sum(after[k]) - sum(before[k]) for k in pids) / CLK_TCK + (c1 - c0)
    ncpu = os.cpu_count() or 1
    summary["machine_busy_pct"] = 100.0 * (m1 - m0) / CLK_TCK / (wall * ncpu)
    summary["others_pct"] = max(0.0, 100.0 * ((m1 - m0) / CLK_TCK - ours) / (wall * ncpu))
    summary["wall_s"] = wall
    summary["stderr"] = r.stderr.strip().splitlines()[:5]
    return summary


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--users", type=int, default=7500, help="generated staff (default 7500)")
    ap.add_argument("--concurrency", default="1,4,16")
    ap.add_argument("--requests", type=int, default=10000, help="timed logins per level")
    ap.add_argument("--warmup", type=int, default=500, help="untimed logins before each level")
    ap.add_argument("--threads", type=int, default=2 * (os.cpu_count() or 1),
                    help="kakehashid worker threads (default 2 x cores)")
    ap.add_argument("--mode", choices=("login", "page"), default="login")
    ap.add_argument("--build", help="build directory holding kakehashid")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--slapd-loglevel", default="0",
                    help="slapd -d level (default 0: no per-operation log lines)")
    ap.add_argument("--log-level", default="info", help="kakehashid [log] level")
    a = ap.parse_args()
    levels = [int(x) for x in a.concurrency.split(",") if x.strip()]

    build = pick_build(a.build)
    os.environ["KH_BUILD_DIR"] = build  # read by khtest when imported
    import khtest  # noqa: E402
    import stack  # noqa: E402

    daemon_bin = khtest.binary("kakehashid")
    if not os.access(daemon_bin, os.X_OK):
        sys.exit(f"run_login_bench: {daemon_bin} not built (make, or scripts/build.sh release)")
    work = khtest.tmpdir("kh-bench-")
    bench, how = find_login_bench(build, work)
    asan = sanitized(daemon_bin)

    st = stack.Stack(count=a.users, slapd_loglevel=a.slapd_loglevel, overrides={
        "login.min_delay_ms": 0, "server.threads": a.threads, "log.level": a.log_level})
    print(f"# starting slapd ({a.users} generated users), redis-server, kakehashid ...",
          flush=True)
    t = time.monotonic()
    st.start()
    print(f"# stack up in {time.monotonic() - t:.1f} s: kakehashid 127.0.0.1:{st.daemon.port} "
          f"({a.threads} threads), slapd {st.slapds[0].uri}, redis 127.0.0.1:{st.redis.port}",
          flush=True)
    skip = set(st.accounts.get("accounts", {}))  # well-known accounts: locked, expired...
    users = [u for u in st.users if u not in skip]
    users_file = os.path.join(work, "users.txt")
    with open(users_file, "w", encoding="utf-8") as f:
        f.write("\n".join(users) + "\n")

    pids = {"kakehashid": st.daemon.proc.pid, "slapd": st.slapds[0].proc.pid}
    rproc = getattr(st.redis, "proc", None)
    if rproc is not None:
        pids["redis"] = rproc.pid
    url = f"http://127.0.0.1:{st.daemon.port}"
    info = {
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "machine": f"{platform.node()}, {os.cpu_count()} cores, {platform.machine()}, "
                   f"{platform.platform()}",
        "kakehashid": daemon_bin, "sanitized": asan, "login_bench": f"{bench} ({how})",
        "threads": a.threads, "users": len(users), "mode": a.mode,
        "requests_per_level": a.requests, "warmup_per_level": a.warmup,
        "slapd_loglevel": a.slapd_loglevel, "log_level": a.log_level,
    }
    print(f"# {info['date']}; {info['machine']}", flush=True)
    print(f"# kakehashid {daemon_bin}{' (ASan/UBSan build: not representative)' if asan else ''}"
          f"; login_bench {bench} ({how})", flush=True)
    results = []
    failed = 0
    try:
        for c in levels:
            s = run_level(bench, url, users_file, st.password, c, a.requests, a.warmup, a.mode,
                          pids)
            results.append(s)
            failed += s["failures"]
            print(f"# c={c}: {s['ok']} ok, {s['failures']} failed {s['failure_kinds'] or ''}"
                  f" in {s['elapsed_s']:.2f} s", flush=True)
            for line in s.pop("stderr"):
                print(f"#   {line}", flush=True)
    finally:
        rc = st.stop()

    what = "logins" if a.mode == "login" else "pages"
    hdr = (f"{'conc':>4}  {what + '/s':>9}  {'p50 ms':>7}  {'p90 ms':>7}  {'p99 ms':>7}  "
           f"{'max ms':>7}  {'fail':>4}  {'kakehashid':>10}  {'slapd':>7}  {'redis':>7}  "
           f"{'bench':>7}  {'busy%':>5}  {'other%':>6}")
    print()
    print(f"{'':56}CPU ms per {what[:-1]}")
    print(hdr)
    for s in results:
        cpu = s["cpu_ms_per_login"]
        print(f"{s['concurrency']:>4}  {s['rate_per_s']:>9.1f}  {s['p50_ms']:>7.2f}  "
              f"{s['p90_ms']:>7.2f}  {s['p99_ms']:>7.2f}  {s['max_ms']:>7.2f}  "
              f"{s['failures']:>4}  {cpu['kakehashid']:>10.3f}  {cpu['slapd']:>7.3f}  "
              f"{cpu.get('redis', float('nan')):>7.3f}  {cpu['login_bench']:>7.3f}  "
              f"{s['machine_busy_pct']:>5.0f}  {s['others_pct']:>6.1f}")
    print(f"busy%: the machine's CPU use during the run (100 = all {os.cpu_count()} cores); "
          "other%: the part used by anything but the four processes above")
    print(f"kakehashid exit status {rc}; {failed} failed {what} in total")
    out = {"info": info, "results": results, "daemon_exit": rc}
    print(json.dumps(out, separators=(",", ":")))
    if a.json:
        with open(a.json, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=2)
            f.write("\n")
    sys.exit(1 if failed or rc not in (0, None) else 0)


if __name__ == "__main__":
    main()
