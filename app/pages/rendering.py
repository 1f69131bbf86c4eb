"""Templates, per language, and what every page shares: the language, the caller, the
controls (asOf, currency), the forms' CSRF token, the security headers."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from app.auth.principal import Principal
from app.auth.roles import Permission
from app.auth.sessions import CSRF_COOKIE, csrf_token, new_csrf_cookie
from app.pages import charts
from app.pages.i18n import LANGUAGE_COOKIE, Formats, available, choose, translations

TEMPLATES = Path(__file__).parent / "templates"

# Nothing a page needs comes from elsewhere, and nothing runs inline: no script at all,
# styles from the app's own file, forms posting only to the app.
PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
_CURRENCY = re.compile(r"[A-Za-z]{3}")


class BadControl(ValueError):
    """A control's value the page cannot use (answered 400 with the message)."""


@cache
def environment(tag: str) -> Environment:
    """The templates in language `tag`: one environment per language, as gettext's
    catalogue is installed on the environment."""
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        autoescape=select_autoescape(default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(translations(tag), newstyle=True)  # type: ignore[attr-defined]
    env.globals.update(
        length=charts.length,
        largest=charts.largest,
        position=charts.position,
        share_length=charts.share_length,
        span=charts.span,
        chart_width=charts.WIDTH,
    )
    return env


@dataclass(frozen=True)
class Controls:
    """The as-of date and currency a page is read with, from its query string."""

    as_of_date: date | None
    currency: str | None
    today: date

    @classmethod
    def of(cls, request: Request, now: datetime | None = None) -> Controls:
        today = (now or datetime.now(UTC)).date()
        raw_date = request.query_params.get("asOf") or None
        raw_currency = request.query_params.get("currency") or None
        day = None
        if raw_date is not None:
            try:
                if len(raw_date) != 10:
                    raise ValueError
                day = date.fromisoformat(raw_date)
            except ValueError:
                raise BadControl("the as-of date must be a date such as 2024-06-30") from None
            if day >= today:
                day = None  # today or later: the ledger as it is now
        if raw_currency is not None and not _CURRENCY.fullmatch(raw_currency):
            raise BadControl("the currency must be a three-letter ISO 4217 code, such as USD")
        return cls(day, raw_currency.upper() if raw_currency else None, today)

    @property
    def as_of(self) -> str | None:
        """The API's `asOf`: the end of the chosen day (UTC); None for now."""
        if self.as_of_date is None:
            return None
        end = datetime.combine(self.as_of_date + timedelta(days=1), datetime.min.time(), UTC)
        return (end - timedelta(microseconds=1)).isoformat().replace("+00:00", "Z")

    @property
    def as_of_day(self) -> date:
        """The day slippage and deadlines are judged on (the timeline's `asOfDate`)."""
        return self.as_of_date or self.today

    def query(self, **extra: str | None) -> str:
        """A query string keeping these controls (for links between pages)."""
        pairs = {
            "asOf": self.as_of_date.isoformat() if self.as_of_date else None,
            "currency": self.currency,
            **extra,
        }
        kept = [(k, v) for k, v in pairs.items() if v]
        return "?" + urlencode(kept) if kept else ""


def secure(request: Request) -> bool:
    return request.url.scheme == "https"


def language_of(request: Request) -> str:
    return choose(request.cookies.get(LANGUAGE_COOKIE), request.headers.get("accept-language"))


def render(
    request: Request,
    secret: bytes,
    template: str,
    *,
    principal: Principal | None,
    status: int = 200,
    **values: Any,
) -> Response:
    """The page `template` in the request's language, with a CSRF token for its forms
    (and the cookie it pairs with, when the browser has none yet)."""
    tag = language_of(request)
    csrf_cookie = request.cookies.get(CSRF_COOKIE)
    fresh = csrf_cookie is None or len(csrf_cookie) > 128
    if fresh:
        csrf_cookie = new_csrf_cookie()
    assert csrf_cookie is not None
    html = (
        environment(tag)
        .get_template(template)
        .render(
            lang=tag,
            languages=list(available()),
            t=Formats(tag),
            csrf=csrf_token(secret, csrf_cookie),
            caller=principal,
            signed_in=principal is not None and principal.via == "api-key",
            can_export=principal is not None and principal.can(Permission.EXPORT),
            here=request.url.path + (f"?{request.url.query}" if request.url.query else ""),
            **values,
        )
    )
    response = HTMLResponse(html, status_code=status)
    if fresh:
        response.set_cookie(
            CSRF_COOKIE, csrf_cookie, httponly=True, samesite="lax", secure=secure(request)
        )
    response.headers["Content-Language"] = tag
    headers(response)
    return response


def headers(response: Response, csp: str = PAGE_CSP) -> None:
    response.headers["Content-Security-Policy"] = csp
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
