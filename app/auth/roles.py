"""Roles and the permissions each grants: the one table every check reads."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    # app/config.py's ROLE_NAMES repeats these names for the settings (a test keeps them equal).
    VIEWER = "viewer"
    AUDITOR = "auditor"
    EDITOR = "editor"
    # Reads and subscribes, but only the initiatives listed on its key.
    PARTNER = "partner"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    # CSV downloads of reports.
    EXPORT = "export"
    # The change log, each record's history, chain verification.
    AUDIT = "audit"
    # Create, update and archive ledger data.
    WRITE = "write"
    # Approve or reject reached figures an editor submitted.
    APPROVE = "approve"
    MANAGE_RATES = "manage_rates"
    MANAGE_KEYS = "manage_keys"
    # Load a whole programme from a file (app/imports): it creates programmes,
    # organisations and exchange rates at once, so it is an admin's.
    IMPORT = "import"
    SUBSCRIBE = "subscribe"


P = Permission
ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({P.READ, P.SUBSCRIBE}),
    Role.AUDITOR: frozenset({P.READ, P.SUBSCRIBE, P.EXPORT, P.AUDIT, P.APPROVE}),
    Role.EDITOR: frozenset({P.READ, P.WRITE}),
    Role.PARTNER: frozenset({P.READ, P.SUBSCRIBE, P.EXPORT}),
    Role.ADMIN: frozenset(Permission),
}
# Who sees drafts of reached figures, not yet approved (`draftReached`, and backups):
# a caller with any of these.
DRAFT_READERS = (P.WRITE, P.APPROVE)
# A caller without credentials, where the settings let anonymous callers read: what a
# viewer may do (live updates are reading too), and download what it reads as CSV, as
# the figures are then public (the demo's README example is such a download).
ANONYMOUS_PERMISSIONS = frozenset({P.READ, P.SUBSCRIBE, P.EXPORT})
