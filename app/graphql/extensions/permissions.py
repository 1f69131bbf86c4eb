"""Who may run what: the read gate, and the permissions fields declare beyond it.

Two mechanisms, each the only one for its part. The read gate (below) is the one check
of READ and SUBSCRIBE: every query and subscription meets it once, before execution. A
field that needs more (AUDIT, EXPORT) declares it where it is declared, with a permission
class, `permission_classes=[NeedsAudit]` (strawberry's BasePermission), which runs
before the field's resolver: a refused field does none of its work. Mutations declare
theirs in their field's metadata and check it in the unit of work, so that FORBIDDEN is
a payload error (app/graphql/mutation.py). A test walks the schema and fails on a field
with no known permission (tests/graphql/extensions/test_field_permissions.py).

The read gate: a query or subscription runs only for a caller who may read.

Checked once per operation, after parsing and before execution, so a refused caller
gets one coded error (UNAUTHENTICATED without credentials, FORBIDDEN with a role that
lacks the permission) and no partial data. A refused caller's validation errors are
dropped too: they would describe the schema to someone not allowed to see it.
Mutations are gated here only for a caller who may do nothing at all (no credentials,
no anonymous reading): they too learn nothing about the schema. Everyone else's
mutations check their own permission and report FORBIDDEN in their payload.
An operation refused before it began (a WebSocket operation over its caller's rate
limit: `Context.refusal`) is answered here the same way.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, ClassVar

from graphql import ExecutionResult as GraphQLExecutionResult
from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.permission import BasePermission
from strawberry.types import Info
from strawberry.types.graphql import OperationType

from app.auth.principal import Principal
from app.auth.roles import Permission
from app.errors import DomainError, ErrorCode

# What each kind of operation needs; introspection is a query and needs READ too.
OPERATION_PERMISSIONS: dict[OperationType, tuple[Permission, ...]] = {
    OperationType.QUERY: (Permission.READ,),
    OperationType.SUBSCRIPTION: (Permission.READ, Permission.SUBSCRIBE),
}


class ReadPermissionExtension(SchemaExtension):
    """List it after the validation cache, which sets the validation errors on entry:
    the refusal set here then replaces them and validation is skipped."""

    def on_validate(self) -> Iterator[None]:
        refusal = self._refusal()
        if refusal is not None:
            self.execution_context.pre_execution_errors = [refusal]
        yield

    def on_execute(self) -> Iterator[None]:
        # A safety net, should a later extension have replaced the refusal above.
        context = self.execution_context
        if context.result is None:
            refusal = self._refusal()
            if refusal is not None:
                context.result = GraphQLExecutionResult(data=None, errors=[refusal])
        yield

    def _refusal(self) -> GraphQLError | None:
        context = self.execution_context
        try:
            operation = context.operation_type
        except RuntimeError:
            operation = None  # no document: strawberry reports that itself
        return read_gate(context.context, operation)


def read_gate(context: Any, operation: OperationType | None) -> GraphQLError | None:
    """Why the caller of `context` may not run an operation of this type, or None."""
    principal = getattr(context, "principal", None)
    if not isinstance(principal, Principal):
        return None  # a schema run outside a request (export-schema, scripts)
    refusal = getattr(context, "refusal", None)
    if isinstance(refusal, GraphQLError):
        return refusal
    if operation is None:
        return None
    if operation == OperationType.SUBSCRIPTION and not getattr(context, "over_websocket", True):
        return GraphQLError(
            "subscriptions run over WebSocket (graphql-transport-ws) at /graphql; "
            "see docs/live-updates.md",
            extensions={"code": ErrorCode.WEBSOCKET_REQUIRED.value},
        )
    needed = OPERATION_PERMISSIONS.get(operation, ())
    if operation == OperationType.MUTATION and not principal.permissions:
        needed = (Permission.WRITE,)
    try:
        for permission in needed:
            principal.require(permission)
    except DomainError as exc:
        return GraphQLError(exc.message, original_error=exc)
    return None


class FieldPermission(BasePermission):
    """A field that needs `permission` besides what the read gate checks.

    Refused with the caller's own `require` error, as a check in the resolver gave it:
    UNAUTHENTICATED without credentials, else FORBIDDEN naming the role and the
    permission. It is raised here, not from `on_unauthorized`, which is not told who
    asked and so could not name the role."""

    permission: ClassVar[Permission]

    def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        info.context.principal.require(self.permission)
        return True


class NeedsAudit(FieldPermission):
    """The audit trail: the change log, a record's history, the chain's verification."""

    permission = Permission.AUDIT
    message = "this needs the 'audit' permission"


class NeedsExport(FieldPermission):
    """CSV downloads, and the links that make them."""

    permission = Permission.EXPORT
    message = "this needs the 'export' permission"
