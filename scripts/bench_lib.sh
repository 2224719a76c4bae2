# Helpers shared by scripts/bench_mysql.sh and scripts/bench_citus.sh, which
# source this file after setting BENCH_NAME (the prefix of their log lines) and BIN.

log() { echo "$BENCH_NAME: $*" >&2; }
die() { log "$*"; exit 1; }

# The bench sets every option itself: settings inherited from the caller's
# environment (a run id, URLs, VENDOR_MATCH_*) would change what is measured.
# The test servers' URLs (VENDOR_MATCH_TEST_*) are kept.
clear_run_settings() {
  local var
  for var in $(compgen -e); do
    case $var in VENDOR_MATCH_TEST_*) ;; VENDOR_MATCH_* | VENDOR_API_URL | SOURCE_DATABASE_URL | WAREHOUSE_DATABASE_URL) unset "$var" ;; esac
  done
}

# size 100k -> 100000, 1m -> 1000000, 250000 -> 250000
size() {
  local s=${1,,} mult=1
  [[ $s =~ ^([0-9]+)([km]?)$ ]] || die "bad size '$1': expected e.g. 100k, 1m or 250000"
  case ${BASH_REMATCH[2]} in k) mult=1000 ;; m) mult=1000000 ;; esac
  echo $((BASH_REMATCH[1] * mult))
}

# with_db URL DB: the URL with its database replaced.
with_db() { python3 -c 'import sys,urllib.parse as u; p=u.urlparse(sys.argv[1]); print(p._replace(path="/"+sys.argv[2]).geturl())' "$1" "$2"; }

# Builds the release binary unless BENCH_NO_BUILD=1, and makes BIN absolute.
build_binary() {
  if [ "${BENCH_NO_BUILD:-}" != 1 ]; then cargo build --release --locked; fi
  [ -x "$BIN" ] || die "no vendor-match binary at $BIN"
  BIN=$(realpath "$BIN")
}
