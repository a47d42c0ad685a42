"""The whole stack for a test, a benchmark or the demo: generated directory,
one or more private slapd servers, a private redis-server and kakehashid, all on
free loopback ports and all stopped at exit."""

import os

import khtest
import kakehashid
import redisd
import slapd


class Stack:
    def __init__(self, count=250, ldap_servers=1, overrides=None, password=slapd.DEMO_PASSWORD,
                 redis_password="", slapd_loglevel="stats", workdir=None, port=None):
        self.dir = workdir or khtest.tmpdir("kh-stack-")
        self.count = count
        self.ldap_servers = ldap_servers
        self.overrides = overrides or {}
        self.password = password
        self.redis_password = redis_password
        self.slapd_loglevel = slapd_loglevel
        self.port = port
        self.accounts = None
        self.users = []
        self.slapds = []
        self.redis = None
        self.daemon = None

    def start(self):
        self.accounts = slapd.generate_directory(self.dir, count=self.count,
                                                 password=self.password)
        self.users = self._uids(self.accounts["ldif"])
        for i in range(self.ldap_servers):
            s = slapd.Slapd(self.accounts["ldif"], loglevel=self.slapd_loglevel,
                            workdir=os.path.join(self.dir, f"slapd{i}"))
            os.makedirs(s.dir, exist_ok=True)
            self.slapds.append(s.start())
        self.redis = redisd.Redis(password=self.redis_password or None,
                                  workdir=os.path.join(self.dir, "redis"))
        os.makedirs(self.redis.dir, exist_ok=True)
        self.redis.start()
        self.daemon = kakehashid.Daemon(
            " ".join(s.uri for s in self.slapds), slapd.BASE_DN, slapd.SERVICE_DN,
            slapd.SERVICE_PASSWORD, self.redis.port, self.redis_password, self.overrides,
            workdir=os.path.join(self.dir, "kakehashid"), port=self.port)
        self.daemon.start()
        return self

    @staticmethod
    def _uids(ldif):
        uids = []
        with open(ldif, encoding="utf-8") as f:
            for line in f:
                if line.startswith("uid: "):
                    uids.append(line[5:].strip())
        return uids

    def stop(self):
        """Stops the daemon first and returns its exit status."""
        rc = self.daemon.stop() if self.daemon else None
        if self.redis:
            self.redis.stop()
        for s in self.slapds:
            s.stop()
        return rc
