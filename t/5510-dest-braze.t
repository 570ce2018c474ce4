#!/bin/sh
# Braze (share/rx/destinations/braze.json) against its fake (t/fake/braze.py):
# /users/track by external_id with errors by attributes index inside a 2xx,
# /users/delete, X-RateLimit-* headers, bearer auth; the example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

BRAZE_API_KEY=test-key
export BRAZE_API_KEY

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"u1","hash":"h1","row":{"external_id":"u1","email":"ada@example.com","plan":"pro"}},{"key":"u2","hash":"h2","row":{"external_id":"u2","email":"not-an-email","plan":"free"}},{"key":"u3","hash":"h3","row":{"external_id":"u3","email":"cy@example.com","plan":"pro","ltv":"12345678901234567890"}}]}
IN

vendor_start braze braze -- --key test-key --log braze.log

test_expect_success 'success: the row as the attributes, sent as it is, a bearer token' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"u9\",\"hash\":\"h\",\"row\":{\"external_id\":\"u9\",\"email\":\"z@example.com\",\"n\":1,\"big\":12345678901234567890}}]}" >ok.ndjson &&
	rx-push --profile braze --url "$(fake_url braze)" <ok.ndjson >acks &&
	test_lines 1 acks &&
	tail -n 1 braze.log >req &&
	test_grep "\"path\": \"/users/track\"" req &&
	test_grep "\"authorization\": \"Bearer test-key\"" req &&
	test_grep "big.\":12345678901234567890}" req &&
	fake_records braze >stored &&
	printf "u9\t{\"big\":12345678901234567890,\"email\":\"z@example.com\",\"n\":1}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'an external_id that is not a string is refused by Braze, that record only' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":42,\"hash\":\"h\",\"row\":{\"external_id\":42,\"email\":\"q@example.com\"}},{\"key\":\"u8\",\"hash\":\"h\",\"row\":{\"external_id\":\"u8\"}}]}" >num.ndjson &&
	test_expect_code 3 rx-push --profile braze --url "$(fake_url braze)" <num.ndjson >acks 2>err &&
	keys_of acks >acked && echo u8 >expect && test_cmp expect acked &&
	test_grep "Missing or invalid external_id" err
'

test_expect_success 'update: only users Braze has (_update_existing_only), the row copied, not sent raw' '
	sed "s/\"op\":\"upsert\"/\"op\":\"update\"/" ok.ndjson >upd.ndjson &&
	rx-push --profile braze --url "$(fake_url braze)" <upd.ndjson >acks &&
	tail -n 1 braze.log >req &&
	test_grep "_update_existing_only.\":true" req
'

test_expect_success 'partial failure: the refused attributes object is dead-lettered, the others acked' '
	test_expect_code 3 rx-push --profile braze --url "$(fake_url braze)" <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && printf "u1\nu3\n" >expect && test_cmp expect acked &&
	keys_of err >dead && echo u2 >expect && test_cmp expect dead &&
	test_grep "not a valid email" err &&
	test_grep "\"status\":201" err &&
	fake_records braze | grep "^u3" >u3 &&
	test_grep "\"ltv\":\"12345678901234567890\"" u3
'

test_expect_success 'a 2xx whose message is not "success" acks nothing' '
	reply_start odd -- --status 201 --body "{\"message\":\"Some failure\"}" &&
	test_expect_code 3 rx-push --profile braze --url "$(fake_url odd)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test "$(grep -c "^{" err)" = 3 &&
	test_grep "Braze processed nothing: Some failure" err
'

test_expect_success 'an error the reply does not pin on a record acks nothing' '
	reply_start vague -- --status 201 --body "{\"message\":\"success\",\"errors\":[{\"type\":\"something\"}]}" &&
	test_expect_code 3 rx-push --profile braze --url "$(fake_url vague)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "does not pin on an attributes object" err
'

test_expect_success 'auth failure: a wrong key stops the run (exit 1), nothing acked nor dead-lettered' '
	test_expect_code 1 env BRAZE_API_KEY=wrong-key rx-push --profile braze --url "$(fake_url braze)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Braze refused the REST API key (Invalid API key): it needs the users.track and users.delete permissions" err &&
	! grep -q wrong-key err
'

test_expect_success 'throttling: a 429 with X-RateLimit-Reset is waited out, no request comes early, nothing is lost' '
	vendor_start slow braze -- --key test-key --rate 2/3 &&
	for i in 1 2; do curl -sS -o /dev/null -H "Authorization: Bearer test-key" -d "{\"attributes\":[]}" "$(fake_url slow)/users/track"; done &&
	dest_changes 4 T upsert "{\"external_id\":\"T%d\",\"email\":\"t%d@example.com\"}" >four.ndjson &&
	rx-push --profile braze --url "$(fake_url slow)" --max-records 1 <four.ndjson >acks &&
	test_lines 4 acks &&
	test "$(fake_count slow throttled)" -ge 1 &&
	test "$(fake_count slow violations)" = 0 &&
	fake_records slow | cut -f1 >stored && test_lines 4 stored
'

test_expect_success 'delete: /users/delete by external_id, 50 a request' '
	vendor_start del braze -- --key test-key --log del.log &&
	dest_changes 60 D upsert "{\"external_id\":\"D%d\",\"email\":\"d%d@example.com\"}" >up.ndjson &&
	rx-batch --profile braze <up.ndjson | rx-push --profile braze --url "$(fake_url del)" >acks &&
	test_lines 60 acks &&
	test "$(grep -c /users/track del.log)" = 1 &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" up.ndjson | head -n 55 | rx-batch --profile braze |
		rx-push --profile braze --url "$(fake_url del)" >acks &&
	test_lines 55 acks &&
	test "$(grep -c /users/delete del.log)" = 2 &&
	fake_records del | cut -f1 | sort >left &&
	printf "D56\nD57\nD58\nD59\nD60\n" >expect && test_cmp expect left
'

test_expect_success 'a batch at the limit: 75 users a request' '
	vendor_start lim braze -- --key test-key --log lim.log &&
	dest_changes 150 L upsert "{\"external_id\":\"L%d\",\"email\":\"l%d@example.com\",\"name\":\"Zoë 李\"}" >lim.ndjson &&
	rx-batch --profile braze <lim.ndjson | rx-push --profile braze --url "$(fake_url lim)" >acks &&
	test_lines 150 acks &&
	test_lines 2 lim.log &&
	fake_records lim | grep "^L1	" >l1 &&
	test_grep "Zo\\\\u00eb \\\\u674e" l1
'

dest_ex || exit 1
vendor_start sync braze -- --key test-key
export BRAZE_REST_ENDPOINT=$(fake_url sync)

braze_expect () {
	dest_model braze.jq |
		jq -r "[.external_id, (del(.external_id) | with_entries(select(.value != null)) | tojson)] | join(\"\t\")" |
		fake_expect
}

DEST_KILL=20
dest_sync_tests braze braze sync braze_expect 3000

test_done
