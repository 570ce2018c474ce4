#!/bin/sh
# rx-batch on a stream (issue 17): two changes of one key never share a
# batch, and a source position ({"$rx":"commit"}) follows the batch that
# is open when it comes, or leaves at once when none is.
. "$(dirname "$0")/lib.sh"

test_expect_success 'a key already in the open batch closes it: its changes keep their order' '
	cat >in <<-\EOF &&
	{"op":"upsert","key":"a","hash":"1","row":{"v":1}}
	{"op":"upsert","key":"b","hash":"1","row":{"v":1}}
	{"op":"upsert","key":"a","hash":"2","row":{"v":2}}
	{"op":"upsert","key":"c","hash":"1","row":{"v":1}}
	EOF
	rx-batch <in >out &&
	jq -c "[.records[] | .key + .hash]" out >actual &&
	cat >expect <<-\EOF &&
	["a1","b1"]
	["a2","c1"]
	EOF
	test_cmp expect actual
'

test_expect_success 'a position waits for the open batch and follows it; the latest covers the earlier' '
	cat >in <<-\EOF &&
	{"op":"upsert","key":"a","hash":"1","row":{}}
	{"$rx":"commit","lsn":"0/1"}
	{"op":"upsert","key":"b","hash":"1","row":{}}
	{"$rx":"commit","lsn":"0/2"}
	{"op":"delete","key":"a","hash":"2","row":{}}
	{"$rx":"commit","lsn":"0/3"}
	EOF
	rx-batch <in >out &&
	jq -c "if .records then [.op, (.records | length)] else . end" out >actual &&
	cat >expect <<-\EOF &&
	["upsert",2]
	{"$rx":"commit","lsn":"0/2"}
	["delete",1]
	{"$rx":"commit","lsn":"0/3"}
	EOF
	test_cmp expect actual
'

test_expect_success 'other control records still close the batch and keep their place' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"a\",\"hash\":\"1\",\"row\":{}}" "{\"\$rx\":\"end\",\"rows\":1}" |
		rx-batch >out &&
	test_lines 2 out &&
	test "$(tail -n 1 out)" = "{\"\$rx\":\"end\",\"rows\":1}"
'

test_expect_success 'with --linger a position with no batch open leaves at once' '
	{ echo "{\"\$rx\":\"commit\",\"lsn\":\"0/9\"}"; sleep 1.5; } | rx-batch --linger 200 >out &
	pid=$! &&
	sleep 0.8 &&
	cp out early &&
	wait $pid &&
	echo "{\"\$rx\":\"commit\",\"lsn\":\"0/9\"}" >expect &&
	test_cmp expect early
'

test_expect_success 'a batch run, one change a key, is batched as before' '
	awk "BEGIN { for (i = 1; i <= 250; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"%d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{}}\\n\", i }" >many &&
	rx-batch <many >out &&
	jq -c ".records | length" out >actual &&
	printf "100\n100\n50\n" >expect &&
	test_cmp expect actual
'

test_done
