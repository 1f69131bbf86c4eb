"""The ledger's engines and sessions, built one way by every entry point (the app, the
command line, migrations, tests and benchmarks).

`app/db/` builds plain engines and knows no domain; what the domains need of every
engine and session is added here, so that none can be forgotten:
- on SQLite, the money conversion function its SQL calls (app/money/sql.py);
- on every session, the audit recorder: a write without an actor is refused, and every
  write appends to the trail in its transaction (app/audit/recorder.py).
Views' engines (app/views/views.py) are twins of these and get the same functions.
"""

from __future__ import annotations

from sqlalchemy import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from app.audit import recorder
from app.audit.records import Actor
from app.db.session import SessionFactory, create_engine, create_session_factory
from app.money.sql import SQLITE_FUNCTIONS


def ledger_engine(url: str | URL, *, echo: bool = False, pooled: bool = True) -> AsyncEngine:
    """An engine on the ledger's database at `url` (see app/db/session.create_engine)."""
    # Sessions are hooked on SQLAlchemy's Session class, once: any session on this engine,
    # made here or not, then records its writes.
    recorder.install()
    return create_engine(url, echo=echo, pooled=pooled, sqlite_functions=SQLITE_FUNCTIONS)


def ledger_sessions(engine: AsyncEngine, *, actor: Actor | None = None) -> SessionFactory:
    """Sessions on `engine`. Only sessions with an actor may write ledger data (the
    mutations name theirs per request): every write appends to the audit trail."""
    recorder.install()
    info = {recorder.ACTOR: actor, recorder.REASON: None} if actor is not None else {}
    return create_session_factory(engine, info=info)
