#!/usr/bin/env bash
# Installs MediaWiki 1.43 (Debian trixie's pure-PHP package) and the PHP it
# needs on a Debian bookworm machine, without upgrading anything else.
# Each step says why it is there. Safe to run again.
set -euo pipefail

if [ -f /usr/share/mediawiki/maintenance/install.php ] \
   && grep -q "MW_VERSION', '1.43" /usr/share/mediawiki/includes/Defines.php 2>/dev/null \
   && command -v php >/dev/null && php -m | grep -qi pdo_sqlite; then
  echo "install-mediawiki: MediaWiki 1.43 and PHP already installed"
  exit 0
fi

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive

# A trixie source built from the machine's own Debian source (same mirror and
# keyring), pinned so that only mediawiki and mediawiki-classes come from it.
src=/etc/apt/sources.list.d/debian.sources
uris=$(awk '/^URIs:/ && $2 ~ /debian\/?$/ {print $2; exit}' "$src" 2>/dev/null || true)
[ -n "$uris" ] || uris="http://deb.debian.org/debian"
keyring=$(awk '/^Signed-By:/ {print $2; exit}' "$src" 2>/dev/null || true)
[ -n "$keyring" ] || keyring=/usr/share/keyrings/debian-archive-keyring.gpg

$SUDO tee /etc/apt/sources.list.d/goalsbot-trixie.sources >/dev/null <<SRC
Types: deb
URIs: $uris
Suites: trixie
Components: main
Signed-By: $keyring
SRC
$SUDO tee /etc/apt/preferences.d/goalsbot-trixie-mediawiki >/dev/null <<'PIN'
Package: *
Pin: release n=trixie
Pin-Priority: 1

Package: mediawiki mediawiki-classes
Pin: release n=trixie
Pin-Priority: 990
PIN

$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends \
  mediawiki mediawiki-classes php-cli php-sqlite3 php-intl php-mbstring php-xml php-gmp >/dev/null
echo "install-mediawiki: installed $(dpkg-query -W -f='${Version}' mediawiki) with $(php -r 'echo PHP_VERSION;')"
