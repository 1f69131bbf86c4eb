"""Walks over a GraphQL document that visit each fragment once, on a stack of their own.

A document may spread one fragment many times: in `{ ...F0 } fragment F0 on Query {
...F1 ...F1 } fragment F1 on Query { ...F2 ...F2 } …` the last of n fragments is
spread 2^n times, in a few hundred bytes. A walk that follows every spread takes 2^n
steps on the event loop: at n=40 the whole process stopped answering, `/healthz`
included. The walks here keep what they learn about each fragment (each selection
set) and reuse it wherever it is spread again, so they take steps in proportion to
the document's size, however it spreads its fragments.

They are written as recursion, but each "call" is a `yield` of the walk to run, which
`run` keeps on a list of its own: a document nested thousands of levels deep (which
fits within MAX_TOKENS) cannot exhaust Python's stack, as strawberry's depth limiter
did (a RecursionError, answered INTERNAL).
"""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    InlineFragmentNode,
    Node,
    OperationDefinitionNode,
    SelectionNode,
    SelectionSetNode,
)

T = TypeVar("T")

# A walk: a generator that yields the walks it needs the results of (its "calls"),
# is sent each result back, and returns its own.
Walk = Generator["Walk[Any]", Any, T]

# Counts past this are not counted further: a limit is far below it, and a count of
# 2^n fields would otherwise be a number of n bits.
MANY = 10**15


def run(walk: Walk[T]) -> T:
    """The result of `walk`, with every walk it calls run on this function's own list
    rather than on Python's stack."""
    stack: list[Walk[Any]] = [walk]
    sent: Any = None
    error: BaseException | None = None
    while True:
        top = stack[-1]
        try:
            called = top.throw(error) if error is not None else top.send(sent)
        except StopIteration as done:
            stack.pop()
            if not stack:
                return done.value  # type: ignore[no-any-return]
            sent, error = done.value, None
        except BaseException as exc:
            stack.pop()
            if not stack:
                raise
            sent, error = None, exc
        else:
            stack.append(called)
            sent, error = None, None


def fragments_of(document: DocumentNode) -> dict[str, FragmentDefinitionNode]:
    return {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}


@dataclass(frozen=True)
class Shape:
    """A selection set with every fragment spread where it is used."""

    # Nesting: how many levels of fields with subfields it holds, as strawberry's
    # QueryDepthLimiter counted them (introspection fields count as leaves).
    depth: int = 0
    # Fields, each counted as often as the fragments around it are spread (up to MANY).
    fields: int = 0
    # Aliased fields, counted so too.
    aliases: int = 0


EMPTY = Shape()


class Shapes:
    """The shapes of one document's selection sets, each fragment walked once.

    A spread of an unknown fragment counts as nothing (graphql's KnownFragmentNames
    refuses it), and so does a fragment that spreads itself (NoFragmentCycles)."""

    def __init__(self, document: DocumentNode) -> None:
        self.fragments = fragments_of(document)
        # By the selection set's identity: the document outlives this object.
        self._known: dict[int, Shape] = {}
        self._open: set[int] = set()

    def of(self, selection_set: SelectionSetNode) -> Shape:
        return run(self._walk(selection_set))

    def inner(self, selection: SelectionNode) -> SelectionSetNode | None:
        """What a fragment (inline, or spread) selects; None for a field, and for a
        spread of an unknown fragment."""
        if isinstance(selection, InlineFragmentNode):
            return selection.selection_set
        if isinstance(selection, FragmentSpreadNode):
            fragment = self.fragments.get(selection.name.value)
            return fragment.selection_set if fragment is not None else None
        return None

    def _walk(self, selection_set: SelectionSetNode) -> Walk[Shape]:
        key = id(selection_set)
        known = self._known.get(key)
        if known is not None:
            return known
        if key in self._open:
            return EMPTY
        self._open.add(key)
        depth = fields = aliases = 0
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                inner: Shape = EMPTY
                if selection.selection_set is not None:
                    inner = yield self._walk(selection.selection_set)
                    if not selection.name.value.startswith("__"):
                        depth = max(depth, 1 + inner.depth)
                fields += 1 + inner.fields
                aliases += (selection.alias is not None) + inner.aliases
                continue
            target = self.inner(selection)
            if target is not None:
                inner = yield self._walk(target)
                depth = max(depth, inner.depth)
                fields += inner.fields
                aliases += inner.aliases
        shape = Shape(depth, min(fields, MANY), min(aliases, MANY))
        self._open.discard(key)
        self._known[key] = shape
        return shape

    def too_deep(self, selection_set: SelectionSetNode, limit: int) -> Node | None:
        """The first selection nested more than `limit` levels deep (where strawberry's
        depth limiter reported it), following a deepest path; None if there is none."""
        level = 0
        seen: set[tuple[int, int]] = set()
        while self.of(selection_set).depth + level > limit:
            if level > limit or (id(selection_set), level) in seen:
                return selection_set.selections[0]
            seen.add((id(selection_set), level))
            for selection in selection_set.selections:
                if isinstance(selection, FieldNode):
                    below = selection.selection_set
                    if below is None or selection.name.value.startswith("__"):
                        continue
                    if 1 + self.of(below).depth + level > limit:
                        selection_set, level = below, level + 1
                        break
                else:
                    target = self.inner(selection)
                    if target is not None and self.of(target).depth + level > limit:
                        selection_set = target
                        break
            else:
                return None
        return None


def spread_fragments(document: DocumentNode) -> set[str]:
    """The fragments the document's operations spread, directly or through others; each
    selection set is visited once."""
    fragments = fragments_of(document)
    spread: set[str] = set()
    stack: list[SelectionSetNode] = [
        d.selection_set for d in document.definitions if isinstance(d, OperationDefinitionNode)
    ]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                fragment = fragments.get(name)
                if fragment is not None and name not in spread:
                    spread.add(name)
                    stack.append(fragment.selection_set)
            elif isinstance(selection, FieldNode | InlineFragmentNode):
                below = selection.selection_set
                if below is not None:
                    stack.append(below)
    return spread


def root_fields(
    selection_set: SelectionSetNode,
    fragments: Mapping[str, FragmentDefinitionNode],
    included: Callable[[SelectionNode], bool] = lambda _: True,
) -> Iterator[FieldNode]:
    """The fields a selection set selects on its own type, through its fragments (each
    fragment once), in document order; `included` leaves selections out (@skip)."""
    seen: set[str] = set()
    stack: list[Iterator[SelectionNode]] = [iter(selection_set.selections)]
    while stack:
        selection = next(stack[-1], None)
        if selection is None:
            stack.pop()
            continue
        if not included(selection):
            continue
        if isinstance(selection, FieldNode):
            yield selection
        elif isinstance(selection, InlineFragmentNode):
            stack.append(iter(selection.selection_set.selections))
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            fragment = fragments.get(name)
            if fragment is not None and name not in seen:
                seen.add(name)
                stack.append(iter(fragment.selection_set.selections))


@dataclass(frozen=True)
class Repeat:
    """A response name selected more often than allowed in one merged selection set."""

    name: str
    # One of the fields selecting it.
    field: FieldNode


# The fields of one selection set by response name, through its fragments: each field
# with how often the fragments around it select it (fields by id, as the document keeps
# them).
_Gathered = dict[str, dict[int, tuple[FieldNode, int]]]


class Repeats:
    """How often a response name is selected in one merged selection set: the set's own
    fields and its fragments' (inline or spread) together, and below a field, the
    selections of every field with its response name together, as execution merges
    them (and as graphql's OverlappingFieldsCanBeMergedRule compares them, pair by pair:
    300 copies of one field took it seconds). Each selection set's fields are gathered
    once, however often its fragment is spread.

    A merged set is walked once, however many operations or fields lead to it: the walk
    takes a step per merged set, no more than the fields selected once fragments are
    spread (check that bound first: Shapes, MAX_FIELDS); past `budget` steps in all
    (several operations), it stops (`exhausted`)."""

    def __init__(
        self, fragments: Mapping[str, FragmentDefinitionNode], limit: int, budget: int
    ) -> None:
        self.fragments = fragments
        self.limit = limit
        self.budget = budget
        self.exhausted = False
        self._known: dict[int, _Gathered] = {}
        self._open: set[int] = set()
        # The merged sets walked so far (each within the limit), by their selection sets.
        self._walked: set[tuple[tuple[int, int], ...]] = set()

    def first_over(self, selection_set: SelectionSetNode) -> Repeat | None:
        """The first response name, in a walk of the merged sets from `selection_set`,
        selected more than `limit` times in its merged set; None if there is none (or if
        the budget ran out: see `exhausted`)."""
        merged: list[list[tuple[SelectionSetNode, int]]] = [[(selection_set, 1)]]
        while merged:
            sets = merged.pop()
            walked = tuple(sorted((id(node), times) for node, times in sets))
            if walked in self._walked:
                continue
            if len(self._walked) >= self.budget:
                self.exhausted = True
                return None
            self._walked.add(walked)
            fields: _Gathered = {}
            for node, times in sets:
                for name, found in self._gathered(node).items():
                    into = fields.setdefault(name, {})
                    for key, (field, count) in found.items():
                        before = into.get(key, (field, 0))[1]
                        into[key] = (field, min(before + count * times, MANY))
            for name, found in fields.items():
                total = sum(count for _, count in found.values())
                if total > self.limit:
                    field = next(iter(found.values()))[0]
                    return Repeat(name, field)
                below = [
                    (field.selection_set, count)
                    for field, count in found.values()
                    if field.selection_set is not None
                ]
                if below:
                    merged.append(below)
        return None

    def _gathered(self, selection_set: SelectionSetNode) -> _Gathered:
        return run(self._gather(selection_set))

    def _gather(self, selection_set: SelectionSetNode) -> Walk[_Gathered]:
        key = id(selection_set)
        known = self._known.get(key)
        if known is not None:
            return known
        if key in self._open:
            return {}  # a fragment spreading itself: NoFragmentCycles refuses it
        self._open.add(key)
        fields: _Gathered = {}
        for selection in selection_set.selections:
            if isinstance(selection, FieldNode):
                name = (selection.alias or selection.name).value
                into = fields.setdefault(name, {})
                before = into.get(id(selection), (selection, 0))[1]
                into[id(selection)] = (selection, before + 1)
                continue
            target = self.inner(selection)
            if target is None:
                continue
            inner: _Gathered = yield self._gather(target)
            for name, found in inner.items():
                into = fields.setdefault(name, {})
                for field_key, (field, count) in found.items():
                    before = into.get(field_key, (field, 0))[1]
                    # Capped: a fragment spread twice in one spread twice ... would
                    # otherwise count to 2^n (MAX_FIELDS refuses such a document).
                    into[field_key] = (field, min(before + count, MANY))
        self._open.discard(key)
        self._known[key] = fields
        return fields

    def inner(self, selection: SelectionNode) -> SelectionSetNode | None:
        if isinstance(selection, InlineFragmentNode):
            return selection.selection_set
        if isinstance(selection, FragmentSpreadNode):
            fragment = self.fragments.get(selection.name.value)
            return fragment.selection_set if fragment is not None else None
        return None
