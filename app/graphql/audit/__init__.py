"""The audit trail in GraphQL: `changes`, `auditVerification`, and each record's history."""

from app.graphql.audit.queries import AuditQueries

__all__ = ["AuditQueries"]
