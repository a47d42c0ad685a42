"""Shared set-up for the SAML tests and benchmark: a Stack with development
signing keys (certs/gen-dev-keys.sh) and a registry writer."""

import json
import os
import subprocess
import time

import khtest
import stack

ROOT = khtest.ROOT


def dev_keys():
    d = khtest.tmpdir("kh-keys-")
    subprocess.run([os.path.join(ROOT, "certs", "gen-dev-keys.sh"), os.path.join(d, "k")],
                   check=True, capture_output=True)
    return os.path.join(d, "k", "rsa.key"), os.path.join(d, "k", "rsa.crt")


def saml_stack(count=250, overrides=None, **kw):
    key, cert = dev_keys()
    ov = {"keys.rsa_key": key, "keys.rsa_cert": cert, "registry.poll_ms": 100}
    ov.update(overrides or {})
    return stack.Stack(count=count, overrides=ov, **kw)


def register(st, app_id, entity_id, metadata, groups=None, wait=True, **saml):
    """Writes a SAML app document straight into the registry (the layout in
    sessions/registry.h) and waits for the daemon's view to pick it up."""
    doc = {"id": app_id, "name": app_id, "protocol": "saml", "enabled": True,
           "saml": dict({"entity_id": entity_id, "metadata": metadata}, **saml)}
    if groups is not None:
        doc["groups"] = groups
    st.redis.command("SET", f"kh:reg:app:{app_id}", json.dumps(doc, ensure_ascii=False))
    st.redis.command("SADD", "kh:reg:apps", app_id)
    v = st.redis.command("INCR", "kh:reg:version")
    if wait:
        deadline = time.time() + 10
        while time.time() < deadline:
            if f"event=saml.view version={v} " in st.daemon.log_text():
                break
            time.sleep(0.05)
    return doc


def unregister(st, app_id):
    st.redis.command("DEL", f"kh:reg:app:{app_id}")
    st.redis.command("SREM", "kh:reg:apps", app_id)
    st.redis.command("INCR", "kh:reg:version")
