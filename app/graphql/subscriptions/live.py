"""What every subscription shares: the hub, the credential re-check, the errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from app.auth.authenticate import AuthenticationFailed
from app.errors import DomainError, ErrorCode
from app.events.hub import EventHub, Subscriber
from app.graphql.context import Info

_log = logging.getLogger(__name__)


def hub_of(info: Info) -> EventHub:
    hub: EventHub | None = info.context.events
    if hub is None:
        raise DomainError("live updates are not running in this process", code=ErrorCode.BUSY)
    return hub


async def _recheck(info: Info, subscriber: Subscriber) -> None:
    """Every `subscription_recheck_seconds`, prove the connection's credential again;
    a revoked key or an expired token ends the subscription."""
    context = info.context
    assert context.credential is not None and context.authenticator is not None
    while True:
        await asyncio.sleep(context.settings.subscription_recheck_seconds)
        try:
            principal = await context.authenticator.principal(context.credential, context.writes)
        except AuthenticationFailed:
            principal = None
        except Exception as exc:  # the database is away: that proves nothing either way
            _log.warning("could not re-check a subscriber's credential (%s); later", exc)
            continue
        if principal != context.principal:
            subscriber.end(
                DomainError(
                    "the credential of this connection is no longer valid (revoked, "
                    "expired or changed): reconnect with a valid one",
                    code=ErrorCode.UNAUTHENTICATED,
                )
            )
            return


@asynccontextmanager
async def subscribed(info: Info, subscriber: Subscriber) -> AsyncIterator[EventHub]:
    """Hold `subscriber`'s place in the hub, with its credential re-checked meanwhile."""
    hub = hub_of(info)
    context = info.context
    if context.credential is None or context.authenticator is None:
        # Anonymous: nothing that could be revoked, so no watchdog task is kept.
        async with hub.subscription(subscriber):
            yield hub
        return
    async with hub.subscription(subscriber):
        subscriber.watched()
        watchdog = asyncio.create_task(_recheck(info, subscriber))
        try:
            yield hub
        finally:
            watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await watchdog
