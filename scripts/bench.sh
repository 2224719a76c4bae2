#!/usr/bin/env bash
# Benchmarks vendor-match end to end against its I/O floor, a pure-PostgreSQL
# baseline and the SPEC's targets (SPEC §10), at the sizes given:
#
#   scripts/bench.sh 1m 10m          # users a side: 100k, 1m, 2.5m, 10m, 250000 ...
#   scripts/bench.sh --mysql 1m 10m  # extract with our users in MySQL / MariaDB (scripts/bench_mysql.sh)
#   scripts/bench.sh --citus 1m 10m  # load into a 3-node Citus cluster beside one server (scripts/bench_citus.sh)
#
# Environment:
#   BENCH_REPEAT=3          repetitions of every measurement (medians are reported)
#   BENCH_BIN=...           the vendor-match binary (default target/release/vendor-match)
#   BENCH_BASELINE_BIN=...  another vendor-match binary (an older build, say) whose `run` is measured
#                           beside BENCH_BIN's in every repetition, in alternating order: the table then
#                           shows both and their ratio, so a change is judged side by side
#   BENCH_FLOOR_BIN=...     the built vendor_floor bench (default: built, or found in target/release/deps)
#   BENCH_DIR=work/bench    fixtures (cached), outputs, results.json, table.txt
#   BENCH_NO_BUILD=1        do not run cargo
#   BENCH_SKIP_DEMO=1       skip target 5 (the default demo under 5 s)
#   BENCH_SKIP_LATENCY=1    skip target 6 (1,000 pages at 50 ms latency, --concurrency 16)
#   BENCH_SVG=docs/bench.svg  where the chart goes
#
# Per size it measures, BENCH_REPEAT times, interleaved (repetition 1 of every
# item, then repetition 2, ...) so that noise on this shared machine hits all
# items alike:
#   floor.vendor    download + parse every vendor page (benches/vendor_floor.rs)
#   floor.copy_out  COPY our users (joined to their practice) out of PostgreSQL
#   floor.copy_in   COPY the pipeline's result rows into a plain table (text, one session)
#                   (+ binary COPY in one and two sessions, as extra information)
#   pg_join         the whole job as SQL inside PostgreSQL (scripts/bench_pg_join.sql)
#   run             `vendor-match run` into a fresh warehouse, under /usr/bin/time -v
# then prints one table with the medians and the six targets, and writes
# $BENCH_DIR/results.json, $BENCH_DIR/table.txt and the chart docs/bench.svg.
#
# Fixtures and their source databases (vm_bench_<size>_src) are cached between
# invocations; warehouse and scratch databases are dropped at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${1:-}" = --mysql ]; then shift; exec scripts/bench_mysql.sh "$@"; fi
if [ "${1:-}" = --citus ]; then shift; exec scripts/bench_citus.sh "$@"; fi

REPEAT=${BENCH_REPEAT:-3}
BIN=${BENCH_BIN:-target/release/vendor-match}
BASELINE_BIN=${BENCH_BASELINE_BIN:-}
FLOOR_BIN=${BENCH_FLOOR_BIN:-}
DIR=${BENCH_DIR:-work/bench}
SVG=${BENCH_SVG:-docs/bench.svg}
BUDGET=64MiB
REPORT_DATE=2017-02-02
ACTIVE_DAYS=30
LATENCY_MS=50
LATENCY_CONCURRENCY=16
HELPER=scripts/bench_report.py
PG_JOIN_SQL=scripts/bench_pg_join.sql
PG_JOIN_MODE='run inside the source database (schema bench_pg_join): our users are read in place, not copied; the timed part creates and loads vendor_staging from a TSV and runs one INSERT ... SELECT'

log() { echo "bench: $*" >&2; }
die() { log "$*"; exit 1; }

# The bench sets every option itself: settings inherited from the caller's
# environment (VENDOR_MATCH_MATCH_ON, a run id, URLs ...) would change what is
# measured. pg-up.sh's server choice (VENDOR_MATCH_TEST_DATABASE_URL) is kept.
for var in $(compgen -e); do
  case $var in
    VENDOR_MATCH_TEST_DATABASE_URL) ;;
    VENDOR_MATCH_* | VENDOR_API_URL | SOURCE_DATABASE_URL | WAREHOUSE_DATABASE_URL) unset "$var" ;;
  esac
done

# Our psql sessions: no NOTICEs about objects that do not exist yet (DROP ... IF EXISTS).
export PGOPTIONS='-c client_min_messages=warning'

[ $# -ge 1 ] || die "usage: scripts/bench.sh SIZE... (users a side, e.g. 100k 1m 10m)"
[[ $REPEAT =~ ^[1-9][0-9]*$ ]] || die "BENCH_REPEAT must be a positive integer, got '$REPEAT'"

# ---------------------------------------------------------------------------
# Sizes

# 100k -> 100000, 2.5m -> 2500000, 250000 -> 250000
parse_size() {
  local s=${1,,}
  [[ $s =~ ^([0-9]+(\.[0-9]+)?)([km]?)$ ]] || die "bad size '$1': expected e.g. 100k, 1m, 2.5m or 250000"
  local mult=1
  case ${BASH_REMATCH[3]} in k) mult=1000 ;; m) mult=1000000 ;; esac
  awk -v n="${BASH_REMATCH[1]}" -v m="$mult" 'BEGIN { v = n * m; if (v != int(v) || v < 1) exit 1; printf "%d\n", v }' \
    || die "bad size '$1': not a whole number of users"
}

declare -A USERS=()   # label -> users a side
LABELS=()
for arg in "$@"; do
  label=${arg,,}
  n=$(parse_size "$arg")
  [ -z "${USERS[$label]:-}" ] || die "size $arg given twice"
  USERS[$label]=$n
  LABELS+=("$label")
done
# Smallest first: the table reads left to right and the linear target compares the ends.
mapfile -t LABELS < <(for l in "${LABELS[@]}"; do echo "${USERS[$l]} $l"; done | sort -n | cut -d' ' -f2)

# ---------------------------------------------------------------------------
# Setup: binaries, PostgreSQL, bookkeeping

build() {
  if [ "${BENCH_NO_BUILD:-}" = 1 ]; then
    log "BENCH_NO_BUILD=1: using $BIN as it is"
  else
    cargo build --release --locked
  fi
  [ -x "$BIN" ] || die "no vendor-match binary at $BIN (build it, or set BENCH_BIN)"
  BIN=$(realpath "$BIN")

  if [ -n "$FLOOR_BIN" ]; then
    [ -x "$FLOOR_BIN" ] || die "BENCH_FLOOR_BIN=$FLOOR_BIN is not an executable"
  elif [ "${BENCH_NO_BUILD:-}" != 1 ]; then
    # Build the bench once and run its binary directly: `cargo bench` per repetition would time cargo too.
    FLOOR_BIN=$(cargo bench --locked --no-run --bench vendor_floor --message-format=json |
      python3 -c 'import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "vendor_floor" and m.get("executable"):
        print(m["executable"])')
  else
    # The newest built one (the .d files next to it are dependency lists, not executables).
    local candidate
    for candidate in target/release/deps/vendor_floor-*; do
      if [ -x "$candidate" ] && [ -f "$candidate" ] && { [ -z "$FLOOR_BIN" ] || [ "$candidate" -nt "$FLOOR_BIN" ]; }; then
        FLOOR_BIN=$candidate
      fi
    done
  fi
  if [ -z "$FLOOR_BIN" ] || [ ! -x "$FLOOR_BIN" ]; then
    die "no vendor_floor bench binary (cargo bench --no-run --bench vendor_floor, or set BENCH_FLOOR_BIN)"
  fi
  FLOOR_BIN=$(realpath "$FLOOR_BIN")
  if [ -n "$BASELINE_BIN" ]; then
    [ -x "$BASELINE_BIN" ] || die "BENCH_BASELINE_BIN=$BASELINE_BIN is not an executable"
    BASELINE_BIN=$(realpath "$BASELINE_BIN")
  fi
  log "vendor-match: $BIN; vendor_floor: $FLOOR_BIN${BASELINE_BIN:+; baseline: $BASELINE_BIN}"
}

ADMIN=
db_url() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$ADMIN" "$1"; }
psql_admin() { psql "$ADMIN" -X -q -v ON_ERROR_STOP=1 "$@"; }
fresh_db() { psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)" -c "CREATE DATABASE $1"; }
drop_db() { psql_admin -c "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }
db_name() { echo "vm_bench_${1//./p}_$2"; } # label, role (src, wh) -> a database name

# Raw measurements, one per line: label, item, repetition, metric, value.
RAW=
record() { printf '%s\t%s\t%s\t%s\t%s\n' "$@" >> "$RAW"; }
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.6f\n", b - a }'; }

# Servers and scratch databases started by this script, cleaned up however it ends.
SERVER_PIDS=()
SCRATCH_DBS=()
SOURCE_DBS=()
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${SERVER_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ -n "$ADMIN" ]; then
    for db in "${SCRATCH_DBS[@]}"; do drop_db "$db" 2>/dev/null || true; done
    for db in "${SOURCE_DBS[@]}"; do
      psql "$(db_url "$db")" -Xqc 'DROP SCHEMA IF EXISTS bench_pg_join CASCADE' >/dev/null 2>&1 || true
    done
  fi
  # The binary COPY files are re-exported every invocation; only rows.tsv is kept.
  rm -f "$DIR"/*/rows*.bin
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# Fixtures (cached) and servers

# generate_fixture LABEL VENDOR_ENTRIES INTERNAL_USERS PAGES [GENERATE_ARGS...]: makes $DIR/LABEL/fixtures and its
# source database with `fixtures generate GENERATE_ARGS`,
# unless both already hold this size (generation at 10m takes minutes).
generate_fixture() {
  local label=$1 vendor=$2 internal=$3 pages=$4; shift 4
  local fixtures=$DIR/$label/fixtures db src have rows
  db=$(db_name "$label" src)
  src=$(db_url "$db")
  SOURCE_DBS+=("$db")
  mkdir -p "$DIR/$label"
  # The database is named by size only, so it also says which fixture dir it was generated with
  # (another BENCH_DIR may have regenerated it since).
  local marker
  if [ -f "$fixtures/expected.json" ]; then
    marker="vm-bench fixtures $(realpath "$fixtures") $(md5sum < "$fixtures/expected.json" | cut -c1-32)"
    have=$(python3 "$HELPER" expected "$fixtures/expected.json" seed vendor_entries internal_users vendor_pages)
    rows=$(psql "$src" -XAtqc 'SELECT count(*) FROM "user"' 2>/dev/null || echo none)
    if [ "$have" = "$(printf '42\t%s\t%s\t%s' "$vendor" "$internal" "$pages")" ] && [ "$rows" = "$internal" ] &&
      [ "$(psql_admin -Atc "SELECT shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = '$db'")" = "$marker" ]; then
      log "$label: cached fixtures in $fixtures and database $db"
      return
    fi
  fi
  log "$label: generating fixtures ($vendor vendor entries, $internal of our users) into $db"
  psql_admin -tc "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1 || psql_admin -c "CREATE DATABASE $db"
  # No expected.json while generating: an interrupted generation is never taken for a cached one.
  rm -f "$fixtures/expected.json" "$DIR/$label/vendor.tsv"
  # --force: the database is the bench's own, and may hold tables an older binary made without its mark.
  "$BIN" fixtures generate --force --source-url "$src" --out-dir "$fixtures" "$@" > "$DIR/$label/generate.json"
  marker="vm-bench fixtures $(realpath "$fixtures") $(md5sum < "$fixtures/expected.json" | cut -c1-32)"
  psql_admin -c "COMMENT ON DATABASE $db IS '$marker'"
}

# Freshly loaded rows get their hint bits set by the first reader, which then
# writes: vacuum once, untimed, so the first repetition is not the slow one.
settle_source() { psql "$(db_url "$(db_name "$1" src)")" -X -q -v ON_ERROR_STOP=1 -c 'VACUUM (ANALYZE) "user", user_practice'; }

declare -A URL=()        # label -> vendor URL
declare -A STATS_URL=()  # label -> the server's /_stats
# start_server LABEL [SERVE_ARGS...]: serves $DIR/LABEL/fixtures in the background until the script ends.
start_server() {
  local label=$1; shift
  local out=$DIR/$label/serve.log
  "$BIN" fixtures serve --dir "$DIR/$label/fixtures" --listen 127.0.0.1:0 "$@" > "$out" 2>&1 &
  SERVER_PIDS+=($!)
  for _ in $(seq 1 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  URL[$label]=$(sed -n 's/^listening on //p' "$out" | head -n1)
  [ -n "${URL[$label]}" ] || die "$label: the fixture server did not start: $(cat "$out")"
  STATS_URL[$label]=$(python3 -c 'import sys, urllib.parse as u; p = u.urlparse(sys.argv[1]); print(p._replace(path="/_stats", query="").geturl())' "${URL[$label]}")
}

# GET the server's /_stats (with ?reset=1 to restart the counts); prints "requests max_in_flight" or nothing
# when the server has no stats endpoint (an older binary).
server_stats() {
  local url=${STATS_URL[$1]}; [ "${2:-}" = reset ] && url="$url?reset=1"
  python3 - "$url" <<'EOF' 2>/dev/null || true
import json, sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=10) as r:
    s = json.load(r)
print(s["requests"], s["max_in_flight"])
EOF
}

# Untimed, once per size: the vendor pages as a TSV for the pg_join baseline (cached next to the fixtures).
prepare_vendor_tsv() {
  local label=$1 tsv=$DIR/$1/vendor.tsv
  if [ -f "$tsv" ] && [ "$tsv" -nt "$DIR/$label/fixtures/expected.json" ]; then return; fi
  log "$label: converting the vendor pages to $tsv"
  python3 "$HELPER" vendor-tsv "$DIR/$label/fixtures" "$tsv" > "$DIR/$label/vendor-tsv.json"
}

record_planted() {
  local label=$1 status count
  for status in matched ambiguous internal_only vendor_only unmatchable; do
    count=$(python3 "$HELPER" expected "$DIR/$label/fixtures/expected.json" "rows.$status")
    record "$label" planted 0 "count.$status" "$count"
  done
}

# ---------------------------------------------------------------------------
# Measurements: each takes LABEL REP

# run: the whole pipeline into a fresh warehouse database, under /usr/bin/time -v for its peak RSS.
# measure_run LABEL REP [ITEM BINARY]: ITEM is `run` (default, BENCH_BIN) or `baseline` (BENCH_BASELINE_BIN).
measure_run() {
  local label=$1 rep=$2 item=${3:-run} bin=${4:-$BIN}
  local src wh_db wh work=$DIR/$1/work out=$DIR/$1/run.log timing=$DIR/$1/time.txt t0 secs prefix=
  [ "$item" = run ] || prefix="$item."
  src=$(db_url "$(db_name "$label" src)")
  wh_db=$(db_name "$label" wh)
  wh=$(db_url "$wh_db")
  # A fresh warehouse each time: bloat or a table left by an earlier repetition must never count.
  fresh_db "$wh_db"
  rm -rf "$work"
  # Start from a clean slate: no dirty pages of the previous item to flush during this one.
  psql_admin -c CHECKPOINT
  t0=$EPOCHREALTIME
  # As a scheduler runs it: log lines at their default level (their cost is
  # part of what is measured); no bars, since stderr is a file.
  if ! /usr/bin/time -v -o "$timing" "$bin" run --memory-budget "$BUDGET" \
      --report-date "$REPORT_DATE" --active-days "$ACTIVE_DAYS" \
      --vendor-url "${URL[$label]}" --source-url "$src" --warehouse-url "$wh" \
      --work-dir "$work" --output "$DIR/$label/output.txt" > "$out" 2>&1; then
    die "$label: vendor-match run failed ($item, rep $rep): $(tail -n 5 "$out")"
  fi
  secs=$(seconds_since "$t0")
  record "$label" "$item" "$rep" seconds "$secs"
  record "$label" "$item" "$rep" rss_kib "$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$timing")"

  # Per-stage figures from the run's manifest, as the scheduler would read them.
  "$bin" status --json --work-dir "$work" > "$DIR/$label/status.json"
  local stage elapsed rows rss
  while IFS=$'\t' read -r stage elapsed rows rss; do
    record "$label" "${prefix}stage.$stage" "$rep" seconds "$elapsed"
    record "$label" "${prefix}stage.$stage" "$rep" rows "$rows"
    record "$label" "${prefix}stage.$stage" "$rep" rss_bytes "$rss"
  done < <(python3 "$HELPER" stages "$DIR/$label/status.json")
  if [ "$item" != run ]; then
    drop_db "$wh_db"
    rm -rf "$work"
    log "$label rep $rep: $item $secs s"
    return
  fi

  local status count
  while IFS=$'\t' read -r status count; do
    record "$label" pipeline "$rep" "count.$status" "$count"
  done < <(psql "$wh" -XAtq -F $'\t' -c 'SELECT match_status, count(*) FROM public.platform_user_activity GROUP BY 1')

  # The copy_in floor needs the loaded rows: export them once per invocation (untimed).
  if [ "$rep" = 1 ] && [ "$label" != demo ]; then export_rows "$label" "$wh"; fi
  drop_db "$wh_db"
  rm -rf "$work" # 10M runs write GBs
  log "$label rep $rep: run $secs s"
}

# measure_runs LABEL REP: `run`, and the baseline binary's beside it when there is one. The baseline goes
# first in even repetitions, so that neither binary always follows the other.
measure_runs() {
  local label=$1 rep=$2
  if [ -n "$BASELINE_BIN" ] && [ $((rep % 2)) = 0 ]; then measure_run "$label" "$rep" baseline "$BASELINE_BIN"; fi
  measure_run "$label" "$rep"
  if [ -n "$BASELINE_BIN" ] && [ $((rep % 2)) = 1 ]; then measure_run "$label" "$rep" baseline "$BASELINE_BIN"; fi
  return 0
}

# The pipeline's rows, as text and as binary (whole, and split in two halves by a hash of the user id).
export_rows() {
  local label=$1 wh=$2 cols select half
  cols=$(python3 "$HELPER" columns "$DIR/$label/output.txt")
  select="SELECT $cols FROM public.platform_user_activity"
  psql "$wh" -X -q -v ON_ERROR_STOP=1 -c "COPY ($select) TO STDOUT" > "$DIR/$label/rows.tsv"
  psql "$wh" -X -q -v ON_ERROR_STOP=1 -c "COPY ($select) TO STDOUT (FORMAT binary)" > "$DIR/$label/rows.bin"
  for half in 0 1; do
    psql "$wh" -X -q -v ON_ERROR_STOP=1 -c "COPY ($select WHERE (hashint8(COALESCE(internal_user_id, vendor_user_id)) & 1) = $half) TO STDOUT (FORMAT binary)" \
      > "$DIR/$label/rows-half$half.bin"
  done
  python3 "$HELPER" ddl "$DIR/$label/output.txt" floor_copy_in > "$DIR/$label/floor_table.sql"
}

measure_floor_vendor() {
  local label=$1 rep=$2 json
  json=$("$FLOOR_BIN" "${URL[$label]}") || die "$label: vendor_floor failed"
  echo "$json" > "$DIR/$label/floor-vendor.json"
  record "$label" floor.vendor "$rep" seconds "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$json")"
  record "$label" floor.vendor "$rep" users "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["users"])' "$json")"
}

measure_floor_copy_out() {
  local label=$1 rep=$2 src t0
  src=$(db_url "$(db_name "$label" src)")
  t0=$EPOCHREALTIME
  psql "$src" -Xqc 'COPY (SELECT u.id, u.firstname, u.lastname, u.specialty, p.location, u.classification, u.platform_registered_on, u.last_active_date FROM "user" u LEFT JOIN user_practice p ON p.id = u.practice_id) TO STDOUT' > /dev/null
  record "$label" floor.copy_out "$rep" seconds "$(seconds_since "$t0")"
}

# copy_in: into a fresh database, a plain table (no partitions, no index, no CHECK) per variant.
measure_floor_copy_in() {
  local label=$1 rep=$2 db=vm_bench_floor url t0 table
  url=$(db_url "$db")
  fresh_db "$db"
  for table in floor_copy_in floor_copy_in_bin1 floor_copy_in_bin2; do
    sed "s/CREATE TABLE floor_copy_in /CREATE TABLE $table /" "$DIR/$label/floor_table.sql" | psql "$url" -X -q -v ON_ERROR_STOP=1
  done

  psql_admin -c CHECKPOINT
  t0=$EPOCHREALTIME
  psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy floor_copy_in FROM '$DIR/$label/rows.tsv'"
  record "$label" floor.copy_in "$rep" seconds "$(seconds_since "$t0")"

  psql_admin -c CHECKPOINT
  t0=$EPOCHREALTIME
  psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy floor_copy_in_bin1 FROM '$DIR/$label/rows.bin' WITH (FORMAT binary)"
  record "$label" copy_in.binary_1 "$rep" seconds "$(seconds_since "$t0")"

  psql_admin -c CHECKPOINT
  t0=$EPOCHREALTIME
  local pids=() pid
  for half in 0 1; do
    psql "$url" -X -q -v ON_ERROR_STOP=1 -c "\\copy floor_copy_in_bin2 FROM '$DIR/$label/rows-half$half.bin' WITH (FORMAT binary)" &
    pids+=($!)
  done
  for pid in "${pids[@]}"; do wait "$pid" || die "$label: binary COPY in 2 sessions failed"; done
  record "$label" copy_in.binary_2 "$rep" seconds "$(seconds_since "$t0")"

  drop_db "$db"
}

# pg_join: the same job as SQL, timed from CREATE TABLE vendor_staging to the end of the INSERT.
measure_pg_join() {
  local label=$1 rep=$2 src t0 status count
  src=$(db_url "$(db_name "$label" src)")
  psql "$src" -X -q -v ON_ERROR_STOP=1 -c 'DROP SCHEMA IF EXISTS bench_pg_join CASCADE'
  psql_admin -c CHECKPOINT
  t0=$EPOCHREALTIME
  psql "$src" -X -q -v ON_ERROR_STOP=1 -v report_date="$REPORT_DATE" -v active_days="$ACTIVE_DAYS" \
    -f "$PG_JOIN_SQL" < "$DIR/$label/vendor.tsv"
  record "$label" pg_join "$rep" seconds "$(seconds_since "$t0")"
  while IFS=$'\t' read -r status count; do
    record "$label" pg_join "$rep" "count.$status" "$count"
  done < <(psql "$src" -XAtq -F $'\t' -c 'SELECT match_status, count(*) FROM bench_pg_join.result GROUP BY 1')
  psql "$src" -X -q -v ON_ERROR_STOP=1 -c 'DROP SCHEMA bench_pg_join CASCADE'
}

# Target 6: 1,000 pages served with 50 ms latency; extract with --concurrency 16 should fetch them
# in about pages x latency / concurrency and never have more than 16 requests in flight.
measure_latency() {
  local rep=$1 label=latency src work=$DIR/latency/work t0 wall stats manifest fetch_secs fetch_source
  src=$(db_url "$(db_name latency src)")
  rm -rf "$work"
  server_stats latency reset > /dev/null
  t0=$EPOCHREALTIME
  "$BIN" extract --new --quiet --concurrency "$LATENCY_CONCURRENCY" --memory-budget "$BUDGET" \
    --report-date "$REPORT_DATE" --active-days "$ACTIVE_DAYS" \
    --vendor-url "${URL[latency]}" --source-url "$src" --work-dir "$work" > "$DIR/latency/extract.log" 2>&1 ||
    die "latency: vendor-match extract failed: $(tail -n 5 "$DIR/latency/extract.log")"
  wall=$(seconds_since "$t0")
  stats=$(server_stats latency)
  manifest=$(find "$work" -mindepth 2 -maxdepth 2 -name manifest.json | head -n1)
  [ -n "$manifest" ] || die "latency: no manifest.json under $work"
  IFS=$'\t' read -r fetch_secs fetch_source < <(python3 "$HELPER" fetch "$manifest")
  record latency latency "$rep" wall_seconds "$wall"
  record latency latency "$rep" fetch_seconds "$fetch_secs"
  record latency latency "$rep" fetch_source "$fetch_source"
  record latency latency "$rep" pages "$(python3 "$HELPER" expected "$DIR/latency/fixtures/expected.json" vendor_pages)"
  if [ -n "$stats" ]; then
    record latency latency "$rep" requests "${stats% *}"
    record latency latency "$rep" max_in_flight "${stats#* }"
  else
    log "latency: the server has no /_stats endpoint; max in flight unknown"
  fi
  rm -rf "$work"

  # For reference, not the target: the bare client (benches/vendor_floor.rs) with as many requests in flight.
  local floor
  floor=$("$FLOOR_BIN" "${URL[latency]}" --fetch-threads "$LATENCY_CONCURRENCY") || die "latency: vendor_floor failed"
  record latency latency "$rep" floor_seconds "$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["seconds"])' "$floor")"
  log "latency rep $rep: fetch $fetch_secs s ($fetch_source), server stats: ${stats:-none}"
}

# ---------------------------------------------------------------------------
# Main

write_meta() {
  local cpu sizes_json
  cpu=$(sed -n 's/^model name\s*:\s*//p' /proc/cpuinfo | head -n1)
  sizes_json=$(for l in "${LABELS[@]}"; do printf '{"label":"%s","users":%s}\n' "$l" "${USERS[$l]}"; done | python3 -c 'import json,sys; print(json.dumps([json.loads(l) for l in sys.stdin]))')
  python3 - "$DIR/meta.json" <<EOF
import json, sys
json.dump({
    "date": "$(date -u "+%Y-%m-%d %H:%M UTC")",
    "machine": "$(nproc) CPU(s), ${cpu//\"/}, $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), $(psql "$ADMIN" -XAtc 'SHOW server_version' | cut -d' ' -f1 | sed 's/^/PostgreSQL /')",
    "bin": "$BIN",
    "baseline_bin": "$BASELINE_BIN",
    "floor_bin": "$FLOOR_BIN",
    "git": "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- src 2>/dev/null || echo ' + uncommitted src changes')",
    "repeat": $REPEAT,
    "budget": "$BUDGET",
    "report_date": "$REPORT_DATE",
    "sizes": $sizes_json,
    "pg_join_mode": "$PG_JOIN_MODE",
    "pg_settings": "$(psql "$ADMIN" -XAtc "SELECT string_agg(name || '=' || current_setting(name), ', ' ORDER BY name) FROM pg_settings WHERE name IN ('work_mem', 'shared_buffers', 'max_wal_size', 'wal_level', 'synchronous_commit', 'max_parallel_workers_per_gather')")",
    "latency_ms": $LATENCY_MS,
    "latency_concurrency": $LATENCY_CONCURRENCY,
}, open(sys.argv[1], "w"), indent=2)
EOF
}

main() {
  build
  ADMIN=$(scripts/pg-up.sh)
  mkdir -p "$DIR"
  DIR=$(realpath "$DIR")
  RAW=$DIR/raw.tsv
  : > "$RAW"
  SCRATCH_DBS=(vm_bench_floor)

  for label in "${LABELS[@]}"; do
    local n=${USERS[$label]}
    generate_fixture "$label" "$n" "$n" $(((n + 999) / 1000)) --users "$n"
    settle_source "$label"
    prepare_vendor_tsv "$label"
    record_planted "$label"
    SCRATCH_DBS+=("$(db_name "$label" wh)")
    start_server "$label"
  done
  if [ "${BENCH_SKIP_DEMO:-}" != 1 ]; then
    # The generator's defaults, which the demo uses: 151,677 vendor entries, 1,000,000 of our users.
    generate_fixture demo 151677 1000000 152
    settle_source demo
    SCRATCH_DBS+=("$(db_name demo wh)")
    start_server demo
  fi
  if [ "${BENCH_SKIP_LATENCY:-}" != 1 ]; then
    generate_fixture latency 1000000 1000 1000 --vendor-users 1000000 --internal-users 1000 --page-size 1000
    settle_source latency
    start_server latency --latency-ms "$LATENCY_MS"
  fi
  write_meta

  local rep
  for rep in $(seq 1 "$REPEAT"); do
    log "repetition $rep of $REPEAT"
    for label in "${LABELS[@]}"; do
      measure_runs "$label" "$rep" # first: the copy_in floor reads the rows the run loaded
      measure_floor_vendor "$label" "$rep"
      measure_floor_copy_out "$label" "$rep"
      measure_floor_copy_in "$label" "$rep"
      measure_pg_join "$label" "$rep"
    done
    [ "${BENCH_SKIP_DEMO:-}" = 1 ] || measure_runs demo "$rep"
    [ "${BENCH_SKIP_LATENCY:-}" = 1 ] || measure_latency "$rep"
  done

  python3 "$HELPER" report "$RAW" "$DIR/meta.json" "$DIR" "$SVG"
  log "results: $DIR/results.json, $DIR/table.txt, chart: $SVG"
}

main
