#!/usr/bin/env bash
# Static checks, as TAP: clang-format conformance and banned C functions.
set -uo pipefail
cd "$(dirname "$0")/.."
n=0
fail=0
ok() { n=$((n + 1)); echo "ok $n - $1"; }
notok() { n=$((n + 1)); fail=1; echo "not ok $n - $1"; }

mapfile -t files < <(git ls-files '*.c' '*.h' 2>/dev/null || find . -name '*.[ch]' -not -path './build/*')

# Unbounded copies, unchecked conversions and non-cryptographic randomness.
banned='\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|atoll|rand|srand|random|tmpnam|mktemp)[[:space:]]*\('
hits=$(grep -nE "$banned" "${files[@]}" | grep -v 'lint: allow' || true)
if [ -z "$hits" ]; then ok "no banned functions"; else notok "banned functions used"; echo "$hits" | sed 's/^/#   /'; fi

# Secrets compared with memcmp/strcmp are a timing leak: the tree uses
# kh_ct_equal / kh_ct_streq. Flag any memcmp on a line naming a secret.
# String literals are left out of the match ("client_secret_basic" is a name).
hits=$(perl -ne 'my $l = $_; $l =~ s/"(?:[^"\\]|\\.)*"//g;
	print "$ARGV:$.: $_" if $l =~ /(memcmp|strcmp)\(.*(secret|password|token|cookie|mac|csrf)/
	    && $l !~ /lint: allow/; close ARGV if eof' "${files[@]}" || true)
if [ -z "$hits" ]; then ok "no plain compare of secrets"; else notok "plain compare of a secret"; echo "$hits" | sed 's/^/#   /'; fi

if command -v clang-format >/dev/null 2>&1; then
	bad=()
	for f in "${files[@]}"; do
		clang-format --dry-run --Werror "$f" >/dev/null 2>&1 || bad+=("$f")
	done
	if [ ${#bad[@]} -eq 0 ]; then ok "clang-format clean (${#files[@]} files)"; else
		notok "clang-format differences in: ${bad[*]}"
	fi
else
	notok "clang-format not installed"
fi
echo "1..$n"
exit $fail
