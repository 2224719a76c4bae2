#!/usr/bin/env bash
# The whole job on the built-in demo: a local PostgreSQL, the default fixtures
# (151,677 vendor users on 152 pages, ~1M of ours), the fixture vendor server,
# then `vendor-match run`. Prints the report and writes it to output.txt.
#
#   scripts/demo.sh                  # our users in PostgreSQL
#   scripts/demo.sh --source mysql   # our users in MySQL / MariaDB (started, or installed, if needed)
#
# The warehouse is PostgreSQL either way.
set -euo pipefail
cd "$(dirname "$0")/.."

SOURCE=postgres
while [ $# -gt 0 ]; do
  case $1 in
    --source) SOURCE=${2:-}; shift 2 || { echo "demo: --source needs postgres or mysql" >&2; exit 2; } ;;
    --source=*) SOURCE=${1#--source=}; shift ;;
    *) echo "usage: scripts/demo.sh [--source postgres|mysql]" >&2; exit 2 ;;
  esac
done
case $SOURCE in postgres | mysql) ;; *) echo "demo: --source takes postgres or mysql, not '$SOURCE'" >&2; exit 2 ;; esac

cargo build --release --locked
BIN=target/release/vendor-match
ADMIN=$(scripts/pg-up.sh)
# with_db URL DB: the URL with its database replaced.
with_db() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$1" "$2"; }
# Fresh databases each time, so the figures do not depend on earlier demos.
for db in vm_demo_source vm_demo_warehouse; do
  psql "$ADMIN" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done
export SOURCE_DATABASE_URL; SOURCE_DATABASE_URL=$(with_db "$ADMIN" vm_demo_source)
export WAREHOUSE_DATABASE_URL; WAREHOUSE_DATABASE_URL=$(with_db "$ADMIN" vm_demo_warehouse)
if [ "$SOURCE" = mysql ]; then
  MYSQL_ADMIN=$(scripts/mariadb-up.sh)
  # The mysql client's options from the admin URL (mysql://user[:password]@host:port/db).
  mapfile -t MYSQL_ARGS < <(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1])
print("--host=" + (p.hostname or "127.0.0.1")); print("--port=" + str(p.port or 3306)); print("--user=" + u.unquote(p.username or "root"))
if p.password: print("--password=" + u.unquote(p.password))' "$MYSQL_ADMIN")
  mysql "${MYSQL_ARGS[@]}" -e "DROP DATABASE IF EXISTS vm_demo_source; CREATE DATABASE vm_demo_source"
  SOURCE_DATABASE_URL=$(with_db "$MYSQL_ADMIN" vm_demo_source)
fi
echo "demo: our users from $SOURCE" >&2

mkdir -p work
echo "demo: generating fixtures" >&2
"$BIN" fixtures generate --out-dir work/fixtures > work/expected-summary.json

"$BIN" fixtures serve --dir work/fixtures --listen 127.0.0.1:0 > work/serve.log 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q '^listening on ' work/serve.log && break; sleep 0.1; done
export VENDOR_API_URL; VENDOR_API_URL=$(sed -n 's/^listening on //p' work/serve.log | head -n1)
[ -n "$VENDOR_API_URL" ] || { echo "demo: the fixture server did not start: $(cat work/serve.log)" >&2; exit 1; }

"$BIN" run --output output.txt

planted=$(python3 -c 'import json; print(json.load(open("work/fixtures/expected.json"))["total_matches"])')
reported=$(sed -n 's/^Total Matches: //p' output.txt)
if [ "$planted" = "$reported" ]; then
  echo "demo: Total Matches $reported equals what the generator planted" >&2
else
  echo "demo: Total Matches $reported differs from the planted $planted" >&2
  exit 1
fi
