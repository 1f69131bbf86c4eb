"""The root Mutation: one mixin per kind of record, merged here.

Every mutation takes `input`, an optional `idempotencyKey` and `reason`, and returns
a payload with the record and `errors { field code message }`. Permission, version
and rule problems come back as errors with stable codes; nothing is written then.
"""

from __future__ import annotations

import strawberry

from app.graphql.mutations.beneficiaries import BeneficiaryMutations
from app.graphql.mutations.budgets import BudgetLineMutations
from app.graphql.mutations.initiatives import InitiativeMutations
from app.graphql.mutations.rates import RateMutations
from app.graphql.mutations.sources import SourceMutations
from app.graphql.mutations.timelines import TimelineMutations
from app.graphql.mutations.transactions import TransactionMutations


@strawberry.type(description="Changes to the ledger; each is audited and may be retried safely.")
class Mutation(
    BudgetLineMutations,
    TransactionMutations,
    InitiativeMutations,
    TimelineMutations,
    BeneficiaryMutations,
    RateMutations,
    SourceMutations,
):
    pass
