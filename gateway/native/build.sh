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

# The gateway's own node-gyp (a devDependency), also when run outside pnpm.
gyp=../node_modules/.bin/node-gyp

# Configure only when needed: gyp takes a second, and make alone notices
# changed sources. A changed binding.gyp needs a new Makefile.
if [ ! -f build/Makefile ] || [ binding.gyp -nt build/Makefile ]; then
  "$gyp" configure --nodedir="$npm_config_nodedir"
fi
"$gyp" build --jobs max
