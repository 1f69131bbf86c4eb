"""How long validation takes for the documents that stress graphql's
OverlappingFieldsCanBeMergedRule, in process (CPU time, best of 5): the review's 450
copies of one field path, and the worst document within every limit (MAX_SAME_FIELD
copies of a field whose subtree, distinct names throughout, fills MAX_TOKENS).

    .venv/bin/python bench/validation.py            # as the service validates
    .venv/bin/python bench/validation.py --before   # graphql's merge rule on every document
"""

from __future__ import annotations

import sys
import time
from typing import Any

from graphql import (
    DocumentNode,
    GraphQLNamedType,
    GraphQLNonNull,
    OverlappingFieldsCanBeMergedRule,
    Undefined,
    get_named_type,
    is_leaf_type,
    is_object_type,
    parse,
    validate,
)
from graphql.language import Lexer, Source, TokenKind

from app.config import Settings
from app.graphql.extensions.limits import validation_rules
from app.graphql.schema import build_schema

SCHEMA = build_schema(Settings())._schema


def rules(settings: Settings, before: bool) -> list[Any]:
    chosen = validation_rules(settings)
    # before: the merge rule as strawberry ran it, on every document
    return [*chosen, OverlappingFieldsCanBeMergedRule] if before else chosen


def selection(of: Any, budget: int, depth: int) -> tuple[str, int]:
    """A valid selection on `of` of about `budget` fields, each name once per set."""
    parts: list[str] = []
    used = 0
    for name, field in of.fields.items():
        if used >= budget:
            break
        required = any(
            isinstance(a.type, GraphQLNonNull) and a.default_value is Undefined
            for a in field.args.values()
        )
        if name.startswith("__") or required:
            continue
        named: GraphQLNamedType = get_named_type(field.type)
        if is_leaf_type(named):
            parts.append(name)
            used += 1
        elif is_object_type(named) and depth > 0:
            inner, count = selection(named, min(budget - used, 40), depth - 1)
            if count:
                parts.append(f"{name} {{ {inner} }}")
                used += count + 3
    return " ".join(parts), used


def tokens(text: str) -> int:
    lexer, count = Lexer(Source(text)), 0
    while lexer.advance().kind != TokenKind.EOF:
        count += 1
    return count


def worst_allowed(settings: Settings) -> str:
    initiative = SCHEMA.get_type("Initiative")
    best = ""
    for budget in range(10, 2000, 10):
        inner, _ = selection(initiative, budget, 8)
        copy = f"program {{ initiatives {{ nodes {{ {inner} }} }} }} "
        document = "{ initiatives { nodes { " + copy * settings.max_same_field + "} } }"
        if tokens(document) > settings.max_tokens:
            return best
        best = document
    return best


def timed(document: DocumentNode, chosen: list[Any]) -> tuple[float, list[str]]:
    best = float("inf")
    codes: list[str] = []
    for _ in range(5):
        started = time.process_time()
        errors = validate(SCHEMA, document, chosen)
        best = min(best, time.process_time() - started)
        codes = [str((e.extensions or {}).get("code", e.message[:40])) for e in errors]
    return best, codes


def main() -> None:
    before = "--before" in sys.argv
    settings = Settings()
    chosen = rules(settings, before)
    documents = {
        "review: 450 copies": "{ " + "initiatives { nodes { program { id } } } " * 450 + "}",
        f"worst allowed ({settings.max_same_field} copies)": worst_allowed(settings),
    }
    for name, text in documents.items():
        document = parse(text, max_tokens=settings.max_tokens)
        every, codes = timed(document, chosen)
        merge, _ = timed(document, [OverlappingFieldsCanBeMergedRule])
        print(
            f"{name:28} {tokens(text):5} tokens: validation {every * 1000:7.1f} ms "
            f"(the merge rule alone {merge * 1000:6.1f} ms) {sorted(set(codes))}"
        )


if __name__ == "__main__":
    main()
