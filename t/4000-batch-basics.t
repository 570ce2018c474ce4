#!/bin/sh
# rx-batch: --size, --max-bytes, op separation and order, oversized
# records, --profile, bad input, exit statuses.
. "$(dirname "$0")/lib.sh"

cat >changes.ndjson <<'JSON'
{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"n":12345678901234567890}}
{"op":"upsert","key":"2","hash":"h2","row":{"id":2}}
{"op":"upsert","key":"3","hash":"h3","row":{"id":3}}
{"op":"delete","key":"1","hash":"h4","row":{"id":1}}
{"op":"upsert","key":"1","hash":"h5","row":{"id":1}}
{"op":"delete","key":"9","hash":"h6"}
JSON

test_expect_success '--help has the common shape; --version' '
	rx-batch --help >out &&
	head -n 1 out | grep -q "^Usage: rx-batch" &&
	test_grep "^Streams" out &&
	test_grep "^Example" out &&
	test_grep "See rx-batch(1)" out &&
	rx-batch --version >out &&
	test_grep "^rx-batch (rx) " out
'

test_expect_success 'bad usage exits 2' '
	test_expect_code 2 rx-batch --size 0 </dev/null 2>err &&
	test_grep "^rx-batch: --size" err &&
	test_expect_code 2 rx-batch --linger soon </dev/null 2>err &&
	test_expect_code 2 rx-batch --max-bytes 1Q </dev/null 2>err &&
	test_grep "Try .rx-batch --help." err
'

test_expect_success '--size: batches of N, one op each, in input order, records raw' '
	rx-batch --size 2 changes.ndjson >out &&
	cat >expect <<-\JSON &&
	{"op":"upsert","records":[{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"n":12345678901234567890}},{"op":"upsert","key":"2","hash":"h2","row":{"id":2}}]}
	{"op":"upsert","records":[{"op":"upsert","key":"3","hash":"h3","row":{"id":3}}]}
	{"op":"delete","records":[{"op":"delete","key":"1","hash":"h4","row":{"id":1}}]}
	{"op":"upsert","records":[{"op":"upsert","key":"1","hash":"h5","row":{"id":1}}]}
	{"op":"delete","records":[{"op":"delete","key":"9","hash":"h6"}]}
	JSON
	test_cmp expect out
'

test_expect_success 'the default size is 100; a trailing partial batch is written at the end' '
	awk "BEGIN { for (i = 0; i < 250; i++) printf \"{\\\"op\\\":\\\"insert\\\",\\\"key\\\":\\\"%d\\\",\\\"row\\\":{}}\\n\", i }" >many.ndjson &&
	rx-batch many.ndjson >out &&
	test_lines 3 out &&
	jq -c "[.op, (.records | length), .records[0].key]" out >summary &&
	printf "%s\n" "[\"insert\",100,\"0\"]" "[\"insert\",100,\"100\"]" "[\"insert\",50,\"200\"]" >expect &&
	test_cmp expect summary
'

test_expect_success '--max-bytes caps the batch line (158 bytes fit in 200, not in 157)' '
	rx-batch --size 1000 --max-bytes 200 changes.ndjson >out &&
	awk "{ if (length(\$0) > 200) bad = 1 } END { exit bad }" out &&
	cat >expect <<-\JSON &&
	{"op":"upsert","records":[{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"n":12345678901234567890}},{"op":"upsert","key":"2","hash":"h2","row":{"id":2}}]}
	{"op":"upsert","records":[{"op":"upsert","key":"3","hash":"h3","row":{"id":3}}]}
	{"op":"delete","records":[{"op":"delete","key":"1","hash":"h4","row":{"id":1}}]}
	{"op":"upsert","records":[{"op":"upsert","key":"1","hash":"h5","row":{"id":1}}]}
	{"op":"delete","records":[{"op":"delete","key":"9","hash":"h6"}]}
	JSON
	test_cmp expect out &&
	rx-batch --size 1000 --max-bytes 157 changes.ndjson >out &&
	awk "{ if (length(\$0) > 157) bad = 1 } END { exit bad }" out &&
	jq -c "[.op, [.records[].key]]" out >summary &&
	cat >expect <<-\JSON &&
	["upsert",["1"]]
	["upsert",["2","3"]]
	["delete",["1"]]
	["upsert",["1"]]
	["delete",["9"]]
	JSON
	test_cmp expect summary
'

test_expect_success 'a batch line of exactly --max-bytes is allowed' '
	head -n 2 changes.ndjson | tail -n 1 >one.ndjson &&
	rx-batch one.ndjson >out &&
	n=$(head -n 1 out | tr -d "\n" | wc -c) &&
	rx-batch --max-bytes $n one.ndjson >out2 &&
	test_cmp out out2 &&
	test_expect_code 3 rx-batch --max-bytes $((n - 1)) one.ndjson >out3 2>err &&
	test_must_be_empty out3
'

test_expect_success 'a record too big for a batch of one is a dead letter, not a hang: exit 3' '
	big=$(printf "%0300d" 0) &&
	{ head -n 1 changes.ndjson &&
	  echo "{\"op\":\"upsert\",\"key\":\"big\",\"hash\":\"hb\",\"row\":{\"blob\":\"$big\"}}" &&
	  sed -n 2p changes.ndjson; } >in.ndjson &&
	rx-batch --max-bytes 1K in.ndjson >out 2>err &&
	test_lines 1 out &&
	test_must_be_empty err &&
	test_expect_code 3 rx-batch --max-bytes 300 in.ndjson >out 2>err &&
	test_lines 1 err &&
	test_grep "^{\"op\":\"upsert\",\"key\":\"big\",\"hash\":\"hb\",.*\"error\":{\"stage\":\"rx-batch\",\"status\":null,\"message\":\"a batch of this change alone would be 385 bytes, more than the 300 of --max-bytes\"" err &&
	cat >expect <<-\JSON &&
	{"op":"upsert","records":[{"op":"upsert","key":"1","hash":"h1","row":{"id":1,"n":12345678901234567890}},{"op":"upsert","key":"2","hash":"h2","row":{"id":2}}]}
	JSON
	test_cmp expect out
'

test_expect_success '--profile: max_records and max_bytes; the smaller limit wins' '
	mkdir profiles &&
	echo "{\"name\":\"crm\",\"max_records\":2,\"max_bytes\":100000}" >profiles/crm.json &&
	rx-batch --profile profiles/crm.json changes.ndjson >out &&
	rx-batch --size 2 changes.ndjson >expect &&
	test_cmp expect out &&
	RX_PROFILE_PATH=$TRASH/profiles rx-batch --profile crm --size 1 changes.ndjson >out &&
	test_lines 6 out &&
	RX_PROFILE_PATH=$TRASH/profiles rx-batch --profile crm --size 50 changes.ndjson >out &&
	test_cmp expect out &&
	echo "{\"max_records\":\"many\"}" >profiles/bad.json &&
	test_expect_code 1 rx-batch --profile profiles/bad.json changes.ndjson 2>err &&
	test_grep "max_records. is not a positive integer" err &&
	test_expect_code 1 rx-batch --profile nosuch </dev/null 2>err &&
	test_grep "^rx-batch: no profile .nosuch." err
'

test_expect_success 'a line that is not a change: exit 65 naming it; earlier batches written' '
	{ head -n 2 changes.ndjson && echo "{\"id\":7}"; } >bad.ndjson &&
	test_expect_code 65 rx-batch bad.ndjson >out 2>err &&
	rx-batch changes.ndjson | head -n 0 &&
	test_lines 1 out &&
	test_grep "^rx-batch: bad.ndjson: line 3: not a change: no \"op\"" err &&
	echo "{\"op\":\"upsert\",\"key\":\"1\"}" | test_expect_code 65 rx-batch 2>err &&
	test_grep "line 1: not a change: no \"row\" object" err &&
	echo "{\"op\":\"merge\",\"row\":{}}" | test_expect_code 65 rx-batch 2>err &&
	test_grep "\"op\" is not insert, update, upsert or delete" err &&
	echo "{\"op\":\"upsert\",\"row\":[1]}" | test_expect_code 65 rx-batch 2>err &&
	test_grep "\"row\" is not an object" err &&
	echo "{\"op\":" | test_expect_code 65 rx-batch 2>err &&
	test_grep "line 1: cannot parse JSON" err
'

test_expect_success 'empty input and blank lines: no batches, exit 0' '
	rx-batch </dev/null >out &&
	test_must_be_empty out &&
	printf "\n  \n" | rx-batch >out &&
	test_must_be_empty out
'

test_expect_success '| head -1 ends quietly' '
	awk "BEGIN { for (i = 0; i < 300000; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"%d\\\",\\\"row\\\":{}}\\n\", i }" >lots.ndjson &&
	rx-batch --size 1 lots.ndjson 2>err | head -n 1 >out &&
	echo "{\"op\":\"upsert\",\"records\":[{\"op\":\"upsert\",\"key\":\"0\",\"row\":{}}]}" >expect &&
	test_cmp expect out &&
	test_must_be_empty err
'

test_expect_success 'a full disk is exit 74' '
	test_expect_code 74 rx-batch changes.ndjson >/dev/full 2>err &&
	test_grep "^rx-batch: cannot write" err
'

test_done
