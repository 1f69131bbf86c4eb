"""A real browser against a real server: Debian's chromium, driven by Playwright for
Python, opening the pages of `pledge-ledger serve` on 127.0.0.1 (a SQLite file with the
demo and a generated programme).

Without chromium, the set-up installs it (`apt-get install -y chromium`, as `make
browser` does) where it can; if it still is not there, the tests are skipped with the
reason, except with CI=true, where that is a failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[3]
BIN = Path(sys.executable).parent
# Screenshots and PDFs of every run, for people to look at (ignored by git).
ARTEFACTS = ROOT / "test-artefacts" / "browser"


def _install_chromium() -> str | None:
    """Installs Debian's chromium where it is missing; the reason it is not there."""
    if CHROMIUM.exists():
        return None
    if shutil.which("apt-get") is None or os.geteuid() != 0:
        return "chromium is not installed (/usr/bin/chromium), and apt-get cannot install it here"
    install = ["apt-get", "install", "-y", "-qq", "chromium", "fonts-wqy-microhei"]
    for command in (["apt-get", "update", "-qq"], install):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            return f"`{' '.join(command)}` failed: {done.stderr.strip()[-300:]}"
    return None if CHROMIUM.exists() else "apt-get installed no /usr/bin/chromium"


@pytest.fixture(scope="session")
def chromium() -> Path:
    reason = _install_chromium()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true needs the browser tests: {reason}")
        pytest.skip(reason)
    return CHROMIUM


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, chromium: Path) -> Iterator[str]:
    """The service on 127.0.0.1 with the demo and a generated programme, read anonymously."""
    folder = tmp_path_factory.mktemp("browser")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite+aiosqlite:///{folder / 'ledger.db'}",
        "ANONYMOUS_READ": "true",
        "GRAPHIQL": "true",
        "INTROSPECTION": "true",
        "LOG_FORMAT": "text",
        "RATE_LIMIT_PER_ADDRESS": "",
        "RATE_LIMIT_PER_KEY": "",
    }
    tool = str(BIN / "pledge-ledger")
    for step in (
        ["db", "upgrade"],
        ["demo", "load"],
        ["generate", "--initiatives", "4", "--budget-lines", "12", "--transactions", "60"],
    ):
        subprocess.run([tool, *step], env=env, check=True, capture_output=True)
    port = _free_port()
    log = (folder / "serve.log").open("w")
    process = subprocess.Popen(
        [tool, "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError((folder / "serve.log").read_text()[-2000:])
            time.sleep(0.3)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
        log.close()


@pytest.fixture(scope="session")
def artefacts() -> Path:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    return ARTEFACTS
