#!/usr/bin/env bash
# Installs MariaDB server and client from Debian's own packages when missing,
# for the throwaway test databases of mariadb.sh. The tests run their own
# mariadbd in a directory of their own; the system-wide service the package
# brings is neither needed nor left running or enabled. Safe to run again.
set -euo pipefail

have() { command -v "$1" >/dev/null 2>&1; }
# Debian's packages put mariadbd and mariadb-install-db outside a user's PATH.
export PATH="$PATH:/usr/sbin:/usr/bin"

if have mariadbd && have mariadb-install-db && have mariadb; then
  echo "install-mariadb: MariaDB $(mariadbd --version | awk '{print $3}') already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# The system service (not the tests' own servers, which also run mariadbd).
system_service_running() {
  if [ -d /run/systemd/system ]; then
    systemctl is-active --quiet mariadb.service 2>/dev/null
  else
    local pid
    pid=$(cat /run/mysqld/mysqld.pid 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
  fi
}

# Was a system mariadbd running before we started? Then it is not ours to stop.
running_before=no
if system_service_running; then running_before=yes; fi

# Keep the package's maintainer scripts from starting the service: invoke-rc.d
# and deb-systemd-invoke both ask policy-rc.d, and 101 means "not allowed".
# Only when there is no policy already (containers usually have one).
policy=/usr/sbin/policy-rc.d
made_policy=no
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  made_policy=yes
  trap '$SUDO rm -f "$policy"' EXIT
fi

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends mariadb-server mariadb-client >/dev/null
echo "install-mariadb: installed mariadb-server $(dpkg-query -W -f='${Version}' mariadb-server)"
if [ "$made_policy" = yes ]; then
  echo "install-mariadb: service start was blocked by a temporary $policy"
fi

# Whatever the maintainer scripts managed anyway: no system service stays
# running (unless one ran before) and none starts at boot.
if [ "$running_before" = no ] && system_service_running; then
  if [ -d /run/systemd/system ]; then
    $SUDO systemctl stop mariadb.service || true
  else
    $SUDO service mariadb stop >/dev/null 2>&1 || true
  fi
  echo "install-mariadb: stopped the system mariadb service the package started"
fi
if [ "$running_before" = no ]; then
  if [ -d /run/systemd/system ]; then
    if $SUDO systemctl disable --quiet mariadb.service 2>/dev/null; then
      echo "install-mariadb: disabled the system mariadb service"
    fi
  elif have update-rc.d && [ -e /etc/init.d/mariadb ]; then
    if $SUDO update-rc.d mariadb disable >/dev/null 2>&1; then
      echo "install-mariadb: disabled the system mariadb service at boot"
    fi
  fi
fi
