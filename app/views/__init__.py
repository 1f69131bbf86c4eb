"""The ledger as of a past moment, and as a partner sees it: per-request views."""
