#!/usr/bin/env bash
# Makes sure a MariaDB (or MySQL) server is reachable and prints an admin URL
# for it (a user that can create databases; normally mysql://root@127.0.0.1:3306/test).
#
# 1. $VENDOR_MATCH_TEST_MYSQL_URL, if set and reachable;
# 2. the local server on 127.0.0.1:3306: started if it is down (service
#    mariadb, else mariadbd-safe in the background), installed with apt if
#    missing; root is let in over TCP without a password, as on a CI box.
# Logs go to stderr; stdout is the URL alone.
set -euo pipefail

log() { echo "mariadb-up: $*" >&2; }

# Client arguments for mysql://user[:password]@host[:port][/database].
client_args() {
  local re='^(mysql|mariadb)://([^:@/]+)(:([^@/]*))?@([^:/?]+)(:([0-9]+))?(/([^?]*))?'
  [[ $1 =~ $re ]] || return 1
  ARGS=(--protocol=TCP -h "${BASH_REMATCH[5]}" -P "${BASH_REMATCH[7]:-3306}" -u "${BASH_REMATCH[2]}")
  PASSWORD=${BASH_REMATCH[4]}
  DATABASE=${BASH_REMATCH[9]}
}

# Runs SQL as the URL's user (the password through the environment, never argv).
sql() {
  client_args "$1" || return 1
  MYSQL_PWD=$PASSWORD mysql "${ARGS[@]}" ${DATABASE:+"$DATABASE"} -NBe "$2"
}

reachable() { sql "$1" 'SELECT 1' >/dev/null 2>&1; }

if [ -n "${VENDOR_MATCH_TEST_MYSQL_URL:-}" ] && command -v mysql >/dev/null 2>&1 \
  && reachable "$VENDOR_MATCH_TEST_MYSQL_URL"; then
  echo "$VENDOR_MATCH_TEST_MYSQL_URL"; exit 0
fi
[ -n "${VENDOR_MATCH_TEST_MYSQL_URL:-}" ] && log "\$VENDOR_MATCH_TEST_MYSQL_URL is unreachable; trying the local server"

LOCAL="mysql://root@127.0.0.1:3306/test"
SERVER_ROOT="mysql://root@127.0.0.1:3306"

if ! command -v mysql >/dev/null 2>&1 || ! { command -v mariadbd >/dev/null 2>&1 || command -v mysqld >/dev/null 2>&1 \
  || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]; }; then
  log "installing the MariaDB server and client (apt)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mariadb-server mariadb-client >&2
fi

# Up over the socket (as the OS's root) or over TCP.
answers() { mysqladmin --connect-timeout=2 -uroot ping >/dev/null 2>&1 || reachable "$SERVER_ROOT"; }

wait_up() {
  for _ in $(seq 1 "$1"); do answers && return 0; sleep 1; done
  return 1
}

start_safe() {
  local safe
  safe=$(command -v mariadbd-safe || command -v mysqld_safe || true)
  [ -n "$safe" ] || { log "no mariadbd-safe or mysqld_safe found"; return 1; }
  log "starting $safe in the background"
  mkdir -p /run/mysqld && chown mysql:mysql /run/mysqld 2>/dev/null || true
  nohup "$safe" --bind-address=127.0.0.1 --port=3306 >/dev/null 2>&1 &
}

if ! answers; then
  log "the local server is down; starting it"
  started=0
  if command -v service >/dev/null 2>&1 && [ -x /etc/init.d/mariadb ]; then
    # In the background: the init script's own 30 s ping can give up (it
    # logs in with /etc/mysql/debian.cnf) on a server that is coming up.
    SERVICE_LOG=${TMPDIR:-/tmp}/mariadb-up.service.log
    log "service mariadb start (its output in $SERVICE_LOG)"
    (service mariadb start >"$SERVICE_LOG" 2>&1 &)
    wait_up 60 && started=1
  fi
  if [ "$started" = 0 ]; then
    start_safe && wait_up 60 \
      || { log "the server did not come up; see /var/log/mysql/error.log"; exit 1; }
  fi
  log "the local server is up"
fi

if ! reachable "$SERVER_ROOT"; then
  # A fresh Debian install lets root in through the Unix socket only.
  log "letting root in over TCP from 127.0.0.1 without a password (a test server)"
  mysql -uroot -NBe "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';
    GRANT ALL PRIVILEGES ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION; FLUSH PRIVILEGES;" >&2
  reachable "$SERVER_ROOT" || { log "root still can't connect over TCP to 127.0.0.1:3306"; exit 1; }
fi
sql "$SERVER_ROOT" 'CREATE DATABASE IF NOT EXISTS test' >&2
# fixtures generate loads with LOAD DATA LOCAL INFILE (MariaDB's default is ON).
if [ "$(sql "$SERVER_ROOT" 'SELECT @@GLOBAL.local_infile')" != 1 ]; then
  log "turning local_infile on"
  sql "$SERVER_ROOT" 'SET GLOBAL local_infile = ON' >&2
fi
echo "$LOCAL"
