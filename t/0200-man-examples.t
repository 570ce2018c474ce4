#!/bin/sh
# Every example in the man pages runs as written, so they cannot drift.
# Each .nf/.fi block of a page's EXAMPLES section is one shell script,
# run with set -e in a fresh directory holding a copy of examples/ with
# its warehouse built; it must exit 0.
. "$(dirname "$0")/lib.sh"

cp -R "$RX_TOP/examples" examples &&
rm -rf examples/state examples/*.db &&
sqlite3 examples/warehouse.db <"$RX_TOP/examples/warehouse.sql" || exit 1

# Print the EXAMPLES blocks of a page, separated by lines "#--", roff
# escapes undone and continuation lines kept as they are.
examples_of () {
	awk '
		/^\.SH/ { in_ex = ($0 ~ /^\.SH "?EXAMPLES?"?/); next }
		!in_ex { next }
		/^\.nf/ { in_block = 1; next }
		/^\.fi/ { if (in_block) print "#--"; in_block = 0; next }
		in_block {
			gsub(/\\-/, "-"); gsub(/\\\(dq/, "\""); gsub(/\\\(aq/, "\047");
			gsub(/\\e/, "\\"); gsub(/\\&/, "");
			print
		}
	' "$1"
}

for page in "$RX_TOP"/docs/*.1 "$RX_TOP"/docs/*.7; do
	[ -f "$page" ] || continue
	name=$(basename "$page")
	examples_of "$page" >"$name.examples"
	n=0
	while :; do
		n=$((n + 1))
		awk -v want=$n 'BEGIN { k = 1 } /^#--$/ { k++; next } k == want' "$name.examples" >"$name.$n.sh"
		[ -s "$name.$n.sh" ] || break
		test_expect_success "$name: example $n runs" "
			mkdir -p run-$name-$n && cp -R examples run-$name-$n/ && cd run-$name-$n &&
			sed 's/^/# /' ../$name.$n.sh &&
			sh -e ../$name.$n.sh >out 2>err </dev/null ||
			{ echo \"exit \$?\"; cat err; false; }
		"
	done
done

test_done
