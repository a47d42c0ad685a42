"""A private Apache httpd for tests: its own ServerRoot, config, pid file and
logs under a temporary directory, listening on a free 127.0.0.1 port. Never
the system service.

    a = Apache(modules=["auth_mellon_module /usr/lib/apache2/modules/mod_auth_mellon.so"],
               config="<Location /> ... </Location>")
    a.start(); a.port; a.url("/x"); a.error_log(); a.stop()

`modules` are LoadModule arguments ("name path"); the basics every test
needs (mpm_event, authn_core, authz_core, authz_user, unixd, env, mime,
setenvif, cgi and alias) are always loaded. `config` is appended verbatim and
may use {port}, {dir} and {base} placeholders."""

import os
import subprocess

import khtest

MODDIR = "/usr/lib/apache2/modules"
BASE_MODULES = [
    ("mpm_prefork_module", "mod_mpm_prefork.so"),
    ("authn_core_module", "mod_authn_core.so"),
    ("authz_core_module", "mod_authz_core.so"),
    ("authz_user_module", "mod_authz_user.so"),
    ("env_module", "mod_env.so"),
    ("mime_module", "mod_mime.so"),
    ("setenvif_module", "mod_setenvif.so"),
    ("cgi_module", "mod_cgi.so"),
    ("alias_module", "mod_alias.so"),
    ("headers_module", "mod_headers.so"),
]


class Apache:
    def __init__(self, modules=(), config="", workdir=None, port=None):
        self.dir = workdir or khtest.tmpdir("kh-apache-")
        os.makedirs(self.dir, exist_ok=True)
        os.makedirs(os.path.join(self.dir, "logs"), exist_ok=True)
        os.makedirs(os.path.join(self.dir, "htdocs"), exist_ok=True)
        self.port = port or khtest.free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.modules = list(modules)
        self.config = config
        self.conf = os.path.join(self.dir, "httpd.conf")
        self.pidfile = os.path.join(self.dir, "httpd.pid")

    def url(self, path="/"):
        return self.base + path

    def write_config(self):
        lines = [f'ServerRoot "{self.dir}"', f"Listen 127.0.0.1:{self.port}",
                 f'PidFile "{self.pidfile}"', "ServerName 127.0.0.1",
                 f'ErrorLog "{self.dir}/logs/error.log"', "LogLevel info",
                 f'DocumentRoot "{self.dir}/htdocs"', "TypesConfig /etc/mime.types",
                 f'Mutex file:{self.dir} default', "StartServers 2", "MaxRequestWorkers 10"]
        if os.getuid() == 0:
            lines += ["User www-data", "Group www-data"]
        for name, so in BASE_MODULES:
            lines.append(f"LoadModule {name} {MODDIR}/{so}")
        for m in self.modules:
            lines.append(f"LoadModule {m}")
        lines.append(self.config.replace("{port}", str(self.port)).replace("{dir}", self.dir)
                     .replace("{base}", self.base))
        with open(self.conf, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")
        if os.getuid() == 0:
            subprocess.run(["chown", "-R", "www-data:www-data", self.dir], check=False)
            os.chmod(self.dir, 0o755)

    def start(self):
        self.write_config()
        t = subprocess.run(["/usr/sbin/apache2", "-f", self.conf, "-t"], capture_output=True,
                           text=True, env=self._env())
        if t.returncode != 0:
            raise RuntimeError("apache config test failed:\n" + t.stderr + t.stdout)
        subprocess.run(["/usr/sbin/apache2", "-f", self.conf, "-k", "start"], check=True,
                       env=self._env())
        if not khtest.wait_port(self.port, 15):
            raise RuntimeError("apache did not start:\n" + self.error_log()[-3000:])
        return self

    def _env(self):
        env = dict(os.environ)
        env.update({"APACHE_RUN_DIR": self.dir, "APACHE_LOCK_DIR": self.dir,
                    "APACHE_LOG_DIR": os.path.join(self.dir, "logs")})
        return env

    def stop(self):
        if os.path.exists(self.pidfile):
            subprocess.run(["/usr/sbin/apache2", "-f", self.conf, "-k", "stop"], check=False,
                           env=self._env(), capture_output=True)
            for _ in range(100):
                if not os.path.exists(self.pidfile):
                    break
                import time
                time.sleep(0.05)

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "logs", "error.log"), encoding="utf-8",
                      errors="replace") as f:
                return f.read()
        except OSError:
            return ""


_instances = []


def _stop_all():
    for a in _instances:
        try:
            a.stop()
        except Exception:  # noqa: BLE001
            pass


import atexit  # noqa: E402

_orig_start = Apache.start


def _tracked_start(self):
    _instances.append(self)
    return _orig_start(self)


Apache.start = _tracked_start
atexit.register(_stop_all)
