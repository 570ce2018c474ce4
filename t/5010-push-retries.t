#!/bin/sh
# rx-push retries: 5xx and dropped connections are retried with back-off
# until they succeed; other 4xx are permanent (dead letters at once);
# timeouts are retried; exhausted retries dead-letter (HTTP) or stop the
# run with exit 75 (no connection at all).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

for i in 1 2 3 4 5 6; do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h$i\",\"row\":{\"n\":$i}}"; done >in.ndjson
FAST="--retry-base 10 --retry-max 50 --max-records 1"

test_expect_success '5xx retried, then succeeded: every record acked once' '
	fake_start f1 -- --fail-first 3 &&
	rx-push --profile webhook --url "$(fake_url f1)" $FAST --concurrency 1 --stats s.json <in.ndjson >acks 2>err &&
	test_lines 6 acks &&
	test_must_be_empty err &&
	test "$(fake_count f1 errors)" = 3 &&
	test "$(fake_count f1 accepted)" = 6 &&
	python3 -c "import json; s = json.load(open(\"s.json\")); assert s[\"retries\"] == 3 and s[\"requests\"] == 9, s"
'

test_expect_success 'a retry carries the same idempotency key as the first try' '
	fake_start f7 -- --fail-first 1 --log "$TRASH/f7.log" &&
	head -n 1 in.ndjson | rx-push --profile webhook --url "$(fake_url f7)" $FAST >acks &&
	test_lines 1 acks &&
	sed -n "s/.*\"idempotency-key\": \"\([0-9a-f]*\)\".*/\1/p" f7.log >keys &&
	test_lines 2 keys &&
	test "$(sed -n 1p keys)" = "$(sed -n 2p keys)" &&
	echo "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"CHANGED\",\"row\":{}}" |
	rx-push --profile webhook --url "$(fake_url f7)" $FAST >acks &&
	sed -n "s/.*\"idempotency-key\": \"\([0-9a-f]*\)\".*/\1/p" f7.log | sort -u >keys &&
	test_lines 2 keys
'

test_expect_success 'a per-record retry inside a 200: only that record is sent again' '
	fake_start f8 -- --log "$TRASH/f8.log" &&
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"A\",\"hash\":\"1\",\"row\":{}},{\"key\":\"B\",\"hash\":\"2\",\"row\":{\"_flaky\":true}}]}" |
	rx-push --profile webhook --url "$(fake_url f8)" --retry-base 10 >acks 2>err &&
	test_must_be_empty err &&
	test_lines 2 acks &&
	test_lines 2 f8.log &&
	tail -n 1 f8.log >second &&
	test_grep "key.....B" second &&
	! grep -q "key.....A" second
'

test_expect_success 'every 2nd request fails: still all delivered' '
	fake_start f2 -- --fail-every 2 &&
	rx-push --profile webhook --url "$(fake_url f2)" $FAST <in.ndjson >acks 2>err &&
	test_lines 6 acks &&
	fake_records f2 >stored &&
	test_lines 6 stored
'

test_expect_success 'a permanent 4xx is not retried: dead letters, attempts 1' '
	fake_start f3 -- --family webhook &&
	printf "{\"op\":\"upsert\",\"key\":\"X\",\"hash\":\"h\",\"row\":{\"_bad\":1}}\n" >x.ndjson &&
	printf "{\"max_records\":10,\"ops\":{\"*\":{\"path\":\"/x\",\"body\":\"[1]\"}}}\n" >bad-body.json &&
	test_expect_code 3 rx-push --profile ./bad-body.json --url "$(fake_url f3)" $FAST <x.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "\"status\":400" err &&
	test_grep "\"attempts\":1" err &&
	test "$(fake_count f3 requests)" = 1
'

test_expect_success 'dropped connections are retried' '
	fake_start f4 -- --drop-every 3 &&
	rx-push --profile webhook --url "$(fake_url f4)" $FAST <in.ndjson >acks 2>err &&
	test_lines 6 acks &&
	test "$(fake_count f4 accepted)" = 6
'

test_expect_success 'a reply slower than --timeout is retried' '
	fake_start f5 -- --slow-every 2 --slow-ms 1500 &&
	rx-push --profile webhook --url "$(fake_url f5)" $FAST --timeout 400 --concurrency 1 <in.ndjson >acks 2>err &&
	test_lines 6 acks
'

test_expect_success '5xx every time: dead letters after --max-attempts' '
	fake_start f6 -- --fail-every 1 &&
	test_expect_code 3 rx-push --profile webhook --url "$(fake_url f6)" $FAST --max-attempts 3 <in.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test $(grep -c "^{.*gave up after 3 attempts" err) = 6 &&
	test "$(fake_count f6 requests)" = 18
'

test_expect_success 'nothing listening: exit 75, records left unacked and reported' '
	python3 -c "import socket; s = socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])" >port &&
	test_expect_code 75 rx-push --profile webhook --url "http://127.0.0.1:$(cat port)" $FAST --max-attempts 2 <in.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "^rx-push: stopped: destination unreachable after 2 attempts" err &&
	test_grep "6 records left unacked" err &&
	! grep -q "^{" err
'

test_done
