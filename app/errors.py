"""Domain errors with stable codes. Nothing here knows about GraphQL or HTTP."""

from __future__ import annotations

from typing import Any

from app.described import DescribedStrEnum


class ErrorCode(DescribedStrEnum):
    """Every code a client can see in `extensions.code` or a payload's `errors`, domain
    and transport alike: written nowhere else as a string (tests/test_error_codes.py).
    Each member says what its code means, for the schema and docs/errors.md."""

    VALIDATION = (
        "VALIDATION",
        "Input that breaks a rule, most often a rule of a write; the message says which, "
        "and how to fix it.",
    )
    INVALID_ARGUMENT = (
        "INVALID_ARGUMENT",
        "An argument or input value the field does not accept: malformed, out of range, "
        "or at odds with another argument.",
    )
    INVALID_CURRENCY = (
        "INVALID_CURRENCY",
        "Not an ISO 4217 currency code (the code of renminbi is CNY, not RMB).",
    )
    INVALID_RANGE = (
        "INVALID_RANGE",
        "A filter's range that nothing can match: its lower bound is not below its upper.",
    )
    INVALID_CURSOR = (
        "INVALID_CURSOR",
        "A cursor that this list (or the change log) did not hand out.",
    )
    INVALID_ID = (
        "INVALID_ID",
        "A malformed global ID, or the ID of another type than the one expected.",
    )
    PAGE_SIZE_EXCEEDED = (
        "PAGE_SIZE_EXCEEDED",
        "`first` or `last` asks for more items than the largest page allowed.",
    )
    FILTER_TOO_COMPLEX = (
        "FILTER_TOO_COMPLEX",
        "A filter nests too deep, or holds too many conditions or values.",
    )
    RATE_NOT_FOUND = (
        "RATE_NOT_FOUND",
        "No exchange rate between the two currencies is valid on the value date, so the "
        "amount cannot be converted.",
    )
    CURRENCY_REQUIRED = (
        "CURRENCY_REQUIRED",
        "Amounts in several currencies would be added: name the currency to convert them into.",
    )
    REPORT_TOO_LARGE = (
        "REPORT_TOO_LARGE",
        "The report has more groups than allowed: group by fewer dimensions, or filter "
        "the records.",
    )
    NOT_PUBLISHABLE = (
        "NOT_PUBLISHABLE",
        "The IATI export would break a rule of the IATI Standard it cannot mend (a "
        "transaction dated in the future, a percentage that cannot add up to 100): the "
        "message names the activity and the rule; nothing is exported.",
    )
    AMOUNT_OUT_OF_RANGE = (
        "AMOUNT_OUT_OF_RANGE",
        "A converted amount, or a sum of amounts, is larger than a report can hold.",
    )
    ALREADY_EXISTS = (
        "ALREADY_EXISTS",
        "Another record already has this unique code, ref or combination of values.",
    )
    # Who may do what (app/auth)
    UNAUTHENTICATED = (
        "UNAUTHENTICATED",
        "No credentials, or credentials that are invalid, expired or revoked.",
    )
    FORBIDDEN = "FORBIDDEN", "The caller's role lacks the permission this needs."
    # Writes (app/writes)
    ADDRESS_REFUSED = (
        "ADDRESS_REFUSED",
        "A webhook URL that is not an http(s) URL, or whose host is or resolves to a "
        "loopback, private, link-local, multicast or reserved address (refused unless "
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES is set).",
    )
    TOO_MANY_ENDPOINTS = (
        "TOO_MANY_ENDPOINTS",
        "As many webhook endpoints are registered as allowed, in all "
        "(MAX_WEBHOOK_ENDPOINTS) or for this key (MAX_WEBHOOK_ENDPOINTS_PER_KEY): remove "
        "one first.",
    )
    NOT_CONFIGURED = (
        "NOT_CONFIGURED",
        "The service lacks a setting this needs (the message names it, e.g. "
        "WEBHOOK_SECRET_KEY): an operator must set it.",
    )
    NOT_FOUND = (
        "NOT_FOUND",
        "No record has this ID (or, for API keys, this name); over HTTP, no such path "
        "or report (404).",
    )
    CONFLICT = (
        "CONFLICT",
        "The record changed since the version that was read, or others still rest on it "
        "(so it cannot be archived).",
    )
    IDEMPOTENCY_KEY_REUSED = (
        "IDEMPOTENCY_KEY_REUSED",
        "The idempotency key was already used for a different request.",
    )
    PLEDGE_EXCEEDED = (
        "PLEDGE_EXCEEDED",
        "The programme's current budget would come to more than its pledge.",
    )
    BUSY = (
        "BUSY",
        "The service is at a limit for this kind of request (writers queued, views or "
        "query slots taken); nothing was done: retry later.",
    )
    # Live updates (app/events)
    SUBSCRIPTION_OVERFLOW = (
        "SUBSCRIPTION_OVERFLOW",
        "The subscriber fell too far behind and its buffer filled: subscribe again from "
        "the last cursor it received.",
    )
    WEBSOCKET_REQUIRED = (
        "WEBSOCKET_REQUIRED",
        "A subscription sent over plain HTTP: subscriptions run over WebSocket.",
    )
    # Signed download links (app/auth/links.py)
    DOWNLOAD_LINK_INVALID = (
        "DOWNLOAD_LINK_INVALID",
        "A download link whose signature does not match: a parameter changed, or it "
        "was signed with another secret.",
    )
    DOWNLOAD_LINK_EXPIRED = (
        "DOWNLOAD_LINK_EXPIRED",
        "A download link past its expiry: ask for a new one.",
    )
    # Limits on operations: MAX_FIELDS and MAX_SAME_FIELD (app/graphql/extensions/limits.py),
    # MAX_SUBSCRIPTIONS_PER_CONNECTION (app/http/router.py), REQUEST_READ_TIMEOUT_SECONDS
    # (app/http/bodies.py)
    TOO_MANY_FIELDS = (
        "TOO_MANY_FIELDS",
        "The operation selects more fields than allowed once each fragment is spread "
        "where it is used.",
    )
    FIELD_REPEATED = (
        "FIELD_REPEATED",
        "One response name is selected more often than allowed in one merged selection "
        "set (its fragments, and every field of that name below it, merged).",
    )
    TOO_MANY_OPERATIONS = (
        "TOO_MANY_OPERATIONS",
        "Too many operations run at once on one WebSocket connection: complete one "
        "first, or open another connection.",
    )
    REQUEST_TIMEOUT = (
        "REQUEST_TIMEOUT",
        "The request body was sent too slowly, or not at all (HTTP 408).",
    )
    # The document itself (app/graphql/extensions/errors.py, limits.py)
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED", "The document is not GraphQL: a syntax error."
    GRAPHQL_VALIDATION_FAILED = (
        "GRAPHQL_VALIDATION_FAILED",
        "The document does not fit the schema: a field or argument it does not have, a "
        "required one missing, a selection that cannot be.",
    )
    BAD_USER_INPUT = (
        "BAD_USER_INPUT",
        "A variable's or argument's value its type cannot read (text for an Int, a "
        "number too large).",
    )
    TOO_MANY_TOKENS = (
        "TOO_MANY_TOKENS",
        "The document is longer than allowed, counted in tokens (MAX_TOKENS).",
    )
    QUERY_TOO_DEEP = "QUERY_TOO_DEEP", "The operation nests deeper than allowed (MAX_QUERY_DEPTH)."
    TOO_MANY_ALIASES = (
        "TOO_MANY_ALIASES",
        "The operation gives more aliases than allowed (MAX_ALIASES).",
    )
    TOO_MANY_ROOT_FIELDS = (
        "TOO_MANY_ROOT_FIELDS",
        "The operation selects more root fields than allowed (MAX_ROOT_FIELDS).",
    )
    INTROSPECTION_DISABLED = (
        "INTROSPECTION_DISABLED",
        "Introspection (`__schema`, `__type`) is off on this server (INTROSPECTION).",
    )
    QUERY_TOO_COSTLY = (
        "QUERY_TOO_COSTLY",
        "The operation would return more objects, or read more rows, than allowed "
        "(MAX_QUERY_COST, MAX_QUERY_WORK): ask for smaller pages or fewer fields.",
    )
    TIMEOUT = (
        "TIMEOUT",
        "The operation ran longer than allowed (EXECUTION_TIMEOUT_SECONDS) and was stopped.",
    )
    INTERNAL = (
        "INTERNAL",
        "Something unexpected went wrong in the service; `errorId` finds the detail in its log.",
    )
    # Imports of the ledger's own format (app/imports/)
    DOCUMENT_INVALID = (
        "DOCUMENT_INVALID",
        "A file that is not a document of the import format: not YAML or JSON, another "
        "format version, anchors or aliases, or nesting deeper than the format's; a "
        "workbook or zip that cannot be read, a sheet or CSV file of no record kind, a "
        "column named twice, a CSV file not in UTF-8, no program sheet.",
    )
    DOCUMENT_TOO_LARGE = (
        "DOCUMENT_TOO_LARGE",
        "An import file larger than allowed, or with more rows of one kind than allowed; "
        "a zip unpacking to too much, a sheet of too many columns, a cell too long.",
    )
    # The request, before GraphQL runs (app/http/)
    BAD_REQUEST = (
        "BAD_REQUEST",
        "A request that cannot run as sent: not one operation object, no document, an "
        "operation name the document lacks, a malformed parameter.",
    )
    METHOD_NOT_ALLOWED = (
        "METHOD_NOT_ALLOWED",
        "An HTTP method the path does not answer, such as a mutation over GET (405).",
    )
    UNSUPPORTED_MEDIA_TYPE = (
        "UNSUPPORTED_MEDIA_TYPE",
        "A request body of a media type the service does not read (415).",
    )
    REQUEST_TOO_LARGE = (
        "REQUEST_TOO_LARGE",
        "A request body, WebSocket message or request head larger than allowed "
        "(MAX_BODY_BYTES, MAX_HEADER_BYTES).",
    )
    BATCHING_DISABLED = (
        "BATCHING_DISABLED",
        "Several operations in one request: send one operation per request.",
    )
    RATE_LIMITED = (
        "RATE_LIMITED",
        "Too many requests from this address or caller (RATE_LIMIT_PER_ADDRESS, "
        "RATE_LIMIT_PER_KEY): retry after `retryAfter` seconds.",
    )
    # Registered documents (app/http/persisted.py, app/graphql/extensions/allow_list.py)
    OPERATION_NOT_ALLOWED = (
        "OPERATION_NOT_ALLOWED",
        "Only registered documents run on this server (PERSISTED_OPERATIONS_ONLY), and "
        "this one is not registered.",
    )
    PERSISTED_QUERY_NOT_FOUND = (
        "PERSISTED_QUERY_NOT_FOUND",
        "No document is registered under this id, or the id is malformed: send the "
        "document's text with it.",
    )
    PERSISTED_QUERY_MISMATCH = (
        "PERSISTED_QUERY_MISMATCH",
        "The document sent is not the one its id (its SHA-256) names.",
    )


class DomainError(Exception):
    """An expected problem the caller can fix; carries a stable code."""

    code: ErrorCode = ErrorCode.VALIDATION

    def __init__(
        self,
        message: str,
        *,
        code: ErrorCode | None = None,
        field: str | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.field = field
        self.details = details or {}


class Forbidden(DomainError):
    code = ErrorCode.FORBIDDEN


class Unauthenticated(DomainError):
    code = ErrorCode.UNAUTHENTICATED


class RateNotFound(DomainError):
    code = ErrorCode.RATE_NOT_FOUND
