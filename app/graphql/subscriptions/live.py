"""What every subscription shares: the hub, the credential re-check, the errors."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress

from app.auth.authenticate import AuthenticationFailed
from app.auth.principal import Principal
from app.errors import DomainError, ErrorCode
from app.events.hub import EventHub, Subscriber
from app.graphql.context import Context, Info
from app.graphql.subscriptions.sharing import resume_point

_log = logging.getLogger(__name__)


def hub_of(info: Info) -> EventHub:
    hub: EventHub | None = info.context.events
    if hub is None:
        raise DomainError("live updates are not running in this process", code=ErrorCode.BUSY)
    return hub


class _Unknown:
    """The database could not tell who a credential proves."""


UNKNOWN = _Unknown()


async def proved_again(context: Context) -> Principal | _Unknown | None:
    """Who the connection's credential proves now: None when it proves nothing any more
    (a revoked key, an expired token), UNKNOWN when the database is away (that proves
    nothing either way: ask again later)."""
    assert context.credential is not None and context.authenticator is not None
    try:
        return await context.authenticator.principal(context.credential, context.writes)
    except AuthenticationFailed:
        return None
    except Exception as exc:
        _log.warning("could not re-check a subscriber's credential (%s); later", exc)
        return UNKNOWN


def credential_ended() -> DomainError:
    """How a subscription ends once its credential no longer proves who it began as."""
    return DomainError(
        "the credential of this connection is no longer valid (revoked, "
        "expired or changed): reconnect with a valid one",
        code=ErrorCode.UNAUTHENTICATED,
    )


async def _recheck(info: Info, subscriber: Subscriber) -> None:
    """Every `subscription_recheck_seconds`, prove the connection's credential again;
    a revoked key or an expired token ends the subscription. (Parked, the subscription
    is re-checked by its connection: app/http/router.py `TransportHandler`.)"""
    context = info.context
    while True:
        await asyncio.sleep(context.settings.subscription_recheck_seconds)
        principal = await proved_again(context)
        if principal is UNKNOWN:
            continue
        if principal != context.principal:
            subscriber.end(credential_ended())
            return


@asynccontextmanager
async def subscribed(info: Info, subscriber: Subscriber) -> AsyncIterator[EventHub]:
    """Hold `subscriber`'s place in the hub, with its credential re-checked meanwhile."""
    hub = hub_of(info)
    context = info.context
    # A parked subscription run again takes over the place it held (sharing.py
    # `HeldPlace`): admitted once, it is never refused for the server's limit.
    resumed = resume_point()
    held = resumed is not None and resumed.place is not None and resumed.place.take(hub)
    if context.credential is None or context.authenticator is None:
        # Anonymous: nothing that could be revoked, so no watchdog task is kept.
        async with hub.subscription(subscriber, held=held):
            yield hub
        return
    async with hub.subscription(subscriber, held=held):
        subscriber.watched(context.principal)
        watchdog = asyncio.create_task(_recheck(info, subscriber))
        try:
            yield hub
        finally:
            watchdog.cancel()
            with suppress(asyncio.CancelledError):
                await watchdog
