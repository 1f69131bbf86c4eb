"""Faults against a real PostgreSQL restarted under a running service.

The package runs a PostgreSQL cluster of its own (conftest.py: initdb in a temporary
directory, a free port), never the shared server: the tests stop and start it while a real server
process of the service keeps running on it. What users rely on across such a restart:

- /readyz says "unready" at once while the database is away and "ready" again when it
  is back, without the service being restarted; /healthz stays up;
- a request meanwhile gets a clear error with a stable code (BUSY: retry shortly),
  never a crash or anything of the database's internals;
- no write acknowledged to a client is lost; a write in flight either commits or fails
  with that clear error, and a retry with its idempotency key applies it exactly once;
- a subscriber resuming from its last cursor gets every change it missed, without gap.

And a database that takes connections but never answers is waited for only as long
as the engine's connect timeout: the service says unready and BUSY, it does not hang.

The cluster needs PostgreSQL's server binaries (TEST_POSTGRES_BIN, else the newest
/usr/lib/postgresql/*/bin, else initdb on PATH). PostgreSQL refuses to run as root, so
as root the cluster runs as the `postgres` OS user (runuser). Without them the package is
skipped with its reason, except in CI (`CI=true`), where that is a failure.
"""
