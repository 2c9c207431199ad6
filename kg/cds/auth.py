"""Trusting the EHR: the CDS Hooks JWT (``Authorization: Bearer``), verified with PyJWT.

The token must be signed with an asymmetric key of a configured issuer's JWK set (never ``none`` or
HMAC, as the specification forbids), name this endpoint as its audience, carry ``iss``, ``exp``, ``iat``
and ``jti``, live at most ``max_token_lifetime`` seconds, and not have been seen before. A ``jku``
header is never followed: keys come only from the configuration.
"""
from __future__ import annotations

import threading
import time

import jwt

from kg.cds.settings import Settings
from kg.errors import UsageError

ALGORITHMS = ("ES384", "RS384", "ES256", "RS256", "ES512", "RS512", "PS256", "PS384", "PS512")
REQUIRED_CLAIMS = ("iss", "aud", "exp", "iat", "jti")


class Unauthorized(Exception):
    """The call is not from a trusted EHR; the message says why (answered as 401)."""


class ReplayCache:
    """The ``jti`` of every accepted token until it expires; thread-safe, bounded by the token lifetime."""

    def __init__(self):
        self._seen: dict[str, float] = {}
        self._lock = threading.Lock()

    def claim(self, key: str, expires: float) -> bool:
        """True the first time a token is presented, False on a replay."""
        now = time.time()
        with self._lock:
            if len(self._seen) > 1024:
                self._seen = {k: exp for k, exp in self._seen.items() if exp > now}
            if self._seen.get(key, 0) > now:
                return False
            self._seen[key] = expires
            return True


class Verifier:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._keys = {}
        for issuer, jwks in settings.issuers.items():
            try:
                self._keys[issuer] = jwt.PyJWKSet.from_dict(jwks)
            except jwt.PyJWTError as exc:
                raise UsageError(f"the JWK set of issuer {issuer!r} is unusable: {exc}") from None
        self._replays = ReplayCache()

    def verify(self, authorization: str | None, audience: str) -> dict:
        """The claims of a valid token for ``audience``; Unauthorized otherwise."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token: the EHR must send 'Authorization: Bearer <JWT>'")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)  # refuses a kid that is not a string
            issuer = jwt.decode(token, options={"verify_signature": False}).get("iss")
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"not a JWT: {exc}") from None
        if not isinstance(issuer, str):  # a key of the issuer table below: an array or object would crash it
            raise Unauthorized("the JWT's iss claim must be a string")
        if header.get("alg") not in ALGORITHMS:
            raise Unauthorized(f"algorithm {header.get('alg')!r} refused: use one of {', '.join(ALGORITHMS)}")
        if issuer not in self._keys:
            raise Unauthorized(f"issuer {issuer!r} is not trusted")
        key = self._key(issuer, header.get("kid"))
        try:
            claims = jwt.decode(token, key=key, algorithms=list(ALGORITHMS), audience=audience, issuer=issuer,
                                leeway=self.settings.clock_leeway, options={"require": list(REQUIRED_CLAIMS)})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"token refused: {exc}") from None
        # PyJWT reads exp and iat with int(), so a number in quotes passes it (and would crash the subtraction)
        if not all(isinstance(claims[name], (int, float)) for name in ("exp", "iat")):
            raise Unauthorized("the JWT's exp and iat claims must be numbers (seconds since 1970)")
        if not isinstance(claims["jti"], str):  # older PyJWT releases take any JSON value
            raise Unauthorized("the JWT's jti claim must be a string")
        if claims["exp"] - claims["iat"] > self.settings.max_token_lifetime:
            raise Unauthorized(f"token lives longer than {self.settings.max_token_lifetime} s (exp - iat)")
        if not self._replays.claim(f"{issuer}\n{claims['jti']}", claims["exp"] + self.settings.clock_leeway):
            raise Unauthorized(f"token {claims['jti']!r} was already used (replay)")
        return claims

    def _key(self, issuer: str, kid: str | None):
        keys = self._keys[issuer].keys
        if kid is None:
            raise Unauthorized("the JWT header has no 'kid'")
        for key in keys:
            if key.key_id == kid:
                return key
        raise Unauthorized(f"issuer {issuer!r} has no key {kid!r}")
