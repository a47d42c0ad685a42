"""A real OIDC relying party for tests and the demo: a private Apache httpd
with mod_auth_openidc (Debian), configured only through our discovery URL,
PKCE S256 and client_secret_basic; /protected/claims is a CGI that prints the
OIDC_CLAIM_* variables it receives."""

import os

import apache
import oidc_rp

CGI = """#!/bin/sh
printf 'Content-Type: text/plain; charset=utf-8\\r\\n\\r\\n'
env | grep -E '^(OIDC_CLAIM_|REMOTE_USER=)' | sort
"""

CONF = """
LoadModule auth_openidc_module /usr/lib/apache2/modules/mod_auth_openidc.so
OIDCProviderMetadataURL {idp}/.well-known/openid-configuration
OIDCClientID {client_id}
OIDCClientSecret {secret}
OIDCRedirectURI {{base}}/protected/redirect_uri
OIDCCryptoPassphrase {passphrase}
OIDCPKCEMethod S256
OIDCScope "openid profile email groups org"
OIDCProviderTokenEndpointAuth client_secret_basic
OIDCPassClaimsAs environment
OIDCRemoteUserClaim sub
OIDCCookieSameSite On
OIDCSessionType server-cache
OIDCCacheType shm
OIDCDefaultLoggedOutURL {{base}}/loggedout.html
ScriptAlias /protected/claims {{dir}}/cgi/claims.cgi
<Location /protected>
  AuthType openid-connect
  Require valid-user
</Location>
"""


def start_apache(st, idp):
    """Registers the RP as client apache-rp in st's registry and starts it."""
    a = apache.Apache(modules=[])
    cid, secret = oidc_rp.register(st, "apache-rp", {
        "redirect_uris": [a.url("/protected/redirect_uri")],
        "post_logout_redirect_uris": [a.url("/loggedout.html")],
        "token_endpoint_auth_method": "client_secret_basic",
        "scopes": ["openid", "profile", "email", "groups", "org"],
        "backchannel_logout_uri": a.url("/protected/redirect_uri?logout=backchannel")})
    a.config = CONF.format(idp=idp, client_id=cid, secret=secret,
                           passphrase=oidc_rp.b64u(os.urandom(24)))
    os.makedirs(os.path.join(a.dir, "cgi"), exist_ok=True)
    with open(os.path.join(a.dir, "cgi", "claims.cgi"), "w") as f:
        f.write(CGI)
    os.chmod(os.path.join(a.dir, "cgi", "claims.cgi"), 0o755)
    with open(os.path.join(a.dir, "htdocs", "loggedout.html"), "w") as f:
        f.write("<html><body><p id='out'>logged out of the RP</p></body></html>\n")
    a.start()
    return a


