"""The operations the fuzzer sends: valid ones drawn from the schema, plausible mutations,
operations with one schema violation each, garbled documents, documents past every
limit, and arguments hoisted into variables of every type."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
from typing import Any

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import Mode, mutations, nodes, queries

from app.kit.ids import encode_global_id
from tests.http.fuzz.values import (
    JSON_VALUES,
    ROOT,
    SCALARS,
    SCHEMA,
    SUBSCRIPTION_SCHEMA,
    TEXT,
)

VALID_QUERIES = queries(SCHEMA, custom_scalars=SCALARS)
VALID_MUTATIONS = mutations(SCHEMA, custom_scalars=SCALARS)
MUTATION_DOCUMENTS = mutations(SCHEMA, custom_scalars=SCALARS, print_ast=lambda d: d)

# What a mutation's IDs name, by input field; `id` names the mutation's own record.
REFERENCES = {
    "initiativeId": "Initiative",
    "programId": "Program",
    "groupId": "BeneficiaryGroup",
    "budgetLineId": "BudgetLine",
    "providerId": "Organization",
    "receiverId": "Organization",
    "sourceDocumentId": "SourceDocument",
    "figureId": "BeneficiaryFigure",
}
ACTIONS = re.compile(r"^(create|update|archive|approve|reject|submit)")
CURRENCIES = st.sampled_from(["CNY", "CNY", "USD", "EUR", "JPY"])
IDEMPOTENCY_KEYS = itertools.count()


@st.composite
def plausible_mutations(draw: st.DrawFn) -> str:
    """Valid mutations whose IDs mostly name demo records of the right type, whose
    currencies exist and whose versions are likely current: so that many are written,
    and reach the database's constraints, not only the checks before them."""

    def fix(value: graphql.ValueNode, record: str) -> graphql.ValueNode:
        if isinstance(value, graphql.ListValueNode):
            return dataclasses.replace(value, values=tuple(fix(v, record) for v in value.values))
        if not isinstance(value, graphql.ObjectValueNode):
            return value
        fields = []
        for field in value.fields:
            name, new = field.name.value, field.value
            if draw(st.integers(0, 4)) < 4:  # four in five
                if name in REFERENCES or name == "id":
                    type_name = REFERENCES.get(name, record)
                    new = nodes.String(encode_global_id(type_name, draw(st.integers(1, 12))))
                elif name in ("currency", "base", "quote"):
                    new = nodes.String(draw(CURRENCIES))
                elif name == "version":
                    new = nodes.Int(draw(st.integers(1, 3)))
            fields.append(dataclasses.replace(field, value=fix(new, record)))
        return dataclasses.replace(value, fields=tuple(fields))

    document = draw(MUTATION_DOCUMENTS)
    [operation] = document.definitions
    assert isinstance(operation, graphql.OperationDefinitionNode)
    selections = []
    for field in operation.selection_set.selections:
        assert isinstance(field, graphql.FieldNode)
        record = ACTIONS.sub("", field.name.value)
        record = "BeneficiaryFigure" if record == "ReachedFigure" else record
        arguments = []
        for argument in field.arguments or ():
            value = fix(argument.value, record)
            if argument.name.value == "idempotencyKey" and draw(st.integers(0, 3)) < 3:
                value = nodes.String(f"fuzz-{next(IDEMPOTENCY_KEYS)}")  # a new key
            arguments.append(dataclasses.replace(argument, value=value))
        selections.append(dataclasses.replace(field, arguments=tuple(arguments)))
    selection_set = dataclasses.replace(operation.selection_set, selections=tuple(selections))
    operation = dataclasses.replace(operation, selection_set=selection_set)
    return graphql.print_ast(dataclasses.replace(document, definitions=(operation,)))


VALID_SUBSCRIPTIONS = queries(SUBSCRIPTION_SCHEMA, custom_scalars=SCALARS).map(
    lambda text: "subscription " + text
)
INVALID_QUERIES = queries(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE)
INVALID_MUTATIONS = mutations(SCHEMA, custom_scalars=SCALARS, mode=Mode.NEGATIVE)


def _examples() -> list[str]:
    """The documents of the README and the guides: real operations, with variables,
    fragments and directives, for the garbler to start from."""
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = [
        query
        for path in texts
        for query in re.findall(r"```graphql\n(.*?)```", path.read_text(encoding="utf-8"), re.S)
    ]
    assert len(found) >= 10, "the README and guides hold the corpus"
    return found


EXAMPLES = _examples()

# Tokens a garbler splices in: punctuators, keywords, unknown names, broken literals.
TOKENS = [
    *"{}()[]:$!=|&@.#,",
    "...",
    "... on Program",
    "...Unknown",
    "query",
    "mutation",
    "subscription",
    "fragment F on Query { programs { totalCount } }",
    "fragment",
    "on",
    "null",
    "true",
    "__typename",
    "__schema { types { name } }",
    '__type(name: "Initiative") { fields { name } }',
    "noSuchField",
    "noSuchField { id }",
    "programs",
    "initiatives(first: 1) { nodes { id } }",
    "(first: -1)",
    "(first: 2147483648)",
    "(noSuchArgument: 1)",
    "(filter: {noSuchField: {eq: 1}})",
    "@include(if: true)",
    "@skip(if: $undefined)",
    "@noSuchDirective",
    "@deprecated",
    "$undefined",
    '"',
    '"""',
    '"unterminated',
    '"\\u{zzzz}"',
    '"\\x"',
    "1e999999",
    "0x10",
    "-0",
    "1.",
    ".5",
    "NaN",
    "\x00",
    "\ufeff",
    "\u2028",
    "\U0001f600",
    "\t\r\n",
    "\\",
]
TOKEN = st.one_of(st.sampled_from(TOKENS), st.text(min_size=1, max_size=6))
NAME = st.from_regex(r"[_A-Za-z][_0-9A-Za-z]{0,12}", fullmatch=True)


@st.composite
def garbled(draw: st.DrawFn, sources: st.SearchStrategy[str]) -> str:
    """A real document, broken in one to three ways."""
    text = draw(sources)
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(text)))
        kind = draw(
            st.sampled_from(["truncate", "delete", "insert", "repeat", "rename", "swap", "wrap"])
        )
        if kind == "truncate":
            text = text[:at]
        elif kind == "delete":
            text = text[:at] + text[at + draw(st.integers(1, 40)) :]
        elif kind == "insert":
            text = text[:at] + draw(TOKEN) + text[at:]
        elif kind == "repeat":
            end = draw(st.integers(at, min(len(text), at + 60)))
            text = text[:at] + text[at:end] * draw(st.integers(2, 60)) + text[end:]
        elif kind == "rename":  # an unknown field, argument, type or variable
            names = list(re.finditer(r"[_A-Za-z][_0-9A-Za-z]*", text))
            if names:
                m = draw(st.sampled_from(names))
                text = text[: m.start()] + draw(NAME) + text[m.end() :]
        elif kind == "swap":  # two characters change places
            if len(text) > 1:
                i = min(at, len(text) - 2)
                text = text[:i] + text[i + 1] + text[i] + text[i + 2 :]
        else:
            depth = draw(st.integers(1, 6))
            text = "{ " * depth + text + " }" * depth
    return text


@st.composite
def huge(draw: st.DrawFn) -> str:
    """Documents past the limits: nesting, repetition, sizes."""
    n = draw(st.sampled_from([2, 10, 25, 40, 200, 1000, 3000]))
    kind = draw(
        st.sampled_from(
            [
                "braces",
                "selection",
                "list",
                "object",
                "filter",
                "not",
                "aliases",
                "roots",
                "in",
                "tokens",
                "string",
                "fragments",
                "fan-out",
                "fan-out in a list",
                "cycle",
                "operations",
                "directives",
                "page",
                "variables",
                "digits",
                "exponent",
            ]
        )
    )
    if kind == "braces":
        return "{" * n + "}" * n
    if kind == "selection":  # a real recursive path, deeper than MAX_QUERY_DEPTH
        inner = "id"
        for _ in range(min(n, 400)):
            inner = f"program {{ initiatives(first: 2) {{ nodes {{ {inner} }} }} }}"
        return f'{{ initiative(code: "CP-01") {{ {inner} }} }}'
    if kind == "list":
        return "{ node(id: " + "[" * n + '"x"' + "]" * n + ") { id } }"
    if kind == "object":
        return "{ initiatives(filter: " + "{and: " * n + "{}" + "}" * n + ") { totalCount } }"
    if kind == "filter":
        tree = '{code: {eq: "CP-01"}}'
        for i in range(min(n, 300)):
            tree = f"{{and: [{tree}]}}" if i % 2 else f'{{or: [{tree}, {{code: {{eq: "x"}}}}]}}'
        return f"{{ initiatives(filter: {tree}) {{ totalCount }} }}"
    if kind == "not":
        tree = '{code: {eq: "CP-01"}}'
        for _ in range(min(n, 300)):
            tree = f"{{not: {tree}}}"
        return f"{{ initiatives(filter: {tree}) {{ totalCount }} }}"
    if kind == "aliases":
        return "{ " + " ".join(f"a{i}: programs {{ totalCount }}" for i in range(n)) + " }"
    if kind == "roots":
        roots = ["programs", "initiatives", "milestones", "transactions", "budgetLines"]
        body = " ".join(f"r{i}: {roots[i % len(roots)]} {{ totalCount }}" for i in range(n))
        return "{ " + body + " }"
    if kind == "in":
        ids = ", ".join(f'"{encode_global_id("Initiative", i)}"' for i in range(n))
        return f"{{ initiatives(filter: {{id: {{in: [{ids}]}}}}) {{ totalCount }} }}"
    if kind == "tokens":
        return "{ programs { " + "totalCount " * (n * 3) + "} }"
    if kind == "string":
        return '{ initiative(code: "' + "x" * (n * 100) + '") { id } }'
    if kind == "fragments":
        frags = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} }}" for i in range(n))
        return f"{{ ...F0 }} {frags} fragment F{n} on Query {{ programs {{ totalCount }} }}"
    if kind == "fan-out":  # each fragment spreads the next twice: 2^n spreads of the last
        frags = " ".join(f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}" for i in range(n))
        return f"{{ ...F0 }} {frags} fragment F{n} on Query {{ programs {{ totalCount }} }}"
    if kind == "fan-out in a list":  # ... inside a connection, with aliases (the cost)
        frags = " ".join(
            f"fragment F{i} on InitiativeConnection {{ a{i}: totalCount nodes {{ code }} "
            f"...F{i + 1} ...F{i + 1} }}"
            for i in range(n)
        )
        last = f"fragment F{n} on InitiativeConnection {{ totalCount }}"
        return f"{{ initiatives(first: 2) {{ ...F0 }} }} {frags} {last}"
    if kind == "cycle":
        return "{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }"
    if kind == "operations":
        return " ".join(f"query Q{i} {{ programs {{ totalCount }} }}" for i in range(n))
    if kind == "directives":
        return "{ programs " + "@include(if: true) " * n + "{ totalCount } }"
    if kind == "page":
        first = draw(st.sampled_from([0, -1, 101, 2**31 - 1, 2**31, 2**63]))
        page = f"budgetLines(first: {first}) {{ totalCount nodes {{ id }} }}"
        return f"{{ initiatives(first: {first}) {{ nodes {{ {page} }} }} }}"
    if kind == "digits":  # past Python's 4300 digits for int()
        return f"{{ programs(first: {'1' * (n * 3)}) {{ totalCount }} }}"
    if kind == "exponent":  # a short decimal of n digits written out
        sign = draw(st.sampled_from(["", "-"]))
        having = f'{{budgetCurrent: {{gt: "1e{sign}{n * 1000}"}}}}'
        return f"{{ budgetSummary(groupBy: [], having: {having}) {{ groupCount }} }}"
    defs = ", ".join(f"$v{i}: Int" for i in range(n))
    return f"query ({defs}) {{ programs {{ totalCount }} }}"


def hoist(document: str) -> tuple[str, list[tuple[str, str, Any]]]:
    """The document with every argument made a variable: (text, [(name, type, value)]),
    where value is the argument's literal as JSON (what a client would send)."""
    ast = graphql.parse(document)
    type_info = graphql.TypeInfo(SCHEMA)
    hoisted: list[tuple[str, str, Any]] = []

    class Hoister(graphql.Visitor):
        def enter_argument(self, node: graphql.ArgumentNode, *_: Any) -> Any:
            argument = type_info.get_argument()
            if argument is None or isinstance(node.value, graphql.VariableNode):
                return None
            name = f"v{len(hoisted)}"
            hoisted.append((name, str(argument.type), graphql.value_from_ast_untyped(node.value)))
            variable = graphql.VariableNode(name=graphql.NameNode(value=name))
            return graphql.ArgumentNode(name=node.name, value=variable)

    edited = graphql.visit(ast, graphql.TypeInfoVisitor(type_info, Hoister()))
    operation = edited.definitions[0]
    definitions = tuple(
        graphql.VariableDefinitionNode(
            variable=graphql.VariableNode(name=graphql.NameNode(value=name)),
            type=graphql.parse_type(type_name),
        )
        for name, type_name, _ in hoisted
    )
    edited = dataclasses.replace(
        edited,
        definitions=(dataclasses.replace(operation, variable_definitions=definitions),),
    )
    return graphql.print_ast(edited), hoisted


OTHER_TYPES = [
    "Int",
    "Int!",
    "String",
    "[ID!]!",
    "Date",
    "Decimal",
    "JSON",
    "Nope",
    "InitiativeFilter",
]


@st.composite
def with_variables(draw: st.DrawFn, sources: st.SearchStrategy[str]) -> tuple[str, Any]:
    """A valid document whose arguments are variables, sent with values that are right,
    null, missing, of the wrong type, or declared with another type."""
    text, hoisted = hoist(draw(sources))
    variables: dict[str, Any] = {}
    for name, type_name, literal in hoisted:
        kind = draw(
            st.sampled_from(["same", "same", "json", "null", "absent", "text", "list", "retype"])
        )
        if kind == "same":
            variables[name] = literal
        elif kind == "json":
            variables[name] = draw(JSON_VALUES)
        elif kind == "null":
            variables[name] = None
        elif kind == "text":
            variables[name] = json.dumps(literal)
        elif kind == "list":
            variables[name] = [literal]
        elif kind == "retype":
            variables[name] = literal
            text = text.replace(
                f"${name}: {type_name}", f"${name}: {draw(st.sampled_from(OTHER_TYPES))}", 1
            )
    extra = draw(st.sampled_from([None, "undeclared", "not-an-object"]))
    if extra == "undeclared":
        variables["undeclared"] = draw(JSON_VALUES)
    if extra == "not-an-object":
        return text, draw(st.one_of(st.lists(JSON_VALUES, max_size=2), TEXT, st.integers()))
    return text, variables
