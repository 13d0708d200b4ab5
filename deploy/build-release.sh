#!/usr/bin/env bash
# Builds the goalsbot binary that runs on Toolforge's pre-built `bookworm`
# image (Debian 12, glibc 2.36) or on a Debian 12 server, and checks that it
# needs nothing newer. Run on Debian 12 (or older), or in a Debian 12
# container, from a clean checkout of the commit to deploy:
#
#   bash deploy/build-release.sh
#
# Writes target/deploy/goalsbot-<version>-<commit> and its .sha256, and prints
# the commands that install it (deploy/README.md, "Upgrading").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# The newest glibc symbol version the bookworm image provides.
MAX_GLIBC=2.36

if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "build-release: the work tree has uncommitted changes; commit or stash them first" >&2
  exit 2
fi
rev=$(git rev-parse --short=10 HEAD)
version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)

cargo build --release --locked --bin goalsbot

bin=target/release/goalsbot
# Only the C library (and libgcc_s, libm) may be linked dynamically: no OpenSSL,
# no system SQLite (TLS is rustls, SQLite is bundled).
if ldd "$bin" | grep -vE 'linux-vdso|ld-linux|libc\.so|libm\.so|libgcc_s\.so|libpthread\.so|libdl\.so' | grep -q '=>'; then
  echo "build-release: unexpected shared libraries:" >&2
  ldd "$bin" >&2
  exit 1
fi
needed=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -n 1)
if [ "$(printf '%s\n%s\n' "$needed" "$MAX_GLIBC" | sort -V | tail -n 1)" != "$MAX_GLIBC" ]; then
  echo "build-release: the binary needs glibc $needed, the bookworm image has $MAX_GLIBC: build on Debian 12" >&2
  exit 1
fi

out=target/deploy/goalsbot-$version-$rev
mkdir -p target/deploy
cp "$bin" "$out"
strip "$out" 2>/dev/null || true
(cd target/deploy && sha256sum "$(basename "$out")" > "$(basename "$out").sha256")
"$out" --version

cat <<MSG
built $out (needs glibc $needed, at most $MAX_GLIBC)
install on Toolforge (deploy/README.md: first deploy, step 2; or "Upgrading"):
  scp $out $out.sha256 login.toolforge.org:/data/project/goalsbot/bin/
  ssh login.toolforge.org
  become goalsbot
  cd ~/bin && take $(basename "$out") $(basename "$out").sha256 && sha256sum -c $(basename "$out").sha256
  chmod 755 $(basename "$out") && ln -sfn $(basename "$out") ~/bin/goalsbot    # switch to it
MSG
