#!/bin/sh
# rx-push --test-connection for the ad audiences, Slack's Web API,
# Firestore, Sheets append and Elasticsearch/OpenSearch: each profile's
# "test" request against its vendor's fake (t/fake/fake-saas.py), which
# answers it the way the vendor does.  A good credential: exit 0 and
# "ok:"; a refused one, in the vendor's own shape (a 401, a 403, an
# OAuth error in a 400, or a refusal inside a 200 for Slack and
# TikTok): exit 1 and a line saying what the destination said.  And the
# profiles whose vendor has no read to test with say so, exit 1, never
# success.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

# last_request NAME: the fake's last request, "METHOD PATH" (the path
# with its query, the secrets in it shown as ***)
last_request () {
	tail -n 1 "$1.log" | jq -r '"\(.method) \(.path)"' |
		sed -e 's/access_token=[^&]*/access_token=***/' -e 's/appsecret_proof=[0-9a-f]*/appsecret_proof=***/'
}

# ---- Elasticsearch and OpenSearch: GET /{index} --------------------------

saas_start es -- --vendor elasticsearch --token es-key --log es.log
ES="env ELASTICSEARCH_URL=$(cat es.url) ELASTICSEARCH_API_KEY=es-key"

test_expect_success 'elasticsearch-bulk: a good API key reads the index: exit 0' '
	$ES ELASTICSEARCH_INDEX=people rx-push --profile elasticsearch-bulk --test-connection >out 2>err &&
	test_grep "^ok: GET elasticsearch-bulk answered HTTP 200" out &&
	echo "GET /people" >expect && last_request es >got && test_cmp expect got &&
	tail -n 1 es.log | jq -r .headers.authorization >got && echo "ApiKey es-key" >expect && test_cmp expect got
'

test_expect_success 'elasticsearch-bulk: a refused API key: exit 1, ES'"'"'s reason, not the key' '
	test_expect_code 1 env ELASTICSEARCH_URL=$(cat es.url) ELASTICSEARCH_API_KEY=wrong ELASTICSEARCH_INDEX=people \
		rx-push --profile elasticsearch-bulk --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 401: the destination refuses the credentials (it says: unable to authenticate with provided credentials" err &&
	! grep -q wrong err
'

test_expect_success 'elasticsearch-bulk: a key that may not see the index: 403 with the privilege it lacks' '
	test_expect_code 1 $ES ELASTICSEARCH_INDEX=forbidden rx-push --profile elasticsearch-bulk --test-connection 2>err &&
	test_grep "test: HTTP 403: the destination refuses the credentials (it says: action \[indices:admin/get\] is unauthorized.*view_index_metadata" err
'

test_expect_success 'elasticsearch-bulk: no such index: exit 1, and ES says so' '
	test_expect_code 1 $ES ELASTICSEARCH_INDEX=missing rx-push --profile elasticsearch-bulk --test-connection 2>err &&
	test_grep "test: HTTP 404 (it says: no such index \[missing\])" err
'

# basic auth: the fake takes --token as user:password
saas_start es2 -- --vendor elasticsearch --token rx:pw --log es2.log
test_expect_success 'opensearch-bulk: basic auth, GET /{index}: exit 0; a wrong password: exit 1' '
	env OPENSEARCH_URL=$(cat es2.url) OPENSEARCH_INDEX=people OPENSEARCH_USER=rx OPENSEARCH_PASSWORD=pw \
		rx-push --profile opensearch-bulk --test-connection >out 2>err &&
	test_grep "^ok: GET opensearch-bulk answered HTTP 200" out &&
	echo "GET /people" >expect && last_request es2 >got && test_cmp expect got &&
	tail -n 1 es2.log | jq -r .headers.authorization >got && echo "Basic cng6cHc=" >expect && test_cmp expect got &&
	test_expect_code 1 env OPENSEARCH_URL=$(cat es2.url) OPENSEARCH_INDEX=people OPENSEARCH_USER=rx OPENSEARCH_PASSWORD=no \
		rx-push --profile opensearch-bulk --test-connection 2>err &&
	test_grep "test: HTTP 401: the destination refuses the credentials" err
'

KID=AKIDEXAMPLE SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
saas_start os -- --vendor elasticsearch --aws "$KID:$SECRET:eu-west-1:es" --log os.log
OS="env OPENSEARCH_URL=$(cat os.url) OPENSEARCH_INDEX=people OPENSEARCH_AUTH=aws_sigv4 AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=$KID"

test_expect_success 'opensearch-bulk, SigV4: the test GET is signed, and the fake finds the signature right' '
	$OS AWS_SECRET_ACCESS_KEY=$SECRET rx-push --profile opensearch-bulk --test-connection >out 2>err &&
	test_grep "^ok: GET opensearch-bulk answered HTTP 200" out &&
	test "$(fake_count os signed)" = 1 &&
	tail -n 1 os.log | jq -r ".headers.authorization" | sed "s/Signature=[0-9a-f]*/Signature=S/" >got &&
	echo "AWS4-HMAC-SHA256 Credential=$KID/$(date -u +%Y%m%d)/eu-west-1/es/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=S" >expect &&
	test_cmp expect got &&
	tail -n 1 os.log | jq -r ".headers[\"x-amz-content-sha256\"]" >got &&
	echo e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855 >expect && test_cmp expect got &&
	! grep -q "$SECRET" out err
'

test_expect_success 'opensearch-bulk, SigV4: a signature made with the wrong secret is refused: exit 1, AWS'"'"'s words' '
	test_expect_code 1 $OS AWS_SECRET_ACCESS_KEY=not-the-secret rx-push --profile opensearch-bulk --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 403: the destination refuses the credentials (it says: The request signature we calculated does not match" err &&
	test "$(fake_count os signed)" = 1
'

test_expect_success 'opensearch-bulk, SigV4: a key scoped to another region is refused' '
	test_expect_code 1 env OPENSEARCH_URL=$(cat os.url) OPENSEARCH_INDEX=people OPENSEARCH_AUTH=aws_sigv4 AWS_REGION=us-east-1 \
		AWS_ACCESS_KEY_ID=$KID AWS_SECRET_ACCESS_KEY=$SECRET rx-push --profile opensearch-bulk --test-connection 2>err &&
	test_grep "HTTP 403.*Credential should be scoped to a valid region and service" err
'

# ---- Google: Firestore list, Sheets metadata -----------------------------

google_key || exit 1
saas_start fs -- --vendor firestore --google-key sa.pub --google-iss rx@proj.iam.gserviceaccount.com --log fs.log &&
google_service_account fs fs.json
FS="env GOOGLE_APPLICATION_CREDENTIALS=$PWD/fs.json FIRESTORE_API_URL=$(cat fs.url) FIRESTORE_COLLECTION=customers"

test_expect_success 'firestore-batchwrite: one document of the collection listed with the token: exit 0' '
	$FS FIRESTORE_PROJECT=proj rx-push --profile firestore-batchwrite --test-connection >out 2>err &&
	test_grep "^ok: GET firestore-batchwrite answered HTTP 200" out &&
	echo "GET /v1/projects/proj/databases/%28default%29/documents/customers?pageSize=1" >expect &&
	last_request fs >got && test_cmp expect got &&
	tail -n 1 fs.log | jq -r .headers.authorization | grep -q "^Bearer ."
'

# Google's binding for a list is {parent=.../documents/*/**}/{collection_id}
# and a single segment is decoded whole (google/api/http.proto): a %2F in
# it is a collection id with a "/", which Firestore refuses (400); a
# subcollection is a path of segments
test_expect_success 'firestore-batchwrite: a subcollection is listed as its path of segments, each encoded: exit 0' '
	$FS FIRESTORE_PROJECT=proj FIRESTORE_COLLECTION="users/u 1/orders" rx-push --profile firestore-batchwrite \
		--test-connection >out 2>err &&
	test_grep "^ok: GET firestore-batchwrite answered HTTP 200" out &&
	echo "GET /v1/projects/proj/databases/%28default%29/documents/users/u%201/orders?pageSize=1" >expect &&
	last_request fs >got && test_cmp expect got
'

test_expect_success 'firestore-batchwrite: a project the account has no role in: 403 PERMISSION_DENIED, exit 1' '
	test_expect_code 1 $FS FIRESTORE_PROJECT=forbidden rx-push --profile firestore-batchwrite --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 403: the destination refuses the credentials (it says: Missing or insufficient permissions.)" err
'

test_expect_success 'firestore-batchwrite: a service account whose key Google does not know: exit 1, no request' '
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.pem 2>/dev/null &&
	jq --rawfile k other.pem ".private_key = \$k" fs.json >other.json &&
	n=$(fake_count fs requests) &&
	test_expect_code 1 env GOOGLE_APPLICATION_CREDENTIALS=$PWD/other.json FIRESTORE_API_URL=$(cat fs.url) \
		FIRESTORE_COLLECTION=customers FIRESTORE_PROJECT=proj rx-push --profile firestore-batchwrite --test-connection >out 2>err &&
	test_must_be_empty out && test_grep "oauth2 token request: HTTP 400" err &&
	test "$(fake_count fs requests)" = "$n"
'

saas_start gs -- --vendor sheets --google-key sa.pub --google-iss rx@proj.iam.gserviceaccount.com --log gs.log &&
google_service_account gs gs.json
GS="env GOOGLE_APPLICATION_CREDENTIALS=$PWD/gs.json SHEETS_API_URL=$(cat gs.url)"

test_expect_success 'google-sheets-append: the spreadsheet'"'"'s id read with the token: exit 0' '
	$GS SHEETS_SPREADSHEET_ID=1BxiM rx-push --profile google-sheets-append --test-connection >out 2>err &&
	test_grep "^ok: GET google-sheets-append answered HTTP 200" out &&
	echo "GET /v4/spreadsheets/1BxiM?fields=spreadsheetId" >expect && last_request gs >got && test_cmp expect got
'

test_expect_success 'google-sheets-append: a spreadsheet not shared with the account: 403, exit 1' '
	test_expect_code 1 $GS SHEETS_SPREADSHEET_ID=not-shared rx-push --profile google-sheets-append --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 403: the destination refuses the credentials (it says: The caller does not have permission)" err
'

# ---- Meta, TikTok, LinkedIn ----------------------------------------------

saas_start meta -- --vendor meta --token EAABtest --meta-app-secret s3cret --meta-unknown-audience 999 --log meta.log
META="env META_GRAPH_URL=$(cat meta.url) META_APP_SECRET=s3cret"

test_expect_success 'meta-custom-audience: the audience read with the token and its proof: exit 0' '
	$META META_ACCESS_TOKEN=EAABtest META_AUDIENCE_ID=23850000000000001 \
		rx-push --profile meta-custom-audience --test-connection >out 2>err &&
	test_grep "^ok: GET meta-custom-audience answered HTTP 200" out &&
	echo "GET /v25.0/23850000000000001?fields=id&appsecret_proof=***&access_token=***" >expect &&
	last_request meta >got && test_cmp expect got
'

test_expect_success 'meta-custom-audience: a refused token: exit 1 with the Graph API'"'"'s message (a 400, code 190)' '
	test_expect_code 1 $META META_ACCESS_TOKEN=EAABwrong META_AUDIENCE_ID=23850000000000001 \
		rx-push --profile meta-custom-audience --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 400 (it says: Invalid OAuth access token - Cannot parse access token)" err &&
	! grep -q EAABwrong err
'

test_expect_success 'meta-custom-audience: an audience the token cannot see: exit 1, code 100'"'"'s message' '
	test_expect_code 1 $META META_ACCESS_TOKEN=EAABtest META_AUDIENCE_ID=999 \
		rx-push --profile meta-custom-audience --test-connection 2>err &&
	test_grep "HTTP 400 (it says: Unsupported get request. Object with ID '"'"'999'"'"' does not exist" err
'

saas_start tt -- --vendor tiktok --token act.test --tiktok-other-advertiser 666 --log tt.log
TT="env TIKTOK_API_URL=$(cat tt.url) TIKTOK_AUDIENCE_ID=123456"

test_expect_success 'tiktok-audience: the audience read for the advertiser: code 0, exit 0' '
	$TT TIKTOK_ACCESS_TOKEN=act.test TIKTOK_ADVERTISER_ID=70123 rx-push --profile tiktok-audience --test-connection >out 2>err &&
	test_grep "^ok: GET tiktok-audience answered HTTP 200" out &&
	echo "GET /open_api/v1.3/dmp/custom_audience/get/?advertiser_id=70123&custom_audience_ids=%5B%22123456%22%5D" >expect &&
	last_request tt >got && test_cmp expect got
'

test_expect_success 'tiktok-audience: a refused token is a 200 with code 40105: exit 1, never "ok"' '
	test_expect_code 1 $TT TIKTOK_ACCESS_TOKEN=act.wrong TIKTOK_ADVERTISER_ID=70123 \
		rx-push --profile tiktok-audience --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 200, but not the reply of a success: the destination refuses the credentials or the request (it says: The access token is invalid or has been revoked.)" err
'

test_expect_success 'tiktok-audience: an advertiser the token may not operate: exit 1 with TikTok'"'"'s message' '
	test_expect_code 1 $TT TIKTOK_ACCESS_TOKEN=act.test TIKTOK_ADVERTISER_ID=666 rx-push --profile tiktok-audience --test-connection 2>err &&
	test_grep "it says: No permission to operate advertiser 666." err
'

saas_start li -- --vendor linkedin --token li-test --linkedin-forbidden-segment 13 --log li.log
LI="env LINKEDIN_API_URL=$(cat li.url)"

for profile in linkedin-audience linkedin-companies; do
	test_expect_success "$profile: GET of the segment, X-RestLi-Method GET (not the writes' BATCH_CREATE): exit 0" '
		$LI LINKEDIN_TOKEN=li-test LINKEDIN_SEGMENT_ID=12 rx-push --profile '$profile' --test-connection >out 2>err &&
		test_grep "^ok: GET '$profile' answered HTTP 200" out &&
		echo "GET /rest/dmpSegments/12" >expect && last_request li >got && test_cmp expect got &&
		tail -n 1 li.log | jq -r ".headers | [.[\"x-restli-method\"], .[\"x-restli-protocol-version\"], .[\"linkedin-version\"], .authorization] | @tsv" >got &&
		printf "GET\t2.0.0\t202604\tBearer li-test\n" >expect && test_cmp expect got
	'
	test_expect_success "$profile: a refused token: 401 INVALID_ACCESS_TOKEN, exit 1" '
		test_expect_code 1 $LI LINKEDIN_TOKEN=li-wrong LINKEDIN_SEGMENT_ID=12 rx-push --profile '$profile' --test-connection >out 2>err &&
		test_must_be_empty out &&
		test_grep "test: HTTP 401: the destination refuses the credentials (it says: Invalid access token)" err
	'
done

test_expect_success 'linkedin-audience: a segment the token may not read: 403 ACCESS_DENIED, exit 1' '
	test_expect_code 1 $LI LINKEDIN_TOKEN=li-test LINKEDIN_SEGMENT_ID=13 rx-push --profile linkedin-audience --test-connection 2>err &&
	test_grep "HTTP 403: the destination refuses the credentials (it says: Not enough permissions to access: dmpSegments.GET" err
'

test_expect_success 'the fake routes as Rest.li does: a GET saying X-RestLi-Method BATCH_CREATE is a 400' '
	curl -s -o reply -w "%{http_code}\n" -H "Authorization: Bearer li-test" -H "LinkedIn-Version: 202604" \
		-H "X-Restli-Protocol-Version: 2.0.0" -H "X-RestLi-Method: BATCH_CREATE" "$(cat li.url)/rest/dmpSegments/12" >code &&
	echo 400 >expect && test_cmp expect code &&
	jq -r .message reply >got && echo "Method '"'"'GET'"'"' is not supported for URI '"'"'/rest/dmpSegments/12'"'"'" >expect && test_cmp expect got
'

# ---- Slack's Web API: auth.test -------------------------------------------

saas_start sl -- --vendor slack-api --token xoxb-test --log sl.log

test_expect_success 'slack-chat: auth.test with the bot token: {"ok": true}, exit 0' '
	env SLACK_API_URL=$(cat sl.url) SLACK_BOT_TOKEN=xoxb-test rx-push --profile slack-chat --test-connection >out 2>err &&
	test_grep "^ok: GET slack-chat answered HTTP 200" out &&
	echo "GET /auth.test" >expect && last_request sl >got && test_cmp expect got
'

test_expect_success 'slack-chat: a refused token is a 200 {"ok": false, "error": "invalid_auth"}: exit 1, never "ok"' '
	test_expect_code 1 env SLACK_API_URL=$(cat sl.url) SLACK_BOT_TOKEN=xoxb-wrong rx-push --profile slack-chat --test-connection >out 2>err &&
	test_must_be_empty out &&
	test_grep "test: HTTP 200, but not the reply of a success: .* (it says: invalid_auth)" err &&
	! grep -q xoxb-wrong err
'

# ---- the destinations with no read to test with ---------------------------

test_expect_success 'the profiles whose vendor has no authenticated read: --test-connection says so, exit 1, sends nothing' '
	saas_start none -- --vendor pagerduty &&
	for p in slack-webhook teams-webhook pagerduty-events segment-identify amplitude-identify braze mixpanel-engage mixpanel-import; do
		test_expect_code 1 env SLACK_WEBHOOK_URL=$(cat none.url) TEAMS_WEBHOOK_URL=$(cat none.url) BRAZE_API_KEY=k \
			SEGMENT_WRITE_KEY=k AMPLITUDE_API_KEY=k MIXPANEL_PROJECT_TOKEN=t MIXPANEL_SERVICE_ACCOUNT=u \
			MIXPANEL_SERVICE_ACCOUNT_SECRET=s MIXPANEL_PROJECT_ID=1 PAGERDUTY_ROUTING_KEY=r \
			rx-push --profile $p --url "$(cat none.url)" --test-connection >out 2>err || return 1
		test_must_be_empty out &&
		echo "rx-push: profile $p has no \"test\" request (a cheap authenticated read) to send" >expect &&
		test_cmp expect err || return 1
	done &&
	test "$(fake_count none requests)" = 0
'

test_expect_success 'a test.success that names items is refused when the profile loads' '
	jq ".test.success = {\"status\": 200, \"items\": \"x\", \"match\": \"position\"}" "$RX_SHARE/destinations/slack-chat.json" >bad.json &&
	test_expect_code 1 env SLACK_API_URL=$(cat sl.url) SLACK_BOT_TOKEN=xoxb-test rx-push --profile ./bad.json --test-connection 2>err &&
	test_grep "test.success: a status and the body" err &&
	test "$(fake_count sl requests)" = 2
'

test_done
