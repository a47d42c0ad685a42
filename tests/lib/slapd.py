"""A private OpenLDAP slapd for Kakehashi's integration tests.

    from slapd import Slapd, generate_directory
    acc = generate_directory(tmp, count=250)           # LDIF + accounts JSON
    s = Slapd(acc["ldif"]).start()                     # slapadd, then slapd
    s2 = Slapd(acc["ldif"]).start()                    # a second server, same data
    ... s.uri, s.port, s.bind_lines(dn), s.log_text() ...
    s.stop()

Each instance has its own directory (slapd.conf, mdb data, log) in a temp dir
and listens only on ldap://127.0.0.1:PORT/. The system slapd is never used.
The config loads back_mdb, ppolicy (default policy cn=default,ou=policies,
use_lockout) and memberof; the service account may read everything but
passwords, with no size limit; users may read themselves and bind.
Logs are written at loglevel "stats" (one line per connection and operation)
so tests can count BIND/SRCH operations."""

import json
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import khtest  # noqa: E402

BASE_DN = "dc=example,dc=lg,dc=jp"
SERVICE_DN = "cn=kakehashi-svc,ou=system," + BASE_DN
ADMIN_DN = "cn=admin," + BASE_DN
DEFAULT_POLICY = "cn=default,ou=policies," + BASE_DN
GENERATOR = os.path.join(khtest.ROOT, "tests", "fixtures", "gen_directory.py")
DEMO_PASSWORD = "Kakehashi-Demo-2024"
SERVICE_PASSWORD = "kakehashi-svc-secret"

SLAPD_CANDIDATES = ["/usr/sbin/slapd"]
SLAPADD_CANDIDATES = ["/usr/sbin/slapadd"]
MODULE_DIR = "/usr/lib/ldap"
SCHEMA_DIR = "/etc/ldap/schema"


def _find(cands, name):
    for c in cands:
        if os.access(c, os.X_OK):
            return c
    p = shutil.which(name)
    if p is None:
        raise RuntimeError(f"{name} not found: apt-get install slapd")
    return p


def generate_directory(outdir, count=250, password=DEMO_PASSWORD,
                       service_password=SERVICE_PASSWORD, seed=None):
    """Runs tests/fixtures/gen_directory.py; returns the accounts JSON as a dict
    with two more keys: "ldif" and "accounts_file" (paths)."""
    ldif = os.path.join(outdir, f"directory-{count}.ldif")
    accf = os.path.join(outdir, f"accounts-{count}.json")
    args = [sys.executable, GENERATOR, "--count", str(count), "--password", password,
            "--service-password", service_password, "--out", ldif, "--accounts", accf]
    if seed is not None:
        args += ["--seed", str(seed)]
    subprocess.run(args, check=True)
    with open(accf, encoding="utf-8") as f:
        acc = json.load(f)
    acc["ldif"] = ldif
    acc["accounts_file"] = accf
    return acc


class SlapdError(RuntimeError):
    pass


class Slapd:
    """One private slapd. start() loads the LDIF (once) and starts the server;
    stop() stops it; start() again restarts it on the same port and data."""

    def __init__(self, ldif, base_dn=BASE_DN, port=None, workdir=None,
                 admin_password="kakehashi-admin", loglevel="stats", extra_conf=""):
        self.ldif = ldif
        self.base_dn = base_dn
        self.port = port or khtest.free_port()
        self.dir = workdir or khtest.tmpdir("kh-slapd-")
        self.datadir = os.path.join(self.dir, "data")
        self.conf = os.path.join(self.dir, "slapd.conf")
        self.log_path = os.path.join(self.dir, "slapd.log")
        self.admin_dn = "cn=admin," + base_dn
        self.admin_password = admin_password
        self.service_dn = "cn=kakehashi-svc,ou=system," + base_dn
        self.loglevel = loglevel
        self.extra_conf = extra_conf
        self.proc = None
        self.loaded = False
        self.slapd = _find(SLAPD_CANDIDATES, "slapd")
        self.slapadd = _find(SLAPADD_CANDIDATES, "slapadd")

    @property
    def uri(self):
        return f"ldap://127.0.0.1:{self.port}"

    def _write_conf(self):
        b = self.base_dn
        svc = self.service_dn
        conf = f"""# private test slapd (Kakehashi tests/lib/slapd.py)
include {SCHEMA_DIR}/core.schema
include {SCHEMA_DIR}/cosine.schema
include {SCHEMA_DIR}/inetorgperson.schema
modulepath {MODULE_DIR}
moduleload back_mdb
moduleload ppolicy
moduleload memberof
pidfile {self.dir}/slapd.pid
argsfile {self.dir}/slapd.args
sizelimit 500
timelimit 30
idletimeout 0

database mdb
maxsize 4294967296
suffix "{b}"
rootdn "{self.admin_dn}"
rootpw {self.admin_password}
directory {self.datadir}
index objectClass eq
index uid,mail,employeeNumber eq
index member,memberOf eq
limits dn.exact="{svc}" size=unlimited time=unlimited

access to attrs=userPassword
	by anonymous auth
	by * none
access to dn.subtree="{b}"
	by dn.exact="{svc}" read
	by self read
	by anonymous auth
	by * none

overlay memberof
overlay ppolicy
ppolicy_default "cn=default,ou=policies,{b}"
ppolicy_use_lockout
{self.extra_conf}
"""
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write(conf)

    def load(self):
        """Writes the config and loads the LDIF with slapadd (once)."""
        if self.loaded:
            return self
        os.makedirs(self.datadir, exist_ok=True)
        self._write_conf()
        r = subprocess.run([self.slapadd, "-q", "-f", self.conf, "-l", self.ldif],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if r.returncode != 0:
            raise SlapdError("slapadd failed:\n" + r.stdout.decode("utf-8", "replace")[-3000:])
        self.loaded = True
        return self

    def start(self, timeout=15.0):
        """Starts slapd in the foreground (-d) and waits for the port. Raises
        SlapdError with the tail of slapd's log if it does not come up."""
        self.load()
        if self.proc is not None and self.proc.poll() is None:
            return self
        with open(self.log_path, "ab") as f:
            f.write(f"--- start {time.strftime('%H:%M:%S')}\n".encode())
        self.proc = khtest.spawn([self.slapd, "-d", self.loglevel, "-f", self.conf,
                                  "-h", f"ldap://127.0.0.1:{self.port}/"], log_path=self.log_path)
        if not khtest.wait_port(self.port, timeout=timeout, proc=self.proc):
            rc = self.proc.poll()
            khtest.stop(self.proc)
            raise SlapdError(f"slapd did not come up on 127.0.0.1:{self.port} (exit {rc});"
                             f" log tail:\n{self.log_tail()}")
        return self

    def stop(self):
        if self.proc is not None:
            khtest.stop(self.proc)
        self.proc = None

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def log_tail(self, n=40):
        return "\n".join(self.log_text().splitlines()[-n:])

    def log_size(self):
        try:
            return os.path.getsize(self.log_path)
        except OSError:
            return 0

    def log_since(self, offset):
        """Log text written after byte offset (see log_size)."""
        time.sleep(0.2)  # slapd writes its stats lines asynchronously
        with open(self.log_path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")

    @staticmethod
    def count_ops(text, op, dn=None):
        """Counts operations (BIND, SRCH, ACCEPT...) in log text, for one DN when
        dn is given (BIND dn="..." is matched case-insensitively). Each bind is
        counted once, whether it succeeded or not."""
        n = 0
        for line in text.splitlines():
            if not re.search(rf"\b{op}\b", line):
                continue
            if op == "BIND" and "method=" not in line:
                continue  # a successful bind logs a second "mech=" line
            if dn is not None and f'dn="{dn.lower()}"' not in line.lower():
                continue
            n += 1
        return n

    def ldapsearch(self, base, filt="(objectClass=*)", attrs=(), scope="sub"):
        """Runs ldapsearch as the rootdn; returns its LDIF output."""
        r = subprocess.run(["ldapsearch", "-x", "-LLL", "-o", "ldif-wrap=no",
                            "-H", self.uri, "-D", self.admin_dn, "-w", self.admin_password,
                            "-s", scope, "-b", base, filt, *attrs],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30)
        return r.stdout.decode("utf-8", "replace")
