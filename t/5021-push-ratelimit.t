#!/bin/sh
# rx-push's own rate limits: --rate windows pace requests so that a
# limited destination never answers 429; a daily quota stops the run with
# exit 75 and the rest unacked, also when the destination reports it (429
# DAILY, 403 REQUEST_LIMIT_EXCEEDED); --budget FILE shares one budget
# among processes and survives a restart.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

for i in $(seq 1 8); do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h$i\",\"row\":{\"n\":$i}}"; done >in.ndjson
FAST="--retry-base 20 --max-records 1 --concurrency 4"

test_expect_success '--rate 9/1s against a 10/1 s destination: no 429' '
	fake_start paced -- --rate 10/1 &&
	for i in $(seq 1 15); do echo "{\"op\":\"upsert\",\"key\":\"P$i\",\"hash\":\"h\",\"row\":{}}"; done >p.ndjson &&
	rx-push --profile webhook --url "$(fake_url paced)" $FAST --rate 9/1s <p.ndjson >acks 2>err &&
	test_lines 15 acks &&
	fake_state paced && echo &&
	test "$(fake_count paced throttled)" = 0 &&
	test "$(fake_count paced max_in_window)" -le 10
'

test_expect_success 'a daily quota (--rate 3/1d): 3 sent, exit 75, 5 left unacked' '
	fake_start q1 -- &&
	test_expect_code 75 rx-push --profile webhook --url "$(fake_url q1)" $FAST --rate 3/1d --budget day.budget <in.ndjson >acks 2>err &&
	test_lines 3 acks &&
	test_grep "^rx-push: stopped: the daily quota" err &&
	test_grep "5 records left unacked" err &&
	test "$(fake_count q1 requests)" = 3
'

test_expect_success 'the budget file remembers the quota across a restart' '
	test_expect_code 75 rx-push --profile webhook --url "$(fake_url q1)" $FAST --rate 3/1d --budget day.budget <in.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test "$(fake_count q1 requests)" = 3 &&
	test_grep "8 records left unacked" err
'

test_expect_success 'the destination says its daily quota is used up (429 DAILY): exit 75' '
	fake_start q2 -- --quota 2 &&
	test_expect_code 75 rx-push --profile webhook --url "$(fake_url q2)" $FAST --concurrency 1 <in.ndjson >acks 2>err &&
	test_lines 2 acks &&
	test_grep "quota is exhausted" err &&
	test_grep "6 records left unacked" err &&
	! grep -q "^{" err
'

test_expect_success '403 REQUEST_LIMIT_EXCEEDED (Salesforce) is a quota too' '
	fake_start q3 -- --family positional --quota 1 --quota-style 403 &&
	test_expect_code 75 env RX_PROFILE_PATH="$RX_TESTS/profiles" rx-push --profile positional --url "$(fake_url q3)" $FAST --concurrency 1 <in.ndjson >acks 2>err &&
	test_lines 1 acks &&
	test_grep "TotalRequests Limit exceeded" err
'

test_expect_success 'a 429 asking for an hour is a quota: exit 75, nothing waits' '
	cat >hour.json <<-\EOF &&
	{"max_records": 10, "response": "if .status == 429 then {action: \"throttle\", wait: 3600} else null end"}
	EOF
	fake_start q4 -- --rate 1/60 &&
	test_expect_code 75 rx-push --profile ./hour.json --url "$(fake_url q4)" $FAST --concurrency 1 <in.ndjson >acks 2>err &&
	test_lines 1 acks &&
	test_grep "quota is exhausted" err &&
	test_grep "7 records left unacked" err
'

test_expect_success 'three processes share one --budget: no 429, within the limit' '
	fake_start shared -- --rate 10/1 &&
	for p in a b c; do
		for i in $(seq 1 8); do echo "{\"op\":\"upsert\",\"key\":\"$p$i\",\"hash\":\"h\",\"row\":{}}"; done >$p.ndjson
	done &&
	url=$(fake_url shared) &&
	{ rx-push --profile webhook --url "$url" $FAST --rate 9/1s --budget shared.budget <a.ndjson >a.acks 2>a.err & } &&
	pa=$! &&
	{ rx-push --profile webhook --url "$url" $FAST --rate 9/1s --budget shared.budget <b.ndjson >b.acks 2>b.err & } &&
	pb=$! &&
	rx-push --profile webhook --url "$url" $FAST --rate 9/1s --budget shared.budget <c.ndjson >c.acks 2>c.err &&
	wait $pa && wait $pb &&
	cat a.acks b.acks c.acks >all.acks &&
	test_lines 24 all.acks &&
	fake_state shared && echo &&
	test "$(fake_count shared throttled)" = 0 &&
	test "$(fake_count shared accepted)" = 24 &&
	test "$(fake_count shared max_in_window)" -le 10
'

test_done
