#!/bin/sh
# Customer.io people (share/rx/destinations/customerio.json) against its
# fake (t/fake/customerio.py): Track API v2 batch identify and delete by
# id, refused entries by batch_index in a 207, Basic site id:key, 100
# requests a second; the example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

CUSTOMERIO_SITE_ID=site-1 CUSTOMERIO_API_KEY=test-key
export CUSTOMERIO_SITE_ID CUSTOMERIO_API_KEY

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"u1","hash":"h1","row":{"id":"u1","email":"ada@example.com","plan":"pro"}},{"key":"u2","hash":"h2","row":{"id":"u2","email":"not-an-email","plan":"free"}},{"key":"u3","hash":"h3","row":{"id":"u3","email":"cy@example.com","n":12345678901234567890,"note":null}}]}
IN

vendor_start cio customerio -- --key site-1:test-key --log cio.log

test_expect_success 'success: people identified by id, the row less its id as attributes, Basic site id:key' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":7,\"hash\":\"h\",\"row\":{\"id\":7,\"email\":\"z@example.com\",\"plan\":\"pro\"}}]}" >ok.ndjson &&
	rx-push --profile customerio --url "$(fake_url cio)" <ok.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"authorization\": \"Basic $(printf site-1:test-key | base64)\"" cio.log &&
	test_grep "identifiers.\":{.\"id.\":.\"7.\"}" cio.log &&
	fake_records cio >stored &&
	printf "7\t{\"email\":\"z@example.com\",\"plan\":\"pro\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'by e-mail ($CUSTOMERIO_IDENTIFIER=email): identifiers {email}' '
	CUSTOMERIO_IDENTIFIER=email rx-push --profile customerio --dry-run <ok.ndjson >dry &&
	test_grep "\"identifiers\":{\"email\":\"z@example.com\"},\"action\":\"identify\",\"attributes\":{\"id\":7,\"plan\":\"pro\"}" dry
'

test_expect_success 'partial failure: the entries a 207 names by batch_index are dead-lettered, the others acked' '
	test_expect_code 3 rx-push --profile customerio --url "$(fake_url cio)" <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && printf "u1\nu3\n" >expect && test_cmp expect acked &&
	keys_of err >dead && echo u2 >expect && test_cmp expect dead &&
	test_grep "invalid: attributes: .not-an-email. is not a valid email" err &&
	test_grep "\"status\":207" err
'

test_expect_success 'an error without a batch_index acks nothing' '
	reply_start odd -- --status 207 --body "{\"errors\":[{\"reason\":\"something\"}]}" &&
	test_expect_code 3 rx-push --profile customerio --url "$(fake_url odd)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "does not pin on a batch entry" err
'

test_expect_success 'auth failure: a wrong key stops the run with exit 1' '
	test_expect_code 1 env CUSTOMERIO_API_KEY=wrong rx-push --profile customerio --url "$(fake_url cio)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Customer.io refused the site id and Track API key (Unauthorized request)" err
'

test_expect_success 'throttling: a 429 is backed off and retried; nothing is lost' '
	vendor_start slow customerio -- --key site-1:test-key --rate 1/1 &&
	dest_changes 3 T >three.ndjson &&
	rx-push --profile customerio --url "$(fake_url slow)" --max-records 1 --rate 10/1s <three.ndjson >acks &&
	test_lines 3 acks &&
	test "$(fake_count slow throttled)" -ge 1
'

test_expect_success 'delete: entries with action delete in the same batch endpoint' '
	vendor_start del customerio -- --key site-1:test-key --log del.log &&
	dest_changes 3 D >up.ndjson &&
	rx-batch --profile customerio <up.ndjson | rx-push --profile customerio --url "$(fake_url del)" >acks &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" up.ndjson | head -n 2 | rx-batch --profile customerio |
		rx-push --profile customerio --url "$(fake_url del)" >acks &&
	test_lines 2 acks &&
	test_grep "action.\":.\"delete" del.log &&
	fake_records del | cut -f1 >left && echo D3 >expect && test_cmp expect left
'

test_expect_success 'a batch at the limit: split under 500 KB' '
	vendor_start lim customerio -- --key site-1:test-key --log lim.log &&
	pad=$(printf "%0400d" 0) &&
	dest_changes 1000 L upsert "{\"email\":\"l%d@example.com\",\"name\":\"Zoë 李\",\"pad\":\"$pad\"}" >lim.ndjson &&
	rx-batch --profile customerio <lim.ndjson | rx-push --profile customerio --url "$(fake_url lim)" >acks &&
	test_lines 1000 acks &&
	test "$(wc -l <lim.log)" -ge 2
'

test_expect_success '--test-connection: the profile test request, with good and with wrong credentials' '
	rx-push --profile customerio --url "$(fake_url cio)" --test-connection >out &&
	test_grep "^ok: GET customerio answered HTTP 200" out &&
	test_expect_code 1 env CUSTOMERIO_API_KEY=wrong-secret-key rx-push --profile customerio --url "$(fake_url cio)" --test-connection >out 2>err &&
	! grep -q wrong-secret-key out err
'

dest_ex || exit 1
vendor_start sync customerio -- --key site-1:test-key
export CUSTOMERIO_ENDPOINT=$(fake_url sync)

customerio_expect () {
	dest_model customerio.jq |
		jq -r "[.id, (del(.id) | with_entries(select(.value != null and .value != \"\")) | tojson)] | join(\"\t\")" |
		fake_expect
}

DEST_KILL_ARGS="--concurrency 1"
dest_sync_tests customerio customerio sync customerio_expect 3000

test_done
