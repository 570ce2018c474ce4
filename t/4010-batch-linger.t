#!/bin/sh
# rx-batch --linger: a slow producer's partial batch leaves after MS
# milliseconds instead of waiting for more input or the end.
. "$(dirname "$0")/lib.sh"

for i in 1 2 3 4 5 6; do
	echo "{\"op\":\"upsert\",\"key\":\"$i\",\"row\":{\"id\":$i}}"
done >changes.ndjson

test_expect_success 'without --linger the partial batch waits for the end of input' '
	{ head -n 2 changes.ndjson; sleep 1.5; sed -n 3p changes.ndjson; } | rx-batch >out &
	pid=$! &&
	sleep 0.8 &&
	cp out early &&
	wait $pid &&
	test_must_be_empty early &&
	test_lines 1 out
'

test_expect_success 'with --linger 200 it leaves while the producer is quiet' '
	{ head -n 2 changes.ndjson; sleep 1.5; sed -n 3p changes.ndjson; } | rx-batch --linger 200 >out &
	pid=$! &&
	sleep 0.8 &&
	cp out early &&
	wait $pid &&
	cat >expect <<-\JSON &&
	{"op":"upsert","records":[{"op":"upsert","key":"1","row":{"id":1}},{"op":"upsert","key":"2","row":{"id":2}}]}
	JSON
	test_cmp expect early &&
	cat >>expect <<-\JSON &&
	{"op":"upsert","records":[{"op":"upsert","key":"3","row":{"id":3}}]}
	JSON
	test_cmp expect out
'

test_expect_success 'half a line pending does not hold the batch back' '
	{ head -n 1 changes.ndjson; printf "{\"op\":\"upsert\","; sleep 1.5; echo "\"key\":\"x\",\"row\":{}}"; } |
		rx-batch --linger 200 >out &
	pid=$! &&
	sleep 0.8 &&
	cp out early &&
	wait $pid &&
	test_lines 1 early &&
	test_grep "\"key\":\"1\"" early &&
	test_lines 2 out &&
	test_grep "\"key\":\"x\"" out
'

test_expect_success 'a trickle: batches close by time, every record once, in order' '
	for i in 1 2 3 4 5 6; do sed -n ${i}p changes.ndjson; sleep 0.15; done |
		rx-batch --linger 250 --size 100 >out &&
	test "$(wc -l <out)" -ge 2 &&
	jq -r ".records[].key" out >keys &&
	printf "%s\n" 1 2 3 4 5 6 >expect &&
	test_cmp expect keys
'

test_expect_success '--linger 0 still batches what is already buffered' '
	rx-batch --linger 0 --size 4 changes.ndjson >out &&
	jq -c "[.records[].key]" out >keys &&
	printf "%s\n" "[\"1\",\"2\",\"3\",\"4\"]" "[\"5\",\"6\"]" >expect &&
	test_cmp expect keys
'

test_done
