#!/bin/sh
# Mailchimp audience members (share/rx/destinations/mailchimp-members.json)
# against its fake (t/fake/mailchimp.py): batch subscribe by address with
# errors named by address in a 200, archive by address, Basic auth with the
# key as password, 10 connections at most; the example sync.  The requests
# against Mailchimp's own OpenAPI document: t/5531-dest-mailchimp-spec.t.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

MAILCHIMP_API_KEY=test-key MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=list1
export MAILCHIMP_API_KEY MAILCHIMP_DC MAILCHIMP_LIST_ID

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"ada@example.com","hash":"h1","row":{"email_address":"Ada@Example.com","status":"subscribed","merge_fields":{"FNAME":"Ada"}}},{"key":"bob@example","hash":"h2","row":{"email_address":"bob-at-example","status":"subscribed"}},{"key":"cy@example.com","hash":"h3","row":{"email_address":"cy@example.com","merge_fields":{"FNAME":"Cy"}}},{"key":"di@example.com","hash":"h4","row":{"email_address":"di@example.com","status":"subscribed","merge_fields":{"_reject":true}}}]}
IN

vendor_start mc mailchimp -- --key test-key --log mc.log

test_expect_success 'the profile needs its data centre and list: the message names them' '
	test_expect_code 1 env -u MAILCHIMP_LIST_ID rx-push --profile mailchimp-members --dry-run <mixed.ndjson 2>err &&
	test_grep "MAILCHIMP_LIST_ID is not set (profile mailchimp-members takes vars.list_id from it)" err &&
	rx-push --profile mailchimp-members --dry-run <mixed.ndjson >dry &&
	test_grep "\"url\":\"https://us6.api.mailchimp.com/3.0/lists/list1\"" dry
'

test_expect_success 'success: the row is the member, sent as it is; the key as the Basic password; the ack carries the subscriber hash' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"z@example.com\",\"hash\":\"h\",\"row\":{\"email_address\":\"z@example.com\",\"status\":\"subscribed\",\"merge_fields\":{\"FNAME\":\"Zoë\",\"LNAME\":\"\"}}}]}" >ok.ndjson &&
	rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" <ok.ndjson >acks &&
	hash=$(printf z@example.com | md5sum | cut -d" " -f1) &&
	test_grep "\"id\":\"$hash\"" acks &&
	test_grep "\"path\": \"/3.0/lists/list1\"" mc.log &&
	test_grep "\"authorization\": \"Basic $(printf rx:test-key | base64)\"" mc.log &&
	fake_records mc >stored &&
	printf "z@example.com\t{\"merge_fields\":{\"FNAME\":\"Zo\\\\u00eb\",\"LNAME\":\"\"},\"status\":\"subscribed\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'partial failure: members Mailchimp refuses are dead-lettered with its error, matched without case' '
	test_expect_code 3 rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && echo ada@example.com >expect && test_cmp expect acked &&
	keys_of err >dead && printf "bob@example\ncy@example.com\ndi@example.com\n" >expect && test_cmp expect dead &&
	test_grep "looks fake or invalid.*ERROR_GENERIC" err &&
	test_grep "provide a status for new members" err
'

test_expect_success 'an insert does not change an existing member (update_existing false: ERROR_CONTACT_EXISTS)' '
	sed "s/\"op\":\"upsert\"/\"op\":\"insert\"/" ok.ndjson >ins.ndjson &&
	test_expect_code 3 rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" <ins.ndjson >acks 2>err &&
	test_grep "ERROR_CONTACT_EXISTS" err
'

test_expect_success 'a member the reply does not name is not acked' '
	reply_start odd -- --status 200 --body "{\"new_members\":[],\"updated_members\":[],\"errors\":[]}" &&
	test_expect_code 3 rx-push --profile mailchimp-members --url "$(fake_url odd)" <ok.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "names this member neither as added, updated nor refused" err
'

test_expect_success 'auth failure: a wrong key stops the run with exit 1, Mailchimp'"'"'s words in the message' '
	test_expect_code 1 env MAILCHIMP_API_KEY=wrong-key rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Mailchimp refused the API key (API Key Invalid)" err
'

test_expect_success 'at most 10 connections at once, whatever --concurrency says: no 429 from a fake that allows 10' '
	vendor_start busy mailchimp -- --key test-key --max-inflight 10 --slow-ms 100 &&
	dest_changes 40 B upsert "{\"email_address\":\"b%d@example.com\",\"status\":\"subscribed\"}" >forty.ndjson &&
	rx-push --profile mailchimp-members --url "$(fake_url busy)" --max-records 1 --concurrency 40 <forty.ndjson >acks &&
	test_lines 40 acks &&
	test "$(fake_count busy busy)" = 0 &&
	test "$(fake_count busy max_inflight)" -le 10
'

test_expect_success 'throttling: a 429 (too many connections) is retried; nothing is lost' '
	vendor_start tight mailchimp -- --key test-key --max-inflight 2 --slow-ms 100 &&
	rx-push --profile mailchimp-members --url "$(fake_url tight)" --max-records 1 <forty.ndjson >acks &&
	test_lines 40 acks &&
	test "$(fake_count tight busy)" -ge 1
'

test_expect_success 'delete: archive by address, one a request; an address not in the audience is acked' '
	vendor_start del mailchimp -- --key test-key --log del.log &&
	dest_changes 3 D upsert "{\"email_address\":\"d%d@example.com\",\"status\":\"subscribed\"}" >up.ndjson &&
	rx-batch --profile mailchimp-members <up.ndjson | rx-push --profile mailchimp-members --url "$(fake_url del)" >acks &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" up.ndjson | head -n 2 >del.ndjson &&
	echo "{\"op\":\"delete\",\"key\":\"X\",\"hash\":\"h\",\"row\":{\"email_address\":\"never@example.com\"}}" >>del.ndjson &&
	rx-batch --profile mailchimp-members <del.ndjson | rx-push --profile mailchimp-members --url "$(fake_url del)" >acks &&
	test_lines 3 acks &&
	test_grep "\"method\": \"DELETE\", \"path\": \"/lists/list1/members/d1%40example.com\"" del.log &&
	fake_records del | cut -f1 >left && echo d3@example.com >expect && test_cmp expect left
'

test_expect_success 'a batch at the limit: 500 members a request' '
	vendor_start lim mailchimp -- --key test-key --log lim.log &&
	dest_changes 1000 L upsert "{\"email_address\":\"l%d@example.com\",\"status\":\"subscribed\",\"merge_fields\":{\"FNAME\":\"Zoë 李\",\"N\":12345678901234567890}}" >lim.ndjson &&
	rx-batch --profile mailchimp-members <lim.ndjson | rx-push --profile mailchimp-members --url "$(fake_url lim)" >acks &&
	test_lines 1000 acks &&
	test_lines 2 lim.log
'

test_expect_success '--test-connection: the profile test request, with good and with wrong credentials' '
	rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" --test-connection >out &&
	test_grep "^ok: GET mailchimp-members answered HTTP 200" out &&
	test_expect_code 1 env MAILCHIMP_API_KEY=wrong-secret-key rx-push --profile mailchimp-members --url "$(fake_url mc)/3.0" --test-connection >out 2>err &&
	! grep -q wrong-secret-key out err
'

dest_ex || exit 1
vendor_start sync mailchimp -- --key test-key
SYNC_URL=$(fake_url sync)/3.0
QUERY="select * from customer_model where email is not null order by id"

mailchimp_expect () {
	dest_model mailchimp.jq "$QUERY" |
		jq -r "[.email_address, (del(.email_address) | tojson)] | join(\"\t\")" |
		fake_expect
}

DEST_KILL=4 DEST_ARGS="--url $SYNC_URL" DEST_KILL_ARGS="--concurrency 2"
dest_sync_tests mailchimp mailchimp-members sync mailchimp_expect 2970

test_done
