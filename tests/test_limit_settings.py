"""Every limit the service enforces is a setting, and docs/production.md lists each one,
so an operator finds every limit in one table."""

from __future__ import annotations

from pathlib import Path

from app.config import Settings

PRODUCTION = Path(__file__).resolve().parents[1] / "docs" / "production.md"

# Limits whose names do not say so (a limit's name starts with MAX_ or RATE_LIMIT_PER_,
# or ends with _TIMEOUT_SECONDS).
OTHER_LIMITS = frozenset(
    {
        "default_page_size",
        "heavy_query_work",
        "table_rows_seconds",
        "answer_slice_seconds",
        "view_wait_seconds",
        "views_reserved_for_partners",
        "view_idle_seconds",
        "subscription_buffer",
        "download_link_seconds",
        "persisted_operations_only",
        "introspection",
        "graphiql",
        "field_suggestions",
    }
)


def limit_settings() -> list[str]:
    return [
        name
        for name in Settings.model_fields
        if name.startswith(("max_", "rate_limit_per_"))
        or name.endswith("_timeout_seconds")
        or name in OTHER_LIMITS
    ]


def test_every_limit_setting_is_in_the_production_docs() -> None:
    text = PRODUCTION.read_text(encoding="utf-8")
    missing = [name.upper() for name in limit_settings() if f"`{name.upper()}`" not in text]
    assert missing == []


def test_the_limits_are_found() -> None:
    names = limit_settings()
    # The walk sees limits of each kind: the document's, the transport's, the views'.
    assert {"max_query_depth", "max_body_bytes", "max_views", "rate_limit_per_key"} <= set(names)
    assert set(OTHER_LIMITS) <= set(names)  # each extra is still a setting
