#!/usr/bin/env bash
# The whole job on the built-in demo: a local PostgreSQL, the default fixtures
# (151,677 vendor users on 152 pages, ~1M of ours), the fixture vendor server,
# then `vendor-match run`. Prints the report and writes it to output.txt.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked
BIN=target/release/vendor-match
ADMIN=$(scripts/pg-up.sh)
db_url() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$ADMIN" "$1"; }
# Fresh databases each time, so the figures do not depend on earlier demos.
for db in vm_demo_source vm_demo_warehouse; do
  psql "$ADMIN" -Xqc "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done
export SOURCE_DATABASE_URL; SOURCE_DATABASE_URL=$(db_url vm_demo_source)
export WAREHOUSE_DATABASE_URL; WAREHOUSE_DATABASE_URL=$(db_url vm_demo_warehouse)

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
