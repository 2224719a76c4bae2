#!/usr/bin/env bash
# Makes sure a PostgreSQL server is reachable and prints an admin URL for it
# (database "postgres", a superuser, no password needed).
#
# 1. $VENDOR_MATCH_TEST_DATABASE_URL, if set and reachable;
# 2. the local server on 127.0.0.1:5432 (starting the Debian cluster if it is down);
# 3. otherwise a private throwaway cluster under $VM_PG_DIR (default /tmp/vendor-match-pg)
#    on port 54329, made with the system's initdb (installing PostgreSQL with apt if needed).
set -euo pipefail

log() { echo "pg-up: $*" >&2; }

reachable() { psql "$1" -XAtqc 'SELECT 1' >/dev/null 2>&1; }

ensure_client() {
  if ! command -v psql >/dev/null 2>&1; then
    log "installing the PostgreSQL client and server (apt)"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
  fi
}

ensure_client

if [ -n "${VENDOR_MATCH_TEST_DATABASE_URL:-}" ] && reachable "$VENDOR_MATCH_TEST_DATABASE_URL"; then
  echo "$VENDOR_MATCH_TEST_DATABASE_URL"; exit 0
fi

LOCAL="postgres://postgres@127.0.0.1:5432/postgres"
if reachable "$LOCAL"; then echo "$LOCAL"; exit 0; fi

if command -v pg_lsclusters >/dev/null 2>&1; then
  cluster=$(pg_lsclusters -h 2>/dev/null | awk '$3 == 5432 {print $1, $2; exit}')
  if [ -n "$cluster" ]; then
    log "starting cluster $cluster"
    # shellcheck disable=SC2086
    pg_ctlcluster --skip-systemctl-redirect $cluster start >&2 || true
    for _ in $(seq 1 30); do reachable "$LOCAL" && { echo "$LOCAL"; exit 0; }; sleep 1; done
  fi
fi

# A private cluster of our own.
PORT=54329
DIR=${VM_PG_DIR:-/tmp/vendor-match-pg}
PRIVATE="postgres://postgres@127.0.0.1:$PORT/postgres"
if reachable "$PRIVATE"; then echo "$PRIVATE"; exit 0; fi
BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$BIN/initdb" ] || { log "no initdb found; install PostgreSQL"; exit 1; }
RUN_AS=()
if [ "$(id -u)" = 0 ]; then RUN_AS=(su postgres -s /bin/sh -c); fi
mkdir -p "$DIR"
[ "$(id -u)" = 0 ] && chown postgres "$DIR"
as_owner() { if [ ${#RUN_AS[@]} -gt 0 ]; then "${RUN_AS[@]}" "$*"; else sh -c "$*"; fi; }
if [ ! -f "$DIR/data/PG_VERSION" ]; then
  log "creating a private cluster in $DIR/data"
  as_owner "$BIN/initdb -D $DIR/data -A trust -U postgres" >&2
fi
log "starting the private cluster on port $PORT"
as_owner "$BIN/pg_ctl -D $DIR/data -l $DIR/log -w -o '-p $PORT -k $DIR -c listen_addresses=127.0.0.1' start" >&2
reachable "$PRIVATE" || { log "the private cluster did not come up; see $DIR/log"; exit 1; }
echo "$PRIVATE"
