"""Live updates: the audit trail's entries, pushed to subscribers as they commit.

The trail (`changes`, app/audit/) is the event log: its sequence is gapless and
entries commit in sequence order, because every writer holds the chain lock until it
commits. So a subscriber's position is one number, and anything it missed can be read
back from the log. Notifications (`brokers.py`) only say "the log has grown"; each
process's `EventHub` (`hub.py`) then reads the new entries once and hands them to its
subscribers. A lost notification delays an event (until the next one, or the hub's
poll), it never loses one.
"""
