#!/bin/sh
# Marketo leads (share/rx/destinations/marketo-leads.json) against its fake
# (t/fake/marketo.py): OAuth2 client credentials from /identity/oauth/token,
# createOrUpdate by lookupField with results in the input's order inside a
# 200, request-level errors (601/602 token, 606 rate, 607 quota, 615
# concurrency) inside a 200 too, delete by lead id; the example sync.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

MARKETO_CLIENT_ID=rx-client MARKETO_CLIENT_SECRET=rx-secret MARKETO_MUNCHKIN_ID=123-ABC-456
export MARKETO_CLIENT_ID MARKETO_CLIENT_SECRET MARKETO_MUNCHKIN_ID

cat >mixed.ndjson <<'IN'
{"op":"upsert","records":[{"key":"ada@example.com","hash":"h1","row":{"email":"ada@example.com","firstName":"Ada"}},{"key":"bob@example","hash":"h2","row":{"email":"bob-at-example"}},{"key":"cy@example.com","hash":"h3","row":{"email":"cy@example.com","_reject":true}},{"key":"di@example.com","hash":"h4","row":{"email":"di@example.com","score":12345678901234567890}}]}
IN

vendor_start mk marketo -- --key rx-client:rx-secret --log mk.log

test_expect_success 'the base URL is the Munchkin id'"'"'s; the dry run fetches no token' '
	rx-push --profile marketo-leads --dry-run <mixed.ndjson >dry &&
	test_grep "\"url\":\"https://123-ABC-456.mktorest.com/rest/v1/leads.json\"" dry &&
	test_grep "\"action\":\"createOrUpdate\",\"lookupField\":\"email\"" dry
'

test_expect_success 'success: a token from the identity endpoint, createOrUpdate by email; the ack carries the lead id' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"z@example.com\",\"hash\":\"h\",\"row\":{\"email\":\"z@example.com\",\"firstName\":\"Zoë\"}}]}" >ok.ndjson &&
	rx-push --profile marketo-leads --url "$(fake_url mk)" <ok.ndjson >acks &&
	test_grep "\"id\":1001" acks &&
	test_grep "\"authorization\": \"Bearer tok-1:sj\"" mk.log &&
	test "$(fake_count mk tokens_issued)" = 1 &&
	fake_records mk >stored &&
	printf "z@example.com\t{\"firstName\":\"Zo\\\\u00eb\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'partial failure: skipped leads (by position) are dead-lettered with their reasons' '
	test_expect_code 3 rx-push --profile marketo-leads --url "$(fake_url mk)" <mixed.ndjson >acks 2>err &&
	keys_of acks >acked && printf "ada@example.com\ndi@example.com\n" >expect && test_cmp expect acked &&
	keys_of err >dead && printf "bob@example\ncy@example.com\n" >expect && test_cmp expect dead &&
	test_grep "Marketo skipped: 1003 Invalid email address" err &&
	test_grep "Marketo skipped: 1006 Field" err
'

test_expect_success 'an insert is createOnly: an existing lead is refused (1005), not changed' '
	sed "s/\"op\":\"upsert\"/\"op\":\"insert\"/" ok.ndjson >ins.ndjson &&
	test_expect_code 3 rx-push --profile marketo-leads --url "$(fake_url mk)" <ins.ndjson >acks 2>err &&
	test_grep "1005 Lead already exists" err
'

test_expect_success 'an expired token (602 inside a 200) is refreshed and the request sent again' '
	vendor_start exp marketo -- --key rx-client:rx-secret --token-uses 2 &&
	dest_changes 5 E upsert "{\"email\":\"e%d@example.com\"}" >five.ndjson &&
	rx-push --profile marketo-leads --url "$(fake_url exp)" --max-records 1 --concurrency 1 <five.ndjson >acks &&
	test_lines 5 acks &&
	test "$(fake_count exp tokens_issued)" -ge 3
'

test_expect_success 'auth failure: credentials the identity endpoint refuses stop rx-push at start (exit 1)' '
	test_expect_code 1 env MARKETO_CLIENT_SECRET=wrong rx-push --profile marketo-leads --url "$(fake_url mk)" <mixed.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "oauth2 token request: HTTP 401" err &&
	! grep -q wrong err
'

test_expect_success 'throttling: 606 inside a 200 is backed off and retried; nothing is lost' '
	vendor_start slow marketo -- --key rx-client:rx-secret --rate 2/2 &&
	dest_changes 4 T upsert "{\"email\":\"t%d@example.com\"}" >four.ndjson &&
	rx-push --profile marketo-leads --url "$(fake_url slow)" --max-records 1 --rate 10/1s <four.ndjson >acks &&
	test_lines 4 acks &&
	test "$(fake_count slow throttled)" -ge 1
'

test_expect_success 'ten calls at once at most: no 615 from a fake that allows 10, whatever --concurrency says' '
	vendor_start busy marketo -- --key rx-client:rx-secret --max-inflight 10 --slow-ms 100 &&
	dest_changes 30 B upsert "{\"email\":\"b%d@example.com\"}" >thirty.ndjson &&
	rx-push --profile marketo-leads --url "$(fake_url busy)" --max-records 1 --concurrency 30 --rate 1000/1s <thirty.ndjson >acks &&
	test_lines 30 acks &&
	test "$(fake_count busy busy)" = 0
'

test_expect_success 'the daily quota (607 inside a 200) stops the run with exit 75, the rest unacked' '
	vendor_start quota marketo -- --key rx-client:rx-secret --quota 2 &&
	test_expect_code 75 rx-push --profile marketo-leads --url "$(fake_url quota)" --max-records 1 --concurrency 1 <five.ndjson >acks 2>err &&
	test_lines 2 acks &&
	test_grep "Daily quota reached (it resets at midnight US Central time)" err
'

test_expect_success 'delete: by the lead id in the row; a lead already gone is acked; a row without an id is not' '
	vendor_start del marketo -- --key rx-client:rx-secret &&
	dest_changes 3 D upsert "{\"email\":\"d%d@example.com\"}" >up.ndjson &&
	rx-batch --profile marketo-leads <up.ndjson | rx-push --profile marketo-leads --url "$(fake_url del)" >acks &&
	id=$(sed -n "s/.*\"key\":\"D1\".*\"id\":\([0-9]*\).*/\1/p" acks) &&
	cat >del.ndjson <<-EOF &&
	{"op":"delete","key":"D1","hash":"h1","row":{"email":"d1@example.com","id":$id}}
	{"op":"delete","key":"X","hash":"h","row":{"email":"x@example.com","id":99999}}
	{"op":"delete","key":"Y","hash":"h","row":{"email":"y@example.com"}}
	EOF
	test_expect_code 3 rx-push --profile marketo-leads --url "$(fake_url del)" <del.ndjson >acks 2>err &&
	keys_of acks >acked && printf "D1\nX\n" >expect && test_cmp expect acked &&
	test_grep "needs the lead.s id" err &&
	fake_records del | cut -f1 >left && printf "d2@example.com\nd3@example.com\n" >expect && test_cmp expect left
'

test_expect_success 'a batch at the limit: 300 leads a request' '
	vendor_start lim marketo -- --key rx-client:rx-secret --log lim.log &&
	dest_changes 600 L upsert "{\"email\":\"l%d@example.com\",\"firstName\":\"Zoë 李\",\"note\":null,\"x\":\"\"}" >lim.ndjson &&
	rx-batch --profile marketo-leads <lim.ndjson | rx-push --profile marketo-leads --url "$(fake_url lim)" >acks &&
	test_lines 600 acks &&
	test "$(grep -c /rest/v1/leads.json lim.log)" = 2
'

test_expect_success '--test-connection: the profile test request, with good and with wrong credentials' '
	rx-push --profile marketo-leads --url "$(fake_url mk)" --test-connection >out &&
	test_grep "^ok: GET marketo-leads answered HTTP 200" out &&
	test_expect_code 1 env MARKETO_CLIENT_SECRET=wrong-secret-key rx-push --profile marketo-leads --url "$(fake_url mk)" --test-connection >out 2>err &&
	test_grep "HTTP 401, no token in the reply: invalid_client (Bad client credentials)" err &&
	! grep -q wrong-secret-key out err
'

test_expect_success '--test-connection: a role that may not read leads (603 inside a 200) is a refusal, exit 1' '
	vendor_start deny marketo -- --key rx-client:rx-secret --deny-read &&
	test_expect_code 1 rx-push --profile marketo-leads --url "$(fake_url deny)" --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "HTTP 200, but not the reply of a success" err && test_grep "Access denied" err
'

dest_ex || exit 1
vendor_start sync marketo -- --key rx-client:rx-secret
QUERY="select * from customer_model where email is not null order by id"

# upsert mode: every model row, and the rows that left the model stay
marketo_expect () {
	dest_model marketo.jq "$QUERY" | jq -r "[.email, (del(.email) | tojson)] | join(\"\t\")" >model.lines &&
	cat seen.lines model.lines 2>/dev/null | awk -F "\t" "{ last[\$1] = \$0 } END { for (k in last) print last[k] }" >seen.new &&
	mv seen.new seen.lines &&
	fake_expect <seen.lines
}

DEST_ARGS="--url $(fake_url sync)" DEST_KILL_ARGS="--concurrency 1"
dest_sync_tests marketo marketo-leads sync marketo_expect 2970

test_done
