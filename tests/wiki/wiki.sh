#!/usr/bin/env bash
# A throwaway MediaWiki 1.43 on SQLite for tests and for trying the bot locally.
#
#   wiki.sh create DIR PORT     install a wiki in DIR for http://127.0.0.1:PORT,
#                               with an admin, a bot account and a bot password;
#                               writes DIR/wiki.env (URL and credentials)
#   wiki.sh serve DIR           run PHP's built-in server for it (foreground);
#                               one log line per request goes to stderr
#   wiki.sh load DIR FILE...    save pages from files; a file's name is its title,
#                               URL-encoded ("/" as %2F, " " as _), ending in .wikitext
#   wiki.sh user DIR NAME PASS  create a further (non-bot) user
#   wiki.sh edit DIR USER TITLE save stdin as TITLE, as USER (an existing user)
#   wiki.sh protect DIR TITLE   protect TITLE: only admins may edit it
#   wiki.sh bot DIR NAME        create a further bot account with a bot password
#                               (app id goalsbot); prints the password
#   wiki.sh unbot DIR NAME      remove NAME from the bot group
#   wiki.sh unprotect DIR TITLE lift TITLE's protection
#   wiki.sh hide DIR REVID      revision-delete REVID's text (as an admin's "hide revision" does)
#   wiki.sh endsessions DIR NAME
#                               end NAME's sessions (drop them from the session
#                               store, as an expiry or an emptied cache does);
#                               prints how many
#   wiki.sh revoke DIR NAME     delete NAME's bot passwords (Special:BotPasswords'
#                               "Delete"): its logins and sessions stop working
#   wiki.sh move DIR FROM TO    move page FROM to TO as Admin (FROM keeps a redirect)
#   wiki.sh delete DIR TITLE    delete TITLE as Admin
#
# All wikis share the code in /usr/share/mediawiki (installed by
# install-mediawiki.sh when missing); each lives only in its DIR.
set -euo pipefail

MW=/usr/share/mediawiki
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

die() { echo "wiki.sh: $*" >&2; exit 1; }

maint() { # maint DIR SCRIPT ARGS... (stdin is passed on)
  local dir=$1 script=$2; shift 2
  MW_CONFIG_FILE="$dir/LocalSettings.php" php "$MW/maintenance/run.php" "$script" "$@"
}

# maint, tried again when the wiki's SQLite database is busy: under the
# parallel tests' load a maintenance script may meet another writer's lock
# ("database is locked"); MediaWiki's own web requests wait for it, a
# script gives up. Other failures are not retried. Stdin is kept in a file
# so each try reads it whole.
maint_busy() { # maint_busy DIR SCRIPT ARGS...
  local input err try
  input=$(mktemp) err=$(mktemp)
  cat >"$input"
  for try in 1 2 3 4 5 6; do
    if maint "$@" <"$input" 2>"$err"; then
      rm -f "$input" "$err"
      return 0
    fi
    grep -qiE 'database is locked|database table is locked|SQLITE_BUSY|Error: 5 ' "$err" || break
    sleep "0.$((try * 2))"
  done
  cat "$err" >&2
  rm -f "$input" "$err"
  return 1
}

cmd=${1:-}; shift || true
case "$cmd" in
create)
  [ $# -eq 2 ] || die "usage: wiki.sh create DIR PORT"
  dir=$(realpath -m "$1"); port=$2
  [ -e "$dir/LocalSettings.php" ] && die "$dir already holds a wiki"
  [ -f "$MW/maintenance/install.php" ] || bash "$here/install-mediawiki.sh" >&2
  mkdir -p "$dir"
  adminpass="Admin-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  php "$MW/maintenance/install.php" --dbtype sqlite --dbpath "$dir" --dbname wiki \
    --server "http://127.0.0.1:$port" --scriptpath "" --confpath "$dir" \
    --lang en --pass "$adminpass" TestWiki Admin >"$dir/install.log" 2>&1 \
    || { cat "$dir/install.log" >&2; die "install.php failed (log above)"; }
  cat >>"$dir/LocalSettings.php" <<'PHP'

# --- goalsbot test wiki ---
$wgEnableBotPasswords = true;
$wgShowExceptionDetails = true;
# Tests save many pages quickly; a shared wiki would throttle, this one must not.
$wgRateLimits = [];
$wgGroupPermissions['bot']['noratelimit'] = true;
$wgGroupPermissions['user']['noratelimit'] = true;
$wgMainCacheType = CACHE_NONE;
$wgEnableUploads = false;
$wgJobRunRate = 0;
# Echo, as on Wikimedia's wikis: the bot's conflict notices must notify the
# people they mention (tests read their notifications).
wfLoadExtension( 'Echo' );
PHP
  # Echo's tables.
  maint "$dir" update --quick >>"$dir/install.log" 2>&1 \
    || { tail -n 30 "$dir/install.log" >&2; die "update.php (Echo's tables) failed"; }
  # A bot password must match [0-9a-w]{32,} (see shared/local-wiki.md).
  botpass=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 32)
  userpass="User-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  maint "$dir" createAndPromote --bot GoalsBot "$userpass" >>"$dir/install.log" 2>&1
  maint "$dir" createBotPassword --appid goalsbot \
    --grants basic,highvolume,editpage,createeditmovepage,editprotected \
    GoalsBot "$botpass" >/dev/null 2>&1 || die "createBotPassword failed"
  umask 077
  cat >"$dir/wiki.env" <<ENV
GOALSBOT_TEST_WIKI_URL=http://127.0.0.1:$port/
GOALSBOT_TEST_WIKI_PORT=$port
GOALSBOT_TEST_WIKI_DIR=$dir
GOALSBOT_USERNAME=GoalsBot@goalsbot
GOALSBOT_PASSWORD=$botpass
GOALSBOT_TEST_ADMIN_PASSWORD=$adminpass
ENV
  echo "$dir/wiki.env"
  ;;
serve)
  [ $# -eq 1 ] || die "usage: wiki.sh serve DIR"
  dir=$(realpath "$1")
  # shellcheck disable=SC1091
  . "$dir/wiki.env"
  export MW_CONFIG_FILE="$dir/LocalSettings.php"
  # PHP's server workers outlive a killed master. In a PID namespace of its
  # own the master is PID 1, and when it dies the kernel ends every worker;
  # --kill-child ends the master when whoever started us dies. Where no
  # namespace can be made, serve from one process (no workers to leak).
  if unshare --pid --fork --kill-child=SIGKILL true 2>/dev/null; then
    export PHP_CLI_SERVER_WORKERS=4
    exec unshare --pid --fork --kill-child=SIGKILL -- php -S "127.0.0.1:$GOALSBOT_TEST_WIKI_PORT" -t "$MW"
  fi
  exec php -S "127.0.0.1:$GOALSBOT_TEST_WIKI_PORT" -t "$MW"
  ;;
notifications)
  # Echo's notifications, as JSON rows: type, user (the one notified), agent,
  # page (its DB key: underscores for spaces, main namespace only).
  [ $# -eq 1 ] || die "usage: wiki.sh notifications DIR"
  dir=$(realpath "$1")
  maint_busy "$dir" sql --json --query "SELECT e.event_type AS type, u.user_name AS user, \
    a.user_name AS agent, p.page_title AS page FROM echo_notification n \
    JOIN echo_event e ON e.event_id = n.notification_event \
    JOIN user u ON u.user_id = n.notification_user \
    LEFT JOIN user a ON a.user_id = e.event_agent_id \
    LEFT JOIN page p ON p.page_id = e.event_page_id ORDER BY e.event_id" </dev/null
  ;;
load)
  [ $# -ge 2 ] || die "usage: wiki.sh load DIR FILE..."
  dir=$(realpath "$1"); shift
  for f in "$@"; do
    name=$(basename "$f" .wikitext)
    title=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.unquote(sys.argv[1]).replace("_", " "))' "$name")
    maint_busy "$dir" edit --user Admin --summary "goalsbot test fixture" "$title" <"$f" >/dev/null
    echo "loaded: $title"
  done
  ;;
user)
  [ $# -eq 3 ] || die "usage: wiki.sh user DIR NAME PASS"
  maint "$(realpath "$1")" createAndPromote "$2" "$3" >/dev/null
  ;;
edit)
  [ $# -eq 3 ] || die "usage: wiki.sh edit DIR USER TITLE < TEXT"
  maint_busy "$(realpath "$1")" edit --user "$2" --summary "edit by $2" "$3" >/dev/null
  ;;
protect)
  [ $# -eq 2 ] || die "usage: wiki.sh protect DIR TITLE"
  maint_busy "$(realpath "$1")" protect --user Admin --reason "goalsbot test" "$2" </dev/null >/dev/null
  ;;
bot)
  [ $# -eq 2 ] || die "usage: wiki.sh bot DIR NAME"
  dir=$(realpath "$1")
  botpass=$(head -c 64 /dev/urandom | od -An -tx1 | tr -d ' \n' | head -c 32)
  userpass="User-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  maint "$dir" createAndPromote --bot "$2" "$userpass" >/dev/null
  maint "$dir" createBotPassword --appid goalsbot \
    --grants basic,highvolume,editpage,createeditmovepage,editprotected \
    "$2" "$botpass" >/dev/null
  echo "$botpass"
  ;;
unbot)
  [ $# -eq 2 ] || die "usage: wiki.sh unbot DIR NAME"
  case $2 in *\'*) die "unbot: a quote in the name: $2" ;; esac
  # What a bureaucrat's Special:UserRights does when the bot flag is removed.
  maint_busy "$(realpath "$1")" sql --query "DELETE FROM /*_*/user_groups WHERE ug_group = 'bot' AND ug_user = (SELECT user_id FROM /*_*/user WHERE user_name = '$2')" </dev/null >/dev/null
  ;;
unprotect)
  [ $# -eq 2 ] || die "usage: wiki.sh unprotect DIR TITLE"
  maint_busy "$(realpath "$1")" protect --user Admin --unprotect --reason "goalsbot test" "$2" </dev/null >/dev/null
  ;;
hide)
  [ $# -eq 2 ] || die "usage: wiki.sh hide DIR REVID"
  case $2 in *[!0-9]*|'') die "hide: not a revision id: $2" ;; esac
  # rev_deleted 1: the text is hidden (the API says texthidden).
  maint_busy "$(realpath "$1")" sql --query "UPDATE /*_*/revision SET rev_deleted = 1 WHERE rev_id = $2" </dev/null >/dev/null
  ;;
endsessions)
  [ $# -eq 2 ] || die "usage: wiki.sh endsessions DIR NAME"
  # Sessions live in the object cache (CACHE_DB: DIR/wikicache.sqlite), each
  # a gzipped PHP array whose metadata names the user; only NAME's go.
  php -r '
    [$file, $name] = [$argv[1], $argv[2]];
    $db = new PDO("sqlite:$file");
    $db->setAttribute(PDO::ATTR_ERRMODE, PDO::ERRMODE_EXCEPTION);
    $db->setAttribute(PDO::ATTR_TIMEOUT, 30);
    $gone = 0;
    foreach ($db->query("SELECT keyname, value FROM objectcache WHERE keyname LIKE \"%:MWSession:%\"")->fetchAll() as $row) {
      $plain = @gzinflate($row["value"]);
      $session = @unserialize($plain === false ? $row["value"] : $plain);
      if (($session["metadata"]["userName"] ?? null) === $name) {
        $db->prepare("DELETE FROM objectcache WHERE keyname = ?")->execute([$row["keyname"]]);
        $gone++;
      }
    }
    echo "$gone\n";
  ' "$(realpath "$1")/wikicache.sqlite" "$2"
  ;;
revoke)
  [ $# -eq 2 ] || die "usage: wiki.sh revoke DIR NAME"
  case $2 in *\'*) die "revoke: a quote in the name: $2" ;; esac
  maint_busy "$(realpath "$1")" sql --query "DELETE FROM /*_*/bot_passwords WHERE bp_user = (SELECT user_id FROM /*_*/user WHERE user_name = '$2')" </dev/null >/dev/null
  ;;
move)
  [ $# -eq 3 ] || die "usage: wiki.sh move DIR FROM TO"
  printf '%s|%s\n' "$2" "$3" | maint_busy "$(realpath "$1")" moveBatch --u Admin --r "goalsbot test" >/dev/null
  ;;
delete)
  [ $# -eq 2 ] || die "usage: wiki.sh delete DIR TITLE"
  printf '%s\n' "$2" | maint_busy "$(realpath "$1")" deleteBatch --u Admin --r "goalsbot test" >/dev/null
  ;;
*)
  die "usage: wiki.sh create|serve|load|user|edit|protect|unprotect|hide|bot|unbot|endsessions|revoke|move|delete … (see the top of this file)"
  ;;
esac
