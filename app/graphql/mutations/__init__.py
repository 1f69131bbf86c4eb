"""The root Mutation: one mixin per kind of record, merged here.

Every mutation takes `input`, an optional `idempotencyKey` and `reason`, and returns
a payload with the record and `errors { field code message }`. Permission, version
and rule problems come back as errors with stable codes; nothing is written then.
"""

from __future__ import annotations

import strawberry

from app.graphql.mutations.finance import FinanceMutations


@strawberry.type(description="Changes to the ledger; each is audited and may be retried safely.")
class Mutation(FinanceMutations):
    pass
