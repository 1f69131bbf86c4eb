"""Domain errors with stable codes. Nothing here knows about GraphQL or HTTP."""

from __future__ import annotations

from enum import StrEnum
from typing import Any


class ErrorCode(StrEnum):
    VALIDATION = "VALIDATION"
    INVALID_ARGUMENT = "INVALID_ARGUMENT"
    INVALID_CURRENCY = "INVALID_CURRENCY"
    INVALID_RANGE = "INVALID_RANGE"
    INVALID_CURSOR = "INVALID_CURSOR"
    INVALID_ID = "INVALID_ID"
    PAGE_SIZE_EXCEEDED = "PAGE_SIZE_EXCEEDED"
    FILTER_TOO_COMPLEX = "FILTER_TOO_COMPLEX"
    RATE_NOT_FOUND = "RATE_NOT_FOUND"
    CURRENCY_REQUIRED = "CURRENCY_REQUIRED"
    REPORT_TOO_LARGE = "REPORT_TOO_LARGE"
    AMOUNT_OUT_OF_RANGE = "AMOUNT_OUT_OF_RANGE"
    ALREADY_EXISTS = "ALREADY_EXISTS"
    # Who may do what (app/auth)
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    # Writes (app/editing)
    NOT_FOUND = "NOT_FOUND"
    CONFLICT = "CONFLICT"
    IDEMPOTENCY_KEY_REUSED = "IDEMPOTENCY_KEY_REUSED"
    PLEDGE_EXCEEDED = "PLEDGE_EXCEEDED"
    # The service is at a limit for this kind of request (writers queued, views open).
    BUSY = "BUSY"
    # Live updates (app/events): a subscriber's buffer filled; resume from its cursor.
    SUBSCRIPTION_OVERFLOW = "SUBSCRIPTION_OVERFLOW"
    # A subscription sent over plain HTTP: subscriptions run over WebSocket.
    WEBSOCKET_REQUIRED = "WEBSOCKET_REQUIRED"
    # Signed download links (app/auth/links.py): a link whose signature does not match
    # (a parameter changed, or signed with another secret), and a link past its expiry.
    DOWNLOAD_LINK_INVALID = "DOWNLOAD_LINK_INVALID"
    DOWNLOAD_LINK_EXPIRED = "DOWNLOAD_LINK_EXPIRED"
    # An operation that selects more fields than MAX_FIELDS once its fragments are
    # spread where they are used (a fragment spread twice in one spread twice ...).
    TOO_MANY_FIELDS = "TOO_MANY_FIELDS"
    # One response name selected more than MAX_SAME_FIELD times in one merged selection
    # set (its fragments, and below a field every field of that name, merged).
    FIELD_REPEATED = "FIELD_REPEATED"
    # A WebSocket operation past MAX_SUBSCRIPTIONS_PER_CONNECTION running at once on its
    # connection: complete one first (or open another connection).
    TOO_MANY_OPERATIONS = "TOO_MANY_OPERATIONS"
    # A request body that kept the service waiting longer than
    # REQUEST_READ_TIMEOUT_SECONDS (408): sent too slowly, or not at all.
    REQUEST_TIMEOUT = "REQUEST_TIMEOUT"


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
