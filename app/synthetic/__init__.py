"""Synthetic data at scale: `pledge-ledger generate`.

`generator`, `beneficiaries` and `finance` make the rows (deterministic: the same
arguments and seed give the same rows), `repository` writes them in bulk (COPY on
PostgreSQL, executemany on SQLite), `service` puts one run together inside the
caller's transaction.
"""
