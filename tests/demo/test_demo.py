"""The demo pledge: every stated fact is there, with its source; nothing is invented."""

from __future__ import annotations

from graphql import get_named_type
from sqlalchemy import func, select

from app import models as m
from app.config import Settings
from app.demo.loader import load_demo, read_demo
from app.graphql.loaders import NODE_MODELS
from app.graphql.nodes import NODE_TYPES
from app.graphql.schema import build_schema
from tests.conftest import Database, GraphQLClient

PROGRAM = """
query {
  program {
    name
    sponsor { name headquarters }
    pledged { amount currency }
    pledgedIn(currency: "USD") {
      amount currency rate rateDate rateSource inverted original { amount currency }
    }
    allocated { amount currency }
    unallocated { amount currency }
    announcedOn
    deadline
    governance { body lead }
    initiatives(first: 20) {
      totalCount
      nodes { code position title focusArea region plannedEnd budget { amount currency } }
    }
  }
}
"""


async def _load(db: Database) -> None:
    async with db.sessions() as session, session.begin():
        result = await load_demo(session)
    assert result.loaded


async def _row_counts(db: Database) -> dict[str, int]:
    async with db.sessions() as session:
        return {
            table.name: await session.scalar(select(func.count()).select_from(table)) or 0
            for table in m.Program.metadata.sorted_tables
        }


async def test_loading_twice_changes_nothing(db: Database) -> None:
    # given
    await _load(db)
    before = await _row_counts(db)
    # when
    async with db.sessions() as session, session.begin():
        again = await load_demo(session)
    # then
    assert not again.loaded
    assert await _row_counts(db) == before
    assert before["initiatives"] == 10


async def test_the_pledge_reconciles_to_the_stated_figures(
    db: Database, client: GraphQLClient
) -> None:
    # given
    await _load(db)
    # when
    program = (await client.data(PROGRAM))["program"]
    # then: 100 bn CNY pledged, 20 bn to the fund, 80 bn left unallocated, not invented
    assert program["sponsor"]["name"] == "Alibaba Group"
    assert program["pledged"] == {"amount": "100000000000.00", "currency": "CNY"}
    assert program["allocated"] == {"amount": "20000000000.00", "currency": "CNY"}
    assert program["unallocated"] == {"amount": "80000000000.00", "currency": "CNY"}
    assert program["deadline"] == "2025-12-31"
    assert program["governance"]["lead"].startswith("Daniel Zhang")
    initiatives = program["initiatives"]
    assert initiatives["totalCount"] == 10
    assert [i["position"] for i in initiatives["nodes"]] == list(range(1, 11))
    budgets = {i["code"]: i["budget"]["amount"] for i in initiatives["nodes"]}
    assert budgets.pop("CP-10") == "20000000000.00"
    assert set(budgets.values()) == {"0.00"}
    assert initiatives["nodes"][9]["region"] == "CN-ZJ"


async def test_the_stated_usd_figure_is_a_rate_sourced_to_the_article(
    db: Database, client: GraphQLClient
) -> None:
    await _load(db)
    converted = (await client.data(PROGRAM))["program"]["pledgedIn"]
    assert converted["amount"] == "15500000000.00"
    assert converted["currency"] == "USD"
    assert converted["rate"] == "0.1550000000"
    assert converted["rateDate"] == "2021-09-03"
    assert "announcement article" in converted["rateSource"]
    assert converted["inverted"] is False
    rates = await client.data(
        "{ exchangeRates { nodes { base quote sourceDocument { language category } } } }"
    )
    assert rates["exchangeRates"]["nodes"] == [
        {
            "base": "CNY",
            "quote": "USD",
            "sourceDocument": {"language": "de", "category": "news-article"},
        }
    ]


async def test_more_than_ten_thousand_people_with_disabilities_is_a_reached_figure(
    db: Database, client: GraphQLClient
) -> None:
    await _load(db)
    data = await client.data(
        """
        { initiatives(filter: {beneficiaryGroup: {code: {eq: "people-with-disabilities"}}}) {
            nodes { code beneficiaries { nodes {
              group { code } unit target reached reachedQualifier
              sources { nodes { quote isEstimate } }
            } } } } }
        """
    )
    [initiative] = data["initiatives"]["nodes"]
    assert initiative["code"] == "CP-09"
    [figure] = initiative["beneficiaries"]["nodes"]
    assert figure["target"] is None
    assert figure["reached"] == "10000.0000"
    assert figure["reachedQualifier"] == "MORE_THAN"
    quotes = " ".join(s["quote"] for s in figure["sources"]["nodes"])
    assert "10.000" in quotes


async def test_every_figure_cites_source_words_and_estimates_are_flagged(db: Database) -> None:
    data = read_demo()
    await _load(db)
    async with db.sessions() as session:
        citations = (await session.scalars(select(m.Citation))).all()
        fund_line = await session.scalar(select(m.BudgetLine))
    assert citations, "the demo cites its source"
    assert all(c.quote.strip() for c in citations)
    assert any(c.is_estimate for c in citations)
    assert all(c.note for c in citations if c.is_estimate), "an estimate says how it was made"
    # the only budget line is the 20 bn fund, and its amount cites the article's words
    assert fund_line is not None
    assert sum(len(i.get("budget_lines", [])) for i in data["initiatives"]) == 1
    amount_quotes = [
        c.quote
        for c in citations
        if c.subject_type == m.SubjectType.BUDGET_LINE
        and c.subject_id == fund_line.id
        and c.field == "amount"
    ]
    assert any("20 Mrd. RMB" in q for q in amount_quotes)


async def test_every_citation_names_a_field_the_api_shows(db: Database) -> None:
    # given
    types = {NODE_MODELS[node].__tablename__: name for name, node in NODE_TYPES.items()}
    subject_table = {
        m.SubjectType.PROGRAM: "programs",
        m.SubjectType.INITIATIVE: "initiatives",
        m.SubjectType.ORGANIZATION: "organizations",
        m.SubjectType.BUDGET_LINE: "budget_lines",
        m.SubjectType.TRANSACTION: "transactions",
        m.SubjectType.MILESTONE: "milestones",
        m.SubjectType.BENEFICIARY_GROUP: "beneficiary_groups",
        m.SubjectType.BENEFICIARY_FIGURE: "beneficiary_figures",
        m.SubjectType.EXCHANGE_RATE: "exchange_rates",
    }
    await _load(db)
    async with db.sessions() as session:
        citations = (await session.scalars(select(m.Citation))).all()
    # then: a frontend can attach each piece of evidence to the figure on screen
    graphql = build_schema(Settings())._schema
    for citation in citations:
        if citation.field is None:
            continue
        gql_type = graphql.get_type(types[subject_table[citation.subject_type]])
        for part in citation.field.split("."):
            assert gql_type is not None and part in gql_type.fields, (  # type: ignore[attr-defined]
                citation.subject_type,
                citation.field,
            )
            gql_type = get_named_type(gql_type.fields[part].type)  # type: ignore[attr-defined]


async def test_a_converted_figure_shows_that_its_rate_is_an_estimate(
    db: Database, client: GraphQLClient
) -> None:
    # given: the demo's rate is computed from the article's rounded USD figure
    await _load(db)
    # when
    data = await client.data(
        """{ program { pledgedIn(currency: "USD") { rateIsEstimate
             exchangeRate { base quote sources { nodes { field isEstimate } } } }
             pledgedInOwn: pledgedIn(currency: "CNY") { rateIsEstimate exchangeRate { id } } } }"""
    )
    # then: the estimate flag travels with the converted figure, with its evidence
    converted = data["program"]["pledgedIn"]
    assert converted["rateIsEstimate"] is True
    assert converted["exchangeRate"]["base"] == "CNY"
    assert any(s["isEstimate"] for s in converted["exchangeRate"]["sources"]["nodes"])
    assert data["program"]["pledgedInOwn"] == {"rateIsEstimate": False, "exchangeRate": None}


async def test_every_citation_leads_back_to_its_record(db: Database, client: GraphQLClient) -> None:
    await _load(db)
    data = await client.data(
        """{ sourceDocuments { nodes { citations(first: 100) { totalCount nodes {
             subjectType field subject { __typename id } } } } } }"""
    )
    [document] = data["sourceDocuments"]["nodes"]
    citations = document["citations"]["nodes"]
    assert len(citations) == 100 < document["citations"]["totalCount"]
    for citation in citations:
        # then: BUDGET_LINE cites a BudgetLine, and so on
        expected = "".join(part.title() for part in citation["subjectType"].split("_"))
        assert citation["subject"]["__typename"] == expected, citation
