#!/bin/sh
# intercom-contacts against Intercom's own OpenAPI document, 2.14
# (Stoplight Prism, via t/lib-prism.sh): every request rx-push builds for
# the profile -- the search by e-mail, a create, an update and a delete
# by id, an archive (intercom-contacts-archive), GET /me -- for awkward
# rows (unicode, numbers too big for a double as strings, nulls, empty
# strings, a search of 50 e-mails, the batch limit) must validate.
# Prism answers with the spec's examples: a reply naming another contact
# than the one asked for is not taken for a write.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"

prism_start intercom-2.14.yaml || exit 1
export INTERCOM_TOKEN=dG9rOmFiY2RlZg==
# the contact id of the spec's examples (PUT answers it), and of its
# contact_deleted and contact_archived examples
EX=6762f0cd1bb69f9f2193bb7c GONE=5ba682d23d7cf92bef87bfd4

cat >awkward.ndjson <<IN
{"op":"upsert","key":"C1","hash":"h1","row":{"external_id":"C1","email":"zoë.ólafsdóttir@example.com","name":"Zoë Ólafsdóttir 李 Иванова 🚀","plan":"pro","ltv":"12345678901234567890","churn":0.1234567890123456}}
{"op":"insert","key":"C2","hash":"h2","row":{"external_id":"C2","email":"bo@example.com","name":"","phone":null,"avatar":null,"signed_up_at":1571672154,"unsubscribed_from_emails":false,"empty":"","nothing":null}}
{"op":"update","key":"C 3/é","hash":"h3","id":"$EX","row":{"external_id":"C 3/é","email":null,"role":null,"name":null,"phone":"+353871234567","owner_id":123,"custom_attributes":{"x":null,"y":"12345678901234567890"}}}
{"op":"upsert","key":"C4","hash":"h4","id":"$EX","row":{"external_id":"C4","email":"","last_seen_at":1571672154,"score":"-9007199254740993"}}
{"op":"delete","key":"C5","hash":"h5","id":"$GONE","row":{"email":"gone@example.com"}}
IN

test_expect_success 'search, create, update and delete, awkward rows: each request validates' '
	rx-push --profile intercom-contacts --url "$PRISM_URL" --concurrency 1 <awkward.ndjson >acks 2>err &&
	jq -r "[.key, .op, .id] | @tsv" acks | sort >got &&
	printf "C 3/é\tupdate\t$EX\nC1\tinsert\t%s\nC2\tinsert\t%s\nC4\tupsert\t$EX\nC5\tdelete\t$GONE\n" \
		"$(grep "\"C1\"" acks | jq -r .id)" "$(grep "\"C2\"" acks | jq -r .id)" >expect &&
	test_cmp expect got &&
	prism_clean intercom-2.14
'

test_expect_success 'the requests were the ones meant (the dry run of the same input)' '
	rx-push --profile intercom-contacts --dry-run <awkward.ndjson >dry &&
	jq -r "[.method, .url, .headers[\"Intercom-Version\"]] | @tsv" dry >got &&
	cat >expect <<-EOF &&
	POST	https://api.intercom.io/contacts/search	2.14
	POST	https://api.intercom.io/contacts	2.14
	PUT	https://api.intercom.io/contacts/$EX	2.14
	PUT	https://api.intercom.io/contacts/$EX	2.14
	DELETE	https://api.intercom.io/contacts/$GONE	2.14
	EOF
	test_cmp expect got &&
	sed -n 1p dry | jq -c .body >search &&
	echo "{\"query\":{\"field\":\"email\",\"operator\":\"IN\",\"value\":[\"zoë.ólafsdóttir@example.com\"]},\"pagination\":{\"per_page\":150}}" >expect &&
	test_cmp expect search &&
	sed -n 2p dry | jq -c .body >c2 &&
	echo "{\"external_id\":\"C2\",\"email\":\"bo@example.com\",\"name\":\"\",\"phone\":null,\"avatar\":null,\"signed_up_at\":1571672154,\"unsubscribed_from_emails\":false,\"custom_attributes\":{\"empty\":\"\",\"nothing\":null},\"role\":\"user\"}" >expect &&
	test_cmp expect c2 &&
	sed -n 3p dry | jq -c .body >c3 &&
	echo "{\"external_id\":\"C 3/é\",\"name\":null,\"phone\":\"+353871234567\",\"owner_id\":123,\"custom_attributes\":{\"x\":null,\"y\":\"12345678901234567890\"}}" >expect &&
	test_cmp expect c3 &&
	sed -n 4p dry | jq -c .body.custom_attributes.score >c4 && echo "\"-9007199254740993\"" >expect && test_cmp expect c4
'

test_expect_success 'a search at the batch limit (50 e-mails, one request), then 50 creates: each validates' '
	awk "BEGIN { for (i = 1; i <= 50; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"B%d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"external_id\\\":\\\"B%d\\\",\\\"email\\\":\\\"b%d@example.com\\\",\\\"name\\\":\\\"Ünïcødé %d\\\"}}\n\", i, i, i, i }" >fifty &&
	rx-batch --profile intercom-contacts <fifty >batches && test_lines 1 batches &&
	rx-push --profile intercom-contacts --url "$PRISM_URL" <batches >acks &&
	test_lines 50 acks &&
	rx-push --profile intercom-contacts --dry-run <batches >dry &&
	test_lines 1 dry && test "$(jq ".body.query.value | length" dry)" = 50 &&
	prism_clean intercom-2.14
'

test_expect_success 'intercom-contacts-archive: POST /contacts/{id}/archive validates' '
	echo "{\"op\":\"delete\",\"key\":\"C5\",\"hash\":\"h5\",\"id\":\"$GONE\",\"row\":{}}" >arch &&
	rx-push --profile intercom-contacts-archive --url "$PRISM_URL" <arch >acks 2>err &&
	test_lines 1 acks &&
	prism_clean intercom-2.14
'

test_expect_success '--test-connection: GET /me validates' '
	rx-push --profile intercom-contacts --url "$PRISM_URL" --test-connection >out &&
	test_grep "^ok: GET intercom-contacts answered HTTP 200" out &&
	prism_clean intercom-2.14
'

test_expect_success 'a reply naming another contact than the one asked for is a dead letter, not an ack' '
	echo "{\"op\":\"delete\",\"key\":\"C6\",\"hash\":\"h6\",\"id\":\"$EX\",\"row\":{}}" >other &&
	test_expect_code 3 rx-push --profile intercom-contacts --url "$PRISM_URL" <other >acks 2>err &&
	test_must_be_empty acks && test_grep "without saying the contact was deleted" err
'

test_expect_success 'the check has teeth: a row Intercom cannot take (role 7) is flagged' '
	echo "{\"op\":\"update\",\"key\":\"C7\",\"hash\":\"h7\",\"id\":\"$EX\",\"row\":{\"role\":7}}" >bad &&
	test_expect_code 3 rx-push --profile intercom-contacts --url "$PRISM_URL" <bad >acks 2>err &&
	! prism_clean intercom-2.14 >violations &&
	test_grep "PUT /contacts/$EX: Request body property role must be string" violations
'

test_done
