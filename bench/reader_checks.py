"""The cost of the reader's checks of a file's text (rev16 findings 1-3): duplicate keys
(JSON: an object_pairs_hook; YAML: the one pass over events, which also refuses tags),
and YAML dates kept as text. The parse of this checkout's reader against another
revision's (`--base`, default main), side by side in one process, interleaved, best of N.

    .venv/bin/python bench/reader_checks.py --file /path/to/programme.json [--base main]

The file is a document of the import format as JSON (e.g. `pledge-ledger export
--format ledger -o p.json` of a `generate`d ledger); its YAML is made from it.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from app.imports import reader as current


def _base(revision: str) -> Any:
    source = subprocess.run(
        ["git", "show", f"{revision}:app/imports/reader.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = Path(tempfile.mkdtemp()) / "base_reader.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("base_reader", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["base_reader"] = module
    spec.loader.exec_module(module)
    return module


def _best(text: str, runs: int, base: Any) -> tuple[float, float]:
    best = {"base": float("inf"), "current": float("inf")}
    gc.disable()
    for _ in range(runs):
        for name, module in (("base", base), ("current", current)):
            started = time.perf_counter()
            module._parse(text)
            best[name] = min(best[name], time.perf_counter() - started)
            gc.collect()
    gc.enable()
    return best["base"], best["current"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--file", type=Path, required=True)
    parser.add_argument("--base", default="main")
    args = parser.parse_args()
    base = _base(args.base)
    text = args.file.read_text()
    as_yaml = yaml.safe_dump(json.loads(text), sort_keys=False)
    for name, data, runs in (("JSON", text, 15), ("YAML", as_yaml, 3)):
        old, new = _best(data, runs, base)
        mb = len(data.encode()) / 2**20
        print(
            f"{name} {mb:.1f} MB: {args.base} {old:.3f} s, this {new:.3f} s, ratio {new / old:.2f}"
        )


if __name__ == "__main__":
    main()
