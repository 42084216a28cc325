#!/usr/bin/env bash
# Fetches Pebble 2.6 (Debian 13 "trixie"), the first Debian Pebble with ACME
# Renewal Information (RFC 9773), into .tools/pebble-2.6/ for the renewal
# tests. Debian 12's pebble (2.4) stays the system one. It uses the same
# Debian mirror as the machine's apt, with its own sources list, package
# lists and cache under .tools/, so the system's apt setup is left alone.
# Idempotent: does nothing when the binary is already there.
set -euo pipefail
cd "$(dirname "$0")/../.."

target=.tools/pebble-2.6
if [ -x "$target/usr/bin/pebble" ]; then
  exit 0
fi

# The mirror the machine's apt uses for Debian (deb822 or one-line form).
mirror=$(
  {
    grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
    grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
  } | grep -E '/debian/?$' | head -n1 || true
)
if [ -z "$mirror" ]; then
  echo "pebble-trixie: no Debian mirror (a URI ending in /debian) in /etc/apt/sources.list*" >&2
  exit 1
fi
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [ ! -f "$keyring" ]; then
  echo "pebble-trixie: $keyring is missing; apt-get install debian-archive-keyring" >&2
  exit 1
fi

work=.tools/apt-trixie
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/parts" "$target"
echo "deb [signed-by=$keyring] $mirror trixie main" >"$work/sources.list"
apt_options=(
  -o "Dir::Etc::SourceList=$PWD/$work/sources.list"
  -o "Dir::Etc::SourceParts=$PWD/$work/parts"
  -o "Dir::State::Lists=$PWD/$work/lists"
  -o "Dir::Cache=$PWD/$work/cache"
  -o "Dir::State::status=/var/lib/dpkg/status"
)
echo "pebble-trixie: fetching pebble from $mirror (trixie)" >&2
apt-get "${apt_options[@]}" update -qq >&2
download=$(mktemp -d)
chmod 755 "$download" # apt fetches as _apt when it can
trap 'rm -rf "$download"' EXIT
(cd "$download" && apt-get "${apt_options[@]}" download pebble >&2)
deb=$(find "$download" -name 'pebble_2.6*.deb' | head -n1)
if [ -z "$deb" ]; then
  echo "pebble-trixie: trixie's pebble is not 2.6.x: $(ls "$download")" >&2
  exit 1
fi
dpkg -x "$deb" "$target"
"$target/usr/bin/pebble" -version >&2 || true
echo "pebble-trixie: $target/usr/bin/pebble" >&2
