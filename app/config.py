"""Settings, read once from the environment (and an optional `.env` file)."""

from __future__ import annotations

import base64
import json
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]
# The roles' names (app/auth/roles.py's Role), for the settings that name roles: the
# settings sit below every domain and import none (tests/test_settings_layer.py keeps
# the two lists equal).
ROLE_NAMES = ("viewer", "auditor", "editor", "partner", "admin")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    # A SQLite file in the working directory keeps the demo self-contained;
    # production points this at `postgresql+asyncpg://user:pass@host/db`.
    database_url: str = "sqlite+aiosqlite:///./pledge_ledger.db"
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    # Echo every SQL statement to the log; for debugging only.
    sql_echo: bool = False
    # --- Read replica (app/replicas/service.py) ---
    # A streaming replica of DATABASE_URL (PostgreSQL only): queries' live reads, reports,
    # CSV downloads and the IATI export are answered there; writes, subscriptions,
    # asOf and partner views stay on the primary. Unset: everything reads the primary.
    read_replica_url: str | None = None
    # A request sending `X-Min-Sequence: N` (the `sequence` a mutation returned) waits
    # this long at most for the replica to replay entry N, then reads the primary.
    replica_wait_seconds: float = Field(default=2.0, ge=0, le=60)

    # --- Observability (app/observability/) ---
    # Logs on stderr: one JSON object per line ("json"), or lines for people ("text").
    log_format: Literal["json", "text"] = "json"
    # Prometheus metrics at /metrics. Serve them on an internal network only, or set
    # METRICS_TOKEN: scrapers must then send `Authorization: Bearer <token>`.
    metrics_enabled: bool = True
    metrics_token: SecretStr | None = None
    # FastAPI's own OpenTelemetry spans and HTTP metrics, for a process that sets up an
    # OpenTelemetry SDK (`opentelemetry-instrument`, say). Off, FastAPI does not look
    # for one at every request (3-4 µs of a kept read's ~200, bench/request_cpu.py).
    opentelemetry: bool = False
    # --- end of observability ---

    # Relay pagination: the page size when a client gives none, and the cap.
    default_page_size: int = Field(default=20, ge=1, le=1000)
    max_page_size: int = Field(default=500, ge=1, le=10_000)
    # Filters nest (and/or/not, across relations); deeper trees are refused.
    max_filter_depth: int = Field(default=8, ge=1, le=64)
    # The most values one `in` list may carry, and one whole filter tree.
    max_filter_list: int = Field(default=500, ge=1, le=10_000)
    max_filter_terms: int = Field(default=2000, ge=1, le=30_000)
    # The most groups a report may aggregate into; more is an error, not a cut.
    max_report_groups: int = Field(default=10_000, ge=1, le=1_000_000)

    # Limits every operation meets before it runs (see app/graphql/extensions/limits.py).
    # Each Relay list takes three levels (list, edges, node); the cost budget bounds the work.
    max_query_depth: int = Field(default=24, ge=1, le=100)
    max_aliases: int = Field(default=30, ge=0, le=1000)
    max_tokens: int = Field(default=5000, ge=100, le=100_000)
    # Fields one operation selects once its fragments are spread where they are used: a
    # fragment spread twice in a fragment spread twice ... multiplies them.
    max_fields: int = Field(default=10_000, ge=100, le=1_000_000)
    # Times one response name may be selected in one merged selection set (its fragments,
    # and below a field every field of that name, merged): validation compares each two.
    max_same_field: int = Field(default=10, ge=1, le=100)
    # The most objects an operation could return, estimated from its page sizes.
    max_query_cost: int = Field(default=200_000, ge=1)
    # Work: the objects plus the rows its reports, aggregates and figures read, from
    # each table's row count (app/graphql/extensions/work.py). More is refused (QUERY_TOO_COSTLY).
    max_query_work: int = Field(default=5_000_000, ge=1)
    # An operation of more work is heavy: one caller (key, token subject, or anonymous
    # address) runs at most MAX_HEAVY_PER_CALLER at once; more is refused with BUSY.
    heavy_query_work: int = Field(default=100_000, ge=1)
    max_heavy_per_caller: int = Field(default=2, ge=1, le=1000)
    # Live queries (no asOf, not a partner's) one caller runs at once: each holds a pooled
    # connection while it runs, so this stays below the pool's POOL_SIZE (10) and one
    # caller cannot take every connection; one more is refused BUSY at once
    # (app/graphql/extensions/query_slots.py).
    max_queries_per_caller: int = Field(default=8, ge=1, le=1000)
    # Row counts are asked of the database at most this often, per process.
    table_rows_seconds: float = Field(default=5.0, ge=0, le=3600)
    # Answers being built hold the event loop at most about this long per turn before
    # other requests run (app/kit/pacing.py). Shorter: a small query waits less behind a
    # large answer; longer: a large answer's loader batches are cut less often.
    answer_slice_seconds: float = Field(default=0.005, ge=0.001, le=1.0)
    # Views (asOf and partner reads, app/views/views.py) each hold a database connection
    # of their own, outside the pool: at most this many at once per process, so they cannot
    # use up the database's connections. A request that waits longer than
    # `view_wait_seconds` for one is refused with BUSY (app/views/pool.py).
    max_views: int = Field(default=8, ge=1, le=1000)
    view_wait_seconds: float = Field(default=10.0, ge=0, le=600)
    # asOf and partner operations one caller (an API key, a token's subject, or an
    # anonymous client address) may run at once; one more is refused BUSY at once.
    max_views_per_caller: int = Field(default=2, ge=1, le=1000)
    # Of `max_views`, this many only partners' operations may take: no amount of asOf
    # traffic from other callers keeps partners waiting.
    views_reserved_for_partners: int = Field(default=2, ge=0, le=999)
    # A partner's live view is kept for the next request of the same initiatives while the
    # ledger has not moved; unused this long, it is closed (0: closed after each request).
    view_idle_seconds: float = Field(default=60.0, ge=0, le=3600)
    # Queries of the shapes the compiled read path knows (lists, their nested lists,
    # columns and money; app/graphql/compiled/) are answered with one SQL statement per
    # level of lists, without graphql-core's field-by-field execution; the answer is the
    # same either way. Off: every query runs through the reference executor.
    compiled_reads: bool = True
    # POST /graphql with a JSON body is served by a short way in (app/http/lean.py) that
    # calls what the router calls, without FastAPI's routing and strawberry's request
    # adapters; the answer is the same either way. Off: every request goes the router's way.
    lean_graphql_http: bool = True
    # WebSocket connections to /graphql are handed to the router's handler by a short
    # way in (app/http/lean.py `LeanGraphQLSocket`), without FastAPI's routing layers
    # held open for each connection's life; the protocol is the same either way.
    lean_graphql_ws: bool = True
    # A live `changes` subscriber over graphql-transport-ws whose events its group writes
    # straight to its socket is kept as a small record without its task and generator
    # (app/graphql/subscriptions/sharing.py `DirectQueue`; its credential re-checked by
    # its connection); it runs again from its last event whenever it needs them. The
    # events are the same either way. Off: every subscription keeps its task.
    park_subscribers: bool = True
    # On that short way, a query the compiled path answered whole is kept with what its
    # document's rules decided, and asked again it runs only the rules that depend on
    # the request (app/http/kept.py); the answer is the same either way. Off: every
    # operation runs through strawberry's execution.
    kept_operations: bool = True
    # On PostgreSQL, the compiled path's answer written as JSON by the database in one
    # statement (app/graphql/compiled/in_database.py); false: built in Python from rows.
    compiled_reads_in_database: bool = True

    # --- HTTP surface of /graphql (app/http/) ---
    # GraphiQL, introspection and "Did you mean ...?" hints describe the schema to anyone
    # who asks: off unless asked for. `make serve` turns all three on for the demo.
    graphiql: bool = False
    introspection: bool = False
    field_suggestions: bool = False
    # Origins whose pages may call the service from a browser (CORS); JSON or
    # comma-separated, "*" for any. Empty: no CORS headers, only same-origin pages.
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Larger request bodies are refused (413) before they are read in full, and larger
    # WebSocket messages close their connection (1009).
    max_body_bytes: int = Field(default=1_048_576, ge=1024, le=64 * 1_048_576)
    # A request's head (request line and headers) must arrive within this many seconds of
    # its first byte (or of the connection), else the connection is closed; its body may
    # keep the service waiting this long in all, else 408. The head's deadline and size
    # are `pledge-ledger serve`'s (app/http/server.py); the body's hold under any server.
    request_read_timeout_seconds: float = Field(default=10.0, ge=0.1, le=600)
    # A larger request head is answered 431 (`pledge-ledger serve`).
    max_header_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    # Root fields (response keys) one operation may select.
    max_root_fields: int = Field(default=20, ge=1, le=1000)
    # A query or mutation still running after this is stopped (TIMEOUT); subscriptions
    # are long-lived by design and have no such limit.
    execution_timeout_seconds: float = Field(default=30.0, ge=0.01, le=3600)
    # A client told BUSY (503) is asked to wait this long before it tries again.
    retry_after_seconds: int = Field(default=5, ge=1, le=3600)
    # --- end of the HTTP surface ---

    # --- Persisted operations (app/http/persisted.py) ---
    # A manifest of registered documents (`pledge-ledger operations register`), which
    # clients may then send by their SHA-256 id. With PERSISTED_OPERATIONS_ONLY, nothing
    # else runs (an allow-list), except for the roles named in ..._EXEMPT_ROLES.
    persisted_operations_file: Path | None = None
    persisted_operations_only: bool = False
    persisted_operations_exempt_roles: Annotated[list[str], NoDecode] = Field(default_factory=list)

    # --- Rate limits (app/http/rate_limits.py) ---
    # Requests per client address (every request, before its credential is checked) and
    # per caller (an API key or a token's subject), in the `limits` notation:
    # "1200/minute", or several as "20/second;1200/minute". Empty: no such limit.
    # Behind a proxy, start uvicorn with --proxy-headers and FORWARDED_ALLOW_IPS, so that
    # the address is the client's, not the proxy's.
    rate_limit_per_address: str = "1200/minute"
    rate_limit_per_key: str = "600/minute"
    # Where the counts live: "memory" (each process counts alone) or "redis" (REDIS_URL;
    # every process shares them); "auto" is redis when REDIS_URL is set.
    rate_limit_storage: Literal["auto", "memory", "redis"] = "auto"

    # Live updates (app/events/). How processes tell each other that the log has grown:
    # "postgres" (LISTEN/NOTIFY), "redis" (pub/sub on REDIS_URL), "memory" (one process
    # only); "auto" is postgres on PostgreSQL and memory on SQLite. Whatever the broker,
    # each process also reads the log every `events_poll_seconds`, so a lost
    # notification delays an event by at most that, and never loses it.
    events_broker: Literal["auto", "memory", "postgres", "redis"] = "auto"
    redis_url: str | None = None
    events_poll_seconds: float = Field(default=2.0, ge=0.05, le=3600)
    # Events one subscriber may have waiting; past that its subscription ends with
    # SUBSCRIPTION_OVERFLOW (the client resumes from its last cursor), never a silent drop.
    subscription_buffer: int = Field(default=1000, ge=1, le=100_000)
    # Subscriptions open at once, per process and per WebSocket connection.
    max_subscriptions: int = Field(default=20_000, ge=1, le=1_000_000)
    max_subscriptions_per_connection: int = Field(default=20, ge=1, le=1000)
    # A WebSocket must send connection_init within this time, or it is closed (4408).
    ws_init_timeout_seconds: float = Field(default=10.0, ge=0.1, le=300)
    # Origins whose pages may open WebSockets (browsers send Origin); same-origin pages
    # and non-browser clients always may. JSON or comma-separated; "*" allows any.
    ws_allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # A WebSocket client that takes longer than this to accept one message is
    # disconnected (4408), so a stalled reader holds nothing for long.
    ws_send_timeout_seconds: float = Field(default=10.0, ge=0.1, le=600)
    # Webhooks (app/webhooks/). Deliveries to loopback, private, link-local, multicast
    # or reserved addresses are refused unless this is set (server-side request forgery);
    # tests and local receivers set it.
    webhook_allow_private_addresses: bool = False
    # Signing secrets are stored encrypted with this key (Fernet, 32 url-safe base64
    # bytes: `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key())"`),
    # never as they are. Several, comma-separated: the first seals, each opens (a change
    # of key: the new one first; the worker seals every secret again as it starts).
    # Unset: on a SQLite file, a key made once in a file beside it; on PostgreSQL no
    # endpoint can be registered (app/webhooks/secrets.py).
    webhook_secret_key: SecretStr | None = None
    # Webhook endpoints registered at most, in all and per API key (more are refused,
    # TOO_MANY_ENDPOINTS): each costs every worker's poll and the admin list their rows.
    max_webhook_endpoints: int = Field(default=1000, ge=1, le=100_000)
    max_webhook_endpoints_per_key: int = Field(default=100, ge=1, le=100_000)
    # Attempts per event before it is dead-lettered and its endpoint paused; the waits
    # between them grow from the first, doubling (with jitter), up to the last.
    webhook_max_attempts: int = Field(default=8, ge=1, le=50)
    webhook_retry_first_seconds: float = Field(default=5.0, ge=0.001, le=3600)
    webhook_retry_last_seconds: float = Field(default=3600.0, ge=0.001, le=86_400)
    # One request's deadline (connect, send, read the capped answer).
    webhook_timeout_seconds: float = Field(default=10.0, ge=0.1, le=120)
    # Run the delivery worker in this process (each `serve` process shares the work).
    webhook_worker: bool = True
    # How often the worker looks for work without news of a commit, and how long a
    # process holds an endpoint it is delivering to (another takes over after that).
    webhook_poll_seconds: float = Field(default=2.0, ge=0.01, le=3600)
    webhook_lease_seconds: float = Field(default=60.0, ge=1, le=3600)
    # Endpoints one process delivers to at once.
    webhook_concurrency: int = Field(default=16, ge=1, le=1000)

    # The legacy `graphql-ws` sub-protocol (subscriptions-transport-ws); off unless asked.
    ws_legacy_protocol: bool = False
    # A live report waits this long after a change for more before it recomputes.
    report_coalesce_seconds: float = Field(default=0.5, ge=0, le=60)
    # Long-lived connections re-check their credential this often: a revoked key or an
    # expired token ends its subscriptions (UNAUTHENTICATED).
    subscription_recheck_seconds: float = Field(default=60.0, ge=1, le=3600)

    # Whether callers without credentials may read. Off unless asked for: the demo
    # (`make serve`) turns it on; production keeps it off. When on, they may also
    # download the reports as CSV: the same public figures in another format.
    anonymous_read: bool = False

    # Signed download links (app/auth/links.py): a CSV download's URL that carries its
    # own short-lived credential, for browsers, which cannot send a header with a link.
    # The secret signs them; every process of one service must share it (at least 32
    # bytes). Unset: each process makes its own at start, so a link works only on the
    # process that made it: enough for one process, and `serve --workers N` refuses it.
    download_link_secret: SecretStr | None = None
    # How long a link works after it is made.
    download_link_seconds: int = Field(default=300, ge=10, le=86_400)

    # JWT bearer tokens from an identity provider (app/auth/tokens.py). Off unless the
    # issuer, audience and key are all set. The key is the HMAC secret (HS*) or the
    # issuer's PEM public key (RS*, PS*, ES*, EdDSA).
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_key: SecretStr | None = None
    # JSON or comma-separated: JWT_ALGORITHMS=RS256,ES256
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(default_factory=lambda: ["RS256"])
    # The claim naming the caller's role, and (partners) the initiative codes it may see.
    # A claim name with dots that is not itself a claim is read as a path (realm.roles).
    jwt_role_claim: str = "role"
    jwt_initiatives_claim: str = "initiatives"
    # Clock skew tolerated on exp/nbf/iat.
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)

    @field_validator("webhook_secret_key")
    @classmethod
    def _fernet_key(cls, value: SecretStr | None) -> SecretStr | None:
        # Fernet keys, comma-separated: each 32 bytes in URL-safe base64
        # (app/webhooks/secrets.py seals with the first).
        if value is None or not value.get_secret_value().strip():
            return None
        for key in value.get_secret_value().split(","):
            try:
                raw = base64.urlsafe_b64decode(key.strip().encode())
            except ValueError:
                raw = b""
            if len(raw) != 32:
                raise ValueError(
                    "WEBHOOK_SECRET_KEY must be a Fernet key (32 bytes in URL-safe base64), "
                    "or several, comma-separated"
                )
        return value

    @model_validator(mode="after")
    def _endpoint_caps_agree(self) -> Settings:
        if self.max_webhook_endpoints_per_key > self.max_webhook_endpoints:
            raise ValueError("MAX_WEBHOOK_ENDPOINTS_PER_KEY must not exceed MAX_WEBHOOK_ENDPOINTS")
        return self

    @field_validator("database_url")
    @classmethod
    def _async_driver(cls, value: str) -> str:
        # The service is async end to end; a sync driver would block the event loop.
        if value.startswith("postgresql://") or value.startswith("postgres://"):
            return "postgresql+asyncpg://" + value.split("://", 1)[1]
        if value.startswith("sqlite://") and not value.startswith("sqlite+aiosqlite://"):
            value = "sqlite+aiosqlite://" + value.split("://", 1)[1]
        if not value.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError(
                "must be sqlite+aiosqlite:///<file> or postgresql+asyncpg://user:pass@host/db"
            )
        from sqlalchemy import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except (ArgumentError, ValueError):
            raise ValueError(
                "is not a database URL (postgresql+asyncpg://user:pass@host/db)"
            ) from None
        return value

    @field_validator("read_replica_url")
    @classmethod
    def _replica_is_postgres(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not value.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
            raise ValueError("must be a PostgreSQL URL (postgresql://user:pass@host/db)")
        return cls._async_driver(value)

    @model_validator(mode="after")
    def _replica_of_postgres(self) -> Settings:
        if self.read_replica_url is not None and not self.database_url.startswith("postgresql"):
            raise ValueError("READ_REPLICA_URL needs a PostgreSQL DATABASE_URL (its primary)")
        return self

    @field_validator(
        "jwt_algorithms",
        "ws_allowed_origins",
        "cors_origins",
        "persisted_operations_exempt_roles",
        mode="before",
    )
    @classmethod
    def _algorithm_list(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("download_link_secret")
    @classmethod
    def _link_secret_is_long(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value().encode("utf-8")) < 32:
            raise ValueError("must have at least 32 bytes (e.g. `openssl rand -hex 32`)")
        return value

    @model_validator(mode="after")
    def _page_sizes_agree(self) -> Settings:
        if self.default_page_size > self.max_page_size:
            raise ValueError("DEFAULT_PAGE_SIZE must not exceed MAX_PAGE_SIZE")
        if self.heavy_query_work > self.max_query_work:
            raise ValueError("HEAVY_QUERY_WORK must not exceed MAX_QUERY_WORK")
        return self

    @field_validator("max_queries_per_caller")
    @classmethod
    def _below_the_pool(cls, value: int) -> int:
        from app.db.session import POOL_SIZE

        if value >= POOL_SIZE:
            raise ValueError(
                f"MAX_QUERIES_PER_CALLER must be below the connection pool's size ({POOL_SIZE}): "
                "one caller's queries would otherwise hold every connection"
            )
        return value

    @model_validator(mode="after")
    def _views_leave_room_for_readers(self) -> Settings:
        if self.views_reserved_for_partners >= self.max_views:
            raise ValueError(
                "VIEWS_RESERVED_FOR_PARTNERS must be below MAX_VIEWS (asOf readers who are not "
                "partners need at least one view)"
            )
        return self

    @model_validator(mode="after")
    def _broker_is_usable(self) -> Settings:
        if self.events_broker == "redis" and not self.redis_url:
            raise ValueError("EVENTS_BROKER=redis needs REDIS_URL (e.g. redis://127.0.0.1:6379/0)")
        if self.events_broker == "postgres" and not self.database_url.startswith("postgresql"):
            raise ValueError("EVENTS_BROKER=postgres needs a PostgreSQL DATABASE_URL")
        return self

    @field_validator("rate_limit_per_address", "rate_limit_per_key")
    @classmethod
    def _rate_limit_notation(cls, value: str) -> str:
        from limits import parse_many

        value = value.strip()
        if value:
            try:
                parse_many(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit; write e.g. '600/minute' or "
                    "'20/second;600/minute'"
                ) from None
        return value

    @model_validator(mode="after")
    def _persisted_operations_are_usable(self) -> Settings:
        if self.persisted_operations_only and self.persisted_operations_file is None:
            raise ValueError("PERSISTED_OPERATIONS_ONLY needs PERSISTED_OPERATIONS_FILE")
        roles = set(ROLE_NAMES)
        unknown = sorted(set(self.persisted_operations_exempt_roles) - roles)
        if unknown:
            raise ValueError(
                f"PERSISTED_OPERATIONS_EXEMPT_ROLES: unknown roles {unknown}; "
                f"roles are {sorted(roles)}"
            )
        if self.rate_limit_storage == "redis" and not self.redis_url:
            raise ValueError("RATE_LIMIT_STORAGE=redis needs REDIS_URL")
        return self

    @property
    def rate_limit_backend(self) -> str:
        """Where rate-limit counts live ("auto" resolved)."""
        if self.rate_limit_storage != "auto":
            return self.rate_limit_storage
        return "redis" if self.redis_url else "memory"

    @property
    def broker(self) -> str:
        """The events broker in use ("auto" resolved)."""
        if self.events_broker != "auto":
            return self.events_broker
        return "postgres" if self.database_url.startswith("postgresql") else "memory"

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_issuer and self.jwt_audience and self.jwt_key)

    @model_validator(mode="after")
    def _jwt_is_safe(self) -> Settings:
        # Refuse at start-up what would let forged or unchecked tokens through.
        from app.kit.jwt_keys import verification_key

        if not self.jwt_role_claim or not self.jwt_initiatives_claim:
            raise ValueError("JWT_ROLE_CLAIM and JWT_INITIATIVES_CLAIM must not be empty")
        verification_key(
            self.jwt_algorithms,
            issuer=self.jwt_issuer,
            audience=self.jwt_audience,
            key=self.jwt_key.get_secret_value() if self.jwt_key else None,
        )
        return self


def setting_problems(exc: ValidationError) -> list[str]:
    """One line per setting the environment got wrong, naming it as it is set
    (PORT, not port). Never the value given: it may be a secret."""
    lines = []
    for error in exc.errors():
        message = error["msg"].removeprefix("Value error, ")
        if error["loc"]:
            lines.append(f"setting {str(error['loc'][0]).upper()}: {message}")
        else:  # a rule across settings, whose message names them
            lines.append(f"settings: {message}")
    return lines


@lru_cache
def get_settings() -> Settings:
    return Settings()
