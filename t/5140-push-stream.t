#!/bin/sh
# rx-push on a stream (issue 17): a key's changes reach the destination in
# the order they came, whatever the order their requests finish in, and a
# source position ({"$rx":"commit"}) is written among the acks once every
# record read before it has left (acked or dead-lettered), never before.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

change () { echo "{\"op\":\"upsert\",\"records\":[{\"op\":\"upsert\",\"key\":\"$1\",\"hash\":\"$2\",\"run\":\"0123456789abcdef.1\",\"row\":{\"v\":$2${3:-}}}]}"; }

fake_start -- --family webhook --slow-every 2 --slow-ms 600

test_expect_success 'the second change of a key waits for the first, slower, request' '
	{ change b 1 && change a 1 ",\"_slow_ms\":600" && change a 2; } >in &&
	rx-push --profile webhook --url "$FAKE_URL" --concurrency 8 <in >acks &&
	jq -r ".key + .hash" acks >order &&
	test_lines 3 order &&
	grep "^a" order >a-order &&
	printf "a1\na2\n" >expect &&
	test_cmp expect a-order &&
	fake_records >rows &&
	test_grep "^a	{\"v\":2}" rows
'

test_expect_success 'a position leaves after the acks of every record before it' '
	{ change c 1 && change d 1 && echo "{\"\$rx\":\"commit\",\"lsn\":\"0/1\"}" &&
	  change e 1 && echo "{\"\$rx\":\"commit\",\"lsn\":\"0/2\"}"; } >in &&
	rx-push --profile webhook --url "$FAKE_URL" <in >out &&
	jq -r "if .key then .key else .lsn end" out >actual &&
	test_lines 5 actual &&
	at () { grep -n "^$1\$" actual | cut -d: -f1; } &&
	test "$(at 0/1)" -gt "$(at c)" && test "$(at 0/1)" -gt "$(at d)" &&
	test "$(at 0/2)" -gt "$(at e)" && test "$(at 0/2)" -gt "$(at 0/1)"
'

test_expect_success 'a position with nothing before it held passes at once; other control records do not' '
	printf "%s\n" "{\"\$rx\":\"commit\",\"lsn\":\"0/3\"}" "{\"\$rx\":\"end\",\"rows\":0}" |
		rx-push --profile webhook --url "$FAKE_URL" >out &&
	echo "{\"\$rx\":\"commit\",\"lsn\":\"0/3\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a dead-lettered record lets the position after it go, after its rejected record' '
	{ change f 1 ",\"_reject\":true" && echo "{\"\$rx\":\"commit\",\"lsn\":\"0/4\"}"; } >in &&
	test_expect_code 3 rx-push --profile webhook --url "$FAKE_URL" <in >out 2>err &&
	test_grep "^{.*\"key\":\"f\"" err &&
	jq -c "{rx: .\"\$rx\", key, lsn}" out >actual &&
	printf "%s\n" "{\"rx\":\"rejected\",\"key\":\"f\",\"lsn\":null}" \
		"{\"rx\":\"commit\",\"key\":null,\"lsn\":\"0/4\"}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a record left unacked holds the position back' '
	{ change g 1 && echo "{\"\$rx\":\"commit\",\"lsn\":\"0/5\"}"; } >in &&
	test_expect_code 75 rx-push --profile webhook --url http://127.0.0.1:9 --max-attempts 1 --retry-base 10 \
		<in >out 2>err &&
	test_grep "left unacked" err &&
	test_must_be_empty out
'

test_done
