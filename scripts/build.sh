#!/usr/bin/env bash
# Builds Kakehashi out of tree.
#   scripts/build.sh test      build/test: ASan/UBSan, -Werror, -O1 (what ./test.sh runs)
#   scripts/build.sh release   build/release: -O2 (demo and benchmarks)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
kind=${1:-release}
case "$kind" in
test) flags=(--enable-sanitizers --enable-werror) cflags="-g -O1" ;;
release) flags=(--enable-werror) cflags="-g -O2" ;;
*) echo "usage: $0 test|release" >&2; exit 2 ;;
esac
if [ -f "$ROOT/config.status" ]; then
	echo "build.sh: the source tree has an in-tree configuration; cleaning it (make distclean)" >&2
	make -s distclean >/dev/null 2>&1 || rm -f "$ROOT/config.status"
fi
if [ ! -x "$ROOT/configure" ] || [ "$ROOT/configure.ac" -nt "$ROOT/configure" ]; then
	./autogen.sh
fi
dir="$ROOT/build/$kind"
mkdir -p "$dir"
cd "$dir"
want="${flags[*]} CFLAGS=$cflags"
if [ ! -f Makefile ] || [ "$(cat .kh-configured 2>/dev/null)" != "$want" ] ||
	[ "$ROOT/configure" -nt Makefile ]; then
	"$ROOT/configure" "${flags[@]}" CFLAGS="$cflags" >configure.out || {
		tail -n 30 configure.out config.log >&2
		exit 1
	}
	echo "$want" >.kh-configured
fi
make -j"$(nproc)"
make -j"$(nproc)" check TESTS= >/dev/null
echo "build.sh: $kind build ready in $dir"
