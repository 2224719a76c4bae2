#!/usr/bin/env bash
# Opens an HTML file in headless Chromium: fails on any console message,
# prints the rendered DOM on stdout, and with SCREENSHOT_PNG also writes a
# full-page screenshot.
#
#   scripts/browser-check.sh HTML_FILE [SCREENSHOT_PNG] > dom.html
#   scripts/browser-check.sh --install     # only install Chromium if missing
#
# Chromium is Debian's package, installed with apt-get when /usr/bin/chromium
# is missing (sudo only when not root).
#
# Console messages: Chromium's stderr log (--enable-logging=stderr) prints
# every console message, console.error and uncaught exceptions included, as
# `INFO:CONSOLE:<line>] "<message>", source: ...` and does not keep the
# message's level. The report has no script, so any console message at all is
# a fault: the check fails on every one.
#
# The screenshot's height is the page's: a copy of the page with one script
# appended, that writes the document's height into the DOM, is opened first
# (1280 pixels wide); SCREENSHOT_HEIGHT overrides it.
#
# Exit codes: 0 clean, 1 console messages or no DOM, 2 usage, 3 Chromium not
# installed and not installable.
set -euo pipefail

usage="usage: scripts/browser-check.sh HTML_FILE [SCREENSHOT_PNG] | --install"
[ $# -ge 1 ] && [ $# -le 2 ] || { echo "$usage" >&2; exit 2; }
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
WIDTH=1280

if [ ! -x "$CHROMIUM" ]; then
  echo "browser-check: $CHROMIUM is missing: installing Debian's chromium" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=(); else SUDO=(sudo -n); fi
  # Two checks at once (parallel tests) wait for each other's dpkg lock.
  apt=("${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300)
  if ! { "${apt[@]}" update -qq && "${apt[@]}" install -y -qq chromium; } >&2; then
    echo "browser-check: chromium could not be installed" >&2
    exit 3
  fi
  [ -x "$CHROMIUM" ] || { echo "browser-check: chromium installed, but $CHROMIUM is not there" >&2; exit 3; }
fi
[ "$1" != --install ] || exit 0
[ -f "$1" ] || { echo "browser-check: $1 is not a file" >&2; exit 2; }
HTML=$(realpath "$1")
SHOT=${2:-}

SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT

# chromium_run OUT ERR ARGS...: one headless Chromium with a profile of its own.
chromium_run() {
  local out=$1 err=$2
  shift 2
  timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
    --user-data-dir="$SCRATCH/profile-$RANDOM" --enable-logging=stderr --v=0 "$@" > "$out" 2> "$err"
}

# console_messages ERR: the console lines of a Chromium log.
console_messages() {
  grep -E ':CONSOLE[:(]|Uncaught' "$1" || true
}

status=0
chromium_run "$SCRATCH/dom.html" "$SCRATCH/dom.err" --window-size="$WIDTH,900" --dump-dom "file://$HTML" || status=$?
if [ "$status" != 0 ] || ! grep -qi '<html' "$SCRATCH/dom.html"; then
  echo "browser-check: Chromium gave no DOM for $HTML (exit $status):" >&2
  tail -n 20 "$SCRATCH/dom.err" >&2
  exit 1
fi
# fail_on_console ERR_LOG [WHEN]: exits 1 when Chromium's log holds a console message.
fail_on_console() {
  local messages
  messages=$(console_messages "$1")
  if [ -n "$messages" ]; then
    echo "browser-check: console messages in $HTML${2:+ ($2)}:" >&2
    echo "$messages" >&2
    exit 1
  fi
}
fail_on_console "$SCRATCH/dom.err"

if [ -n "$SHOT" ]; then
  height=${SCREENSHOT_HEIGHT:-}
  if [ -z "$height" ]; then
    # The measuring copy sits beside the page, so that relative paths resolve alike.
    measure="$(dirname "$HTML")/.browser-check-$$-$(basename "$HTML")"
    trap 'rm -rf "$SCRATCH" "$measure"' EXIT
    { cat "$HTML"; echo '<script>document.documentElement.setAttribute("data-browser-check-height", Math.ceil(document.documentElement.scrollHeight))</script>'; } > "$measure"
    chromium_run "$SCRATCH/measure.html" "$SCRATCH/measure.err" --window-size="$WIDTH,900" --dump-dom "file://$measure" || true
    rm -f "$measure"
    height=$(sed -n 's/.*data-browser-check-height="\([0-9]*\)".*/\1/p' "$SCRATCH/measure.html" | head -n1)
    [ -n "$height" ] || { echo "browser-check: could not measure the page's height" >&2; exit 1; }
  fi
  rm -f "$SHOT"
  chromium_run "$SCRATCH/shot.out" "$SCRATCH/shot.err" --hide-scrollbars --window-size="$WIDTH,$height" \
    --screenshot="$(realpath -m "$SHOT")" "file://$HTML" || status=$?
  if [ "$status" != 0 ] || [ ! -s "$SHOT" ]; then
    echo "browser-check: no screenshot written to $SHOT (exit $status):" >&2
    tail -n 20 "$SCRATCH/shot.err" >&2
    exit 1
  fi
  fail_on_console "$SCRATCH/shot.err" "screenshot run"
  echo "browser-check: screenshot ${WIDTH}x$height written to $SHOT" >&2
fi

cat "$SCRATCH/dom.html"
