"""Persisted operations: documents registered ahead of time and sent by their hash.

A frontend registers the operations it was built with (`pledge-ledger operations
register`), which writes a manifest: a JSON object mapping each document's SHA-256
(hex, of its exact UTF-8 text) to the document. The service loads it at start-up
(PERSISTED_OPERATIONS_FILE) and refuses to start if any document no longer validates
against the schema, so a schema change cannot silently break a registered client.

Clients then send an operation by its id instead of its text, in any of the forms
tools use:
- `{"documentId": "sha256:<hex>"}` (or the bare hex), in a POST body or as
  `?documentId=` in a GET: the GraphQL-over-HTTP draft, GraphQL Code Generator;
- `{"extensions": {"persistedQuery": {"version": 1, "sha256Hash": "<hex>"}}}`:
  Apollo Client's persisted-queries link;
- the same two keys in a WebSocket `subscribe` payload.

With PERSISTED_OPERATIONS_ONLY the manifest is an allow-list: only registered
documents run, by id or by their exact text, and anything else is refused with
OPERATION_NOT_ALLOWED before it is parsed. Roles in PERSISTED_OPERATIONS_EXEMPT_ROLES
(an auditor writing ad-hoc reports, say) may still send any document.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import strawberry
from graphql import GraphQLError, parse, validate

from app.auth.principal import Principal
from app.config import Settings
from app.errors import ErrorCode
from app.graphql.extensions.limits import validation_rules
from app.kit.text import encoding_problem

# Apollo's link recognises a missing document by this message as well as by the code.
_NOT_FOUND_MESSAGE = "PersistedQueryNotFound"
_HEX = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """A manifest that cannot be used: unreadable, a wrong id, an invalid document."""


class PersistedOperationError(Exception):
    """A request naming a persisted operation that cannot run; a stable code."""

    def __init__(self, message: str, code: ErrorCode, **extensions: Any) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.extensions = extensions


def document_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def read_manifest(path: Path) -> dict[str, str]:
    """The documents of a manifest file, by id. Accepts our own format (id → text) and
    Apollo's (`{"format": "apollo-persisted-query-manifest", "operations": [...]}`)."""
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read the manifest ({exc})") from None
    if isinstance(raw, dict) and isinstance(raw.get("operations"), list):
        items = raw["operations"]
        if not all(isinstance(item, dict) for item in items):
            raise ManifestError(f"{path}: every operation must be an object with id and body")
        pairs = [(item.get("id"), item.get("body")) for item in items]
    elif isinstance(raw, dict):
        pairs = list(raw.items())
    else:
        raise ManifestError(f"{path}: a manifest is a JSON object of id → document")
    documents: dict[str, str] = {}
    for key, text in pairs:
        if not isinstance(key, str) or not isinstance(text, str):
            raise ManifestError(f"{path}: every id and document must be a string")
        key = key.removeprefix("sha256:")
        if document_hash(text) != key:
            raise ManifestError(
                f"{path}: the id {key[:16]}… is not the SHA-256 of its document; "
                "regenerate the manifest with `pledge-ledger operations register`"
            )
        documents[key] = text
    return documents


def invalid_documents(
    schema: strawberry.Schema, settings: Settings, documents: Mapping[str, str]
) -> dict[str, str]:
    """Documents that could never run on a server of `schema` with these settings
    (they do not parse, do not validate against the schema, or break a limit that is a
    validation rule: depth, aliases, root fields, introspection): id → the first
    problem."""
    rules = validation_rules(settings)
    problems: dict[str, str] = {}
    for key, text in documents.items():
        try:
            errors = validate(schema._schema, parse(text), rules)
        except GraphQLError as exc:
            problems[key] = exc.message
            continue
        if errors:
            problems[key] = errors[0].message
    return problems


class PersistedOperations:
    """The registered documents of one app, and the allow-list rule (the schema's
    `AllowListExtension` asks it, app/graphql/extensions/allow_list.py)."""

    def __init__(
        self,
        documents: Mapping[str, str],
        *,
        only: bool = False,
        exempt_roles: frozenset[str] = frozenset(),
    ) -> None:
        self.documents = dict(documents)
        self.only = only
        self.exempt_roles = exempt_roles

    @classmethod
    def from_settings(cls, settings: Settings, schema: strawberry.Schema) -> PersistedOperations:
        """The manifest of PERSISTED_OPERATIONS_FILE, every document checked against
        `schema` (the app's own): ManifestError names the first that fails."""
        documents: dict[str, str] = {}
        if settings.persisted_operations_file is not None:
            documents = read_manifest(settings.persisted_operations_file)
            problems = invalid_documents(schema, settings, documents)
            if problems:
                key, problem = next(iter(problems.items()))
                raise ManifestError(
                    f"{settings.persisted_operations_file}: {len(problems)} registered "
                    f"operation(s) no longer valid against the schema; {key[:16]}…: {problem}"
                )
        return cls(
            documents,
            only=settings.persisted_operations_only,
            exempt_roles=frozenset(settings.persisted_operations_exempt_roles),
        )

    def resolve(
        self, query: object, document_id: object, extensions: Mapping[str, Any] | None
    ) -> str | None:
        """The document a request runs: its text, or the registered one its id names."""
        if query is not None and not isinstance(query, str):
            raise PersistedOperationError(
                "the operation's `query` must be a string", ErrorCode.BAD_REQUEST
            )
        # Checked before the text is hashed: a lone surrogate cannot be encoded to hash.
        problem = encoding_problem(query) if query is not None else None
        if problem is not None:
            raise PersistedOperationError(
                f"the operation's `query` {problem}", ErrorCode.BAD_REQUEST
            )
        key = _requested_id(document_id, extensions)
        if key is None:
            return query
        text = self.documents.get(key)
        if query is not None:
            # Apollo's link sends text and hash together after a miss: they must agree.
            if document_hash(query) != key:
                raise PersistedOperationError(
                    "the document's SHA-256 is not the id sent with it",
                    ErrorCode.PERSISTED_QUERY_MISMATCH,
                )
            return query
        if text is None:
            raise PersistedOperationError(
                f"{_NOT_FOUND_MESSAGE}: no operation is registered as {key}; "
                "register it (pledge-ledger operations register) or send its text",
                ErrorCode.PERSISTED_QUERY_NOT_FOUND,
            )
        return text

    def allows(self, query: str | None, principal: Principal | None) -> bool:
        if not self.only or query is None:
            return True  # no document: strawberry reports that itself
        role = principal.role if principal is not None else None
        if role is not None and role.value in self.exempt_roles:
            return True
        return isinstance(query, str) and document_hash(query) in self.documents


def _requested_id(document_id: object, extensions: Mapping[str, Any] | None) -> str | None:
    persisted = (extensions or {}).get("persistedQuery")
    if document_id is None and isinstance(persisted, Mapping):
        document_id = persisted.get("sha256Hash")
    if document_id is None:
        return None
    key = document_id.lower().removeprefix("sha256:") if isinstance(document_id, str) else ""
    if not _HEX.fullmatch(key):
        raise PersistedOperationError(
            "a document id is 'sha256:' and 64 hex digits",
            ErrorCode.PERSISTED_QUERY_NOT_FOUND,
        )
    return key
