"""The schema's stages of extension hooks (app/graphql/schema.py `_KnownHooks`) run the
hooks as strawberry's own stages do — in order, out in reverse, every failure seen by
the hooks left and raised, chained or suppressed alike — with less around them (issue
15). Strawberry's stage is the oracle: each scenario runs through both."""

from __future__ import annotations

import inspect
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import ExecutingContextManager, OperationContextManager

from app.graphql import schema
from app.graphql.schema import _Operation, _UnwindingExecution


class Boom(Exception):
    pass


def _extensions(log: list[str], plan: dict[str, str]) -> list[SchemaExtension]:
    """Six extensions, one of each kind of hook and a generator hook first and last,
    each doing what `plan` says at its stage: "fail enter", "fail exit", "swallow"
    (catch what it is thrown), "yield twice"."""

    class First(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield from _generator(log, "first", plan.get("first"))

        def on_execute(self) -> Iterator[None]:
            yield from _generator(log, "first", plan.get("first"))

    class SyncGenerator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield from _generator(log, "sync", plan.get("sync"))

        def on_execute(self) -> Iterator[None]:
            yield from _generator(log, "sync", plan.get("sync"))

    class AsyncGenerator(SchemaExtension):
        on_operation = _async_hook(log, "async", plan.get("async"))
        on_execute = _async_hook(log, "async", plan.get("async"))

    class Coroutine(SchemaExtension):
        async def on_operation(self) -> None:
            log.append("coroutine")
            if plan.get("coroutine") == "fail enter":
                raise Boom("coroutine")

        async def on_execute(self) -> None:
            log.append("coroutine")
            if plan.get("coroutine") == "fail enter":
                raise Boom("coroutine")

    class Plain(SchemaExtension):
        def on_operation(self) -> None:
            log.append("plain")

        def on_execute(self) -> None:
            log.append("plain")

    class Last(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            yield from _generator(log, "last", plan.get("last"))

        def on_execute(self) -> Iterator[None]:
            yield from _generator(log, "last", plan.get("last"))

    return [First(), SyncGenerator(), AsyncGenerator(), Coroutine(), Plain(), Last()]


def _generator(log: list[str], name: str, what: str | None) -> Iterator[None]:
    log.append(f"{name} in")
    if what == "fail enter":
        raise Boom(f"{name} enter")
    try:
        yield
        if what == "yield twice":
            yield
    except Exception as exc:
        log.append(f"{name} saw {exc!r}")
        if what != "swallow":
            raise
    log.append(f"{name} out")
    if what == "fail exit":
        raise Boom(f"{name} exit")


def _async_hook(log: list[str], name: str, what: str | None) -> Any:
    """An async generator hook doing what `_generator` does (an async generator cannot
    delegate to another: a failure thrown in must reach this one's own `yield`)."""

    async def hook(_extension: SchemaExtension) -> AsyncIterator[None]:
        log.append(f"{name} in")
        if what == "fail enter":
            raise Boom(f"{name} enter")
        try:
            yield
            if what == "yield twice":
                yield
        except Exception as exc:
            log.append(f"{name} saw {exc!r}")
            if what != "swallow":
                raise
        log.append(f"{name} out")
        if what == "fail exit":
            raise Boom(f"{name} exit")

    return hook


async def _run(stage: type[Any], extensions: list[SchemaExtension], body: str | None) -> Any:
    """What happens around a body that passes or raises: the log's outcome."""
    try:
        async with stage(extensions):
            if body is not None:
                raise Boom(body)
    except BaseException as exc:
        chain = []
        seen: BaseException | None = exc
        while seen is not None:
            chain.append(repr(seen))
            seen = seen.__context__
        return ("raised", chain)
    return ("passed", None)


PLANS = [
    {},
    {"sync": "fail exit"},
    {"last": "fail exit"},
    {"async": "fail exit", "last": "fail exit"},
    {"sync": "swallow"},
    {"async": "swallow", "last": "fail exit"},
    {"last": "yield twice"},
    {"async": "yield twice"},
    {"async": "swallow"},
    {"sync": "swallow", "last": "fail exit"},
    {"sync": "fail enter"},
    {"coroutine": "fail enter"},
    {"last": "fail enter"},
    {"async": "fail enter"},
    # A hook's exit fails, one further out swallows that, the next one out yields
    # again (contextlib raises and closes it), and the outermost swallows that.
    {"first": "swallow", "sync": "yield twice", "async": "swallow", "last": "fail exit"},
    {"first": "swallow", "sync": "swallow", "async": "yield twice", "last": "fail exit"},
]


@pytest.mark.parametrize("plan", PLANS, ids=[repr(p) for p in PLANS])
@pytest.mark.parametrize("body", [None, "body"])
@pytest.mark.parametrize(
    ("ours", "theirs"),
    [(_Operation, OperationContextManager), (_UnwindingExecution, None)],
    ids=["operation", "execution"],
)
async def test_a_stage_runs_its_hooks_as_strawberrys_does(
    plan: dict[str, str], body: str | None, ours: type[Any], theirs: type[Any] | None
) -> None:
    # given: the same extensions for both stages
    our_log: list[str] = []
    their_log: list[str] = []
    # when
    our_outcome = await _run(ours, _extensions(our_log, plan), body)
    if theirs is None:
        # The execution stage differs from strawberry's on purpose when a hook fails to
        # enter (those entered are exited: `_UnwindingExecution`); otherwise alike.
        theirs = _StrawberryUnwinding if "fail enter" in plan.values() else ExecutingContextManager
    their_outcome = await _run(theirs, _extensions(their_log, plan), body)
    # then
    assert our_log == their_log
    assert our_outcome == their_outcome


@pytest.mark.parametrize("plan", PLANS, ids=[repr(p) for p in PLANS])
@pytest.mark.parametrize("body", [None, "body"])
@pytest.mark.parametrize("ours", [_Operation, _UnwindingExecution], ids=["operation", "execution"])
async def test_a_stage_exits_each_hook_once(
    plan: dict[str, str], body: str | None, ours: type[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    # given: contextlib's exits of the hooks' generators, counted per generator
    exits: Counter[Any] = Counter()

    def counted(exit: Any) -> Any:
        if inspect.iscoroutinefunction(exit):

            async def async_exit(hook: Any, *details: Any) -> Any:
                exits[hook.gen] += 1
                return await exit(hook, *details)

            return async_exit

        def sync_exit(hook: Any, *details: Any) -> Any:
            exits[hook.gen] += 1
            return exit(hook, *details)

        return sync_exit

    monkeypatch.setattr(schema, "_SYNC_EXIT", counted(schema._SYNC_EXIT))
    monkeypatch.setattr(schema, "_ASYNC_EXIT", counted(schema._ASYNC_EXIT))
    # when
    await _run(ours, _extensions([], plan), body)
    # then: no hook is exited twice, one suppressing a failure included (a second
    # exit of a finished generator does nothing, but would resume one that is not)
    assert all(count == 1 for count in exits.values())
    # (the operation stage, as strawberry's, leaves the hooks entered as they are when
    # one fails to enter)
    assert exits or (ours is _Operation and "fail enter" in plan.values())


class _StrawberryUnwinding(ExecutingContextManager):
    """Strawberry's execution stage, with the hooks entered exited when one fails to
    enter: what `_UnwindingExecution` did on strawberry's exit stack."""

    async def __aenter__(self) -> None:
        try:
            await super().__aenter__()
        except BaseException as exc:
            await self.async_exit_stack.__aexit__(type(exc), exc, exc.__traceback__)
            raise
