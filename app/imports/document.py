"""The ledger's own file format, version 1: one programme and everything under it.

A document is YAML or JSON with the shape of `Document` below; `document_schema()`
is its JSON Schema (published at /schemas/ledger-v1.json, committed as
docs/ledger-v1.schema.json). The built-in demo (app/demo/common_prosperity.yaml) is
one such document.

Conventions, the same for every record:
- `format` names the version ("pledge-ledger/1"); a later version gets a new name.
- Amounts, rates, percentages and beneficiary counts are quoted decimal strings
  ("1250.50"), never numbers: YAML and JSON readers turn numbers into floats, which
  cannot hold money exactly.
- Dates are ISO 8601 calendar dates (YYYY-MM-DD).
- Every record has a key that finds it again on re-import: a `ref` (sources,
  organisations, the programme, budget lines, transactions, milestones), a `code`
  (initiatives, beneficiary groups), or the values that are unique for it (an
  exchange rate's base, quote and date; a participant's organisation and role; a
  figure's group and unit; a share's group; a citation's source, field and quote).
  Keys of budget lines, transactions and milestones are unique within their
  initiative. A key never changes: a record with a new key is a new record.
- Records point at each other by key (`sponsor: alibaba-group`), never by database id.
- `cite` on a record lists the words of a source that state its values; `field`
  names the value as the GraphQL API does ("pledged", "plannedEnd"), null: the
  record as a whole. A citation's `source` may be left out when the file has one
  source.
- What is absent from a file is left as it is in the ledger: an import never deletes,
  and a field left out of a record leaves the stored record's value as it is (a file of
  a format that carries fewer fields, such as IATI's, changes only what it carries). A
  field given as null clears the stored value; a new record takes the field's default.
- A budget line, transaction or milestone written without a ref (through the API) is
  named in a file by its id (app/imports/keys.py: "line-17"); an import finds the
  stored row without a ref by that key and leaves its ref empty.
- A backup (`pledge-ledger export --format ledger`) of several programmes is a list of
  documents: a YAML stream (documents separated by `---`) or a JSON array; its import
  is one transaction.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    PlainValidator,
    WithJsonSchema,
)

from app.models import (
    BudgetStatus,
    BudgetType,
    FigureQualifier,
    InitiativeStatus,
    MilestoneStatus,
    OrganizationKind,
    ParticipationRole,
    TransactionType,
)

FORMAT = "pledge-ledger/1"
SCHEMA_PATH = "/schemas/ledger-v1.json"

# Keys are at most 64 characters (the ref and code columns).
MAX_KEY = 64
# The most rows of one kind one document may hold (counted by app/imports/reader.py).
MAX_ROWS: dict[str, int] = {
    "sources": 10_000,
    "organizations": 100_000,
    "exchange_rates": 100_000,
    "beneficiary_groups": 10_000,
    "initiatives": 100_000,
    "participants": 500_000,
    "budget_lines": 500_000,
    "transactions": 2_000_000,
    "milestones": 500_000,
    "beneficiaries": 500_000,
    "shares": 500_000,
    "cite": 2_000_000,
}

_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _decimal_text(value: object) -> Decimal:
    """A decimal from its quoted spelling; a number is refused (it was read as a float)."""
    if isinstance(value, bool):
        raise ValueError('must be a decimal such as "1250.50", not a boolean (true or false)')
    if not isinstance(value, str):
        raise ValueError('must be a quoted decimal string such as "1250.50", not a number')
    if len(value) > 40 or not _DECIMAL.fullmatch(value):
        raise ValueError('must be a decimal such as "1250.50" or "-3", with no spaces or commas')
    try:
        return Decimal(value)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        raise ValueError("is not a decimal") from None


def _iso_date(value: object) -> date:
    """A date from YYYY-MM-DD, or a date a reader of another format made (a workbook's
    date cell); a date and time is refused, not cut to its day."""
    if isinstance(value, datetime):
        raise ValueError("must be a date (YYYY-MM-DD), not a date and time")
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _DATE.fullmatch(value):
        raise ValueError("must be an ISO 8601 date, YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{value} is no day of the calendar") from None


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


DecimalText = Annotated[
    Decimal,
    PlainValidator(_decimal_text),
    PlainSerializer(lambda value: format(value, "f"), return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "pattern": r"^-?[0-9]+(\.[0-9]+)?$"}),
]


class _Percentage:
    """Marks a decimal field that is a percentage (70.5 is 70.5 %): a workbook's cell
    formatted as a percentage is read into such a field as the number it shows, and
    refused in any other (app/imports/tables.py finds them, app/imports/cells.py reads)."""


PERCENTAGE = _Percentage()
PercentText = Annotated[DecimalText, PERCENTAGE]
IsoDate = Annotated[
    date,
    PlainValidator(_iso_date),
    WithJsonSchema({"type": "string", "format": "date"}),
]
# A moment with its timezone, kept in UTC (a naive time is refused: it is ambiguous).
UtcMoment = Annotated[AwareDatetime, AfterValidator(_utc)]
Key = Annotated[str, Field(min_length=1, max_length=MAX_KEY)]
Currency = Annotated[str, Field(min_length=3, max_length=3, description="ISO 4217 code")]


class Record(BaseModel):
    # Unknown fields are refused: a misspelt field would otherwise be dropped silently.
    model_config = ConfigDict(extra="forbid", frozen=True)


class Cite(Record):
    """The words of a source that state a value of the record it is listed on."""

    source: Key | None = Field(
        None, description="The source's ref; may be left out when the file has one source."
    )
    field: str | None = Field(
        None, max_length=64, description="The value cited, as the API names it; null: all."
    )
    quote: str = Field(description="The source's words, verbatim.")
    translation: str | None = None
    is_estimate: bool = Field(False, description="The source does not state the value outright.")
    note: str | None = None


class Cited(Record):
    cite: list[Cite] = Field(default_factory=list)


class Source(Record):
    ref: Key
    title: str
    url: str | None = None
    publisher: str | None = None
    published_on: IsoDate | None = None
    language: str | None = Field(None, description="BCP 47 tag, e.g. de")
    category: str | None = None


class Organization(Cited):
    ref: Key
    name: str
    kind: OrganizationKind
    headquarters: str | None = None
    description: str | None = None


class Pledge(Record):
    amount: DecimalText | None = Field(
        None,
        description="Left out (or null): a new programme's pledge is its current budget once "
        "the file's budget lines are written (an IATI file from elsewhere states none); a "
        "stored programme keeps its pledge.",
    )
    currency: Currency


class Program(Cited):
    ref: Key
    name: str
    summary: str | None = None
    sponsor: Key = Field(description="The ref of an organisation of this file or the ledger.")
    pledged: Pledge
    announced_on: IsoDate | None = None
    deadline: IsoDate | None = None
    governance_body: str | None = None
    governance_lead: str | None = None


class ExchangeRate(Cited):
    """`1 base = rate quote` from `rate_date`; key: base, quote and rate_date."""

    base: Currency
    quote: Currency
    rate: DecimalText
    rate_date: IsoDate
    source: str = Field(description="Who published the rate, in words.")
    source_ref: Key | None = Field(None, description="The source document stating the rate.")


class BeneficiaryGroup(Cited):
    code: Key
    name: str
    description: str | None = None


class Participant(Record):
    """An organisation's role in the initiative; key: org and role."""

    org: Key
    role: ParticipationRole


class BudgetLine(Cited):
    ref: Key = Field(description="Unique within the initiative.")
    period_start: IsoDate
    period_end: IsoDate
    type: BudgetType
    status: BudgetStatus
    category: str | None = None
    amount: DecimalText
    currency: Currency
    value_date: IsoDate | None = Field(None, description="Default: period_start.")
    description: str | None = None


class Transaction(Cited):
    ref: Key = Field(description="Unique within the initiative (IATI's transaction @ref).")
    type: TransactionType
    transaction_date: IsoDate
    amount: DecimalText = Field(description="Signed: a reduction is negative.")
    currency: Currency
    value_date: IsoDate | None = Field(None, description="Default: transaction_date.")
    budget_line: Key | None = Field(None, description="The ref of a budget line of the initiative.")
    provider: Key | None = Field(None, description="An organisation's ref.")
    receiver: Key | None = Field(None, description="An organisation's ref.")
    description: str | None = None


class Milestone(Cited):
    ref: Key = Field(description="Unique within the initiative.")
    title: str
    description: str | None = None
    planned_date: IsoDate | None = None
    forecast_date: IsoDate | None = None
    actual_date: IsoDate | None = None
    status: MilestoneStatus


class DraftReach(Record):
    """A reached figure submitted for approval and not yet approved: reports do not
    count it, and an import keeps it a draft (only an approval makes it the reach)."""

    value: DecimalText
    qualifier: FigureQualifier | None = Field(None, description="Null: exact.")
    as_of: IsoDate | None = None
    submitted_by: str = Field(min_length=1, max_length=200)
    submitted_at: UtcMoment | None = None


class BeneficiaryFigure(Cited):
    """The initiative's target and approved reach for one group in one unit; key: group
    and unit. A reached figure from a file counts as approved by whoever imports it,
    unless the file names its approval (`approved_by`, `approved_at`: a backup's, where
    `approved_by: null` keeps a reach no one is named for, e.g. generated data's)."""

    group: Key
    unit: str
    target_value: DecimalText | None = None
    target_date: IsoDate | None = None
    reached_value: DecimalText | None = None
    reached_qualifier: FigureQualifier = FigureQualifier.EXACT
    reached_as_of: IsoDate | None = None
    approved_by: str | None = Field(
        None,
        max_length=200,
        description="Who approved the reached figure; left out: the importer.",
    )
    approved_at: UtcMoment | None = Field(None, description="When (UTC); default: the import's.")
    draft: DraftReach | None = Field(
        None, description="A reached figure awaiting approval; left out: a stored draft stays."
    )


class Share(Record):
    """The percentage of the initiative's money meant for one group; key: group."""

    group: Key
    percentage: PercentText


class Initiative(Cited):
    code: Key
    position: int = Field(gt=0)
    title: str
    summary: str | None = None
    focus_area: str | None = None
    status: InitiativeStatus
    planned_start: IsoDate | None = None
    actual_start: IsoDate | None = None
    planned_end: IsoDate | None = None
    actual_end: IsoDate | None = None
    region: str | None = Field(None, description="ISO 3166-1 or 3166-2 code, e.g. CN or CN-ZJ")
    participants: list[Participant] = Field(default_factory=list)
    budget_lines: list[BudgetLine] = Field(default_factory=list)
    transactions: list[Transaction] = Field(default_factory=list)
    milestones: list[Milestone] = Field(default_factory=list)
    beneficiaries: list[BeneficiaryFigure] = Field(default_factory=list)
    shares: list[Share] = Field(default_factory=list)


class Document(Record):
    """One programme, with the sources, organisations, rates and groups it uses."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        title="Pledge Ledger document, version 1",
        json_schema_extra={"$id": SCHEMA_PATH},
    )

    format: Literal["pledge-ledger/1"] = Field(description="The format and its version.")
    sources: list[Source] = Field(default_factory=list)
    organizations: list[Organization] = Field(default_factory=list)
    program: Program
    exchange_rates: list[ExchangeRate] = Field(default_factory=list)
    beneficiary_groups: list[BeneficiaryGroup] = Field(default_factory=list)
    initiatives: list[Initiative] = Field(default_factory=list)


def document_schema() -> dict[str, Any]:
    """The JSON Schema of `Document`, as published and committed."""
    schema = Document.model_json_schema(mode="validation")
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
