#!/bin/sh
# TikTok custom audiences: the tiktok-audience profile against the fake
# (t/fake/fake-saas.py --vendor tiktok): id_schema and batch_data rows,
# add and delete, codes inside a 200 (0, 40002, 40100, 40105), raw PII
# refused before it is sent, a kill in the middle, a whole mirror sync
# twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

h () { printf %s "$1" | sha256sum | cut -c1-64; }
E1=$(h ada@example.com) E2=$(h bo@example.com) P1=$(h +16505551212)
tt () {
	tt_name=$1
	shift
	env TIKTOK_ACCESS_TOKEN=act.test TIKTOK_API_URL=$(cat "$tt_name.url") TIKTOK_ADVERTISER_ID=70123 TIKTOK_AUDIENCE_ID=123456 "$@"
}
cat >changes.ndjson <<IN
{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL_SHA256":"$E1","PHONE_SHA256":"$P1","id":"C1"}},{"op":"upsert","key":"$E2","hash":"h2","row":{"EMAIL_SHA256":"$E2"}}]}
IN

saas_start tt -- --vendor tiktok --token act.test --log tt.log

test_expect_success 'add: id_schema, one object per schema entry a row, {} where none' '
	tt tt rx-push --profile tiktok-audience <changes.ndjson >acks 2>err &&
	acked acks >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got &&
	jq -r .body tt.log | jq -c . >body &&
	echo "{\"advertiser_ids\":[\"70123\"],\"action\":\"add\",\"id_schema\":[\"EMAIL_SHA256\",\"PHONE_SHA256\"],\"batch_data\":[[{\"id\":\"$E1\",\"audience_ids\":[\"123456\"]},{\"id\":\"$P1\",\"audience_ids\":[\"123456\"]}],[{\"id\":\"$E2\",\"audience_ids\":[\"123456\"]},{}]]}" >expect &&
	test_cmp expect body &&
	test_grep "\"access-token\": \"act.test\"" tt.log &&
	fake_records tt | cut -f1 >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got
'

test_expect_success 'delete: action delete, the person leaves the audience' '
	echo "{\"op\":\"delete\",\"key\":\"$E2\",\"hash\":\"h2\",\"row\":{\"EMAIL_SHA256\":\"$E2\"}}" >del &&
	tt tt rx-push --profile tiktok-audience <del >acks &&
	tail -n 1 tt.log | jq -r .body | jq -r .action >a && echo delete >expect && test_cmp expect a &&
	fake_records tt | cut -f1 >got && echo $E1 >expect && test_cmp expect got
'

test_expect_success 'a value that is not a SHA-256 is refused before anything is sent' '
	echo "{\"op\":\"upsert\",\"key\":\"a\",\"hash\":\"h\",\"row\":{\"EMAIL_SHA256\":\"ada@example.com\"}}" >raw &&
	n=$(fake_count tt requests) &&
	test_expect_code 3 tt tt rx-push --profile tiktok-audience <raw >acks 2>err &&
	test_grep "EMAIL_SHA256 of \\\\\"a\\\\\" is not a SHA-256 hex digest" err && test "$(fake_count tt requests)" = "$n"
'

test_expect_success 'code 40002 inside a 200: the request'"'"'s records are dead-lettered with TikTok'"'"'s message' '
	saas_start tt2 -- --vendor tiktok --token act.test &&
	test_expect_code 3 env TIKTOK_ACCESS_TOKEN=act.test TIKTOK_API_URL=$(cat tt2.url) TIKTOK_ADVERTISER_ID=not-a-number TIKTOK_AUDIENCE_ID=1 \
		rx-push --profile tiktok-audience <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test "$(grep -c "^{" err)" = 2 &&
	test_grep "TikTok code 40002: action, advertiser_ids (numbers), id_schema and batch_data are required" err &&
	test_grep "\"status\":200" err
'

test_expect_success 'code 40100 inside a 200 throttles: sent again' '
	saas_start tt3 -- --vendor tiktok --token act.test --throttle-first 2 &&
	tt tt3 rx-push --profile tiktok-audience --retry-base 10 --stats stats <changes.ndjson >acks &&
	test_lines 2 acks && test "$(jq .throttled stats)" = 2
'

test_expect_success 'code 40105 (the access token) stops the run with exit 1' '
	test_expect_code 1 env TIKTOK_ACCESS_TOKEN=act.wrong TIKTOK_API_URL=$(cat tt.url) TIKTOK_ADVERTISER_ID=1 TIKTOK_AUDIENCE_ID=1 \
		rx-push --profile tiktok-audience <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "refused the credentials" err && ! grep -q act.wrong err
'

dest_examples 100
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql |
	rx-map -f examples/mappings/tiktok-audience.jq --hash EMAIL_SHA256:raw,PHONE_SHA256:raw --drop-nulls |
	rows_of - | jq -cS . | sort
}
held () {
	fake_state "$1" | jq -cS ".records[].row" | sort
}
saas_start page -- --vendor tiktok --token act.test

test_expect_success 'the page command: the audience holds the model, hashed' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try tiktok-audience >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test "$(wc -l <got)" -gt 20
'

test_expect_success 'a second run with changes and deletes: the audience is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET phone = \"+49 30 1234567\" WHERE id = \"C00001\";
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\"" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql \
| rx-map -f examples/mappings/tiktok-audience.jq --hash EMAIL_SHA256:raw,PHONE_SHA256:raw --drop-nulls \
| rx-diff --state kill.db --key EMAIL_SHA256 --mode mirror \
| rx-batch --size 4 \
| TIKTOK_ACCESS_TOKEN=act.test TIKTOK_API_URL=$(cat kill.url) TIKTOK_ADVERTISER_ID=1 TIKTOK_AUDIENCE_ID=1 rx-push --profile tiktok-audience --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the audience equal to the model' '
	saas_start kill -- --vendor tiktok --token act.test &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got
'

test_done
