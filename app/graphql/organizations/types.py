"""Organisations: sponsors, funders and partners."""

from __future__ import annotations

import strawberry

from app import models as m
from app.graphql.evidence.types import cited_sources
from app.graphql.initiatives.types import Participation, ParticipationOrder
from app.graphql.inputs import ParticipationFilter, ProgramFilter
from app.graphql.programs.types import Program, ProgramOrder
from app.graphql.records import Record, db_id_of, order_input, register, stamps
from app.graphql.relay import connection
from app.initiatives.listing import PARTICIPATIONS_OF_ORGANIZATION
from app.models import OrganizationKind, SubjectType
from app.organizations.listing import ORGANIZATIONS
from app.programs.listing import PROGRAMS_OF_SPONSOR

OrganizationOrder = order_input("Organization", ORGANIZATIONS)


@register(m.Organization)
@strawberry.type(description="An organisation: a sponsor, funder or implementing partner.")
class Organization(Record):
    ref: str = strawberry.field(description="Stable reference of the organisation.")
    name: str = strawberry.field(description="The organisation's name.")
    kind: OrganizationKind = strawberry.field(description="What kind of organisation it is.")
    headquarters: str | None = strawberry.field(description="Where it is headquartered.")
    description: str | None = strawberry.field(description="A few words on the organisation.")

    @classmethod
    def from_row(cls, row: m.Organization) -> Organization:
        return cls(
            **stamps(row),
            ref=row.ref,
            name=row.name,
            kind=row.kind,
            headquarters=row.headquarters,
            description=row.description,
        )

    participations = connection(
        PARTICIPATIONS_OF_ORGANIZATION,
        Participation,
        ParticipationFilter,
        ParticipationOrder,
        description="The initiatives this organisation takes part in, with its roles.",
        parent_key=db_id_of,
    )
    sponsored_programs = connection(
        PROGRAMS_OF_SPONSOR,
        Program,
        ProgramFilter,
        ProgramOrder,
        description="The pledges this organisation made.",
        parent_key=db_id_of,
    )
    sources = cited_sources(SubjectType.ORGANIZATION)
