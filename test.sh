#!/usr/bin/env bash
# Kakehashi test run: installs missing packages, builds with warnings as errors
# and ASan/UBSan, runs unit, fuzz, integration and browser tests against real
# slapd, redis-server and Chromium on loopback ports, and ends with
# "N passed, N failed". Exits non-zero on any failure.
#
#   ./test.sh                 everything
#   ./test.sh unit integration   only these groups (lint unit fuzz integration e2e)
set -uo pipefail
cd "$(dirname "$0")"
ROOT=$(pwd)
BUILD="$ROOT/build/test"
export KH_BUILD_DIR="$BUILD"
export PYTHONDONTWRITEBYTECODE=1
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:strict_string_checks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

groups=("$@")
[ ${#groups[@]} -eq 0 ] && groups=(lint unit fuzz integration e2e)
want() { local g; for g in "${groups[@]}"; do [ "$g" = "$1" ] && return 0; done; return 1; }

passed=0
failed=0
failures=()
LOGDIR=$(mktemp -d /tmp/kh-test-logs.XXXXXX)

# Runs one TAP-producing suite; counts its ok / not ok lines. A suite that
# exits non-zero without a "not ok" line, or prints no plan, counts as a failure.
run_suite() {
	local name=$1
	shift
	local log="$LOGDIR/$(echo "$name" | tr ' /:' '___').log"
	local start=$SECONDS rc p f plan
	echo "=== $name"
	"$@" >"$log" 2>&1
	rc=$?
	p=$(grep -cE '^ok [0-9]+' "$log")
	f=$(grep -cE '^not ok [0-9]+' "$log")
	plan=$(grep -cE '^1\.\.[0-9]+' "$log")
	grep -E '^(not ok|ok) [0-9]+' "$log" | sed 's/^/    /'
	if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "    not ok - $name exited with status $rc"
	elif [ "$plan" -eq 0 ] && [ "$f" -eq 0 ]; then
		f=1
		echo "    not ok - $name printed no TAP plan"
	fi
	if [ "$f" -gt 0 ]; then
		failures+=("$name")
		echo "--- $name: last lines of $log"
		tail -n 40 "$log" | sed 's/^/    | /'
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	echo "    ($p passed, $f failed, $((SECONDS - start)) s)"
}

echo "== installing missing packages"
if ! ./scripts/install-deps.sh --test; then
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== building (ASan/UBSan, -Werror) in $BUILD"
if ! ./scripts/build.sh test >"$LOGDIR/build.log" 2>&1; then
	tail -n 60 "$LOGDIR/build.log"
	echo "build failed"
	echo "0 passed, 1 failed"
	exit 1
fi

if want integration || want e2e; then
	echo "== installing the browser-test npm packages (tests/e2e)"
	if ! (cd tests/e2e && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund \
		--loglevel=error >"$LOGDIR/npm.log" 2>&1); then
		tail -n 20 "$LOGDIR/npm.log"
		failed=$((failed + 1))
		failures+=("npm ci in tests/e2e")
	fi
fi

if want integration; then
	echo "== building the release build (for valgrind) in $ROOT/build/release"
	if ! ./scripts/build.sh release >"$LOGDIR/build-release.log" 2>&1; then
		tail -n 60 "$LOGDIR/build-release.log"
		failed=$((failed + 1))
		failures+=("release build")
	fi
	export KH_RELEASE_DIR="$ROOT/build/release"
fi

if want lint; then
	run_suite "lint: format and banned functions" scripts/lint.sh
fi

if want unit; then
	for t in $(make -s -C "$BUILD" print-unit-tests); do
		run_suite "unit: $t" "$BUILD/$t"
	done
fi

if want fuzz && [ -x tests/fuzz/run.sh ]; then
	run_suite "fuzz: parsers" tests/fuzz/run.sh
fi

if want integration; then
	for t in tests/integration/test_*.py; do
		[ -f "$t" ] || continue
		run_suite "integration: $(basename "$t" .py)" python3 "$t"
	done
fi

if want e2e; then
	for t in tests/e2e/run_*.py; do
		[ -f "$t" ] || continue
		run_suite "e2e: $(basename "$t" .py)" python3 "$t"
	done
fi

echo
if [ ${#failures[@]} -gt 0 ]; then
	echo "failed suites: ${failures[*]}"
	echo "logs: $LOGDIR"
else
	rm -rf "$LOGDIR"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
