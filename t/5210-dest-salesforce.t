#!/bin/sh
# The salesforce profile (sObject Collections: upsert by external id,
# update and delete by Salesforce Id, SOQL lookups) against the Salesforce
# fake (t/fake/crm.py --vendor salesforce): whole syncs with changes,
# deletes and kills equal the model, per-record failures in Salesforce's
# positional results, the API allocation (403 REQUEST_LIMIT_EXCEEDED),
# an expired session refreshed, a refused one, deletes by the Id learnt.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-crm.sh"

FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start sf -- --vendor salesforce --token 00Dtest || exit 1
export SALESFORCE_TOKEN=00Dtest
CRM_URL=$(fake_url sf) CRM_FAKE=sf CRM_PROFILE=salesforce CRM_KEY=Warehouse_Id__c
CRM_MAP='{Warehouse_Id__c: .id, LastName: .name, Email: .email, Plan__c: .plan, Amount__c: .amount}'
sf_live () { fake_state sf | jq -r '.records | to_entries[] | [.key, .value.row.LastName, .value.row.Email // "", .value.row.Plan__c, .value.row.Amount__c] | @tsv' | sort; }
crm_dest () { sf_live; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, coalesce(email, ''), plan, amount from c order by id"; }
crm_ids () { fake_state sf | jq -r '.records | to_entries[] | [.key, .value.id] | @tsv' | sort; }

test_expect_success 'setup: a contact made outside rx, with the external id of C003' '
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"key\":\"C003\",\"row\":{\"LastName\":\"Old\"}}" | jq -r .id >c3-id
'
CRM_KILLS='rx-push:sent:1 rx-push:replied:1 rx-diff:commit:2' crm_suite s.db
test_expect_success 'the contact made outside rx was upserted by its external id: same Id, no duplicate' '
	test "$(crm_ids | awk -F"\t" "\$1 == \"C003\" { print \$2 }")" = "$(cat c3-id)" &&
	test "$(fake_count sf violations)" = 0
'

push () { rx-push --profile salesforce --url "$CRM_URL" --retry-base 10 "$@" >acks 2>err; }

test_expect_success 'partial failure: the record Salesforce refuses is a dead letter with its error, the rest acked with Ids' '
	{ change upsert P1 "{\"LastName\":\"One\",\"Email\":\"p1@example.com\"}" &&
	  change upsert P2 "{\"LastName\":\"Two\",\"Email\":\"not-an-email\"}" &&
	  change upsert P3 "{\"LastName\":\"Three\"}"; } | rx-batch --size 3 >in &&
	test_expect_code 3 push <in &&
	acked acks >keys && printf "P1\nP3\n" >expect && test_cmp expect keys &&
	test "$(jq -r ".id | test(\"^003\")" acks | sort -u)" = true &&
	grep "^{" err >dead && test_lines 1 dead &&
	test "$(jq -r .key dead)" = P2 &&
	test "$(jq -r .error.message dead)" = "INVALID_EMAIL_ADDRESS: '"'"'not-an-email'"'"' is not a valid email address (Email)"
'

test_expect_success 'a record locked by another transaction (UNABLE_TO_LOCK_ROW) is sent again, nothing lost' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start lock -- --vendor salesforce --token 00Dtest --lock-first 2 &&
	for i in 1 2 3 4; do change upsert L$i "{\"LastName\":\"L$i\"}"; done | rx-batch --size 4 >in &&
	rx-push --profile salesforce --url "$(fake_url lock)" --retry-base 10 <in >acks 2>err &&
	test "$(acked acks | wc -l)" = 4 &&
	test "$(fake_state lock | jq ".records | length")" = 4
'

test_expect_success 'the API allocation used up (403 REQUEST_LIMIT_EXCEEDED): exit 75, the rest unacked; a later run delivers them' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start quota -- --vendor salesforce --token 00Dtest --quota 2 &&
	for i in 1 2 3 4 5; do change upsert Q$i "{\"LastName\":\"Q$i\"}"; done | rx-batch --size 1 >in &&
	{ rx-push --profile salesforce --url "$(fake_url quota)" -c 1 <in >acks 2>err; test $? = 75; } &&
	test_grep "REQUEST_LIMIT_EXCEEDED" err &&
	test "$(wc -l <acks)" = 2 &&
	test "$(fake_state quota | jq -r "[.records | keys[]] | join(\",\")")" = "Q1,Q2" &&
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start quota2 -- --vendor salesforce --token 00Dtest &&
	rx-push --profile salesforce --url "$(fake_url quota2)" <in >acks2 &&
	test "$(wc -l <acks2)" = 5
'

test_expect_success 'every reply carries Sforce-Limit-Info, which the response program sees' '
	curl -sS -D hdr -o /dev/null -H "Authorization: Bearer 00Dtest" "$CRM_URL/services/data/v62.0/sobjects/Contact" &&
	test_grep "^Sforce-Limit-Info: api-usage=[0-9]*/100000" hdr
'

test_expect_success 'an expired session (401 INVALID_SESSION_ID) is refreshed with the refresh token, and the run goes on' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start oauth -- --vendor salesforce --refresh-token 5Aep-refresh --token-uses 2 &&
	for i in 1 2 3 4 5; do change upsert R$i "{\"LastName\":\"R$i\"}"; done | rx-batch --size 1 >in &&
	(unset SALESFORCE_TOKEN; SALESFORCE_CLIENT_ID=3MVG-id SALESFORCE_CLIENT_SECRET=cs SALESFORCE_REFRESH_TOKEN=5Aep-refresh \
		rx-push --profile salesforce --url "$(fake_url oauth)" -c 1 <in >acks 2>err) &&
	test "$(wc -l <acks)" = 5 &&
	test "$(fake_count oauth tokens_issued)" -ge 3 &&
	! grep -q "5Aep-refresh\|00Dfake" acks err
'

test_expect_success 'a refused session: exit 1, Salesforce'"'"'s message, the token in no output' '
	change upsert A1 "{\"LastName\":\"A\"}" >in &&
	{ SALESFORCE_TOKEN=00Dwrong-secret push <in; test $? = 1; } &&
	test_grep "refused the credentials" err &&
	test_grep "Session expired or invalid" err &&
	test_must_be_empty acks &&
	! grep -q 00Dwrong-secret acks err
'

test_expect_success 'a delete by the Id learnt on an earlier run: DELETE ?ids= with it' '
	crm_ids | head -1 >one && key=$(cut -f1 one) id=$(cut -f2 one) &&
	change delete "$key" "{}" "$id" | rx-push --profile salesforce --url "$CRM_URL" --dry-run >dry &&
	test "$(jq -r .url dry)" = "$CRM_URL/services/data/v62.0/composite/sobjects?ids=$id&allOrNone=false" &&
	change delete "$key" "{}" "$id" | push &&
	test "$(acked acks)" = "$key" &&
	test -z "$(crm_ids | grep "^$key	")"
'

test_expect_success 'a delete whose Id is unknown and that SOQL does not find is acked as gone, never sent' '
	lookups=$(fake_count sf lookups) requests=$(fake_count sf requests) &&
	change delete "GONE'"'"'1" "{}" | push &&
	test "$(acked acks)" = "GONE'"'"'1" &&
	test "$(fake_count sf lookups)" = $((lookups + 1)) &&
	test "$(fake_count sf requests)" = $((requests + 1)) &&
	test "$(fake_count sf violations)" = 0
'

test_expect_success 'an update (by Id) of a record not found is a dead letter, not a create' '
	{ change update NOPE "{\"LastName\":\"N\"}" | push; test $? = 3; } &&
	test_grep "not found at the destination" err &&
	test -z "$(crm_ids | grep "^NOPE	")"
'

test_expect_success '--test-connection reads the sObject with the token' '
	rx-push --profile salesforce --url "$CRM_URL" --test-connection >out &&
	grep "^ok: GET salesforce answered HTTP 200" out
'

test_expect_success 'the command on the page syncs into the fake' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start try -- --vendor salesforce --token 00D... &&
	SALESFORCE_URL=$(fake_url try) crm_try salesforce >out 2>err || { cat err; false; } &&
	n=$(sqlite3 top/examples/warehouse.db "select count(*) from customer_model") &&
	test "$(fake_state try | jq ".records | length")" = "$n" &&
	test "$(fake_count try violations)" = 0 &&
	! grep -q "^{" top/examples/state/salesforce.dead-letters.ndjson
'

test_done
