"""Field-level problems a write reports together, each with a stable code."""

from __future__ import annotations

from dataclasses import dataclass

from app.errors import DomainError, ErrorCode


@dataclass(frozen=True)
class FieldError:
    # The attribute or argument at fault as the model names it ("amount", "period_end");
    # the schema names it as the API does ("periodEnd"). None: the input as a whole.
    field: str | None
    code: ErrorCode
    message: str


class Rejected(DomainError):
    """A write refused for one or more reasons; nothing of it is written."""

    def __init__(self, errors: list[FieldError]) -> None:
        first = errors[0]
        super().__init__(first.message, code=first.code, field=first.field)
        self.errors = errors


def as_field_errors(error: DomainError) -> list[FieldError]:
    if isinstance(error, Rejected):
        return error.errors
    return [FieldError(error.field, error.code, error.message)]


class Problems:
    """Collects every problem of one input, so the caller learns them all at once."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str | None, message: str, code: ErrorCode = ErrorCode.VALIDATION) -> None:
        self.errors.append(FieldError(field, code, message))

    def check(self, error: DomainError) -> None:
        self.errors.extend(as_field_errors(error))

    def raise_any(self) -> None:
        if self.errors:
            raise Rejected(self.errors)


def not_found(what: str, field: str = "id") -> Rejected:
    return Rejected([FieldError(field, ErrorCode.NOT_FOUND, f"no {what} has this ID")])
