"""Per-request DataLoaders: every field resolves through one of these, batched.

Each batch opens its own short session: strawberry resolves sibling fields
concurrently, and one AsyncSession must never be used by two tasks at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import suppress
from decimal import Decimal
from typing import Any, Generic, Protocol, Self, TypeVar, cast

from sqlalchemy import ColumnElement, select
from strawberry.dataloader import DataLoader

from app.audit import repository as audit_repository
from app.beneficiaries import repository as shares_repository
from app.db.session import SessionFactory
from app.errors import DomainError, RateNotFound
from app.evidence import repository as sources_repository
from app.kit.aggregation import Aggregate, fetch_aggregates
from app.kit.keyset import Order
from app.kit.pagination import Page, Window, fetch_pages
from app.models import Program, SubjectType
from app.money.conversion import RateQuote, rate_not_found
from app.money.currencies import from_minor_units, minor_units
from app.money.repository import RateKey, applicable_rates
from app.money.sql import IntoCurrency, amounts_in_range
from app.programs import repository as programs_repository
from app.reports.budget import service as reports_service
from app.reports.budget.repository import Dimension
from app.reports.budget.service import Measures


class RowObject(Protocol):
    """An object type made from one stored row: every node type of the schema."""

    @classmethod
    def from_row(cls, row: Any) -> Self: ...


N = TypeVar("N", bound=RowObject)

# The node registry, filled as each node type is defined (app/graphql/records.register):
# each node type's model, and each node type by its GraphQL name and by its model. A
# type that names another domain's (a reference up the tree, a record's history entry)
# loads it by model or name, so that its module need not import that domain's.
NODE_MODELS: dict[type[Any], type[Any]] = {}
NODE_TYPES: dict[str, type[Any]] = {}
NODE_TYPES_BY_MODEL: dict[type[Any], type[Any]] = {}


class NodeLoader(Generic[N]):
    """Objects of one node type by primary key, read through its model's batched loader."""

    def __init__(self, node_type: type[N], rows: DataLoader[int, Any]) -> None:
        self._type = node_type
        self._rows = rows

    async def load(self, pk: int | None) -> N | None:
        """The object with key `pk`; None when there is none (or `pk` is None: a reference
        left empty)."""
        if pk is None:
            return None
        row = await self._rows.load(pk)
        return self._type.from_row(row) if row is not None else None

    async def load_required(self, pk: int) -> N:
        """The object a non-null reference names. Its foreign key says it exists (in
        every view too): a missing one is a broken invariant, an internal error."""
        found = await self.load(pk)
        if found is None:
            raise LookupError(f"{self._type.__name__} {pk} is referenced but not found")
        return found


class DataLoaders:
    def __init__(
        self, session_factory: SessionFactory, *, pause: Callable[[], Awaitable[None]] | None = None
    ) -> None:
        self._sessions = session_factory
        # Waits for the operation's turn between slices of a large batch (app/kit/pacing.py).
        self._pause = pause
        self._by_id: dict[type[Any], DataLoader[int, Any]] = {}
        self._nodes: dict[type[Any], NodeLoader[Any]] = {}
        self._pages: dict[Hashable, DataLoader[Hashable, Page]] = {}
        self._aggregates: dict[Hashable, DataLoader[Hashable, Aggregate]] = {}
        self.budgets = DataLoader(self._budgets)
        self.rates = DataLoader(self._rates)
        self.has_estimate = DataLoader(self._has_estimate)
        self.figures = DataLoader(self._figures)
        self.shares = DataLoader(self._shares)
        self.audit_entries = DataLoader(self._audit_entries)

    def by_id(self, model: type[Any]) -> DataLoader[int, Any]:
        """Rows of `model` by primary key; a missing row loads as None."""
        loader = self._by_id.get(model)
        if loader is None:

            async def load(keys: Sequence[int]) -> list[Any]:
                async with self._sessions() as session:
                    rows = (await session.scalars(select(model).where(model.id.in_(keys)))).all()
                found = {row.id: row for row in rows}
                return [found.get(key) for key in keys]

            loader = self._by_id[model] = DataLoader(load)
        return loader

    def node(self, node_type: type[N]) -> NodeLoader[N]:
        """Objects of `node_type` by primary key: `loaders.node(Program).load(pk)` is a
        `Program | None`."""
        found = self._nodes.get(node_type)
        if found is None:
            found = self._nodes[node_type] = NodeLoader(
                node_type, self.by_id(NODE_MODELS[node_type])
            )
        return cast("NodeLoader[N]", found)

    def node_of(self, model: type[Any]) -> NodeLoader[Any]:
        """Objects of the node type of `model`, for a module that names that type only
        for the type checker: `found: NodeLoader[Initiative] = loaders.node_of(m.Initiative)`."""
        return self.node(NODE_TYPES_BY_MODEL[model])

    def node_named(self, type_name: str) -> NodeLoader[Any]:
        """Objects of the node type called `type_name` in the schema."""
        return self.node(NODE_TYPES[type_name])

    def pages(
        self,
        key: Hashable,
        *,
        entity: type[Any],
        where: ColumnElement[bool],
        order: Order,
        window: Window,
        parent: Any | None,
        join: tuple[Any, Any] | None = None,
        count: bool = True,
    ) -> DataLoader[Hashable, Page]:
        """Pages of one list, by parent key; one loader per distinct set of list arguments
        (`count`: whether their totals are asked for)."""
        loader = self._pages.get(key)
        if loader is None:

            async def load(parent_keys: Sequence[Hashable]) -> list[Page]:
                async with self._sessions() as session:
                    pages = await fetch_pages(
                        session,
                        entity=entity,
                        where=where,
                        order=order,
                        window=window,
                        parent=parent,
                        parent_keys=parent_keys,
                        join=join,
                        pause=self._pause,
                        count=count,
                    )
                return [pages[k] for k in parent_keys]

            loader = self._pages[key] = DataLoader(load)
        return loader

    def aggregates(
        self,
        key: Hashable,
        *,
        entity: type[Any],
        where: ColumnElement[bool],
        measures: Mapping[str, Any],
        parent: Any | None,
        join: tuple[Any, Any] | None,
        target: str | None,
    ) -> DataLoader[Hashable, Aggregate]:
        """Aggregates of one filtered list, by parent key; one statement per batch."""
        loader = self._aggregates.get(key)
        if loader is None:

            async def load(parent_keys: Sequence[Hashable]) -> list[Aggregate]:
                convert = IntoCurrency(target, minor_units(target)) if target else None
                async with self._sessions() as session:
                    # A sum beyond what the database holds: a typed error.
                    with amounts_in_range():
                        found = await fetch_aggregates(
                            session,
                            entity=entity,
                            where=where,
                            measures=measures,
                            parent=parent,
                            parent_keys=parent_keys,
                            join=join,
                            convert=convert,
                        )
                return [found[k] for k in parent_keys]

            loader = self._aggregates[key] = DataLoader(load)
        return loader

    async def first_program(self) -> Any:
        """The programme with the lowest id (the demo has one). Its initiatives look it up
        by id for their currency: that finds it without a statement of its own."""
        async with self._sessions() as session:
            row = await programs_repository.first(session)
        if row is not None:
            self.by_id(Program).prime(row.id, row)
        return row

    async def _has_estimate(self, keys: Sequence[tuple[SubjectType, int]]) -> list[bool]:
        """Whether any citation of each (subject type, id) flags an estimate."""
        async with self._sessions() as session:
            flagged = await sources_repository.estimated_subjects(session, keys)
        return [key in flagged for key in keys]

    async def _figures(self, keys: Sequence[tuple[Dimension, int, str]]) -> list[Measures]:
        """Budget and execution figures per (PROGRAM or INITIATIVE, id, currency); one
        statement per owner kind and currency in the batch."""
        found: dict[tuple[Dimension, int, str], Measures] = {}
        async with self._sessions() as session:
            for (owner, currency), ids in _batches(keys).items():
                figures = await reports_service.figures_by_owner(session, owner, ids, currency)
                found.update({(owner, i, currency): figures[i] for i in ids})
        return [found[key] for key in keys]

    async def _budgets(self, keys: Sequence[tuple[Dimension, int, str]]) -> list[Decimal]:
        """Current budgets per (PROGRAM or INITIATIVE, id, currency): the figures'
        `budgetCurrent`. When the request asks for those figures too (a dashboard's
        `allocated` beside `spent`), it is taken from them; otherwise computed from the
        budget lines alone, one statement per owner kind and currency in the batch."""
        found: dict[tuple[Dimension, int, str], Decimal] = {}
        for key in keys:
            figures = self.figures.cache_map.get(key)
            if figures is not None:
                # A failure of the whole figures (a transaction without a rate) is not
                # the budget's: it is then computed on its own below.
                with suppress(DomainError):
                    found[key] = from_minor_units((await figures).budget_current, key[2])
        missing = [key for key in keys if key not in found]
        if missing:
            async with self._sessions() as session:
                for (owner, currency), ids in _batches(missing).items():
                    budgets = await reports_service.current_budgets(session, owner, ids, currency)
                    found.update({(owner, i, currency): budgets[i] for i in ids})
        return [found[key] for key in keys]

    async def _audit_entries(self, keys: Sequence[tuple[str, int, int]]) -> list[list[Any]]:
        """Trail entries of each (table, id, how many) record, oldest first; a statement
        per distinct count (one in practice)."""
        found: dict[tuple[str, int, int], list[Any]] = {}
        async with self._sessions() as session:
            for limit in {limit for _, _, limit in keys}:
                records = [(table, pk) for table, pk, n in keys if n == limit]
                entries = await audit_repository.history(session, records, limit=limit)
                found.update({(t, pk, limit): rows for (t, pk), rows in entries.items()})
        return [found[key] for key in keys]

    async def _shares(self, keys: Sequence[int]) -> list[list[Any]]:
        """The beneficiary shares of each initiative (rows), by group."""
        async with self._sessions() as session:
            found = await shares_repository.shares_of(session, keys)
        return [found.get(key, []) for key in keys]

    async def _rates(self, keys: Sequence[RateKey]) -> list[RateQuote | RateNotFound]:
        """The rate that converts each (currency, target, value date), picked in SQL by
        the rule reports use; RATE_NOT_FOUND for a key none converts. One statement per
        target currency in the batch."""
        async with self._sessions() as session:
            found = await applicable_rates(session, keys)
        return [found[key] if key in found else rate_not_found(*key) for key in keys]


def _batches(keys: Sequence[tuple[Dimension, int, str]]) -> dict[tuple[Dimension, str], list[int]]:
    """The ids of a batch's keys, per owner kind and currency."""
    batches: dict[tuple[Dimension, str], list[int]] = {}
    for owner, owner_id, currency in keys:
        batches.setdefault((owner, currency), []).append(owner_id)
    return batches
