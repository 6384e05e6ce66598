#!/usr/bin/env bash
# Replaces each official vector file in turn by an empty list ([]) and checks
# that the tests of every package using it fail. By default the empty file
# is put in a temporary directory named by MLS_TEST_VECTORS (which takes the
# place of testdata/ for that file); with REPLACE=1 the file in testdata/ is
# overwritten and restored afterwards.
#
#	scripts/check-empty-vectors.sh [FILE.json ...]
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
files=("$@")
if [ ${#files[@]} -eq 0 ]; then
	files=(testdata/*.json)
fi
status=0
for f in "${files[@]}"; do
	name=$(basename "$f")
	# The packages whose tests name the file (passive-client files are also
	# found by pattern, in package mls).
	pkgs=$(grep -rlF --include='*_test.go' "\"$name\"" . | xargs -r -n1 dirname | grep -v '^./internal/testvectors$' | sort -u)
	case $name in passive-client-*) pkgs=$(printf '%s\n./mls\n' "$pkgs" | sort -u) ;; esac
	if [ "${REPLACE:-}" = 1 ]; then
		pkgs=$(printf '%s\n./internal/testvectors\n' "$pkgs" | sort -u)
		cp "testdata/$name" "/tmp/$name.orig.$$"
		echo '[]' >"testdata/$name"
		out=$($GO test -count=1 -short $pkgs 2>&1)
		rc=$?
		cp "/tmp/$name.orig.$$" "testdata/$name" && rm "/tmp/$name.orig.$$"
	else
		dir=$(mktemp -d)
		echo '[]' >"$dir/$name"
		out=$(MLS_TEST_VECTORS=$dir $GO test -count=1 -short $pkgs 2>&1)
		rc=$?
		rm -r "$dir"
	fi
	# pkg.Test for every failing top-level test.
	failed=$(echo "$out" | awk '/^--- FAIL/ {t[n++]=$3} /^(FAIL|ok) *\t?github.com/ {p=$2; sub(".*/mlskit/mlskit/?", "", p); for (i=0;i<n;i++) printf "%s.%s ", (p==""?".":p), t[i]; n=0}')
	if [ $rc -eq 0 ]; then
		echo "NOT DETECTED  $name: go test passed with an empty file ($(echo $pkgs))"
		status=1
	else
		okpk=$(echo "$out" | grep -E '^ok ' | awk '{print $2}' | tr '\n' ' ')
		echo "fails         $name: packages $(echo $pkgs); failing tests: $failed${okpk:+; packages still passing: $okpk}"
	fi
done
exit $status
