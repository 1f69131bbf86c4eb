"""Webhooks: the trail's events delivered to partners' HTTP endpoints.

The trail is the outbox: an endpoint keeps only its place in it (`position`, `cursor`),
so a crash, a restart or a failover loses nothing, and every process may deliver
(`worker.py` holds an endpoint under a lease in the database while it delivers to it).
Each event is the one a `changes` subscription would send the endpoint's key
(`events.py` runs that subscription), signed per the Standard Webhooks specification
(`signing.py`), sent only to addresses that pass the SSRF check (`addresses.py`).
"""
