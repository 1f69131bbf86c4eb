"""The pages' languages: labels from gettext catalogues, numbers and dates per locale
(Babel's CLDR data).

English is the language the templates are written in; every other language is one
catalogue, `locales/<locale>/LC_MESSAGES/pages.po`, read and compiled when the app
starts (no build step, no compiled file committed). A person's language is the one
they chose with the switch (a cookie), else the best match of their browser's
`Accept-Language`, else English.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

from babel import Locale, UnknownLocaleError
from babel.core import get_global
from babel.dates import format_date, format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_decimal, format_percent
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).parent / "locales"
DOMAIN = "pages"
DEFAULT = "en"
LANGUAGE_COOKIE = "pl_lang"
# Accept-Language headers longer than this are not read (the default applies).
MAX_ACCEPT_LANGUAGE = 512


@cache
def available() -> dict[str, str]:
    """Locale identifier (as in a `lang` attribute: `zh-Hans`) → Babel's (`zh_Hans`)."""
    found = {DEFAULT: DEFAULT}
    for folder in sorted(LOCALES_DIR.iterdir()) if LOCALES_DIR.is_dir() else []:
        if (folder / "LC_MESSAGES" / f"{DOMAIN}.po").is_file():
            found[folder.name.replace("_", "-")] = folder.name
    return found


@cache
def translations(tag: str) -> NullTranslations:
    """The compiled catalogue of `tag` (English: the templates' own words)."""
    name = available().get(tag)
    if name is None or name == DEFAULT:
        return NullTranslations()
    with (LOCALES_DIR / name / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as po:
        catalog = read_po(po, locale=name, domain=DOMAIN)
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    return Translations(compiled, domain=DOMAIN)


def choose(cookie: str | None, accept_language: str | None) -> str:
    """The language of a request: the switch's choice, else the browser's best match."""
    tags = available()
    if cookie in tags:
        return cookie
    if not accept_language or len(accept_language) > MAX_ACCEPT_LANGUAGE:
        return DEFAULT
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        wanted.append((-quality, position, tag.strip()))
    for _, _, tag in sorted(wanted):
        match = _match(tag, tags)
        if match is not None:
            return match
    return DEFAULT


def _match(tag: str, tags: dict[str, str]) -> str | None:
    """The available language a browser's tag means: `zh-CN`, `zh-SG`, `zh-Hans` and
    plain `zh` mean Simplified Chinese (Babel's likely subtags say so); `zh-TW` does not."""
    try:
        locale = Locale.parse(tag.replace("-", "_"))
    except (UnknownLocaleError, ValueError, TypeError):
        return None
    for available_tag, name in tags.items():
        candidate = Locale.parse(name)
        if candidate.language != locale.language:
            continue
        script = locale.script or _likely_script(locale)
        if (candidate.script or _likely_script(candidate)) == script:
            return available_tag
    return None


def _likely_script(locale: Locale) -> str | None:
    """The script a tag without one is written in (CLDR's likely subtags: zh → Hans)."""
    likely = get_global("likely_subtags")
    found = likely.get(str(locale)) or likely.get(locale.language)
    try:
        return Locale.parse(found).script if found else None
    except (UnknownLocaleError, ValueError):
        return None


@dataclass(frozen=True)
class Formats:
    """Numbers and dates as the page's language writes them. Amounts keep every digit
    the API gave (no rounding): the figure shown is the figure stored."""

    tag: str

    @property
    def locale(self) -> str:
        return available()[self.tag]

    def number(self, value: Decimal | str | int | None) -> str:
        if value is None:
            return "—"
        return format_decimal(Decimal(value), locale=self.locale, decimal_quantization=False)

    def percent(self, value: Decimal | str | None) -> str:
        if value is None:
            return "—"
        return format_percent(
            Decimal(value), format="#,##0.#%", locale=self.locale, decimal_quantization=True
        )

    def date(self, value: date | str | None) -> str:
        if value is None:
            return "—"
        day = date.fromisoformat(value) if isinstance(value, str) else value
        return format_date(day, format="medium", locale=self.locale)

    def moment(self, value: datetime | str | None) -> str:
        if value is None:
            return "—"
        when = datetime.fromisoformat(value) if isinstance(value, str) else value
        return format_datetime(when, format="medium", tzinfo=when.tzinfo, locale=self.locale)
