#!/bin/sh
# Elasticsearch and OpenSearch _bulk: the elasticsearch-bulk and
# opensearch-bulk profiles against the fake (t/fake/fake-saas.py --vendor
# elasticsearch): NDJSON ending in a newline, per-item results in order
# (400 dead-letters, 429 re-sends the item), a whole-request 429, a
# refused key, deletes (one already gone is done), a kill in the middle,
# a whole mirror sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

cat >changes.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"id":"C1","email":"ada@example.com","ltv":"12345678901234567890","n":0.1}},{"key":"C2","hash":"h2","row":{"id":"C2","email":"not-an-email"}},{"key":3,"hash":"h3","row":{"id":3,"name":"Zoë 李"}}]}
{"op":"delete","records":[{"key":"C9","hash":"h9","row":{"id":"C9"}}]}
IN

saas_start es -- --vendor elasticsearch --token a2V5 --log es.log
ES="env ELASTICSEARCH_URL=$(cat es.url) ELASTICSEARCH_API_KEY=a2V5 ELASTICSEARCH_INDEX=customers"

test_expect_success 'per-item results: 201s ack, a 400 item is dead-lettered, a delete of nothing is done' '
	test_expect_code 3 $ES rx-push --profile elasticsearch-bulk --concurrency 1 <changes.ndjson >acks 2>err &&
	acked acks >got && printf "3\nC1\nC9\n" >expect && test_cmp expect got &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "400 mapper_parsing_exception: failed to parse field \[email\]" err &&
	fake_records es >got &&
	cat >expect <<-\EOF &&
	customers/3	{"id":3,"name":"Zo\u00eb \u674e"}
	customers/C1	{"email":"ada@example.com","id":"C1","ltv":"12345678901234567890","n":0.1}
	EOF
	test_cmp expect got
'

test_expect_success '"errors": false acks the request only when it names every item sent' '
	reply_start short -- --status 200 --body "{\"took\":1,\"errors\":false,\"items\":[{\"index\":{\"_id\":\"C1\",\"status\":201}}]}" &&
	head -1 changes.ndjson >three &&
	test_expect_code 3 env ELASTICSEARCH_URL=$(cat short.url) ELASTICSEARCH_INDEX=customers \
		rx-push --profile elasticsearch-bulk <three >acks 2>err &&
	test_must_be_empty acks &&
	test "$(dead err | wc -l)" = 3
'

test_expect_success 'the request: NDJSON with a newline at the end, an API key, _id = the key' '
	head -n 1 es.log >first &&
	test_grep "\"content-type\": \"application/x-ndjson\"" first &&
	test_grep "\"authorization\": \"ApiKey a2V5\"" first &&
	jq -j .body first >body &&
	printf "%s\n" "{\"index\":{\"_index\":\"customers\",\"_id\":\"C1\"}}" "{\"id\":\"C1\",\"email\":\"ada@example.com\",\"ltv\":\"12345678901234567890\",\"n\":0.1}" \
		"{\"index\":{\"_index\":\"customers\",\"_id\":\"C2\"}}" "{\"id\":\"C2\",\"email\":\"not-an-email\"}" \
		"{\"index\":{\"_index\":\"customers\",\"_id\":\"3\"}}" "{\"id\":3,\"name\":\"Zoë 李\"}" >expect &&
	test_cmp expect body
'

test_expect_success 'an item refused with 429 is sent again alone; the others are not' '
	saas_start es2 -- --vendor elasticsearch --item-throttle-first 1 --log es2.log &&
	head -n 1 changes.ndjson | sed "s/not-an-email/bo@example.com/" >good &&
	ELASTICSEARCH_URL=$(cat es2.url) ELASTICSEARCH_INDEX=customers rx-push --profile elasticsearch-bulk --retry-base 10 <good >acks &&
	test_lines 3 acks && test_lines 2 es2.log &&
	sed -n 2p es2.log | jq -j .body >again &&
	printf "%s\n" "{\"index\":{\"_index\":\"customers\",\"_id\":\"C1\"}}" "{\"id\":\"C1\",\"email\":\"ada@example.com\",\"ltv\":\"12345678901234567890\",\"n\":0.1}" >expect &&
	test_cmp expect again
'

test_expect_success 'a 429 for the whole request (es_rejected_execution_exception) is waited out' '
	saas_start es3 -- --vendor elasticsearch --throttle-first 2 &&
	ELASTICSEARCH_URL=$(cat es3.url) ELASTICSEARCH_INDEX=customers rx-push --profile elasticsearch-bulk --retry-base 10 <good >acks &&
	test_lines 3 acks && test "$(fake_count es3 throttled)" = 2
'

test_expect_success 'a refused API key stops the run with exit 1; the key is never shown' '
	test_expect_code 1 env ELASTICSEARCH_URL=$(cat es.url) ELASTICSEARCH_API_KEY=d3Jvbmc= ELASTICSEARCH_INDEX=customers \
		rx-push --profile elasticsearch-bulk <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401: the destination refused the credentials" err &&
	! grep -q d3Jvbmc err
'

test_expect_success 'without ELASTICSEARCH_INDEX it says so' '
	test_expect_code 1 rx-push --profile elasticsearch-bulk <changes.ndjson 2>err &&
	test_grep "\$ELASTICSEARCH_INDEX is not set (profile elasticsearch-bulk takes vars.index from it)" err
'

test_expect_success 'opensearch-bulk: the same, with basic auth' '
	saas_start os -- --vendor elasticsearch --token admin:s3cret --log os.log &&
	test_expect_code 3 env OPENSEARCH_URL=$(cat os.url) OPENSEARCH_USER=admin OPENSEARCH_PASSWORD=s3cret OPENSEARCH_INDEX=people \
		rx-push --profile opensearch-bulk <changes.ndjson >acks 2>err &&
	acked acks >got && printf "3\nC1\nC9\n" >expect && test_cmp expect got &&
	test_grep "\"authorization\": \"Basic YWRtaW46czNjcmV0\"" os.log &&
	fake_records os | cut -f1 >got && printf "people/3\npeople/C1\n" >expect && test_cmp expect got
'

dest_examples 40
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/app.jq | rows_of - |
	jq -r "\"customers/\" + .id + \"\t\" + (. | tojson)" | python3 -c "
import json, sys
for line in sys.stdin:
    k, row = line.rstrip(\"\n\").split(\"\t\", 1)
    print(k + \"\t\" + json.dumps(json.loads(row), sort_keys=True, separators=(\",\", \":\")))" | sort
}
saas_start page -- --vendor elasticsearch --token a2V5

test_expect_success 'the page command: the index holds the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try elasticsearch-bulk >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && fake_records page >got && test_cmp expect got && test_lines 40 got
'

test_expect_success 'a second run with changes and deletes: the index is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"new.address@example.com\" WHERE id = \"C00003\";
		DELETE FROM customers WHERE id IN (\"C00004\", \"C00010\");
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")" &&
	sh -e try.sh &&
	model >expect && fake_records page >got && test_cmp expect got && test_lines 39 got
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/app.jq \
| rx-diff --state kill.db --key id --mode mirror \
| rx-batch --size 5 \
| ELASTICSEARCH_URL=$(cat kill.url) ELASTICSEARCH_INDEX=customers rx-push --profile elasticsearch-bulk --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the index equal to the model' '
	saas_start kill -- --vendor elasticsearch &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	test "$(fake_records kill | wc -l)" -lt 39 &&
	bash sync.sh && model >expect && fake_records kill >got && test_cmp expect got
'

test_done
