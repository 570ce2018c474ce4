#!/bin/sh
# The attio-records profile (assert by a unique matching attribute, one
# record a request; delete by record_id, found by a query when rx has
# none) against the Attio fake (t/fake/crm.py --vendor attio): whole syncs
# with changes, deletes and kills equal the model, a refused record, 429
# with an HTTP-date Retry-After, a refused token, deletes by the id learnt.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-crm.sh"

FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start at -- --vendor attio --token at-test || exit 1
export ATTIO_TOKEN=at-test
# matched on a unique attribute of the user's that never changes (the
# page's advice): an e-mail that changes would assert a second record
mkdir -p p && jq '.vars.match = "rx_id"' "$RX_SHARE/destinations/attio-records.json" >p/attio-people.json || exit 1
CRM_URL=$(fake_url at) CRM_FAKE=at CRM_PROFILE=./p/attio-people.json CRM_KEY=rx_id CRM_PUSH="--rate 500/1s"
CRM_MAP='{rx_id: .id, name, email_addresses: .email, plan}'
crm_dest () { fake_state at | jq -r '.records | to_entries[] | [.key, .value.row.name, .value.row.email_addresses // "", .value.row.plan] | @tsv' | sort; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, coalesce(email, ''), plan from c order by id"; }
crm_ids () { fake_state at | jq -r '.records | to_entries[] | [.key, .value.id] | @tsv' | sort; }

CRM_KILLS='rx-push:sent:2 rx-push:replied:1 rx-diff:commit:2' crm_suite s.db

push () { rx-push --profile ./p/attio-people.json --url "$CRM_URL" --retry-base 10 "$@" >acks 2>err; }

test_expect_success 'a record Attio refuses is a dead letter with its code and message; the others are asserted' '
	{ change upsert P1 "{\"rx_id\":\"P1\",\"email_addresses\":\"p1@example.com\"}" &&
	  change upsert P2 "{\"rx_id\":\"P2\",\"email_addresses\":\"not-an-email\"}" &&
	  change upsert P3 "{\"rx_id\":\"P3\",\"email_addresses\":[\"p3@example.com\",\"p3b@example.com\"]}"; } >in &&
	test_expect_code 3 push <in &&
	acked acks >keys && printf "P1\nP3\n" >expect && test_cmp expect keys &&
	grep "^{" err >dead && test_lines 1 dead &&
	test "$(jq -r .error.message dead)" = "validation_type: '"'"'not-an-email'"'"' is not a valid email address"
'

test_expect_success 'a record without its matching attribute is refused by Attio for itself only' '
	{ change upsert M1 "{\"rx_id\":null,\"name\":\"no match\"}" | push; test $? = 3; } &&
	test_grep "value_not_found" err
'

test_expect_success 'throttled: 429 with Retry-After as an HTTP date is waited out, nothing lost' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start thr -- --vendor attio --token at-test --throttle-first 2 &&
	for i in 1 2 3; do change upsert T$i "{\"rx_id\":\"T$i\"}"; done >in &&
	rx-push --profile ./p/attio-people.json --url "$(fake_url thr)" --stats stats.json <in >acks 2>err &&
	test "$(acked acks | wc -l)" = 3 &&
	test "$(fake_count thr throttled)" = 2 &&
	test "$(jq .throttled stats.json)" = 2
'

test_expect_success 'a refused token: exit 1, Attio'"'"'s message, the token in no output' '
	change upsert A1 "{\"rx_id\":\"A1\"}" >in &&
	{ ATTIO_TOKEN=wrong-secret-token push <in; test $? = 1; } &&
	test_grep "Invalid or expired access token" err &&
	test_must_be_empty acks &&
	! grep -q wrong-secret-token acks err
'

test_expect_success 'a delete by the record_id learnt on an earlier run' '
	crm_ids | grep "^C" | head -1 >one && key=$(cut -f1 one) id=$(cut -f2 one) &&
	change delete "$key" "{\"rx_id\":\"$key\"}" "$id" >in &&
	rx-push --profile ./p/attio-people.json --url "$CRM_URL" --dry-run <in >dry &&
	test "$(jq -r "[.method, .url] | @tsv" dry)" = "DELETE	$CRM_URL/v2/objects/people/records/$id" &&
	push <in && test "$(acked acks)" = "$key" &&
	test -z "$(crm_ids | grep "^$key	")"
'

test_expect_success 'a delete with no id: found by a query and deleted; not found: acked as gone, never sent' '
	crm_ids | grep "^C" | head -1 >one && key=$(cut -f1 one) &&
	change delete "$key" "{\"rx_id\":\"$key\"}" | push &&
	test -z "$(crm_ids | grep "^$key	")" &&
	requests=$(fake_count at requests) &&
	change delete X9 "{\"rx_id\":\"nobody\"}" | push &&
	change delete X8 "{\"rx_id\":null}" | push &&
	test "$(acked acks)" = X8 &&
	test "$(fake_count at requests)" = $((requests + 1)) &&
	test "$(fake_count at violations)" = 0
'

test_expect_success '--test-connection reads /v2/self with the token' '
	rx-push --profile attio-records --url "$CRM_URL" --test-connection >out &&
	grep "^ok: GET attio-records answered HTTP 200" out
'

test_expect_success 'the command on the page syncs into the fake' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start try -- --vendor attio --token at-... &&
	ATTIO_URL=$(fake_url try) crm_try attio-records >out 2>err || { cat err; false; } &&
	test "$(fake_state try | jq ".records | length")" = 40 &&
	test "$(fake_count try violations)" = 0 &&
	! grep -q "^{" top/examples/state/attio.dead-letters.ndjson
'

test_done
