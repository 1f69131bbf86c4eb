"""The caller of one request: who, in which role, seeing which initiatives."""

from __future__ import annotations

from dataclasses import dataclass

from app.audit.records import Actor
from app.auth.roles import ANONYMOUS_PERMISSIONS, ROLE_PERMISSIONS, Permission, Role
from app.errors import Forbidden, Unauthenticated


@dataclass(frozen=True)
class Principal:
    # An API key's name, a token's subject, or "anonymous".
    name: str
    # None: an anonymous caller.
    role: Role | None
    # The initiatives a partner may see (ids); None: no restriction.
    initiative_ids: frozenset[int] | None = None
    # How the caller proved who it is: "api-key", "jwt", "anonymous".
    via: str = "anonymous"
    # Whether anonymous callers may read (a setting); only used when `role` is None.
    anonymous_read: bool = False
    # When the credential stops being accepted (Unix seconds): a token's `exp`. None: not
    # known here (an API key lasts until revoked, which is checked on each use).
    expires_at: int | None = None

    @property
    def permissions(self) -> frozenset[Permission]:
        if self.role is None:
            return ANONYMOUS_PERMISSIONS if self.anonymous_read else frozenset()
        return ROLE_PERMISSIONS[self.role]

    def can(self, permission: Permission) -> bool:
        return permission in self.permissions

    def require(self, permission: Permission) -> None:
        """Raise the error a client should see when this caller lacks `permission`."""
        if self.can(permission):
            return
        if self.role is None:
            raise Unauthenticated(
                f"this needs the '{permission.value}' permission: "
                "send an API key or token as 'Authorization: Bearer ...'"
            )
        raise Forbidden(
            f"the role '{self.role.value}' does not have the '{permission.value}' permission",
            details={"role": self.role.value, "permission": permission.value},
        )

    @property
    def scoped(self) -> bool:
        """Whether this caller sees only some initiatives."""
        return self.initiative_ids is not None

    @property
    def actor(self) -> Actor:
        return Actor(self.name, self.role.value if self.role else "anonymous")


def anonymous(*, anonymous_read: bool) -> Principal:
    return Principal("anonymous", None, anonymous_read=anonymous_read)
