# Shared by the scripts: where pnpm lives and how native addons find Node's
# headers. Sourced, never run.
PNPM_VERSION=10.34.9
PNPM="$PWD/.tools/node_modules/.bin/pnpm"

# Without internet node-gyp cannot download Node's headers; point it at the
# ones installed beside the running node. pnpm 10 reads npm's config for
# nodedir, newer pnpm only this variable, so set it for both.
if [ -z "${npm_config_nodedir:-}" ]; then
  node_prefix=$(node -p 'require("path").resolve(process.execPath, "../..")')
  if [ -f "$node_prefix/include/node/node_api.h" ]; then
    export npm_config_nodedir="$node_prefix"
  fi
fi

# package.json scripts call pnpm by name.
export PATH="$PWD/.tools/node_modules/.bin:$PATH"
