#!/bin/sh
# LinkedIn Matched Audiences: the linkedin-audience profile against the
# fake (t/fake/fake-saas.py --vendor linkedin): BATCH_CREATE elements,
# ADD and REMOVE, per-element statuses in order, a throttle and the DAY
# quota, a refused token, raw e-mails refused before they are sent, a
# kill in the middle, a whole mirror sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

h () { printf %s "$1" | sha256sum | cut -c1-64; }
E1=$(h ada@example.com) E2=$(h bo@example.com)
li () {
	li_name=$1
	shift
	env LINKEDIN_TOKEN=AQVtest LINKEDIN_API_URL=$(cat "$li_name.url") LINKEDIN_SEGMENT_ID=123456 "$@"
}
cat >changes.ndjson <<IN
{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"SHA256_EMAIL":"$E1","firstName":"Ada","lastName":"Lovelace","country":"GB","id":"C1"}},{"op":"upsert","key":"N1","hash":"h2","row":{"firstName":"Bo"}},{"op":"upsert","key":"$E2","hash":"h3","row":{"SHA256_EMAIL":"$E2"}}]}
IN

saas_start li -- --vendor linkedin --token AQVtest --log li.log

test_expect_success 'ADD elements in order: 201s ack, a 400 element is dead-lettered' '
	test_expect_code 3 li li rx-push --profile linkedin-audience <changes.ndjson >acks 2>err &&
	acked acks >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got &&
	dead err >got && echo N1 >expect && test_cmp expect got &&
	test_grep "LinkedIn refused the user (400): at least one userId" err &&
	jq -r .body li.log | jq -c ".elements[0]" >el &&
	echo "{\"action\":\"ADD\",\"userIds\":[{\"idType\":\"SHA256_EMAIL\",\"idValue\":\"$E1\"}],\"firstName\":\"Ada\",\"lastName\":\"Lovelace\",\"country\":\"GB\"}" >expect &&
	test_cmp expect el &&
	test_grep "\"x-restli-method\": \"BATCH_CREATE\"" li.log && test_grep "\"linkedin-version\": \"202604\"" li.log &&
	fake_records li | cut -f1 >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got
'

test_expect_success 'REMOVE: the person leaves the segment' '
	echo "{\"op\":\"delete\",\"key\":\"$E2\",\"hash\":\"h3\",\"row\":{\"SHA256_EMAIL\":\"$E2\"}}" >del &&
	li li rx-push --profile linkedin-audience <del >acks &&
	tail -n 1 li.log | jq -r .body | jq -r ".elements[0].action" >a && echo REMOVE >expect && test_cmp expect a &&
	fake_records li | cut -f1 >got && echo $E1 >expect && test_cmp expect got
'

test_expect_success 'a raw e-mail is refused before anything is sent' '
	echo "{\"op\":\"upsert\",\"key\":\"a\",\"hash\":\"h\",\"row\":{\"SHA256_EMAIL\":\"ada@example.com\"}}" >raw &&
	n=$(fake_count li requests) &&
	test_expect_code 3 li li rx-push --profile linkedin-audience <raw >acks 2>err &&
	test_grep "SHA256_EMAIL of \\\\\"a\\\\\" is not a hex digest" err && test "$(fake_count li requests)" = "$n"
'

test_expect_success '429 MEMBER MINUTE throttles; the DAY limit stops the run (exit 75)' '
	saas_start li2 -- --vendor linkedin --token AQVtest --throttle-first 1 &&
	li li2 rx-push --profile linkedin-audience --retry-base 10 <del >acks &&
	test_lines 1 acks && test "$(fake_count li2 throttled)" = 1 &&
	saas_start li3 -- --vendor linkedin --token AQVtest --quota 0 &&
	test_expect_code 75 li li3 rx-push --profile linkedin-audience <del >acks 2>err &&
	test_must_be_empty acks && test_grep "APPLICATION DAY limit" err
'

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env LINKEDIN_TOKEN=AQVwrong LINKEDIN_API_URL=$(cat li.url) LINKEDIN_SEGMENT_ID=1 \
		rx-push --profile linkedin-audience <del >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q AQVwrong err
'

dest_examples 100
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql |
	rx-map -f examples/mappings/linkedin-audience.jq --hash SHA256_EMAIL:raw --drop-nulls |
	rows_of - | jq -cS . | sort
}
held () {
	fake_state "$1" | jq -cS ".records[].row" | sort
}
saas_start page -- --vendor linkedin --token AQVtest

test_expect_success 'the page command: the segment holds the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try linkedin-audience >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test "$(wc -l <got)" -gt 20
'

test_expect_success 'a second run with changes and deletes: the segment is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET last_name = \"Lovelace\" WHERE id = \"C00001\";
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\"" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql \
| rx-map -f examples/mappings/linkedin-audience.jq --hash SHA256_EMAIL:raw --drop-nulls \
| rx-diff --state kill.db --key SHA256_EMAIL --mode mirror \
| rx-batch --size 4 \
| LINKEDIN_TOKEN=AQVtest LINKEDIN_API_URL=$(cat kill.url) LINKEDIN_SEGMENT_ID=1 rx-push --profile linkedin-audience --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the segment equal to the model' '
	saas_start kill -- --vendor linkedin --token AQVtest &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got
'

test_done
