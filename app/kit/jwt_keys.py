"""Which JWT algorithms and keys are safe to accept, and the key that verifies them.

Below the settings, which refuse an unsafe combination while they are read (so a wrong
key stops the service at start-up rather than refusing every caller later); the token
verifier (app/auth/tokens.py) takes its key from the same function.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key

# HMAC: one shared secret. The others verify with the issuer's public key.
HMAC = frozenset({"HS256", "HS384", "HS512"})
PUBLIC_KEY_TYPES: dict[str, tuple[type[Any], ...]] = {
    **dict.fromkeys(("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"), (rsa.RSAPublicKey,)),
    **dict.fromkeys(("ES256", "ES384", "ES512"), (ec.EllipticCurvePublicKey,)),
    "EdDSA": (ed25519.Ed25519PublicKey, ed448.Ed448PublicKey),
}
SUPPORTED = HMAC | PUBLIC_KEY_TYPES.keys()
# RFC 7518 3.2: an HMAC key at least as long as the hash.
MIN_HMAC_KEY_BYTES = 32


def verification_key(
    algorithms: Sequence[str], *, issuer: str | None, audience: str | None, key: str | None
) -> Any:
    """The key that verifies tokens signed with `algorithms` (None: JWT is off, as none of
    issuer, audience and key is set). Unsafe or half-done settings raise ValueError,
    naming the settings (JWT_*) to change."""
    if not algorithms:
        raise ValueError("JWT_ALGORITHMS must name at least one algorithm")
    if any(a.lower() == "none" for a in algorithms):
        raise ValueError("JWT_ALGORITHMS must not hold 'none': it accepts unsigned tokens")
    unknown = [a for a in algorithms if a not in SUPPORTED]
    if unknown:
        raise ValueError(
            f"JWT_ALGORITHMS: unsupported {', '.join(unknown)}; use {', '.join(sorted(SUPPORTED))}"
        )
    hmac = {a in HMAC for a in algorithms}
    if len(hmac) > 1:
        # A public key accepted as an HMAC secret lets anyone sign tokens.
        raise ValueError("JWT_ALGORITHMS must not mix HMAC (HS*) with public-key algorithms")
    parts = {"JWT_ISSUER": issuer, "JWT_AUDIENCE": audience, "JWT_KEY": key}
    missing = [name for name, value in parts.items() if not value]
    if len(missing) == len(parts):
        return None
    if missing:
        raise ValueError(f"JWT settings are incomplete: set {', '.join(missing)} too (or none)")
    assert key is not None
    if hmac == {True}:
        if len(key.encode("utf-8")) < MIN_HMAC_KEY_BYTES:
            raise ValueError(f"JWT_KEY must have at least {MIN_HMAC_KEY_BYTES} bytes for HS*")
        return key
    try:
        public_key = load_pem_public_key(key.encode("utf-8"))
    except ValueError:
        raise ValueError("JWT_KEY must be the issuer's PEM public key for RS/PS/ES/EdDSA") from None
    for algorithm in algorithms:
        if not isinstance(public_key, PUBLIC_KEY_TYPES[algorithm]):
            raise ValueError(f"JWT_KEY is not a key for {algorithm}")
    return public_key
