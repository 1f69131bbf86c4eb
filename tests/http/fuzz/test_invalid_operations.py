"""Invalid operations, variables of every type and documents past every limit: refused
with a stable code, never a server error or a leak."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.http.fuzz.checks import Fuzzer, fuzz
from tests.http.fuzz.operations import (
    EXAMPLES,
    INVALID_MUTATIONS,
    INVALID_QUERIES,
    VALID_MUTATIONS,
    VALID_QUERIES,
    garbled,
    huge,
    with_variables,
)
from tests.http.fuzz.values import JSON, SPEC


@fuzz(examples=160)
@given(
    document=st.one_of(
        INVALID_QUERIES,
        INVALID_MUTATIONS,
        garbled(st.sampled_from(EXAMPLES)),
        garbled(st.sampled_from(EXAMPLES)),
        garbled(VALID_QUERIES),
        garbled(VALID_MUTATIONS),
    ),
)
async def test_invalid_operations(fuzzer: Fuzzer, document: str) -> None:
    """Schema violations and garbled documents: refused with a code, as a reader and as
    an admin, by POST and GET, on the test app and behind production's defaults."""
    await fuzzer.post("viewer", document)
    await fuzzer.post("admin", document, accept=None)
    if len(document) < 4000:
        await fuzzer.get("anonymous", document)
    content = json.dumps({"query": document}).encode()
    headers = {"Content-Type": JSON, "Accept": SPEC, **fuzzer.headers("viewer", None)}
    await fuzzer.raw("POST", content=content, headers=headers, production=True)


@fuzz(examples=100)
@given(operation=with_variables(st.one_of(VALID_QUERIES, VALID_MUTATIONS)))
async def test_variables_of_every_type(fuzzer: Fuzzer, operation: tuple[str, Any]) -> None:
    """Arguments given as variables, of the right type or not, declared or not."""
    document, variables = operation
    await fuzzer.post("admin", document, variables)
    await fuzzer.post("viewer", document, variables, accept=None)
    if len(document) < 4000 and not document.startswith("mutation"):
        await fuzzer.get("partner", document, variables)


@fuzz(examples=100)
@given(document=huge())
async def test_documents_past_every_limit(fuzzer: Fuzzer, document: str) -> None:
    """Nesting, repetition and size past the limits (and some just within them):
    refused with the limit's code, or answered; never a crash."""
    await fuzzer.post("viewer", document)
    await fuzzer.post("admin", document, accept=None)
