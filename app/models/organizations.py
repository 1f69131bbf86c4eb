from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.described import DescribedStrEnum
from app.models._columns import str_enum


class OrganizationKind(DescribedStrEnum):
    """After IATI's OrganisationType code list, coarsened."""

    COMPANY = "company", "A business run for profit."
    GOVERNMENT = "government", "A government, ministry, agency or other public body."
    FOUNDATION = "foundation", "A philanthropic foundation or charitable fund."
    NGO = "ngo", "A non-governmental, not-for-profit organisation."
    ACADEMIC = "academic", "A university, school or research institute."
    OTHER = "other", "Any other kind of organisation."


class Organization(Timestamped, Base):
    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(primary_key=True)
    # A stable identifier for re-loading data (IATI organisation identifiers look like this).
    ref: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[OrganizationKind] = mapped_column(str_enum(OrganizationKind, "organization_kind"))
    headquarters: Mapped[str | None] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
