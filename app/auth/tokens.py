"""JWT bearer tokens from an identity provider: checked signature, issuer, audience, expiry.

A token maps to a role through one claim (`JWT_ROLE_CLAIM`); a partner's initiatives
come from another (`JWT_INITIATIVES_CLAIM`, initiative codes). The key is first read
when the settings are checked (app/kit/jwt_keys.py), so a wrong key stops the service
at start-up rather than refusing every caller later.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import jwt

from app.auth.roles import Role
from app.kit.jwt_keys import verification_key
from app.kit.text import Kind, text_problem

if TYPE_CHECKING:
    from app.config import Settings

# A principal's name is stored with every change it makes (200 characters at most).
MAX_SUBJECT_LENGTH = 196
ROLE_NAMES = frozenset(role.value for role in Role)


class TokenRejected(Exception):
    """A token that does not prove who the caller is (401)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class TokenRoleRejected(TokenRejected):
    """A valid token whose role claim names no role of ours (403)."""


@dataclass(frozen=True)
class TokenClaims:
    subject: str
    role: Role
    # Partners only: the initiative codes the token lists.
    initiative_codes: tuple[str, ...] | None
    # When the token stops being accepted (its `exp`, Unix seconds).
    expires: int | None = None


class TokenVerifier:
    """Checks tokens against the settings; built once per application."""

    def __init__(self, settings: Settings) -> None:
        key = verification_key(
            settings.jwt_algorithms,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            key=settings.jwt_key.get_secret_value() if settings.jwt_key else None,
        )
        if key is None:
            raise ValueError("JWT is not configured")
        self.key = key
        self.algorithms = list(settings.jwt_algorithms)
        self.issuer = settings.jwt_issuer
        self.audience = settings.jwt_audience
        self.leeway = settings.jwt_leeway_seconds
        self.role_claim = settings.jwt_role_claim
        self.initiatives_claim = settings.jwt_initiatives_claim

    def verify(self, token: str) -> TokenClaims:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("the token has expired") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("the token is not meant for this service (audience)") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected(
                "the token comes from an issuer this service does not trust"
            ) from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("the token's signature does not verify") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected(f"the token lacks the '{exc.claim}' claim") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected("the token is signed with an algorithm not accepted here") from None
        except jwt.InvalidTokenError:
            raise TokenRejected("the token is malformed or not valid yet") from None
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT_LENGTH:
            raise TokenRejected(f"the token's subject must be 1 to {MAX_SUBJECT_LENGTH} characters")
        # The subject names the caller in the trail ("jwt:<subject>"): an identifier.
        problem = text_problem(subject, Kind.IDENTIFIER)
        if problem is not None:
            raise TokenRejected(f"the token's subject {problem}")
        role = self._role(claims)
        codes = self._initiatives(claims) if role is Role.PARTNER else None
        # `exp` is required and numeric (pyjwt checked it); a fraction of a second is cut.
        return TokenClaims(subject, role, codes, int(claims["exp"]))

    def _role(self, claims: dict[str, Any]) -> Role:
        value = claim(claims, self.role_claim)
        # Identity providers often send a list of roles: exactly one must be ours.
        values = value if isinstance(value, list) else [value]
        ours = {Role(v) for v in values if isinstance(v, str) and v in ROLE_NAMES}
        if len(ours) != 1:
            choices = ", ".join(r.value for r in Role)
            found = "none" if not ours else ", ".join(sorted(r.value for r in ours))
            raise TokenRoleRejected(
                f"the token's '{self.role_claim}' claim must name exactly one role "
                f"({choices}); found {found}"
            )
        return ours.pop()

    def _initiatives(self, claims: dict[str, Any]) -> tuple[str, ...]:
        value = claim(claims, self.initiatives_claim)
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise TokenRoleRejected(
                f"a partner token needs the '{self.initiatives_claim}' claim: "
                "a list of initiative codes"
            )
        for code in value:
            problem = text_problem(code, Kind.IDENTIFIER)
            if problem is not None:
                raise TokenRoleRejected(
                    f"the '{self.initiatives_claim}' claim lists initiative codes; one {problem}"
                )
        return tuple(dict.fromkeys(value))


def claim(claims: dict[str, Any], name: str) -> Any:
    """A claim by name; a dotted name that is no claim itself is followed as a path."""
    if name in claims:
        return claims[name]
    value: Any = claims
    for step in name.split("."):
        value = value.get(step) if isinstance(value, dict) else None
    return value
