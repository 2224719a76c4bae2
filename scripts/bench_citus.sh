#!/usr/bin/env bash
# The load stage into a three-node Citus cluster beside one PostgreSQL server,
# at the sizes given (users a side):
#
#   scripts/bench.sh --citus 1m 10m      # or scripts/bench_citus.sh 1m 10m
#
# Per size, the fixtures are generated into PostgreSQL (cached between
# invocations, database vm_benchci_<size>_src) and one run is extracted and
# matched; then, BENCH_REPEAT times (default 3), alternating which goes first:
#   load.single   `vendor-match load` of that run into a fresh database on the one server
#   load.citus    the same into a fresh database on the kit's cluster (scripts/citus-up.sh):
#                 coordinator 127.0.0.1:9700, workers 9701 and 9702, all on this machine
# each under /usr/bin/time -v. After each Citus load it records the shard
# count and the rows and bytes each worker holds. Around each load it reads
# the CPU seconds every server's backends used (the postmaster's reaped
# children, /proc/<pid>/stat; servers on this machine only) and
# vendor-match's own. Prints the medians, the ratio and the figures per node.
#
# Environment: BENCH_REPEAT, BENCH_BIN, BENCH_NO_BUILD=1 as in scripts/bench.sh;
# BENCH_DIR (default work/bench-citus): fixtures, runs, results.tsv, table.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

REPEAT=${BENCH_REPEAT:-3}
BIN=${BENCH_BIN:-target/release/vendor-match}
DIR=${BENCH_DIR:-work/bench-citus}
BUDGET=64MiB
TABLE=public.platform_user_activity

BENCH_NAME=bench-citus
# shellcheck source=scripts/bench_lib.sh
. scripts/bench_lib.sh
clear_run_settings
export PGOPTIONS='-c client_min_messages=warning'
[ $# -ge 1 ] || die "usage: scripts/bench_citus.sh SIZE... (users a side, e.g. 1m 10m)"

build_binary

PG_ADMIN=$(scripts/pg-up.sh)
KIT=$(scripts/citus-up.sh --kit) || die "no Citus kit (scripts/citus-up.sh)"

mkdir -p "$DIR"
RAW=$DIR/results.tsv
: > "$RAW"
record() { printf '%s\t%s\t%s\t%s\n' "$@" >> "$RAW"; } # label item metric value
seconds_since() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f\n", b - a }'; }

SERVER=
trap '[ -z "$SERVER" ] || kill "$SERVER" 2>/dev/null || true' EXIT

# prepare LABEL USERS: fixtures (cached) and one run extracted and matched.
prepare() {
  local label=$1 n=$2 src=vm_benchci_$1_src mark=$DIR/$1/fixtures.ok
  mkdir -p "$DIR/$label"
  local src_url; src_url=$(with_db "$PG_ADMIN" "$src")
  if [ "$(cat "$mark" 2>/dev/null)" = "$n" ] &&
    [ "$(psql "$src_url" -XAtqc 'SELECT count(*) FROM "user"' 2>/dev/null)" = "$n" ]; then
    log "$label: cached fixtures"
  else
    rm -f "$mark"
    psql "$PG_ADMIN" -Xqc "DROP DATABASE IF EXISTS $src WITH (FORCE)" -c "CREATE DATABASE $src"
    log "$label: generating $n users a side into $src"
    "$BIN" fixtures generate --force --users "$n" --target "$src_url" --out-dir "$DIR/$label/fixtures" > /dev/null
    psql "$src_url" -Xqc 'VACUUM (ANALYZE) "user", user_practice'
    echo "$n" > "$mark"
  fi
  "$BIN" fixtures serve --dir "$DIR/$label/fixtures" --listen 127.0.0.1:0 > "$DIR/$label/serve.log" 2>&1 &
  SERVER=$!
  for _ in $(seq 1 100); do grep -q '^listening on ' "$DIR/$label/serve.log" && break; sleep 0.1; done
  local vendor; vendor=$(sed -n 's/^listening on //p' "$DIR/$label/serve.log" | head -n1)
  [ -n "$vendor" ] || die "$label: the fixture server did not start"
  rm -rf "$DIR/$label/work"
  log "$label: extract and match"
  "$BIN" extract --new --quiet --run-id "bench-$label" --memory-budget "$BUDGET" --work-dir "$DIR/$label/work" \
    --vendor-url "$vendor" --source-url "$src_url" > /dev/null
  "$BIN" match --quiet --run-id "bench-$label" --work-dir "$DIR/$label/work" > /dev/null
  kill "$SERVER"; SERVER=
}

# backend_cpu URL: CPU seconds used so far by the reaped backends of the
# server at URL (empty when its data directory is not on this machine).
backend_cpu() {
  local dir pid
  dir=$(psql "$1" -XAtc 'SHOW data_directory' 2>/dev/null) || return 0
  pid=$(head -n1 "$dir/postmaster.pid" 2>/dev/null) || return 0
  awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f\n", ($16 + $17) / t }' "/proc/$pid/stat" 2>/dev/null || true
}

# port_after URL N: the URL with its port N higher.
port_after() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(netloc=f"{p.username}@{p.hostname}:{p.port+int(sys.argv[2])}").geturl())' "$1" "$2"; }

# load LABEL ITEM WAREHOUSE_URL
load() {
  local label=$1 item=$2 t0 secs
  t0=$EPOCHREALTIME
  /usr/bin/time -v -o "$DIR/$label/time.txt" "$BIN" load --quiet --run-id "bench-$label" --work-dir "$DIR/$label/work" \
    --warehouse-url "$3" > "$DIR/$label/load.log" 2>&1 || die "$label: $item failed: $(tail -n 5 "$DIR/$label/load.log")"
  secs=$(seconds_since "$t0")
  record "$label" "$item" seconds "$secs"
  record "$label" "$item" rss_kib "$(sed -n 's/^\s*Maximum resident set size (kbytes): //p' "$DIR/$label/time.txt")"
  record "$label" "$item" cpu "$(awk -F': ' '/User time|System time/ { s += $2 } END { print s }' "$DIR/$label/time.txt")"
  log "$label: $item $secs s"
}

# cpu_around LABEL ITEM URL... -- COMMAND: runs COMMAND, recording the CPU each server's backends used meanwhile.
cpu_around() {
  local label=$1 item=$2 urls=() before=() i after
  shift 2
  while [ "$1" != -- ]; do urls+=("$1"); shift; done
  shift
  for url in "${urls[@]}"; do before+=("$(backend_cpu "$url")"); done
  "$@"
  sleep 1 # the last backends exit and are reaped
  for i in "${!urls[@]}"; do
    after=$(backend_cpu "${urls[$i]}")
    if [ -n "$after" ] && [ -n "${before[$i]}" ]; then
      record "$label" "$item.node$i" cpu "$(awk -v a="${before[$i]}" -v b="$after" 'BEGIN { printf "%.2f\n", b - a }')"
    fi
  done
}

load_single() {
  local db=vm_benchci_$1_wh
  psql "$PG_ADMIN" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
  cpu_around "$1" load.single "$PG_ADMIN" -- load "$1" load.single "$(with_db "$PG_ADMIN" "$db")"
  psql "$PG_ADMIN" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)"
}

load_citus() {
  local label=$1 url partition
  url=$(scripts/citus-up.sh "vm_benchci_$label")
  # The kit's workers listen on the two ports after the coordinator's.
  cpu_around "$label" load.citus "$url" "$(port_after "$url" 1)" "$(port_after "$url" 2)" -- load "$label" load.citus "$url"
  partition=$(psql "$url" -XAtc "SELECT c.oid::regclass FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
    WHERE i.inhparent = '$TABLE'::regclass LIMIT 1")
  local shards per_node
  shards=$(psql "$url" -XAtc "SELECT shard_count FROM citus_tables WHERE table_name = '$partition'::regclass")
  [ -n "$shards" ] || die "$label: no shard count for $partition"
  record "$label" citus shards "$shards"
  per_node=$(psql "$url" -XAtc "SELECT r.nodeport, r.rows, s.bytes FROM
    (SELECT nodeport, sum(result::bigint) AS rows FROM run_command_on_placements('$partition', 'SELECT count(*) FROM %s') GROUP BY 1) r
    JOIN (SELECT nodeport, sum(shard_size) AS bytes FROM citus_shards WHERE table_name = '$partition'::regclass GROUP BY 1) s USING (nodeport)")
  [ "$(wc -l <<< "$per_node")" -ge 2 ] || die "$label: rows on fewer than two workers: $per_node"
  while IFS='|' read -r port rows bytes; do
    record "$label" "node.$port" rows "$rows"
    record "$label" "node.$port" bytes "$bytes"
  done <<< "$per_node"
  bash "$KIT/cluster.sh" dropdb "vm_benchci_$label"
}

LABELS=()
for arg in "$@"; do LABELS+=("${arg,,}"); done
for label in "${LABELS[@]}"; do
  prepare "$label" "$(size "$label")"
  for rep in $(seq 1 "$REPEAT"); do
    if [ $((rep % 2)) = 1 ]; then load_single "$label"; load_citus "$label"; else load_citus "$label"; load_single "$label"; fi
  done
done

python3 - "$RAW" "$REPEAT" "$(nproc) cores, $(free -g | awk '/^Mem:/ {print $2}') GiB" "${LABELS[@]}" <<'PY' | tee "$DIR/table.txt"
import collections, statistics, sys
raw, repeat, machine, labels = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
values = collections.defaultdict(list)
for line in open(raw):
    label, item, metric, value = line.rstrip("\n").split("\t")
    values[label, item, metric].append(float(value))
med = lambda label, item, metric: statistics.median(values[label, item, metric])
nodes = sorted({item for (_, item, _) in values if item.startswith("node.")})
print(f"load stage: one PostgreSQL server vs a 3-node Citus cluster on the same machine, medians of {repeat} (machine: {machine})")
print(f"{'':34}" + "".join(f"{l:>12}" for l in labels))
rows = [
    ("load.single s", lambda l: med(l, "load.single", "seconds")),
    ("load.citus s", lambda l: med(l, "load.citus", "seconds")),
    ("load.citus / load.single", lambda l: med(l, "load.citus", "seconds") / med(l, "load.single", "seconds")),
    ("rows loaded (thousands)", lambda l: sum(med(l, n, "rows") for n in nodes) / 1000),
    ("rows/s single (thousands)", lambda l: sum(med(l, n, "rows") for n in nodes) / med(l, "load.single", "seconds") / 1000),
    ("rows/s citus (thousands)", lambda l: sum(med(l, n, "rows") for n in nodes) / med(l, "load.citus", "seconds") / 1000),
    ("shards", lambda l: med(l, "citus", "shards")),
    ("CPU s: vendor-match (single)", lambda l: med(l, "load.single", "cpu")),
    ("CPU s: the one server", lambda l: med(l, "load.single.node0", "cpu")),
    ("CPU s: vendor-match (citus)", lambda l: med(l, "load.citus", "cpu")),
    ("CPU s: coordinator", lambda l: med(l, "load.citus.node0", "cpu")),
    ("CPU s: worker 1", lambda l: med(l, "load.citus.node1", "cpu")),
    ("CPU s: worker 2", lambda l: med(l, "load.citus.node2", "cpu")),
    ("CPU us/row: one server", lambda l: med(l, "load.single.node0", "cpu") / sum(med(l, n, "rows") for n in nodes) * 1e6),
    ("CPU us/row: coordinator", lambda l: med(l, "load.citus.node0", "cpu") / sum(med(l, n, "rows") for n in nodes) * 1e6),
    ("CPU us/row on a worker", lambda l: (med(l, "load.citus.node1", "cpu") / med(l, nodes[0], "rows") + med(l, "load.citus.node2", "cpu") / med(l, nodes[-1], "rows")) / 2 * 1e6),
    ("peak RSS single MiB", lambda l: max(values[l, "load.single", "rss_kib"]) / 1024),
    ("peak RSS citus MiB", lambda l: max(values[l, "load.citus", "rss_kib"]) / 1024),
]
for n in nodes:
    rows.append((f"worker {n[5:]} rows (thousands)", lambda l, n=n: med(l, n, "rows") / 1000))
    rows.append((f"worker {n[5:]} MiB on disk", lambda l, n=n: med(l, n, "bytes") / 2**20))
    rows.append((f"worker {n[5:]} rows/s (thousands)", lambda l, n=n: med(l, n, "rows") / med(l, "load.citus", "seconds") / 1000))
for name, f in rows:
    print(f"{name:34}" + "".join(f"{f(l):>12.2f}" for l in labels))
PY
