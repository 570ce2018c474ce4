#!/bin/sh
# rx-push against the fake webhook: acks and dead letters, single changes
# and batches, malformed input, splitting, re-driving dead letters, dry
# runs, --limit, --stats, closed and full stdout.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

fake_start -- --family webhook --log "$TRASH/requests.ndjson" || exit 1

test_expect_success '--help: usage, purpose, options, example, see-also' '
	rx-push --help >out &&
	head -n 1 out | grep -q "^Usage: rx-push" &&
	test_grep "^Example" out &&
	test_grep "See rx-push(1)" out
'

test_expect_success '--version names libcurl' '
	rx-push --version >out &&
	test_grep "^rx-push (rx) [0-9.]* libcurl/" out
'

test_expect_success 'usage errors: no profile, a bad --rate, an argument' '
	test_expect_code 2 rx-push </dev/null 2>err &&
	test_grep "give --profile" err &&
	test_expect_code 2 rx-push --profile webhook --rate 10/fortnight </dev/null 2>err &&
	test_grep "^rx-push: --rate" err &&
	test_grep "Try .rx-push --help." err &&
	test_expect_code 2 rx-push --profile webhook stray </dev/null 2>err
'

test_expect_success 'an unknown profile fails with exit 1' '
	test_expect_code 1 rx-push --profile no-such-destination </dev/null 2>err &&
	test_grep "no profile .no-such-destination." err
'

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","email":"a@x.com","ltv":812.5}},{"op":"upsert","key":"C2","hash":"h2","row":{"id":"C2","email":"bad"}}]}
{"op":"upsert","key":"C3","hash":"h3","row":{"id":"C3","email":"c@x.com"}}
{"op":"delete","key":"C9","hash":"h9","row":{"id":"C9","email":"z@x.com"}}
IN

test_expect_success 'a mixed batch: acks and dead letters add up, none in both' '
	test_expect_code 3 rx-push --profile webhook --url "$FAKE_URL/hook" <mixed.ndjson >acks 2>err &&
	sort acks >sorted &&
	cat >expect <<-\EOF &&
	{"key":"C1","hash":"h1","op":"upsert","id":"d-C1"}
	{"key":"C3","hash":"h3","op":"upsert","id":"d-C3"}
	{"key":"C9","hash":"h9","op":"delete","id":"d-C9"}
	EOF
	test_cmp expect sorted &&
	grep "^{" err >dead &&
	test_lines 1 dead &&
	test_grep "^{\"op\":\"upsert\",\"key\":\"C2\",\"hash\":\"h2\",\"row\":{\"id\":\"C2\",\"email\":\"bad\"},\"error\":{\"stage\":\"rx-push\",\"status\":200,\"message\":\".bad. is not a valid email\"" dead &&
	test_grep "\"attempts\":1" dead &&
	fake_records >stored &&
	cat >expect <<-\EOF &&
	C1	{"email":"a@x.com","id":"C1","ltv":812.5}
	C3	{"email":"c@x.com","id":"C3"}
	EOF
	test_cmp expect stored &&
	fake_state | grep -q "\"deleted\":\\[\"C9\"\\]"
'

test_expect_success 'the request: the batch as JSON, an idempotency key' '
	# the batch, whichever of the three requests in flight came first
	grep "C2" requests.ndjson >first &&
	test_lines 1 first &&
	test_grep "\"path\": \"/hook\"" first &&
	test_grep "\"idempotency-key\": \"[0-9a-f]\{32\}\"" first &&
	test_grep "\\\\\"ltv\\\\\":812.5" first
'

test_expect_success 're-driving the dead-letter file: an edited row is refused, a hand-written change is sent' '
	grep "^{" err | sed "s/\"bad\"/\"b@x.com\"/" >redrive.ndjson &&
	test_expect_code 65 rx-push --profile webhook --url "$FAKE_URL/hook" <redrive.ndjson >acks 2>err2 &&
	test_must_be_empty acks &&
	test_grep "edited after it was rejected" err2 &&
	jq -c "del(.error)" redrive.ndjson >handmade.ndjson &&
	rx-push --profile webhook --url "$FAKE_URL/hook" <handmade.ndjson >acks 2>err2 &&
	test_must_be_empty err2 &&
	cat >expect <<-\EOF &&
	{"key":"C2","hash":"h2","op":"upsert","id":"d-C2"}
	EOF
	test_cmp expect acks &&
	tail -n 1 requests.ndjson >last &&
	! grep -q "stage" last
'

test_expect_success 'a malformed line: reported, dead-lettered, the rest delivered, exit 65' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"M1\",\"hash\":\"x\",\"row\":{}}" "{not json" "{\"op\":\"upsert\",\"row\":{}}" "{\"op\":\"upsert\",\"key\":\"M2\",\"hash\":\"y\",\"row\":{}}" >bad.ndjson &&
	test_expect_code 65 rx-push --profile webhook --url "$FAKE_URL" <bad.ndjson >acks 2>err &&
	test_lines 2 acks &&
	test_grep "^rx-push: line 2: cannot parse JSON" err &&
	test_grep "^rx-push: line 3: a change without \"key\"" err &&
	test_grep "^{\"record\":\"{not json\",\"error\"" err
'

test_expect_success 'single changes are gathered into batches of max_records' '
	: >requests.ndjson &&
	for i in 1 2 3 4 5 6 7; do echo "{\"op\":\"upsert\",\"key\":\"S$i\",\"hash\":\"h\",\"row\":{\"n\":$i}}"; done >singles.ndjson &&
	rx-push --profile webhook --url "$FAKE_URL" --max-records 3 <singles.ndjson >acks &&
	test_lines 7 acks &&
	test_lines 3 requests.ndjson
'

test_expect_success 'a batch over max_bytes is split, never sent oversized' '
	: >requests.ndjson &&
	printf "{\"max_records\":100,\"max_bytes\":400,\"response\":\"null\"}\n" >small.json &&
	printf "{\"op\":\"upsert\",\"records\":[" >big.ndjson &&
	for i in 1 2 3 4 5 6 7 8; do printf "{\"key\":\"B$i\",\"hash\":\"h\",\"row\":{\"pad\":\"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}}," ; done >>big.ndjson &&
	printf "{\"key\":\"B9\",\"hash\":\"h\",\"row\":{\"pad\":\"%0500d\"}}]}\n" 0 >>big.ndjson &&
	test_expect_code 3 rx-push --profile ./small.json --url "$FAKE_URL" <big.ndjson >acks 2>err &&
	test_lines 8 acks &&
	test_grep "\"key\":\"B9\".*over the profile.s max_bytes of 400" err &&
	python3 -c "import json,sys; assert all(len(json.loads(l)[\"body\"]) <= 400 for l in open(sys.argv[1]))" requests.ndjson
'

test_expect_success '--dry-run prints requests, sends nothing; --limit stops early' '
	fake_count fake requests >before &&
	rx-push --profile webhook --url "$FAKE_URL/hook" --dry-run --limit 2 <singles.ndjson >dry &&
	fake_count fake requests >after &&
	test_cmp before after &&
	test_lines 1 dry &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:[0-9]*/hook\",\"headers\":{\"Content-Type\":\"application/json\",\"Idempotency-Key\":\"[0-9a-f]*\"},\"body\":{\"op\":\"upsert\",\"records\":\[{\"key\":\"S1\"" dry &&
	test_grep "\"records\":2}$" dry
'

test_expect_success '--stats writes a JSON summary' '
	test_expect_code 3 rx-push --profile webhook --url "$FAKE_URL" --stats stats.json <mixed.ndjson >acks 2>err &&
	python3 -c "
import json
s = json.load(open(\"stats.json\"))
assert (s[\"acked\"], s[\"dead_lettered\"], s[\"unacked\"], s[\"requests\"]) == (3, 1, 0, 3), s
assert s[\"latency_ms\"][\"p50\"] > 0 and s[\"bytes_sent\"] > 0, s
"
'

test_expect_success 'stdout closed early (| head -1): stops, exit 74' '
	for i in $(seq 1 200); do echo "{\"op\":\"upsert\",\"key\":\"P$i\",\"hash\":\"h\",\"row\":{}}"; done >many.ndjson &&
	{ rx-push --profile webhook --url "$FAKE_URL" --max-records 1 --concurrency 2 <many.ndjson 2>err; echo $? >status; } | head -n 1 >first &&
	test_lines 1 first &&
	echo 74 >expect &&
	test_cmp expect status &&
	test_grep "left unacked" err
'

test_expect_success 'a full disk on stdout: exit 74' '
	test_expect_code 74 rx-push --profile webhook --url "$FAKE_URL" <singles.ndjson >/dev/full 2>err &&
	test_grep "cannot write acks" err
'

test_expect_success 'empty input: nothing sent, exit 0' '
	rx-push --profile webhook --url "$FAKE_URL" </dev/null >acks &&
	test_must_be_empty acks
'

test_done
