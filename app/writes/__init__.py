"""Every write to the ledger, whatever its domain: one unit of work each (the chain
lock, idempotency, versions, the trail), create/update/archive of one record, the
checks shared by every domain's rules, and the errors a write reports.

The rules of each kind of record live with its data, in `app/<domain>/rules.py`.
"""
