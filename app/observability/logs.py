"""Logs: one JSON object per line on stderr, or lines for people to read (LOG_FORMAT).

Every record goes through the root logger's one handler, whichever library made it: the
app's `logging.getLogger(...)` loggers, uvicorn's, SQLAlchemy's, and structlog's own
(`structlog.get_logger()`). Each line carries `timestamp` (UTC, ISO 8601), `level`,
`logger` and `event` (the message), the `request_id` of the request it was logged in
(bound by `RequestIdMiddleware`), and a logged exception's traceback as one string,
`exception`.
"""

from __future__ import annotations

import logging.config
import sys
from typing import Any, Literal

import structlog
from structlog.typing import EventDict, Processor, WrappedLogger

LogFormat = Literal["json", "text"]

# The keys a JSON line starts with, in this order; any others follow.
_LEADING_KEYS = ("timestamp", "level", "logger", "event", "request_id")

# uvicorn's loggers: their records go up to the root handler, in the same format.
_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def _shared_processors() -> list[Processor]:
    """What every record gains, from the standard library or from structlog."""
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True, key="timestamp"),
    ]


def _leading_keys_first(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    ordered = {key: event_dict.pop(key) for key in _LEADING_KEYS if key in event_dict}
    ordered.update(event_dict)
    return ordered


def formatter(log_format: LogFormat = "json") -> logging.Formatter:
    """The formatter of the root handler (logging's dictConfig calls it by name)."""
    configure_structlog()
    renderer: list[Processor]
    if log_format == "json":
        renderer = [
            structlog.processors.format_exc_info,
            _leading_keys_first,
            structlog.processors.JSONRenderer(),
        ]
    else:
        renderer = [structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())]
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=_shared_processors(),
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *renderer],
    )


def configure_structlog() -> None:
    """structlog's loggers hand their events to the standard library's handlers, so
    they come out through the same formatter as everything else."""
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *_shared_processors(),
            structlog.stdlib.PositionalArgumentsFormatter(),
            structlog.processors.StackInfoRenderer(),
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def logging_config(level: str = "INFO", log_format: LogFormat = "json") -> dict[str, Any]:
    """A `logging.config.dictConfig` configuration: one handler on stderr, at the root.

    `pledge-ledger serve` gives it to uvicorn, which applies it again in each worker
    process; the formatter is named by import path for that reason."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {
            "structured": {"()": f"{__name__}.formatter", "log_format": log_format},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "formatter": "structured",
            },
            # SQL_ECHO: SQLAlchemy adds a plain handler of its own to a logger without
            # one; this keeps its records to the root handler's format.
            "none": {"class": "logging.NullHandler"},
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            **{name: {"handlers": [], "propagate": True} for name in _UVICORN_LOGGERS},
            "sqlalchemy.engine.Engine": {"handlers": ["none"], "propagate": True},
        },
    }


def configure_logging(level: str = "INFO", log_format: LogFormat = "json") -> None:
    """Log every record at `level` or above to stderr, in `log_format`."""
    logging.config.dictConfig(logging_config(level, log_format))
