#!/bin/bash
# Builds each libFuzzer target in tests/fuzz with clang (ASan + UBSan), runs it
# for a bounded time on a temporary copy of its seed corpus, and prints TAP.
#
#   tests/fuzz/run.sh [TARGET...]        (default: every target below)
#
# Environment:
#   FUZZ_SECONDS=15      time per target (-max_total_time)
#   FUZZ_MAX_LEN=4096    longest input tried (-max_len)
#   FUZZ_ARTIFACTS=DIR   copy crashing inputs there (default: they are printed
#                        as base64 and deleted with the temp dir)
#   BUILD_DIR=DIR        where configure wrote config.h (default: the source tree)
#   CC=clang             a clang with the libFuzzer runtime
#
# Exit status: 0 when every target built and ran without a finding, 1 otherwise.
# Needs no network; the repository is not modified; temp files are removed.
set -u

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
FUZZ_DIR=$ROOT/tests/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-15}
MAX_LEN=${FUZZ_MAX_LEN:-4096}
BUILD_DIR=${BUILD_DIR:-${KH_BUILD_DIR:-$ROOT}}
CC=${CC:-clang}
case $CC in
*clang*) ;;
*) CC=clang ;; # the autotools CC is gcc, which has no libFuzzer
esac

# target | sources under the source tree (the harness is added) | pkg-config
# modules | extra compiler/linker flags. Targets whose sources reach far into
# the daemon link with lld and --gc-sections: only what the harness can call
# is kept, nothing is stubbed, and a new reachable dependency fails the build.
GC='-ffunction-sections -fdata-sections -fuse-ld=lld -Wl,--gc-sections'
TARGETS="
utf8|common/str.c common/errors.c|
b64url|common/crypto.c common/errors.c|openssl
config|common/config.c common/buf.c common/crypto.c common/errors.c common/log.c common/str.c|openssl inih
accept_lang|idp/i18n.c|
buf_escape|common/buf.c common/errors.c|
ldap_ad|connectors/ldap/ldap_ad.c|
saml_msg|idp/saml/msg.c idp/http.c common/str.c common/buf.c common/errors.c|lasso libxml-2.0 libmicrohttpd openssl zlib|$GC
oidc_jose|idp/oidc/jose.c common/crypto.c common/errors.c|openssl jansson
oidc_client_doc|idp/oidc/clients.c common/str.c common/crypto.c common/errors.c|openssl jansson|$GC
webauthn|idp/webauthn.c common/crypto.c common/errors.c|openssl jansson libcbor|$GC
policy|idp/policy.c idp/policy_default.c common/str.c common/errors.c|jansson|$GC
"

CFLAGS_FUZZ="-std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=all -fno-omit-frame-pointer -Wall -Wextra -Wno-unused-parameter"

usage() {
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	echo "Targets: $(echo "$TARGETS" | sed -n 's/|.*//p' | tr '\n' ' ')"
}

case ${1:-} in
-h | --help)
	usage
	exit 0
	;;
esac

if ! command -v "$CC" >/dev/null 2>&1; then
	echo "1..0 # SKIP $CC not found (libFuzzer needs clang)"
	exit 0
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/kh-fuzz.XXXXXX") || exit 1
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() { rm -rf "$TMP"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=1"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}print_stacktrace=1:halt_on_error=1"

n=0
failed=0

# diag FILE LINES: the last LINES lines of FILE as TAP comments, without
# libFuzzer's progress lines (#1234 NEW/REDUCE/pulse ...)
diag() {
	grep -Ev '^#[0-9]+[[:space:]]' "$1" | tail -n "$2" | sed 's/^/# /'
}

# run_target NAME SOURCES MODULES EXTRA
run_target() {
	local name=$1 srcs=$2 mods=$3 extra=$4 s pc="" bin log work art runs
	local harness=$FUZZ_DIR/fuzz_$name.c

	n=$((n + 1))
	for s in $srcs; do
		if [ ! -f "$ROOT/$s" ]; then
			echo "not ok $n - fuzz $name"
			echo "# the code under test, $s, does not exist"
			failed=1
			return
		fi
	done
	if [ ! -f "$harness" ]; then
		echo "not ok $n - fuzz $name"
		echo "# no harness $harness"
		failed=1
		return
	fi

	work=$TMP/$name
	bin=$work/fuzz_$name
	log=$work/log
	art=$work/artifacts
	mkdir -p "$work/corpus" "$art"

	# shellcheck disable=SC2086 # a list of modules
	if [ -n "$mods" ] && ! pc=$(pkg-config --cflags --libs $mods 2>"$log"); then
		echo "not ok $n - fuzz $name (pkg-config $mods failed)"
		diag "$log" 20
		failed=1
		return
	fi
	# shellcheck disable=SC2086 # word splitting of flag lists is intended
	if ! (cd "$ROOT" && $CC $CFLAGS_FUZZ -I"$ROOT" -I"$BUILD_DIR" -o "$bin" \
		"$harness" $srcs $pc $extra -lpthread) >"$log" 2>&1; then
		echo "not ok $n - fuzz $name (build failed)"
		diag "$log" 40
		failed=1
		return
	fi

	if [ -d "$FUZZ_DIR/corpus/$name" ]; then
		cp -R "$FUZZ_DIR/corpus/$name/." "$work/corpus/"
	fi
	if "$bin" -max_total_time="$SECONDS_PER_TARGET" -max_len="$MAX_LEN" -timeout=10 \
		-print_final_stats=1 -artifact_prefix="$art/" "$work/corpus" </dev/null >"$log" 2>&1; then
		runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
		[ -n "$runs" ] || runs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -n 1)
		echo "ok $n - fuzz $name (${runs:-?} runs)"
		return
	fi

	failed=1
	echo "not ok $n - fuzz $name"
	diag "$log" 50
	for s in "$art"/*; do
		[ -f "$s" ] || continue
		echo "# input $(basename "$s") ($(wc -c <"$s") bytes), base64:"
		base64 -w 76 "$s" | head -n 60 | sed 's/^/#   /'
		if [ -n "${FUZZ_ARTIFACTS:-}" ]; then
			mkdir -p "$FUZZ_ARTIFACTS" && cp "$s" "$FUZZ_ARTIFACTS/$name-$(basename "$s")" &&
				echo "# kept as $FUZZ_ARTIFACTS/$name-$(basename "$s")"
		fi
	done
}

want=" $* "
found=0
while IFS='|' read -r name srcs mods extra; do
	[ -n "$name" ] || continue
	if [ $# -gt 0 ] && [ "${want#* "$name" }" = "$want" ]; then
		continue
	fi
	found=1
	run_target "$name" "$srcs" "$mods" "$extra"
done <<EOF
$TARGETS
EOF

if [ "$found" = 0 ]; then
	echo "unknown target: $*" >&2
	usage >&2
	exit 1
fi
echo "1..$n"
exit "$failed"
