#!/bin/sh
# Mixpanel profiles (mixpanel-engage.json: /engage $set and $delete) and
# events (mixpanel-import.json: /import?strict=1) against its fake
# (t/fake/mixpanel.py): a 200 that fails the whole engage request, a 400
# that fails some events and imported the others, the token in the body,
# a service account for /import; the example syncs.  The requests against
# Mixpanel's own OpenAPI document: t/5561-dest-mixpanel-spec.t.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-dest.sh"

MIXPANEL_PROJECT_TOKEN=test-key MIXPANEL_PROJECT_ID=1234567
MIXPANEL_SERVICE_ACCOUNT=sa-user MIXPANEL_SERVICE_ACCOUNT_SECRET=sa-secret
export MIXPANEL_PROJECT_TOKEN MIXPANEL_PROJECT_ID MIXPANEL_SERVICE_ACCOUNT MIXPANEL_SERVICE_ACCOUNT_SECRET

cat >profiles.ndjson <<'IN'
{"op":"upsert","records":[{"key":"u1","hash":"h1","row":{"$email":"ada@example.com","plan":"pro"}},{"key":"u2","hash":"h2","row":{"$email":"bob@example.com","n":"12345678901234567890"}}]}
IN
cat >badprofile.ndjson <<'IN'
{"op":"upsert","records":[{"key":"u3","hash":"h3","row":{"plan":"pro"}},{"key":"u4","hash":"h4","row":{"plan":"free","_reject":true}}]}
IN
cat >events.ndjson <<'IN'
{"op":"insert","records":[{"key":"1","hash":"h1","row":{"event":"Order Placed","time":1700000000,"distinct_id":"C1","amount":5.5}},{"key":"2","hash":"h2","row":{"event":"Order Placed","time":"yesterday","distinct_id":"C2"}},{"key":"3","hash":"h3","row":{"event":"Order Placed","time":1700000001000,"distinct_id":"C3","note":"Zoë"}},{"key":"4","hash":"h4","row":{"event":"","time":1700000000,"distinct_id":"C4"}}]}
IN

vendor_start mp mixpanel -- --key test-key --log mp.log

test_expect_success 'engage: $set on the profile named by the key, the token in the body, verbose=1 and ip=0' '
	rx-push --profile mixpanel-engage --url "$(fake_url mp)" <profiles.ndjson >acks &&
	test_lines 2 acks &&
	test_grep "\"path\": \"/engage?verbose=1&ip=0\"" mp.log &&
	test_grep "\$token.\":.\"test-key" mp.log &&
	fake_records mp >stored &&
	printf "p:u1\t{\"\$email\":\"ada@example.com\",\"plan\":\"pro\"}\np:u2\t{\"\$email\":\"bob@example.com\",\"n\":\"12345678901234567890\"}\n" >expect &&
	test_cmp expect stored
'

test_expect_success 'engage: the token never shows, in a dry run or a dead letter' '
	rx-push --profile mixpanel-engage --dry-run <profiles.ndjson >dry &&
	test_grep "\"\$token\":\"\*\*\*\"" dry &&
	! grep -q test-key dry
'

test_expect_success 'engage partial failure: a 200 with status 0 fails the whole request (Mixpanel names no update)' '
	test_expect_code 3 rx-push --profile mixpanel-engage --url "$(fake_url mp)" <badprofile.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	keys_of err >dead && printf "u3\nu4\n" >expect && test_cmp expect dead &&
	test_grep "Mixpanel refused the request: \$set: rejected" err &&
	! grep -q "p:u3" mp.state
'

test_expect_success 'engage auth failure: a wrong token stops the run with exit 1' '
	test_expect_code 1 env MIXPANEL_PROJECT_TOKEN=wrong-token rx-push --profile mixpanel-engage --url "$(fake_url mp)" <profiles.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	! grep -q "^{" err &&
	test_grep "Mixpanel refused the project token: Invalid token" err &&
	! grep -q wrong-token err
'

test_expect_success 'engage delete: $delete with $ignore_alias' '
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" profiles.ndjson >del.ndjson &&
	rx-push --profile mixpanel-engage --url "$(fake_url mp)" <del.ndjson >acks &&
	test_lines 2 acks &&
	test_grep "\$delete.\":.\"null.\",.\"\$ignore_alias.\":true" mp.log &&
	fake_records mp >stored && test_must_be_empty stored
'

test_expect_success 'import: events with their insert id, a service account, strict=1 and the project id' '
	head -c 0 /dev/null >mp.log &&
	echo "{\"op\":\"insert\",\"records\":[{\"key\":\"9\",\"hash\":\"h\",\"row\":{\"event\":\"Signed Up\",\"time\":1700000000,\"distinct_id\":7}}]}" >one.ndjson &&
	rx-push --profile mixpanel-import --url "$(fake_url mp)" <one.ndjson >acks &&
	test_lines 1 acks &&
	test_grep "\"path\": \"/import?strict=1&project_id=1234567\"" mp.log &&
	test_grep "\"authorization\": \"Basic $(printf sa-user:sa-secret | base64)\"" mp.log &&
	fake_records mp | grep "^e:9	" >e9 &&
	test_grep "\"distinct_id\":\"7\"" e9
'

test_expect_success 'import partial failure: a 400 names the failed events by index; the others were imported and are acked' '
	test_expect_code 3 rx-push --profile mixpanel-import --url "$(fake_url mp)" <events.ndjson >acks 2>err &&
	keys_of acks >acked && printf "1\n3\n" >expect && test_cmp expect acked &&
	keys_of err >dead && printf "2\n4\n" >expect && test_cmp expect dead &&
	test_grep "properties.time: .properties.time. is invalid" err &&
	test_grep "\"status\":400" err &&
	fake_records mp | cut -f1 | grep "^e:[13]$" >got && test_lines 2 got
'

test_expect_success 'import: a key Mixpanel does not take as an insert id is replaced by the idem' '
	echo "{\"op\":\"insert\",\"records\":[{\"key\":\"order #12\",\"hash\":\"h\",\"row\":{\"event\":\"E\",\"time\":1700000000,\"distinct_id\":\"C1\"}}]}" |
		rx-push --profile mixpanel-import --dry-run >dry &&
	idem=$(printf "order #12\n\"h\"" | sha256sum | cut -c1-32) &&
	test_grep "\"\$insert_id\":\"$idem\"" dry
'

test_expect_success 'import auth failure: a wrong secret stops the run with exit 1, naming the role it needs' '
	test_expect_code 1 env MIXPANEL_SERVICE_ACCOUNT_SECRET=wrong rx-push --profile mixpanel-import --url "$(fake_url mp)" <events.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "Mixpanel refused the service account (Invalid credentials): it needs the Owner or Admin role" err
'

test_expect_success 'throttling: a 429 (no wait hint) is backed off and retried; nothing is lost' '
	vendor_start slow mixpanel -- --key test-key --rate 1/1 &&
	dest_changes 3 T upsert "{\"plan\":\"p%d\"}" >three.ndjson &&
	rx-push --profile mixpanel-engage --url "$(fake_url slow)" --max-records 1 <three.ndjson >acks &&
	test_lines 3 acks &&
	test "$(fake_count slow throttled)" -ge 1
'

test_expect_success 'a batch at the limit: 2000 updates, 2000 events a request' '
	vendor_start lim mixpanel -- --key test-key --log lim.log &&
	dest_changes 4000 L upsert "{\"name\":\"Zoë 李\",\"n\":null,\"s\":\"\"}" >lim.ndjson &&
	rx-batch --profile mixpanel-engage <lim.ndjson | rx-push --profile mixpanel-engage --url "$(fake_url lim)" >acks &&
	test_lines 4000 acks &&
	dest_changes 4000 "" insert "{\"event\":\"E\",\"time\":1700000000,\"distinct_id\":\"d%d\"}" >ev.ndjson &&
	rx-batch --profile mixpanel-import <ev.ndjson | rx-push --profile mixpanel-import --url "$(fake_url lim)" >acks &&
	test_lines 4000 acks &&
	test_lines 4 lim.log
'

dest_ex || exit 1
vendor_start sync mixpanel -- --key test-key
vendor_start synci mixpanel -- --key test-key
MIXPANEL_ENDPOINT=$(fake_url sync)
export MIXPANEL_ENDPOINT

engage_expect () {
	dest_model mixpanel-engage.jq | jq -r "[\"p:\" + .id, tojson] | join(\"\t\")" | fake_expect
}
dest_sync_tests mixpanel-engage mixpanel-engage sync engage_expect 3000

# insert mode: every order ever modelled stays an event
import_expect () {
	dest_model mixpanel-import.jq "select id, customer_id, amount, ordered_at from orders order by id" |
		jq -r "[\"e:\" + (.id | tostring), (.distinct_id |= tostring | tojson)] | join(\"\t\")" >model.lines &&
	cat seen.lines model.lines 2>/dev/null | awk -F "\t" "{ last[\$1] = \$0 } END { for (k in last) print last[k] }" >seen.new &&
	mv seen.new seen.lines &&
	fake_expect <seen.lines
}
MIXPANEL_ENDPOINT=$(fake_url synci)
DEST_KILL_ARGS="--concurrency 1" DEST_KILL=3
dest_sync_tests mixpanel-import mixpanel-import synci import_expect 12000

test_done
