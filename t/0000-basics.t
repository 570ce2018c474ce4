#!/bin/sh
# The conventions every program shares: --help, --version, usage errors.
. "$(dirname "$0")/lib.sh"

for p in rx-extract rx-diff rx-map rx-batch rx-push; do
	test_expect_success "$p --version prints the GNU one-liner" "
		$p --version >out &&
		grep -q '^$p (rx) [0-9][0-9.]*' out
	"
done

test_expect_success 'rx-extract --help: usage, purpose, options, example, see-also' '
	rx-extract --help >out &&
	head -n 1 out | grep -q "^Usage: rx-extract" &&
	grep -q "^Example" out &&
	grep -q "See rx-extract(1)" out
'

for p in rx-extract rx-diff rx-map rx-batch rx-push; do
	test_expect_success "$p: an unknown option, run by its path: one line naming the program, a hint, exit 2" "
		test_expect_code 2 \$(command -v $p) --no-such-option 2>err &&
		test_lines 2 err &&
		head -n 1 err | grep -q '^$p: unrecognized option' &&
		sed -n 2p err | grep -q \"^Try '$p --help'.\\\$\"
	"
done

test_expect_success 'a bad number is a usage error' '
	test_expect_code 2 rx-extract --ndjson - --max-line 12x </dev/null 2>err &&
	test_grep "^rx-extract: --max-line" err
'

test_done
