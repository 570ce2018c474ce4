#!/bin/sh
# Notion: the notion-pages profile against the fake (t/fake/fake-saas.py
# --vendor notion): a page per new record, properties typed from the
# row, the key in rx_key, acks carrying page ids; updates by that id
# (PATCH), deletes archiving it; a record without an id found by a
# database query on rx_key (a page made outside rx is updated, not
# duplicated; two pages with one key are refused); a validation_error
# dead-lettered, 429 with Retry-After, a refused token; the page's
# command twice in mirror mode, with changes and deletes (the database
# equals the model), a third run that sends nothing, and kills before a
# create and before a lookup (no page twice).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"
. "$RX_TESTS/lib-notion.sh"

cat >changes.ndjson <<'IN'
{"op":"insert","key":"C1","hash":"h1","row":{"rx_key":"C1","Name":"Ada Lovelace","Email":{"email":"ada@example.com"},"Plan":{"select":{"name":"pro"}},"LTV":1010.5,"VIP":true,"Tags":["a","b"],"Notes":null}}
{"op":"insert","key":"C2","hash":"h2","row":{"rx_key":"C2","Name":"Bo","_reject":true}}
{"op":"insert","key":"C3","hash":"h3","row":{"rx_key":"C3","City":"Zürich"}}
IN
nt () {
	nt_name=$1
	shift
	env NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat "$nt_name.url") NOTION_DATABASE_ID=d9824bdc "$@"
}

saas_start nt -- --vendor notion --token secret_TEST --log nt.log

test_expect_success 'a page per record; acks carry the page ids; a validation_error is dead-lettered' '
	test_expect_code 3 nt nt rx-push --profile notion-pages <changes.ndjson >acks 2>err &&
	cp acks acks.first &&
	acked acks >got && printf "C1\nC3\n" >expect && test_cmp expect got &&
	test_grep "\"id\":\"59833787-2cf9-4fdf-8782-e53db20768a[0-9]*\"" acks &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "validation_error: _reject is not a property that exists" err &&
	fake_records nt >got &&
	cat >expect <<-\EOF &&
	C1	{"Email":"ada@example.com","LTV":1010.5,"Name":"Ada Lovelace","Plan":{"select":{"name":"pro"}},"Tags":{"multi_select":[{"name":"a"},{"name":"b"}]},"VIP":true,"rx_key":"C1"}
	C3	{"City":"Z\u00fcrich","Name":"C3","rx_key":"C3"}
	EOF
	test_cmp expect got
'

test_expect_success 'the request: bearer, Notion-Version, the parent database' '
	head -n 1 nt.log >first &&
	test_grep "\"authorization\": \"Bearer secret_TEST\"" first &&
	test_grep "\"notion-version\": \"2022-06-28\"" first &&
	jq -r .body first | jq -c .parent >parent && echo "{\"database_id\":\"d9824bdc\"}" >expect && test_cmp expect parent
'

test_expect_success 'a text over 2,000 characters goes in pieces of 2,000' '
	awk "BEGIN { printf \"{\\\"op\\\":\\\"insert\\\",\\\"key\\\":\\\"L\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"Notes\\\":\\\"\"; for (i = 0; i < 450; i++) printf \"0123456789\"; print \"\\\"}}\" }" >long &&
	nt nt rx-push --profile notion-pages <long >acks &&
	tail -n 1 nt.log | jq -r .body | jq -c "[.properties.Notes.rich_text[].text.content | length]" >pieces &&
	echo "[2000,2000,500]" >expect && test_cmp expect pieces
'

test_expect_success '429 rate_limited with Retry-After: waited, sent again' '
	saas_start nt2 -- --vendor notion --token secret_TEST --throttle-first 1 &&
	head -n 1 changes.ndjson >one &&
	nt nt2 rx-push --profile notion-pages <one >acks &&
	test_lines 1 acks && test "$(fake_count nt2 throttled)" = 1 && test "$(fake_count nt2 violations)" = 0
'

test_expect_success '429 on an archive and on a lookup: waited, sent again' '
	saas_start nt4 -- --vendor notion --token secret_TEST --throttle-first 1 --log nt4.log &&
	echo "{\"op\":\"delete\",\"key\":\"Z1\",\"hash\":\"z\",\"id\":\"00000000-0000-4000-8000-000000000001\",\"row\":{}}" >z1 &&
	nt nt4 rx-push --profile notion-pages <z1 >acks &&
	test_lines 1 acks && test "$(fake_count nt4 throttled)" = 1 &&
	jq -r .method nt4.log >got && printf "PATCH\nPATCH\n" >expect && test_cmp expect got &&
	saas_start nt5 -- --vendor notion --token secret_TEST --throttle-first 1 --log nt5.log &&
	echo "{\"op\":\"upsert\",\"key\":\"Z2\",\"hash\":\"z\",\"row\":{\"rx_key\":\"Z2\"}}" >z2 &&
	nt nt5 rx-push --profile notion-pages <z2 >acks &&
	test_lines 1 acks && test "$(fake_count nt5 throttled)" = 1 &&
	jq -r .path nt5.log >got && printf "/v1/databases/d9824bdc/query\n/v1/databases/d9824bdc/query\n/v1/pages\n" >expect && test_cmp expect got
'

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env NOTION_TOKEN=secret_WRONG NOTION_API_URL=$(cat nt.url) NOTION_DATABASE_ID=d9824bdc \
		rx-push --profile notion-pages <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q secret_WRONG err
'

notion_api () { # METHOD PATH [BODY]: a request to the fake as any Notion client would send it
	curl -sS -X "$1" -H "Authorization: Bearer secret_TEST" -H "Notion-Version: 2022-06-28" \
		-H "Content-Type: application/json" "$(cat nt.url)$2" ${3:+--data "$3"}
}
pages () { # the fake's pages, live ones, as "rx_key<TAB>Name<TAB>page id"
	fake_state nt | jq -r '.records | to_entries[] | [.key, .value.row.Name] | @tsv' | sort
}
id_of () { grep "\"key\":\"$1\"" "$2" | jq -r .id; }

test_expect_success 'an update with the page id is a PATCH of that page: the properties it names change, no lookup, no new page' '
	id=$(id_of C1 acks.first) && test -n "$id" &&
	q=$(fake_count nt queries) && c=$(fake_count nt creates) &&
	echo "{\"op\":\"upsert\",\"key\":\"C1\",\"hash\":\"h1b\",\"id\":\"$id\",\"row\":{\"rx_key\":\"C1\",\"Name\":\"Ada King\",\"LTV\":2000}}" >upd &&
	nt nt rx-push --profile notion-pages <upd >acks &&
	test "$(id_of C1 acks)" = "$id" &&
	tail -n 1 nt.log >last && test_grep "\"method\": \"PATCH\"" last && test_grep "\"path\": \"/v1/pages/$id\"" last &&
	jq -r .body last | jq -c "[has(\"parent\"), (.properties | keys)]" >got &&
	echo "[false,[\"LTV\",\"Name\",\"rx_key\"]]" >expect && test_cmp expect got &&
	fake_state nt | jq -c ".records.C1.row | [.Name, .LTV, .Email, .VIP]" >got &&
	echo "[\"Ada King\",2000,\"ada@example.com\",true]" >expect && test_cmp expect got &&
	test "$(fake_count nt queries)" = "$q" && test "$(fake_count nt creates)" = "$c"
'

test_expect_success 'an upsert with no id: the page made outside rx is found by rx_key and updated, not duplicated' '
	notion_api POST /v1/pages "{\"parent\":{\"database_id\":\"d9824bdc\"},\"properties\":{\"Name\":{\"title\":[{\"text\":{\"content\":\"Made by hand\"}}]},\"rx_key\":{\"rich_text\":[{\"text\":{\"content\":\"C7\"}}]}}}" >seed &&
	jq -r .id seed >seed.id && test -s seed.id &&
	live=$(fake_count nt live_pages) &&
	echo "{\"op\":\"upsert\",\"key\":\"C7\",\"hash\":\"h7\",\"row\":{\"rx_key\":\"C7\",\"Name\":\"Cy Young\"}}" >c7 &&
	nt nt rx-push --profile notion-pages <c7 >acks &&
	test "$(id_of C7 acks)" = "$(cat seed.id)" &&
	test "$(fake_count nt live_pages)" = "$live" &&
	fake_state nt | jq -r ".records.C7.row.Name" >got && echo "Cy Young" >expect && test_cmp expect got &&
	grep "/query" nt.log | tail -n 1 | jq -r .body | jq -c . >q &&
	echo "{\"filter\":{\"property\":\"rx_key\",\"rich_text\":{\"equals\":\"C7\"}},\"page_size\":2}" >expect && test_cmp expect q &&
	grep "/query" nt.log | tail -n 1 | jq -r .path >qpath && echo /v1/databases/d9824bdc/query >expect && test_cmp expect qpath
'

test_expect_success 'an upsert with no id that no page holds is created; an update with no id is not found: a dead letter, nothing made' '
	live=$(fake_count nt live_pages) &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C8\",\"hash\":\"h8\",\"row\":{\"rx_key\":\"C8\",\"Name\":\"New\"}}" \
		"{\"op\":\"update\",\"key\":\"C9\",\"hash\":\"h9\",\"row\":{\"rx_key\":\"C9\",\"Name\":\"Nobody\"}}" >two &&
	test_expect_code 3 nt nt rx-push --profile notion-pages <two >acks 2>err &&
	acked acks >got && echo C8 >expect && test_cmp expect got && test -n "$(id_of C8 acks)" &&
	dead err >got && echo C9 >expect && test_cmp expect got && test_grep "not found at the destination" err &&
	test "$(fake_count nt live_pages)" = $((live + 1))
'

test_expect_success 'a key held by two pages is a dead letter naming both: which one to write is not guessed' '
	notion_api POST /v1/pages "{\"parent\":{\"database_id\":\"d9824bdc\"},\"properties\":{\"Name\":{\"title\":[{\"text\":{\"content\":\"Twin\"}}]},\"rx_key\":{\"rich_text\":[{\"text\":{\"content\":\"C8\"}}]}}}" >twin &&
	u=$(fake_count nt updates) &&
	echo "{\"op\":\"upsert\",\"key\":\"C8\",\"hash\":\"h8b\",\"row\":{\"rx_key\":\"C8\",\"Name\":\"Which\"}}" >c8 &&
	test_expect_code 3 nt nt rx-push --profile notion-pages <c8 >acks 2>err &&
	test_must_be_empty acks && test_grep "2 Notion pages hold rx_key = C8" err && test_grep "$(jq -r .id twin)" err &&
	test "$(fake_count nt updates)" = "$u" &&
	notion_api PATCH "/v1/pages/$(jq -r .id twin)" "{\"archived\":true}" >/dev/null
'

notion_partial_failure "Ada King"

test_expect_success 'a delete archives the page by its id; the archived page is no longer found, and a second delete of it is acked' '
	id=$(id_of C3 acks.first) &&
	echo "{\"op\":\"delete\",\"key\":\"C3\",\"hash\":\"h3d\",\"id\":\"$id\",\"row\":{\"rx_key\":\"C3\"}}" >del &&
	nt nt rx-push --profile notion-pages <del >acks &&
	acked acks >got && echo C3 >expect && test_cmp expect got &&
	tail -n 1 nt.log >last && test_grep "\"method\": \"PATCH\"" last && test_grep "\"path\": \"/v1/pages/$id\"" last &&
	jq -r .body last >body && echo "{\"archived\":true}" >expect && test_cmp expect body &&
	fake_state nt | jq -c "[(.records | has(\"C3\")), (.deleted | index(\"C3\") != null)]" >got && echo "[false,true]" >expect && test_cmp expect got &&
	notion_api POST /v1/databases/d9824bdc/query "{\"filter\":{\"property\":\"rx_key\",\"rich_text\":{\"equals\":\"C3\"}}}" | jq -c ".results | length" >n &&
	echo 0 >expect && test_cmp expect n &&
	nt nt rx-push --profile notion-pages <del >acks && test_lines 1 acks
'

test_expect_success 'a delete of a page Notion does not know (404) is acked as gone; one with no id that no page holds is acked, nothing archived' '
	a=$(fake_count nt archives) &&
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"X1\",\"hash\":\"x1\",\"id\":\"00000000-0000-4000-8000-000000000000\",\"row\":{}}" \
		"{\"op\":\"delete\",\"key\":\"X2\",\"hash\":\"x2\",\"row\":{\"rx_key\":\"X2\"}}" >dels &&
	nt nt rx-push --profile notion-pages <dels >acks &&
	acked acks >got && printf "X1\nX2\n" >expect && test_cmp expect got &&
	test "$(fake_count nt archives)" = "$a"
'

test_expect_success 'an update of a page archived in Notion, or unknown to it, is a dead letter with Notion'"'"'s message, never a new page' '
	live=$(fake_count nt live_pages) &&
	printf "%s\n" "{\"op\":\"update\",\"key\":\"C3\",\"hash\":\"h3e\",\"id\":\"$(id_of C3 acks.first)\",\"row\":{\"rx_key\":\"C3\"}}" \
		"{\"op\":\"upsert\",\"key\":\"X3\",\"hash\":\"x3\",\"id\":\"00000000-0000-4000-8000-000000000000\",\"row\":{\"rx_key\":\"X3\"}}" >gone &&
	test_expect_code 3 nt nt rx-push --profile notion-pages <gone >acks 2>err &&
	test_must_be_empty acks && dead err >got && printf "C3\nX3\n" >expect && test_cmp expect got &&
	test_grep "Can.t edit block that is archived" err && test_grep "object_not_found: Could not find page" err &&
	test "$(fake_count nt live_pages)" = "$live"
'

test_expect_success '--test-connection reads the database' '
	nt nt rx-push --profile notion-pages --test-connection >out 2>&1 &&
	tail -n 1 nt.log | jq -r "[.method, .path] | @tsv" >got && printf "GET\t/v1/databases/d9824bdc\n" >expect && test_cmp expect got
'

test_expect_success 'at the documented 3 requests a second, no 429' '
	saas_start nt3 -- --vendor notion --token secret_TEST --rate 3/1 &&
	for i in $(seq 1 9); do echo "{\"op\":\"insert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{}}"; done >nine &&
	nt nt3 rx-push --profile notion-pages <nine >acks &&
	test_lines 9 acks && test "$(fake_count nt3 throttled)" = 0
'

dest_examples 15
saas_start page -- --vendor notion --token secret_TEST

test_expect_success 'the page command: a page per customer' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try notion-pages >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 15 got &&
	test "$(fake_count page live_pages)" = 15
'

test_expect_success 'the page command again, after changes and deletes: the database equals the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	change_warehouse &&
	before=$(fake_count page requests) &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 14 got &&
	test "$(fake_count page live_pages)" = 14 &&
	test "$(fake_count page updates)" = 2 && test "$(fake_count page archives)" = 2 &&
	test "$(fake_count page creates)" = 16 && test "$(fake_count page queries)" = 16 &&
	test "$(fake_count page requests)" = $((before + 6)) &&
	! grep -q "^{" examples/state/notion.dead-letters.ndjson
'

test_expect_success 'a third run sends nothing' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	before=$(fake_count page requests) &&
	sh -e try.sh &&
	test "$(fake_count page requests)" = "$before"
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/notion.jq \
| rx-diff --state kill.db --key rx_key --mode mirror --profile notion-pages \
| rx-batch --profile notion-pages \
| NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat kill.url) NOTION_DATABASE_ID=d9824bdc rx-push --profile notion-pages --rate 50/s --concurrency 1 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed before its 3rd create, a normal run creates the rest: every page once' '
	rm -rf examples && dest_examples 15 &&
	saas_start kill -- --vendor notion --token secret_TEST &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill live_pages)" = 15 && test "$(fake_count kill creates)" = 15
'

test_expect_success 'changes and deletes killed before a write, then before a lookup, then a normal run: the database equals the model, every page once' '
	change_warehouse &&
	{ bash sync.sh rx-push:sent:2; test $? != 0; } && test_grep "killed at sent:2" kill.err &&
	{ bash sync.sh rx-push:lookup:1; test $? != 0; } && test_grep "killed at lookup" kill.err &&
	bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill live_pages)" = 14 && test "$(fake_count kill creates)" = 16 &&
	test "$(fake_count kill archives)" = 2 && test "$(fake_count kill updates)" = 2
'

test_done
