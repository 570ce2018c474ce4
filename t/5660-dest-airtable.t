#!/bin/sh
# Airtable: the airtable-upsert profile against the fake (t/fake/fake-saas.py
# --vendor airtable): performUpsert on the merge field, acks carrying the
# record ids found by merge value (the fake answers out of order), one
# bad record failing its request of 10 and found by a re-drive one a
# request, the 30 s penalty of a 429, a refused token; deletes by the
# record id the ack carried, a delete without one looked up by
# filterByFormula (quotes escaped), a record already gone acked (alone in
# its request; with others, all re-driven one a request), a 200 acking
# only the records it lists as deleted; the
# page's command twice in mirror mode, with changes and deletes (the
# table equals the model), a third run that sends nothing, and kills in
# the middle of both runs.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

cat >changes.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"Customer ID":"C1","Email":"ada@example.com","Plan":"pro"}},{"key":"C2","hash":"h2","row":{"Customer ID":"C2","Email":"bo@example.com","Notes":null}}]}
{"op":"upsert","records":[{"op":"upsert","key":"C3","hash":"h3","row":{"Customer ID":"C3","email":"not-an-email"}},{"op":"upsert","key":"C4","hash":"h4","row":{"Customer ID":"C4","Email":"di@example.com"}}]}
IN

saas_start at -- --vendor airtable --token patTEST --log at.log
at () {
	at_name=$1
	shift
	env AIRTABLE_TOKEN=patTEST AIRTABLE_API_URL=$(cat "$at_name.url") AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers \
		"AIRTABLE_MERGE_ON=Customer ID" rx-push --profile airtable-upsert "$@"
}

test_expect_success 'upserts by the merge field; acks carry the record ids; a bad record fails its request' '
	test_expect_code 3 at at --concurrency 1 <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC2\n" >expect && test_cmp expect got &&
	grep "\"key\":\"C1\"" acks | jq -r .id >id1 && grep "\"key\":\"C2\"" acks | jq -r .id >id2 &&
	fake_state at | jq -r ".records.C1.row._id, .records.C2.row._id" >ids && cat id1 id2 >expect && test_cmp expect ids &&
	test "$(cat id1)" != "$(cat id2)" &&
	dead err >got && printf "C3\nC4\n" >expect && test_cmp expect got &&
	test_grep "INVALID_VALUE_FOR_COLUMN" err && test_grep "re-drive the dead letters with --max-records 1" err &&
	head -n 1 at.log >first &&
	test_grep "\"method\": \"PATCH\"" first && test_grep "\"path\": \"/v0/appTEST/Customers\"" first &&
	jq -r .body first | jq -c . >body &&
	echo "{\"performUpsert\":{\"fieldsToMergeOn\":[\"Customer ID\"]},\"records\":[{\"fields\":{\"Customer ID\":\"C1\",\"Email\":\"ada@example.com\",\"Plan\":\"pro\"}},{\"fields\":{\"Customer ID\":\"C2\",\"Email\":\"bo@example.com\",\"Notes\":null}}],\"typecast\":false}" >expect &&
	test_cmp expect body
'

test_expect_success 're-driving the dead letters one a request finds the bad record' '
	grep "^{" err >dl &&
	test_expect_code 3 at at --max-records 1 <dl >acks 2>err2 &&
	acked acks >got && echo C4 >expect && test_cmp expect got &&
	dead err2 >got && echo C3 >expect && test_cmp expect got
'

test_expect_success 'a second upsert of a record updates it, under the same id' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"C1\",\"hash\":\"h5\",\"row\":{\"Customer ID\":\"C1\",\"Plan\":\"enterprise\"}}]}" >again &&
	at at <again >acks &&
	jq -r .id acks >id && test_cmp id1 id &&
	fake_state at | jq -c ".records.C1.row | del(._id)" >got &&
	echo "{\"Customer ID\":\"C1\",\"Email\":\"ada@example.com\",\"Plan\":\"enterprise\"}" >expect && test_cmp expect got
'

test_expect_success 'a 429: every request waits Airtable'"'"'s penalty, then sends again' '
	saas_start at2 -- --vendor airtable --token patTEST --throttle-first 1 &&
	AIRTABLE_THROTTLE_WAIT=1 at at2 --stats stats <again >acks &&
	test_lines 1 acks && test "$(fake_count at2 throttled)" = 1 && test "$(jq .throttled stats)" = 1
'

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env AIRTABLE_TOKEN=patWRONG AIRTABLE_API_URL=$(cat at.url) AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers \
		"AIRTABLE_MERGE_ON=Customer ID" rx-push --profile airtable-upsert <again >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q patWRONG err
'

test_expect_success 'a delete by the record id the upsert'"'"'s ack carried: DELETE ?records[]=rec…, no lookup, the record gone' '
	l=$(fake_count at lookups) &&
	echo "{\"op\":\"delete\",\"records\":[{\"key\":\"C1\",\"hash\":\"h1\",\"id\":\"$(cat id1)\",\"row\":{\"Customer ID\":\"C1\"}}]}" >del &&
	at at <del >acks &&
	acked acks >got && echo C1 >expect && test_cmp expect got &&
	tail -n 1 at.log | jq -r "[.method, .path, .body] | @tsv" >got &&
	printf "DELETE\t/v0/appTEST/Customers?records%%5B%%5D=$(cat id1)\t\n" >expect && test_cmp expect got &&
	fake_state at | jq -c "[(.records | has(\"C1\")), (.deleted | index(\"C1\") != null)]" >got && echo "[false,true]" >expect && test_cmp expect got &&
	test "$(fake_count at lookups)" = "$l"
'

test_expect_success 'a record already gone (404 MODEL_ID_NOT_FOUND) is acked as gone' '
	at at <del >acks 2>err &&
	acked acks >got && echo C1 >expect && test_cmp expect got &&
	tail -n 1 at.log | jq -r .method >got && echo DELETE >expect && test_cmp expect got
'

test_expect_success 'two deletes in a request, one already gone: Airtable'"'"'s 404 names no id, so both are dead letters at once (no retries), and their re-drive one a request deletes one and acks the other' '
	fake_state at | jq -r .records.C4.row._id >id4 &&
	echo "{\"op\":\"delete\",\"records\":[{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"h1\",\"id\":\"$(cat id1)\",\"row\":{\"Customer ID\":\"C1\"}},{\"op\":\"delete\",\"key\":\"C4\",\"hash\":\"h4\",\"id\":\"$(cat id4)\",\"row\":{\"Customer ID\":\"C4\"}}]}" >del2 &&
	n=$(fake_count at requests) &&
	test_expect_code 3 at at <del2 >acks 2>err &&
	test_must_be_empty acks && dead err >got && printf "C1\nC4\n" >expect && test_cmp expect got &&
	test_grep "does not say which: re-drive the dead letters with --max-records 1" err &&
	test "$(fake_count at requests)" = $((n + 1)) &&
	fake_state at | jq -r ".records | has(\"C4\")" >got && echo true >expect && test_cmp expect got &&
	grep "^{" err >dl && at at --max-records 1 <dl >acks &&
	acked acks >got && printf "C1\nC4\n" >expect && test_cmp expect got &&
	fake_state at | jq -r ".records | has(\"C4\")" >got && echo false >expect && test_cmp expect got
'

test_expect_success 'a delete'"'"'s 200 acks only the records it lists as deleted: true (deleted: false, or not listed, is a dead letter); a 404 MODEL_ID_NOT_FOUND acks only about a record, not a table' '
	echo "{\"status\":200,\"body\":{\"records\":[{\"deleted\":true,\"id\":\"recA\"},{\"deleted\":false,\"id\":\"recB\"}]},\"records\":[{\"id\":\"recA\"},{\"id\":\"recB\"},{\"id\":\"recC\"}]}" |
	jq -c -L "$RX_SHARE/jq" --argjson vars "{\"merge_on\":\"Customer ID\",\"throttle_wait\":\"30\"}" "include \"airtable\"; airtable_delete_response | map(.ok)" >got &&
	echo "[true,false,false]" >expect && test_cmp expect got &&
	for m in "Record not found" "Could not find table tblX in application appX"; do
		echo "{\"status\":404,\"body\":{\"error\":{\"type\":\"MODEL_ID_NOT_FOUND\",\"message\":\"$m\"}},\"records\":[{\"id\":\"recA\"}]}" |
		jq -c -L "$RX_SHARE/jq" --argjson vars "{\"merge_on\":\"Customer ID\",\"throttle_wait\":\"30\"}" "include \"airtable\"; airtable_delete_response | .action" || return 1
	done >got &&
	printf "\"ack\"\n\"auth\"\n" >expect && test_cmp expect got
'

test_expect_success 'deletes without an id: found by filterByFormula on the merge field (a quote escaped), deleted by the id found; one not found is acked, nothing sent for it' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"O'"'"'Brien\",\"hash\":\"q1\",\"row\":{\"Customer ID\":\"O'"'"'Brien\"}}]}" >quote &&
	at at <quote >acks && jq -r .id acks >idq &&
	n=$(fake_count at requests) &&
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"C2\",\"hash\":\"d2\",\"row\":{\"Customer ID\":\"C2\"}}" \
		"{\"op\":\"delete\",\"key\":\"O'"'"'Brien\",\"hash\":\"dq\",\"row\":{\"Customer ID\":\"O'"'"'Brien\"}}" \
		"{\"op\":\"delete\",\"key\":\"C9\",\"hash\":\"d9\",\"row\":{\"Customer ID\":\"C9\"}}" >nodel &&
	at at --max-records 10 <nodel >acks &&
	acked acks >got && printf "C2\nC9\nO'"'"'Brien\n" >expect && test_cmp expect got &&
	grep "\"key\":\"C2\"" acks | jq -r .id >got && test_cmp id2 got &&
	grep "\"key\":\"O'"'"'Brien\"" acks | jq -r .id >got && test_cmp idq got &&
	test "$(fake_count at requests)" = $((n + 2)) && test "$(fake_count at lookups)" = 1 &&
	grep "\"method\": \"GET\"" at.log | tail -n 1 | jq -r .path >lpath &&
	python3 -c "import sys, urllib.parse as u; q = u.parse_qs(u.urlsplit(sys.stdin.read().strip()).query); print(q[\"filterByFormula\"][0])" <lpath >formula &&
	echo "OR({Customer ID}='"'"'C2'"'"',{Customer ID}='"'"'O\\'"'"'Brien'"'"',{Customer ID}='"'"'C9'"'"')" >expect && test_cmp expect formula &&
	fake_state at | jq -c "[.records | has(\"C2\"), has(\"O'"'"'Brien\")]" >got && echo "[false,false]" >expect && test_cmp expect got
'

test_expect_success 'a 429 on a delete and on a lookup: waited out, sent again, nothing lost' '
	saas_start at4 -- --vendor airtable --token patTEST --throttle-first 1 --log at4.log &&
	echo "{\"op\":\"delete\",\"key\":\"T1\",\"hash\":\"t1\",\"id\":\"recT1\",\"row\":{\"Customer ID\":\"T1\"}}" >t1 &&
	AIRTABLE_THROTTLE_WAIT=1 at at4 --stats stats <t1 >acks &&
	test_lines 1 acks && test "$(jq .throttled stats)" = 1 &&
	jq -r .method at4.log >got && printf "DELETE\nDELETE\n" >expect && test_cmp expect got &&
	saas_start at5 -- --vendor airtable --token patTEST --throttle-first 1 --log at5.log &&
	echo "{\"op\":\"delete\",\"key\":\"T2\",\"hash\":\"t2\",\"row\":{\"Customer ID\":\"T2\"}}" >t2 &&
	AIRTABLE_THROTTLE_WAIT=1 at at5 --stats stats <t2 >acks &&
	test_lines 1 acks && test "$(jq .throttled stats)" = 1 &&
	jq -r .method at5.log >got && printf "GET\nGET\n" >expect && test_cmp expect got
'

test_expect_success 'a lookup refused for its token stops the run with exit 1, nothing deleted' '
	test_expect_code 1 env AIRTABLE_TOKEN=patWRONG AIRTABLE_API_URL=$(cat at.url) AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers \
		"AIRTABLE_MERGE_ON=Customer ID" rx-push --profile airtable-upsert <nodel >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q patWRONG err
'

test_expect_success '--test-connection lists one record of the table' '
	at at --test-connection >out 2>&1 &&
	tail -n 1 at.log | jq -r "[.method, .path] | @tsv" >got && printf "GET\t/v0/appTEST/Customers?maxRecords=1\n" >expect && test_cmp expect got
'

test_expect_success 'at the documented 5 requests a second, no 429' '
	saas_start at3 -- --vendor airtable --token patTEST --rate 5/1 &&
	for i in $(seq 1 12); do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{\"Customer ID\":\"K$i\"}}"; done >twelve &&
	at at3 --max-records 1 <twelve >acks &&
	test_lines 12 acks && test "$(fake_count at3 throttled)" = 0
'

dest_examples 40
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/airtable.jq | rows_of - | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r[\"Customer ID\"] + \"\t\" + json.dumps(r, sort_keys=True, separators=(\",\", \":\")))" | sort
}
held () {
	fake_state "$1" | jq -c ".records | to_entries[] | [.key, (.value.row | del(._id))]" |
	python3 -c "
import json, sys
for line in sys.stdin:
    k, r = json.loads(line)
    print(k + \"\t\" + json.dumps(r, sort_keys=True, separators=(\",\", \":\")))" | sort
}
saas_start page -- --vendor airtable --token patTEST --log page.log

test_expect_success 'the page command: the table holds the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try airtable-upsert >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 40 got
'

change_warehouse () {
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		UPDATE customers SET plan_id = 3 WHERE id = \"C00004\";
		DELETE FROM orders WHERE customer_id IN (\"C00005\", \"C00006\");
		DELETE FROM churn_scores WHERE customer_id IN (\"C00005\", \"C00006\");
		DELETE FROM customers WHERE id IN (\"C00005\", \"C00006\");
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")"
}

# 3 requests: an upsert of C00003 and C00004, one delete of C00005 and
# C00006 (records[] twice, by the ids their upserts' acks carried: no
# lookup), an upsert of C09999
test_expect_success 'the page command again, after changes and deletes: the table equals the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	change_warehouse &&
	n=$(fake_count page requests) &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 39 got &&
	fake_state page | jq -r ".deleted[]" | sort >got && printf "C00005\nC00006\n" >expect && test_cmp expect got &&
	test "$(fake_count page requests)" = $((n + 3)) && test "$(fake_count page lookups)" = 0 &&
	grep "\"method\": \"DELETE\"" page.log | tail -n 1 | jq -r .path | grep -o "records%5B%5D=rec" >ids &&
	test_lines 2 ids &&
	! grep -q "^{" examples/state/airtable.dead-letters.ndjson
'

test_expect_success 'a third run sends nothing' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	n=$(fake_count page requests) &&
	sh -e try.sh &&
	test "$(fake_count page requests)" = "$n"
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/airtable.jq \
| rx-diff --state kill.db --key "Customer ID" --mode mirror --profile airtable-upsert \
| rx-batch --profile airtable-upsert \
| AIRTABLE_TOKEN=patTEST AIRTABLE_API_URL=$(cat kill.url) AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers AIRTABLE_MERGE_ON="Customer ID" \
  rx-push --profile airtable-upsert --rate 50/s --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the table equal to the model' '
	rm -rf examples && dest_examples 40 &&
	saas_start kill -- --vendor airtable --token patTEST &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent:3" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got
'

test_expect_success 'changes and deletes killed after the 2nd request, then a normal run: the table equals the model' '
	change_warehouse &&
	{ bash sync.sh rx-push:sent:2; test $? != 0; } && test_grep "killed at sent:2" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got && test_lines 39 got &&
	fake_state kill | jq -r ".deleted[]" | sort -u >got && printf "C00005\nC00006\n" >expect && test_cmp expect got
'

# ---- the upserts' template against the jq program it replaced ----

mkdir ref
cat >ref/oldairtable.jq <<\EOF
def _at_merge: $vars.merge_on | split(",") | map(sub("^\\s+"; "") | sub("\\s+$"; ""));
def airtable_body:
  {performUpsert: {fieldsToMergeOn: _at_merge},
   records: [.records[] | {fields: (.row // {})}],
   typecast: ($vars.typecast == "true")};
EOF
jq '.jq = [.jq, "oldairtable"] | .ops |= with_entries(if .value.template then .value |= (del(.template) + {body: "airtable_body"}) else . end)' \
	"$RX_SHARE/destinations/airtable-upsert.json" >ref/old.json
both () { # INPUT [VAR=VALUE...]: dry runs of the shipped profile (new) and the old body (old)
	input=$1
	shift
	{ env AIRTABLE_TOKEN=patTEST AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers "AIRTABLE_MERGE_ON=Customer ID" "$@" \
		rx-push --profile airtable-upsert --url http://127.0.0.1:9 --dry-run <"$input" >new.out 2>new.err; echo $? >new.rc; } &&
	{ env AIRTABLE_TOKEN=patTEST AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers "AIRTABLE_MERGE_ON=Customer ID" "$@" \
		rx-push --profile ./ref/old.json --url http://127.0.0.1:9 --dry-run <"$input" >old.out 2>old.err; echo $? >old.rc; } &&
	test_cmp old.rc new.rc && test "$(cat new.rc)" = 0 &&
	bodies <old.out >old.bodies && bodies <new.out >new.bodies && test_cmp old.bodies new.bodies && test -s new.bodies
}

# awkward rows: members missing here and there, nulls, "", unicode and
# escapes, nested values, an empty row, a null row, no row
cat >awk.ndjson <<\EOF
{"op":"upsert","key":"C1","hash":"h","row":{"Customer ID":"C1","Email":null,"Notes":"","n":-0.5}}
{"op":"upsert","key":"C2","hash":"h","row":{"Customer ID":"Zo\u00eb \u65e5 \"q\" \\ \/ \t","Tags":["a",{"b":null}],"ok":true}}
{"op":"upsert","key":"C3","hash":"h","row":{}}
{"op":"upsert","key":"C4","hash":"h","row":null}
{"op":"upsert","key":"C5","hash":"h"}
{"op":"upsert","key":"C6","hash":"h","row":{"\u0041":1,"e":"\u0000\u001f\u007f"}}
EOF

test_expect_success 'upserts: the template makes the body airtable_body made, merge fields split and trimmed, typecast a choice' '
	both awk.ndjson && test_lines 1 new.bodies &&
	jq -c "[.performUpsert, .typecast, [.records[].fields | keys]]" new.bodies >got &&
	echo "[{\"fieldsToMergeOn\":[\"Customer ID\"]},false,[[\"Customer ID\",\"Email\",\"Notes\",\"n\"],[\"Customer ID\",\"Tags\",\"ok\"],[],[],[],[\"A\",\"e\"]]]" >expect &&
	test_cmp expect got &&
	for m in " Customer ID , Email" "a,,b" "a," "Customer ID,	Email	 "; do
		both awk.ndjson "AIRTABLE_MERGE_ON=$m" || return 1
	done &&
	for tc in true false TRUE 1 yes " true"; do
		both awk.ndjson "AIRTABLE_TYPECAST=$tc" || return 1
	done &&
	both awk.ndjson AIRTABLE_TYPECAST=true && test "$(jq .typecast new.bodies)" = true &&
	sed "s/\"op\":\"upsert\"/\"op\":\"insert\"/" awk.ndjson >ins.ndjson && both ins.ndjson &&
	sed "s/\"op\":\"upsert\"/\"op\":\"update\"/" awk.ndjson >upd.ndjson && both upd.ndjson
'

test_expect_success 'where the template differs: a number as the change wrote it' '
	echo "{\"op\":\"upsert\",\"key\":\"N\",\"hash\":\"h\",\"row\":{\"Customer ID\":\"N\",\"big\":12345678901234567890,\"f\":1.50}}" >num.ndjson &&
	env AIRTABLE_TOKEN=patTEST AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers "AIRTABLE_MERGE_ON=Customer ID" \
		rx-push --profile airtable-upsert --url http://127.0.0.1:9 --dry-run <num.ndjson >out &&
	test_grep "\"fields\":{\"Customer ID\":\"N\",\"big\":12345678901234567890,\"f\":1.50}" out
'

test_expect_success 'the usual reply read in C (success, by the merge fields): the same acks, ids and dead letters as the program' '
	wrap="airtable_response | if type == \"array\" then map(if .ok then .id = \"jq:\\(.id)\" else . end) else . end" &&
	jq --arg w "$wrap" ".response = \$w" \
		"$RX_SHARE/destinations/airtable-upsert.json" >c.json &&
	jq -e ".success.match.fields == \"{row|only:{merge_on}}\"" c.json >/dev/null &&
	jq "del(.success)" c.json >p.json &&
	cat >mix.ndjson <<-\EOF &&
	{"op":"upsert","records":[{"key":"M1","hash":"h1","row":{"Customer ID":"M1","Email":"m1@example.com"}},{"key":"M2","hash":"h2","row":{"Customer ID":"M2","Email":"m2@example.com"}}]}
	{"op":"upsert","records":[{"key":"M3","hash":"h3","row":{"Customer ID":"M3","email":"not-an-email"}},{"key":"M4","hash":"h4","row":{"Customer ID":"M4"}}]}
	{"op":"upsert","records":[{"key":"M5","hash":"h5","row":{"Customer ID":5,"Plan":"pro"}}]}
	EOF
	for x in c p; do
		saas_start "m$x" -- --vendor airtable --token patTEST &&
		{ env AIRTABLE_TOKEN=patTEST AIRTABLE_API_URL=$(cat "m$x.url") AIRTABLE_BASE_ID=appTEST AIRTABLE_TABLE=Customers \
			"AIRTABLE_MERGE_ON= Customer ID " rx-push --profile "./$x.json" --concurrency 1 <mix.ndjson >"$x.acks" 2>"$x.err"
		  echo $? >"$x.rc"; } &&
		jq -r "[.key, .id] | @tsv" "$x.acks" | sort >"$x.ids" &&
		grep -v "^rx-push:" "$x.err" | jq -c "{key, m: .error.message}" | sort >"$x.dead" || return 1
	done &&
	test "$(cat c.rc) $(cat p.rc)" = "3 3" && test_cmp c.dead p.dead && test_lines 2 c.dead &&
	sed "s/jq://" p.ids >p.plain && test_cmp p.plain c.ids && test_lines 3 c.ids &&
	! grep -q "jq:" c.ids && test "$(grep -c "jq:" p.ids)" = 3
'

test_done
