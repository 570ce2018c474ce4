#!/bin/sh
# Google Ads Customer Match: the google-ads-customer-match profile against
# the fake (t/fake/google-ads.py): one offline user data job a batch
# (create, addOperations, run, status searched), create and remove
# operations, partial failure by operation index, 429 RESOURCE_EXHAUSTED
# with retryDelay, 401 UNAUTHENTICATED, a FAILED job and an unknown
# status acking nothing, raw PII refused before it is sent, kills in the
# middle of a job, a whole mirror sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

h () { printf %s "$1" | sha256sum | cut -c1-64; }
E1=$(h ada@example.com) E2=$(h bo@example.com) P1=$(h +16505551212)
gads_start () {
	gs_name=$1
	shift
	FAKE_SCRIPT=$RX_TESTS/fake/google-ads.py fake_start "$gs_name" -- --polls 1 --log "$gs_name.log" "$@"
}
ga () {
	ga_url=$(cat "$1.url")
	shift
	env GOOGLE_ADS_API_URL=$ga_url GOOGLE_OAUTH_TOKEN_URL=$ga_url/token GOOGLE_ADS_DEVELOPER_TOKEN=dev-test \
		GOOGLE_ADS_CLIENT_ID=client.test GOOGLE_ADS_CLIENT_SECRET=secret.test GOOGLE_ADS_REFRESH_TOKEN=refresh.test \
		GOOGLE_ADS_CUSTOMER_ID=1234567890 GOOGLE_ADS_USER_LIST_ID=555 "$@"
}
held () {
	fake_state "$1" | jq -cS ".records[].row" | sort
}
calls () {
	jq -r '.path | sub("^/v23/customers/1234567890/"; "") | sub("[0-9]+:"; "J:")' "$1.log"
}
cat >changes.ndjson <<IN
{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"hashedEmail":"$E1","hashedPhoneNumber":"$P1","id":"C1"}},{"op":"upsert","key":"$E2","hash":"h2","row":{"hashedEmail":"$E2"}}]}
IN

gads_start ga

test_expect_success 'the profile checks clean' '
	ga ga rx-push --profile google-ads-customer-match --check-profile >out &&
	test_grep "^0 errors, 0 warnings" out
'

test_expect_success 'add: a job created, its operations added, run, and searched until SUCCESS; then acked' '
	ga ga rx-push --profile google-ads-customer-match <changes.ndjson >acks 2>err &&
	acked acks >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got &&
	calls ga >got &&
	printf "%s\n" offlineUserDataJobs:create offlineUserDataJobs/J:addOperations offlineUserDataJobs/J:run googleAds:search >expect &&
	test_cmp expect got &&
	sed -n 2p ga.log | jq -c .body >body &&
	echo "{\"enablePartialFailure\":true,\"operations\":[{\"create\":{\"userIdentifiers\":[{\"hashedEmail\":\"$E1\"},{\"hashedPhoneNumber\":\"$P1\"}]}},{\"create\":{\"userIdentifiers\":[{\"hashedEmail\":\"$E2\"}]}}]}" >expect &&
	test_cmp expect body &&
	head -n 1 ga.log | jq -c .body >body &&
	echo "{\"job\":{\"type\":\"CUSTOMER_MATCH_USER_LIST\",\"customerMatchUserListMetadata\":{\"userList\":\"customers/1234567890/userLists/555\"}}}" >expect &&
	test_cmp expect body &&
	test "$(head -n 1 ga.log | jq -r ".headers[\"developer-token\"]")" = dev-test &&
	test "$(head -n 1 ga.log | jq -r ".headers.authorization")" = "Bearer ya29.fake-1" &&
	test "$(head -n 1 ga.log | jq -r ".headers[\"login-customer-id\"]")" = null &&
	held ga >got && printf "{\"hashedEmail\":\"%s\",\"hashedPhoneNumber\":\"%s\"}\n{\"hashedEmail\":\"%s\"}\n" $E1 $P1 $E2 | sort >expect &&
	test_cmp expect got &&
	test "$(fake_count ga violations)" = 0
'

test_expect_success 'a manager account: login-customer-id on every request; the developer token never shown' '
	gads_start mcc --login-customer-id 9876543210 &&
	ga mcc env GOOGLE_ADS_LOGIN_CUSTOMER_ID=9876543210 rx-push --profile google-ads-customer-match <changes.ndjson >acks &&
	test_lines 2 acks && test "$(fake_count mcc violations)" = 0 &&
	ga mcc rx-push --profile google-ads-customer-match --dry-run <changes.ndjson >dry &&
	test_grep "\"developer-token\":\"\*\*\*\"" dry && ! grep -q dev-test dry
'

test_expect_success 'delete: a remove operation with the last synced row; the person leaves the list' '
	echo "{\"op\":\"delete\",\"key\":\"$E2\",\"hash\":\"h2\",\"row\":{\"hashedEmail\":\"$E2\"}}" >del &&
	ga ga rx-push --profile google-ads-customer-match <del >acks &&
	acked acks >got && echo $E2 >expect && test_cmp expect got &&
	grep addOperations ga.log | tail -n 1 | jq -c .body.operations >ops &&
	echo "[{\"remove\":{\"userIdentifiers\":[{\"hashedEmail\":\"$E2\"}]}}]" >expect && test_cmp expect ops &&
	held ga >got && printf "{\"hashedEmail\":\"%s\",\"hashedPhoneNumber\":\"%s\"}\n" $E1 $P1 >expect && test_cmp expect got
'

test_expect_success 'partial failure: the operation Google names by index is dead-lettered, the other acked' '
	gads_start pf --reject "$E2" &&
	test_expect_code 3 ga pf rx-push --profile google-ads-customer-match <changes.ndjson >acks 2>err &&
	acked acks >got && echo $E1 >expect && test_cmp expect got &&
	dead err >got && echo $E2 >expect && test_cmp expect got &&
	test_grep "Google refused the operation: INVALID_SHA256_FORMAT: The SHA256 encoded value is malformed" err &&
	held pf >got && printf "{\"hashedEmail\":\"%s\",\"hashedPhoneNumber\":\"%s\"}\n" $E1 $P1 >expect && test_cmp expect got
'

test_expect_success 'a value that is not a SHA-256 is refused before anything is sent' '
	echo "{\"op\":\"upsert\",\"key\":\"a\",\"hash\":\"h\",\"row\":{\"hashedEmail\":\"ada@example.com\"}}" >raw &&
	n=$(fake_count ga requests) &&
	test_expect_code 3 ga ga rx-push --profile google-ads-customer-match <raw >acks 2>err &&
	test_grep "hashedEmail of \\\\\"a\\\\\" is not a SHA-256 hex digest" err &&
	test "$(fake_count ga requests)" = "$n"
'

test_expect_success '429 RESOURCE_EXHAUSTED: rx-push waits its retryDelay and sends again' '
	gads_start thr --throttle-first 2 --retry-delay 1 &&
	ga thr rx-push --profile google-ads-customer-match --stats stats <changes.ndjson >acks &&
	test_lines 2 acks && test "$(jq .throttled stats)" = 2 && test "$(fake_count thr throttled)" = 2 &&
	held thr >got && test_lines 2 got
'

test_expect_success '401 UNAUTHENTICATED: one token refresh, then the run stops with exit 1; no secret shown' '
	n=$(fake_count ga tokens) &&
	test_expect_code 1 ga ga env GOOGLE_ADS_DEVELOPER_TOKEN=dev-wrong rx-push --profile google-ads-customer-match <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401: the destination refused the credentials" err &&
	test "$(fake_count ga tokens)" = "$(($n + 2))" &&
	! grep -q dev-wrong err && ! grep -q refresh.test err &&
	test_expect_code 1 ga ga env GOOGLE_ADS_REFRESH_TOKEN=revoked rx-push --profile google-ads-customer-match <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && test_grep "oauth2 token request: HTTP 400" err && ! grep -q revoked err
'

test_expect_success 'a FAILED job acks nothing: its records are dead-lettered with the failure_reason' '
	gads_start failed --fail-job 1 &&
	test_expect_code 3 ga failed rx-push --profile google-ads-customer-match <changes.ndjson >acks 2>err &&
	test_must_be_empty acks && dead err >got && printf "%s\n" $E1 $E2 | sort >expect && test_cmp expect got &&
	test_grep "the job failed: INSUFFICIENT_MATCHED_TRANSACTIONS" err
'

test_expect_success 'a job status rx-push does not know, or no job found: never an ack' '
	gv="{\"version\":\"v23\",\"customer_id\":\"1234567890\"}" &&
	for s in UNKNOWN UNSPECIFIED ""; do
		echo "{\"status\":200,\"body\":{\"results\":[{\"offlineUserDataJob\":{\"status\":\"$s\"}}]},\"carry\":\"run\",\"job\":\"7\"}" |
			jq -c -L "$RX_SHARE/jq" "include \"googleads\"; gads_job_status(\$v)" --argjson v "$gv" || return 1
	done >st &&
	echo "{\"status\":200,\"body\":{},\"carry\":\"run\",\"job\":\"7\"}" | jq -c -L "$RX_SHARE/jq" "include \"googleads\"; gads_job_status(\$v)" --argjson v "$gv" >>st &&
	test "$(jq -r .action st | sort -u)" = reject &&
	echo "{\"status\":200,\"body\":{\"results\":[{\"offlineUserDataJob\":{\"status\":\"RUNNING\"}}]},\"carry\":\"run\",\"job\":\"7\"}" |
		jq -c -L "$RX_SHARE/jq" "include \"googleads\"; gads_job_status(\$v)" --argjson v "$gv" >st && test "$(jq -r .action st)" = wait &&
	echo "{\"status\":200,\"body\":{\"name\":\"customers/1234567890/operations/1\"},\"job\":\"7\"}" |
		jq -c -L "$RX_SHARE/jq" "include \"googleads\"; gads_job_status(\$v)" --argjson v "$gv" >st &&
	test "$(jq -r "[.action, .next.method, .next.path, .carry] | @tsv" st)" = "$(printf "wait\tPOST\t/v23/customers/1234567890/googleAds:search\trun")" &&
	jq -r .next.body.query st | grep -q "WHERE offline_user_data_job.id = 7\$"
'

test_expect_success 'an error naming no operation rejects the whole request, acks none' '
	echo "{\"status\":200,\"body\":{\"partialFailureError\":{\"code\":3,\"message\":\"x\",\"details\":[{\"errors\":[{\"errorCode\":{\"requestError\":\"X\"},\"message\":\"y\"}]}]}},\"records\":[{},{}]}" |
		jq -c -L "$RX_SHARE/jq" "include \"googleads\"; gads_add_response" >r &&
	test "$(jq -r .action r)" = reject
'

dest_examples 100
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql |
	rx-map -f examples/mappings/google-ads.jq --hash hashedEmail:raw,hashedPhoneNumber:raw --drop-nulls |
	rows_of - | jq -cS . | sort
}
gads_start page

test_expect_success 'the page command: the list holds the model, hashed' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try google-ads-customer-match >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test "$(wc -l <got)" -gt 20 &&
	test "$(fake_count page violations)" = 0
'

test_expect_success 'a second run with changes and deletes: the list is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET phone = \"+49 30 1234567\" WHERE id = \"C00001\";
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00003\";
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id = \"C00002\"" &&
	n=$(fake_count page created) &&
	sh -e try.sh &&
	test "$(fake_count page created)" -gt "$n" &&
	model >expect && held page >got && test_cmp expect got
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_audience.sql \
| rx-map -f examples/mappings/google-ads.jq --hash hashedEmail:raw,hashedPhoneNumber:raw --drop-nulls \
| rx-diff --state kill.db --key hashedEmail --mode mirror \
| rx-batch --size 8 \
| rx-push --profile google-ads-customer-match --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

k=0
# poll:1: a job's operations added, its :run not yet sent; polled:1: a
# job run, its status never searched
for at in rx-push:poll:1 rx-push:polled:1; do
	k=$((k + 1))
	gads_start kill$k
	test_expect_success "killed at $at (a job half done), a normal run leaves the list equal to the model" '
		rm -f kill.db &&
		{ ga kill'$k' bash sync.sh '"$at"'; test $? != 0; } && test_grep "killed at" kill.err &&
		ga kill'$k' bash sync.sh && model >expect && held kill'$k' >got && test_cmp expect got &&
		test "$(fake_count kill'$k' violations)" = 0
	'
done

test_done
