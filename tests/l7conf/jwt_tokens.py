"""JWTs for the l7conf corpus's RequestAuthentication (cases.py, its last section): RS256 signed
with Python's standard library alone, PKCS #1 v1.5 over SHA-256 by modular exponentiation, with
the test key jwt_key.json (made once with `openssl genrsa 2048`; it signs nothing else). The
waypoint's model gets the key's public half as an inline JWKS (REQUEST_AUTHN, appended to
harness.WORLD): a rule for Service web with Istio's default places (Authorization: Bearer, the
access_token parameter)."""

import base64
import hashlib
import json
import os
import time

ISS = "https://l7conf.example"
KID = "l7conf-1"

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "jwt_key.json")) as _f:
    _KEY = json.load(_f)


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _int(s):
    return int.from_bytes(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)), "big")


_N, _D = _int(_KEY["n"]), _int(_KEY["d"])
# DER of DigestInfo{sha256} before the digest (RFC 8017 §9.2, note 1).
_SHA256_INFO = bytes.fromhex("3031300d060960864801650304020105000420")


def sign(payload, header=None):
    """A compact JWS of @payload (a dict, or JSON text as it is) under @header (likewise; by
    default alg RS256 and the key's kid), signed with the test key."""
    header = header or {"alg": "RS256", "kid": KID, "typ": "JWT"}
    h = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
    p = payload if isinstance(payload, str) else json.dumps(payload, separators=(",", ":"))
    signing_input = b64(h) + "." + b64(p)
    k = (_N.bit_length() + 7) // 8
    t = _SHA256_INFO + hashlib.sha256(signing_input.encode()).digest()
    em = b"\x00\x01" + b"\xff" * (k - len(t) - 3) + b"\x00" + t
    sig = pow(int.from_bytes(em, "big"), _D, _N).to_bytes(k, "big")
    return signing_input + "." + b64(sig)


def token(sub="alice", ttl=3600):
    """A good token of the WORLD's issuer for @sub, expiring @ttl seconds from now."""
    return sign({"iss": ISS, "sub": sub, "exp": int(time.time()) + ttl})


# What an attacker makes without the key: alg none, no signature.
FORGED = b64('{"alg":"none"}') + "." + b64(json.dumps({"iss": ISS, "sub": "admin"})) + "."

JWKS = json.dumps({"keys": [{"kty": "RSA", "kid": KID, "alg": "RS256", "use": "sig",
                             "n": _KEY["n"], "e": _KEY["e"]}]}, separators=(",", ":"))

REQUEST_AUTHN = f"""---
apiVersion: security.istio.io/v1
kind: RequestAuthentication
metadata: {{name: web-jwt, namespace: conf}}
spec:
  targetRefs: [{{kind: Service, group: '', name: web}}]
  jwtRules:
  - issuer: {ISS}
    jwks: '{JWKS}'
"""
