#!/usr/bin/env bash
# A throwaway MariaDB server for tests, living only in its own directory.
#
#   mariadb.sh create DIR PORT   initialise a data directory in DIR/data for a
#                                server on 127.0.0.1:PORT; writes DIR/my.cnf,
#                                DIR/init.sql, DIR/root.cnf (client options for
#                                root over the socket) and DIR/db.env with
#                                GOALSBOT_TEST_MYSQL_URL (test user, database
#                                goalsbot_test)
#   mariadb.sh serve DIR         run mariadbd for it in the foreground; its log
#                                goes to stderr
#   mariadb.sh stop DIR          shut a served server down cleanly (mariadbd
#                                ignores Ctrl-C; the tests need no stop, their
#                                server dies with the test process)
#   mariadb.sh sql DIR [ARGS...] run the mariadb client as root over the socket
#                                (e.g. `sql DIR -e 'show databases'`)
#
# The test user and database are made by the server itself: my.cnf names
# DIR/init.sql as init-file, which mariadbd runs on every start before it
# accepts connections. The statements are idempotent, so `create` never has to
# start the server, and once `serve` answers a login both exist.
#
# Accounts: root@localhost only (socket, random password in DIR/root.cnf; the
# password-less root@127.0.0.1 / ::1 / HOSTNAME that mariadb-install-db makes
# are removed) and goalsbot@127.0.0.1 / goalsbot@localhost with a random
# password and all rights on the databases `goalsbot\_%`.
#
# MariaDB itself comes from Debian's packages (install-mariadb.sh installs it
# when missing). Secrets are in DIR's files of mode 0600.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export PATH="$PATH:/usr/sbin:/usr/bin"

die() { echo "mariadb.sh: $*" >&2; exit 1; }

# 32 random lowercase hex characters: no quoting trouble in SQL, URLs or .cnf files.
random_secret() { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n'; }

cmd=${1:-}; shift || true
case "$cmd" in
create)
  [ $# -eq 2 ] || die "usage: mariadb.sh create DIR PORT"
  # mariadb-install-db runs a bootstrap mariadbd for seconds. Run all of it
  # as PID 1 of a PID namespace that dies with us (as serve does), so that a
  # test process killed mid-create leaves nothing behind: the tests start
  # create, too, under setpriv --pdeathsig KILL.
  if [ -z "${GOALSBOT_DB_IN_PIDNS:-}" ] && unshare --pid --fork --kill-child=SIGKILL true 2>/dev/null; then
    GOALSBOT_DB_IN_PIDNS=1 exec unshare --pid --fork --kill-child=SIGKILL -- bash "${BASH_SOURCE[0]}" create "$@"
  fi
  dir=$(realpath -m "$1"); port=$2
  [ -e "$dir/data" ] && die "$dir already holds a database"
  if ! command -v mariadb-install-db >/dev/null || ! command -v mariadbd >/dev/null; then
    bash "$here/install-mariadb.sh" >&2
  fi
  mkdir -p "$dir/tmp"
  chmod 700 "$dir"
  # Unix socket paths are limited to 107 bytes.
  [ ${#dir} -le 90 ] || die "directory path too long for a socket: $dir"
  umask 077
  pass=$(random_secret)
  rootpass=$(random_secret)
  # mariadbd refuses to run as root unless told to; as anyone else it runs as
  # that user and the option would only earn a warning.
  user_line=""
  [ "$(id -u)" -eq 0 ] && user_line="user=root"
  # Sized for a 2-core CI machine: small buffers, no durability beyond what a
  # throwaway test database needs, no performance schema. Character set as in
  # Debian's own server config (and Toolforge's ToolsDB): utf8mb4.
  cat >"$dir/my.cnf" <<CNF
[mariadbd]
$user_line
datadir=$dir/data
port=$port
bind-address=127.0.0.1
socket=$dir/mariadbd.sock
pid-file=$dir/mariadbd.pid
# Temporary files in DIR, not the shared /tmp: every server here runs as PID
# 46 or so of its own PID namespace, and MariaDB names temporary tables after
# its PID, so servers of concurrent test runs collided in /tmp
# ("Unknown table 'mysql.tmp_user_sys'" from mariadb-install-db).
tmpdir=$dir/tmp
init-file=$dir/init.sql
skip-name-resolve
character-set-server=utf8mb4
collation-server=utf8mb4_general_ci
innodb_buffer_pool_size=32M
innodb_log_file_size=16M
innodb_log_buffer_size=4M
innodb_flush_log_at_trx_commit=2
innodb_doublewrite=0
key_buffer_size=1M
performance_schema=OFF
max_connections=100
CNF
  cat >"$dir/init.sql" <<SQL
-- Run by mariadbd on every start (init-file), before it accepts connections.
-- mariadb-install-db also makes root@127.0.0.1, root@::1 and root@HOSTNAME
-- without a password: anyone on the machine could log in over TCP. Only
-- root@localhost (the socket, in a directory of mode 0700) stays.
DELETE FROM mysql.global_priv WHERE User = 'root' AND Host <> 'localhost';
DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';
FLUSH PRIVILEGES;
ALTER USER 'root'@'localhost' IDENTIFIED BY '$rootpass';
CREATE DATABASE IF NOT EXISTS goalsbot_test;
CREATE USER IF NOT EXISTS 'goalsbot'@'127.0.0.1', 'goalsbot'@'localhost';
ALTER USER 'goalsbot'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'goalsbot'@'localhost' IDENTIFIED BY '$pass';
GRANT ALL PRIVILEGES ON \`goalsbot\\_%\`.* TO 'goalsbot'@'127.0.0.1', 'goalsbot'@'localhost';
SQL
  cat >"$dir/root.cnf" <<CNF
[client]
user=root
password=$rootpass
socket=$dir/mariadbd.sock
CNF
  mariadb-install-db --defaults-file="$dir/my.cnf" --auth-root-authentication-method=normal \
    --skip-test-db --skip-name-resolve >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; die "mariadb-install-db failed (log above)"; }
  cat >"$dir/db.env" <<ENV
GOALSBOT_TEST_MYSQL_URL=mysql://goalsbot:$pass@127.0.0.1:$port/goalsbot_test
GOALSBOT_TEST_MYSQL_PORT=$port
GOALSBOT_TEST_MYSQL_DIR=$dir
ENV
  echo "$dir/db.env"
  ;;
serve)
  [ $# -eq 1 ] || die "usage: mariadb.sh serve DIR"
  dir=$(realpath "$1")
  [ -f "$dir/my.cnf" ] || die "$dir holds no database (run create first)"
  # In a PID namespace of its own mariadbd is PID 1, and --kill-child ends it
  # when whoever started us dies (the tests start us under setpriv
  # --pdeathsig KILL). Where no namespace can be made, exec it directly: it
  # forks no workers, so the parent-death signal reaches the server itself.
  if unshare --pid --fork --kill-child=SIGKILL true 2>/dev/null; then
    exec unshare --pid --fork --kill-child=SIGKILL -- mariadbd --defaults-file="$dir/my.cnf"
  fi
  exec mariadbd --defaults-file="$dir/my.cnf"
  ;;
stop)
  [ $# -eq 1 ] || die "usage: mariadb.sh stop DIR"
  exec mariadb-admin --defaults-file="$(realpath "$1")/root.cnf" shutdown
  ;;
sql)
  [ $# -ge 1 ] || die "usage: mariadb.sh sql DIR [ARGS...]"
  dir=$(realpath "$1"); shift
  exec mariadb --defaults-file="$dir/root.cnf" "$@"
  ;;
*)
  die "usage: mariadb.sh create|serve|stop|sql … (see the top of this file)"
  ;;
esac
