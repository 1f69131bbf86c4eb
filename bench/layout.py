"""The layout figures of one revision, as Markdown: lines per folder, import cycles,
upward imports, repeated code, the share of `Any` in app/graphql and (from a saved
pytest run) the slowest test files. Issue 14 asks for them before and after.

    .venv/bin/python bench/layout.py                      # HEAD
    .venv/bin/python bench/layout.py 6d2a546 --durations /tmp/durations.txt

The revision is checked out into a temporary `git worktree` (removed afterwards), so the
working tree is never touched and any commit can be measured. Nothing here runs the
test suite.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

HERE = Path(__file__).resolve().parents[1]
LAYERS = Path("tests") / "test_layers.py"
# What a test_layers.py must define to serve as the ruler (the first one, M0, read no
# module graph yet).
RULER_NAMES = ("package_imports", "module_imports", "cycles", "FOUNDATIONS", "SCHEMA_USERS")
LONG_MODULE = 400  # lines: STYLE.md's "asking to be split"

Graph = dict[str, set[str]]


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], check=True, capture_output=True, text=True
    )
    return done.stdout.strip()


@contextmanager
def checked_out(repo: Path, commit: str) -> Iterator[Path]:
    """The commit in a temporary worktree (detached), removed however the block ends."""
    with tempfile.TemporaryDirectory(prefix="layout-") as temp:
        tree = Path(temp) / "tree"
        git(repo, "worktree", "add", "--quiet", "--detach", str(tree), commit)
        try:
            yield tree
        finally:
            try:
                git(repo, "worktree", "remove", "--force", str(tree))
            except subprocess.CalledProcessError:
                git(repo, "worktree", "prune")


# -- lines ------------------------------------------------------------------------------


def line_count(path: Path) -> int:
    return len(path.read_text(encoding="utf-8").splitlines())


def lines_section(tree: Path) -> list[str]:
    app = tree / "app"
    top: dict[str, list[int]] = defaultdict(list)
    graphql: dict[str, list[int]] = defaultdict(list)
    for path in sorted(app.rglob("*.py")):
        parts = path.relative_to(app).parts
        lines = line_count(path)
        top[f"{parts[0]}/" if len(parts) > 1 else "(modules in app/)"].append(lines)
        if parts[0] == "graphql" and len(parts) > 1:
            inner = f"{parts[1]}/" if len(parts) > 2 else "(modules in app/graphql/)"
            graphql[inner].append(lines)
    total = sum(sum(v) for v in top.values())
    in_graphql = sum(top.get("graphql/", []))
    out = [
        "### Lines of Python in app/",
        "",
        f"{total:,} lines in {sum(len(v) for v in top.values())} files; app/graphql holds "
        f"{in_graphql:,} ({share(in_graphql, total)}). Every line counts (blank, comment, "
        "docstring), as `wc -l`.",
        "",
        *table(top, total, "app/"),
        "",
        "app/graphql by subfolder:",
        "",
        *table(graphql, total, "app/graphql/"),
        "",
    ]
    long_app = sum(1 for v in top.values() for n in v if n > LONG_MODULE)
    tests = sorted((tree / "tests").rglob("*.py"))
    test_lines = [line_count(path) for path in tests]
    folders = {path.parent for path in tests}
    out += [
        f"Modules over {LONG_MODULE} lines in app/: {long_app}. tests/: {len(tests)} files "
        f"({sum(test_lines):,} lines) in {len(folders)} folder(s), "
        f"{sum(1 for n in test_lines if n > LONG_MODULE)} over {LONG_MODULE} lines.",
        "",
    ]
    return out


def table(groups: dict[str, list[int]], total: int, prefix: str) -> list[str]:
    rows = sorted(groups.items(), key=lambda item: (-sum(item[1]), item[0]))
    out = ["| folder | files | lines | of app/ |", "|---|--:|--:|--:|"]
    for name, lines in rows:
        label = name if name.startswith("(") else f"{prefix}{name}"
        out.append(f"| {label} | {len(lines)} | {sum(lines):,} | {share(sum(lines), total)} |")
    return out


def share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else "n/a"


# -- imports ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Ruler:
    """The layer definitions and graph reading of one tests/test_layers.py."""

    origin: str
    package_imports: Callable[[], Graph]
    module_imports: Callable[[], Graph]
    cycles: Callable[[Graph], set[frozenset[str]]]
    foundations: set[str]
    schema_users: set[str]
    # None where the ruler predates app/http (then nothing imports the transport).
    transport_users: set[str] | None


def load_module(path: Path, app: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"_layers_{abs(hash(path))}", path)
    assert spec is not None and spec.loader is not None, path
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # Its functions read APP when called: point them at the revision's app/.
    vars(module)["APP"] = app
    return module


def ruler_for(tree: Path) -> Ruler:
    """The revision's own test_layers.py when it has a module graph; otherwise the one
    beside this script, applied to the revision's app/ (the same ruler before and after)."""
    own = tree / LAYERS
    module = load_module(own, tree / "app") if own.exists() else None
    origin = f"the revision's {LAYERS}"
    if module is None or not all(hasattr(module, name) for name in RULER_NAMES):
        module = load_module(HERE / LAYERS, tree / "app")
        origin = f"{LAYERS} of {git(HERE, 'rev-parse', '--short', 'HEAD')} (this script's)"
        origin += "; the revision has none" if not own.exists() else "; the revision's is older"
    return Ruler(
        origin=origin,
        package_imports=module.package_imports,
        module_imports=module.module_imports,
        cycles=module.cycles,
        foundations=set(module.FOUNDATIONS),
        schema_users=set(module.SCHEMA_USERS),
        transport_users=(
            set(module.TRANSPORT_USERS) if hasattr(module, "TRANSPORT_USERS") else None
        ),
    )


def package_of(module: str) -> str:
    """`app.graphql.relay` → `graphql`, as test_layers names packages (app/__init__ is
    `__init__` there)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward(ruler: Ruler, graph: Graph) -> list[tuple[str, str, str]]:
    """(importer, imported, the rule it breaks) for each package-level upward import."""
    found: list[tuple[str, str, str]] = []
    for source, targets in sorted(graph.items()):
        for target in sorted(targets):
            if target == "graphql" and source not in ruler.schema_users:
                found.append((source, target, "uses the schema"))
            elif (
                target == "http"
                and ruler.transport_users is not None
                and source not in ruler.transport_users
            ):
                found.append((source, target, "uses the transport"))
            elif source in ruler.foundations and target not in ruler.foundations:
                found.append((source, target, "a foundation imports a domain"))
    return found


def imports_section(tree: Path) -> list[str]:
    ruler = ruler_for(tree)
    packages = ruler.package_imports()
    modules = ruler.module_imports()
    package_cycles = sorted(ruler.cycles(packages), key=lambda c: (-len(c), sorted(c)))
    module_cycles = sorted(ruler.cycles(modules), key=lambda c: (-len(c), sorted(c)))
    found = upward(ruler, packages)
    edges: dict[tuple[str, str], list[str]] = defaultdict(list)
    for source, targets in modules.items():
        for target in targets:
            edges[(package_of(source), package_of(target))].append(f"{source} → {target}")
    module_edges = sum(len(edges[(s, t)]) for s, t, _ in found)
    out = [
        "### Imports between app's packages and modules",
        "",
        f"Layers and graph reading: {ruler.origin}. Every `import` counts, lazy ones too.",
        "",
        f"- Import cycles between top-level packages: **{len(package_cycles)}**"
        + (
            f" ({', '.join(str(len(c)) for c in package_cycles)} packages)"
            if package_cycles
            else ""
        ),
    ]
    out += [f"  - {{{', '.join(sorted(c))}}}" for c in package_cycles]
    out.append(
        f"- Import cycles between modules: **{len(module_cycles)}**"
        + (f" ({', '.join(str(len(c)) for c in module_cycles)} modules)" if module_cycles else "")
    )
    out += [
        f"  - {{{', '.join(name.removeprefix('app.') for name in sorted(c))}}}"
        for c in module_cycles
    ]
    out.append(
        f"- Upward imports: **{len(found)}** package pairs, {module_edges} module imports "
        "behind them"
    )
    for source, target, rule in found:
        behind = sorted(edges[(source, target)])
        shown = ", ".join(f"`{edge}`" for edge in behind[:3])
        more = f" and {len(behind) - 3} more" if len(behind) > 3 else ""
        out.append(f"  - {source} → {target} ({rule}): {shown}{more}")
    out.append("")
    return out


# -- repeated code ----------------------------------------------------------------------

PAIR = re.compile(r"^D\d+ (\S+?):\d+-\d+ ~ (\S+?):\d+-\d+")
MORE = re.compile(r"^\(\+(\d+) more pairs\)")


def duplicates_section(tree: Path, top: int) -> list[str]:
    tool = shutil.which("duplicates")
    if tool is None:
        return ["### Repeated code in app/", "", "`duplicates` is not on this machine.", ""]
    done = subprocess.run(
        [tool, "--repo", str(tree / "app"), "--most", "200", "--seconds", "120"],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = done.stdout.splitlines()
    rows = [line for line in lines if PAIR.match(line)]
    cut = next((int(m.group(1)) for line in lines if (m := MORE.match(line))), 0)
    sides = [PAIR.match(row) for row in rows]
    in_graphql = sum(1 for m in sides if m and any(p.startswith("graphql/") for p in m.groups()))
    both = sum(1 for m in sides if m and all(p.startswith("graphql/") for p in m.groups()))
    largest = sides[:22]
    largest_in = sum(1 for m in largest if m and all(p.startswith("graphql/") for p in m.groups()))
    out = [
        "### Repeated code in app/ (`duplicates`, runs of 6+ lines)",
        "",
        f"`{lines[0] if lines else 'no output'}`",
        "",
        f"- Pairs with a side in app/graphql: {in_graphql}; both sides there: {both}"
        + (f" (of the {len(rows)} listed; {cut} more not listed)" if cut else "")
        + ".",
        f"- Of the {len(largest)} largest pairs, {largest_in} lie wholly in app/graphql.",
        "",
        f"The {min(top, len(rows))} largest (paths below app/):",
        "",
        "```",
        *rows[:top],
        *[line for line in lines if line.startswith(("left out:", "incomplete:"))],
        "```",
        "",
    ]
    return out


# -- Any in app/graphql -----------------------------------------------------------------

ANY_ROW = re.compile(r"^\s*(\S+)\s+(\d+)\s+(\d+)\s+[\d.]+%\s*$")


def mypy_section(tree: Path, mypy: str, top: int) -> list[str]:
    with tempfile.TemporaryDirectory(prefix="layout-mypy-") as temp:
        report = Path(temp) / "report"
        command = [mypy, "--any-exprs-report", str(report), "--cache-dir", f"{temp}/cache"]
        config = tomllib.loads((tree / "pyproject.toml").read_text(encoding="utf-8"))
        mypy_config = config.get("tool", {}).get("mypy", {})
        if not any(mypy_config.get(key) for key in ("files", "packages", "modules")):
            command += ["-p", "app"]
        # In the revision's folder: its pyproject.toml is the config and its app/ is
        # found first (mypy puts the working directory ahead of site-packages).
        done = subprocess.run(command, cwd=tree, capture_output=True, text=True, check=False)
        table_path = report / "any-exprs.txt"
        if not table_path.exists():
            return ["### Any in app/graphql", "", f"mypy wrote no report: {done.stdout}", ""]
        rows: list[tuple[str, int, int]] = []
        for line in table_path.read_text(encoding="utf-8").splitlines():
            m = ANY_ROW.match(line)
            if m and m.group(1) != "Total":
                rows.append((m.group(1), int(m.group(2)), int(m.group(3))))
        kinds = kinds_of_any(report / "types-of-anys.txt")
    version = subprocess.run([mypy, "--version"], capture_output=True, text=True, check=False)
    graphql = [r for r in rows if r[0] == "app.graphql" or r[0].startswith("app.graphql.")]
    anys, exprs = sum(r[1] for r in graphql), sum(r[2] for r in graphql)
    all_anys, all_exprs = sum(r[1] for r in rows), sum(r[2] for r in rows)
    verdict = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else "no output"
    most = sorted(graphql, key=lambda r: (-r[1], r[0]))[:top]
    return [
        "### Any expressions in app/graphql (mypy --any-exprs-report)",
        "",
        f"- app/graphql: **{anys:,} of {exprs:,} expressions are Any "
        f"({100 * anys / exprs if exprs else 0:.2f} %)**, over {len(graphql)} modules.",
        f"- all of app/: {all_anys:,} of {all_exprs:,} ({share(all_anys, all_exprs)}).",
        f"- {version.stdout.strip()}, the revision's config; it said: `{verdict}`",
        "",
        "Any inside the types of app/graphql's expressions, by origin (nested ones count, as "
        "in `dict[str, Any]`, so these exceed the Any expressions): "
        + ", ".join(f"{kind} {n:,}" for kind, n in kinds.most_common() if n),
        "",
        "Most Any in app/graphql: "
        + ", ".join(f"{name.removeprefix('app.graphql.')} {n}" for name, n, _ in most),
        "",
    ]


def kinds_of_any(path: Path) -> Counter[str]:
    """The types-of-anys table summed over app/graphql's modules: its header names each
    kind (Unannotated, Explicit, Special Form, ...), columns at least three spaces apart."""
    kinds: Counter[str] = Counter()
    if not path.exists():
        return kinds
    lines = path.read_text(encoding="utf-8").splitlines()
    header = re.split(r"\s{2,}", lines[0].strip())[1:] if lines else []
    for line in lines[2:]:
        name, *counts = line.split() or [""]
        if len(counts) == len(header) and (
            name == "app.graphql" or name.startswith("app.graphql.")
        ):
            kinds.update(dict(zip(header, map(int, counts), strict=True)))
    return kinds


# -- test durations ---------------------------------------------------------------------

DURATION = re.compile(r"^\s*([\d.]+)s\s+(?:setup|call|teardown)\s+([^:\s]+)::")
# "=== 1883 passed in 1089.96s (0:18:09) ===", or without the rules under -q.
SUMMARY = re.compile(
    r"^=* ?(\d+ (?:passed|failed|error).*?) in ([\d.]+)s(?: \(([\d:]+)\))?(?: =+)?$"
)


def durations_section(path: Path, top: int) -> list[str]:
    per_file: dict[str, float] = defaultdict(float)
    summary: str | None = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if m := DURATION.match(line):
            per_file[m.group(2)] += float(m.group(1))
        elif m := SUMMARY.match(line.strip()):
            summary = f"{m.group(1)} in {float(m.group(2)):,.0f} s"
    listed = sum(per_file.values())
    rows = sorted(per_file.items(), key=lambda item: -item[1])[:top]
    out = [
        f"### Slowest test files (from {path.name})",
        "",
        f"Suite: {summary or 'no closing line in the file'}. Setup, call and teardown "
        f"summed per file: {listed:,.0f} s over {len(per_file)} files (with xdist workers "
        "this is the work done, not the wall time).",
        "",
        "| test file | seconds | of listed |",
        "|---|--:|--:|",
    ]
    out += [
        f"| {name} | {seconds:,.1f} | {100 * seconds / listed:.1f} % |" for name, seconds in rows
    ]
    out.append("")
    return out


# -- main -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("revision", nargs="?", default="HEAD")
    parser.add_argument("--repo", type=Path, default=Path.cwd(), help="a checkout of the repo")
    parser.add_argument(
        "--mypy",
        default=str(Path(sys.executable).with_name("mypy")),
        help="the mypy to run (default: the one beside this Python)",
    )
    parser.add_argument("--no-mypy", action="store_true", help="skip the Any report")
    parser.add_argument(
        "--durations", type=Path, help="saved output of pytest --durations=0 (never run here)"
    )
    parser.add_argument("--top", type=int, default=5, help="rows in each 'largest' list")
    args = parser.parse_args(argv)
    repo = Path(git(args.repo, "rev-parse", "--show-toplevel"))
    commit = git(repo, "rev-parse", "--verify", f"{args.revision}^{{commit}}")
    short, date, subject = git(repo, "log", "-1", "--format=%h%n%cs%n%s", commit).split("\n", 2)
    named = short if commit.startswith(args.revision) else f"{args.revision} = {short}"
    subject = subject if len(subject) <= 80 else subject[:79] + "…"
    out = [f"## Layout of {named} ({date}: {subject})", ""]
    with checked_out(repo, commit) as tree:
        print(f"measuring {commit[:10]} in {tree}", file=sys.stderr)
        out += lines_section(tree)
        out += imports_section(tree)
        out += duplicates_section(tree, args.top)
        if not args.no_mypy:
            print("running mypy (a minute or two)", file=sys.stderr)
            out += mypy_section(tree, args.mypy, args.top)
    if args.durations:
        out += durations_section(args.durations, args.top)
    print("\n".join(out))


if __name__ == "__main__":
    main()
