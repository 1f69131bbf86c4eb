"""Delivery order: per endpoint, or per initiative (an endpoint's `ordering`).

Per endpoint, every event waits for the one before it: a failing event holds back the
endpoint until it is taken or dead-lettered. Per initiative, the endpoint's events run
in lanes, one per initiative, each in the trail's order: a failing event is held (with
the events of its lane that follow it) in `webhook_held` and retried there, while the
other lanes go on. Events tied to no initiative (a programme, an organisation, a key)
form a lane of their own, number 0: in order among themselves, held back by no
initiative, holding back none. Citations (but those of an initiative itself) and source
documents are in lane 0 too, so they may arrive before the record they cite while its
initiative is held back (a known limit, docs/webhooks.md).

A replayed delivery (`webhooks replay ID --delivery MSG`) is held too, in the lane of
replays: it is sent once more on its own, whatever the ordering, and holds back
nothing but later replays.
"""

from __future__ import annotations

from app.errors import DomainError, ErrorCode

ENDPOINT = "endpoint"
INITIATIVE = "initiative"
ORDERINGS = (ENDPOINT, INITIATIVE)

NO_INITIATIVE = 0
REPLAYS = -1


def checked(ordering: str) -> str:
    value = ordering.strip().lower()
    if value not in ORDERINGS:
        raise DomainError(
            f"ordering: {ordering[:40]!r} is not one of {', '.join(ORDERINGS)}",
            code=ErrorCode.INVALID_ARGUMENT,
            field="ordering",
        )
    return value


def lane_of(initiative_id: int | None) -> int:
    """The lane of an event of an endpoint ordered per initiative."""
    return initiative_id if initiative_id is not None else NO_INITIATIVE
