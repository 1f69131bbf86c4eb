"""The one strawberry Schema."""

from __future__ import annotations

from decimal import Decimal

import strawberry
from strawberry.schema.config import StrawberryConfig

from app.graphql.errors import ErrorCodesExtension
from app.graphql.query import Query
from app.graphql.scalars import DecimalScalar

schema = strawberry.Schema(
    query=Query,
    config=StrawberryConfig(scalar_map={Decimal: DecimalScalar}),
    extensions=[ErrorCodesExtension],
)
