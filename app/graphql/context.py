"""Per-request context: a session factory (never a shared session), the caller,
settings, loaders."""

from __future__ import annotations

from dataclasses import dataclass, field

from strawberry.fastapi import BaseContext

from app.auth.principal import Principal
from app.config import Settings
from app.db.session import SessionFactory
from app.graphql.loaders import DataLoaders


@dataclass
class Context(BaseContext):
    session_factory: SessionFactory
    settings: Settings
    # Who is calling; set from the request's credentials (app/auth).
    principal: Principal
    loaders: DataLoaders = field(init=False)
    # The engine's own sessions: mutations write through these, even when reads are
    # answered from a view (as of a moment, or a partner's initiatives).
    write_sessions: SessionFactory = field(init=False)

    def __post_init__(self) -> None:
        super().__init__()
        self.loaders = DataLoaders(self.session_factory)
        self.write_sessions = self.session_factory
