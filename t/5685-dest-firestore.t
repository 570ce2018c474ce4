#!/bin/sh
# Cloud Firestore batchWrite: the firestore-batchwrite profile against
# the fake (t/fake/fake-saas.py --vendor firestore), with a service
# account's JWT grant: typed values, per-write status in order (3
# dead-letters, 10 ABORTED re-sends), preconditions for insert and
# update, deletes, a key that is no document id, a refused token, a kill
# in the middle, a whole mirror sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

google_key || exit 1
fs_start () {
	fs_name=$1
	shift
	saas_start "$fs_name" -- --vendor firestore --google-key sa.pub --google-iss rx@proj.iam.gserviceaccount.com "$@" &&
	google_service_account "$fs_name" "$fs_name.json"
}
fs () {
	name=$1
	shift
	env GOOGLE_APPLICATION_CREDENTIALS=$PWD/$name.json FIRESTORE_API_URL=$(cat $name.url) FIRESTORE_PROJECT=proj \
		FIRESTORE_COLLECTION=customers "$@"
}

cat >changes.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"email":"ada@example.com","orders":4,"ltv":1009.5,"vip":true,"note":null,"tags":["a",2],"address":{"city":"Zürich"},"big":"12345678901234567890"}},{"key":"C2","hash":"h2","row":{"email":"not-an-email"}},{"key":3,"hash":"h3","row":{"name":"李"}}]}
{"op":"delete","records":[{"key":"C9","hash":"h9","row":{}}]}
IN

fs_start fs --log fs.log

test_expect_success 'typed values; a write refused (INVALID_ARGUMENT) is dead-lettered alone' '
	test_expect_code 3 fs fs rx-push --profile firestore-batchwrite <changes.ndjson >acks 2>err &&
	acked acks >got && printf "3\nC1\nC9\n" >expect && test_cmp expect got &&
	dead err >got && echo C2 >expect && test_cmp expect got &&
	test_grep "INVALID_ARGUMENT: .not-an-email. is not a valid email" err &&
	fake_records fs >got &&
	cat >expect <<-\EOF &&
	3	{"name":"\u674e"}
	C1	{"address":{"city":"Z\u00fcrich"},"big":"12345678901234567890","email":"ada@example.com","ltv":1009.5,"note":null,"orders":4,"tags":["a",2],"vip":true}
	EOF
	test_cmp expect got &&
	grep batchWrite fs.log | head -n 1 | jq -r .body | jq -c ".writes[0].update.fields | [.orders, .ltv, .vip, .note, .big]" >types &&
	echo "[{\"integerValue\":\"4\"},{\"doubleValue\":1009.5},{\"booleanValue\":true},{\"nullValue\":null},{\"stringValue\":\"12345678901234567890\"}]" >expect &&
	test_cmp expect types &&
	grep batchWrite fs.log | head -n 1 | jq -r .path >path &&
	echo "/v1/projects/proj/databases/%28default%29/documents:batchWrite" >expect && test_cmp expect path
'

test_expect_success 'insert refuses an existing document, update a missing one; delete deletes' '
	printf "%s\n" "{\"op\":\"insert\",\"records\":[{\"key\":\"C1\",\"hash\":\"x\",\"row\":{}},{\"key\":\"N1\",\"hash\":\"x\",\"row\":{\"a\":1}}]}" \
		"{\"op\":\"update\",\"records\":[{\"key\":\"N2\",\"hash\":\"x\",\"row\":{}},{\"key\":\"3\",\"hash\":\"x\",\"row\":{\"b\":2}}]}" \
		"{\"op\":\"delete\",\"records\":[{\"key\":\"C1\",\"hash\":\"x\",\"row\":{}}]}" >ops &&
	test_expect_code 3 fs fs rx-push --profile firestore-batchwrite <ops >acks 2>err &&
	acked acks >got && printf "3\nC1\nN1\n" >expect && test_cmp expect got &&
	dead err >got && printf "C1\nN2\n" >expect && test_cmp expect got &&
	test_grep "ALREADY_EXISTS" err && test_grep "NOT_FOUND" err &&
	fake_records fs >got && printf "3\t{\"b\":2}\nN1\t{\"a\":1}\n" >expect && test_cmp expect got
'

test_expect_success 'ABORTED writes are sent again alone' '
	fs_start fs2 --item-throttle-first 1 --log fs2.log &&
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"A\",\"hash\":\"h\",\"row\":{}},{\"key\":\"B\",\"hash\":\"h\",\"row\":{}}]}" >two &&
	fs fs2 rx-push --profile firestore-batchwrite --retry-base 10 <two >acks &&
	test_lines 2 acks && test "$(grep -c batchWrite fs2.log)" = 2 &&
	grep batchWrite fs2.log | tail -n 1 | jq -r .body | jq -r ".writes[].update.name" >again &&
	echo "projects/proj/databases/(default)/documents/customers/A" >expect && test_cmp expect again
'

test_expect_success 'a key that cannot be a document id is refused before anything is sent' '
	echo "{\"op\":\"upsert\",\"records\":[{\"key\":\"a/b\",\"hash\":\"h\",\"row\":{}}]}" >slash &&
	n=$(fake_count fs requests) &&
	test_expect_code 3 fs fs rx-push --profile firestore-batchwrite <slash >acks 2>err &&
	test_grep "the key \\\\\"a/b\\\\\" cannot be a Firestore document id" err &&
	test "$(fake_count fs requests)" = "$n"
'

test_expect_success 'a 429 RESOURCE_EXHAUSTED is waited out' '
	fs_start fs3 --throttle-first 1 &&
	fs fs3 rx-push --profile firestore-batchwrite --retry-base 10 <two >acks &&
	test_lines 2 acks && test "$(fake_count fs3 throttled)" = 1
'

test_expect_success 'a token that stops working is replaced (401, a new JWT grant)' '
	fs_start fs4 --token-uses 1 &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"A\",\"hash\":\"h\",\"row\":{}}" "{\"op\":\"upsert\",\"key\":\"B\",\"hash\":\"h\",\"row\":{}}" >singles &&
	fs fs4 rx-push --profile firestore-batchwrite --max-records 1 --concurrency 1 <singles >acks &&
	test_lines 2 acks && test "$(fake_count fs4 tokens_issued)" = 2
'

test_expect_success 'a key file the token endpoint refuses stops at start, exit 1' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	python3 -c "import json; d = json.load(open(\"fs.json\")); d[\"private_key\"] = open(\"other.pem\").read(); print(json.dumps(d))" >bad.json &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/bad.json FIRESTORE_API_URL=$(cat fs.url) FIRESTORE_PROJECT=proj \
		FIRESTORE_COLLECTION=customers rx-push --profile firestore-batchwrite <two >acks 2>err &&
	test_grep "oauth2 token request: HTTP 400" err && test_must_be_empty acks
'

dest_examples 40
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/app.jq | rows_of - | python3 -c "
import json, sys
for line in sys.stdin:
    r = json.loads(line)
    print(r[\"id\"] + \"\t\" + json.dumps(r, sort_keys=True, separators=(\",\", \":\")))" | sort
}
fs_start page
cp page.json sa.json

test_expect_success 'the page command: the collection holds the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try firestore-batchwrite >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && fake_records page >got && test_cmp expect got && test_lines 40 got
'

test_expect_success 'a second run with changes and deletes: the collection is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
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
| GOOGLE_APPLICATION_CREDENTIALS=$PWD/kill.json FIRESTORE_API_URL=$(cat kill.url) FIRESTORE_PROJECT=proj FIRESTORE_COLLECTION=customers \
  rx-push --profile firestore-batchwrite --rate 50/s --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the collection equal to the model' '
	fs_start kill &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh && model >expect && fake_records kill >got && test_cmp expect got
'

test_done
