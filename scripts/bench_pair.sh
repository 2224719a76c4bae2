#!/usr/bin/env bash
# Two vendor-match binaries (or wrappers) side by side on one cached bench
# fixture, alternating, N runs each: the ratio of their median walls is what
# a change costs, with this shared machine's noise hitting both alike.
#
#   scripts/bench_pair.sh A B [N] [LABEL]   # N=7 runs each (default), LABEL=1m (default)
#
# The fixture is scripts/bench.sh's (run `scripts/bench.sh LABEL` once first):
# $BENCH_DIR/LABEL/fixtures and its source database vm_bench_LABEL_src. Each
# run loads into a fresh warehouse database and a fresh work dir, with the
# bench's settings, logging at the default level (stderr to a file).
# Prints each run's wall and CPU time (user + system of the vendor-match
# process, from /usr/bin/time: much less noisy than the wall, and where a
# cost inside the process, such as logging, shows), then the medians and B / A.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 2 ] || { echo "usage: scripts/bench_pair.sh A B [N] [LABEL]" >&2; exit 2; }
A=$1 B=$2 N=${3:-7} LABEL=${4:-1m}
DIR=${BENCH_DIR:-work/bench}
ADMIN=$(scripts/pg-up.sh)
db_url() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$ADMIN" "$1"; }
SRC=$(db_url "vm_bench_${LABEL}_src")
WH_DB=vm_bench_pair_wh
WH=$(db_url "$WH_DB")
WORK=$(mktemp -d)
trap 'kill "$SERVER" 2>/dev/null; rm -rf "$WORK"; psql "$ADMIN" -Xqc "DROP DATABASE IF EXISTS $WH_DB WITH (FORCE)"' EXIT
[ -f "$DIR/$LABEL/fixtures/expected.json" ] || { echo "no fixture in $DIR/$LABEL: run scripts/bench.sh $LABEL first" >&2; exit 1; }
"$A" fixtures serve --dir "$DIR/$LABEL/fixtures" --listen 127.0.0.1:0 > "$WORK/serve.log" 2>&1 &
SERVER=$!
for _ in $(seq 50); do grep -q '^listening on ' "$WORK/serve.log" && break; sleep 0.1; done
URL=$(sed -n 's/^listening on //p' "$WORK/serve.log")

one() {
  psql "$ADMIN" -Xq -c "DROP DATABASE IF EXISTS $WH_DB WITH (FORCE)" -c "CREATE DATABASE $WH_DB" -c CHECKPOINT
  rm -rf "$WORK/work"
  /usr/bin/time -f '%e %U %S' -o "$WORK/time" "$1" run --memory-budget 64MiB --report-date 2017-02-02 --active-days 30 --vendor-url "$URL" \
    --source-url "$SRC" --warehouse-url "$WH" --work-dir "$WORK/work" --output "$WORK/output.txt" \
    > "$WORK/run.log" 2>&1 || { tail -5 "$WORK/run.log" >&2; exit 1; }
  # wall, then CPU seconds
  awk '{ printf "%.3f %.3f\n", $1, $2 + $3 }' "$WORK/time"
}

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
: > "$WORK/a" && : > "$WORK/b"
for i in $(seq "$N"); do
  # Alternating which goes first: a warm cache or a busy neighbour favours neither.
  if [ $((i % 2)) = 1 ]; then one "$A" >> "$WORK/a"; one "$B" >> "$WORK/b"; else one "$B" >> "$WORK/b"; one "$A" >> "$WORK/a"; fi
  echo "pair $i: A $(tail -1 "$WORK/a"), B $(tail -1 "$WORK/b") (wall, CPU seconds)"
done
for what in wall:1 cpu:2; do
  name=${what%:*} column=${what#*:}
  MA=$(cut -d' ' -f"$column" "$WORK/a" | median) MB=$(cut -d' ' -f"$column" "$WORK/b" | median)
  echo "$name: A median $MA s, B median $MB s, B / A = $(awk -v a="$MA" -v b="$MB" 'BEGIN { printf "%.3f", b / a }')"
done
echo "A = $A, B = $B"
