"""Delivery order: per endpoint, or per initiative (an endpoint's `ordering`).

Per endpoint, every event waits for the one before it: a failing event holds back the
endpoint until it is taken or dead-lettered. Per initiative, the endpoint's events run
in lanes, one per initiative, each in the trail's order: a failing event is held (with
the events of its lane that follow it) in `webhook_held` and retried there, while the
other lanes go on. Events tied to no initiative (a programme, an organisation, a key)
form a lane of their own, number 0: in order among themselves, held back by no
initiative, holding back none.

A citation goes in the lane of the record it cites: that record's initiative as the
trail had it just before the citation (a citation of a transaction, a budget line, a
milestone or a beneficiary figure goes in its initiative's lane; of an initiative, in
that initiative's), or lane 0 for a record of no initiative. So a citation never
arrives before the record it cites. Source documents stay in lane 0 (one may be quoted
for records of many initiatives): a document is written before any citation of it, so
it comes first in the trail, and while lane 0 goes on it is sent first. While lane 0
is held back, a citation whose own lane goes on waits in lane 0 instead, behind the
document it may quote. Only when both its record's lane and lane 0 are held back can a
citation arrive before its document (it waits behind its record).

A replayed delivery (`webhooks replay ID --delivery MSG`) is held too, in the lane of
replays: it is sent once more on its own, whatever the ordering, and holds back
nothing but later replays.
"""

from __future__ import annotations

from collections.abc import Collection

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


def lane_of(
    initiative_id: int | None, *, citation: bool = False, blocked: Collection[int] = ()
) -> int:
    """The lane of an event of an endpoint ordered per initiative: its initiative's (a
    citation's: its record's initiative), else lane 0. `blocked`: the lanes held back
    now; a citation whose own lane is not waits in lane 0 when that one is."""
    lane = initiative_id if initiative_id is not None else NO_INITIATIVE
    if citation and lane not in blocked and NO_INITIATIVE in blocked:
        return NO_INITIATIVE
    return lane
