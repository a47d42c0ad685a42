"""Apache2 + mod_auth_mellon as a SAML SP, on the generic private Apache
fixture (apache.py). A protected /secret/ area runs a CGI that prints the
MELLON_* environment as JSON, so tests see the released attributes.

Traps handled (TESTING.md): MELLON_DISABLE_SAMESITE so Chromium keeps the
cookie on plain http; the IdP metadata is a local file; the SP key and
metadata come from mellon_create_metadata (named after the entityID)."""

import glob
import os
import subprocess

import apache

CGI = r"""#!/usr/bin/python3
import json, os
env = {k: v for k, v in os.environ.items() if k.startswith("MELLON_") or k == "REMOTE_USER"}
print("Content-Type: application/json; charset=utf-8")
print()
print(json.dumps(env, ensure_ascii=False))
"""


class MellonSP:
    def __init__(self, idp_metadata_xml, workdir, extra=""):
        self.ap = apache.Apache(modules=["auth_mellon_module /usr/lib/apache2/modules/mod_auth_mellon.so"],
                                workdir=workdir)
        self.dir = self.ap.dir
        self.port = self.ap.port
        self.base = self.ap.base
        self.entity_id = f"{self.base}/mellon/metadata"
        md = os.path.join(self.dir, "mellon")
        os.makedirs(md, exist_ok=True)
        subprocess.run(["mellon_create_metadata", self.entity_id, f"{self.base}/mellon"],
                       cwd=md, check=True, capture_output=True)
        self.sp_key = glob.glob(os.path.join(md, "*.key"))[0]
        self.sp_cert = glob.glob(os.path.join(md, "*.cert"))[0]
        self.sp_md = glob.glob(os.path.join(md, "*.xml"))[0]
        self.idp_md = os.path.join(md, "idp-metadata.xml")
        with open(self.idp_md, "w", encoding="utf-8") as f:
            f.write(idp_metadata_xml)
        cgi = os.path.join(self.dir, "cgi")
        os.makedirs(cgi, exist_ok=True)
        with open(os.path.join(cgi, "env.py"), "w") as f:
            f.write(CGI)
        os.chmod(os.path.join(cgi, "env.py"), 0o755)
        self.ap.config = f"""
SetEnv MELLON_DISABLE_SAMESITE 1
ScriptAlias /secret/env {cgi}/env.py
<Location />
    MellonEnable info
    MellonSPPrivateKeyFile {self.sp_key}
    MellonSPCertFile {self.sp_cert}
    MellonSPMetadataFile {self.sp_md}
    MellonIdPMetadataFile {self.idp_md}
    MellonEndpointPath /mellon
    MellonSecureCookie Off
    MellonMergeEnvVars On ;
    MellonSetEnvNoPrefix REMOTE_USER NAME_ID
{extra}
</Location>
<Location /secret>
    AuthType Mellon
    MellonEnable auth
    Require valid-user
</Location>
<Directory {cgi}>
    Options +ExecCGI
    Require all granted
</Directory>
"""

    def metadata(self):
        with open(self.sp_md, encoding="utf-8") as f:
            return f.read()

    def start(self):
        self.ap.start()
        return self

    def stop(self):
        self.ap.stop()

    def error_log(self):
        return self.ap.error_log()
