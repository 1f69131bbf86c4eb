"""One client cannot stop a process answering the others: documents whose fragments
fan out, WebSocket messages too large or malformed, operations past a connection's
limit, connections that trickle. Real server processes (tests/live.py) on SQLite and on
PostgreSQL, started once per backend for the package (conftest.py): one started by
uvicorn's own command, so that what holds there holds under any server, and one by
`pledge-ledger serve`, for what it adds (the deadline and the size limit of a request's
head).
"""
