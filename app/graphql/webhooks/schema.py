"""The webhook root fields: a query and mutations, for callers with manage_keys
(admins), the same operations as the CLI (app/webhooks/service.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any

import strawberry

from app.auth.roles import Permission
from app.errors import DomainError
from app.graphql.context import Info
from app.graphql.extensions.permissions import FieldPermission
from app.graphql.mutation import MutationError, requires
from app.graphql.webhooks.types import (
    WebhookEndpointInfo,
    WebhookEndpointPayload,
    WebhookOrdering,
)
from app.models import WebhookEndpoint
from app.webhooks import repository, service

# A session of the engine (typed loosely: SQL stays in app/webhooks/repository.py).
Session = Any

LISTED = 20
NEEDS = "Needs the manage_keys permission (admins)."


class NeedsManageKeys(FieldPermission):
    permission = Permission.MANAGE_KEYS
    message = "this needs the 'manage_keys' permission"


async def _infos(
    session: Session, info: Info, rows: list[WebhookEndpoint]
) -> list[WebhookEndpointInfo]:
    """The endpoints as admins see them: five statements, however many endpoints."""
    ids = [row.id for row in rows]
    names = await repository.key_names(session, [row.api_key_id for row in rows])
    letters = await repository.oldest_dead_letters(session, ids, LISTED)
    attempts = await repository.latest_attempts(session, ids, LISTED)
    held = await repository.held_counts(session, ids)
    hub = info.context.events
    high_water = hub.high_water if hub is not None else None
    return [
        WebhookEndpointInfo.of(
            row,
            names.get(row.api_key_id, "?"),
            high_water,
            letters[row.id],
            attempts[row.id],
            held[row.id],
        )
        for row in rows
    ]


async def _info(session: Session, info: Info, row: WebhookEndpoint) -> WebhookEndpointInfo:
    return (await _infos(session, info, [row]))[0]


@strawberry.type
class WebhookQueries:
    @strawberry.field(
        description="Every webhook endpoint (at most MAX_WEBHOOK_ENDPOINTS are registered), "
        "with its status, place, failures and latest attempts. " + NEEDS,
        permission_classes=[NeedsManageKeys],
    )
    async def webhook_endpoints(self, info: Info) -> list[WebhookEndpointInfo]:
        async with info.context.writes() as session:
            return await _infos(session, info, await repository.endpoints(session))


@strawberry.input(description="A webhook endpoint to register.")
class AddWebhookEndpointInput:
    url: str = strawberry.field(description="Where to POST (http or https, a public address).")
    key_name: str = strawberry.field(
        description="The API key whose view the events carry: its role's field rules and, "
        "for a partner, its initiatives only."
    )
    entity_types: list[str] = strawberry.field(
        default_factory=list, description="Only these kinds of record (ChangeEntityType names)."
    )
    operations: list[str] = strawberry.field(
        default_factory=list, description="Only these kinds of change (ChangeOperation names)."
    )
    initiative_codes: list[str] = strawberry.field(
        default_factory=list, description="Only these initiatives' changes (their codes)."
    )
    ordering: WebhookOrdering = strawberry.field(
        default=WebhookOrdering.ENDPOINT,
        description="In order per endpoint (a failing event holds back the rest) or per "
        "initiative (it holds back only its initiative's; events tied to no initiative "
        "are a lane of their own).",
    )


Work = Callable[[Session], Awaitable[tuple[WebhookEndpoint | None, str | None]]]


async def _run(info: Info, work: Work) -> WebhookEndpointPayload:
    """Run `work` in one transaction as a caller with manage_keys; a refusal is the
    payload's errors, with nothing written."""
    try:
        info.context.principal.require(Permission.MANAGE_KEYS)
        async with info.context.writes() as session, session.begin():
            row, secret = await work(session)
            shown = await _info(session, info, row) if row is not None else None
    except DomainError as exc:
        error = MutationError(field=exc.field, code=exc.code, message=exc.message)
        return WebhookEndpointPayload(endpoint=None, errors=[error])
    return WebhookEndpointPayload(endpoint=shown, secret=secret)


EndpointId = Annotated[int, strawberry.argument(description="The endpoint's id.")]


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Register an endpoint: it receives the changes committed from now on, "
        "as the key's `changes` subscription would. Returns its signing secret, once. " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def add_webhook_endpoint(
        self,
        info: Info,
        input: Annotated[
            AddWebhookEndpointInput, strawberry.argument(description="The endpoint to register.")
        ],
    ) -> WebhookEndpointPayload:
        settings = info.context.settings

        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            added = await service.add(
                session,
                settings,
                url=input.url,
                key_name=input.key_name,
                entity_types=input.entity_types,
                operations=input.operations,
                initiative_codes=input.initiative_codes,
                created_by=f"{info.context.principal.via}:{info.context.principal.name}",
                ordering=input.ordering.value,
            )
            return added.endpoint, added.secret

        return await _run(info, work)

    @strawberry.mutation(
        description="Stop delivering to an endpoint; its place is kept. " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def pause_webhook_endpoint(self, info: Info, id: EndpointId) -> WebhookEndpointPayload:
        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            return await service.pause(session, id), None

        return await _run(info, work)

    @strawberry.mutation(
        description="Deliver to an endpoint again, from where it stands (or, with "
        "`fromNow`, from the end of its key's change stream now). " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def resume_webhook_endpoint(
        self,
        info: Info,
        id: EndpointId,
        from_now: Annotated[
            bool,
            strawberry.argument(
                description="Skip what was pending or held and deliver what comes from "
                "now on (the way back once the key's initiatives changed, when no cursor "
                "of its new stream is at hand)."
            ),
        ] = False,
    ) -> WebhookEndpointPayload:
        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            return await service.resume(session, id, from_now=from_now), None

        return await _run(info, work)

    @strawberry.mutation(
        description="Send again, and resume: one dead-lettered delivery (`delivery`, alone, "
        "under the same webhook-id), everything after `after` (a cursor of the key's "
        "change stream), or, with neither, each open dead letter alone. " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def replay_webhook_endpoint(
        self,
        info: Info,
        id: EndpointId,
        after: Annotated[
            str | None,
            strawberry.argument(
                description="A cursor of the key's change stream (Y2hhbmdlOjA=: its start)."
            ),
        ] = None,
        delivery: Annotated[
            str | None,
            strawberry.argument(
                description="A dead letter's message id (its `webhook-id`): that delivery only."
            ),
        ] = None,
    ) -> WebhookEndpointPayload:
        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            return await service.replay(session, id, after, delivery), None

        return await _run(info, work)

    @strawberry.mutation(
        description="A new signing secret; the old one signs beside it for `overlapHours`. "
        "Two secrets at most: rotating again within an overlap drops the oldest at once; a "
        "secret that can no longer be opened is not kept. " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def rotate_webhook_secret(
        self,
        info: Info,
        id: EndpointId,
        overlap_hours: Annotated[
            float,
            strawberry.argument(
                description="How long the old secret also signs, in hours: 0 to 720 "
                "(else INVALID_ARGUMENT)."
            ),
        ] = 24.0,
    ) -> WebhookEndpointPayload:
        settings = info.context.settings

        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            secret = await service.rotate(session, settings, id, overlap_hours)
            return await service.get(session, id), secret

        return await _run(info, work)

    @strawberry.mutation(
        description="Remove an endpoint with its attempts and dead letters. " + NEEDS,
        metadata=requires(Permission.MANAGE_KEYS),
    )
    async def remove_webhook_endpoint(self, info: Info, id: EndpointId) -> WebhookEndpointPayload:
        async def work(session: Session) -> tuple[WebhookEndpoint | None, str | None]:
            await service.remove(session, id)
            return None, None

        return await _run(info, work)
