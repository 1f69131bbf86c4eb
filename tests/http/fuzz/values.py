"""What the fuzzer draws from: the schema as the app serves it, hostile text, IDs,
cursors and numbers in other spellings, and leaf values that reach past validation and
that do not."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import graphql
from hypothesis import strategies as st
from hypothesis_graphql import nodes

from app.config import Settings
from app.graphql.schema import build_schema as build_app_schema
from app.kit.ids import encode_global_id

ROOT = Path(__file__).resolve().parents[3]
JSON = "application/json"
SPEC = "application/graphql-response+json"


SCHEMA = graphql.build_schema(str(build_app_schema(Settings())))
NODE = SCHEMA.type_map["Node"]
assert isinstance(NODE, graphql.GraphQLInterfaceType)
NODE_TYPES = sorted(t.name for t in SCHEMA.get_implementations(NODE).objects)
# Subscriptions are generated as queries of a schema whose root is `Subscription`.
SUBSCRIPTION_SCHEMA = graphql.GraphQLSchema(
    query=SCHEMA.subscription_type,
    types=[t for name, t in SCHEMA.type_map.items() if not name.startswith("__")],
)
INITIATIVE_CODES = [f"CP-{n:02d}" for n in range(1, 11)]
PARTNER_CODES = INITIATIVE_CODES[:2]

# (The leaves below draw from these. Each must be refused with a code, or stored and
# answered exactly: app/kit/text.py, app/kit/numbers.py.)

# Characters that cannot be stored (NUL), hide text (controls), reorder it (bidi
# controls), are invisible (zero-width, BOM, soft hyphen, tags, no-break space), or
# are digits of another script.
HOSTILE_CHARACTERS = [
    "\x00",
    "\x1b[8m",
    "\x85",
    "\u2028",
    *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c",
    *"\u200b\u200c\u200d\u2060\ufeff\u00ad\u180e\u00a0\u3000",
    "\U000e0041",
    "\uff11\uff10",  # full-width "10"
    "\u0661\u0660",  # Arabic-Indic "10"
]


def _hostile_text() -> st.SearchStrategy[str]:
    """A hostile character alone, or put before, inside or after a plausible value."""
    plausible = st.sampled_from([*INITIATIVE_CODES, "CNY", "Alibaba Group", "共同富裕", ""])
    character = st.sampled_from(HOSTILE_CHARACTERS)

    def splice(value: str, inserted: str, at: int) -> str:
        at = min(at, len(value))
        return value[:at] + inserted + value[at:]

    return st.one_of(character, st.builds(splice, plausible, character, st.integers(0, 12)))


# Lone surrogates: JSON can escape them ("\ud800"), a GraphQL document cannot hold them
# and an HTTP client cannot encode them, so they are sent in variables only.
LONE_SURROGATES = st.builds(
    lambda value, surrogate: value + chr(surrogate),
    st.sampled_from(["", "CP-01", "SW5pdGlhdGl2ZTox"]),
    st.integers(0xD800, 0xDFFF),
)


def _aliased_ids() -> st.SearchStrategy[str]:
    """Other spellings of real IDs: leading zeros, signs, spaces, underscores, other
    digits, padding."""
    arabic_indic = str.maketrans(
        "0123456789", "\u0660\u0661\u0662\u0663\u0664\u0665\u0666\u0667\u0668\u0669"
    )
    spellings = [
        "0{}".format,
        "+{}".format,
        " {}".format,
        "{} ".format,
        "{}_0".format,
        lambda pk: str(pk).translate(arabic_indic),
    ]

    def alias(type_name: str, pk: int, spell: Callable[[int], str]) -> str:
        text = f"{type_name}:{spell(pk)}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    canonical = st.builds(encode_global_id, st.sampled_from(NODE_TYPES), st.integers(1, 60))
    return st.one_of(
        st.builds(
            alias, st.sampled_from(NODE_TYPES), st.integers(1, 60), st.sampled_from(spellings)
        ),
        canonical.map(lambda c: c + "=" * (-len(c) % 4 or 4)),  # padded
    )


def _aliased_cursors() -> st.SearchStrategy[str]:
    """Other spellings of cursors of lists and of the change log."""
    return st.builds(
        lambda prefix, spelling, n: base64.urlsafe_b64encode(
            f"{prefix}{spelling.format(n)}".encode()
        ).decode(),
        st.sampled_from(["pos:", "change:"]),
        st.sampled_from(["0{}", "+{}", " {}", "{}_0", "{}\u00a0"]),
        st.integers(0, 400),
    )


# Decimals in spellings JSON does not write: Decimal() alone would read most of them.
NON_CANONICAL_DECIMALS = st.sampled_from(
    [
        "\uff11\uff10",
        "\u0661\u0660",
        "1_0",
        " 1",
        "1 ",
        "+1",
        "01",
        ".5",
        "1.",
        "1e",
        "0x10",
        "-",
        "1e+",
    ]
)


def _global_ids() -> st.SearchStrategy[str]:
    real = st.builds(encode_global_id, st.sampled_from(NODE_TYPES), st.integers(1, 60))
    odd = st.sampled_from(
        [
            encode_global_id("Initiative", 0),
            encode_global_id("Initiative", -1),
            encode_global_id("Initiative", 2**31),
            encode_global_id("Initiative", 2**70),
            encode_global_id("NoSuchType", 1),
            base64.urlsafe_b64encode(b"Initiative:").decode(),
            base64.urlsafe_b64encode(b"\xff\xfe:1").decode(),
            "",
            "=",
            "x" * 300,
        ]
    )
    return st.one_of(real, odd, _aliased_ids(), st.text(max_size=20))


CURSORS = st.one_of(
    st.integers(-3, 400).map(lambda n: base64.urlsafe_b64encode(f"pos:{n}".encode()).decode()),
    st.sampled_from(["", "pos:1", base64.urlsafe_b64encode(b"pos:x").decode(), "%%%"]),
    _aliased_cursors(),
)
TEXT = st.one_of(
    st.sampled_from(
        [
            *INITIATIVE_CODES,
            "CNY",
            "USD",
            "EUR",
            "JPY",
            "RMB",
            "XXX",
            "cny",
            "CN",
            "CN-ZJ",
            "rural-residents",
            "farmers",
            "en",
            "zh",
            "news-article",
            "https://example.org/a",
            "2022-01-01",
            "%",
            "_",
            "\\",
            "'",
            "' OR 1=1 --",
            "'; DROP TABLE initiatives; --",
            "\x00",
            "\u202e",
            "e\u0301",
            "x" * 5000,
        ]
    ),
    CURSORS,
    _global_ids(),
    st.text(max_size=30),
    _hostile_text(),
)
INTS = st.one_of(st.integers(-3, 120), st.integers(-(2**31), 2**31 - 1))
DAYS = st.dates().map(lambda d: d.isoformat())
NEAR_DAYS = st.dates(datetime(2015, 1, 1).date(), datetime(2035, 12, 31).date()).map(str)
MOMENTS = st.one_of(
    st.datetimes(datetime(2019, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat()
    ),
    st.datetimes(datetime(2019, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat()
    ),
    st.one_of(
        st.datetimes().map(lambda d: d.isoformat()),  # no timezone
        st.sampled_from(["now", "2024-02-30T00:00:00Z", "0001-01-01T00:00:00+00:00"]),
    ),
)
# Mostly values of the scalar's own form, so that operations reach the resolvers; the
# rest are malformed, out of range or of another form.
DECIMALS = st.one_of(
    st.decimals(-(10**9), 10**9, places=2).map(str),
    st.decimals(-(10**9), 10**9, places=2).map(str),
    st.one_of(
        st.decimals().map(str),  # NaN, Infinity, huge exponents
        st.sampled_from(["1e999999999", "-0", "0.000000000000000000001", "9" * 70, "1,5", ""]),
        NON_CANONICAL_DECIMALS,
    ),
)
SCALARS: dict[str, st.SearchStrategy[graphql.ValueNode]] = {
    "String": TEXT.map(nodes.String),
    "ID": _global_ids().map(nodes.String),
    "Int": INTS.map(nodes.Int),
    "Date": st.one_of(NEAR_DAYS, NEAR_DAYS, NEAR_DAYS, st.one_of(DAYS, st.text(max_size=12))).map(
        nodes.String
    ),
    "DateTime": MOMENTS.map(nodes.String),
    "Decimal": st.one_of(
        DECIMALS.map(nodes.String),
        DECIMALS.map(nodes.String),
        st.one_of(
            st.integers().map(nodes.Int),
            st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float),
        ),
    ),
    "JSON": st.one_of(
        TEXT.map(nodes.String),
        INTS.map(nodes.Int),
        st.lists(INTS.map(nodes.Int), max_size=3).map(lambda items: nodes.List([*items])),
    ),
}
# Random JSON for variables: mostly of the wrong type for whatever it is bound to.
JSON_VALUES = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        INTS,
        st.integers(),
        st.floats(),
        TEXT,
        LONE_SURROGATES,
    ),
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
