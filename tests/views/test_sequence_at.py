"""A moment's last trail entry (app/views/repository.py `sequence_at`), read by one
probe of the index on (occurred_at, sequence), is the greatest sequence at or before
the moment: what every view as of a moment starts from."""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise

from sqlalchemy import func, select

from app import models as m
from app.views.repository import sequence_at
from tests import factories as f
from tests.conftest import Database


async def test_a_moments_last_entry_is_the_greatest_sequence_then(db: Database) -> None:
    # given: three writes, each of a few entries
    for _ in range(3):
        async with db.sessions() as session, session.begin():
            initiative = await f.initiative(session, await f.program(session))
            await f.milestone(session, initiative)
    async with db.sessions() as session:
        entries = (await session.execute(select(m.Change.sequence, m.Change.occurred_at))).all()
    moments = sorted({at for _, at in entries})
    asked = [
        moments[0] - timedelta(seconds=1),
        *moments,
        *(at + (later - at) / 2 for at, later in pairwise(moments)),
        moments[-1] + timedelta(days=1),
    ]
    async with db.engine.connect() as conn:
        for moment in asked:
            # when
            found = await sequence_at(conn, moment)
            # then: the slow obvious version agrees
            oracle = await conn.scalar(
                select(func.max(m.Change.sequence)).where(m.Change.occurred_at <= moment)
            )
            assert found == (oracle or 0), moment
