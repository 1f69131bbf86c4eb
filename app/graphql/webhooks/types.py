"""Webhook endpoints, their attempts and dead letters, as admins see them."""

from __future__ import annotations

from datetime import datetime

import strawberry

from app.described import DescribedStrEnum
from app.graphql.enums import described_enum
from app.graphql.mutation import MutationError
from app.models import WebhookAttempt, WebhookDeadLetter, WebhookEndpoint


class WebhookOrdering(DescribedStrEnum):
    ENDPOINT = "endpoint", "The trail's order; a failing event holds back the rest (the default)."
    INITIATIVE = (
        "initiative",
        "The trail's order within each initiative; a failing event holds back only its "
        "initiative's, and events tied to no initiative are a lane of their own.",
    )


described_enum(WebhookOrdering, description="The order an endpoint's events are delivered in.")


@strawberry.type(description="One request made to an endpoint.")
class WebhookAttemptInfo:
    message_id: str = strawberry.field(description="Its `webhook-id` header.")
    attempt: int = strawberry.field(description="1 for the event's first attempt, and so on.")
    at: datetime = strawberry.field(description="When the answer (or the failure) came.")
    status_code: int | None = strawberry.field(
        description="The HTTP status answered; null when none came (see `error`)."
    )
    error: str | None = strawberry.field(description="Why no answer came, if none did.")
    response_excerpt: str | None = strawberry.field(
        description="The answer's body, its first KB at most."
    )
    duration_ms: int = strawberry.field(description="How long the request took.")

    @classmethod
    def of(cls, row: WebhookAttempt) -> WebhookAttemptInfo:
        return cls(
            message_id=row.message_id,
            attempt=row.attempt,
            at=row.at,
            status_code=row.status_code,
            error=row.error,
            response_excerpt=row.response_excerpt,
            duration_ms=row.duration_ms,
        )


@strawberry.type(description="An event an endpoint did not take after the last attempt.")
class WebhookDeadLetterInfo:
    message_id: str = strawberry.field(description="The event's `webhook-id`.")
    attempts: int = strawberry.field(description="Attempts made before it was dead-lettered.")
    last_error: str | None = strawberry.field(description="What the last attempt got.")
    created_at: datetime = strawberry.field(description="When it was dead-lettered.")
    replayed_at: datetime | None = strawberry.field(
        description="When an admin replayed it; null: not yet."
    )
    cursor_before: str = strawberry.field(
        description="Replaying from this cursor sends the event again."
    )

    @classmethod
    def of(cls, row: WebhookDeadLetter) -> WebhookDeadLetterInfo:
        return cls(
            message_id=row.message_id,
            attempts=row.attempts,
            last_error=row.last_error,
            created_at=row.created_at,
            replayed_at=row.replayed_at,
            cursor_before=row.cursor_before,
        )


@strawberry.type(description="Where a key's changes are POSTed, and how that goes.")
class WebhookEndpointInfo:
    endpoint_id: int = strawberry.field(description="The id the CLI takes.")
    url: str = strawberry.field(description="Where the events are POSTed.")
    key_name: str = strawberry.field(description="The API key whose view the events carry.")
    status: str = strawberry.field(description="active or paused.")
    paused_reason: str | None = strawberry.field(description="Why it is paused, when it is.")
    ordering: WebhookOrdering = strawberry.field(
        description="In order per endpoint, or per initiative."
    )
    held_deliveries: int = strawberry.field(
        description="Deliveries waiting apart from the stream: behind a failing event of "
        "their initiative (ordering per initiative), or replayed."
    )
    cursor: str = strawberry.field(
        description="The cursor (of the key's change stream) of the last event delivered."
    )
    queue_depth: int | None = strawberry.field(
        description="Trail entries past the endpoint's place: at most this many events to "
        "deliver (fewer when its filter or its key's scope skips some); null where this "
        "process does not follow the trail."
    )
    attempts_at_next: int = strawberry.field(
        description="Failed attempts at the next event so far."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When the next event's next attempt may be made (after a failure)."
    )
    last_success_at: datetime | None = strawberry.field(description="The last accepted delivery.")
    last_failure_at: datetime | None = strawberry.field(description="The last failed attempt.")
    last_error: str | None = strawberry.field(description="What the last failed attempt got.")
    entity_types: list[str] = strawberry.field(
        description="Only these kinds of record (ChangeEntityType names); empty: any."
    )
    operations: list[str] = strawberry.field(
        description="Only these kinds of change (ChangeOperation names); empty: any."
    )
    initiative_ids: list[int] = strawberry.field(
        description="Only these initiatives' changes (database ids); empty: the key's."
    )
    dead_letters: list[WebhookDeadLetterInfo] = strawberry.field(
        description="The oldest dead letters, up to 20."
    )
    recent_attempts: list[WebhookAttemptInfo] = strawberry.field(
        description="The latest attempts, up to 20, latest first."
    )

    @classmethod
    def of(
        cls,
        row: WebhookEndpoint,
        key_name: str,
        high_water: int | None,
        letters: list[WebhookDeadLetter],
        attempts: list[WebhookAttempt],
        held: int,
    ) -> WebhookEndpointInfo:
        return cls(
            endpoint_id=row.id,
            url=row.url,
            key_name=key_name,
            status=row.status,
            paused_reason=row.paused_reason,
            ordering=WebhookOrdering(row.ordering),
            held_deliveries=held,
            cursor=row.cursor,
            queue_depth=max(0, high_water - row.position) if high_water is not None else None,
            attempts_at_next=row.attempts,
            next_attempt_at=row.next_attempt_at,
            last_success_at=row.last_success_at,
            last_failure_at=row.last_failure_at,
            last_error=row.last_error,
            entity_types=[v for v in row.entity_types.split(",") if v],
            operations=[v for v in row.operations.split(",") if v],
            initiative_ids=[int(v) for v in row.initiative_ids.split(",") if v],
            dead_letters=[WebhookDeadLetterInfo.of(d) for d in letters],
            recent_attempts=[WebhookAttemptInfo.of(a) for a in attempts],
        )


@strawberry.type(description="The result of a webhook endpoint mutation.")
class WebhookEndpointPayload:
    endpoint: WebhookEndpointInfo | None = strawberry.field(
        description="The endpoint as the mutation left it; null when refused or removed."
    )
    secret: str | None = strawberry.field(
        default=None,
        description="The new signing secret (`whsec_…`), shown this once: on adding an "
        "endpoint and on a rotation.",
    )
    errors: list[MutationError] = strawberry.field(
        default_factory=list, description="Empty when the mutation succeeded; nothing written."
    )
