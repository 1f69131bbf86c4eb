"""The compiled read path: a query of known shapes answered level by level in SQL.

The reference executor (graphql-core, strawberry's resolvers and the DataLoaders)
resolves an answer field by field: for a report of 40,000 records that is several
hundred thousand resolver calls, and most of the time of a large read. Most reads
are of a few shapes: lists (`initiatives(first: 100)`), lists nested under their
records (`budgetLines`, `transactions`), the records' columns, their global ids and
amounts. For those, `plan.py` compiles the validated operation once into a plan
(cached per document, operation and caller's permissions), and `run.py` answers it.
The database (PostgreSQL or SQLite) writes the whole answer as JSON in one statement
(`in_database.py`, spelled by `sql_json.py` as the serializers spell each value), which
goes into the response as it is; the statement is kept per plan and window, and on
PostgreSQL, once SQLAlchemy has sent it, what it sent goes straight to the driver's
connection (app/db/shared.py `one_row`); SQLite sends one root list's text as rows, a
piece each. Otherwise (`last`/`before` windows, a value not written there) it reads
one SQL statement per level of lists — the same statements
the loaders run (app/kit/pagination.py), for all parents of a level at once — and
builds the answer's dictionaries straight from the rows with the schema's own
serializers.

Everything else — mutations, subscriptions, reports, aggregates, fields with
resolvers of their own or permissions, directives — runs through the reference
executor, which is also the oracle: the tests run the same queries through both and
require the same JSON (tests/graphql/compiled/). The schema's executor asks for a
plan where graphql-core would begin executing (executor.py): after every extension
has done its part (limits, cost, allow-list, read gate, the view for asOf and
partners, the read snapshot) and within the execution deadline, so every rule applies
as before. COMPILED_READS=false turns the path off.
"""
