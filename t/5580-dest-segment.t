#!/bin/sh
# Segment identify (share/rx/destinations/segment-identify.json) against its
# fake (t/fake/segment.py): /v1/batch with the write key as the Basic user,
# 200 for everything but an oversized request (400), calls dropped
# silently after the 200, messageId deduplication, Retry-After; the
# example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

SEGMENT_WRITE_KEY=test-key
export SEGMENT_WRITE_KEY

vendor_start seg segment -- --key test-key --log seg.log

test_expect_success 'success: identify calls, the key as userId, the idem as messageId, the write key as the Basic user' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":7,\"hash\":\"h\",\"row\":{\"email\":\"z@example.com\",\"address\":{\"country\":\"DE\"}}}]}" >ok.ndjson &&
	rx-push --profile segment-identify --url "$(fake_url seg)" <ok.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"authorization\": \"Basic $(printf test-key: | base64)\"" seg.log &&
	idem=$(printf "7\n\"h\"" | sha256sum | cut -c1-32) &&
	test_grep "messageId.\":.\"$idem" seg.log &&
	fake_records seg >stored &&
	printf "7\t{\"address\":{\"country\":\"DE\"},\"email\":\"z@example.com\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'the same change sent twice is one call for Segment (messageId)' '
	rx-push --profile segment-identify --url "$(fake_url seg)" <ok.ndjson >acks &&
	fake_records seg >stored2 && test_cmp stored stored2
'

test_expect_success 'partial failure does not exist at Segment: a request with a call over 32 KB fails whole (400)' '
	big=$(printf "%040000d" 0) &&
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"a\",\"hash\":\"h\",\"row\":{\"n\":1}},{\"key\":\"b\",\"hash\":\"h\",\"row\":{\"pad\":\"$big\"}}]}" >big.ndjson &&
	test_expect_code 3 rx-push --profile segment-identify --url "$(fake_url seg)" <big.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	keys_of err >dead && printf "a\nb\n" >expect && test_cmp expect dead &&
	test_grep "\"status\":400" err
'

test_expect_success 'a wrong write key: Segment answers 200 and drops the calls; the ack means accepted, nothing more' '
	before=$(fake_count seg dropped) &&
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"w\",\"hash\":\"h\",\"row\":{\"n\":1}}]}" >w.ndjson &&
	SEGMENT_WRITE_KEY=wrong-key rx-push --profile segment-identify --url "$(fake_url seg)" <w.ndjson >acks &&
	test_lines 1 acks &&
	test "$(fake_count seg dropped)" = $((before + 1)) &&
	! fake_records seg | grep -q "^w	"
'

test_expect_success 'throttling: a 429 with Retry-After is waited out; nothing is lost' '
	vendor_start slow segment -- --key test-key --rate 1/1 &&
	dest_changes 3 T >three.ndjson &&
	rx-push --profile segment-identify --url "$(fake_url slow)" --max-records 1 --rate 10/1s <three.ndjson >acks &&
	test_lines 3 acks &&
	test "$(fake_count slow throttled)" -ge 1 &&
	test "$(fake_count slow violations)" = 0
'

test_expect_success 'delete: not an op of the Tracking API; a delete is dead-lettered, never sent' '
	echo "{\"op\":\"delete\",\"key\":\"7\",\"hash\":\"h\",\"row\":{}}" >del.ndjson &&
	before=$(fake_count seg requests) &&
	test_expect_code 3 rx-push --profile segment-identify --url "$(fake_url seg)" <del.ndjson >acks 2>err &&
	test_grep "profile segment-identify has no op ..delete" err &&
	test "$(fake_count seg requests)" = "$before"
'

test_expect_success 'a batch at the limit: 2500 calls a request, under 500 KB' '
	vendor_start lim segment -- --key test-key --log lim.log &&
	dest_changes 5000 L upsert "{\"name\":\"Zoë 李\",\"n\":null}" >lim.ndjson &&
	rx-batch --profile segment-identify <lim.ndjson | rx-push --profile segment-identify --url "$(fake_url lim)" >acks &&
	test_lines 5000 acks &&
	test_lines 2 lim.log &&
	test "$(fake_count lim dropped)" = 0
'

dest_ex || exit 1
vendor_start sync segment -- --key test-key
export SEGMENT_ENDPOINT=$(fake_url sync)

# upsert mode: every model row, and the rows that left the model stay
segment_expect () {
	dest_model segment.jq | jq -r "[.id, tojson] | join(\"\t\")" >model.lines &&
	cat seen.lines model.lines 2>/dev/null | awk -F "\t" "{ last[\$1] = \$0 } END { for (k in last) print last[k] }" >seen.new &&
	mv seen.new seen.lines &&
	fake_expect <seen.lines
}
DEST_KILL_ARGS="--max-records 500 --concurrency 1" DEST_KILL=3
dest_sync_tests segment segment-identify sync segment_expect 3000

test_done
