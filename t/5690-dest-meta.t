#!/bin/sh
# Meta Custom Audiences: the meta-custom-audience profile against the
# fake (t/fake/fake-saas.py --vendor meta): schema and hashed data, adds
# and removes, invalid entries told by Meta's samples (or not), raw PII
# refused before it is sent, throttle codes and their regain time, a
# refused token, a kill in the middle, a whole mirror sync twice, the
# page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

h () { printf %s "$1" | sha256sum | cut -c1-64; }
E1=$(h ada@example.com) E2=$(h bo@example.com) E3=$(h cy@example.com) P1=$(h 16505551212)
cat >changes.ndjson <<IN
{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL":"$E1","PHONE":"$P1","id":"C1"}},{"op":"upsert","key":"$E2","hash":"h2","row":{"EMAIL":"$E2","MADID":"not-a-madid"}},{"op":"upsert","key":"$E3","hash":"h3","row":{"EMAIL":"$E3","MADID":"6D92078A-8246-4BA4-AE5B-76104861E7DC"}}]}
IN
meta () {
	meta_name=$1
	shift
	env META_ACCESS_TOKEN=EAABtest META_GRAPH_URL=$(cat "$meta_name.url") META_AUDIENCE_ID=23850000000000001 "$@"
}

saas_start meta -- --vendor meta --token EAABtest --log meta.log

test_expect_success 'adds: the schema of the batch, hashed data aligned, MADID lowercased; a sampled invalid row dead-lettered' '
	test_expect_code 3 meta meta rx-push --profile meta-custom-audience <changes.ndjson >acks 2>err &&
	acked acks >got && printf "%s\n" $E1 $E3 | sort >expect && test_cmp expect got &&
	dead err >got && echo $E2 >expect && test_cmp expect got &&
	test_grep "Meta dropped the row: Invalid MADID (not-a-madid)" err &&
	jq -r .body meta.log | jq -c .payload >payload &&
	echo "{\"schema\":[\"EMAIL\",\"PHONE\",\"MADID\"],\"data\":[[\"$E1\",\"$P1\",\"\"],[\"$E2\",\"\",\"not-a-madid\"],[\"$E3\",\"\",\"6d92078a-8246-4ba4-ae5b-76104861e7dc\"]]}" >expect &&
	test_cmp expect payload &&
	jq -r .path meta.log >path && echo "/v25.0/23850000000000001/users?access_token=EAABtest" >expect && test_cmp expect path &&
	jq -r .body meta.log | jq -c "[.session.batch_seq, .session.last_batch_flag, .session.estimated_num_total, (.session.session_id | type)]" >session &&
	echo "[1,true,3,\"number\"]" >expect && test_cmp expect session &&
	fake_records meta | cut -f1 >got && printf "%s\n" $E1 $E3 | sort >expect && test_cmp expect got
'

test_expect_success 'invalid entries Meta does not all show: the request'"'"'s records are dead-lettered together' '
	saas_start meta2 -- --vendor meta --token EAABtest --meta-samples 0 &&
	test_expect_code 3 meta meta2 rx-push --profile meta-custom-audience <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test "$(grep -c "^{" err)" = 3 &&
	test_grep "Meta dropped 1 of 3 rows as invalid and showed 0 of them: which rows is unknown" err
'

test_expect_success 'a value that is not a SHA-256 is refused before anything is sent' '
	echo "{\"op\":\"upsert\",\"key\":\"a\",\"hash\":\"h\",\"row\":{\"EMAIL\":\"ada@example.com\"}}" >raw &&
	n=$(fake_count meta requests) &&
	test_expect_code 3 meta meta rx-push --profile meta-custom-audience <raw >acks 2>err &&
	test_grep "EMAIL of \\\\\"a\\\\\" is not a SHA-256 hex digest" err &&
	test "$(fake_count meta requests)" = "$n"
'

test_expect_success 'a delete removes the person: DELETE with the same payload' '
	echo "{\"op\":\"delete\",\"key\":\"$E1\",\"hash\":\"h1\",\"row\":{\"EMAIL\":\"$E1\",\"PHONE\":\"$P1\"}}" >del &&
	meta meta rx-push --profile meta-custom-audience <del >acks &&
	test_lines 1 acks && tail -n 1 meta.log | jq -r .method >m && echo DELETE >expect && test_cmp expect m &&
	fake_records meta | cut -f1 >got && echo $E3 >expect && test_cmp expect got
'

test_expect_success 'throttle code 80003 (regain 0): rate halved, sent again' '
	saas_start meta3 -- --vendor meta --token EAABtest --throttle-first 2 &&
	meta meta3 rx-push --profile meta-custom-audience --retry-base 10 <del >acks &&
	test_lines 1 acks && test "$(fake_count meta3 throttled)" = 2
'

test_expect_success 'a throttle whose regain time is 30 minutes stops the run (exit 75), to resume later' '
	saas_start meta4 -- --vendor meta --token EAABtest --throttle-first 1 --meta-regain 30 &&
	test_expect_code 75 meta meta4 rx-push --profile meta-custom-audience <del >acks 2>err &&
	test_must_be_empty acks && test_grep "quota" err && test_grep "left unacked" err
'

test_expect_success 'a refused token (code 190) stops the run with exit 1, the token unshown' '
	test_expect_code 1 env META_ACCESS_TOKEN=EAABwrong META_GRAPH_URL=$(cat meta.url) META_AUDIENCE_ID=1 \
		rx-push --profile meta-custom-audience <del >acks 2>err &&
	test_must_be_empty acks && test_grep "refused the credentials" err && ! grep -q EAABwrong err
'

test_expect_success 'an app requiring its secret: appsecret_proof from $META_APP_SECRET; without it the run stops' '
	saas_start proof -- --vendor meta --token EAABtest --meta-app-secret s3cret --log proof.log &&
	test_expect_code 1 meta proof rx-push --profile meta-custom-audience <del >acks 2>err &&
	test_must_be_empty acks && test_grep "require an appsecret_proof argument (set \$META_APP_SECRET" err &&
	test_expect_code 1 meta proof env META_APP_SECRET=wrong rx-push --profile meta-custom-audience <del >acks 2>err &&
	test_grep "Invalid appsecret_proof" err && ! grep -q wrong err &&
	meta proof env META_APP_SECRET=s3cret rx-push --profile meta-custom-audience <del >acks 2>err &&
	test_lines 1 acks &&
	want=$(printf %s EAABtest | openssl dgst -sha256 -hmac s3cret | sed "s/.* //") &&
	tail -n 1 proof.log | jq -r .path >path &&
	echo "/v25.0/23850000000000001/users?appsecret_proof=$want&access_token=EAABtest" >expect && test_cmp expect path &&
	meta proof env META_APP_SECRET=s3cret rx-push --profile meta-custom-audience --dry-run <del >dry &&
	test_grep "appsecret_proof=\*\*\*&access_token=\*\*\*" dry && ! grep -q "$want" dry
'

test_expect_success 'rx-map refuses a mapping that would send an e-mail unhashed' '
	echo "{\"email\":\"ada@example.com\"}" >row &&
	test_expect_code 1 rx-map -e "{EMAIL: .email}" --pii email=email --profile meta-custom-audience <row 2>err &&
	test_grep "destination .meta-custom-audience. blocks" err &&
	rx-map -e "{EMAIL: (.email | normalize_email)}" --hash EMAIL:raw --pii email=email --profile meta-custom-audience <row >out &&
	echo "{\"EMAIL\":\"$E1\"}" >expect && test_cmp expect out
'

dest_examples 100
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql |
	rx-map -f examples/mappings/meta-audience.jq --hash EMAIL:raw,PHONE:raw,FN:raw,LN:raw,COUNTRY:raw --drop-nulls |
	rows_of - | jq -cS . | sort
}
held () {
	fake_state "$1" | jq -cS ".records[].row | with_entries(select(.value != \"\"))" | sort
}
saas_start page -- --vendor meta --token EAABtest

test_expect_success 'the page command: the audience holds the model, hashed' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try meta-custom-audience >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test "$(wc -l <got)" -gt 8 &&
	! grep -q "@example.com" page.state
'

test_expect_success 'a second run with changes and deletes: removed under the old hash, added under the new' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00001\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\"" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got &&
	test "$(fake_state page | jq ".deleted | length")" = 2
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql \
| rx-map -f examples/mappings/meta-audience.jq --hash EMAIL:raw,PHONE:raw,FN:raw,LN:raw,COUNTRY:raw --drop-nulls \
| rx-diff --state kill.db --key EMAIL --mode mirror \
| rx-batch --size 3 \
| META_ACCESS_TOKEN=EAABtest META_GRAPH_URL=$(cat kill.url) META_AUDIENCE_ID=1 rx-push --profile meta-custom-audience --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the audience equal to the model' '
	saas_start kill -- --vendor meta --token EAABtest &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got
'

test_done
