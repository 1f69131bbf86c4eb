"""The pages in headless chromium: every page of the demo and of a generated programme
opens with the API's figures, no request leaves 127.0.0.1, nothing the
Content-Security-Policy forbids is tried, the keyboard reaches the controls, the page
fits a phone and prints; GraphiQL starts offline. Screenshots land in test-artefacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, ConsoleMessage, Page, Request, Route, sync_playwright

DEMO = "alibaba-common-prosperity-2021"
BUDGET = """query($code: String!) {
  initiative(code: $code) { figures { budgetCurrent { amount } } }
}"""


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(chromium), args=["--no-sandbox"])
        yield launched
        launched.close()


class Watched:
    """A page whose every request is checked to stay on 127.0.0.1 (others are aborted
    and kept), and whose console errors (a CSP refusal is one) are kept."""

    def __init__(self, page: Page) -> None:
        self.page = page
        self.elsewhere: list[str] = []
        self.requested: list[str] = []
        self.errors: list[str] = []
        page.route("**/*", self._route)
        page.on("console", self._console)

    def _route(self, route: Route, request: Request) -> None:
        self.requested.append(request.url)
        if urlsplit(request.url).hostname != "127.0.0.1":
            self.elsewhere.append(request.url)
            route.abort()
        else:
            route.continue_()

    def _console(self, message: ConsoleMessage) -> None:
        # The browser asks for /favicon.ico by itself; the app has none (a 404).
        if message.type == "error" and "favicon" not in (message.location or {}).get("url", ""):
            self.errors.append(message.text)


@pytest.fixture
def watched(browser: Browser) -> Iterator[Watched]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    yield Watched(context.new_page())
    context.close()


def _api(server: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    sent = {"query": query, "variables": variables or {}}
    body = httpx.post(f"{server}/graphql", json=sent, timeout=30).json()
    assert "errors" not in body, body
    data: dict[str, Any] = body["data"]
    return data


def _links(page: Page, prefix: str) -> list[str]:
    hrefs = page.eval_on_selector_all(
        f'main a[href^="{prefix}"]', "els => els.map(e => e.getAttribute('href'))"
    )
    return list(dict.fromkeys(h.split("?")[0] for h in hrefs))


def test_every_page_opens_with_the_apis_figures_and_stays_on_127_0_0_1(
    server: str, watched: Watched, artefacts: Path
) -> None:
    page = watched.page
    page.goto(f"{server}/")
    programmes = _links(page, "/programmes/")
    api = _api(server, "{ programs { nodes { ref pledged { amount } } } }")["programs"]["nodes"]
    assert len(programmes) == len(api) == 2  # the demo and the generated programme
    page.screenshot(path=str(artefacts / "programmes.png"), full_page=True)
    for programme in programmes:
        ref = programme.rsplit("/", 1)[1]
        page.goto(f"{server}{programme}")
        page.screenshot(path=str(artefacts / f"programme-{ref}.png"), full_page=True)
        pledged = page.get_attribute('g[data-stage="pledged"]', "data-amount")
        assert pledged == next(p["pledged"]["amount"] for p in api if p["ref"] == ref)
        for initiative in _links(page, "/initiatives/"):
            page.goto(f"{server}{initiative}")
            code = initiative.rsplit("/", 1)[1]
            assert page.get_attribute("h1", "data-code") == code
            budget = page.get_attribute('tr[data-stage="budget"] .money', "data-amount")
            figures = _api(server, BUDGET, {"code": code})
            assert budget == figures["initiative"]["figures"]["budgetCurrent"]["amount"]
            page.screenshot(path=str(artefacts / f"initiative-{code}.png"), full_page=True)
    assert watched.elsewhere == []
    assert watched.errors == []
    assert all(urlsplit(u).hostname == "127.0.0.1" for u in watched.requested)


def test_graphiql_starts_offline_and_runs_a_query(
    server: str, watched: Watched, artefacts: Path
) -> None:
    page = watched.page
    page.goto(f"{server}/graphql")
    page.wait_for_selector(".graphiql-container", timeout=30000)
    # a query typed into the editor and run from the keyboard is answered
    page.click(".graphiql-query-editor .CodeMirror")
    page.keyboard.press("Control+A")
    page.keyboard.type("{ programs { nodes { name } } }")
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "() => (document.querySelector('.result-window') || {}).innerText"
        "?.includes('Alibaba common prosperity pledge')",
        timeout=30000,
    )
    page.screenshot(path=str(artefacts / "graphiql.png"))
    assert watched.elsewhere == []
    assert watched.errors == []


def test_the_keyboard_reaches_every_control(server: str, watched: Watched) -> None:
    page = watched.page
    page.goto(f"{server}/programmes/{DEMO}")
    reached: list[str] = []
    for _ in range(40):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                "() => { const e = document.activeElement;"
                " return e.id || e.name || e.getAttribute('href') || e.textContent.trim(); }"
            )
        )
    assert reached[0] == "#main"  # the skip link comes first
    for control in ("lang", "asOf", "currency"):
        assert control in reached, reached
    # the as-of form submits from the keyboard too
    page.focus("#currency")
    page.keyboard.type("USD")
    page.keyboard.press("Enter")
    page.wait_for_url("**currency=USD**")
    assert page.get_attribute('g[data-stage="pledged"]', "data-currency") == "USD"
    assert watched.errors == []


def test_a_phone_and_a_printer_get_the_whole_programme_page(
    server: str, browser: Browser, artefacts: Path
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    page.goto(f"{server}/programmes/{DEMO}")
    page.screenshot(path=str(artefacts / "programme-phone.png"), full_page=True)
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 400, f"the page is {width} px wide on a 390 px phone"
    page.emulate_media(media="print")
    assert not page.is_visible("form.controls")  # an auditor's printout has no controls
    assert page.is_visible('tr[data-stage="unallocated"]')
    page.pdf(path=str(artefacts / "programme.pdf"))
    context.close()


def test_a_chinese_browser_reads_the_programme_in_chinese(
    server: str, browser: Browser, artefacts: Path
) -> None:
    context = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.goto(f"{server}/programmes/{DEMO}")
    assert page.get_attribute("html", "lang") == "zh-Hans"
    assert page.inner_text("#funnel-h") == "从承诺到支出"
    page.screenshot(path=str(artefacts / "programme-zh-Hans.png"), full_page=True)
    # the switch, from the keyboard: English from now on
    page.select_option("#lang", "en")
    page.click("header form.inline button")
    page.wait_for_load_state()
    assert page.get_attribute("html", "lang") == "en"
    context.close()
