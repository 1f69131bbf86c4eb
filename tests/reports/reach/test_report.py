"""The reach report: beneficiaries reached against targets, per group, initiative and unit."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from app import models as m
from app.db.session import StatementCounter
from app.demo.loader import load_demo
from tests import factories as f
from tests.conftest import Database, GraphQLClient, read_row_counts

REPORT = """
query($filter: InitiativeFilter, $groupFilter: BeneficiaryGroupFilter, $first: Int) {
  reachReport(filter: $filter, groupFilter: $groupFilter) {
    rows(first: $first) {
      totalCount
      nodes {
        group { code } initiative { code } unit
        target targetDate reached reachedQualifier reachedAsOf shareReached
        figure { id sources { nodes { quote } } }
      }
    }
    totals {
      group { code } unit figureCount figuresWithTarget figuresWithReach
      target reached reachedQualifier shareReached shareQualifier
      reachedAsOfEarliest reachedAsOfLatest
    }
  }
}
"""

Q = m.FigureQualifier


async def _report(client: GraphQLClient, **variables: Any) -> Any:
    return (await client.data(REPORT, variables))["reachReport"]


def _totals(report: Any) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t["group"]["code"], t["unit"]): t for t in report["totals"]}


async def test_share_reached_is_exact_and_rounds_half_even(
    db: Database, client: GraphQLClient
) -> None:
    # given: one group, an initiative per (reached, target)
    cases = {
        "third": ("1", "3", "0.3333"),
        "two thirds": ("2", "3", "0.6667"),
        "half a unit, down to even": ("1", "20000", "0.0000"),
        "half a unit, up to even": ("3", "20000", "0.0002"),
        "beyond the target": ("150", "100", "1.5000"),
        "fractional": ("1234.5678", "9999.9999", "0.1235"),
        "target zero": ("5", "0", None),
        "no target": ("5", None, None),
        "no reach": (None, "10", None),
    }
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        group = await f.beneficiary_group(session, code="g")
        for code, (reached, target) in ((c, v[:2]) for c, v in cases.items()):
            initiative = await f.initiative(session, program, code=code)
            await f.beneficiary_figure(
                session,
                initiative,
                group,
                reached_value=Decimal(reached) if reached else None,
                target_value=Decimal(target) if target else None,
            )
    # when
    rows = (await _report(client))["rows"]["nodes"]
    # then
    shares = {row["initiative"]["code"]: row["shareReached"] for row in rows}
    assert shares == {code: share for code, (_, _, share) in cases.items()}


async def test_a_row_per_group_initiative_and_unit_with_its_evidence(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        a = await f.initiative(session, program, code="A", position=1)
        b = await f.initiative(session, program, code="B", position=2)
        youth = await f.beneficiary_group(session, code="youth", name="Youth")
        elders = await f.beneficiary_group(session, code="elders", name="elders")
        await f.beneficiary_figure(session, b, youth, unit="people", target_value=Decimal(10))
        await f.beneficiary_figure(session, a, youth, unit="people", target_value=Decimal(20))
        figure = await f.beneficiary_figure(
            session,
            a,
            elders,
            unit="people",
            target_value=Decimal(100),
            target_date=date(2025, 12, 31),
            reached_value=Decimal(40),
            reached_qualifier=Q.ABOUT,
            reached_as_of=date(2024, 1, 1),
        )
        document = m.SourceDocument(ref="doc", title="Annual report")
        session.add(document)
        await session.flush()
        session.add(
            m.Citation(
                source_document_id=document.id,
                subject_type=m.SubjectType.BENEFICIARY_FIGURE,
                subject_id=figure.id,
                field="reached",
                quote="about 40 elders",
            )
        )
    # when
    rows = (await _report(client))["rows"]["nodes"]
    # then: by group name (ignoring case), then initiative position
    assert [(r["group"]["code"], r["initiative"]["code"]) for r in rows] == [
        ("elders", "A"),
        ("youth", "A"),
        ("youth", "B"),
    ]
    assert rows[0] | {"figure": None} == {
        "group": {"code": "elders"},
        "initiative": {"code": "A"},
        "unit": "people",
        "target": "100.0000",
        "targetDate": "2025-12-31",
        "reached": "40.0000",
        "reachedQualifier": "ABOUT",
        "reachedAsOf": "2024-01-01",
        "shareReached": "0.4000",
        "figure": None,
    }
    assert rows[0]["figure"]["sources"]["nodes"] == [{"quote": "about 40 elders"}]


async def test_totals_are_the_sum_of_the_rows_and_never_mix_units(
    db: Database, client: GraphQLClient
) -> None:
    # given: two groups, two units, figures with fractions across five initiatives
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        groups = [await f.beneficiary_group(session, code=c) for c in ("g1", "g2")]
        for n in range(5):
            initiative = await f.initiative(session, program)
            for g, group in enumerate(groups):
                for unit in ("people", "households"):
                    await f.beneficiary_figure(
                        session,
                        initiative,
                        group,
                        unit=unit,
                        target_value=Decimal(f"{1000 + n * 7 + g}.1234") if n != 2 else None,
                        reached_value=Decimal(f"{300 + n * 11}.0007") if n != 4 else None,
                        reached_as_of=date(2024, 1 + n, 1),
                    )
    # when
    report = await _report(client)
    # then
    rows = report["rows"]["nodes"]
    assert report["rows"]["totalCount"] == len(rows) == 20
    sums: dict[tuple[str, str], dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for row in rows:
        key = (row["group"]["code"], row["unit"])
        for field in ("target", "reached"):
            if row[field] is not None:
                sums[key][field] += Decimal(row[field])
        if row["target"] is not None and row["reached"] is not None:
            sums[key]["reachedWithTarget"] += Decimal(row["reached"])
    totals = _totals(report)
    assert set(totals) == {(g, u) for g in ("g1", "g2") for u in ("households", "people")}
    for key, total in totals.items():
        assert Decimal(total["target"]) == sums[key]["target"]
        assert Decimal(total["reached"]) == sums[key]["reached"]
        share = sums[key]["reachedWithTarget"] / sums[key]["target"]
        assert Decimal(total["shareReached"]) == share.quantize(Decimal("0.0001"))
        assert (total["figureCount"], total["figuresWithTarget"]) == (5, 4)
        assert total["figuresWithReach"] == 4
        # one figure reports no reach: the sum is a lower bound
        assert total["reachedQualifier"] == "AT_LEAST"
        assert (total["reachedAsOfEarliest"], total["reachedAsOfLatest"]) == (
            "2024-01-01",
            "2024-04-01",
        )
    assert [(t["group"]["code"], t["unit"]) for t in report["totals"]] == [
        ("g1", "households"),
        ("g1", "people"),
        ("g2", "households"),
        ("g2", "people"),
    ]


async def test_a_total_is_exact_only_when_every_part_is(
    db: Database, client: GraphQLClient
) -> None:
    # given: per group, the qualifiers of its parts (None: no reach reported)
    cases: dict[str, tuple[tuple[Q | None, ...], str | None]] = {
        "exact": ((Q.EXACT, Q.EXACT), "EXACT"),
        "more": ((Q.EXACT, Q.MORE_THAN, Q.AT_LEAST), "MORE_THAN"),
        "least": ((Q.EXACT, Q.AT_LEAST), "AT_LEAST"),
        "missing": ((Q.EXACT, None), "AT_LEAST"),
        "about": ((Q.EXACT, Q.ABOUT, Q.MORE_THAN), "ABOUT"),
        "up to": ((Q.EXACT, Q.UP_TO), "UP_TO"),
        "both sides": ((Q.UP_TO, Q.AT_LEAST), "ABOUT"),
        "up to, missing": ((Q.UP_TO, None), "ABOUT"),
        "nothing": ((None, None), None),
    }
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiatives = [await f.initiative(session, program) for _ in range(3)]
        for code, (parts, _) in cases.items():
            group = await f.beneficiary_group(session, code=code)
            for initiative, qualifier in zip(initiatives, parts, strict=False):
                await f.beneficiary_figure(
                    session,
                    initiative,
                    group,
                    reached_value=Decimal(10) if qualifier else None,
                    reached_qualifier=qualifier or Q.EXACT,
                )
    # when
    totals = _totals(await _report(client))
    # then
    assert {g: totals[(g, "people")]["reachedQualifier"] for g in cases} == {
        g: expected for g, (_, expected) in cases.items()
    }
    assert totals[("nothing", "people")]["reached"] is None
    assert totals[("more", "people")]["reached"] == "30.0000"


async def test_the_share_is_qualified_by_the_figures_with_a_target(
    db: Database, client: GraphQLClient
) -> None:
    # given: a MORE_THAN reach without a target, an exact one with a target
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        group = await f.beneficiary_group(session, code="g")
        a, b = await f.initiative(session, program), await f.initiative(session, program)
        more = {"reached_value": Decimal(10000), "reached_qualifier": Q.MORE_THAN}
        await f.beneficiary_figure(session, a, group, **more)
        exact = {"reached_value": Decimal(25), "target_value": Decimal(100)}
        await f.beneficiary_figure(session, b, group, **exact)
    # when
    total = _totals(await _report(client))[("g", "people")]
    # then
    assert (total["reached"], total["reachedQualifier"]) == ("10025.0000", "MORE_THAN")
    assert (total["target"], total["shareReached"], total["shareQualifier"]) == (
        "100.0000",
        "0.2500",
        "EXACT",
    )


async def test_both_filters_limit_rows_and_totals(db: Database, client: GraphQLClient) -> None:
    # given: two initiatives serving two groups
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        groups = [await f.beneficiary_group(session, code=c, name=c) for c in ("farmers", "pupils")]
        for code in ("RURAL", "CITY"):
            initiative = await f.initiative(session, program, code=code)
            for group in groups:
                await f.beneficiary_figure(session, initiative, group, reached_value=Decimal(7))
    # when
    by_initiative = await _report(client, filter={"code": {"eq": "RURAL"}})
    by_group = await _report(client, groupFilter={"name": {"startsWith": "FARM"}})
    both = await _report(
        client,
        filter={"beneficiaryGroup": {"code": {"eq": "pupils"}}, "code": {"ne": "RURAL"}},
        groupFilter={"initiative": {"code": {"eq": "RURAL"}}},
    )
    # then
    assert {r["initiative"]["code"] for r in by_initiative["rows"]["nodes"]} == {"RURAL"}
    assert [t["reached"] for t in by_initiative["totals"]] == ["7.0000", "7.0000"]
    assert {r["group"]["code"] for r in by_group["rows"]["nodes"]} == {"farmers"}
    assert [(t["group"]["code"], t["reached"]) for t in by_group["totals"]] == [
        ("farmers", "14.0000")
    ]
    # relations in either filter: initiatives serving pupils except RURAL, groups RURAL serves
    assert [(r["group"]["code"], r["initiative"]["code"]) for r in both["rows"]["nodes"]] == [
        ("farmers", "CITY"),
        ("pupils", "CITY"),
    ]


async def test_bad_input_gets_a_typed_error(db: Database, client: GraphQLClient) -> None:
    # the test settings cap pages at 100
    too_many = await client.error(REPORT, {"first": 101})
    assert too_many["extensions"]["code"] == "PAGE_SIZE_EXCEEDED"
    negative = await client.error(REPORT, {"first": -1})
    assert negative["extensions"]["code"] == "INVALID_ARGUMENT"
    nested: dict[str, Any] = {"name": {"eq": "x"}}
    for _ in range(10):
        nested = {"not": nested}
    too_deep = await client.error(REPORT, {"groupFilter": nested})
    assert too_deep["extensions"]["code"] == "FILTER_TOO_COMPLEX"
    assert too_deep["extensions"]["field"].startswith("filter.not")


async def test_the_demo_shows_more_than_ten_thousand_people_with_disabilities(
    db: Database, client: GraphQLClient
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await load_demo(session)
    # when
    report = await _report(
        client, groupFilter={"code": {"eq": "people-with-disabilities"}}, first=100
    )
    # then: the article's "more than 10,000", with its words, and no target invented
    (row,) = report["rows"]["nodes"]
    assert (row["initiative"]["code"], row["unit"]) == ("CP-09", "people employed")
    assert (row["reached"], row["reachedQualifier"]) == ("10000.0000", "MORE_THAN")
    assert row["target"] is None and row["shareReached"] is None
    quotes = [source["quote"] for source in row["figure"]["sources"]["nodes"]]
    assert any("mehr als 10.000" in quote for quote in quotes)
    (total,) = report["totals"]
    assert (total["reached"], total["reachedQualifier"]) == ("10000.0000", "MORE_THAN")


async def _build(db: Database, initiatives: int, groups: int) -> None:
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        made = [await f.beneficiary_group(session) for _ in range(groups)]
        for _ in range(initiatives):
            initiative = await f.initiative(session, program)
            for group in made:
                await f.beneficiary_figure(session, initiative, group, reached_value=Decimal(1))


async def test_the_report_costs_the_same_statements_at_any_size(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _build(db, initiatives=2, groups=1)
    await read_row_counts(client)  # read once per app: not the request's own statement
    with StatementCounter(db.engine) as small:
        await _report(client)
    # when
    await _build(db, initiatives=6, groups=4)
    with StatementCounter(db.engine) as large:
        report = await _report(client)
    # then: rows, totals, and one batch for the figures' sources
    assert report["rows"]["totalCount"] == 2 * 1 + 6 * 4
    assert len(report["totals"]) == 1 + 4
    assert small.count == large.count == 3, large.statements


async def test_rows_page_with_a_total(db: Database, client: GraphQLClient) -> None:
    # given
    await _build(db, initiatives=3, groups=1)
    query = """query($first: Int, $after: String) { reachReport {
      rows(first: $first, after: $after) { totalCount pageInfo { hasNextPage endCursor }
        nodes { initiative { position } } } } }"""
    # when
    first = (await client.data(query, {"first": 2}))["reachReport"]["rows"]
    after = {"first": 2, "after": first["pageInfo"]["endCursor"]}
    rest = (await client.data(query, after))["reachReport"]["rows"]
    none = (await client.data(query, {"first": 0}))["reachReport"]["rows"]
    past = (await client.data(query, {"after": rest["pageInfo"]["endCursor"]}))["reachReport"]
    # then
    positions = [n["initiative"]["position"] for n in first["nodes"] + rest["nodes"]]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert (first["pageInfo"]["hasNextPage"], rest["pageInfo"]["hasNextPage"]) == (True, False)
    assert first["totalCount"] == rest["totalCount"] == none["totalCount"] == 3
    assert (past["rows"]["nodes"], past["rows"]["totalCount"]) == ([], 3)
