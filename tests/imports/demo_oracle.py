"""The demo loader as it was before the importer: row by row through the ORM, from the
YAML's dictionaries. Kept as a test oracle (tests/imports/test_demo_oracle.py): the
demo loaded by the importer must answer every report as this one's did."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from importlib import resources
from typing import Any

import yaml
from sqlalchemy.ext.asyncio import AsyncSession

from app import models as m
from app.audit.recorder import lock_chain, set_actor
from app.audit.records import SYSTEM_ROLE, Actor
from app.db.types import utcnow
from app.kit.dates import check_date
from app.money.currencies import finer_than_minor_unit, parse_currency

DEMO_FILE = "common_prosperity.yaml"
DEMO_ACTOR = Actor("demo-loader", SYSTEM_ROLE)


def read_demo() -> dict[str, Any]:
    text = resources.files("app.demo").joinpath(DEMO_FILE).read_text(encoding="utf-8")
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def _date(value: Any) -> date | None:
    if value is None:
        return None
    return check_date(value if isinstance(value, date) else date.fromisoformat(str(value)))


def _decimal(value: Any) -> Decimal | None:
    # Amounts are quoted strings in the file, so YAML never turns them into floats.
    if value is None:
        return None
    if not isinstance(value, str | int):
        raise ValueError(f"amount {value!r} must be a quoted string")
    return Decimal(value)


def _money(entry: dict[str, Any]) -> tuple[Decimal, str]:
    """An entry's amount and currency, held to the rule every written amount follows."""
    amount, currency = _decimal(entry["amount"]), parse_currency(entry["currency"])
    if amount is None or finer_than_minor_unit(amount, currency):
        raise ValueError(f"amount {entry['amount']!r} is not an amount in {currency}")
    return amount, currency


class _Builder:
    def __init__(self, session: AsyncSession, data: dict[str, Any]) -> None:
        self.session = session
        self.data = data
        self.sources: dict[str, m.SourceDocument] = {}
        self.orgs: dict[str, m.Organization] = {}
        self.groups: dict[str, m.BeneficiaryGroup] = {}
        self.rows = 0
        self.now = utcnow()

    def add(self, row: Any) -> Any:
        self.session.add(row)
        self.rows += 1
        return row

    async def flush(self) -> None:
        await self.session.flush()

    async def cite(self, subject: m.SubjectType, row: Any, entries: list[dict[str, Any]]) -> None:
        """Citations need the subject's id, so the subject is flushed first."""
        if not entries:
            return
        if row.id is None:
            await self.flush()
        default_source = next(iter(self.sources.values()))
        for entry in entries:
            source = self.sources[entry["source"]] if entry.get("source") else default_source
            self.add(
                m.Citation(
                    source_document_id=source.id,
                    subject_type=subject,
                    subject_id=row.id,
                    field=entry.get("field"),
                    quote=entry["quote"],
                    translation=entry.get("translation"),
                    is_estimate=bool(entry.get("is_estimate", False)),
                    note=entry.get("note"),
                )
            )

    async def build(self) -> m.Program:
        for doc in self.data["sources"]:
            self.sources[doc["ref"]] = self.add(
                m.SourceDocument(
                    ref=doc["ref"],
                    title=doc["title"],
                    url=doc.get("url"),
                    publisher=doc.get("publisher"),
                    published_on=_date(doc.get("published_on")),
                    language=doc.get("language"),
                    category=doc.get("category"),
                )
            )
        await self.flush()
        for org in self.data["organizations"]:
            row = self.orgs[org["ref"]] = self.add(
                m.Organization(
                    ref=org["ref"],
                    name=org["name"],
                    kind=m.OrganizationKind(org["kind"]),
                    headquarters=org.get("headquarters"),
                    description=org.get("description"),
                )
            )
            await self.cite(m.SubjectType.ORGANIZATION, row, org.get("cite", []))
        program = await self._program(self.data["program"])
        for rate in self.data.get("exchange_rates", []):
            row = self.add(
                m.ExchangeRate(
                    base=parse_currency(rate["base"]),
                    quote=parse_currency(rate["quote"]),
                    rate=_decimal(rate["rate"]),
                    rate_date=_date(rate["rate_date"]),
                    source=rate["source"],
                    source_document_id=(
                        self.sources[rate["source_ref"]].id if rate.get("source_ref") else None
                    ),
                )
            )
            await self.cite(m.SubjectType.EXCHANGE_RATE, row, rate.get("cite", []))
        for group in self.data.get("beneficiary_groups", []):
            row = self.groups[group["code"]] = self.add(
                m.BeneficiaryGroup(
                    code=group["code"], name=group["name"], description=group.get("description")
                )
            )
            await self.cite(m.SubjectType.BENEFICIARY_GROUP, row, group.get("cite", []))
        for item in self.data["initiatives"]:
            await self._initiative(program, item)
        await self.flush()
        return program

    async def _program(self, p: dict[str, Any]) -> m.Program:
        pledged, currency = _money(p["pledged"])
        row = self.add(
            m.Program(
                ref=p["ref"],
                name=p["name"],
                summary=p.get("summary"),
                sponsor_id=self.orgs[p["sponsor"]].id,
                pledged_amount=pledged,
                pledged_currency=currency,
                announced_on=_date(p.get("announced_on")),
                deadline=_date(p.get("deadline")),
                governance_body=p.get("governance_body"),
                governance_lead=p.get("governance_lead"),
            )
        )
        await self.cite(m.SubjectType.PROGRAM, row, p.get("cite", []))
        return row  # type: ignore[no-any-return]

    async def _initiative(self, program: m.Program, i: dict[str, Any]) -> None:
        row = self.add(
            m.Initiative(
                program_id=program.id,
                code=i["code"],
                position=i["position"],
                title=i["title"],
                summary=i.get("summary"),
                focus_area=i.get("focus_area"),
                status=m.InitiativeStatus(i["status"]),
                planned_start=_date(i.get("planned_start")),
                actual_start=_date(i.get("actual_start")),
                planned_end=_date(i.get("planned_end")),
                actual_end=_date(i.get("actual_end")),
                region=i.get("region"),
            )
        )
        await self.cite(m.SubjectType.INITIATIVE, row, i.get("cite", []))
        for part in i.get("participants", []):
            self.add(
                m.Participation(
                    initiative_id=row.id,
                    organization_id=self.orgs[part["org"]].id,
                    role=m.ParticipationRole(part["role"]),
                )
            )
        for line in i.get("budget_lines", []):
            amount, currency = _money(line)
            budget = self.add(
                m.BudgetLine(
                    initiative_id=row.id,
                    period_start=_date(line["period_start"]),
                    period_end=_date(line["period_end"]),
                    type=m.BudgetType(line["type"]),
                    status=m.BudgetStatus(line["status"]),
                    category=line.get("category"),
                    amount=amount,
                    currency=currency,
                    value_date=_date(line["value_date"]),
                    description=line.get("description"),
                )
            )
            await self.cite(m.SubjectType.BUDGET_LINE, budget, line.get("cite", []))
        for stone in i.get("milestones", []):
            milestone = self.add(
                m.Milestone(
                    initiative_id=row.id,
                    title=stone["title"],
                    description=stone.get("description"),
                    planned_date=_date(stone.get("planned_date")),
                    forecast_date=_date(stone.get("forecast_date")),
                    actual_date=_date(stone.get("actual_date")),
                    status=m.MilestoneStatus(stone["status"]),
                )
            )
            await self.cite(m.SubjectType.MILESTONE, milestone, stone.get("cite", []))
        for fig in i.get("beneficiaries", []):
            figure = self.add(
                m.BeneficiaryFigure(
                    initiative_id=row.id,
                    group_id=self.groups[fig["group"]].id,
                    unit=fig["unit"],
                    target_value=_decimal(fig.get("target_value")),
                    target_date=_date(fig.get("target_date")),
                    reached_value=_decimal(fig.get("reached_value")),
                    reached_qualifier=m.FigureQualifier(fig.get("reached_qualifier", "exact")),
                    reached_as_of=_date(fig.get("reached_as_of")),
                    # Published figures: the source is the approval.
                    approved_by=DEMO_ACTOR.name if fig.get("reached_value") else None,
                    approved_at=self.now if fig.get("reached_value") else None,
                )
            )
            await self.cite(m.SubjectType.BENEFICIARY_FIGURE, figure, fig.get("cite", []))


async def load_demo_the_old_way(session: AsyncSession) -> int:
    """Add the demo programme row by row; the rows written. The caller commits."""
    set_actor(session, DEMO_ACTOR, reason="the built-in demo pledge")
    await lock_chain(session)
    builder = _Builder(session, read_demo())
    await builder.build()
    return builder.rows
