# syntax=docker/dockerfile:1
# Build stage: install the locked dependencies into a virtual environment.
FROM python:3.11-slim AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /srv
RUN python -m venv /opt/venv
COPY requirements.lock pyproject.toml README.md ./
RUN /opt/venv/bin/pip install --require-hashes -r requirements.lock
COPY app ./app
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation .

# Runtime stage: the venv, the migrations and nothing else; runs as a non-root user.
FROM python:3.11-slim AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    DATABASE_URL=sqlite+aiosqlite:////data/pledge_ledger.db
RUN useradd --system --uid 10001 --home-dir /srv --shell /usr/sbin/nologin ledger \
    && mkdir -p /data && chown ledger /data
COPY --from=build /opt/venv /opt/venv
WORKDIR /srv
COPY --chown=ledger migrations ./migrations
COPY --chown=ledger alembic.ini ./
USER ledger
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s \
    CMD python -c "import urllib.request,os; urllib.request.urlopen(f'http://127.0.0.1:{os.environ[\"PORT\"]}/healthz', timeout=2)"
# Migrate, record rows the trail has not seen (a no-op but after an upgrade with data),
# load the demo only into the embedded SQLite default, then serve.
CMD ["sh", "-c", "pledge-ledger db upgrade && pledge-ledger audit baseline && case \"$DATABASE_URL\" in sqlite*) pledge-ledger demo load;; esac && exec pledge-ledger serve"]
