#!/usr/bin/env bash
# The whole job on the built-in demo: a local PostgreSQL, the default fixtures
# (151,677 vendor users on 152 pages, ~1M of ours), the fixture vendor server,
# then `vendor-match run` for two report dates 30 days apart (fixture
# snapshots 0 and 1: the same users, their activity moved on), so that the
# report can answer the churn question. Prints the second report and writes
# it to output.txt, with report.html beside it.
#
#   scripts/demo.sh                  # our users in PostgreSQL
#   scripts/demo.sh --source mysql   # our users in MySQL / MariaDB (started, or installed, if needed)
#   scripts/demo.sh --warehouse citus  # load into a three-node Citus cluster (the kit's, built and
#                                      # started if needed); prints the shards and rows per node
#
# The options combine.
set -euo pipefail
cd "$(dirname "$0")/.."

SOURCE=postgres
WAREHOUSE=postgres
usage="usage: scripts/demo.sh [--source postgres|mysql] [--warehouse postgres|citus]"
while [ $# -gt 0 ]; do
  case $1 in
    --source) SOURCE=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
    --source=*) SOURCE=${1#--source=}; shift ;;
    --warehouse) WAREHOUSE=${2:-}; shift 2 || { echo "$usage" >&2; exit 2; } ;;
    --warehouse=*) WAREHOUSE=${1#--warehouse=}; shift ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
case $SOURCE in postgres | mysql) ;; *) echo "demo: --source takes postgres or mysql, not '$SOURCE'" >&2; exit 2 ;; esac
case $WAREHOUSE in postgres | citus) ;; *) echo "demo: --warehouse takes postgres or citus, not '$WAREHOUSE'" >&2; exit 2 ;; esac

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
if [ "$WAREHOUSE" = citus ]; then
  WAREHOUSE_DATABASE_URL=$(scripts/citus-up.sh vm_demo_warehouse)
fi
echo "demo: our users from $SOURCE, loaded into $WAREHOUSE" >&2

mkdir -p work
SERVER=
trap '[ -z "$SERVER" ] || kill $SERVER 2>/dev/null || true' EXIT
expected() { python3 -c 'import json,sys; v=json.load(open("work/fixtures/expected.json"))
for k in sys.argv[1:]: v=v[k]
print(v)' "$@"; }
for snapshot in 0 1; do
  echo "demo: generating fixtures, snapshot $snapshot" >&2
  "$BIN" fixtures generate --out-dir work/fixtures --snapshot "$snapshot" > work/expected-summary.json
  [ -z "$SERVER" ] || kill $SERVER 2>/dev/null || true
  "$BIN" fixtures serve --dir work/fixtures --listen 127.0.0.1:0 > work/serve.log 2>&1 &
  SERVER=$!
  for _ in $(seq 1 50); do grep -q '^listening on ' work/serve.log && break; sleep 0.1; done
  export VENDOR_API_URL; VENDOR_API_URL=$(sed -n 's/^listening on //p' work/serve.log | head -n1)
  [ -n "$VENDOR_API_URL" ] || { echo "demo: the fixture server did not start: $(cat work/serve.log)" >&2; exit 1; }

  date=$(expected report_date)
  echo "demo: report date $date" >&2
  if [ "$snapshot" = 0 ]; then
    "$BIN" run --report-date "$date" --output output.txt --quiet > /dev/null
  else
    "$BIN" run --report-date "$date" --output output.txt
  fi

  planted=$(expected total_matches)
  reported=$(sed -n 's/^Total Matches: //p' output.txt)
  if [ "$planted" = "$reported" ]; then
    echo "demo: Total Matches $reported equals what the generator planted" >&2
  else
    echo "demo: Total Matches $reported differs from the planted $planted" >&2
    exit 1
  fi
done

# The churn the warehouse finds is the churn the generator planted.
found=$(psql "$WAREHOUSE_DATABASE_URL" -XAtF, -c "SELECT vendor_active_users, vendor_active_churned,
  vendor_inactive_users, vendor_inactive_churned FROM public.platform_user_activity_churn WHERE report_date = '$date'")
want="$(expected churn vendor_active users),$(expected churn vendor_active churned),$(expected churn vendor_inactive users),$(expected churn vendor_inactive churned)"
if [ "$found" = "$want" ]; then
  echo "demo: churn (users,churned with vendor active; users,churned with vendor inactive) $found equals what the generator planted" >&2
else
  echo "demo: churn $found differs from the planted $want" >&2
  exit 1
fi
echo "demo: the product manager's answer, one line per date:" >&2
psql "$WAREHOUSE_DATABASE_URL" -Xc "SELECT report_date, internal_active_share, vendor_active_share, matched_pairs, phi,
  churn_share_vendor_active, churn_share_vendor_inactive FROM public.platform_user_activity_summary ORDER BY 1" >&2
[ ! -f report.html ] || echo "demo: report.html written beside output.txt" >&2

if [ "$WAREHOUSE" = citus ]; then
  partition=$(psql "$WAREHOUSE_DATABASE_URL" -XAtc "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = 'public.platform_user_activity'::regclass ORDER BY c.relname DESC LIMIT 1")
  echo "demo: where the Citus cluster keeps $partition:" >&2
  psql "$WAREHOUSE_DATABASE_URL" -Xc "SELECT nodename, nodeport, count(*) AS shards, pg_size_pretty(sum(shard_size)) AS size
    FROM citus_shards WHERE table_name = '$partition'::regclass GROUP BY nodename, nodeport ORDER BY nodeport" \
    -c "SELECT nodename, nodeport, sum(result::bigint) AS rows
    FROM run_command_on_placements('$partition', 'SELECT count(*) FROM %s') GROUP BY nodename, nodeport ORDER BY nodeport" >&2
  nodes=$(psql "$WAREHOUSE_DATABASE_URL" -XAtc "SELECT count(*) FROM (SELECT nodename, nodeport
    FROM run_command_on_placements('$partition', 'SELECT count(*) FROM %s') GROUP BY 1, 2 HAVING sum(result::bigint) > 0) n")
  [ "$nodes" -ge 2 ] || { echo "demo: the rows are on $nodes node(s), not spread over the workers" >&2; exit 1; }
fi
