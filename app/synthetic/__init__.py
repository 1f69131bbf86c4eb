"""Synthetic data at scale: `pledge-ledger generate`.

`generator`, `beneficiaries` and `finance` make the rows (deterministic: the same
arguments and seed give the same rows), `repository` looks up ids, `service` puts one
run together inside the caller's transaction and writes it through
`app.audit.bulk.BulkTrail` (COPY on PostgreSQL, executemany on SQLite), which appends
every row's trail entry beside it.
"""
