"""Properties of budgetSummary, on random programmes and on both backends.

The figures must reconcile: groups add up to `total`, `total` is what the raw records
give when each is converted in Python (`pick_rate` + `convert` of tests/money_oracle.py)
with the current budget worked out from the IATI rule (programmes.py), grouping changes
nothing, `others` keeps a cut report whole, and a beneficiary split neither loses nor
invents a cent.

Each test draws its examples with hypothesis and empties the tables before each one (the
`db` fixture only empties them after the test); a failing example is shrunk as usual.
"""

from __future__ import annotations

from collections import defaultdict
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.conftest import Database, GraphQLClient
from tests.reports.budget.programmes import (
    DIMENSIONS,
    MONEY,
    OPS,
    ORDERABLE,
    PROPERTY,
    SPLIT,
    UNIT,
    Figures,
    Programme,
    added,
    cents,
    currencies,
    dimension_sets,
    expected,
    expected_rates,
    figures,
    programmes,
    store,
    summary,
)


@PROPERTY
@given(programme=programmes(), dimensions=dimension_sets, currency=currencies)
async def test_groups_add_up_to_the_total_the_records_give(
    db: Database, client: GraphQLClient, programme: Programme, dimensions: list[str], currency: str
) -> None:
    stored = await store(db, programme)
    report = await summary(client, groupBy=dimensions, currency=currency, rates=True)
    total = figures(report["total"])
    # a. every figure of the groups adds up to the total
    assert added(report["groups"]) == total
    # b. the total is the records', each converted at its own value date's rate
    assert total == expected(stored, currency)
    rates_used = {
        (r["currency"], r["source"]): (
            r["records"],
            Decimal(r["original"]["amount"]),
            Decimal(r["converted"]["amount"]),
            r["inverted"],
            r["rateDate"],
        )
        for r in report["ratesUsed"]
    }
    assert rates_used == expected_rates(stored, currency)
    # c. grouping changes nothing about the total
    whole = await summary(client, groupBy=[], currency=currency)
    assert figures(whole["total"]) == total
    assert [figures(g["measures"]) for g in whole["groups"]] == [total]
    assert report["groupCount"] == len(report["groups"])


@PROPERTY
@given(
    programme=programmes(shares=True),
    dimensions=st.lists(
        st.sampled_from((*DIMENSIONS, "BENEFICIARY_GROUP")), min_size=1, max_size=3, unique=True
    ),
    currency=currencies,
    data=st.data(),
)
async def test_having_order_and_first_keep_the_report_whole(
    db: Database,
    client: GraphQLClient,
    programme: Programme,
    dimensions: list[str],
    currency: str,
    data: st.DataObject,
) -> None:
    await store(db, programme)
    full = await summary(client, groupBy=dimensions, currency=currency)
    observed = [figures(g["measures"]) for g in full["groups"]]
    having: dict[str, dict[str, Any]] = {}
    for measure, op in data.draw(
        st.lists(
            st.tuples(st.sampled_from(list(ORDERABLE)), st.sampled_from(list(OPS))), max_size=2
        )
    ):
        seen = [o[measure] for o in observed]
        value = data.draw(
            (st.sampled_from(seen) if seen else st.nothing()) | cents(-(10**9), 10**9)
        )
        having.setdefault(measure, {})[op] = int(value) if measure == "count" else str(value)
    order = data.draw(
        st.lists(st.tuples(st.sampled_from(list(ORDERABLE)), st.booleans()), max_size=2)
    )
    first = data.draw(st.none() | st.integers(0, len(observed) + 1))
    cut = await summary(
        client,
        groupBy=dimensions,
        currency=currency,
        having=having,
        orderBy=[
            {"measure": ORDERABLE[name], "direction": "DESC" if desc else "ASC"}
            for name, desc in order
        ],
        first=first,
    )
    total = figures(cut["total"])
    shown = added(cut["groups"])
    others = figures(cut["others"])
    assert {n: shown[n] + others[n] for n in total} == total
    assert total == figures(full["total"])
    assert cut["groupCount"] == full["groupCount"] == len(full["groups"])
    # the groups shown are those that pass `having`, sorted (ties in key order), cut to first
    kept = [
        g
        for g in full["groups"]
        if all(
            OPS[op](figures(g["measures"])[name], Decimal(value))
            for name, ops in having.items()
            for op, value in ops.items()
        )
    ]
    for name, desc in reversed(order):
        kept.sort(key=lambda g: figures(g["measures"])[name], reverse=desc)
    assert cut["groups"] == (kept if first is None else kept[:first])


@PROPERTY
@given(programme=programmes(shares=True), dimensions=dimension_sets, currency=currencies)
async def test_beneficiary_split_adds_up_and_stays_within_a_cent_of_each_share(
    db: Database, client: GraphQLClient, programme: Programme, dimensions: list[str], currency: str
) -> None:
    stored = await store(db, programme)
    unsplit = figures((await summary(client, groupBy=[], currency=currency))["total"])
    assert unsplit == expected(stored, currency)
    split = await summary(client, groupBy=[*dimensions, "BENEFICIARY_GROUP"], currency=currency)
    assert added(split["groups"], MONEY) == {n: unsplit[n] for n in MONEY}
    by_initiative = await summary(
        client, groupBy=["INITIATIVE", "BENEFICIARY_GROUP"], currency=currency
    )
    parts: dict[str, dict[str | None, Figures]] = defaultdict(dict)
    for g in by_initiative["groups"]:
        group = g["key"]["beneficiaryGroup"]
        parts[g["key"]["initiative"]["code"]][group and group["code"]] = figures(g["measures"])
    for i, spec in enumerate(programme.initiatives):
        whole = expected(stored, currency, initiative=i)
        if not whole["count"]:
            assert f"I{i}" not in parts
            continue
        weights: dict[str | None, Decimal] = {f"g{g}": p / 100 for g, p in spec.shares}
        rest = 1 - sum(weights.values(), Decimal(0))
        if rest:
            weights[None] = rest
        assert set(parts[f"I{i}"]) == set(weights)
        for name in SPLIT:
            assert sum(part[name] for part in parts[f"I{i}"].values()) == whole[name]
            for group, weight in weights.items():
                assert abs(parts[f"I{i}"][group][name] - whole[name] * weight) < UNIT[currency]
