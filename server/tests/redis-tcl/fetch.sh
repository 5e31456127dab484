#!/usr/bin/env bash
# Fetches Redis 7.0.15's source (for its Tcl test suite) from Debian's `redis` source package
# into DEST. The deb-src entry is derived from the machine's own apt sources: no host name is
# written anywhere in this repository.
set -euo pipefail
dest=${1:?usage: fetch.sh DEST}
if [ -f "$dest/tests/test_helper.tcl" ]; then
  echo "fetch.sh: $dest already has the Redis test suite"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/ 2>/dev/null; then
  shopt -s nullglob
  for f in /etc/apt/sources.list.d/*.sources; do
    # deb822 files: a copy with every "Types: deb" turned into "Types: deb-src".
    grep -q '^Types: *deb$' "$f" || continue
    sed 's/^Types: *deb$/Types: deb-src/' "$f" > "/etc/apt/sources.list.d/ringledger-src-$(basename "$f")"
  done
  if [ -f /etc/apt/sources.list ] && grep -q '^deb ' /etc/apt/sources.list; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list > /etc/apt/sources.list.d/ringledger-src.list
  fi
  apt-get update -qq
fi
command -v dpkg-source >/dev/null || apt-get install -y -qq dpkg-dev
work=$(mktemp -d)
(cd "$work" && apt-get source -qq redis >/dev/null 2>&1 || (cd "$work" && apt-get source redis))
src=$(find "$work" -maxdepth 1 -type d -name 'redis-7.0.*' | head -n 1)
[ -n "$src" ] || { echo "fetch.sh: apt-get source redis did not produce redis-7.0.x" >&2; exit 1; }
version=$(basename "$src")
[ "$version" = "redis-7.0.15" ] || echo "fetch.sh: warning: got $version, expected redis-7.0.15" >&2
mkdir -p "$(dirname "$dest")"
rm -rf "$dest"
mv "$src" "$dest"
rm -rf "$work"
echo "fetch.sh: $version unpacked into $dest"
