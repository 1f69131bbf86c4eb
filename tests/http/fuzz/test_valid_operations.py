"""Valid queries, mutations and subscriptions drawn from the schema: every answer safe."""

from __future__ import annotations

from hypothesis import given

from tests.http.fuzz.checks import Fuzzer, fuzz
from tests.http.fuzz.operations import VALID_QUERIES, VALID_SUBSCRIPTIONS, plausible_mutations
from tests.http.fuzz.values import JSON, SPEC


@fuzz(examples=80)
@given(query=VALID_QUERIES)
async def test_valid_queries(fuzzer: Fuzzer, query: str) -> None:
    """Every valid query, as each reader, by POST and GET, legacy and spec."""
    await fuzzer.post("anonymous", query, accept=None)
    await fuzzer.post("viewer", query)
    await fuzzer.get("partner", query)
    await fuzzer.post("admin", query, accept=f"{SPEC}, {JSON};q=0.9")


@fuzz(examples=100)
@given(mutation=plausible_mutations())
async def test_valid_mutations(fuzzer: Fuzzer, mutation: str) -> None:
    """Every valid mutation: written by an admin and an editor, refused to a viewer and
    to an anonymous caller, and over GET (405)."""
    before = await fuzzer.trail_length()
    await fuzzer.post("viewer", mutation)
    await fuzzer.post("anonymous", mutation, accept=None)
    assert await fuzzer.get("admin", mutation) == ["METHOD_NOT_ALLOWED"]
    assert await fuzzer.trail_length() == before, "a viewer, an anonymous caller or a GET wrote"
    await fuzzer.post("admin", mutation)
    await fuzzer.post("editor", mutation, accept=f"{SPEC}, {JSON};q=0.9")
    fuzzer.writes += await fuzzer.trail_length() - before


@fuzz(examples=40)
@given(subscription=VALID_SUBSCRIPTIONS)
async def test_valid_subscriptions(fuzzer: Fuzzer, subscription: str) -> None:
    """Subscriptions over HTTP are refused with their code, never run or crash."""
    await fuzzer.post("viewer", subscription)
    await fuzzer.get("anonymous", subscription, accept=None)
