"""Who may call: API keys, JWT bearer tokens, anonymous reads, and the read/export gates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr, ValidationError
from sqlalchemy import delete, func, insert, select

from app import models as m
from app.auth.authenticate import Authenticator
from app.auth.keys import authenticate_key, create_key, hash_secret, list_keys, revoke_key
from app.auth.roles import Role
from app.config import Settings
from app.db.session import StatementCounter
from app.db.shared import ReadAloneWrite, read_alone
from app.errors import DomainError, ErrorCode
from app.models.access import ApiKey, ApiKeyInitiative
from tests import factories as f
from tests.auth.tokens import AUDIENCE, ISSUER, JWT_SETTINGS, token
from tests.conftest import Database, GraphQLClient, autocommit_connections, read_row_counts
from tests.graphql.compiled.test_statements import DriverLog

PROGRAMS = "{ programs(first: 5) { edges { node { ref } } } }"
INITIATIVES = "{ initiatives(first: 10) { edges { node { code } } } }"
NOT_A_FIELD = "{ secretThings { id } }"


ClientWith = Callable[..., GraphQLClient]


def hmac_signed(valid: str, secret: bytes) -> str:
    """The token re-signed as HS256 with `secret`: the classic public-key-as-HMAC forgery
    (pyjwt itself refuses to sign so, hence by hand)."""
    _header, payload, _signature = valid.split(".")
    header = base64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{payload}".encode()
    signature = base64url(hmac.new(secret, signing_input, hashlib.sha256).digest())
    return f"{header}.{payload}.{signature}"


def base64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


async def one_program(db: Database, ref: str = "pledge-1") -> None:
    async with db.sessions() as session, session.begin():
        await f.program(session, ref=ref)


async def key_for(db: Database, role: str, **kw: Any) -> str:
    async with db.sessions() as session, session.begin():
        return await f.api_key(session, role, **kw)


def assert_refused(response: Any, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    (error,) = response.json()["errors"]
    assert error["extensions"]["code"] == code
    if status == 401:
        assert response.headers["WWW-Authenticate"].startswith("Bearer")


# --- API keys -------------------------------------------------------------------


async def test_a_created_key_is_stored_hashed_and_authenticates(db: Database) -> None:
    # given
    async with db.sessions() as session:
        key, secret = await create_key(
            session, name="reporting", role=Role.VIEWER, created_by="ops"
        )
        await session.commit()
    # when
    async with db.sessions() as session:
        principal = await authenticate_key(session, secret)
        stored = await session.get(ApiKey, key.id)
    # then
    assert principal is not None
    assert (principal.name, principal.role, principal.via) == ("reporting", Role.VIEWER, "api-key")
    assert principal.initiative_ids is None
    assert stored is not None and stored.secret_hash == hash_secret(secret)
    assert secret not in (stored.prefix, stored.secret_hash) and secret.startswith(stored.prefix)


async def test_a_partner_key_carries_its_initiatives_and_revoked_keys_fail(db: Database) -> None:
    # given
    async with db.sessions() as session:
        program = await f.program(session)
        one = await f.initiative(session, program, code="IN-A")
        await f.initiative(session, program, code="IN-B")
        secret = await f.api_key(session, "partner", initiatives=["IN-A"], name="partner-a")
        await session.commit()
    # when
    async with db.sessions() as session:
        before = await authenticate_key(session, secret)
        await revoke_key(session, "partner-a")
        await revoke_key(session, "partner-a")  # again: nothing changes
        await session.commit()
    async with db.sessions() as session:
        after = await authenticate_key(session, secret)
        listed = await list_keys(session)
    # then
    assert before is not None and before.initiative_ids == frozenset({one.id})
    assert after is None
    assert [(k.name, k.initiatives, k.revoked_at is not None) for k in listed] == [
        ("partner-a", ("IN-A",), True)
    ]


async def test_a_partner_is_recognised_with_all_its_initiatives_or_sees_none(
    db: Database,
) -> None:
    """The key and its initiatives come in one statement (a row per initiative): every
    one of them is the partner's, and a partner whose initiatives are all gone is still
    a partner, of no initiative, never a caller of all of them."""
    # given
    async with db.sessions() as session:
        program = await f.program(session)
        one = await f.initiative(session, program, code="IN-A")
        two = await f.initiative(session, program, code="IN-B")
        await f.initiative(session, program, code="IN-C")
        secret = await f.api_key(session, "partner", initiatives=["IN-A", "IN-B"])
        await session.commit()
    # when
    with StatementCounter(db.engine) as counter:
        async with db.sessions() as session:
            both = await authenticate_key(session, secret)
    async with db.sessions() as session, session.begin():
        await session.execute(delete(ApiKeyInitiative))
    async with db.sessions() as session:
        none = await authenticate_key(session, secret)
    # then
    assert both is not None and both.initiative_ids == frozenset({one.id, two.id})
    assert counter.count == 1
    assert none is not None and none.initiative_ids == frozenset()


@pytest.mark.parametrize(
    ("name", "role", "codes", "code"),
    [
        ("taken", "viewer", [], ErrorCode.ALREADY_EXISTS),
        ("", "viewer", [], ErrorCode.VALIDATION),
        ("x" * 101, "viewer", [], ErrorCode.VALIDATION),
        ("jwt:alice", "viewer", [], ErrorCode.VALIDATION),
        ("new", "boss", [], ErrorCode.VALIDATION),
        ("new", "partner", [], ErrorCode.VALIDATION),
        ("new", "viewer", ["IN-A"], ErrorCode.VALIDATION),
        ("new", "partner", ["IN-A", "NOPE"], ErrorCode.NOT_FOUND),
    ],
)
async def test_key_creation_refuses_what_would_be_wrong(
    db: Database, name: str, role: str, codes: list[str], code: ErrorCode
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        await f.initiative(session, await f.program(session), code="IN-A")
        await f.api_key(session, "viewer", name="taken")
    # when
    async with db.sessions() as session:
        with pytest.raises(DomainError) as refused:
            await create_key(
                session, name=name, role=role, initiative_codes=codes, created_by="ops"
            )
    # then
    assert refused.value.code is code
    if code is ErrorCode.NOT_FOUND:
        assert "NOPE" in refused.value.message and "IN-A" not in refused.value.message


# --- requests -------------------------------------------------------------------


async def test_a_viewer_key_reads_where_anonymous_callers_may_not(
    db: Database, client_with: ClientWith
) -> None:
    # given
    await one_program(db)
    secret = await key_for(db, "viewer")
    client = client_with(anonymous_read=False)
    # when
    data = await client.with_key(secret).data(PROGRAMS)
    refused = await client.error(PROGRAMS)
    bad_query = await client.error(NOT_A_FIELD)
    # then
    assert data["programs"]["edges"] == [{"node": {"ref": "pledge-1"}}]
    assert refused["extensions"]["code"] == "UNAUTHENTICATED"
    # a caller who may not read learns nothing about the schema either
    assert bad_query["extensions"]["code"] == "UNAUTHENTICATED"


async def test_a_caller_who_may_do_nothing_learns_nothing_from_mutations_either(
    db: Database, client_with: ClientWith
) -> None:
    # given: no credentials, no anonymous reading
    client = client_with(anonymous_read=False)
    # when: a misspelt mutation, which validation would answer with suggestions
    body = await client.execute("mutation { createTransactio { errors { code } } }")
    # then
    assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]
    assert "Did you mean" not in str(body)


async def test_anonymous_callers_read_when_the_setting_allows(
    db: Database, client: GraphQLClient
) -> None:
    # given: the tests' settings have ANONYMOUS_READ on
    await one_program(db)
    # when
    data = await client.data(PROGRAMS)
    # then
    assert data["programs"]["edges"] == [{"node": {"ref": "pledge-1"}}]


async def test_a_bad_credential_is_refused_and_never_read_as_anonymous(
    db: Database, client: GraphQLClient
) -> None:
    # given: anonymous reads are on, and a key that was revoked
    secret = await key_for(db, "viewer", name="old")
    async with db.sessions() as session, session.begin():
        await revoke_key(session, "old")
    # when
    revoked = await client.with_key(secret).post(PROGRAMS)
    unknown = await client.with_key("pl_not-a-key").post(PROGRAMS)
    basic = await client.http.post(
        "/graphql", json={"query": PROGRAMS}, headers={"Authorization": "Basic dXNlcjpwdw=="}
    )
    huge = await client.with_key("x" * 5000).post(PROGRAMS)
    # then
    for response in (revoked, unknown, basic, huge):
        assert_refused(response, 401, "UNAUTHENTICATED")
    assert "revoked" in revoked.json()["errors"][0]["message"]


# --- JWT ------------------------------------------------------------------------


async def test_a_valid_token_reads_with_the_role_it_names(
    db: Database, client_with: ClientWith
) -> None:
    # given
    await one_program(db)
    client = client_with(**JWT_SETTINGS)
    # when
    data = await client.with_key(token()).data(PROGRAMS)
    # then
    assert data["programs"]["edges"] == [{"node": {"ref": "pledge-1"}}]


@pytest.mark.parametrize(
    "credential",
    [
        pytest.param(token(aud="someone-else"), id="audience"),
        pytest.param(token(iss="https://evil.example/"), id="issuer"),
        pytest.param(token(exp=datetime.now(UTC) - timedelta(minutes=5)), id="expired"),
        pytest.param(token(key="another-secret-that-is-long-enough!!"), id="signature"),
        pytest.param(token(sub=None), id="no-subject"),
        pytest.param(token(exp=None), id="no-expiry"),
        pytest.param(jwt.encode({"iss": ISSUER, "aud": AUDIENCE}, None, "none"), id="unsigned"),
    ],
)
async def test_tokens_that_prove_nothing_are_refused(
    db: Database, client_with: ClientWith, credential: str
) -> None:
    # given
    client = client_with(**JWT_SETTINGS)
    # when
    response = await client.with_key(credential).post(PROGRAMS)
    # then
    assert_refused(response, 401, "UNAUTHENTICATED")


async def test_a_token_naming_no_role_of_ours_is_forbidden(
    db: Database, client_with: ClientWith
) -> None:
    # given
    client = client_with(**JWT_SETTINGS)
    # when
    response = await client.with_key(token(role="superuser")).post(PROGRAMS)
    # then
    assert_refused(response, 403, "FORBIDDEN")
    assert "'role' claim" in response.json()["errors"][0]["message"]


async def test_tokens_are_refused_where_no_issuer_is_configured(
    db: Database, client: GraphQLClient
) -> None:
    # when
    response = await client.with_key(token()).post(PROGRAMS)
    # then
    assert_refused(response, 401, "UNAUTHENTICATED")
    assert "not accepted" in response.json()["errors"][0]["message"]


async def test_a_partner_token_sees_only_the_initiatives_it_lists(
    db: Database, client_with: ClientWith
) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        for code in ("IN-A", "IN-B", "IN-C"):
            await f.initiative(session, program, code=code)
    client = client_with(**JWT_SETTINGS, jwt_role_claim="realm.roles")
    credential = token(
        role=None, realm={"roles": ["offline", "partner"]}, initiatives=["IN-A", "IN-C"]
    )
    # when
    data = await client.with_key(credential).data(INITIATIVES)
    # then
    assert [e["node"]["code"] for e in data["initiatives"]["edges"]] == ["IN-A", "IN-C"]


async def test_public_key_tokens_verify_against_the_pem_key(
    db: Database, client_with: ClientWith
) -> None:
    # given
    await one_program(db)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    client = client_with(
        **{**JWT_SETTINGS, "jwt_key": SecretStr(pem.decode()), "jwt_algorithms": ["RS256"]}
    )
    # when
    data = await client.with_key(token(key=private, algorithm="RS256")).data(PROGRAMS)
    forged = await client.with_key(hmac_signed(token(), pem)).post(PROGRAMS)
    # then
    assert data["programs"]["edges"] == [{"node": {"ref": "pledge-1"}}]
    assert_refused(forged, 401, "UNAUTHENTICATED")


def _pem_of_ec_key() -> str:
    public = ec.generate_private_key(ec.SECP256R1()).public_key()
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@pytest.mark.parametrize(
    ("settings_", "message"),
    [
        ({"jwt_algorithms": ["none"]}, "'none'"),
        ({"jwt_algorithms": ["HS256", "RS256"]}, "must not mix"),
        ({**JWT_SETTINGS, "jwt_key": "too-short"}, "at least 32 bytes"),
        ({"jwt_issuer": ISSUER}, "JWT_AUDIENCE, JWT_KEY"),
        ({**JWT_SETTINGS, "jwt_algorithms": ["RS256"]}, "PEM public key"),
        ({**JWT_SETTINGS, "jwt_algorithms": ["RS256"], "jwt_key": _pem_of_ec_key()}, "RS256"),
    ],
)
def test_settings_refuse_unsafe_jwt_configurations(settings_: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Settings(**settings_)


# --- CSV downloads ----------------------------------------------------------------


async def test_csv_downloads_need_the_export_permission(
    db: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    # given production's setting: no anonymous reading (with it, anonymous callers may
    # download too: tests/http/test_download_links.py)
    await one_program(db)
    viewer = await key_for(db, "viewer")
    auditor = await key_for(db, "auditor")
    url = "/reports/budget-summary.csv"
    client = client_with(anonymous_read=False)

    async def download(secret: str | None) -> Any:
        headers = {"Authorization": f"Bearer {secret}"} if secret else {}
        return await client.http.get(url, params={"groupBy": ""}, headers=headers)

    # when
    as_anonymous, as_viewer, as_auditor = [await download(s) for s in (None, viewer, auditor)]
    # then
    assert_refused(as_anonymous, 401, "UNAUTHENTICATED")
    assert_refused(as_viewer, 403, "FORBIDDEN")
    assert as_auditor.status_code == 200, as_auditor.text
    assert as_auditor.headers["content-type"].startswith("text/csv")


@pytest.mark.postgres_only  # SQLite's reads begin nothing on the server
async def test_a_key_is_recognised_in_one_round_trip_and_refused_once_revoked(
    db: Database, client_with: ClientWith, settings: Settings
) -> None:
    """Who an API key is, read on every request of a keyed caller: one statement, no
    BEGIN or ROLLBACK around it (a statement reads one committed state by itself),
    still the latest state (a revoked key is refused on the next request), and the
    connection goes back to the pool as it came (its next user's reads in a
    transaction)."""
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        initiative = await f.initiative(session, program, code="IN-A")
        secret = await f.api_key(session, "viewer", name="reporting")
        partner = await f.api_key(session, "partner", initiatives=["IN-A"], name="partner-a")
    client = client_with(anonymous_read=True, compiled_reads=False)
    await read_row_counts(client)
    await client.with_key(secret).data(PROGRAMS)
    # when: the same read, anonymous and keyed
    with DriverLog(db) as anonymous_sent, StatementCounter(db.engine) as anonymous:
        expected = await client.data(PROGRAMS)
    with DriverLog(db) as keyed_sent, StatementCounter(db.engine) as keyed:
        data = await client.with_key(secret).data(PROGRAMS)
    # then: the key costs one statement, and no transaction control
    assert data == expected and data["programs"]["edges"]
    assert keyed.count == anonymous.count + 1
    assert "api_keys" in " ".join(keyed.statements).lower()
    assert await keyed_sent.sent() == await anonymous_sent.sent()
    # when: a partner's key (its initiatives read with it), straight from the authenticator
    with DriverLog(db) as sent, StatementCounter(db.engine) as counted:
        principal = await Authenticator(settings).principal(f"Bearer {partner}", db.sessions)
    # then
    assert principal.initiative_ids == frozenset({initiative.id})
    assert counted.count == 1 and await sent.sent() == []
    # when: the key is revoked
    async with db.sessions() as session:
        await revoke_key(session, "reporting")
        await session.commit()
    # then: the next request is refused
    assert_refused(await client.with_key(secret).post(PROGRAMS), 401, "UNAUTHENTICATED")
    # and no connection went back to the pool outside transactions
    assert db.engine.pool.checkedin() > 0  # type: ignore[attr-defined]
    assert await autocommit_connections(db) == 0


@pytest.mark.postgres_only  # on SQLite `read_alone` leaves the session as it is
async def test_a_session_made_to_read_alone_refuses_to_write(db: Database) -> None:
    """A session reading outside a transaction would commit each statement by itself:
    a write through it is refused before it is sent, and nothing is written."""
    # given: a session made to read alone, and one that is not
    organizations = select(func.count()).select_from(m.Organization)
    async with db.sessions() as session:
        before = await session.scalar(organizations)
    async with db.sessions() as session:
        await read_alone(session)
        assert await session.scalar(organizations) == before  # it reads
        # when / then: a statement that writes, and a flush, are refused
        with pytest.raises(ReadAloneWrite):
            await session.execute(
                insert(m.Organization).values(ref="X-1", name="x", kind="foundation")
            )
        session.add(m.Organization(ref="X-2", name="y", kind=m.OrganizationKind.FOUNDATION))
        with pytest.raises(ReadAloneWrite):
            await session.flush()
    # and: nothing was written
    async with db.sessions() as session:
        assert await session.scalar(organizations) == before
