#!/usr/bin/env bash
# Kakehashi demo: installs missing packages, builds, starts a private slapd with
# generated staff, redis-server and kakehashid on loopback, prints the URLs and
# demo credentials. Ctrl-C stops everything.
set -euo pipefail
cd "$(dirname "$0")"
./scripts/install-deps.sh --demo
echo "Building (build/release) ..."
./scripts/build.sh release >/tmp/kakehashi-demo-build.log 2>&1 || {
	tail -n 40 /tmp/kakehashi-demo-build.log
	echo "demo: build failed (log: /tmp/kakehashi-demo-build.log)" >&2
	exit 1
}
export KH_BUILD_DIR="$PWD/build/release"
exec python3 scripts/demo.py "$@"
