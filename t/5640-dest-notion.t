#!/bin/sh
# Notion: the notion-pages profile against the fake (t/fake/fake-saas.py
# --vendor notion): a page per inserted record, properties typed from the
# row, the key in rx_key, acks carrying page ids, a validation_error
# dead-lettered, 429 with Retry-After, a refused token, updates and
# deletes not offered, a kill before a send (no page twice), the insert
# sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

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

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env NOTION_TOKEN=secret_WRONG NOTION_API_URL=$(cat nt.url) NOTION_DATABASE_ID=d9824bdc \
		rx-push --profile notion-pages <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q secret_WRONG err
'

test_expect_success 'updates and deletes are not offered (they need the page id): dead-lettered, nothing sent' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C1\",\"hash\":\"x\",\"row\":{}}" "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"x\",\"row\":{}}" >other &&
	n=$(fake_count nt requests) &&
	test_expect_code 3 nt nt rx-push --profile notion-pages <other >acks 2>err &&
	test_grep "has no op \\\\\"upsert\\\\\"" err && test_grep "has no op \\\\\"delete\\\\\"" err &&
	test "$(fake_count nt requests)" = "$n"
'

test_expect_success 'at the documented 3 requests a second, no 429' '
	saas_start nt3 -- --vendor notion --token secret_TEST --rate 3/1 &&
	for i in $(seq 1 9); do echo "{\"op\":\"insert\",\"key\":\"K$i\",\"hash\":\"h\",\"row\":{}}"; done >nine &&
	nt nt3 rx-push --profile notion-pages <nine >acks &&
	test_lines 9 acks && test "$(fake_count nt3 throttled)" = 0
'

dest_examples 15
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/notion.jq | rows_of - |
	jq -r "[.rx_key, .Name, .Email.email, .Plan.select.name] | @tsv" | sort
}
held () {
	fake_state "$1" | jq -r ".records | to_entries[] | .value.row | [.rx_key, .Name, .Email, .Plan.select.name] | @tsv" | sort
}
saas_start page -- --vendor notion --token secret_TEST

test_expect_success 'the page command: a page per customer' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try notion-pages >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test_lines 15 got
'

test_expect_success 'a second run in insert mode: the new customer gets a page, nothing else changes' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	held page >before &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")" &&
	sh -e try.sh &&
	{ cat before; model | grep C09999; } | sort >expect && held page >got && test_cmp expect got &&
	test "$(fake_count page requests)" = 16
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/notion.jq \
| rx-diff --state kill.db --key rx_key --mode insert \
| rx-batch --profile notion-pages \
| NOTION_TOKEN=secret_TEST NOTION_API_URL=$(cat kill.url) NOTION_DATABASE_ID=d9824bdc rx-push --profile notion-pages --rate 50/s --concurrency 1 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed before its 3rd request, a normal run creates the rest: every page once' '
	saas_start kill -- --vendor notion --token secret_TEST &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill accepted)" = 16
'

test_done
