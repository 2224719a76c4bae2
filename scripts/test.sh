#!/usr/bin/env bash
# Runs every test against a real PostgreSQL server and a real MariaDB server (started if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR_MATCH_TEST_DATABASE_URL="$(scripts/pg-up.sh)"
export VENDOR_MATCH_TEST_DATABASE_URL
VENDOR_MATCH_TEST_MYSQL_URL="$(scripts/mariadb-up.sh)"
export VENDOR_MATCH_TEST_MYSQL_URL
cargo test --locked "$@"
