"""Reading the pages as a test: their elements' attributes, their forms' tokens."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

import httpx


class _Elements(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found.append((tag, {k: v or "" for k, v in attrs}))


def elements(html: str, tag: str | None = None, **having: str) -> list[dict[str, str]]:
    """The attributes of every element (of `tag`) that has the attributes `having`
    (an underscore in a name stands for a hyphen: data_stage → data-stage; a value of
    "*" means any value)."""
    parser = _Elements()
    parser.feed(html)
    wanted = {k.replace("_", "-"): v for k, v in having.items()}
    return [
        attrs
        for name, attrs in parser.found
        if (tag is None or name == tag)
        and all(k in attrs and (v == "*" or attrs[k] == v) for k, v in wanted.items())
    ]


def one(html: str, tag: str | None = None, **having: str) -> dict[str, str]:
    found = elements(html, tag, **having)
    assert len(found) == 1, (tag, having, found)
    return found[0]


def csrf_of(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match is not None, "the page has no form with a CSRF token"
    return match.group(1)


async def sign_in(http: httpx.AsyncClient, key: str, next_page: str = "/") -> httpx.Response:
    """Signs the client's browser in as a person would: the form, then its post."""
    form = await http.get("/sign-in", params={"next": next_page})
    assert form.status_code == 200
    return await http.post(
        "/sign-in", data={"key": key, "csrf_token": csrf_of(form.text), "next": next_page}
    )


def figures(html: str, attribute: str, key: str) -> dict[str, Any]:
    """{element's `key` attribute: its `attribute`} for the elements that have both."""
    return {e[key]: e[attribute] for e in elements(html) if key in e and attribute in e}
