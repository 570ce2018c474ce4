#!/bin/sh
# LinkedIn Matched Audiences, companies: the linkedin-companies profile
# against the fake (t/fake/fake-saas.py --vendor linkedin, its /companies):
# BATCH_CREATE elements, ADD and REMOVE, per-element statuses in order
# (read in C by "success" when all are 201, by the program when not), a
# throttle and the DAY quota, a refused token, a kill in the middle, a
# whole mirror sync twice, the page's command.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

li () {
	li_name=$1
	shift
	env LINKEDIN_TOKEN=AQVtest LINKEDIN_API_URL=$(cat "$li_name.url") LINKEDIN_SEGMENT_ID=123456 "$@"
}
cat >changes.ndjson <<'IN'
{"op":"upsert","records":[{"op":"upsert","key":"A1","hash":"h1","row":{"companyName":"Acme","companyWebsiteDomain":"acme.com","industries":["Retail","Software"],"city":"Berlin","state":"","country":"DE","postalCode":10115,"stockSymbol":null,"id":"X1"}},{"op":"upsert","key":"A2","hash":"h2","row":{"organizationUrn":"1035"}},{"op":"upsert","key":"A3","hash":"h3","row":{"organizationUrn":"urn:li:organization:1035","industries":"Software"}},{"op":"upsert","key":"A4","hash":"h4","row":{"city":"Paris"}}]}
IN

saas_start li -- --vendor linkedin --token AQVtest --log li.log

test_expect_success 'ADD elements in order: 201s ack, a bad urn and a company named by nothing are dead-lettered' '
	test_expect_code 3 li li rx-push --profile linkedin-companies <changes.ndjson >acks 2>err &&
	acked acks >got && printf "%s\n" A1 A3 >expect && test_cmp expect got &&
	dead err >got && printf "%s\n" A2 A4 >expect && test_cmp expect got &&
	test_grep "LinkedIn refused the company (400): organizationUrn is not a valid organization urn: 1035" err &&
	test_grep "LinkedIn refused the company (400): at least one of companyName" err &&
	test "$(wc -l <li.log)" = 1 && jq -r .path li.log >p && echo /rest/dmpSegments/123456/companies >expect && test_cmp expect p &&
	jq -r .body li.log | jq -c ".elements[0], .elements[2]" >el &&
	cat >expect <<-\EOF &&
	{"action":"ADD","companyName":"Acme","companyWebsiteDomain":"acme.com","industries":["Retail","Software"],"city":"Berlin","country":"DE","postalCode":"10115"}
	{"action":"ADD","organizationUrn":"urn:li:organization:1035","industries":["Software"]}
	EOF
	test_cmp expect el &&
	test_grep "\"x-restli-method\": \"BATCH_CREATE\"" li.log && test_grep "\"linkedin-version\": \"202604\"" li.log &&
	fake_records li | cut -f1 >got && printf "%s\n" acme.com urn:li:organization:1035 >expect && test_cmp expect got
'

test_expect_success 'with and without its "success": the same acks and dead letters' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"B1\",\"hash\":\"h\",\"row\":{\"companyName\":\"Bolt\"}}" \
		"{\"op\":\"upsert\",\"key\":\"B2\",\"hash\":\"h\",\"row\":{\"companyPageUrl\":\"https://www.linkedin.com/company/bolt\"}}" >ok &&
	cat ok changes.ndjson >both &&
	jq "del(.success)" "$RX_SHARE/destinations/linkedin-companies.json" >plain.json &&
	saas_start wa -- --vendor linkedin --token AQVtest && saas_start wb -- --vendor linkedin --token AQVtest &&
	{ li wa rx-push --profile linkedin-companies --stats a.stats <both >a.acks 2>a.err; echo $? >a.rc; } &&
	{ li wb rx-push --profile ./plain.json --stats b.stats <both >b.acks 2>b.err; echo $? >b.rc; } &&
	echo 3 >expect && test_cmp expect a.rc && test_cmp a.rc b.rc &&
	acked a.acks >a.got && printf "%s\n" A1 A3 B1 B2 >expect && test_cmp expect a.got &&
	acked b.acks >b.got && test_cmp a.got b.got &&
	grep "^{" a.err | jq -c "del(.error.at)" | sort >a.dead && grep "^{" b.err | jq -c "del(.error.at)" | sort >b.dead &&
	test_cmp a.dead b.dead && test_lines 2 a.dead &&
	jq -c "[.acked, .dead_lettered]" a.stats >got && echo "[4,2]" >expect && test_cmp expect got
'

test_expect_success 'REMOVE: the company leaves the segment' '
	echo "{\"op\":\"delete\",\"key\":\"A1\",\"hash\":\"h1\",\"row\":{\"companyName\":\"Acme\",\"companyWebsiteDomain\":\"acme.com\"}}" >del &&
	li li rx-push --profile linkedin-companies <del >acks &&
	acked acks >got && echo A1 >expect && test_cmp expect got &&
	tail -n 1 li.log | jq -r .body | jq -c ".elements" >a &&
	echo "[{\"action\":\"REMOVE\",\"companyName\":\"Acme\",\"companyWebsiteDomain\":\"acme.com\"}]" >expect && test_cmp expect a &&
	fake_records li | cut -f1 >got && ! grep -q acme.com got && fake_state li | jq -r ".deleted[]" >gone && echo acme.com >expect && test_cmp expect gone
'

test_expect_success '429 MEMBER MINUTE throttles; the DAY limit stops the run (exit 75)' '
	saas_start li2 -- --vendor linkedin --token AQVtest --throttle-first 1 &&
	li li2 rx-push --profile linkedin-companies --retry-base 10 <del >acks &&
	test_lines 1 acks && test "$(fake_count li2 throttled)" = 1 &&
	saas_start li3 -- --vendor linkedin --token AQVtest --quota 0 &&
	test_expect_code 75 li li3 rx-push --profile linkedin-companies <del >acks 2>err &&
	test_must_be_empty acks && test_grep "APPLICATION DAY limit" err
'

test_expect_success 'a refused token stops the run with exit 1' '
	test_expect_code 1 env LINKEDIN_TOKEN=AQVwrong LINKEDIN_API_URL=$(cat li.url) LINKEDIN_SEGMENT_ID=1 \
		rx-push --profile linkedin-companies <del >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && ! grep -q AQVwrong err
'

dest_examples 100
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_companies.sql |
	rx-map -f examples/mappings/linkedin-companies.jq |
	rows_of - | jq -cS . | sort
}
held () {
	fake_state "$1" | jq -cS ".records[].row" | sort
}
saas_start page -- --vendor linkedin --token AQVtest

test_expect_success 'the page command: the segment holds the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try linkedin-companies >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got && test "$(wc -l <got)" -gt 15
'

test_expect_success 'a second run with a change and a delete: the segment is the model again' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	sqlite3 examples/warehouse.db "
		UPDATE churn_scores SET churn_risk = 0.1 WHERE customer_id IN (SELECT id FROM customers WHERE last_name = \"Andersson\");
		UPDATE customers SET country = \"US\" WHERE last_name = \"Kim\"" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got &&
	! grep -q Andersson got && grep "Kim & Co" got >kim && test_grep "\"country\":\"US\"" kim &&
	fake_state page | jq -r ".deleted[]" >gone && echo "Andersson & Co" >expect && test_cmp expect gone
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/ad_companies.sql \
| rx-map -f examples/mappings/linkedin-companies.jq \
| rx-diff --state kill.db --key companyName --mode mirror \
| rx-batch --size 4 \
| LINKEDIN_TOKEN=AQVtest LINKEDIN_API_URL=$(cat kill.url) LINKEDIN_SEGMENT_ID=1 rx-push --profile linkedin-companies --concurrency 2 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after the 3rd request, a normal run leaves the segment equal to the model' '
	saas_start kill -- --vendor linkedin --token AQVtest &&
	{ bash sync.sh rx-push:sent:3; test $? != 0; } && test_grep "killed at sent" kill.err &&
	bash sync.sh && model >expect && held kill >got && test_cmp expect got
'

test_done
