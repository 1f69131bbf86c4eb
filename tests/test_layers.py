"""Layers point down: http → graphql → domains → kit, db, config.

The import graph between the top-level packages of `app/` is read from the source
(every `import`, including those inside functions: a lazy import is still a
dependency). Four rules hold, each with the exceptions the code has today, listed so
that they can only shrink: a new exception fails, and so does a listed one that is
gone (remove it from the list, so that it cannot come back unnoticed). Cycles are
listed between modules too: inside one package they are as real (import order starts
to matter), and a package-level graph cannot see them.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

APP = Path(__file__).resolve().parents[1] / "app"

# Packages of the bottom layer: they know nothing of what the service is about.
# (`described` is below `errors`, whose codes use it, and so cannot live in `kit`,
# which raises those errors.)
FOUNDATIONS = {"config", "db", "kit", "errors", "described"}
# Packages that may use the GraphQL schema: the transport, the pages (which run its
# operations for people) and the entry points. `webhooks` is a transport too: its
# deliveries are the `changes` subscription's events, run by the schema as the
# endpoint's key (app/webhooks/events.py).
SCHEMA_USERS = {"graphql", "http", "pages", "main", "cli", "webhooks"}
# Packages that may use the transport: the pages (a browser's caller, GraphiQL's
# route) and the entry points (the app, and `serve`).
TRANSPORT_USERS = {"http", "pages", "main", "cli"}

# Today's exceptions (the layout issue removes them): none are left.
FOUNDATIONS_IMPORTING_DOMAINS: set[tuple[str, str]] = set()
# None left: the trail is below its readers. The recorder's "trail grew" signal lives
# with the trail (app/audit/signals.py), the tables it records with the models, and the
# view pool is handed the chain head's reader.
# None left. webhooks and graphql: the admin fields (app/graphql/webhooks/) call the
# webhooks service; webhooks import nothing of app.graphql (the change stream's cursors
# and names live below both, in app/events/cursors.py and app/audit/kinds.py, and the
# schema the app hands the worker runs its subscription: webhooks/events.py's
# ServerSubscriptions).
CYCLES: set[frozenset[str]] = set()

# Between modules: none left. The persisted operations no longer import the schema
# (M2), nor the settings the tokens (M8); GraphQL types of different domains name each
# other lazily and load each other by model, and money loads its rate so too.
MODULE_CYCLES: set[frozenset[str]] = set()

# The modules of `app.graphql` that import SQLAlchemy, and why: SQL is written in the
# domains' repositories and listings, so the schema holds only plumbing.
GRAPHQL_USING_SQLALCHEMY = {
    # Rows by primary key, and the conditions a page or an aggregate is read under.
    "app.graphql.loaders",
    # The condition a connection was read under, kept for its `aggregate`.
    "app.graphql.relay",
    # The compiled read path's answer written by PostgreSQL: a compiler from a
    # GraphQL plan to one SQL statement, which no repository could hold without
    # knowing the plan (issue 15).
    "app.graphql.compiled.in_database",
    "app.graphql.compiled.sql_json",
}


def _imported_names(path: Path, package: list[str], *, run_only: bool = False) -> list[list[str]]:
    """The dotted names each `import` of a module names (a `from` import's module and,
    as each may be a module, the module joined to each imported name); `package` is
    where a relative import starts from (a module's package, or an __init__'s own).
    `run_only` leaves out the imports under `if TYPE_CHECKING:`, which never run."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    unrun: set[ast.AST] = set()
    if run_only:
        for node in ast.walk(tree):
            if isinstance(node, ast.If) and _names_type_checking(node.test):
                unrun.update(inner for part in node.body for inner in ast.walk(part))
    names: list[list[str]] = []
    for node in ast.walk(tree):
        if node in unrun:
            continue
        if isinstance(node, ast.Import):
            names.extend([alias.name] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            names.append([module, *(f"{module}.{alias.name}" for alias in node.names)])
    return names


def _names_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def package_imports() -> dict[str, set[str]]:
    """Which top-level packages (or modules) of `app` each one imports."""
    graph: dict[str, set[str]] = defaultdict(set)
    for path in APP.rglob("*.py"):
        parts = path.relative_to(APP).with_suffix("").parts
        source = parts[0]
        for statement in _imported_names(path, ["app", *parts[:-1]]):
            target = statement[0].split(".")
            if target[0] == "app" and len(target) > 1 and target[1] != source:
                graph[source].add(target[1])
    return graph


def module_imports() -> dict[str, set[str]]:
    """Which modules of `app` each one imports (a package's import is its __init__'s);
    a module's import of a package it is in is left out (that __init__ has run). An
    import for the type checker alone is left out too: it runs nothing, so import order
    cannot hang on it. That is how GraphQL types of different domains name each other
    (`Annotated[Initiative, strawberry.lazy(...)]`, as the layout issue allows); at run
    time they load each other by model (`info.context.loaders.node_of(m.Initiative)`)."""
    modules: dict[str, Path] = {}
    for path in APP.rglob("*.py"):
        parts = ("app", *path.relative_to(APP).with_suffix("").parts)
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
        for statement in _imported_names(path, package, run_only=True):
            # `from m import x`: x when it is a module, else m (or m's nearest module).
            found = [target for target in statement[1:] if target in modules] or statement[:1]
            for target in found:
                while target and target not in modules:
                    target = target.rpartition(".")[0]
                if target and target != name and not name.startswith(f"{target}."):
                    graph[name].add(target)
    return graph


def cycles(graph: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected groups of more than one node (Tarjan's algorithm,
    iterative, linear in the graph's size)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: set[frozenset[str]] = set()
    nodes = set(graph) | {t for targets in graph.values() for t in targets}
    for start in sorted(nodes):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            advanced = False
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph.get(target, ())))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.add(frozenset(group))
    return found


def test_only_the_transport_and_entry_points_use_the_schema() -> None:
    graph = package_imports()
    users = {source for source, targets in graph.items() if "graphql" in targets}
    assert users <= SCHEMA_USERS, f"imports app.graphql: {sorted(users - SCHEMA_USERS)}"


def test_only_the_entry_points_use_the_transport() -> None:
    # The schema above all: it is built, read and tested without a request in sight.
    graph = package_imports()
    users = {source for source, targets in graph.items() if "http" in targets}
    assert users <= TRANSPORT_USERS, f"imports app.http: {sorted(users - TRANSPORT_USERS)}"


def test_foundations_import_no_domain_package() -> None:
    graph = package_imports()
    found = {
        (source, target)
        for source in FOUNDATIONS
        for target in graph.get(source, ())
        if target not in FOUNDATIONS
    }
    assert found - FOUNDATIONS_IMPORTING_DOMAINS == set(), "a foundation imports a domain"
    assert FOUNDATIONS_IMPORTING_DOMAINS - found == set(), "gone: drop it from the list"


def test_no_new_import_cycle_between_packages() -> None:
    found = cycles(package_imports())
    assert found - CYCLES == set(), "a new or larger import cycle between packages"
    assert CYCLES - found == set(), "a listed cycle changed or is gone: update the list"


def test_no_new_import_cycle_between_modules() -> None:
    found = cycles(module_imports())
    assert found - MODULE_CYCLES == set(), "a new or larger import cycle between modules"
    assert MODULE_CYCLES - found == set(), "a listed cycle changed or is gone: update the list"


def test_the_cycle_finder_sees_a_cycle_and_nothing_else() -> None:
    # The oracle for the finder itself: a ring of three beside a chain.
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}}
    assert cycles(graph) == {frozenset({"a", "b", "c"})}
    assert cycles({"a": {"b"}, "b": set()}) == set()


def test_only_listed_schema_modules_import_sqlalchemy() -> None:
    found = set()
    for path in (APP / "graphql").rglob("*.py"):
        parts = ("app", *path.relative_to(APP).with_suffix("").parts)
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if any(s[0].split(".")[0] == "sqlalchemy" for s in _imported_names(path, [])):
            found.add(name)
    assert found - GRAPHQL_USING_SQLALCHEMY == set(), "SQL belongs in a repository or listing"
    assert GRAPHQL_USING_SQLALCHEMY - found == set(), "gone: drop it from the list"
