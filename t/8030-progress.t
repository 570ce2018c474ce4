#!/bin/sh
# A meter a person can read: rx-push --progress on a terminal shows
# done/total (the total from rx-diff --count-record, through rx-batch),
# the rate, the time left and the time throttled; on no terminal it draws
# nothing.  --stats splits the outcomes by op and reason and counts
# HubSpot-style created/updated replies.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

command -v script >/dev/null || test_skip_all "script (bsdutils) is not installed"

fake_start
model () {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%d\",\"v\":%d}\n", i, i }' &&
	echo '{"$rx":"end"}'
}

test_expect_success '--count-record: the first line says how many changes follow; rx-batch passes it' '
	model 20 >m &&
	rx-diff --state s.db --key id --count-record --sync app <m >c &&
	test_lines 21 c &&
	head -n 1 c | sed "s/\"run\":\"[0-9a-f.]*\"/RUN/" >got &&
	echo "{\"\$rx\":\"changes\",\"count\":20,\"sync\":\"app\",RUN}" >expect &&
	test_cmp expect got &&
	rx-batch --size 2 <c >b &&
	test "$(head -n 1 b)" = "$(head -n 1 c)" &&
	rx-map --rename v=value <c >mapped &&
	test "$(head -n 1 mapped)" = "$(head -n 1 c)" &&
	test_lines 21 mapped &&
	head -n 1 c | rx-diff --state s.db --commit 2>err &&
	! grep -q "not an ack" err
'

test_expect_success 'on a terminal: done/total, rate, time left, time throttled' '
	rx-diff --state p.db --key id --count-record <m | rx-batch --size 2 >batches &&
	script -qec "rx-push --profile webhook --url $(fake_url) --concurrency 1 --rate 4/1s --progress <batches >acks" \
		/dev/null >screen &&
	tr "\r" "\n" <screen | sed "s/\x1b\[K//" | grep "^rx-push: " >lines &&
	tail -n 1 lines >last &&
	test_grep "^rx-push: 20/20 (100%), 20 acked, 0 dead-lettered, [0-9]*/s, throttled [1-9][0-9]*s, 0 in flight" last &&
	grep -q "^rx-push: [0-9]*/20 ([0-9]*%), .*, [0-9]*s left, throttled" lines &&
	test_lines 20 acks
'

test_expect_success 'without a total it says what is done, with no ETA' '
	grep -v "^{\"\$rx\"" batches >plain &&
	script -qec "rx-push --profile webhook --url $(fake_url) --progress <plain >/dev/null" /dev/null >screen &&
	tr "\r" "\n" <screen | sed "s/\x1b\[K//" | grep "^rx-push: " | tail -n 1 >last &&
	test_grep "^rx-push: 20 done, 20 acked" last &&
	! grep -q "left" last
'

test_expect_success 'on no terminal: nothing drawn, stderr quiet' '
	setsid rx-push --profile webhook --url "$(fake_url)" --progress <batches >acks 2>err </dev/null &&
	test_must_be_empty err
'

test_expect_success '--stats: outcomes by op and by reason, the total, created and updated' '
	reply_start hs -- --body "{\"results\":[{\"ok\":true,\"id\":\"1\",\"created\":true},{\"ok\":true,\"id\":\"2\",\"created\":false},{\"ok\":false,\"error\":\"INVALID_EMAIL\"}]}" &&
	printf "%s\n" "{\"\$rx\":\"changes\",\"count\":3}" \
		"{\"op\":\"upsert\",\"key\":\"A\",\"hash\":\"h1\",\"row\":{}}" \
		"{\"op\":\"upsert\",\"key\":\"B\",\"hash\":\"h2\",\"row\":{}}" \
		"{\"op\":\"upsert\",\"key\":\"C\",\"hash\":\"h3\",\"row\":{}}" |
		test_expect_code 3 rx-push --profile webhook --url "$(fake_url hs)" --stats st.json >out 2>err &&
	jq -c "{total, by_op, dead_letters_by_reason, created, updated}" st.json >got &&
	echo "{\"total\":3,\"by_op\":{\"upsert\":{\"acked\":2,\"dead_lettered\":1}},\"dead_letters_by_reason\":{\"rejected\":1},\"created\":1,\"updated\":1}" >expect &&
	test_cmp expect got &&
	test "$(jq .throttled_seconds st.json)" = 0
'

test_expect_success 'a dead letter of a change with no run tells the commit nothing' '
	! grep -q "^{\"\$rx\":\"rejected\"" out
'

test_done
