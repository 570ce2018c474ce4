#!/bin/sh
# rx-extract --csv: quoting, delimiters, BOM, --infer, --types, ragged rows.
. "$(dirname "$0")/lib.sh"

printf 'id,name,score,active\n1,"Smith, Jane",12.5,true\n2,"multi\nline ""quoted""",9007199254740993,false\n3,,007,\n4,"",-0.5,TRUE\n' >people.csv
printf '\357\273\277id;city\n1;Zürich\n2;東京\n' >bom.csv
printf 'a,b\n1,2\n3,4,5\n' >ragged-long.csv
printf 'a,b\n1,2\n3\n' >ragged-short.csv

test_expect_success 'values are strings by default; quotes and newlines survive' '
	rx-extract --csv people.csv >actual &&
	cat >expect <<-\EOF &&
	{"id":"1","name":"Smith, Jane","score":"12.5","active":"true"}
	{"id":"2","name":"multi\nline \"quoted\"","score":"9007199254740993","active":"false"}
	{"id":"3","name":"","score":"007","active":""}
	{"id":"4","name":"","score":"-0.5","active":"TRUE"}
	{"$rx":"end","rows":4}
	EOF
	test_cmp expect actual
'

test_expect_success '--infer: numbers, booleans, empty as null; 007 and big numbers stay strings' '
	rx-extract --csv people.csv --infer >actual &&
	cat >expect <<-\EOF &&
	{"id":1,"name":"Smith, Jane","score":12.5,"active":true}
	{"id":2,"name":"multi\nline \"quoted\"","score":"9007199254740993","active":false}
	{"id":3,"name":null,"score":"007","active":null}
	{"id":4,"name":"","score":-0.5,"active":"TRUE"}
	{"$rx":"end","rows":4}
	EOF
	test_cmp expect actual
'

test_expect_success '--types: chosen columns typed, the rest strings' '
	rx-extract --csv people.csv --types id=int,active=string >actual &&
	head -n 1 actual >first &&
	echo "{\"id\":1,\"name\":\"Smith, Jane\",\"score\":\"12.5\",\"active\":\"true\"}" >expect &&
	test_cmp expect first
'

test_expect_success '--types int on a value that is not an integer: exit 65 naming line and column' '
	test_expect_code 65 rx-extract --csv people.csv --types score=int >out 2>err &&
	test_grep "^rx-extract: people.csv: line 2: column .score.: not an integer" err
'

test_expect_success '--types on a column the header lacks is a usage error' '
	test_expect_code 2 rx-extract --csv people.csv --types nope=int 2>err &&
	test_grep "no column .nope." err
'

test_expect_success '--types with an unknown type is a usage error' '
	test_expect_code 2 rx-extract --csv people.csv --types id=decimal128 2>err
'

test_expect_success 'a UTF-8 BOM is dropped; --delimiter; unicode kept' '
	rx-extract --csv bom.csv --delimiter ";" >actual &&
	cat >expect <<-\EOF &&
	{"id":"1","city":"Zürich"}
	{"id":"2","city":"東京"}
	{"$rx":"end","rows":2}
	EOF
	test_cmp expect actual
'

test_expect_success 'tab-separated input with --delimiter tab; spaces are data' '
	printf "a\tb\n x \t y\n" >t.tsv &&
	rx-extract --csv t.tsv --delimiter tab >actual &&
	printf "%s\n" "{\"a\":\" x \",\"b\":\" y\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'CRLF line ends' '
	printf "a,b\r\n1,2\r\n" >crlf.csv &&
	rx-extract --csv crlf.csv >actual &&
	printf "%s\n" "{\"a\":\"1\",\"b\":\"2\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a ragged row (too many fields): exit 65, its line named, no half row' '
	test_expect_code 65 rx-extract --csv ragged-long.csv >out 2>err &&
	test_grep "^rx-extract: ragged-long.csv: line 3: ragged row" err &&
	echo "{\"a\":\"1\",\"b\":\"2\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a ragged row (too few fields): exit 65' '
	test_expect_code 65 rx-extract --csv ragged-short.csv >out 2>err &&
	test_grep "line 3: ragged row: 1 fields where the header has 2" err
'

test_expect_success 'an unterminated quote: exit 65' '
	printf "a,b\n1,\"open\n" >open.csv &&
	test_expect_code 65 rx-extract --csv open.csv >out 2>err &&
	test_grep "malformed CSV" err &&
	test_must_be_empty out
'

test_expect_success 'a stray quote in an unquoted field: exit 65' '
	printf "a,b\n1,x\"y\n" >stray.csv &&
	test_expect_code 65 rx-extract --csv stray.csv 2>err &&
	test_grep "line 2: malformed CSV" err
'

test_expect_success 'a duplicate header name: exit 65' '
	printf "a,a\n1,2\n" >dup.csv &&
	test_expect_code 65 rx-extract --csv dup.csv 2>err &&
	test_grep "column .a. appears twice" err
'

test_expect_success 'invalid UTF-8 is refused, not passed on' '
	printf "a\n\377\n" >bad.csv &&
	test_expect_code 65 rx-extract --csv bad.csv 2>err &&
	test_grep "invalid UTF-8" err
'

test_expect_success 'an empty file has no header: exit 65' '
	: >empty.csv &&
	test_expect_code 65 rx-extract --csv empty.csv 2>err &&
	test_grep "no header row" err
'

test_expect_success 'a header alone gives no rows but the end record, exit 0' '
	echo "a,b" >hdr.csv &&
	rx-extract --csv hdr.csv >out &&
	test_lines 1 out &&
	test_end 0 out
'

test_expect_success 'stdin as -' '
	printf "x\n1\n" | rx-extract --csv - --infer >actual &&
	printf "%s\n" "{\"x\":1}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a large file streams (200k rows), | head -1 quiet, >/dev/full 74' '
	awk "BEGIN { print \"id,v\"; for (i = 0; i < 200000; i++) print i \",v\" i }" >big.csv &&
	rx-extract --csv big.csv >out &&
	test_lines 200001 out &&
	test_end 200000 out &&
	rx-extract --csv big.csv 2>err | head -n 1 >one &&
	test_lines 1 one && test_must_be_empty err &&
	test_expect_code 74 rx-extract --csv big.csv >/dev/full 2>err
'

test_expect_success '--infer or --types without --csv is a usage error' '
	test_expect_code 2 rx-extract --ndjson - --infer </dev/null 2>err
'

test_done
