#!/bin/sh
# Google Sheets, a row per record: the google-sheets-rows profile against
# the fake (t/fake/fake-saas.py --vendor sheets, a grid per sheet), with a
# service account's JWT grant: new records appended after the sheet's
# last row (ids their addresses), changed ones rewritten in place in one
# values:batchUpdate, deleted ones cleared (values:batchClear), records
# without an id found by their key in column A (a lost ack never makes a
# second row), a bad cell refusing its request whole, 429, a refused key,
# kills in the middle, and the page's mirror sync twice with changes and
# deletes: the sheet equals the model.
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
		SHEETS_SHEET=Leads "$@"
}
# the sheet's rows after its header, "ROW<TAB>CELLS" (a cleared row: [])
grid () {
	fake_state "$1" | jq -r ".sheets.${2:-Leads}[1:] | to_entries[] | \"\(.key + 2)\t\(.value | tojson)\""
}
push () {
	gs "$1" rx-push --profile google-sheets-rows --rate 50/s --concurrency 1
}

cat >new.ndjson <<'IN'
{"op":"upsert","key":"C1","hash":"h1","row":{"id":"C1","email":"ada@example.com","ltv":1009.5,"vip":true,"note":null}}
{"op":"upsert","key":"C2","hash":"h2","row":{"id":"C2","email":"bo@example.com","ltv":12,"vip":false,"note":"Zoë 李"}}
{"op":"upsert","key":"C3","hash":"h3","row":{"id":"C3","email":"cy@example.com","ltv":0,"vip":false,"note":""}}
IN

gs_start gs --log gs.log

test_expect_success 'records with no row: one lookup of column A, then one append after the last row; acks carry the addresses' '
	rx-batch --size 10 <new.ndjson | push gs >acks 2>err &&
	jq -c "{key,id}" acks >got &&
	cat >expect <<-\EOF &&
	{"key":"C1","id":"Leads!A2"}
	{"key":"C2","id":"Leads!A3"}
	{"key":"C3","id":"Leads!A4"}
	EOF
	test_cmp expect got &&
	jq -r "[.method, .path] | join(\" \")" gs.log >paths &&
	cat >expect <<-\EOF &&
	GET /v4/spreadsheets/1BxiM/values/Leads!A:A?majorDimension=COLUMNS&valueRenderOption=UNFORMATTED_VALUE
	POST /v4/spreadsheets/1BxiM/values/Leads:append?valueInputOption=RAW&insertDataOption=OVERWRITE
	EOF
	test_cmp expect paths &&
	grid gs >got &&
	cat >expect <<-\EOF &&
	2	["C1","ada@example.com",1009.5,true,""]
	3	["C2","bo@example.com",12,false,"Zoë 李"]
	4	["C3","cy@example.com",0,false,""]
	EOF
	test_cmp expect got
'

test_expect_success 'changed records with ids: every row rewritten in place by one values:batchUpdate' '
	jq -c "select(.key != \"C3\")" acks | while read -r a; do
		echo "$a" | jq -c "{op:\"upsert\",key,hash:\"x\",id,row:{id:.key,email:\"moved@example.com\",ltv:1,vip:true,note:null}}"
	done >changed &&
	: >gs.log &&
	rx-batch --size 10 <changed | push gs >acks2 2>err &&
	jq -c "{key,id}" acks2 >got &&
	printf "%s\n" "{\"key\":\"C1\",\"id\":\"Leads!A2\"}" "{\"key\":\"C2\",\"id\":\"Leads!A3\"}" >expect && test_cmp expect got &&
	test_lines 1 gs.log && jq -r .path gs.log >path &&
	echo /v4/spreadsheets/1BxiM/values:batchUpdate >expect && test_cmp expect path &&
	jq -c ".body | fromjson" gs.log >body &&
	echo "{\"valueInputOption\":\"RAW\",\"data\":[{\"range\":\"Leads!2:2\",\"values\":[[\"C1\",\"moved@example.com\",1,true,\"\"]]},{\"range\":\"Leads!3:3\",\"values\":[[\"C2\",\"moved@example.com\",1,true,\"\"]]}]}" >expect &&
	test_cmp expect body &&
	grid gs >got &&
	cat >expect <<-\EOF &&
	2	["C1","moved@example.com",1,true,""]
	3	["C2","moved@example.com",1,true,""]
	4	["C3","cy@example.com",0,false,""]
	EOF
	test_cmp expect got
'

test_expect_success 'a delete clears its row (values:batchClear), it does not remove it: no row moves; the next append goes after the last row' '
	echo "{\"op\":\"delete\",\"key\":\"C2\",\"hash\":\"x\",\"id\":\"Leads!A3\",\"row\":{\"id\":\"C2\"}}" >del &&
	: >gs.log &&
	push gs <del >acks3 2>err && acked acks3 >got && echo C2 >expect && test_cmp expect got &&
	jq -c "[.path, (.body | fromjson)]" gs.log >got &&
	echo "[\"/v4/spreadsheets/1BxiM/values:batchClear\",{\"ranges\":[\"Leads!3:3\"]}]" >expect && test_cmp expect got &&
	echo "{\"op\":\"upsert\",\"key\":\"C4\",\"hash\":\"h4\",\"row\":{\"id\":\"C4\",\"email\":\"di@example.com\"}}" >c4 &&
	push gs <c4 >acks4 2>err && jq -r .id acks4 >got && echo "Leads!A5" >expect && test_cmp expect got &&
	grid gs >got &&
	cat >expect <<-\EOF &&
	2	["C1","moved@example.com",1,true,""]
	3	[]
	4	["C3","cy@example.com",0,false,""]
	5	["C4","di@example.com"]
	EOF
	test_cmp expect got &&
	push gs <del >acks5 2>err && acked acks5 >got && echo C2 >expect && test_cmp expect got
'

test_expect_success 'a column empty in every row, no header above it: Sheets appends right of it (its table detection); rx dead-letters those rows naming where they went, never acks them; with a header naming every column they go from column A' '
	gs_start gsc &&
	echo "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"k1\",\"row\":{\"id\":\"K1\",\"notes\":null,\"plan\":\"pro\"}}" >k1 &&
	echo "{\"op\":\"upsert\",\"key\":\"K2\",\"hash\":\"k2\",\"row\":{\"id\":\"K2\",\"notes\":null,\"plan\":\"free\"}}" >k2 &&
	push gsc <k1 >acks 2>err && jq -r .id acks >got && echo "Leads!A2" >expect && test_cmp expect got &&
	test_expect_code 3 push gsc <k2 >acks 2>dl &&
	test_must_be_empty acks && dead dl >got && echo K2 >expect && test_cmp expect got &&
	test_grep "appended these rows at Leads!C3:E3, not from column A" dl &&
	grid gsc >got &&
	printf "2\t[\"K1\",\"\",\"pro\"]\n3\t[\"\",\"\",\"K2\",\"\",\"free\"]\n" >expect && test_cmp expect got &&
	echo "{\"op\":\"update\",\"key\":\"header\",\"hash\":\"h\",\"id\":\"Leads!A1\",\"row\":{\"a\":\"id\",\"b\":\"notes\",\"c\":\"plan\"}}" >header &&
	echo "{\"op\":\"delete\",\"key\":\"stray\",\"hash\":\"s\",\"id\":\"Leads!A3\",\"row\":{\"id\":\"\"}}" >stray &&
	cat header stray | push gsc >acks 2>err && test_lines 2 acks &&
	grep "^{" dl | push gsc >acks 2>err && jq -r .id acks >got && echo "Leads!A3" >expect && test_cmp expect got &&
	grid gsc >got &&
	printf "2\t[\"K1\",\"\",\"pro\"]\n3\t[\"K2\",\"\",\"free\"]\n" >expect && test_cmp expect got
'

test_expect_success 'records with no id are found by their key in column A: rewritten, deleted, never a second row' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C3\",\"hash\":\"y\",\"row\":{\"id\":\"C3\",\"email\":\"found@example.com\"}}" \
		"{\"op\":\"delete\",\"key\":\"C4\",\"hash\":\"y\",\"row\":{\"id\":\"C4\"}}" \
		"{\"op\":\"delete\",\"key\":\"C9\",\"hash\":\"y\",\"row\":{\"id\":\"C9\"}}" \
		"{\"op\":\"update\",\"key\":\"C8\",\"hash\":\"y\",\"row\":{\"id\":\"C8\"}}" >nid &&
	test_expect_code 3 push gs <nid >acks6 2>err &&
	jq -c "{key,op,id}" acks6 | sort >got &&
	cat >expect <<-\EOF &&
	{"key":"C3","op":"upsert","id":"Leads!A4"}
	{"key":"C4","op":"delete","id":"Leads!A5"}
	{"key":"C9","op":"delete","id":null}
	EOF
	test_cmp expect got &&
	dead err >got && echo C8 >expect && test_cmp expect got && test_grep "not found at the destination" err &&
	grid gs >got &&
	cat >expect <<-\EOF &&
	2	["C1","moved@example.com",1,true,""]
	3	[]
	4	["C3","found@example.com",0,false,""]
	5	[]
	EOF
	test_cmp expect got &&
	test "$(fake_state gs | jq .duplicates)" = 0
'

test_expect_success 'a key two rows hold is a dead letter naming both rows, nothing written' '
	gs_start dup &&
	printf "%s\n" "{\"op\":\"insert\",\"records\":[{\"key\":\"D1\",\"hash\":\"h\",\"row\":{\"id\":\"D1\"}},{\"key\":\"D1b\",\"hash\":\"h\",\"row\":{\"id\":\"D1\"}}]}" >twice &&
	push dup <twice >/dev/null 2>&1 &&
	n=$(fake_count dup requests) &&
	echo "{\"op\":\"upsert\",\"key\":\"D1\",\"hash\":\"h2\",\"row\":{\"id\":\"D1\",\"x\":1}}" >d1 &&
	test_expect_code 3 push dup <d1 >acks 2>err && test_must_be_empty acks &&
	test_grep "2 rows of Leads hold D1 in column A (rows 2, 3)" err &&
	test "$(fake_count dup requests)" = $((n + 1))
'

test_expect_success 'a bad cell refuses its whole request (atomic): every record of the batch dead-lettered, no row changed' '
	grid gs >before &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C1\",\"hash\":\"z\",\"id\":\"Leads!A2\",\"row\":{\"id\":\"C1\",\"email\":\"ok@example.com\"}}" \
		"{\"op\":\"upsert\",\"key\":\"C3\",\"hash\":\"z\",\"id\":\"Leads!A4\",\"row\":{\"id\":\"C3\",\"email\":\"not-an-email\"}}" >bad &&
	test_expect_code 3 sh -c "rx-batch --size 10 <bad | GOOGLE_APPLICATION_CREDENTIALS=$PWD/gs.json SHEETS_API_URL=$(cat gs.url) SHEETS_SPREADSHEET_ID=1BxiM SHEETS_SHEET=Leads rx-push --profile google-sheets-rows" >acks 2>err &&
	test_must_be_empty acks && dead err >got && printf "C1\nC3\n" >expect && test_cmp expect got &&
	test_grep "Invalid data\[1\].values\[0\]\[1\]" err &&
	grid gs >after && test_cmp before after
'

test_expect_success 'an id that is not a row address is a dead letter, never a write elsewhere' '
	echo "{\"op\":\"upsert\",\"key\":\"C1\",\"hash\":\"w\",\"id\":\"rec123\",\"row\":{\"id\":\"C1\"}}" >odd &&
	n=$(fake_count gs requests) &&
	test_expect_code 3 push gs <odd >acks 2>err && test_must_be_empty acks &&
	test_grep "not a row address: rec123" err && test "$(fake_count gs requests)" = "$n"
'

test_expect_success 'a 429 (the minute quota) backs off and writes once' '
	gs_start gs2 --throttle-first 1 &&
	push gs2 <new.ndjson >acks 2>err &&
	test_lines 3 acks && test "$(fake_count gs2 throttled)" = 1 &&
	test "$(grid gs2 | wc -l)" = 3
'

test_expect_success 'a key file the token endpoint refuses: exit 1 at start, nothing sent' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	python3 -c "import json; d = json.load(open(\"gs.json\")); d[\"private_key\"] = open(\"other.pem\").read(); print(json.dumps(d))" >bad.json &&
	n=$(fake_count gs requests) &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/bad.json SHEETS_API_URL=$(cat gs.url) SHEETS_SPREADSHEET_ID=1BxiM \
		rx-push --profile google-sheets-rows <new.ndjson >acks 2>err &&
	test_grep "oauth2 token request: HTTP 400" err && test_must_be_empty acks &&
	test "$(fake_count gs requests)" = "$n"
'

test_expect_success 'a spreadsheet not shared with the account (403): exit 1, nothing dead-lettered, the permission named' '
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/gs.json SHEETS_API_URL=$(cat gs.url) SHEETS_SPREADSHEET_ID=not-shared \
		rx-push --profile google-sheets-rows <new.ndjson >acks 2>err &&
	test_must_be_empty acks && ! grep -q "^{" err &&
	test_grep "The caller does not have permission" err &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/gs.json SHEETS_API_URL=$(cat gs.url) SHEETS_SPREADSHEET_ID=not-shared \
		rx-push --profile google-sheets-rows --test-connection >out 2>&1
'

test_expect_success '--test-connection reads the spreadsheet with the account'"'"'s token' '
	gs gs rx-push --profile google-sheets-rows --test-connection >out 2>&1
'

# The example sync, as a user runs it, on a small warehouse.
dest_examples 40
# the model as the sheet holds it: each row's cells, sorted
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/sheet-row.jq | rows_of - | jq -c "[.[] | if . == null then \"\" else . end]" | sort
}
sheet () {
	fake_state "$1" | jq -c ".sheets.Customers[1:][] | select(length > 0)" | sort
}
gs_start page
cp page.json sa.json

test_expect_success 'the page command: one row per customer' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try google-sheets-rows >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && sheet page >got && test_cmp expect got && test_lines 40 got
'

test_expect_success 'a second run with changes and deletes: rows rewritten in place, cleared, appended; the sheet equals the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	fake_state page | jq -r ".records.C00005.at" >c5-before &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		UPDATE customers SET country = \"NZ\" WHERE id = \"C00005\";
		DELETE FROM customers WHERE id = \"C00004\";
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")" &&
	sh -e try.sh &&
	model >expect && sheet page >got && test_cmp expect got &&
	! grep -q "^{" examples/state/sheets-rows.dead-letters.ndjson &&
	fake_state page | jq -r ".records.C00005.at" >c5-after && test_cmp c5-before c5-after &&
	test "$(fake_state page | jq "[.sheets.Customers[] | select(length == 0)] | length")" = 1 &&
	test "$(fake_state page | jq .duplicates)" = 0 &&
	n=$(fake_count page requests) &&
	sh -e try.sh && test "$(fake_count page requests)" = "$n"
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/sheet-row.jq \
| rx-diff --state kill.db --key id --mode mirror --max-delete-ratio 1 \
| rx-batch --size 5 \
| GOOGLE_APPLICATION_CREDENTIALS=$PWD/kill.json SHEETS_API_URL=$(cat kill.url) SHEETS_SPREADSHEET_ID=1BxiM SHEETS_SHEET=Customers \
  rx-push --profile google-sheets-rows --rate 50/s --concurrency 1 2>>kill.err \
| rx-diff --state kill.db --commit
SH

# sent:N kills before the Nth write leaves (lookup:N, the Nth lookup),
# replied:N after the Nth reply came (the rows applied, never acked: the
# next run finds them by the lookup).  The 8 batches' lookups go first,
# then their appends: replied:9 is the first append's, replied:12 the
# fourth's.
for at in rx-push:sent:2 rx-push:replied:9 rx-push:replied:12 rx-push:lookup:3; do
	test_expect_success "killed at $at, a normal run finishes: each key in one row, the sheet equals the model" '
		rm -f kill.db* && gs_start kill &&
		{ bash sync.sh $at; test $? != 0; } && test_grep "killed at" kill.err &&
		bash sync.sh &&
		model >expect && sheet kill >got && test_cmp expect got &&
		test "$(fake_state kill | jq .duplicates)" = 0 &&
		sqlite3 examples/warehouse.db "UPDATE customers SET country = \"NZ\" WHERE id IN (\"C00010\", \"C00011\"); DELETE FROM customers WHERE id = \"C00012\"" &&
		bash sync.sh &&
		model >expect && sheet kill >got && test_cmp expect got &&
		test "$(fake_state kill | jq .duplicates)" = 0
	'
done

test_expect_success 'a rewrite'"'"'s reply: every range its record'"'"'s acks the request; one naming another row fails its record only' '
	reply () { # RANGE1 RANGE2: the reply program on a reply for the rows 2 and 3
		jq -c -L "$RX_SHARE/jq" --arg a "$1" --arg b "$2" "include \"sheets\";
			{status: 200, body: {responses: [{updatedRange: \$a}, {updatedRange: \$b}]},
			 records: [{key: \"C1\", id: \"Leads!A2\"}, {key: \"C2\", id: \"Leads!A3\"}]} | sheets_rows_update_response" -n
	} &&
	reply "Leads!A2:E2" "Leads!A3" >got &&
	echo "{\"action\":\"ack\"}" >expect && test_cmp expect got &&
	reply "Leads!A2:E2" "Leads!A9:E9" >got &&
	echo "[{\"ok\":true,\"id\":\"Leads!A2\"},{\"ok\":false,\"message\":\"Sheets wrote Leads!A9:E9 for the row Leads!A3\"}]" >expect &&
	test_cmp expect got &&
	jq -c -L "$RX_SHARE/jq" "include \"sheets\"; {status: 200, body: {responses: [{}, {updatedRange: \"Leads!A3:E3\"}]},
		records: [{key: \"C1\", id: \"Leads!A2\"}, {key: \"C2\", id: \"Leads!A3\"}]} | sheets_rows_update_response" -n >got &&
	echo "[{\"ok\":false,\"message\":\"Sheets wrote nothing for the row Leads!A2\"},{\"ok\":true,\"id\":\"Leads!A3\"}]" >expect &&
	test_cmp expect got &&
	reply "Leads!A3:E3" "Leads!A2:E2" >got &&
	echo "[{\"ok\":false,\"message\":\"Sheets wrote Leads!A3:E3 for the row Leads!A2\"},{\"ok\":false,\"message\":\"Sheets wrote Leads!A2:E2 for the row Leads!A3\"}]" >expect &&
	test_cmp expect got
'

# ---- the rewrites' and clears' templates against their jq programs (before templates) ----

mkdir ref
cat >ref/oldsheets.jq <<\EOF
def _sheets_row_range:
  (tostring | split("!A")) as $p
  | (if ($p | length) < 2 or $p[0] == "" then null else try ($p[-1] | tonumber) catch null end) as $n
  | if $n == null or $n < 1 or ($n | tostring) != $p[-1] then error("not a row address: \(tostring)")
    else "\(if ($p | length) == 2 then $p[0] else $p[:-1] | join("!A") end)!\($p[-1]):\($p[-1])" end;
def sheets_rows_update_body:
  {valueInputOption: $vars.value_input,
   data: [.records[] | {range: (.id | _sheets_row_range),
                        values: [[(.row // {})[] | if type == "object" or type == "array" then tojson
                                                   elif . == null then "" else . end]]}]};
def sheets_rows_clear_body: {ranges: [.records[] | .id | _sheets_row_range]};
EOF
# the shipped profile with the rewrites' and clears' templates replaced by the old body programs
jq '.jq = [.jq, "oldsheets"] | .ops.upsert |= (del(.template) + {body: "sheets_rows_update_body"})
    | .ops.update |= (del(.template) + {body: "sheets_rows_update_body"})
    | .ops.delete |= (del(.template) + {body: "sheets_rows_clear_body"})' \
	"$RX_SHARE/destinations/google-sheets-rows.json" >ref/old.json
both () { # INPUT [VAR=VALUE]: the dry runs of the shipped profile (new) and the old bodies (old)
	input=$1
	shift
	{ gs gs env "$@" rx-push --profile google-sheets-rows --dry-run <"$input" >new.out 2>new.err; echo $? >new.rc; } &&
	{ gs gs env "$@" rx-push --profile ./ref/old.json --dry-run <"$input" >old.out 2>old.err; echo $? >old.rc; } &&
	test_cmp old.rc new.rc &&
	bodies <old.out >old.bodies && bodies <new.out >new.bodies && test_cmp old.bodies new.bodies &&
	grep "^{" old.err | jq -c "[.key, .error.message]" >old.dead &&
	grep "^{" new.err | jq -c "[.key, .error.message]" >new.dead && test_cmp old.dead new.dead
}

# awkward rows (members missing here and there, nulls, "", unicode and
# escapes, an object and an array, no row, an empty row) at awkward
# addresses (a quoted sheet with a space, "!A" inside a sheet's name, an
# escape in the id, unicode)
cat >awk.ndjson <<\EOF
{"op":"upsert","key":"C1","hash":"h","id":"Leads!A2","row":{"id":"C1","email":"a@x","n":1009.5,"vip":true,"note":null}}
{"op":"upsert","key":"C2","hash":"h","id":"'Open tickets'!A17","row":{"id":"C2","note":"Zo\u00eb \u65e5 \"q\" \\ \/ \t","n":-0.25}}
{"op":"upsert","key":"C3","hash":"h","id":"a!Ab!A3","row":{"id":"C3","email":"","obj":{"a":[1,null,"x"]},"arr":[true,{}]}}
{"op":"upsert","key":"C4","hash":"h","id":"Leads!\u00415","row":{}}
{"op":"upsert","key":"C5","hash":"h","id":"Zo\u00eb \u674e!A1234567","row":null}
{"op":"upsert","key":"C6","hash":"h","id":" sp !A999999999999999"}
{"op":"upsert","key":"C7","hash":"h","id":"x!A!A8","row":{"false":false,"zero":0,"empty":"","e":"\u0000\u001f"}}
EOF

test_expect_success 'rewrites and clears: the templates make the bodies the jq programs made, on awkward rows and addresses' '
	both awk.ndjson && test_lines 1 new.bodies && test_must_be_empty new.dead &&
	jq -c "[.data[].range]" new.bodies >got &&
	echo "[\"Leads!2:2\",\"'"'"'Open tickets'"'"'!17:17\",\"a!Ab!3:3\",\"Leads!5:5\",\"Zoë 李!1234567:1234567\",\" sp !999999999999999:999999999999999\",\"x!A!8:8\"]" >expect &&
	test_cmp expect got &&
	both awk.ndjson SHEETS_VALUE_INPUT=USER_ENTERED && test_grep "\"valueInputOption\":\"USER_ENTERED\"" new.bodies &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" awk.ndjson >awk-del.ndjson &&
	both awk-del.ndjson && test_grep "batchClear" new.out && test_lines 1 new.bodies &&
	sed "s/\"op\":\"upsert\"/\"op\":\"update\"/" awk.ndjson >awk-upd.ndjson && both awk-upd.ndjson
'

# one record refused by the template: the other's body is the old
# program's for it alone, and the refused one is dead-lettered
refused_alone () { # INPUT (records G, kept, and B, refused)
	grep "\"key\":\"G\"" "$1" >kept.ndjson &&
	{ gs gs rx-push --profile google-sheets-rows --dry-run <"$1" >new.out 2>new.err; echo $? >new.rc; } &&
	gs gs rx-push --profile ./ref/old.json --dry-run <kept.ndjson >old.out &&
	bodies <old.out >old.bodies && bodies <new.out >new.bodies && test_cmp old.bodies new.bodies &&
	test -s new.bodies && test "$(cat new.rc)" = 3 &&
	grep "^{" new.err | jq -c "[.key, .error.message]" >new.dead
}

test_expect_success 'ids that are not an address of column A: refused alone (the jq program refused the request), the id named' '
	for id in "\"rec123\"" "\"Leads!A0\"" "\"Leads!A02\"" "\"!A5\"" "\"!Ax!A5\"" "\"Leads!B5\"" "\"Leads!A\"" "\"Leads!A5x\"" \
		"\"Leads!A-5\"" "\"Leads!A1e1\"" "\"Leads!A5 \"" "\"Leads!A 5\"" "\"Leads!A5\\n\"" "\"\"" "17" "{\"a\":1}" "[\"Leads!A2\"]"; do
		printf "%s\n" "{\"op\":\"upsert\",\"key\":\"G\",\"hash\":\"h\",\"id\":\"Leads!A2\",\"row\":{\"id\":\"G\"}}" \
			"{\"op\":\"upsert\",\"key\":\"B\",\"hash\":\"h\",\"id\":$id,\"row\":{\"id\":\"B\"}}" >bad.ndjson &&
		refused_alone bad.ndjson && test_lines 1 new.dead && test_grep "^\[\"B\",\"not a row address: " new.dead &&
		sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/" bad.ndjson >bad-del.ndjson && refused_alone bad-del.ndjson ||
		{ echo "at the id $id"; return 1; }
	done &&
	jq -r ".[1]" new.dead | sort -u >got && echo "not a row address: [\"Leads!A2\"]" >expect && test_cmp expect got
'

test_expect_success 'where the templates differ: numbers and an object cell'"'"'s text as the change wrote them; no row number but an integer of at most 15 digits' '
	echo "{\"op\":\"upsert\",\"key\":\"N\",\"hash\":\"h\",\"id\":\"Leads!A2\",\"row\":{\"big\":12345678901234567890,\"f\":1.50,\"o\":{\"a\":\"\\u00e9\"}}}" >num.ndjson &&
	gs gs rx-push --profile google-sheets-rows --dry-run <num.ndjson >out &&
	test_grep "\"values\":\[\[12345678901234567890,1.50,\"{\\\\\"a\\\\\":\\\\\"\\\\\\\\u00e9\\\\\"}\"\]\]" out &&
	for id in Leads!A1.5 Leads!A1e+20 Leads!A1234567890123456; do
		echo "{\"op\":\"upsert\",\"key\":\"D\",\"hash\":\"h\",\"id\":\"$id\",\"row\":{\"id\":\"D\"}}" >d.ndjson &&
		gs gs rx-push --profile ./ref/old.json --dry-run <d.ndjson >old.out &&
		test_expect_code 3 gs gs rx-push --profile google-sheets-rows --dry-run <d.ndjson >new.out 2>err &&
		test_must_be_empty new.out && test_grep "not a row address: $id" err || return 1
	done
'

test_done
