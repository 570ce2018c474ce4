#!/bin/sh
# Amplitude user properties (share/rx/destinations/amplitude-identify.json)
# against its fake (t/fake/amplitude.py): the Identify API, form-encoded,
# the API key in the body, 400s that name refused identifications by
# index (and applied none), 429s that throttle users; the example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

AMPLITUDE_API_KEY=test-key AMPLITUDE_THROTTLE_WAIT=1
export AMPLITUDE_API_KEY AMPLITUDE_THROTTLE_WAIT

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C00001","hash":"h1","row":{"plan":"pro","gone":null}},{"key":"C2","hash":"h2","row":{"plan":"free"}},{"key":"C00003","hash":"h3","row":{"plan":"pro","_reject":true}},{"key":"C00004","hash":"h4","row":{"plan":"pro","n":"12345678901234567890"}}]}
IN

vendor_start amp amplitude -- --key test-key --log amp.log

test_expect_success 'success: form-encoded api_key and identification; $set, and $unset for nulls' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"C00009\",\"hash\":\"h\",\"row\":{\"plan\":\"pro\",\"name\":\"Zoë\",\"old\":null}}]}" >ok.ndjson &&
	rx-push --profile amplitude-identify --url "$(fake_url amp)" <ok.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"content-type\": \"application/x-www-form-urlencoded\"" amp.log &&
	test_grep "api_key=test-key&identification=%5B" amp.log &&
	fake_records amp >stored &&
	printf "C00009\t{\"name\":\"Zo\\\\u00eb\",\"plan\":\"pro\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'the API key never shows in a dry run' '
	rx-push --profile amplitude-identify --dry-run <ok.ndjson >dry &&
	test_grep "\"body\":\"api_key=\*\*\*&identification=" dry &&
	! grep -q test-key dry
'

test_expect_success 'partial failure: the identifications a 400 names are dead-lettered, the others sent again and acked' '
	test_expect_code 3 rx-push --profile amplitude-identify --url "$(fake_url amp)" --rate 10/1s <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && printf "C00001\nC00004\n" >expect && test_cmp expect acked &&
	keys_of err >dead && printf "C00003\nC2\n" >expect && test_cmp expect dead &&
	test_grep "Amplitude refused it (Invalid id length for user_id or device_id: user_id)" err &&
	fake_records amp | cut -f1 >stored && printf "C00001\nC00004\nC00009\n" >expect && test_cmp expect stored
'

test_expect_success 'auth failure: a wrong key (400 "Invalid API key") stops the run with exit 1' '
	test_expect_code 1 env AMPLITUDE_API_KEY=wrong-key rx-push --profile amplitude-identify --url "$(fake_url amp)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Amplitude refused the API key (Invalid API key)" err
'

test_expect_success 'throttling: a 429 pauses every request (AMPLITUDE_THROTTLE_WAIT, 15 s by default) and nothing is lost' '
	vendor_start slow amplitude -- --key test-key --rate 1/1 &&
	dest_changes 3 T0000 >three.ndjson &&
	rx-push --profile amplitude-identify --url "$(fake_url slow)" --max-records 1 --rate 10/1s <three.ndjson >acks &&
	test_lines 3 acks &&
	test "$(fake_count slow throttled)" -ge 1
'

test_expect_success 'delete: not an op of the Identify API; a delete is dead-lettered, never sent' '
	echo "{\"op\":\"delete\",\"key\":\"C00001\",\"hash\":\"h\",\"row\":{}}" >del.ndjson &&
	before=$(fake_count amp requests) &&
	test_expect_code 3 rx-push --profile amplitude-identify --url "$(fake_url amp)" <del.ndjson >acks 2>err &&
	test_grep "profile amplitude-identify has no op ..delete" err &&
	test "$(fake_count amp requests)" = "$before"
'

test_expect_success 'a batch at the limit: 1000 identifications a request, under 1 MB' '
	vendor_start lim amplitude -- --key test-key --log lim.log &&
	dest_changes 2000 L0000 upsert "{\"name\":\"Zoë 李 %d\",\"n\":null,\"s\":\"\"}" >lim.ndjson &&
	rx-batch --profile amplitude-identify <lim.ndjson | rx-push --profile amplitude-identify --url "$(fake_url lim)" >acks &&
	test_lines 2000 acks &&
	test_lines 2 lim.log
'

dest_ex || exit 1
vendor_start sync amplitude -- --key test-key
export AMPLITUDE_ENDPOINT=$(fake_url sync)

# upsert mode: every model row, and the rows that left the model stay
amplitude_expect () {
	dest_model amplitude.jq | jq -r "[.user_id, (del(.user_id) | with_entries(select(.value != null)) | tojson)] | join(\"\t\")" >model.lines &&
	cat seen.lines model.lines 2>/dev/null | awk -F "\t" "{ last[\$1] = \$0 } END { for (k in last) print last[k] }" >seen.new &&
	mv seen.new seen.lines &&
	fake_expect <seen.lines
}
DEST_KILL_ARGS="--concurrency 1"
dest_sync_tests amplitude amplitude-identify sync amplitude_expect 3000

test_done
