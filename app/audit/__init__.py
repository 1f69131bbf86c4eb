"""The audit trail: recording every change, verifying the chain, reading it back."""
