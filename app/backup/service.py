"""A backup of the ledger now, or as it stood at a moment, written as JSON or YAML."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from enum import StrEnum

import yaml

from app.auth.principal import Principal
from app.auth.roles import DRAFT_READERS
from app.backup.export import Backup, export_ledger
from app.db.session import SessionFactory
from app.views.views import sessions_as_of

_SAFE_DUMPER: type[yaml.SafeDumper] = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_SAFE_DUMPER):  # type: ignore[valid-type,misc]
    """Every record written out: the importer refuses YAML anchors and aliases."""

    def ignore_aliases(self, data: object) -> bool:
        return True


class Syntax(StrEnum):
    JSON = "json"
    YAML = "yaml"


CONTENT_TYPES = {
    Syntax.JSON: "application/json",
    Syntax.YAML: "application/yaml",
}


def sees_drafts(principal: Principal) -> bool:
    """Whether a backup for `principal` holds drafts of reached figures: as the API
    shows `draftReached`, only to callers who may write or approve."""
    return any(principal.can(permission) for permission in DRAFT_READERS)


async def backup_from(sessions: SessionFactory, *, program_ref: str | None, drafts: bool) -> Backup:
    """The backup read from `sessions` (the ledger, or a view of it)."""
    async with sessions() as session:
        return await export_ledger(session, program_ref=program_ref, drafts=drafts)


async def backup_as_of(
    sessions: SessionFactory, *, program_ref: str | None, moment: datetime | None
) -> Backup:
    """The backup of the ledger as it stood at `moment` (None: now), for an operator:
    every initiative, drafts included."""
    async with sessions_as_of(sessions, moment) as read:
        return await backup_from(read, program_ref=program_ref, drafts=True)


def _render(backup: Backup, syntax: Syntax, single: bool) -> bytes:
    documents = backup.documents
    if syntax is Syntax.JSON:
        value = documents[0] if single else documents
        return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    text = yaml.dump_all(
        documents,
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        explicit_start=not single,
    )
    return text.encode("utf-8")


async def render(backup: Backup, syntax: Syntax, *, single: bool) -> bytes:
    """The file: one document when `single` (a programme asked for by its ref), else
    the list of them (a JSON array, or a YAML stream). Written off the event loop."""
    return await asyncio.to_thread(_render, backup, syntax, single)
