"""Fuzzing /graphql: thousands of operations, valid and invalid, on the demo data.

hypothesis-graphql draws valid queries, mutations and subscriptions from the schema the
app serves, and operations with one schema violation each; operations.py garbles documents
(truncated, spliced, unknown names, stray tokens), hoists arguments into variables of
the wrong type, builds documents nested and repeated past every limit (fragments that
spread each other again and again among them), and sends HTTP requests that are
malformed in every other way (bodies, content types, methods, query parameters,
headers); test_websocket.py does the same over WebSocket. Each goes through
the real ASGI app on SQLite and on PostgreSQL, as an anonymous caller (anonymous reads
on), a viewer, a partner, an editor, an auditor and an admin (whose mutations write),
by POST and by GET, legacy and `application/graphql-response+json`.

What every response must be, whatever was sent (`assert_safe`, checks.py): no status of 500 or
more (a 503 is BUSY, with `Retry-After`); a JSON body of `data` and/or `errors`; each
error with a stable `extensions.code` in capitals, and none INTERNAL (an unexpected
exception, which the fuzzer is here to find); and no trace of the internals — tracebacks,
source paths, SQL, driver or library names, exception reprs — unless the request itself
carried that text (echoing the caller's own input is not a leak).

The examples are derandomized, so a run is reproducible (FUZZ_RUNS=n draws n times as
many at random, for a longer hunt); each test loads the demo once and counts what it
sends, and must send at least its share (see MINIMUM). Bugs the fuzzer found are kept
as small regression tests of their own (test_regressions.py).
"""
