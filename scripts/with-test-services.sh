#!/usr/bin/env bash
# Run a command with a private, throw-away PostgreSQL server for the tests:
# EPIRADAR_TEST_PG_URL points at it; it is stopped and removed afterwards.
set -euo pipefail
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pgbin" ]; then
  echo "PostgreSQL is not installed: run scripts/install-system-deps.sh test" >&2
  exit 1
fi
port=${EPIRADAR_TEST_PG_PORT:-54329}
dir=$(mktemp -d /tmp/epiradar-pg.XXXXXX)
as_pg=()
if [ "$(id -u)" = 0 ]; then
  chown postgres:postgres "$dir"
  as_pg=(runuser -u postgres --)
fi
cleanup() {
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
"${as_pg[@]}" "$pgbin/initdb" -D "$dir/data" -A trust -U epiradar -E UTF8 >/dev/null
"${as_pg[@]}" "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >/dev/null
"${as_pg[@]}" "$pgbin/createdb" -h 127.0.0.1 -p "$port" -U epiradar epiradar_test
export EPIRADAR_TEST_PG_URL="postgresql+psycopg://epiradar@127.0.0.1:$port/epiradar_test"
echo "PostgreSQL test server: $EPIRADAR_TEST_PG_URL"
"$@"
