# Two commands matter: `make serve` and `make test`. Each sets up its own virtual
# environment from the hashed lock file first, so a fresh clone needs only Python,
# make and git.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8000
# Test workers (pytest-xdist): one per core; each has databases of its own.
TEST_WORKERS ?= auto
STAMP  := $(VENV)/.installed

.PHONY: serve test lint format typecheck schema lock setup clean graphiql browser messages

$(STAMP): requirements-dev.lock pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

setup: $(STAMP)

## serve: migrate the database (a SQLite file by default), record rows older than the
##        audit trail (a no-op once done), load the demo, serve /graphql
##        (the demo reads without keys: ANONYMOUS_READ=true, and shows its schema:
##        GraphiQL, introspection, "Did you mean" hints; production leaves all off)
##        Its logs are text, for people (LOG_FORMAT=text); production keeps JSON lines.
serve: $(STAMP)
	$(BIN)/pledge-ledger db upgrade
	$(BIN)/pledge-ledger audit baseline
	$(BIN)/pledge-ledger demo load
	ANONYMOUS_READ=true GRAPHIQL=true INTROSPECTION=true FIELD_SUGGESTIONS=true \
		LOG_FORMAT=text $(BIN)/pledge-ledger serve --host $(HOST) --port $(PORT)

## test: lint, types, and the whole suite on SQLite and PostgreSQL, on every core
##       (TEST_WORKERS=auto; a backend that is unreachable is skipped with its reason,
##       unless CI=true)
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/pytest -n $(TEST_WORKERS) --dist worksteal

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

typecheck: $(STAMP)
	$(BIN)/mypy

## schema: regenerate the committed schema.graphql from the code
schema: $(STAMP)
	$(BIN)/pledge-ledger export-schema -o schema.graphql

## lock: re-resolve both lock files from pyproject.toml (needs network):
##       requirements.lock (runtime, for the container), requirements-dev.lock (all)
LOCK_FLAGS := --quiet --strip-extras --generate-hashes --allow-unsafe --no-emit-index-url --no-emit-find-links
lock: $(STAMP)
	$(BIN)/python -m pip install --quiet pip-tools
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra build -o requirements.lock pyproject.toml
	$(BIN)/pip-compile $(LOCK_FLAGS) --extra build --extra dev -o requirements-dev.lock pyproject.toml

## graphiql: vendor GraphiQL and React (UMD builds) from the npm registry into
##           app/pages/static/graphiql/ with their licences; the output is committed, so
##           the service serves GraphiQL offline and never asks a CDN (needs npm, network)
GRAPHIQL_VERSION ?= 3.8.3
REACT_VERSION    ?= 18.3.1
GRAPHIQL_DIR     := app/pages/static/graphiql
graphiql:
	rm -rf .graphiql-pack && mkdir -p .graphiql-pack $(GRAPHIQL_DIR)
	cd .graphiql-pack && npm pack --silent graphiql@$(GRAPHIQL_VERSION) react@$(REACT_VERSION) react-dom@$(REACT_VERSION)
	cd .graphiql-pack && for p in graphiql-$(GRAPHIQL_VERSION) react-$(REACT_VERSION) react-dom-$(REACT_VERSION); do \
		mkdir -p $$p && tar xzf $$p.tgz -C $$p; done
	cp .graphiql-pack/graphiql-$(GRAPHIQL_VERSION)/package/graphiql.min.js .graphiql-pack/graphiql-$(GRAPHIQL_VERSION)/package/graphiql.min.css $(GRAPHIQL_DIR)/
	cp .graphiql-pack/graphiql-$(GRAPHIQL_VERSION)/package/LICENSE $(GRAPHIQL_DIR)/LICENSE-graphiql
	cp .graphiql-pack/react-$(REACT_VERSION)/package/umd/react.production.min.js $(GRAPHIQL_DIR)/
	cp .graphiql-pack/react-$(REACT_VERSION)/package/LICENSE $(GRAPHIQL_DIR)/LICENSE-react
	cp .graphiql-pack/react-dom-$(REACT_VERSION)/package/umd/react-dom.production.min.js $(GRAPHIQL_DIR)/
	cp .graphiql-pack/react-dom-$(REACT_VERSION)/package/LICENSE $(GRAPHIQL_DIR)/LICENSE-react-dom
	printf 'graphiql %s, react %s, react-dom %s (npm registry; make graphiql)\n' \
		$(GRAPHIQL_VERSION) $(REACT_VERSION) $(REACT_VERSION) > $(GRAPHIQL_DIR)/VERSIONS
	rm -rf .graphiql-pack

## messages: collect the pages' English labels and add the new ones to every catalogue
##           (app/pages/locales/<locale>/LC_MESSAGES/pages.po); a new language is one
##           more catalogue: `$(BIN)/pybabel init -D pages -d app/pages/locales -l fr -i ...`
messages: $(STAMP)
	$(BIN)/pybabel extract -F app/pages/babel.cfg -k N_ -o .pages.pot --no-location --omit-header .
	$(BIN)/pybabel update -D pages -d app/pages/locales -i .pages.pot
	rm -f .pages.pot

## browser: Debian's chromium for the pages' browser tests (tests/pages/browser/), and a
##          small font with Chinese characters for their screenshots
browser:
	test -x /usr/bin/chromium -a -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc || \
		(apt-get update -qq && apt-get install -y -qq chromium fonts-wqy-microhei)

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache pledge_ledger.db pledge_ledger.db-*
