"""One answer per event for every subscriber who would get the same one.

The hub offers a live entry to every subscriber with one memo for that entry
(`EventQueue.shared`). A subscription's event executes its selection only if no
subscriber of the same *group* has done so for that entry: the group is the
document's text and operation, the variables, what the caller may see (role, how it
proved it, anonymous reading, its initiatives) and what of the event the answer shows
(its scope and ordinal, `ShareableEvent.share_part`). Whoever else is in the group
gets the same `ExecutionResult`, whose data is `SharedData`: encoded to JSON once
(app/http/router.py `encode_json`), so every subscriber of a group is sent the same
bytes but for its operation's id.

It fails closed: a document without its source, variables of a kind not listed in
`_frozen`, a refused operation, a caller without a principal, an answer with errors,
an event from the log (catching up): each executes its own, as before.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Hashable
from enum import Enum
from typing import Any, Protocol

from graphql import ExecutionResult

Memo = dict[Hashable, Any]


class ShareableEvent(Protocol):
    """A subscription's event that may share its answer: its entry's memo (None: do
    not share) and what of the event, beyond the caller, its answer depends on."""

    _shared: Memo | None

    def share_part(self) -> Hashable: ...


class SharedData(dict[str, Any]):
    """An event's `data`, shared by a group of subscribers: encoded once."""

    __slots__ = ("_encoded",)

    def encoded(self, encode: Callable[[object], str]) -> str:
        try:
            return self._encoded
        except AttributeError:
            self._encoded: str = encode(dict(self))
            return self._encoded


_SCALARS = (str, int, float, bool, type(None))


def _frozen(value: Any) -> Hashable:
    """A variable's value as a key; TypeError for a kind not listed (not shared)."""
    if isinstance(value, _SCALARS):
        # True == 1 and 1.0 == 1 as keys: keep the type beside the value.
        return (type(value).__name__, value)
    if isinstance(value, Enum):
        return ("enum", type(value).__qualname__, _frozen(value.value))
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("list", tuple(_frozen(v) for v in value))
    raise TypeError(f"not a key: {type(value).__name__}")


def group_of(operation: Any, variables: dict[str, Any] | None, context: Any) -> Hashable | None:
    """The group of a subscription (its operation, variables and caller), or None when
    it must not share with anyone."""
    location = getattr(operation, "loc", None)
    source = getattr(location, "source", None)
    principal = getattr(context, "principal", None)
    if (
        location is None
        or source is None
        or principal is None
        or getattr(context, "refusal", None) is not None
    ):
        return None
    try:
        frozen_variables = _frozen(dict(variables or {}))
    except TypeError:
        return None
    scope = principal.initiative_ids
    caller = (
        principal.role,
        principal.via,
        principal.anonymous_read,
        None if scope is None else tuple(sorted(scope)),
    )
    return (source.body, location.start, frozen_variables, caller)


def answer_once(memo: Memo, key: Hashable, execute: Callable[[], Any]) -> Any:
    """The group's answer to this event: executed by the first subscriber of `key`,
    the same object for the others. An answer with errors is not shared."""
    if key in memo:
        kept = memo[key]
        if not isinstance(kept, asyncio.Future):
            return kept
        return _awaited(memo, key, kept, execute)
    result = execute()
    if isinstance(result, ExecutionResult):
        return _kept(memo, key, result)
    pending: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
    memo[key] = pending
    return _executed(memo, key, pending, result)


def _kept(memo: Memo, key: Hashable, result: ExecutionResult) -> ExecutionResult:
    if result.errors or not isinstance(result.data, dict):
        memo.pop(key, None)
        return result
    shared = ExecutionResult(SharedData(result.data), None, result.extensions)
    memo[key] = shared
    return shared


async def _executed(memo: Memo, key: Hashable, pending: asyncio.Future[Any], result: Any) -> Any:
    try:
        answer = _kept(memo, key, await result)
    except BaseException:
        memo.pop(key, None)
        pending.set_result(None)
        raise
    pending.set_result(memo.get(key))
    return answer


async def _awaited(
    memo: Memo, key: Hashable, pending: asyncio.Future[Any], execute: Callable[[], Any]
) -> Any:
    shared = await asyncio.shield(pending)
    if shared is not None:
        return shared
    # The first one's answer had errors (or it failed): this one executes its own.
    result = execute()
    return await result if not isinstance(result, ExecutionResult) else result
