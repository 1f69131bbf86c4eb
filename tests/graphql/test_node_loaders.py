"""Nodes looked up by class (`loaders.node(Program)`): the object type of the row, batched
through the model's loader, and the registry by name that `node(id:)` reads and by model
that a type naming another domain's lazily reads (`loaders.node_of(m.Program)`)."""

from __future__ import annotations

import asyncio

import pytest

import app.graphql.nodes as nodes
from app import models as m
from app.db.session import StatementCounter
from app.graphql.loaders import NODE_MODELS, NODE_TYPES_BY_MODEL, DataLoaders
from app.graphql.nodes import Initiative, Organization, Program
from tests import factories as f
from tests.conftest import Database


def test_every_node_type_is_known_by_name_and_by_class() -> None:
    for name, node_type in nodes.NODE_TYPES.items():
        assert node_type.__strawberry_definition__.name == name
        assert hasattr(NODE_MODELS[node_type], "__tablename__")
        assert callable(node_type.from_row)


def test_every_node_type_is_known_by_its_model_and_only_one_by_each() -> None:
    assert set(NODE_TYPES_BY_MODEL.values()) == set(nodes.NODE_TYPES.values())
    for model, node_type in NODE_TYPES_BY_MODEL.items():
        assert NODE_MODELS[node_type] is model


async def test_a_node_loads_as_its_object_type_in_one_statement_per_type(db: Database) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
        first = await f.initiative(session, program)
        second = await f.initiative(session, program)
    loaders = DataLoaders(db.sessions)
    # when
    with StatementCounter(db.engine) as counter:
        one, two, sponsor = await asyncio.gather(
            loaders.node(Initiative).load(first.id),
            loaders.node(Initiative).load(second.id),
            loaders.node(Organization).load_required(program.sponsor_id),
        )
    # then
    assert isinstance(one, Initiative) and one.code == first.code
    assert isinstance(two, Initiative) and two.db_id == second.id
    assert isinstance(sponsor, Organization) and sponsor.db_id == program.sponsor_id
    assert counter.count == 2
    assert loaders.node(Initiative) is loaders.node(Initiative)


async def test_a_missing_or_empty_reference_loads_as_none_and_a_required_one_fails(
    db: Database,
) -> None:
    # given
    loaders = DataLoaders(db.sessions)
    # when, then
    assert await loaders.node(Program).load(None) is None
    assert await loaders.node(Program).load(999_999) is None
    with pytest.raises(LookupError, match="Program 999999"):
        await loaders.node(Program).load_required(999_999)


async def test_a_node_looked_up_by_model_is_the_one_looked_up_by_class(db: Database) -> None:
    # given
    async with db.sessions() as session, session.begin():
        program = await f.program(session)
    loaders = DataLoaders(db.sessions)
    # when
    found = await loaders.node_of(m.Program).load_required(program.id)
    # then
    assert loaders.node_of(m.Program) is loaders.node(Program)
    assert loaders.node_named("Program") is loaders.node(Program)
    assert isinstance(found, Program) and found.db_id == program.id
