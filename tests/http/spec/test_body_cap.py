"""The body cap: a body over MAX_BODY_BYTES is refused 413 before it runs, however it
arrives, and one that trickles in is answered 408 at the read deadline."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from tests.conftest import Database
from tests.http.spec.common import (
    CREATE,
    NEW_SOURCE,
    PROGRAMS,
    SPEC,
    SPEC_ACCEPT,
    ClientWith,
    editor,
    source_documents,
)


async def test_a_body_over_the_cap_is_refused_413_before_it_runs(
    db: Database, client_with: ClientWith
) -> None:
    # given: a 4 KiB cap, and a body of 5 KiB (padding in a variable)
    client = client_with(max_body_bytes=4096)
    body = json.dumps(
        {"query": CREATE, "variables": {"input": NEW_SOURCE, "pad": "x" * 5000}}
    ).encode()
    # when
    response = await client.http.post(
        "/graphql", content=body, headers={"Content-Type": "application/json", **SPEC_ACCEPT}
    )
    small = await client.post(PROGRAMS)
    # then
    assert response.status_code == 413
    assert response.headers["content-type"].startswith(SPEC)
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TOO_LARGE", "limit": 4096}
    assert "MAX_BODY_BYTES" in error["message"]
    assert small.status_code == 200
    assert await source_documents(db) == 0


async def test_a_chunked_body_is_counted_as_it_arrives(
    db: Database, client_with: ClientWith
) -> None:
    # given: a body without Content-Length, sent in 1 KiB chunks, 100 KiB in all
    client = client_with(max_body_bytes=4096)
    sent = 0

    async def chunks() -> AsyncIterator[bytes]:
        nonlocal sent
        yield b'{"query": "{ programs { totalCount } }", "pad": "'
        for _ in range(100):
            sent += 1
            yield b"x" * 1024
        yield b'"}'

    # when
    response = await client.http.post(
        "/graphql", content=chunks(), headers={"Content-Type": "application/json"}
    )
    # then: refused once past the cap, without reading the rest
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    assert sent < 10


async def test_a_body_that_trickles_in_is_answered_408_at_the_read_deadline(
    db: Database, client_with: ClientWith
) -> None:
    # given: a deadline of 0.5 s, and an editor's write whose body stops coming halfway,
    # then trickles in a byte every 0.2 s
    client = await editor(db, client_with(request_read_timeout_seconds=0.5))
    headers = {"Content-Type": "application/json", **client.headers}
    body = json.dumps({"query": CREATE, "variables": {"input": NEW_SOURCE}}).encode()
    half = len(body) // 2
    trickled = 0

    async def trickle() -> AsyncIterator[bytes]:
        nonlocal trickled
        yield body[:half]
        for at in range(half, len(body)):
            await asyncio.sleep(0.2)
            trickled += 1
            yield body[at : at + 1]

    async def promptly() -> AsyncIterator[bytes]:
        for at in range(0, len(body), 64):
            yield body[at : at + 64]

    # when
    response = await client.http.post(
        "/graphql", content=trickle(), headers={**headers, **SPEC_ACCEPT}
    )
    # then: refused at the deadline, not once the whole body came; nothing written
    assert response.status_code == 408
    assert response.headers["connection"] == "close"
    [error] = response.json()["errors"]
    assert error["extensions"] == {"code": "REQUEST_TIMEOUT", "limit": 0.5}
    assert "REQUEST_READ_TIMEOUT_SECONDS" in error["message"]
    assert trickled < 10
    assert await source_documents(db) == 0
    # and the same body, in chunks that come promptly, is written
    written = await client.http.post("/graphql", content=promptly(), headers=headers)
    assert written.json()["data"]["createSourceDocument"]["errors"] == []
    assert await source_documents(db) == 1
