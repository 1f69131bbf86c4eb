"""Every write to the ledger: rules, versions, idempotency, one transaction each."""
