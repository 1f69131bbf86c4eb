"""The transport: how clients reach the schema, over HTTP and WebSocket.

Everything here speaks HTTP (or WebSocket) and nothing in app/graphql imports it, so
the schema can be read, built and tested without a request in sight:
- transport.py: all of it added to the app in one call (`add_transport`);
- router.py: /graphql over HTTP and WebSocket (both protocols), who each caller is, the
  checks every operation meets however it came;
- spec.py: GraphQL over HTTP as the specification has it: media types, statuses and
  refusals in the GraphQL shape;
- bodies.py: how large request bodies and WebSocket messages may be, and how slow;
- handlers.py: the app's answers to what is raised before GraphQL runs (a bad
  credential, an unknown path, a rate limit, the database away);
- persisted.py: registered documents sent by id, the manifest checked against the schema;
- rate_limits.py: requests per address and per caller;
- csv.py: the CSV downloads (`GET /reports/<name>.csv`), which run their reports'
  operations through the schema;
- server.py: what `pledge-ledger serve` asks of uvicorn (head deadlines and sizes), and
  of the C allocator.
"""
