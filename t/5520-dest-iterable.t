#!/bin/sh
# Iterable users (share/rx/destinations/iterable-users.json) against its fake
# (t/fake/iterable.py): bulkUpdate by e-mail with failures named by value in
# a 200, DELETE /api/users/{email}, 5 requests a second, the Api-Key header;
# the example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

ITERABLE_API_KEY=test-key
export ITERABLE_API_KEY

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"ada@example.com","hash":"h1","row":{"email":"ada@example.com","plan":"pro"}},{"key":"bob@example","hash":"h2","row":{"email":"bob-at-example","plan":"free"}},{"key":"cy@example.com","hash":"h3","row":{"email":"Cy@Example.com","plan":"pro","_reject":true}},{"key":"di@example.com","hash":"h4","row":{"email":"di@example.com","n":12345678901234567890}}]}
IN

vendor_start it iterable -- --key test-key --log it.log

test_expect_success 'success: users by e-mail, the rest of the row as dataFields, the Api-Key header' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"z@example.com\",\"hash\":\"h\",\"row\":{\"email\":\"z@example.com\",\"userId\":7,\"plan\":\"pro\"}}]}" >ok.ndjson &&
	rx-push --profile iterable-users --url "$(fake_url it)" <ok.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"api-key\": \"test-key\"" it.log &&
	test_grep "\"path\": \"/api/users/bulkUpdate\"" it.log &&
	test_grep "userId.\":.\"7.\"" it.log &&
	fake_records it >stored &&
	printf "z@example.com\t{\"plan\":\"pro\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'partial failure: users Iterable names (in any case) are dead-lettered, the others acked' '
	test_expect_code 3 rx-push --profile iterable-users --url "$(fake_url it)" <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && printf "ada@example.com\ndi@example.com\n" >expect && test_cmp expect acked &&
	keys_of err >dead && printf "bob@example\ncy@example.com\n" >expect && test_cmp expect dead &&
	test_grep "listed bob-at-example in .*invalidEmails" err &&
	test_grep "listed cy@example.com in failedUpdates.invalidDataEmails" err &&
	test_grep "\"status\":200" err
'

test_expect_success 'a 200 without successCount is not taken for success' '
	reply_start odd -- --status 200 --body "{\"msg\":\"ok\"}" &&
	test_expect_code 3 rx-push --profile iterable-users --url "$(fake_url odd)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "no successCount" err
'

test_expect_success 'auth failure: a wrong key stops the run with exit 1' '
	test_expect_code 1 env ITERABLE_API_KEY=wrong rx-push --profile iterable-users --url "$(fake_url it)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Iterable refused the API key (BadApiKey)" err
'

test_expect_success 'throttling: RateLimitExceeded is backed off and retried; nothing is lost' '
	vendor_start slow iterable -- --key test-key --rate 1/1 &&
	dest_changes 3 T >three.ndjson &&
	rx-push --profile iterable-users --url "$(fake_url slow)" --max-records 1 --rate 10/1s <three.ndjson >acks &&
	test_lines 3 acks &&
	test "$(fake_count slow throttled)" -ge 1 &&
	fake_records slow | cut -f1 >stored && test_lines 3 stored
'

test_expect_success 'the profile paces at 5 requests a second: no 429 from a fake that enforces it' '
	# the fake counts arrivals, rx-push departures: a loaded machine delays
	# one arrival and brings the first of the next window forward, so the fake
	# enforces 5 in 0.8 s (12 requests unpaced would draw 429s at once)
	vendor_start paced iterable -- --key test-key --rate 5/0.8 &&
	dest_changes 12 P >twelve.ndjson &&
	rx-push --profile iterable-users --url "$(fake_url paced)" --max-records 1 <twelve.ndjson >acks &&
	test_lines 12 acks &&
	test "$(fake_count paced throttled)" = 0
'

test_expect_success 'delete: DELETE /api/users/{email}, one a request; a user already gone is acked' '
	vendor_start del iterable -- --key test-key --log del.log &&
	dest_changes 3 D >up.ndjson &&
	rx-batch --profile iterable-users <up.ndjson | rx-push --profile iterable-users --url "$(fake_url del)" >acks &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" up.ndjson | head -n 2 >del.ndjson &&
	echo "{\"op\":\"delete\",\"key\":\"X\",\"hash\":\"h\",\"row\":{\"email\":\"never@example.com\"}}" >>del.ndjson &&
	rx-batch --profile iterable-users <del.ndjson | rx-push --profile iterable-users --url "$(fake_url del)" >acks &&
	test_lines 3 acks &&
	test "$(grep -c "\"method\": \"DELETE\", \"path\": \"/api/users/d1%40example.com\"" del.log)" = 1 &&
	fake_records del | cut -f1 >left && echo d3@example.com >expect && test_cmp expect left
'

test_expect_success 'a batch at the limit: 1000 users a request' '
	vendor_start lim iterable -- --key test-key --log lim.log &&
	dest_changes 1500 L upsert "{\"email\":\"l%d@example.com\",\"name\":\"Zoë 李\",\"n\":null,\"s\":\"\"}" >lim.ndjson &&
	rx-batch --profile iterable-users <lim.ndjson | rx-push --profile iterable-users --url "$(fake_url lim)" >acks &&
	test_lines 1500 acks &&
	test_lines 2 lim.log
'

test_expect_success '--test-connection: the profile test request, with good and with wrong credentials' '
	rx-push --profile iterable-users --url "$(fake_url it)" --test-connection >out &&
	test_grep "^ok: GET iterable-users answered HTTP 200" out &&
	test_expect_code 1 env ITERABLE_API_KEY=wrong-secret-key rx-push --profile iterable-users --url "$(fake_url it)" --test-connection >out 2>err &&
	! grep -q wrong-secret-key out err
'

dest_ex || exit 1
vendor_start sync iterable -- --key test-key
export ITERABLE_ENDPOINT=$(fake_url sync)
QUERY="select * from customer_model where email is not null order by id"

iterable_expect () {
	dest_model iterable.jq "$QUERY" | jq -r "[.email, (del(.email) | tojson)] | join(\"\t\")" | fake_expect
}

dest_sync_tests iterable iterable-users sync iterable_expect 2970

test_done
