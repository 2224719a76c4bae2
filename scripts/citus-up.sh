#!/usr/bin/env bash
# A Citus cluster for the tests, the demo and the benchmark, with a fresh database on it.
#
#   scripts/citus-up.sh DB      prints the URL of database DB on the coordinator
#   scripts/citus-up.sh --kit   prints the kit's folder (exit 3 if there is none)
#
# The cluster is the kit's (../shared/citus from the project root, or $CITUS_KIT):
# Citus built and installed for the machine's PostgreSQL if it is not yet
# (install.sh, a few minutes the first time), then a coordinator on
# 127.0.0.1:9700 and workers on 9701 and 9702 (cluster.sh up). DB is dropped
# and made again on all three nodes, with Citus and the workers registered.
# Without a kit: one line on stderr and exit 3.
# Logs go to stderr; stdout is the URL alone.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "citus-up: $*" >&2; }

kit=""
for candidate in "${CITUS_KIT:-}" ../shared/citus /work/shared/citus; do
  if [ -n "$candidate" ] && [ -x "$candidate/cluster.sh" ] && [ -f "$candidate/install.sh" ]; then
    kit=$(cd "$candidate" && pwd)
    break
  fi
done
if [ -z "$kit" ]; then
  log "no Citus kit (../shared/citus, or set CITUS_KIT to its folder)"
  exit 3
fi
if [ "${1:-}" = --kit ]; then echo "$kit"; exit 0; fi
db=${1:?usage: scripts/citus-up.sh DB | --kit}

scripts/pg-up.sh >/dev/null # the machine's PostgreSQL, installed if missing: Citus is built for it
install_log=$(mktemp)
if ! bash "$kit/install.sh" >"$install_log" 2>&1; then
  log "installing Citus failed:"; tail -20 "$install_log" >&2; rm -f "$install_log"; exit 1
fi
rm -f "$install_log"
bash "$kit/cluster.sh" up >/dev/null
bash "$kit/cluster.sh" dropdb "$db"
bash "$kit/cluster.sh" newdb "$db"
