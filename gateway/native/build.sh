#!/usr/bin/env bash
# Builds Gatehouse's native addons (binding.gyp) with node-gyp against the
# Node headers installed here; there is no internet to download them. Quick
# when nothing changed: gyp configures only once, make rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")"

# shellcheck source=../../scripts/lib/env.sh
source ../../scripts/lib/env.sh
if [ -z "${npm_config_nodedir:-}" ]; then
  echo "native: no Node headers beside $(command -v node); install Node with its include/node" >&2
  exit 1
fi

if [ ! -f build/Makefile ]; then
  node-gyp configure --nodedir="$npm_config_nodedir"
fi
node-gyp build --jobs max
