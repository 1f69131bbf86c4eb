"""The pages' language (the browser's, or the switch's), and everything a page or
GraphiQL loads served by the app itself, as its Content-Security-Policy says."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from babel.messages.pofile import read_po

from app.pages.i18n import LOCALES_DIR, Formats, available, choose, translations
from tests.conftest import Database, GraphQLClient
from tests.pages.html import csrf_of, elements, one

DEMO = "alibaba-common-prosperity-2021"


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh-Hans"),
        ("zh", "zh-Hans"),
        ("zh-Hans-SG", "zh-Hans"),
        ("zh-TW,en;q=0.5", "en"),  # Traditional Chinese is another catalogue
        ("fr-FR, en-GB;q=0.8", "en"),
        ("en;q=0.1, zh-CN;q=0.9", "zh-Hans"),
        ("", "en"),
        ("x" * 600, "en"),
    ],
)
def test_the_browsers_language_chooses_the_catalogue(header: str, expected: str) -> None:
    assert choose(None, header) == expected


def test_every_catalogue_translates_every_label_with_its_placeholders() -> None:
    # a label left untranslated shows in English; one whose translation lost or renamed a
    # placeholder would fail at render time
    for folder in LOCALES_DIR.iterdir():
        with (folder / "LC_MESSAGES" / "pages.po").open("rb") as po:
            catalog = read_po(po)
        untranslated = [m.id for m in catalog if m.id and not m.string]
        assert untranslated == [], (folder.name, untranslated)
        assert not [m.id for m in catalog if m.fuzzy and m.id], folder.name
    for tag in available():
        catalogue = translations(tag)
        messages = getattr(catalogue, "_catalog", {})
        for english, translated in messages.items():
            if not english or isinstance(english, tuple):
                continue
            assert set(re.findall(r"%\(\w+\)s", english)) == set(
                re.findall(r"%\(\w+\)s", translated)
            ), (tag, english)


def test_numbers_and_dates_follow_the_language_and_keep_every_digit() -> None:
    assert Formats("en").number("100000000000.05") == "100,000,000,000.05"
    assert Formats("zh-Hans").number("1234.5000") == "1,234.5"
    assert Formats("en").date("2025-12-31") == "Dec 31, 2025"
    assert Formats("zh-Hans").date("2025-12-31") == "2025年12月31日"


async def test_a_chinese_browser_gets_chinese_labels_and_the_switch_keeps_a_choice(
    demo: Database, client: GraphQLClient
) -> None:
    http = client.http
    page = await http.get(f"/programmes/{DEMO}", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="zh-Hans">' in page.text
    assert "从承诺到支出" in page.text and page.headers["content-language"] == "zh-Hans"
    assert "2025年12月31日" in page.text  # the deadline, as Chinese writes a date
    # the same figures whatever the language
    english = await http.get(f"/programmes/{DEMO}")
    assert one(page.text, "g", data_stage="pledged") == one(english.text, "g", data_stage="pledged")
    # the switch: English for a browser that asks for Chinese
    switched = await http.post(
        "/language",
        data={"lang": "en", "next": f"/programmes/{DEMO}", "csrf_token": csrf_of(english.text)},
    )
    assert switched.status_code == 303 and switched.headers["location"] == f"/programmes/{DEMO}"
    again = await http.get(f"/programmes/{DEMO}", headers={"Accept-Language": "zh-CN"})
    assert '<html lang="en">' in again.text
    # a form's `next` never leaves the site
    away = await http.post(
        "/language",
        data={"lang": "en", "next": "//elsewhere.example/", "csrf_token": csrf_of(english.text)},
    )
    assert away.headers["location"] == "/"


async def test_pages_have_landmarks_headings_and_a_table_beside_every_chart(
    demo: Database, client: GraphQLClient
) -> None:
    for path in ("/", f"/programmes/{DEMO}", "/initiatives/CP-10"):
        html = (await client.http.get(path)).text
        assert elements(html, "header", role="banner") and elements(html, "main", id="main")
        assert elements(html, "nav") and elements(html, "footer", role="contentinfo")
        assert html.count("<h1") == 1
        charts = elements(html, "svg")
        assert all(c.get("role") == "img" for c in charts)
        # every chart of figures is followed by its table in the same block
        for match in re.finditer(r'<svg class="chart (\w+)"', html):
            if match.group(1) in ("funnel", "initiatives", "quarters", "milestones"):
                assert "<table" in html[match.end() : match.end() + 20000]


async def test_graphiql_and_the_pages_load_only_the_apps_own_files(
    demo: Database, client_with: Callable[..., GraphQLClient]
) -> None:
    http = client_with(graphiql=True).http
    ide = await http.get("/graphql", headers={"Accept": "text/html"})
    assert ide.status_code == 200
    csp = ide.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "script-src 'self'" in csp and "http" not in csp
    page = await http.get(f"/programmes/{DEMO}")
    sources = re.findall(r'(?:src|href)="([^"]+)"', ide.text + page.text)
    assets = [s for s in sources if s.startswith("/static/")]
    assert len(assets) >= 6
    assert not [s for s in sources if s.startswith(("http:", "https:", "//"))]
    for asset in assets:
        response = await http.get(asset)
        assert response.status_code == 200, asset
        assert len(response.content) > 0
    # the files are the vendored GraphiQL and React, with their licences beside them
    for name in ("LICENSE-graphiql", "LICENSE-react", "LICENSE-react-dom"):
        assert "MIT" in (await http.get(f"/static/graphiql/{name}")).text
