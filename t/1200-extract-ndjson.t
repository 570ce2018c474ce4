#!/bin/sh
# rx-extract --ndjson: validation, pass-through, exact numbers.
. "$(dirname "$0")/lib.sh"

test_expect_success 'objects pass through byte for byte' '
	cat >in <<-\EOF &&
	{"id":"C1","email":"a@x.com","ltv":812.50,"tags":["a","b"],"n":null}
	{ "id" : "C2" , "nested" : {"x": 1e3} }
	EOF
	rx-extract --ndjson in >actual &&
	test_cmp in actual
'

test_expect_success 'numbers a double cannot hold become strings; the boundary is exact' '
	cat >in <<-\EOF &&
	{"a":9007199254740992,"b":9007199254740993,"c":-9007199254740992,"d":-9007199254740993}
	{"a":0.123456789012345,"b":0.1234567890123456,"c":12345678901234567890,"d":1.5}
	EOF
	rx-extract --ndjson in >actual &&
	cat >expect <<-\EOF &&
	{"a":9007199254740992,"b":"9007199254740993","c":-9007199254740992,"d":"-9007199254740993"}
	{"a":0.123456789012345,"b":"0.1234567890123456","c":"12345678901234567890","d":1.5}
	EOF
	test_cmp expect actual
'

test_expect_success 'a line that is not an object: exit 65 naming the line' '
	printf "{\"a\":1}\n[1,2]\n" >in &&
	test_expect_code 65 rx-extract --ndjson in >out 2>err &&
	test_grep "^rx-extract: in: line 2: not a JSON object (an array)" err
'

test_expect_success 'malformed JSON: exit 65 naming line and byte' '
	printf "{\"a\":1}\n{\"a\":1,}\n" >in &&
	test_expect_code 65 rx-extract --ndjson in >out 2>err &&
	test_grep "line 2: at byte 8: expected a member name" err
'

test_expect_success 'truncated JSON at the end of input: exit 65' '
	printf "{\"a\":1}\n{\"a\":" >in &&
	test_expect_code 65 rx-extract --ndjson in 2>err &&
	test_grep "line 2: unexpected end of line" err
'

test_expect_success 'invalid UTF-8 and raw control characters are refused' '
	printf "{\"a\":\"\377\"}\n" >in1 &&
	test_expect_code 65 rx-extract --ndjson in1 2>err &&
	test_grep "invalid UTF-8" err &&
	printf "{\"a\":\"x\001y\"}\n" >in2 &&
	test_expect_code 65 rx-extract --ndjson in2 2>err &&
	test_grep "control character" err
'

test_expect_success 'blank lines are skipped; a last line without newline is kept' '
	printf "{\"a\":1}\n\n{\"a\":2}" >in &&
	rx-extract --ndjson - <in >actual &&
	printf "{\"a\":1}\n{\"a\":2}\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'unicode and escapes pass unchanged' '
	printf "{\"e\":\"\\\\u00e9 é 😀 中\",\"q\":\"\\\\\"\"}\n" >in &&
	rx-extract --ndjson in >actual &&
	test_cmp in actual
'

test_expect_success '--max-line: a longer line is an error, not a hang' '
	awk "BEGIN { printf \"{\\\"a\\\":\\\"\"; for (i = 0; i < 2000; i++) printf \"x\"; print \"\\\"}\" }" >in &&
	test_expect_code 65 rx-extract --ndjson in --max-line 1K 2>err &&
	test_grep "longer than the limit of 1024 bytes" err &&
	rx-extract --ndjson in --max-line 4K >out &&
	test_cmp in out
'

test_expect_success 'a 5 MB line passes with the default limit' '
	awk "BEGIN { printf \"{\\\"a\\\":\\\"\"; for (i = 0; i < 500000; i++) printf \"xxxxxxxxxx\"; print \"\\\"}\" }" >in &&
	rx-extract --ndjson in >out &&
	test_cmp in out
'

test_expect_success 'a missing file: exit 1' '
	test_expect_code 1 rx-extract --ndjson nope.ndjson 2>err &&
	test_grep "cannot open .nope.ndjson." err
'

test_expect_success '| head -1 quiet; >/dev/full is 74' '
	awk "BEGIN { for (i = 0; i < 100000; i++) print \"{\\\"i\\\":\" i \"}\" }" >in &&
	rx-extract --ndjson in 2>err | head -n 1 >one &&
	test_lines 1 one && test_must_be_empty err &&
	test_expect_code 74 rx-extract --ndjson in >/dev/full 2>err
'

test_done
