#!/usr/bin/env bash
# Runs every test against a real PostgreSQL server, a real MariaDB server and a
# real three-node Citus cluster (each started, or installed, if needed).
set -euo pipefail
cd "$(dirname "$0")/.."
VENDOR_MATCH_TEST_DATABASE_URL="$(scripts/pg-up.sh)"
export VENDOR_MATCH_TEST_DATABASE_URL
VENDOR_MATCH_TEST_MYSQL_URL="$(scripts/mariadb-up.sh)"
export VENDOR_MATCH_TEST_MYSQL_URL
# A Citus cluster (the kit's, built and started if needed) unless one is given.
if [ -z "${VENDOR_MATCH_TEST_CITUS_URL:-}" ]; then
  status=0
  url=$(scripts/citus-up.sh vm_test) || status=$?
  case $status in
    0)
      export VENDOR_MATCH_TEST_CITUS_URL=$url
      VENDOR_MATCH_TEST_CITUS_KIT=$(scripts/citus-up.sh --kit)
      export VENDOR_MATCH_TEST_CITUS_KIT ;;
    3)
      if [ "${VENDOR_MATCH_REQUIRE_CITUS:-}" = 1 ]; then
        echo "test: VENDOR_MATCH_REQUIRE_CITUS=1 and no Citus kit: failing rather than skip the Citus tests" >&2
        exit 1
      fi
      echo "test: no Citus kit: the Citus tests will say they are skipped" >&2 ;;
    *) exit "$status" ;;
  esac
fi
# Chromium for the HTML report's browser check (tests/report_html.rs):
# Debian's, installed if missing; without it those tests say they are skipped,
# or fail under VENDOR_MATCH_REQUIRE_BROWSER=1 (CI).
scripts/browser-check.sh --install || echo "test: no Chromium: the browser checks will say they are skipped" >&2
cargo test --locked "$@"
