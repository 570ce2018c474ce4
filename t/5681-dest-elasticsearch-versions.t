#!/bin/sh
# Elasticsearch and OpenSearch external versioning: with
# ELASTICSEARCH_VERSION_COLUMN (OPENSEARCH_VERSION_COLUMN) the index
# action carries the row's version and "version_type": "external", and
# the fake (t/fake/fake-saas.py --vendor elasticsearch) writes only above
# the version it holds; a 409 version conflict is acked (the document is
# already that new), a row without its version is refused, deletes carry
# none, unset the bodies are what they were; a kill in the middle and a
# replay of older rows leave the index at the newest rows.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

cat >v5.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"id":"C1","email":"ada@example.com","updated_at":5}},{"key":"C2","hash":"h2","row":{"id":"C2","email":"bo@example.com","updated_at":5}}]}
IN
cat >v3.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h3","row":{"id":"C1","email":"old@example.com","updated_at":3}},{"key":"C2","hash":"h4","row":{"id":"C2","email":"bo@example.com","updated_at":5}},{"key":"C3","hash":"h5","row":{"id":"C3","email":"cy@example.com","updated_at":3}}]}
IN

saas_start es -- --vendor elasticsearch --log es.log
es () { env ELASTICSEARCH_URL=$(cat es.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=updated_at "$@"; }

test_expect_success 'the index action carries the row'"'"'s version, external' '
	es rx-push --profile elasticsearch-bulk <v5.ndjson >acks &&
	acked acks >got && printf "C1\nC2\n" >expect && test_cmp expect got &&
	jq -j .body es.log >body &&
	printf "%s\n" "{\"index\":{\"_index\":\"customers\",\"_id\":\"C1\",\"version\":5,\"version_type\":\"external\"}}" \
		"{\"id\":\"C1\",\"email\":\"ada@example.com\",\"updated_at\":5}" \
		"{\"index\":{\"_index\":\"customers\",\"_id\":\"C2\",\"version\":5,\"version_type\":\"external\"}}" \
		"{\"id\":\"C2\",\"email\":\"bo@example.com\",\"updated_at\":5}" >expect &&
	test_cmp expect body
'

test_expect_success 'an older row and the same row again: 409 version conflicts, acked; the index keeps the newer' '
	es rx-push --profile elasticsearch-bulk --stats st <v3.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC2\nC3\n" >expect && test_cmp expect got &&
	test_must_be_empty err && jq -c "[.acked, .dead_lettered]" st >got && echo "[3,0]" >expect && test_cmp expect got &&
	test "$(fake_count es version_conflicts)" = 2 &&
	fake_state es | jq -c "[.records[\"customers/C1\"].row.email, .records[\"customers/C3\"].row.email]" >got &&
	echo "[\"ada@example.com\",\"cy@example.com\"]" >expect && test_cmp expect got
'

test_expect_success 'the fake answers as Elasticsearch does: item 409 version_conflict_engine_exception' '
	saas_start es2 -- --vendor elasticsearch &&
	printf "%s\n" "{\"index\":{\"_index\":\"c\",\"_id\":\"1\",\"version\":7,\"version_type\":\"external\"}}" "{\"a\":1}" \
		"{\"index\":{\"_index\":\"c\",\"_id\":\"1\",\"version\":7,\"version_type\":\"external\"}}" "{\"a\":2}" >bulk &&
	curl -s -H "Content-Type: application/x-ndjson" --data-binary @bulk "$(cat es2.url)/_bulk" >reply &&
	jq -c ".errors, (.items[1].index | [.status, .error.type, .error.reason])" reply >got &&
	cat >expect <<-\EOF &&
	true
	[409,"version_conflict_engine_exception","[1]: version conflict, current version [7] is higher or equal to the one provided [7]"]
	EOF
	test_cmp expect got
'

conflict_reply='{"took":1,"errors":true,"items":[{"index":{"_index":"customers","_id":"C1","_version":9,"status":409,"error":{"type":"version_conflict_engine_exception","reason":"[C1]: version conflict, current version [9] is higher or equal to the one provided [5]"}}},{"index":{"_index":"customers","_id":"C2","status":201,"result":"created"}}]}'

test_expect_success 'a 409 version conflict is acked only with versioning on; without, it is dead-lettered' '
	reply_start r409 -- --status 200 --body "$conflict_reply" &&
	env ELASTICSEARCH_URL=$(cat r409.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=updated_at \
		rx-push --profile elasticsearch-bulk <v5.ndjson >acks 2>err &&
	acked acks >got && printf "C1\nC2\n" >expect && test_cmp expect got &&
	test_expect_code 3 env ELASTICSEARCH_URL=$(cat r409.url) ELASTICSEARCH_INDEX=customers \
		rx-push --profile elasticsearch-bulk <v5.ndjson >acks 2>err &&
	acked acks >got && echo C2 >expect && test_cmp expect got &&
	dead err >got && echo C1 >expect && test_cmp expect got &&
	test_grep "409 version_conflict_engine_exception" err
'

test_expect_success 'with and without "success": the same acks for a conflict, "errors": false read in C' '
	jq "del(.success)" "$RX_SHARE/destinations/elasticsearch-bulk.json" >plain.json &&
	saas_start wa -- --vendor elasticsearch && saas_start wb -- --vendor elasticsearch &&
	for f in v5.ndjson v3.ndjson; do
		env ELASTICSEARCH_URL=$(cat wa.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=updated_at \
			rx-push --profile elasticsearch-bulk <$f >>a.acks || exit 1
		env ELASTICSEARCH_URL=$(cat wb.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=updated_at \
			rx-push --profile ./plain.json <$f >>b.acks || exit 1
	done &&
	test_cmp a.acks b.acks && test_lines 5 a.acks &&
	fake_records wa >a.held && fake_records wb >b.held && test_cmp a.held b.held
'

test_expect_success 'a row without its version is refused before anything is sent, naming the key and the variable' '
	n=$(fake_count es requests) &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C4\",\"hash\":\"h\",\"row\":{\"id\":\"C4\",\"updated_at\":null}}" >none &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"C5\",\"hash\":\"h\",\"row\":{\"id\":\"C5\",\"updated_at\":1.5}}" >frac &&
	test_expect_code 3 es rx-push --profile elasticsearch-bulk <none >acks 2>err &&
	test_must_be_empty acks &&
	dead err >got && echo C4 >expect && test_cmp expect got &&
	test_grep "the key \\\\\"C4\\\\\" has no updated_at that is a whole number (ELASTICSEARCH_VERSION_COLUMN names the row member that is its version)" err &&
	test_expect_code 3 es rx-push --profile elasticsearch-bulk <frac >acks 2>err &&
	dead err >got && echo C5 >expect && test_cmp expect got &&
	test "$(fake_count es requests)" = "$n"
'

test_expect_success 'a row without its version is refused alone: the other records of its request are sent' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"C6\",\"hash\":\"h\",\"row\":{\"id\":\"C6\",\"updated_at\":6}},{\"key\":\"C7\",\"hash\":\"h\",\"row\":{\"id\":\"C7\"}}]}" >mixed &&
	test_expect_code 3 es rx-push --profile elasticsearch-bulk <mixed >acks 2>err &&
	acked acks >got && echo C6 >expect && test_cmp expect got &&
	dead err >got && echo C7 >expect && test_cmp expect got &&
	grep "^{" err | jq -r .error.message | sort -u >got &&
	echo "the key \"C7\" has no updated_at that is a whole number (ELASTICSEARCH_VERSION_COLUMN names the row member that is its version)" >expect &&
	test_cmp expect got
'

test_expect_success 'a delete carries no version, and deletes whatever the document holds' '
	echo "{\"op\":\"delete\",\"key\":\"C1\",\"hash\":\"h1\",\"row\":{\"id\":\"C1\",\"updated_at\":1}}" >del &&
	es rx-push --profile elasticsearch-bulk <del >acks &&
	acked acks >got && echo C1 >expect && test_cmp expect got &&
	tail -n 1 es.log | jq -j .body >body && echo "{\"delete\":{\"_index\":\"customers\",\"_id\":\"C1\"}}" >expect && test_cmp expect body &&
	fake_records es | cut -f1 >got && printf "customers/C2\ncustomers/C3\ncustomers/C6\n" >expect && test_cmp expect got
'

test_expect_success 'unset, the bodies are byte for byte those without versioning' '
	jq "del(.vars.version_column) | .ops[\"*\"].template[0] |= .[\"\"]" "$RX_SHARE/destinations/elasticsearch-bulk.json" >old.json &&
	jq -e ".ops[\"*\"].template == [{\"index\":{\"_index\":\"{index}\",\"_id\":\"{key|text}\"}},\"{row}\"]" old.json >/dev/null &&
	cat v5.ndjson del >all &&
	ELASTICSEARCH_INDEX=customers rx-push --profile ./old.json --dry-run <all >a.dry &&
	ELASTICSEARCH_INDEX=customers rx-push --profile elasticsearch-bulk --dry-run <all >b.dry &&
	test_cmp a.dry b.dry && test_lines 2 b.dry && ! grep -q version_type b.dry
'

test_expect_success 'opensearch-bulk: the same with OPENSEARCH_VERSION_COLUMN' '
	saas_start os -- --vendor elasticsearch --log os.log &&
	os () { env OPENSEARCH_URL=$(cat os.url) OPENSEARCH_INDEX=people OPENSEARCH_VERSION_COLUMN=updated_at "$@"; } &&
	os rx-push --profile opensearch-bulk <v5.ndjson >acks && os rx-push --profile opensearch-bulk <v3.ndjson >acks &&
	acked acks >got && printf "C1\nC2\nC3\n" >expect && test_cmp expect got &&
	head -n 1 os.log | jq -j .body | head -n 1 >line &&
	echo "{\"index\":{\"_index\":\"people\",\"_id\":\"C1\",\"version\":5,\"version_type\":\"external\"}}" >expect && test_cmp expect line &&
	fake_state os | jq -r ".records[\"people/C1\"].row.email" >got && echo ada@example.com >expect && test_cmp expect got
'

dest_examples 40
sed "s/^  churn_risk\$/  churn_risk,\n  version: (env.SYNC_VERSION | tonumber)/" examples/mappings/app.jq >versioned.jq
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f versioned.jq | rows_of - |
	jq -r "\"customers/\" + .id + \"\t\" + (. | tojson)" | fake_expect
}
cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f versioned.jq \
| rx-diff --state kill.db --key id --mode mirror \
| rx-batch --size 5 \
| ELASTICSEARCH_URL=$(cat kill.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=version \
  rx-push --profile elasticsearch-bulk --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the index equal to the model' '
	grep -q "version: (env.SYNC_VERSION" versioned.jq &&
	saas_start kill -- --vendor elasticsearch --log kill.log &&
	export SYNC_VERSION=1 &&
	{ bash sync.sh rx-push:sent:3 2>run1.err; test $? != 0; } && test_grep "killed at sent" kill.err &&
	acked=$(sed -n "s/.*kill run 1: .* \([0-9]*\) acked.*/\1/p" run1.err) && test -n "$acked" &&
	written=$(fake_records kill | wc -l) && test "$written" -lt 40 && test "$written" -ge "$acked" &&
	test "$(fake_count kill version_conflicts)" = 0 &&
	bash sync.sh && model >expect && fake_records kill >got && test_cmp expect got && test_lines 40 got &&
	test "$(fake_count kill version_conflicts)" = $((written - acked)) &&
	! grep -q "^{" kill.err
'

test_expect_success 'a second run at version 2, then version 1 replayed whole: the index keeps version 2' '
	export SYNC_VERSION=2 &&
	sqlite3 examples/warehouse.db "UPDATE customers SET email = \"new.address@example.com\" WHERE id = \"C00003\";
		DELETE FROM customers WHERE id = \"C00004\"" &&
	bash sync.sh && model >expect && fake_records kill >got && test_cmp expect got &&
	conflicts=$(fake_count kill version_conflicts) &&
	grep "new.address@example.com" got >c3 && test_grep "\"version\":2" c3 &&
	SYNC_VERSION=1 rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
		SYNC_VERSION=1 rx-map -f versioned.jq | rx-diff --state replay.db --key id | rx-batch --size 10 >replay &&
	ELASTICSEARCH_URL=$(cat kill.url) ELASTICSEARCH_INDEX=customers ELASTICSEARCH_VERSION_COLUMN=version \
		rx-push --profile elasticsearch-bulk <replay >acks 2>err &&
	test_lines 39 acks && ! grep -q "^{" err && test "$(fake_count kill version_conflicts)" = $((conflicts + 39)) &&
	fake_records kill >got && test_cmp expect got
'

test_done
