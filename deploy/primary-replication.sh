#!/bin/sh
# Runs once, when the primary's data directory is first made (the postgres image runs
# /docker-entrypoint-initdb.d/*): lets the compose network's standbys stream from it.
# `ledger` is the image's superuser, so it may replicate; a real deployment makes a
# role of its own with REPLICATION only, and a replication slot per standby.
set -eu
echo "host replication ${POSTGRES_USER} all scram-sha-256" >> "$PGDATA/pg_hba.conf"
