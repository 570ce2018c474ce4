#!/bin/sh
# Google Sheets values:append: the google-sheets-append profile against
# the fake (t/fake/fake-saas.py --vendor sheets), with a service
# account's JWT grant: rows as the mapping orders them, acks carrying
# each row's address, an atomic request refused whole, 429, deletes not
# offered, a kill before a send (no row twice), the insert-mode sync
# twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

google_key || exit 1
gs_start () {
	gs_name=$1
	shift
	saas_start "$gs_name" -- --vendor sheets --google-key sa.pub --google-iss rx@proj.iam.gserviceaccount.com "$@" &&
	google_service_account "$gs_name" "$gs_name.json"
}
gs () {
	name=$1
	shift
	env GOOGLE_APPLICATION_CREDENTIALS=$PWD/$name.json SHEETS_API_URL=$(cat $name.url) SHEETS_SPREADSHEET_ID=1BxiM \
		SHEETS_RANGE="Leads!A1" "$@"
}

cat >rows.ndjson <<'IN'
{"op":"insert","records":[{"key":"C1","hash":"h1","row":{"id":"C1","email":"ada@example.com","ltv":1009.5,"vip":true,"note":null,"tags":["a"]}},{"key":"C2","hash":"h2","row":{"id":"C2","email":"bo@example.com","name":"Zoë 李"}}]}
{"op":"insert","records":[{"key":"C3","hash":"h3","row":{"id":"C3","email":"not-an-email"}},{"key":"C4","hash":"h4","row":{"id":"C4","email":"di@example.com"}}]}
IN

gs_start gs --log gs.log

test_expect_success 'rows in the mapping'"'"'s order; acks carry each row'"'"'s address; a bad row fails its request whole' '
	test_expect_code 3 gs gs rx-push --profile google-sheets-append --concurrency 1 <rows.ndjson >acks 2>err &&
	cat >expect <<-\EOF &&
	{"key":"C1","hash":"h1","op":"insert","id":"Leads!A2"}
	{"key":"C2","hash":"h2","op":"insert","id":"Leads!A3"}
	EOF
	test_cmp expect acks &&
	dead err >got && printf "C3\nC4\n" >expect && test_cmp expect got &&
	test_grep "Invalid values\[0\]\[1\]" err &&
	fake_state gs | jq -c ".messages[]" >got &&
	cat >expect <<-\EOF &&
	["C1","ada@example.com",1009.5,true,"","[\"a\"]"]
	["C2","bo@example.com","Zoë 李"]
	EOF
	test_cmp expect got &&
	grep ":append" gs.log | head -n 1 | jq -r .path >path &&
	echo "/v4/spreadsheets/1BxiM/values/Leads%21A1:append?valueInputOption=RAW&insertDataOption=INSERT_ROWS" >expect &&
	test_cmp expect path
'

test_expect_success 'update and delete are not offered: dead-lettered, nothing sent' '
	echo "{\"op\":\"delete\",\"records\":[{\"key\":\"C1\",\"hash\":\"h1\",\"row\":{\"id\":\"C1\"}}]}" >del &&
	n=$(fake_count gs requests) &&
	test_expect_code 3 gs gs rx-push --profile google-sheets-append <del >acks 2>err &&
	test_grep "profile google-sheets-append has no op \\\\\"delete\\\\\"" err &&
	test "$(fake_count gs requests)" = "$n"
'

test_expect_success 'a 429 (the minute quota) backs off and appends once' '
	gs_start gs2 --throttle-first 1 &&
	head -n 1 rows.ndjson >two &&
	gs gs2 rx-push --profile google-sheets-append --retry-base 10 <two >acks &&
	test_lines 2 acks && test "$(fake_count gs2 throttled)" = 1 &&
	test "$(fake_state gs2 | jq ".messages | length")" = 2
'

test_expect_success 'a key file the token endpoint refuses: exit 1 at start, nothing sent' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	python3 -c "import json; d = json.load(open(\"gs.json\")); d[\"private_key\"] = open(\"other.pem\").read(); print(json.dumps(d))" >bad.json &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/bad.json SHEETS_API_URL=$(cat gs.url) SHEETS_SPREADSHEET_ID=1BxiM \
		rx-push --profile google-sheets-append <two >acks 2>err &&
	test_grep "oauth2 token request: HTTP 400" err
'

dest_examples 40
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/sheet-row.jq | rows_of - | jq -c "[.[] | if . == null then \"\" else . end]"
}
sheet () {
	fake_state "$1" | jq -c ".messages[]"
}
gs_start page
cp page.json sa.json

test_expect_success 'the page command: one row per customer, in the model'"'"'s order' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try google-sheets-append >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && sheet page >got && test_cmp expect got && test_lines 40 got
'

test_expect_success 'a second run in insert mode: new customers appended, nothing else' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sheet page >before &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		DELETE FROM customers WHERE id = \"C00004\";
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")" &&
	sh -e try.sh &&
	{ cat before; model | grep C09999; } >expect && sheet page >got && test_cmp expect got
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/sheet-row.jq \
| rx-diff --state kill.db --key id --mode insert \
| rx-batch --size 5 \
| GOOGLE_APPLICATION_CREDENTIALS=$PWD/kill.json SHEETS_API_URL=$(cat kill.url) SHEETS_SPREADSHEET_ID=1BxiM \
  rx-push --profile google-sheets-append --rate 50/s --concurrency 1 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed before its 3rd request, a normal run appends the rest: every row once' '
	gs_start kill &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh &&
	model | sort >expect && sheet kill | sort >got && test_cmp expect got
'

test_done
