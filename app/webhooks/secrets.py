"""Signing secrets at rest: always sealed (Fernet), never stored as they are.

A secret must be recoverable to sign with, so it cannot be hashed; it is encrypted
under a key the database does not hold. Where the key comes from:

- `WEBHOOK_SECRET_KEY`: a Fernet key, or several comma-separated: the first seals,
  every one opens. To change the key, put the new one first and keep the old one
  after it until the worker, as it starts, has sealed every secret again.
- unset, on a SQLite file: a key made once, at first use, in a file beside the database
  (`<file>.webhook-key`, readable by its owner only), so the embedded default needs no
  setup. Once `WEBHOOK_SECRET_KEY` is set, that file's key still opens what it sealed
  (and the worker seals those secrets again under the key set).
- unset, on PostgreSQL: no key. Registering an endpoint or rotating a secret is refused
  (NOT_CONFIGURED, naming the setting), and the server warns as it starts.

A secret that no key opens (the key was changed or lost, or this process is not yet
given the key another sealed it under) is `SecretUnreadable`: the worker leaves the
endpoint's deliveries waiting, saying so in its last error, and `rotate` replaces it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets as random
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import select, update

from app.config import Settings
from app.db.session import SessionFactory, sqlite_file
from app.errors import DomainError, ErrorCode
from app.models import WebhookEndpoint

_log = logging.getLogger(__name__)

SEALED = "fernet:"
# What versions before secrets were always sealed stored without a key; opened still,
# sealed again as soon as a key is there (`seal_stored`).
PLAIN = "plain:"
KEY_FILE_SUFFIX = ".webhook-key"


class SecretUnreadable(Exception):
    """A stored secret no key at hand opens; the message says what to do."""


def key_file(settings: Settings) -> Path | None:
    """Where the embedded SQLite database's own key lives; None on another database."""
    path = sqlite_file(settings.database_url)
    return None if path is None else path.with_name(path.name + KEY_FILE_SUFFIX)


# The key files read, by path (read once per process).
_FILE_KEYS: dict[Path, bytes] = {}


def _file_key(path: Path, create: bool) -> bytes | None:
    """The key in `path`; made first (mode 0600) when `create` and there is none.
    Several processes starting at once agree on one: the file appears whole, by a
    hard link that fails when another process linked its own first."""
    if path in _FILE_KEYS:
        return _FILE_KEYS[path]
    if not path.exists():
        if not create:
            return None
        temporary = path.with_name(f".{path.name}.{random.token_hex(8)}")
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(descriptor, "wb") as out:
                out.write(Fernet.generate_key() + b"\n")
                out.flush()
                os.fsync(out.fileno())
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
                _log.info("webhooks: made the signing secrets' key in %s", path)
        finally:
            temporary.unlink(missing_ok=True)
    key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError:
        _log.warning("webhooks: %s holds no Fernet key: it is not used", path)
        return None
    _FILE_KEYS[path] = key
    return key


def _keys(settings: Settings, *, create: bool) -> list[bytes]:
    """The keys, the sealing one first; empty when there is none (PostgreSQL without
    WEBHOOK_SECRET_KEY)."""
    found: list[bytes] = []
    if settings.webhook_secret_key is not None:
        found = [
            k.strip().encode() for k in settings.webhook_secret_key.get_secret_value().split(",")
        ]
    path = key_file(settings)
    if path is not None:
        # Made only when nothing else seals; read whenever it is there.
        own = _file_key(path, create and not found)
        if own is not None and own not in found:
            found.append(own)
    return found


def can_seal(settings: Settings) -> bool:
    """Whether endpoints can be registered (a key is set, or the database is a file
    the key can be kept beside): the server warns as it starts when not."""
    return settings.webhook_secret_key is not None or key_file(settings) is not None


class SecretBox:
    """Seals secrets for the database, and opens them again."""

    def __init__(self, keys: list[bytes]) -> None:
        self._fernet = MultiFernet([Fernet(k) for k in keys]) if keys else None
        self._first = Fernet(keys[0]) if keys else None

    @classmethod
    def of(cls, settings: Settings) -> SecretBox:
        return cls(_keys(settings, create=True))

    def check(self) -> None:
        """Refuse (NOT_CONFIGURED) when there is no key to seal with."""
        if self._fernet is None:
            raise DomainError(
                "no key to seal signing secrets with: WEBHOOK_SECRET_KEY is not set "
                "(PostgreSQL needs it) and no key file beside a SQLite database holds a "
                "key (one that holds none is named in the server's log); secrets are "
                "only ever stored encrypted (docs/webhooks.md, Secrets): an operator "
                "must set it",
                code=ErrorCode.NOT_CONFIGURED,
            )

    def seal(self, secret: str) -> str:
        self.check()
        assert self._fernet is not None
        return SEALED + self._fernet.encrypt(secret.encode()).decode()

    def open(self, stored: str) -> str:
        if stored.startswith(PLAIN):
            return stored.removeprefix(PLAIN)
        if self._fernet is None:
            raise SecretUnreadable(
                "its signing secret is encrypted and WEBHOOK_SECRET_KEY is not set: set "
                "it to the key the secret was sealed with, or rotate the secret"
            )
        try:
            return self._fernet.decrypt(stored.removeprefix(SEALED).encode()).decode()
        except InvalidToken:
            raise SecretUnreadable(
                "its signing secret was sealed under a key this process's "
                "WEBHOOK_SECRET_KEY does not hold: a process given that key delivers; if "
                "the key is lost, rotate the secret"
            ) from None

    def readable(self, stored: str | None) -> bool:
        if stored is None:
            return False
        try:
            self.open(stored)
        except SecretUnreadable:
            return False
        return True

    def current(self, stored: str) -> bool:
        """Whether `stored` is sealed under the sealing key (nothing to do)."""
        if self._first is None or not stored.startswith(SEALED):
            return False
        try:
            self._first.decrypt(stored.removeprefix(SEALED).encode())
        except InvalidToken:
            return False
        return True

    def reseal(self, stored: str) -> str | None:
        """`stored` sealed under the sealing key; None when it is already, or when it
        cannot be opened or sealed."""
        if self._fernet is None or self.current(stored) or not self.readable(stored):
            return None
        return self.seal(self.open(stored))


async def seal_stored(sessions: SessionFactory, settings: Settings) -> None:
    """Seal again, under the sealing key, every stored secret that is not: those of
    older versions stored as they were, and those of a key put after a new one. Each
    row is changed only if it is as read (another process may be doing the same)."""
    async with sessions() as session, session.begin():
        rows = (
            await session.execute(
                select(WebhookEndpoint.id, WebhookEndpoint.secret, WebhookEndpoint.previous_secret)
            )
        ).all()
        # A SQLite file's own key is made here too when an older version left secrets
        # as they were (else they would stay so until a first registration made it).
        older = any(
            stored is not None and stored.startswith(PLAIN)
            for _, secret, previous in rows
            for stored in (secret, previous)
        )
        box = SecretBox(_keys(settings, create=older))
        sealed = plain = 0
        for endpoint_id, secret, previous in rows:
            for column, stored in (("secret", secret), ("previous_secret", previous)):
                if stored is None:
                    continue
                new = box.reseal(stored)
                if new is None:
                    plain += stored.startswith(PLAIN)
                    continue
                await session.execute(
                    update(WebhookEndpoint)
                    .where(
                        WebhookEndpoint.id == endpoint_id,
                        getattr(WebhookEndpoint, column) == stored,
                    )
                    .values({column: new})
                    .execution_options(synchronize_session=False)
                )
                sealed += 1
    if sealed:
        _log.info("webhooks: sealed %d signing secrets again under the sealing key", sealed)
    if plain:
        _log.warning(
            "webhooks: %d signing secrets are stored unencrypted (from an older version): "
            "set WEBHOOK_SECRET_KEY and restart to seal them",
            plain,
        )
