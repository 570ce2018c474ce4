#!/bin/sh
# rx-map: rows and changes, the shorthands, jq programs, dead letters,
# exit statuses.
. "$(dirname "$0")/lib.sh"

cat >rows.ndjson <<'JSON'
{"id":1,"email":"a@x.com","score":12.50,"big":"12345678901234567890","raw":12345678901234567890,"note":null}
{"id":2,"email":"b@x.com","score":3,"big":"98765432109876543210","raw":-0.1000000000000000055511,"note":"hi \u00e9\"q\""}
JSON

cat >changes.ndjson <<'JSON'
{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"email":"a@x.com","score":12.50,"note":null},"trace":[1, 2]}
{"op":"delete","key":"3","hash":"h3"}
{"op":"update","key":"2","hash":"h2","row":{"id":2,"email":"b@x.com","score":3},"changed":["score"]}
JSON

test_expect_success '--help has the common shape; --version' '
	rx-map --help >out &&
	head -n 1 out | grep -q "^Usage: rx-map" &&
	test_grep "^Streams" out &&
	test_grep "^Example" out &&
	test_grep "See rx-map(1)" out &&
	rx-map --version >out &&
	test_grep "^rx-map (rx) " out
'

test_expect_success 'bad usage exits 2 with a hint' '
	test_expect_code 2 rx-map --rename nodst </dev/null 2>err &&
	test_grep "^rx-map: --rename: .nodst. is not SRC=DST" err &&
	test_grep "Try .rx-map --help." err &&
	test_expect_code 2 rx-map --hash x:md5 </dev/null 2>err &&
	test_grep "unknown kind .md5." err &&
	test_expect_code 2 rx-map --country-code 1a </dev/null 2>err &&
	test_expect_code 2 rx-map -e . -e . </dev/null 2>err
'

test_expect_success 'no mapping: rows pass through byte for byte' '
	rx-map rows.ndjson >out &&
	test_cmp rows.ndjson out
'

test_expect_success '--rename, --select, --set, --drop-nulls on rows' '
	rx-map --select id,score,big,raw,note --rename score=lead_score__c,id=Id \
		--set source=warehouse --set n=5 --set flag=true --set obj="{\"a\": [1, 2]}" \
		--drop-nulls rows.ndjson >out &&
	cat >expect <<-\JSON &&
	{"Id":1,"lead_score__c":12.50,"big":"12345678901234567890","raw":12345678901234567890,"source":"warehouse","n":5,"flag":true,"obj":{"a":[1,2]}}
	{"Id":2,"lead_score__c":3,"big":"98765432109876543210","raw":-0.1000000000000000055511,"note":"hi \u00e9\"q\"","source":"warehouse","n":5,"flag":true,"obj":{"a":[1,2]}}
	JSON
	test_cmp expect out
'

test_expect_success '--set replaces a field in place; a rename replaces a column of that name' '
	echo "{\"a\":1,\"b\":2,\"c\":3}" | rx-map --set b=\"x\" --rename a=c >out &&
	echo "{\"c\":1,\"b\":\"x\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'changes: only "row" is rewritten, everything else byte for byte' '
	rx-map --rename score=lead_score__c --drop-nulls changes.ndjson >out &&
	cat >expect <<-\JSON &&
	{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"email":"a@x.com","lead_score__c":12.50},"trace":[1, 2]}
	{"op":"delete","key":"3","hash":"h3"}
	{"op":"update","key":"2","hash":"h2","row":{"id":2,"email":"b@x.com","lead_score__c":3},"changed":["score"]}
	JSON
	test_cmp expect out
'

test_expect_success '--rows maps a change-shaped line whole' '
	head -n 1 changes.ndjson | rx-map --rows --select op,key >out &&
	echo "{\"op\":\"upsert\",\"key\":\"1\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a jq program maps rows and changes; rx.jq needs no import' '
	rx-map -e "{Id: .id, Email: (.email | normalize_email), big}" rows.ndjson changes.ndjson >out &&
	cat >expect <<-\JSON &&
	{"Id":1,"Email":"a@x.com","big":"12345678901234567890"}
	{"Id":2,"Email":"b@x.com","big":"98765432109876543210"}
	{"op":"upsert","key":"1","hash":"h1","row":{"Id":1,"Email":"a@x.com","big":null},"trace":[1, 2]}
	{"op":"delete","key":"3","hash":"h3"}
	{"op":"update","key":"2","hash":"h2","row":{"Id":2,"Email":"b@x.com","big":null},"changed":["score"]}
	JSON
	test_cmp expect out
'

test_expect_success 'a program from a file, then the shorthands on its output' '
	cat >m.jq <<-\JQ &&
	# a mapping file
	{Id: .id, Score: .score, Note: .note}
	JQ
	rx-map -f m.jq --drop-nulls --rename Score=score__c rows.ndjson >out &&
	cat >expect <<-\JSON &&
	{"Id":1,"score__c":12.5}
	{"Id":2,"score__c":3,"Note":"hi é\"q\""}
	JSON
	test_cmp expect out
'

test_expect_success 'a program that gives no output drops the row; several give several rows' '
	rx-map -e "select(.id == 2) | {id}, {id: (.id + 10)}" rows.ndjson >out &&
	printf "%s\n" "{\"id\":2}" "{\"id\":12}" >expect &&
	test_cmp expect out
'

test_expect_success 'exact numbers: strings stay strings through a program' '
	rx-map -e "{big}" rows.ndjson >out &&
	printf "%s\n" "{\"big\":\"12345678901234567890\"}" "{\"big\":\"98765432109876543210\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a jq error dead-letters that row (stage rx-map), the run goes on, exit 3' '
	test_expect_code 3 rx-map -e "if .id == 1 then error(\"no id 1\") else {id} end" rows.ndjson >out 2>err &&
	echo "{\"id\":2}" >expect &&
	test_cmp expect out &&
	test_lines 1 err &&
	sed "s/\"at\":\"[^\"]*\"/\"at\":\"T\"/" err >dead &&
	cat >expect <<-\JSON &&
	{"id":1,"email":"a@x.com","score":12.50,"big":"12345678901234567890","raw":12345678901234567890,"note":null,"error":{"stage":"rx-map","status":null,"message":"no id 1","at":"T"}}
	JSON
	test_cmp expect dead
'

test_expect_success 'a non-object output and a change mapped to two rows are dead letters' '
	test_expect_code 3 rx-map -e ".id" rows.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_lines 2 err &&
	test_grep "\"message\":\"the mapping.s output is a number, not an object\"" err &&
	head -n 1 changes.ndjson >one.ndjson &&
	test_expect_code 3 rx-map -e "{a:1},{a:2}" one.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "\"key\":\"1\".*gave 2 rows for one change" err
'

test_expect_success 'a program that does not compile: exit 2, jq message and the text' '
	test_expect_code 2 rx-map -e "{id: .id" rows.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-map: mapping does not compile: jq: error: syntax error" err &&
	test_grep "the program: {id: .id$" err &&
	echo "{x: nosuchfn}" >bad.jq &&
	test_expect_code 2 rx-map -f bad.jq rows.ndjson 2>err &&
	test_grep "mapping .bad.jq. does not compile: .*nosuchfn/0 is not defined" err
'

test_expect_success 'malformed JSON exits 65 naming the line; rows before it are written' '
	printf "%s\n" "{\"a\":1}" "" "{\"a\":" >bad.ndjson &&
	test_expect_code 65 rx-map bad.ndjson >out 2>err &&
	echo "{\"a\":1}" >expect &&
	test_cmp expect out &&
	test_grep "^rx-map: bad.ndjson: line 3: cannot parse JSON" err &&
	echo "[1,2]" | test_expect_code 65 rx-map 2>err &&
	test_grep "^rx-map: line 1: cannot parse JSON: not a JSON object" err
'

test_expect_success 'empty input: no output, exit 0' '
	rx-map -e "{id}" </dev/null >out &&
	test_must_be_empty out &&
	rx-map --hash email </dev/null >out &&
	test_must_be_empty out
'

test_expect_success '| head -1 ends quietly' '
	awk "BEGIN { for (i = 0; i < 200000; i++) printf \"{\\\"id\\\":%d}\\n\", i }" >many.ndjson &&
	rx-map --rename id=Id many.ndjson 2>err | head -n 1 >out &&
	echo "{\"Id\":0}" >expect &&
	test_cmp expect out &&
	test_must_be_empty err
'

test_expect_success 'a full disk is exit 74' '
	test_expect_code 74 rx-map rows.ndjson >/dev/full 2>err &&
	test_grep "^rx-map: cannot write" err
'

test_expect_success 'a missing file is exit 1' '
	test_expect_code 1 rx-map nosuch.ndjson 2>err &&
	test_grep "^rx-map: cannot open .nosuch.ndjson." err
'

test_done
