#!/usr/bin/env bash
# Type-checks .railway/railway.ts (both deployments in it) against pinned
# versions of the `railway` npm package (the railway/iac DSL) and TypeScript,
# with .railway/tsconfig.json (strict). Exits non-zero on a type error.
# Needs node and npm (installs Debian's when npm is missing and it runs as
# root) and the npm registry. Run from anywhere: bash .railway/check.sh
set -euo pipefail

# Pinned: bump deliberately, and fix railway.ts if the DSL's types moved.
RAILWAY_VERSION=3.11.0
TYPESCRIPT_VERSION=5.9.3

here="$(cd "$(dirname "$0")" && pwd)"

if ! command -v npm >/dev/null 2>&1; then
  if [ "$(id -u)" != 0 ]; then
    echo "railway.ts check: npm is missing; install node and npm" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq nodejs npm >/dev/null
fi
echo "node $(node --version), npm $(npm --version)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# --ignore-scripts: only the type declarations are needed (railway depends on
# tsx, whose esbuild has an install script). railway asks for node >= 22 to
# run; type-checking it does not, so an engine warning is expected on older
# node.
npm install --no-save --no-package-lock --no-audit --no-fund --ignore-scripts \
  --loglevel=error --prefix "$tmp" \
  "railway@$RAILWAY_VERSION" "typescript@$TYPESCRIPT_VERSION" >/dev/null

# railway/iac resolves from the node_modules next to the file, so the check
# runs on copies in $tmp; error paths are mapped back to .railway/.
cp "$here/railway.ts" "$here/tsconfig.json" "$tmp/"
echo "tsc $("$tmp/node_modules/.bin/tsc" --version) --strict --noEmit, railway@$RAILWAY_VERSION"
if ! (cd "$tmp" && node_modules/.bin/tsc -p tsconfig.json --strict --noEmit --pretty false) >"$tmp/tsc.out" 2>&1; then
  sed 's|^railway\.ts|.railway/railway.ts|' "$tmp/tsc.out" >&2
  echo "railway.ts check: type errors (railway@$RAILWAY_VERSION, typescript@$TYPESCRIPT_VERSION)" >&2
  exit 1
fi
cat "$tmp/tsc.out"
echo "railway.ts check: ok"
