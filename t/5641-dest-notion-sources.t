#!/bin/sh
# Notion, Notion-Version 2025-09-03 (and 2026-03-11): the notion-pages
# profile with NOTION_VERSION and NOTION_DATA_SOURCE_ID against the fake,
# which answers each version's paths only (a database holds data
# sources; pages are created in one, {"type": "data_source_id", ...},
# and found by POST /v1/data_sources/ID/query; the database query is an
# invalid URL there).  The data source id is found as a user finds it,
# from GET /v1/databases/ID.  What t/5640 checks for 2022-06-28, again:
# creates with a validation_error dead-lettered, the request's parent
# and version, a lookup finding a page made outside rx, two updates of
# which one is refused, deletes trashing the page (in_trash), 429 with
# Retry-After on a create, an archive and a lookup, a refused token,
# kills before a create and before a lookup (no page twice); a sync
# begun with 2022-06-28 carried on with 2025-09-03 (ids kept, pages
# found, none twice); 2026-03-11, which refuses "archived"; and the
# wrong combination, 2025-09-03 without a data source id: refused when
# the profile loads, naming NOTION_DATA_SOURCE_ID, nothing sent.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"
. "$RX_TESTS/lib-notion.sh"

V=2025-09-03
notion_api () { # NAME METHOD PATH [BODY]: a request to fake NAME as a 2025-09-03 client sends it
	curl -sS -X "$2" -H "Authorization: Bearer secret_TEST" -H "Notion-Version: ${NV:-$V}" \
		-H "Content-Type: application/json" "$(cat "$1.url")$3" ${4:+--data "$4"}
}
nt () { # NAME CMD...: CMD with the profile's environment for 2025-09-03 against fake NAME
	nt_name=$1
	shift
	env NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat "$nt_name.url") NOTION_DATABASE_ID=d9824bdc \
		NOTION_VERSION=$V NOTION_DATA_SOURCE_ID=$(cat ds) "$@"
}
id_of () { grep "\"key\":\"$1\"" "$2" | jq -r .id; }

cat >changes.ndjson <<'IN'
{"op":"insert","key":"C1","hash":"h1","row":{"rx_key":"C1","Name":"Ada Lovelace","Email":{"email":"ada@example.com"},"Plan":{"select":{"name":"pro"}},"LTV":1010.5,"VIP":true,"Tags":["a","b"],"Notes":null}}
{"op":"insert","key":"C2","hash":"h2","row":{"rx_key":"C2","Name":"Bo","_reject":true}}
{"op":"insert","key":"C3","hash":"h3","row":{"rx_key":"C3","City":"Zürich"}}
IN

saas_start nt -- --vendor notion --token secret_TEST --log nt.log

test_expect_success 'the fake as Notion: 2025-09-03 lists the database'"'"'s data source; each version'"'"'s paths are invalid URLs for the other' '
	notion_api nt GET /v1/databases/d9824bdc >db &&
	jq -r ".data_sources[0].id" db >ds && grep -Eq "^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-8[0-9a-f]{3}-[0-9a-f]{12}$" ds &&
	jq -c "has(\"properties\")" db >got && echo false >expect && test_cmp expect got &&
	notion_api nt POST /v1/databases/d9824bdc/query "{}" | jq -r .code >got && echo invalid_request_url >expect && test_cmp expect got &&
	NV=2022-06-28 notion_api nt POST "/v1/data_sources/$(cat ds)/query" "{}" | jq -r .code >got && test_cmp expect got &&
	notion_api nt POST /v1/pages "{\"parent\":{\"database_id\":\"d9824bdc\"},\"properties\":{\"Name\":{\"title\":[]}}}" >r &&
	test_grep "body.parent.data_source_id should be defined" r &&
	test "$(fake_count nt creates)" = 0
'

test_expect_success 'a page per record in the data source; acks carry the page ids; a validation_error is dead-lettered' '
	test_expect_code 3 nt nt rx-push --profile notion-pages <changes.ndjson >acks 2>err &&
	cp acks acks.first &&
	acked acks >got && printf "C1\nC3\n" >expect && test_cmp expect got &&
	test_grep "\"id\":\"59833787-2cf9-4fdf-8782-e53db20768a[0-9]*\"" acks &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "validation_error: _reject is not a property that exists" err &&
	fake_state nt | jq -r ".records | keys[]" >got && printf "C1\nC3\n" >expect && test_cmp expect got
'

test_expect_success 'the request: Notion-Version 2025-09-03, the parent the data source' '
	grep "\"path\": \"/v1/pages\"" nt.log | sed -n 2p >first &&
	test_grep "\"notion-version\": \"2025-09-03\"" first &&
	jq -r .body first | jq -c .parent >parent &&
	echo "{\"type\":\"data_source_id\",\"data_source_id\":\"$(cat ds)\"}" >expect && test_cmp expect parent
'

test_expect_success 'an upsert with no id: the page made outside rx is found by the data source query and updated, not duplicated' '
	notion_api nt POST /v1/pages "{\"parent\":{\"data_source_id\":\"$(cat ds)\"},\"properties\":{\"Name\":{\"title\":[{\"text\":{\"content\":\"By hand\"}}]},\"rx_key\":{\"rich_text\":[{\"text\":{\"content\":\"C7\"}}]}}}" >seed &&
	jq -r .id seed >seed.id && test -s seed.id &&
	live=$(fake_count nt live_pages) &&
	echo "{\"op\":\"upsert\",\"key\":\"C7\",\"hash\":\"h7\",\"row\":{\"rx_key\":\"C7\",\"Name\":\"Cy Young\"}}" >c7 &&
	nt nt rx-push --profile notion-pages <c7 >acks &&
	test "$(id_of C7 acks)" = "$(cat seed.id)" && test "$(fake_count nt live_pages)" = "$live" &&
	fake_state nt | jq -r ".records.C7.row.Name" >got && echo "Cy Young" >expect && test_cmp expect got &&
	grep "/query" nt.log | tail -n 1 >q &&
	jq -r .path q >got && echo "/v1/data_sources/$(cat ds)/query" >expect && test_cmp expect got &&
	jq -r .body q | jq -c . >got &&
	echo "{\"filter\":{\"property\":\"rx_key\",\"rich_text\":{\"equals\":\"C7\"}},\"page_size\":2}" >expect && test_cmp expect got
'

notion_partial_failure "Ada Lovelace"

test_expect_success 'a delete trashes the page by its id (in_trash); it is no longer found; a second delete is acked' '
	id=$(id_of C3 acks.first) &&
	echo "{\"op\":\"delete\",\"key\":\"C3\",\"hash\":\"h3d\",\"id\":\"$id\",\"row\":{\"rx_key\":\"C3\"}}" >del &&
	nt nt rx-push --profile notion-pages <del >acks &&
	acked acks >got && echo C3 >expect && test_cmp expect got &&
	tail -n 1 nt.log >last && test_grep "\"method\": \"PATCH\"" last && test_grep "\"path\": \"/v1/pages/$id\"" last &&
	jq -r .body last >body && echo "{\"in_trash\":true}" >expect && test_cmp expect body &&
	fake_state nt | jq -c "[(.records | has(\"C3\")), (.deleted | index(\"C3\") != null)]" >got && echo "[false,true]" >expect && test_cmp expect got &&
	notion_api nt POST "/v1/data_sources/$(cat ds)/query" "{\"filter\":{\"property\":\"rx_key\",\"rich_text\":{\"equals\":\"C3\"}}}" | jq -c ".results | length" >n &&
	echo 0 >expect && test_cmp expect n &&
	nt nt rx-push --profile notion-pages <del >acks && test_lines 1 acks &&
	echo "{\"op\":\"delete\",\"key\":\"X2\",\"hash\":\"x2\",\"row\":{\"rx_key\":\"X2\"}}" >x2 &&
	a=$(fake_count nt archives) && nt nt rx-push --profile notion-pages <x2 >acks &&
	acked acks >got && echo X2 >expect && test_cmp expect got && test "$(fake_count nt archives)" = "$a"
'

test_expect_success '429 rate_limited with Retry-After on a create, an archive and a lookup: waited, sent again' '
	cp ds ds.nt &&
	saas_start nt2 -- --vendor notion --token secret_TEST --throttle-first 1 --log nt2.log &&
	head -n 1 changes.ndjson >one &&
	nt nt2 rx-push --profile notion-pages <one >acks &&
	test_lines 1 acks && test "$(fake_count nt2 throttled)" = 1 &&
	saas_start nt4 -- --vendor notion --token secret_TEST --throttle-first 1 --log nt4.log &&
	echo "{\"op\":\"delete\",\"key\":\"Z1\",\"hash\":\"z\",\"id\":\"00000000-0000-4000-8000-000000000001\",\"row\":{}}" >z1 &&
	nt nt4 rx-push --profile notion-pages <z1 >acks &&
	test_lines 1 acks && test "$(fake_count nt4 throttled)" = 1 &&
	saas_start nt5 -- --vendor notion --token secret_TEST --throttle-first 1 --log nt5.log &&
	echo "{\"op\":\"upsert\",\"key\":\"Z2\",\"hash\":\"z\",\"row\":{\"rx_key\":\"Z2\"}}" >z2 &&
	nt nt5 rx-push --profile notion-pages <z2 >acks &&
	test_lines 1 acks && test "$(fake_count nt5 throttled)" = 1 &&
	jq -r .path nt5.log >got && printf "/v1/data_sources/%s/query\n/v1/data_sources/%s/query\n/v1/pages\n" "$(cat ds)" "$(cat ds)" >expect &&
	test_cmp expect got
'

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env NOTION_TOKEN=secret_WRONG NOTION_API_URL=$(cat nt.url) NOTION_DATABASE_ID=d9824bdc \
		NOTION_VERSION=$V NOTION_DATA_SOURCE_ID=$(cat ds) rx-push --profile notion-pages <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q secret_WRONG err
'

test_expect_success '2025-09-03 without NOTION_DATA_SOURCE_ID: refused when the profile loads, naming it; nothing sent' '
	c=$(fake_count nt creates) && r=$(fake_count nt requests) &&
	test_expect_code 1 env NOTION_TOKEN=secret_TEST NOTION_DATABASE_ID=d9824bdc NOTION_VERSION=$V \
		rx-push --profile notion-pages --check-profile >out 2>err &&
	test_grep "set NOTION_DATA_SOURCE_ID (GET /v1/databases/d9824bdc lists" out &&
	echo "{\"op\":\"upsert\",\"key\":\"N1\",\"hash\":\"n\",\"row\":{\"rx_key\":\"N1\"}}" >n1 &&
	test_expect_code 1 env NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat nt.url) NOTION_DATABASE_ID=d9824bdc NOTION_VERSION=$V \
		rx-push --profile notion-pages <n1 >acks 2>err &&
	test_must_be_empty acks && test_grep "NOTION_VERSION 2025-09-03 creates and queries pages in a data source: set NOTION_DATA_SOURCE_ID" err &&
	test "$(fake_count nt creates)" = "$c" &&
	echo "{\"op\":\"insert\",\"key\":\"N2\",\"hash\":\"n\",\"row\":{\"rx_key\":\"N2\"}}" >n2 &&
	test_expect_code 1 env NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat nt.url) NOTION_DATABASE_ID=d9824bdc NOTION_VERSION=$V \
		rx-push --profile notion-pages <n2 >acks 2>err &&
	test_must_be_empty acks && test_grep "set NOTION_DATA_SOURCE_ID" err && test "$(fake_count nt creates)" = "$c" &&
	test "$(fake_count nt requests)" = "$r"
'

test_expect_success '2026-03-11 (no "archived" any more): created in the data source, trashed with in_trash' '
	saas_start nt6 -- --vendor notion --token secret_TEST --log nt6.log &&
	head -n 1 changes.ndjson >one &&
	V=2026-03-11 nt nt6 rx-push --profile notion-pages <one >acks &&
	id=$(id_of C1 acks) && test -n "$id" &&
	NV=2026-03-11 notion_api nt6 PATCH "/v1/pages/$id" "{\"archived\":true}" >r &&
	test_grep "body.archived should be not present" r && test "$(fake_count nt6 archives)" = 0 &&
	echo "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"h1d\",\"id\":\"$id\",\"row\":{}}" >d1 &&
	V=2026-03-11 nt nt6 rx-push --profile notion-pages <d1 >acks && acked acks >got && echo C1 >expect && test_cmp expect got &&
	tail -n 1 nt6.log | jq -r .body >body && echo "{\"in_trash\":true}" >expect && test_cmp expect body &&
	test "$(fake_count nt6 archives)" = 1 && test "$(fake_count nt6 live_pages)" = 0
'

test_expect_success '--test-connection reads the database' '
	nt nt rx-push --profile notion-pages --test-connection >out 2>&1 &&
	tail -n 1 nt.log | jq -r "[.method, .path, .headers[\"notion-version\"]] | @tsv" >got &&
	printf "GET\t/v1/databases/d9824bdc\t2025-09-03\n" >expect && test_cmp expect got
'

dest_examples 15
saas_start page -- --vendor notion --token secret_TEST
test_expect_success 'the page'"'"'s 2025-09-03 command: a page per customer, in the data source it finds' '
	sed -n "/^With 2025-09-03, the same against the fake/,\$p" "$RX_TOP/docs/destinations/notion-pages.md" |
	sed -n "/^.\{3\}sh\$/,/^.\{3\}\$/p" | sed "1d;\$d" >try.sh &&
	test_lines 3 try.sh && test_grep "NOTION_VERSION=2025-09-03" try.sh &&
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 15 got &&
	test "$(fake_count page creates)" = 15 &&
	notion_api page GET /v1/databases/d9824bdc84454327be8b5b47500af6ce | jq -r ".data_sources[0].id" >page.ds &&
	notion_api page POST "/v1/data_sources/$(cat page.ds)/query" "{}" | jq ".results | length" >n && echo 15 >expect && test_cmp expect n
'
rm -rf examples && dest_examples 15

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/notion.jq \
| rx-diff --state kill.db --key rx_key --mode mirror --profile notion-pages \
| rx-batch --profile notion-pages \
| NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat kill.url) NOTION_DATABASE_ID=d9824bdc NOTION_VERSION=$V NOTION_DATA_SOURCE_ID=$(cat ds) \
  rx-push --profile notion-pages --rate 50/s --concurrency 1 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed before its 3rd create, a normal run creates the rest: every page once' '
	saas_start kill -- --vendor notion --token secret_TEST &&
	{ V=$V bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	V=$V bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill live_pages)" = 15 && test "$(fake_count kill creates)" = 15
'

test_expect_success 'changes and deletes killed before a write, then before a lookup, then a normal run: the data source equals the model, every page once' '
	change_warehouse &&
	{ V=$V bash sync.sh rx-push:sent:2; test $? != 0; } && test_grep "killed at sent:2" kill.err &&
	{ V=$V bash sync.sh rx-push:lookup:1; test $? != 0; } && test_grep "killed at lookup" kill.err &&
	V=$V bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill live_pages)" = 14 && test "$(fake_count kill creates)" = 16 &&
	test "$(fake_count kill archives)" = 2 && test "$(fake_count kill updates)" = 2
'

test_expect_success 'a sync begun with 2022-06-28 carried on with 2025-09-03: the ids kept, the pages found, none twice' '
	rm -rf examples kill.db && dest_examples 15 &&
	saas_start mig -- --vendor notion --token secret_TEST --log mig.log &&
	cp mig.url kill.url &&
	V=2022-06-28 bash sync.sh &&
	test "$(fake_count mig creates)" = 15 &&
	change_warehouse &&
	V=$V bash sync.sh &&
	model >expect && held mig >got && test_cmp expect got &&
	test "$(fake_count mig live_pages)" = 14 && test "$(fake_count mig creates)" = 16 &&
	test "$(fake_count mig updates)" = 2 && test "$(fake_count mig archives)" = 2 &&
	tail -n 6 mig.log | jq -r .headers[\"notion-version\"] | sort -u >got && echo 2025-09-03 >expect && test_cmp expect got
'

test_done
