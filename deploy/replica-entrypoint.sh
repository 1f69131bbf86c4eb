#!/bin/sh
# A hot standby from the official postgres image: on its first start (an empty data
# directory), copy the primary with pg_basebackup -R (which writes standby.signal and
# primary_conninfo), then start PostgreSQL as the image would. Later starts find the
# copy and stream on from where they were.
set -eu
: "${PRIMARY_HOST:?}" "${PRIMARY_USER:?}" "${PRIMARY_PASSWORD:?}"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown postgres:postgres "$PGDATA"
  chmod 700 "$PGDATA"
  until PGPASSWORD="$PRIMARY_PASSWORD" pg_isready -h "$PRIMARY_HOST" -U "$PRIMARY_USER" -q; do
    sleep 1
  done
  PGPASSWORD="$PRIMARY_PASSWORD" gosu postgres pg_basebackup \
    -h "$PRIMARY_HOST" -U "$PRIMARY_USER" -D "$PGDATA" -R -X stream -c fast
  # Spelled out, password included, whatever -R wrote: a later line wins.
  echo "primary_conninfo = 'host=$PRIMARY_HOST user=$PRIMARY_USER password=$PRIMARY_PASSWORD application_name=$(hostname)'" \
    >> "$PGDATA/postgresql.auto.conf"
fi
# hot_standby_feedback: the primary keeps the rows a long report on the standby still
# reads, rather than the standby cancelling the report when replay would remove them.
exec docker-entrypoint.sh postgres -c hot_standby_feedback=on
