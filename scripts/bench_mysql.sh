#!/usr/bin/env bash
# Extract with our users in MySQL / MariaDB, against MySQL's own floor and
# beside extract from PostgreSQL, at the sizes given (users a side):
#
#   scripts/bench.sh --mysql 1m 10m      # or scripts/bench_mysql.sh 1m 10m
#
# Per size, BENCH_REPEAT times (default 3), interleaved so that noise on this
# shared machine hits every item alike:
#   floor.mysql     `mysql --quick` dumping the extract's join (in id order) to /dev/null
#   floor.copy_out  PostgreSQL's `COPY (the same join) TO STDOUT` to /dev/null
#   floor.vendor    download + parse every vendor page (benches/vendor_floor.rs)
#   extract.mysql   `vendor-match extract --new` from MySQL, under /usr/bin/time -v
#   extract.pg      the same from PostgreSQL
# and prints the medians with the targets: extract.mysql within 1.2x of
# floor.mysql + floor.vendor, and its peak RSS within the budget + 48 MiB,
# as from PostgreSQL.
#
# Environment: BENCH_REPEAT, BENCH_BIN, BENCH_FLOOR_BIN, BENCH_NO_BUILD=1 as
# in scripts/bench.sh; BENCH_DIR (default work/bench-mysql) holds the
# fixtures, cached with their databases vm_benchmy_<size>_{my,pg} between
# invocations; results in $BENCH_DIR/results.tsv and table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${BENCH_REPEAT:-3}
BIN=${BENCH_BIN:-target/release/vendor-match}
FLOOR_BIN=${BENCH_FLOOR_BIN:-}
DIR=${BENCH_DIR:-work/bench-mysql}
BUDGET=64MiB
LIMIT_MIB=$((64 + 48))
JOIN='SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, u.classification, u.platform_registered_on, u.last_active_date FROM `user` u LEFT JOIN user_practice p ON p.id = u.practice_id ORDER BY u.id'

BENCH_NAME=bench-mysql
# shellcheck source=scripts/bench_lib.sh
. scripts/bench_lib.sh
clear_run_settings
[ $# -ge 1 ] || die "usage: scripts/bench_mysql.sh SIZE... (users a side, e.g. 1m 10m)"

build_binary
if [ -z "$FLOOR_BIN" ]; then
  if [ "${BENCH_NO_BUILD:-}" != 1 ]; then cargo bench --locked --no-run --bench vendor_floor >&2; fi
  FLOOR_BIN=$(find target/release/deps -maxdepth 1 -type f -executable -name 'vendor_floor-*' -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2)
fi
[ -n "$FLOOR_BIN" ] && [ -x "$FLOOR_BIN" ] || die "no vendor_floor bench binary (set BENCH_FLOOR_BIN)"

PG_ADMIN=$(scripts/pg-up.sh)
MY_ADMIN=$(scripts/mariadb-up.sh)
mapfile -t MYSQL_ARGS < <(python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1])
print("--host=" + (p.hostname or "127.0.0.1")); print("--port=" + str(p.port or 3306)); print("--user=" + u.unquote(p.username or "root"))
if p.password: print("--password=" + u.unquote(p.password))' "$MY_ADMIN")
my() { mysql "${MYSQL_ARGS[@]}" "$@"; }

mkdir -p "$DIR"
RAW=$DIR/results.tsv
: > "$RAW"
record() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$RAW"; } # label item metric value
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'; }

SERVERS=()
trap 'for pid in "${SERVERS[@]}"; do kill "$pid" 2>/dev/null || true; done' EXIT

# fixture LABEL USERS: both source databases hold the same generated users, cached by size.
fixture() {
  local label=$1 n=$2 my_db=vm_benchmy_$1_my pg_db=vm_benchmy_$1_pg mark=$DIR/$1/fixtures.ok
  mkdir -p "$DIR/$label"
  if [ "$(cat "$mark" 2>/dev/null)" = "$n" ] &&
    [ "$(my -N -e "SELECT count(*) FROM $my_db.\`user\`" 2>/dev/null)" = "$n" ] &&
    [ "$(psql "$(with_db "$PG_ADMIN" "$pg_db")" -XAtqc 'SELECT count(*) FROM "user"' 2>/dev/null)" = "$n" ]; then
    log "$label: cached fixtures"
    return
  fi
  rm -f "$mark"
  log "$label: generating $n users a side into MySQL ($my_db) and PostgreSQL ($pg_db)"
  my -e "CREATE DATABASE IF NOT EXISTS $my_db"
  psql "$PG_ADMIN" -Xqc "DROP DATABASE IF EXISTS $pg_db WITH (FORCE)" -c "CREATE DATABASE $pg_db"
  local t0=$EPOCHREALTIME
  "$BIN" fixtures generate --force --users "$n" --target "$(with_db "$MY_ADMIN" "$my_db")" --out-dir "$DIR/$label/fixtures" > /dev/null
  log "$label: MySQL generate $(seconds_since "$t0") s"
  t0=$EPOCHREALTIME
  "$BIN" fixtures generate --force --users "$n" --target "$(with_db "$PG_ADMIN" "$pg_db")" --out-dir "$DIR/$label/fixtures-pg" > /dev/null
  log "$label: PostgreSQL generate $(seconds_since "$t0") s"
  # The same seed writes the same pages: one copy is served.
  rm -rf "$DIR/$label/fixtures-pg"
  psql "$(with_db "$PG_ADMIN" "$pg_db")" -Xqc 'VACUUM (ANALYZE) "user", user_practice'
  echo "$n" > "$mark"
}

declare -A URL=()
serve() {
  local label=$1 out=$DIR/$1/serve.log
  "$BIN" fixtures serve --dir "$DIR/$label/fixtures" --listen 127.0.0.1:0 > "$out" 2>&1 &
  SERVERS+=($!)
  for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  URL[$label]=$(sed -n 's/^listening on //p' "$out" | head -n1)
  [ -n "${URL[$label]}" ] || die "$label: the fixture server did not start"
}

floor_mysql() {
  local t0=$EPOCHREALTIME
  my --quick --batch --skip-column-names "vm_benchmy_$1_my" -e "$JOIN" > /dev/null
  record "$1" floor.mysql seconds "$(seconds_since "$t0")"
}
floor_copy_out() {
  local t0=$EPOCHREALTIME
  psql "$(with_db "$PG_ADMIN" "vm_benchmy_$1_pg")" -Xqc "COPY (${JOIN//\`/\"}) TO STDOUT" > /dev/null
  record "$1" floor.copy_out seconds "$(seconds_since "$t0")"
}
floor_vendor() {
  local json
  json=$("$FLOOR_BIN" "${URL[$1]}") || die "$1: vendor_floor failed"
  record "$1" floor.vendor seconds "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$json")"
}
# extract LABEL ITEM SOURCE_URL
extract() {
  local label=$1 item=$2 work=$DIR/$1/work t0 secs
  rm -rf "$work"
  t0=$EPOCHREALTIME
  /usr/bin/time -v -o "$DIR/$label/time.txt" "$BIN" extract --new --quiet --memory-budget "$BUDGET" \
    --vendor-url "${URL[$label]}" --source-url "$3" --work-dir "$work" > "$DIR/$label/extract.log" 2>&1 ||
    die "$label: $item failed: $(tail -n 5 "$DIR/$label/extract.log")"
  secs=$(seconds_since "$t0")
  record "$label" "$item" seconds "$secs"
  record "$label" "$item" rss_kib "$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$DIR/$label/time.txt")"
  rm -rf "$work"
  log "$label: $item $secs s"
}

LABELS=()
for arg in "$@"; do
  label=${arg,,}
  fixture "$label" "$(size "$arg")"
  serve "$label"
  LABELS+=("$label")
done
for rep in $(seq 1 "$REPEAT"); do
  for label in "${LABELS[@]}"; do
    # Alternate which source goes first, so that neither always follows the other.
    if [ $((rep % 2)) = 1 ]; then
      extract "$label" extract.mysql "$(with_db "$MY_ADMIN" "vm_benchmy_${label}_my")"
      extract "$label" extract.pg "$(with_db "$PG_ADMIN" "vm_benchmy_${label}_pg")"
    else
      extract "$label" extract.pg "$(with_db "$PG_ADMIN" "vm_benchmy_${label}_pg")"
      extract "$label" extract.mysql "$(with_db "$MY_ADMIN" "vm_benchmy_${label}_my")"
    fi
    floor_mysql "$label"
    floor_copy_out "$label"
    floor_vendor "$label"
  done
done

python3 - "$RAW" "$LIMIT_MIB" "$REPEAT" "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB" "${LABELS[@]}" <<'EOF' | tee "$DIR/table.txt"
import collections, statistics, sys
raw, limit, repeat, machine, labels = sys.argv[1], float(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5:]
values = collections.defaultdict(list)
for line in open(raw):
    label, item, metric, value = line.rstrip("\n").split("\t")
    values[label, item, metric].append(float(value))
med = lambda label, item, metric: statistics.median(values[label, item, metric])
print(f"extract from MySQL / MariaDB vs its floor, medians of {repeat} (machine: {machine})")
print(f"{'':32}" + "".join(f"{l:>12}" for l in labels))
rows = [
    ("floor.mysql (mysql --quick) s", lambda l: med(l, "floor.mysql", "seconds")),
    ("floor.copy_out (PostgreSQL) s", lambda l: med(l, "floor.copy_out", "seconds")),
    ("floor.vendor s", lambda l: med(l, "floor.vendor", "seconds")),
    ("extract.mysql s", lambda l: med(l, "extract.mysql", "seconds")),
    ("extract.pg s", lambda l: med(l, "extract.pg", "seconds")),
    ("extract.mysql / (mysql+vendor)", lambda l: med(l, "extract.mysql", "seconds") / (med(l, "floor.mysql", "seconds") + med(l, "floor.vendor", "seconds"))),
    ("extract.mysql / extract.pg", lambda l: med(l, "extract.mysql", "seconds") / med(l, "extract.pg", "seconds")),
    ("peak RSS mysql MiB", lambda l: max(values[l, "extract.mysql", "rss_kib"]) / 1024),
    ("peak RSS pg MiB", lambda l: max(values[l, "extract.pg", "rss_kib"]) / 1024),
]
for name, f in rows:
    print(f"{name:32}" + "".join(f"{f(l):>12.2f}" for l in labels))
for l in labels:
    ratio = rows[5][1](l)
    rss = rows[7][1](l)
    print(f"{l}: time target (<= 1.2x) {'met' if ratio <= 1.2 else 'MISSED'} at {ratio:.2f}x; "
          f"memory target (<= {limit:.0f} MiB) {'met' if rss <= limit else 'MISSED'} at {rss:.1f} MiB")
EOF
