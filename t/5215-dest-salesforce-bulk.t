#!/bin/sh
# The salesforce-bulk profile (Bulk API 2.0 ingest jobs: create, CSV
# upload, close with PATCH, poll, then successfulResults and
# failedResults as CSV) against the Salesforce fake (t/fake/crm.py
# --vendor salesforce, class Bulk: nothing applied before the job is
# closed and read, results in shuffled order): whole syncs with changes,
# deletes by Id and kills equal the model; ids in the acks; a row the
# job refuses (REQUIRED_FIELD_MISSING); a Failed job; results that do
# not add up; the API allocation (403 REQUEST_LIMIT_EXCEEDED); a 503;
# a refused session; the CSV's nulls and missing members.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-crm.sh"

# the shipped profile, polling faster (the fake's jobs move on each read)
jq '.ops[].job.interval = 0.1' "$RX_TOP/share/rx/destinations/salesforce-bulk.json" >sfb.json
FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start sf -- --vendor salesforce --token 00Dtest --log sf.log || exit 1
export SALESFORCE_TOKEN=00Dtest
CRM_URL=$(fake_url sf) CRM_FAKE=sf CRM_PROFILE=./sfb.json CRM_KEY=Warehouse_Id__c
CRM_MAP='{Warehouse_Id__c: .id, LastName: .name, Email: .email, Plan__c: .plan, Amount__c: .amount}'
sf_live () { fake_state sf | jq -r '.records | to_entries[] | [.key, .value.row.LastName, .value.row.Email // "", .value.row.Plan__c, .value.row.Amount__c] | @tsv' | sort; }
crm_dest () { sf_live; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, coalesce(email, ''), plan, amount from c order by id"; }
crm_ids () { fake_state sf | jq -r '.records | to_entries[] | [.key, .value.id] | @tsv' | sort; }
sfb () { name=$1; shift; FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start "$name" -- --vendor salesforce --token 00Dtest --log "$name.log" "$@"; }
push () { rx-push --profile ./sfb.json --url "$(fake_url "$1")" --retry-base 10 >acks 2>err; }

test_expect_success 'the profile checks clean' '
	rx-push --profile salesforce-bulk --check-profile >out &&
	test_grep "^0 errors" out
'

# (killed mid-read here; before the close and before the first read: the test of kills below)
CRM_KILLS='rx-push:polled:3' crm_suite s.db
test_expect_success 'the syncs went through ingest jobs, none left open, no request the fake refuses' '
	test "$(jq -r "select(.method == \"PUT\") | .content_type" sf.log | sort -u)" = text/csv &&
	test "$(jq -r "select(.method == \"POST\") | .content_type" sf.log | sort -u)" = application/json &&
	test "$(fake_count sf violations)" = 0
'

test_expect_success 'one job: create, upload, close, read until JobComplete, then both results; ids in the acks' '
	sfb one &&
	{ change upsert P1 "{\"LastName\":\"One\",\"Email\":\"p1@example.com\"}" &&
	  change upsert P2 "{\"Email\":\"p2@example.com\"}" &&
	  change upsert P3 "{\"LastName\":\"Three\",\"Email\":\"not-an-email\"}" &&
	  change upsert P4 "{\"LastName\":\"Four, \\\"4\\\"\",\"Amount__c\":\"12345678901234567890\"}"; } | rx-batch --size 4 >in &&
	{ push one <in; test $? = 3; } &&
	acked acks >keys && printf "P1\nP4\n" >expect && test_cmp expect keys &&
	test "$(jq -r ".id | test(\"^003\")" acks | sort -u)" = true &&
	grep "^{" err >dead && test_lines 2 dead &&
	jq -r "[.key, .error.message] | @tsv" dead | sort >got &&
	printf "P2\tREQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --\nP3\tINVALID_EMAIL_ADDRESS:'"'"'not-an-email'"'"' is not a valid email address:Email --\n" >expect &&
	test_cmp expect got &&
	jq -r "[.method, (.path | sub(\"^/services/data/v62.0\"; \"\") | sub(\"750[0-9]+\"; \"J\"))] | @tsv" one.log | uniq >calls &&
	printf "POST\t/jobs/ingest\nPUT\t/jobs/ingest/J/batches\nPATCH\t/jobs/ingest/J\nGET\t/jobs/ingest/J\nGET\t/jobs/ingest/J/successfulResults/\nGET\t/jobs/ingest/J/failedResults/\n" >expect &&
	test_cmp expect calls &&
	sed -n 1p one.log | jq -c .body | jq -r . >create &&
	echo "{\"object\":\"Contact\",\"contentType\":\"CSV\",\"operation\":\"upsert\",\"lineEnding\":\"LF\",\"externalIdFieldName\":\"Warehouse_Id__c\"}" >expect &&
	test_cmp expect create &&
	sed -n 3p one.log | jq -r .body >close && echo "{\"state\":\"UploadComplete\"}" >expect && test_cmp expect close &&
	sed -n 2p one.log | jq -j .body >csv &&
	cat >expect <<-\CSV &&
	"Warehouse_Id__c","Amount__c","Email","LastName"
	"P1",,"p1@example.com","One"
	"P2",,"p2@example.com",
	"P3",,"not-an-email","Three"
	"P4","12345678901234567890",,"Four, ""4"""
	CSV
	test_cmp expect csv &&
	test "$(fake_state one | jq -r ".records.P4.row.Amount__c")" = 12345678901234567890
'

test_expect_success 'a null clears the field (#N/A), a member the row lacks leaves it as it is' '
	change upsert N1 "{\"LastName\":\"N\",\"Email\":\"n1@example.com\",\"Plan__c\":\"gold\"}" | push one &&
	change upsert N1 "{\"LastName\":\"N2\",\"Email\":null}" | push one &&
	grep PUT one.log | tail -n 1 | jq -j .body >csv &&
	printf "\"Warehouse_Id__c\",\"Email\",\"LastName\"\n\"N1\",#N/A,\"N2\"\n" >expect && test_cmp expect csv &&
	fake_state one | jq -c ".records.N1.row | {LastName, Email, Plan__c}" >got &&
	echo "{\"LastName\":\"N2\",\"Email\":null,\"Plan__c\":\"gold\"}" >expect && test_cmp expect got
'

test_expect_success 'a delete by the Id learnt: a delete job whose CSV is the Id column' '
	change upsert D1 "{\"LastName\":\"D\"}" | push one && id=$(jq -r .id acks) &&
	change delete D1 "{}" "$id" | push one &&
	test "$(acked acks)" = D1 &&
	grep "/jobs/ingest\"" one.log | tail -n 1 | jq -r .body | jq -r .operation >op && echo delete >expect && test_cmp expect op &&
	grep PUT one.log | tail -n 1 | jq -j .body >csv && printf "\"Id\"\n\"%s\"\n" "$id" >expect && test_cmp expect csv &&
	test "$(fake_state one | jq ".records.D1")" = null
'

test_expect_success 'a delete without an Id is found by SOQL first; one not found is acked as gone, no job made' '
	change upsert S1 "{\"LastName\":\"S\"}" | push one && lookups=$(fake_count one lookups) &&
	{ change delete S1 "{}" && change delete GONE "{}"; } | rx-batch --size 2 | push one &&
	acked acks >keys && printf "GONE\nS1\n" >expect && test_cmp expect keys &&
	test "$(fake_count one lookups)" = $((lookups + 1)) &&
	test "$(fake_state one | jq ".records.S1")" = null &&
	test "$(fake_count one violations)" = 0
'

test_expect_success 'killed before the job is closed, or before it is read: nothing applied, nothing acked; the next run does it' '
	for i in 1 2 3; do change upsert K$i "{\"LastName\":\"K$i\"}"; done | rx-batch --size 3 >in &&
	{ RX_KILL_AT=rx-push:poll:1 push one <in; test $? != 0; } && test_must_be_empty acks &&
	{ RX_KILL_AT=rx-push:polled:1 push one <in; test $? != 0; } && test_must_be_empty acks &&
	test "$(fake_state one | jq "[.records | keys[] | select(startswith(\"K\"))] | length")" = 0 &&
	push one <in && test "$(wc -l <acks)" = 3 &&
	test "$(fake_state one | jq "[.records | keys[] | select(startswith(\"K\"))] | length")" = 3
'

test_expect_success 'a job that ends Failed: every record dead-lettered with its errorMessage' '
	sfb bad --bulk-fail 1 --bulk-drop 2 &&
	for i in 1 2; do change upsert F$i "{\"LastName\":\"F$i\"}"; done | rx-batch --size 2 >in &&
	{ push bad <in; test $? = 3; } && test_must_be_empty acks &&
	test "$(grep -c "ended Failed: InvalidBatch" err)" = 2
'

test_expect_success 'results that do not add up (a row missing, in the next job): no record taken for applied' '
	for i in 1 2 3; do change upsert X$i "{\"LastName\":\"X$i\"}"; done | rx-batch --size 3 >in &&
	{ push bad <in; test $? = 3; } && test_must_be_empty acks &&
	test "$(grep -c "results do not add up: 2 successful and 0 failed rows, but the job says 3 processed" err)" = 3
'

test_expect_success 'the API allocation used up mid-job (403 REQUEST_LIMIT_EXCEEDED): exit 75, unacked; a later run delivers' '
	sfb quota --quota 4 &&
	for i in 1 2; do change upsert Q$i "{\"LastName\":\"Q$i\"}"; done | rx-batch --size 2 >in &&
	{ push quota <in; test $? = 75; } && test_must_be_empty acks &&
	test_grep "REQUEST_LIMIT_EXCEEDED" err &&
	push one <in && test "$(wc -l <acks)" = 2
'

test_expect_success 'a 503 SERVER_UNAVAILABLE is retried, and the job goes on' '
	sfb busy --fail-first 2 &&
	change upsert B1 "{\"LastName\":\"B\"}" | push busy &&
	test "$(acked acks)" = B1 && test "$(fake_count busy errors)" = 2
'

test_expect_success 'every reply carries Sforce-Limit-Info' '
	curl -sS -D hdr -o /dev/null -H "Authorization: Bearer 00Dtest" "$CRM_URL/services/data/v62.0/jobs/ingest" &&
	test_grep "^Sforce-Limit-Info: api-usage=[0-9]*/100000" hdr
'

test_expect_success 'a session that expires mid-job (401 on a read) is refreshed, and the same job is read on' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start oauth -- --vendor salesforce --refresh-token 5Aep-refresh --token-uses 4 --log oauth.log &&
	for i in 1 2; do change upsert R$i "{\"LastName\":\"R$i\"}"; done | rx-batch --size 2 >in &&
	(unset SALESFORCE_TOKEN; SALESFORCE_CLIENT_ID=3MVG-id SALESFORCE_CLIENT_SECRET=cs SALESFORCE_REFRESH_TOKEN=5Aep-refresh \
		rx-push --profile ./sfb.json --url "$(fake_url oauth)" <in >acks 2>err) &&
	test "$(wc -l <acks)" = 2 &&
	test "$(fake_count oauth tokens_issued)" -ge 2 &&
	test "$(fake_count oauth jobs)" = 1 &&
	! grep -q "5Aep-refresh\|00Dfake" acks err
'

test_expect_success 'a refused session (401 INVALID_SESSION_ID): exit 1, its message, the token in no output' '
	change upsert A1 "{\"LastName\":\"A\"}" >in &&
	{ SALESFORCE_TOKEN=00Dwrong-secret push sf <in; test $? = 1; } &&
	test_grep "Session expired or invalid" err &&
	test_must_be_empty acks &&
	! grep -q 00Dwrong-secret acks err
'

test_expect_success '--test-connection lists the ingest jobs with the token' '
	rx-push --profile salesforce-bulk --url "$CRM_URL" --test-connection >out &&
	grep "^ok: GET salesforce-bulk answered HTTP 200" out
'

test_expect_success 'the status program: a record in neither result set, in both, or twice in a job is never acked' '
	cat >st.json <<-\JSON &&
	{"status": 200, "job": "750x", "body": [["sf__Id", "sf__Error", "Warehouse_Id__c"], ["", "X:bad", "B"], ["", "X:bad", "D"]],
	 "carry": {"step": "failed", "n": 3, "ok": {"A": ["003A"], "B": ["003B"], "D": ["003D"]}},
	 "records": [{"key": "A", "op": "upsert", "row": {}}, {"key": "B", "op": "upsert", "row": {}},
	             {"key": "C", "op": "upsert", "row": {}},
	             {"key": "D1", "op": "upsert", "row": {"Warehouse_Id__c": "D"}}, {"key": "D2", "op": "upsert", "row": {"Warehouse_Id__c": "D"}}]}
	JSON
	jq -c -L "$RX_TOP/share/rx/jq" "include \"salesforce\"; salesforce_bulk_status({version: \"v62.0\", external_id: \"Warehouse_Id__c\"}) | map(.ok)" st.json >got &&
	echo "[true,false,false,false,false]" >expect && test_cmp expect got &&
	jq ".body = \"sf__Id,oops\"" st.json | jq -c -L "$RX_TOP/share/rx/jq" "include \"salesforce\"; salesforce_bulk_status({version: \"v62.0\", external_id: \"Warehouse_Id__c\"}) | .action" >got &&
	echo "\"reject\"" >expect && test_cmp expect got
'

test_expect_success 'the commands on the page sync the example model into the fake' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start try -- --vendor salesforce --token 00D... &&
	SALESFORCE_URL=$(fake_url try) crm_try salesforce-bulk >out 2>err || { cat err; false; } &&
	n=$(sqlite3 top/examples/warehouse.db "select count(*) from customer_model") &&
	test "$(fake_state try | jq ".records | length")" = "$n" &&
	test "$(fake_count try violations)" = 0 &&
	! grep -q "^{" top/examples/state/salesforce-bulk.dead-letters.ndjson
'

test_done
