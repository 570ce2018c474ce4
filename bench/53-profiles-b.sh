#!/bin/sh
# bench/53-profiles-b.sh - the catalogue's ad-audience, notification, work
# tool, search and document-store profiles (the second half of the
# catalogue), beside the webhook profile's raw path.
#
#  (a) cost: N records (200,000; 20,000 for the profiles that send one
#      record a request) through each profile's body and response
#      programs to its vendor fake on loopback, in --sink mode (it replies
#      as the vendor does and keeps nothing): records/s on the wall, and
#      rx-push's own CPU per record; the sink's CPU beside it (a Python
#      http.server: at one record a request it, not rx-push, sets the
#      wall time).  Also the body program alone: a --dry-run's CPU per
#      record.  webhook/1 is the raw path at one record a request: what a
#      request costs rx-push with no profile work, the floor beneath the
#      profiles that send one record a request.
#  (a') what one request costs an HTTP client at all: curl --parallel (8
#      at once, keep-alive: what a user scripting it would run) sends the
#      very requests of webhook/1 (from its --dry-run: URL, headers and
#      body) to the same sink.  Its CPU per request beside webhook/1's,
#      and every profile's CPU a request as a multiple of it: no client
#      sends a request much below it, whatever it does, so that multiple
#      is what a profile adds to the HTTP exchange (at one record a
#      request, all there is to win).
#  (b) rate limits: against a fake enforcing each vendor's documented
#      limit, the request rate the profile reaches (from the fake's
#      arrival times) as a share of the limit, and the 429s (or the
#      vendor's throttle signal) it drew.
#
# Figures are printed, never asserted.  The machine is shared: CPU time
# is the steadier figure.  BENCH_PROFILES="a b" runs only those profiles.
set -u
: "${BENCH_DIR:=$(mktemp -d)}" "${BENCH_ROWS:=1000000}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH=$TOP/bin:$PATH
cd "$BENCH_DIR" || exit 1
RX_SHARE=${RX_SHARE:-$TOP/share/rx}
export RX_SHARE
. "$TOP/bench/lib.sh"

min () { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
BIG=$(min "$BENCH_ROWS" 200000)
ONE=$(min "$BENCH_ROWS" 20000)

FAKE_PID=
start_sink () { # saas|dest ARGS...: fake-saas.py or fake-dest.py
	rm -f sink.port
	if [ "$1" = dest ]; then
		shift
		python3 "$TOP/t/fake/fake-dest.py" --port-file sink.port "$@" >sink.out 2>&1 &
	else
		shift
		python3 "$TOP/t/fake/fake-saas.py" --port-file sink.port "$@" >sink.out 2>&1 &
	fi
	FAKE_PID=$!
	i=0
	while [ ! -s sink.port ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat sink.out; exit 1; }
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat sink.port)
}
stop_sink () { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=; }
trap 'stop_sink' EXIT
cpu_of () { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# A service account for the Google profiles.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem 2>/dev/null
openssl pkey -in sa.pem -pubout -out sa.pub 2>/dev/null
service_account () {
	python3 -c '
import json, sys
print(json.dumps({"type": "service_account", "private_key_id": "k1", "private_key": open("sa.pem").read(),
                  "client_email": "rx@bench.iam.gserviceaccount.com", "token_uri": sys.argv[1] + "/token"}))' "$URL" >sa.json
}

# Inputs: single changes, as rx-diff writes them.  OP, N, and the row shape.
gen () { # OP N SHAPE
	awk -v op="$1" -v n="$2" -v shape="$3" 'BEGIN {
	for (i = 1; i <= n; i++) {
		h = sprintf("%08x", i); hex = h h h h h h h h
		if (shape == "person") row = sprintf("{\"id\":\"K%d\",\"email\":\"u%d@example.com\",\"name\":\"First%d Last\",\"plan\":\"pro\",\"ltv\":%d.5,\"text\":\"Churn risk 91%%: First%d <u%d@example.com>\"}", i, i, i, i, i, i)
		else if (shape == "airtable") row = sprintf("{\"Customer_ID\":\"K%d\",\"Email\":\"u%d@example.com\",\"Plan\":\"pro\",\"LTV\":%d.5}", i, i, i)
		else if (shape == "notion") row = sprintf("{\"rx_key\":\"K%d\",\"Name\":\"First%d Last\",\"Email\":{\"email\":\"u%d@example.com\"},\"LTV\":%d.5}", i, i, i, i)
		else if (shape == "asana") row = sprintf("{\"id\":\"K%d\",\"name\":\"Call First%d\",\"notes\":\"E-mail: u%d@example.com\"}", i, i, i)
		else if (shape == "meta") row = sprintf("{\"EMAIL\":\"%s\",\"PHONE\":\"%s\",\"FN\":\"%s\"}", hex, hex, hex)
		else if (shape == "tiktok") row = sprintf("{\"EMAIL_SHA256\":\"%s\",\"PHONE_SHA256\":\"%s\"}", hex, hex)
		else if (shape == "company") row = sprintf("{\"companyName\":\"Company %d\",\"companyWebsiteDomain\":\"c%d.example.com\",\"industries\":[\"Software\"],\"country\":\"US\"}", i, i)
		else if (shape == "linkedin") row = sprintf("{\"SHA256_EMAIL\":\"%s\",\"firstName\":\"First%d\",\"lastName\":\"Last\",\"country\":\"US\"}", hex, i)
		key = (shape == "meta" || shape == "tiktok" || shape == "linkedin") ? hex : "K" i
		if (op == "rewrite") # an upsert of a row the sheet has: its address as the id
			printf "{\"op\":\"upsert\",\"key\":\"%s\",\"hash\":\"h%d\",\"id\":\"Sheet1!A%d\",\"row\":%s}\n", key, i, i + 1, row
		else
			printf "{\"op\":\"%s\",\"key\":\"%s\",\"hash\":\"h%d\",\"row\":%s}\n", op, key, i, row
	} }'
}

KEY32=R0UT1NGKEYR0UT1NGKEYR0UT1NGKEY12
# env for a profile, given the sink's URL
env_of () {
	case $1 in
	webhook) echo "" ;;
	slack-webhook) echo "SLACK_WEBHOOK_URL=$URL/services/T000/B000/XXXX" ;;
	slack-chat) echo "SLACK_BOT_TOKEN=xoxb-bench SLACK_CHANNEL=C0123 SLACK_API_URL=$URL" ;;
	teams-webhook) echo "TEAMS_WEBHOOK_URL=$URL/webhookb2/XXXX" ;;
	pagerduty-events) echo "PAGERDUTY_ROUTING_KEY=$KEY32 PAGERDUTY_EVENTS_URL=$URL" ;;
	notion-pages) echo "NOTION_TOKEN=secret_b NOTION_API_URL=$URL NOTION_DATABASE_ID=d98" ;;
	asana-tasks) echo "ASANA_TOKEN=tok ASANA_API_URL=$URL ASANA_PROJECT=1200" ;;
	airtable-upsert) echo "AIRTABLE_TOKEN=pat AIRTABLE_API_URL=$URL AIRTABLE_BASE_ID=appB AIRTABLE_TABLE=T AIRTABLE_MERGE_ON=Customer_ID" ;;
	google-sheets-append|google-sheets-rows) echo "GOOGLE_APPLICATION_CREDENTIALS=$BENCH_DIR/sa.json SHEETS_API_URL=$URL SHEETS_SPREADSHEET_ID=1B" ;;
	elasticsearch-bulk) echo "ELASTICSEARCH_URL=$URL ELASTICSEARCH_INDEX=customers" ;;
	opensearch-bulk) echo "OPENSEARCH_URL=$URL OPENSEARCH_INDEX=customers" ;;
	firestore-batchwrite) echo "GOOGLE_APPLICATION_CREDENTIALS=$BENCH_DIR/sa.json FIRESTORE_API_URL=$URL FIRESTORE_PROJECT=p FIRESTORE_COLLECTION=c" ;;
	meta-custom-audience) echo "META_ACCESS_TOKEN=EAAB META_GRAPH_URL=$URL META_AUDIENCE_ID=2385" ;;
	tiktok-audience) echo "TIKTOK_ACCESS_TOKEN=act TIKTOK_API_URL=$URL TIKTOK_ADVERTISER_ID=7012 TIKTOK_AUDIENCE_ID=1234" ;;
	linkedin-audience|linkedin-companies) echo "LINKEDIN_TOKEN=AQV LINKEDIN_API_URL=$URL LINKEDIN_SEGMENT_ID=123" ;;
	esac
}

# what each vendor fake checks: its own credential (or, for Google, the
# JWT grant of the service account above)
sink_args () {
	case $1 in
	slack-webhook|teams) echo "--token XXXX" ;;
	slack-api) echo "--token xoxb-bench" ;;
	pagerduty) echo "--token $KEY32" ;;
	sheets|firestore) echo "--google-key sa.pub" ;;
	*) echo "" ;;
	esac
}

# profile:vendor:op:shape:records
PROFILES="webhook:dest:upsert:person:$BIG
webhook/1:dest:upsert:person:$ONE
elasticsearch-bulk:elasticsearch:upsert:person:$BIG
opensearch-bulk:elasticsearch:upsert:person:$BIG
firestore-batchwrite:firestore:upsert:person:$BIG
google-sheets-append:sheets:insert:person:$BIG
google-sheets-rows:sheets:rewrite:person:$BIG
meta-custom-audience:meta:upsert:meta:$BIG
tiktok-audience:tiktok:upsert:tiktok:$BIG
linkedin-audience:linkedin:upsert:linkedin:$BIG
linkedin-companies:linkedin:upsert:company:$BIG
airtable-upsert:airtable:upsert:airtable:$BIG
slack-webhook:slack-webhook:upsert:person:$ONE
slack-chat:slack-api:upsert:person:$ONE
teams-webhook:teams:upsert:person:$ONE
pagerduty-events:pagerduty:upsert:person:$ONE
notion-pages:notion:insert:notion:$ONE
asana-tasks:asana:insert:asana:$ONE"

rm -f req.cpu
echo "(a) records through each profile's body and response programs, to a loopback sink (no rate limit)"
printf '  %-22s %8s %10s %11s %12s %10s %11s\n' profile records records/s "rx-push CPU" "CPU/record" "sink CPU" "dry-run CPU/rec"
echo "$PROFILES" | while IFS=: read -r prof vendor op shape n; do
	case " ${BENCH_PROFILES:-$prof} " in *" $prof "*) ;; *) continue ;; esac
	gen "$op" "$n" "$shape" >in.ndjson
	if [ "$vendor" = dest ]; then start_sink dest --family webhook
	else start_sink saas --vendor "$vendor" --sink $(sink_args "$vendor"); fi
	service_account
	e=$(env_of "$prof")
	url=
	[ "$prof" = webhook ] && url="--url $URL"
	# the raw path at one record a request: what a request costs alone
	[ "$prof" = webhook/1 ] && prof=webhook url="--url $URL --max-records 1"
	c0=$(cpu_of "$FAKE_PID")
	/usr/bin/time -f "%e %U %S" -o t.out env $e rx-push --profile $prof $url --rate 1000000/s --stats st.json <in.ndjson >acks 2>err
	c1=$(cpu_of "$FAKE_PID")
	/usr/bin/time -f "%e %U %S" -o d.out env $e rx-push --profile $prof $url --dry-run <in.ndjson >/dev/null 2>&1
	acked=$(wc -l <acks)
	set -- $(cat t.out)
	wall=$1 cpu=$(echo "$2 + $3" | bc -l)
	set -- $(cat d.out)
	dry=$(echo "$2 + $3" | bc -l)
	[ "$url" = "--url $URL --max-records 1" ] && prof=webhook/1
	echo "$prof $(jq .requests st.json) $cpu" >>req.cpu # for (a'): its CPU a request
	awk -v p="$prof" -v n="$n" -v a="$acked" -v w="$wall" -v c="$cpu" -v s0="$c0" -v s1="$c1" -v d="$dry" 'BEGIN {
		printf "  %-22s %8d %10.0f %9.2f s %9.1f us %8.2f s %9.1f us%s\n", p, n, a / w, c, 1e6 * c / n, s1 - s0, 1e6 * d / n,
			(a == n ? "" : sprintf("  (%d acked)", a)) }'
	stop_sink
done

echo "(a') one request's cost to an HTTP client: curl --parallel sends webhook/1's requests"
case " ${BENCH_PROFILES:-webhook/1} " in *" webhook/1 "*)
	gen upsert "$ONE" person >in.ndjson
	start_sink dest --family webhook
	c0=$(cpu_of "$FAKE_PID")
	curl_requests "$URL" in.ndjson
	c1=$(cpu_of "$FAKE_PID")
	awk -v n="$curl_n" -v c="$curl_cpu" -v s0="$c0" -v s1="$c1" 'BEGIN {
		printf "  %-22s %8d %10s %9.2f s %9.1f us %8.2f s   (its config read included)\n", "curl -Z (8)", n, "", c,
			1e6 * c / n, s1 - s0 }'
	[ -s req.cpu ] && per_request_table req.cpu
	stop_sink ;;
esac

echo "(b) against a fake enforcing the documented limit: the rate reached, and the throttles drawn"
printf '  %-22s %-16s %9s %12s %9s %9s\n' profile "documented" requests "reached/s" "of limit" throttles
RATES="slack-webhook:slack-webhook:upsert:person:1:1:20
slack-chat:slack-api:upsert:person:1:1:20
teams-webhook:teams:upsert:person:4:1:40
pagerduty-events:pagerduty:upsert:person:120:60:24
notion-pages:notion:insert:notion:3:1:30
asana-tasks:asana:insert:asana:150:60:30
airtable-upsert:airtable:upsert:airtable:5:1:50
google-sheets-append:sheets:insert:person:60:60:20
google-sheets-rows:sheets:rewrite:person:60:60:20
firestore-batchwrite:firestore:upsert:person:1:1:12
linkedin-companies:linkedin:upsert:company:300:60:320"
echo "$RATES" | while IFS=: read -r prof vendor op shape lim per reqs; do
	case " ${BENCH_PROFILES:-$prof} " in *" $prof "*) ;; *) continue ;; esac
	max=$(jq -r '.max_records // 100' "$TOP/share/rx/destinations/$prof.json")
	gen "$op" $((reqs * max)) "$shape" >in.ndjson
	rm -f log.ndjson
	start_sink saas --vendor "$vendor" --sink $(sink_args "$vendor") --rate "$lim/$per" --window "$per" --log log.ndjson
	service_account
	e=$(env_of "$prof")
	env $e rx-push --profile $prof <in.ndjson >acks 2>err
	thr=$(curl -s "$URL/_state" | jq .throttled)
	jq -r 'select(.path | test("/token$") | not) | .t' log.ndjson | sort -n |
	awk -v p="$prof" -v lim="$lim" -v per="$per" -v thr="$thr" '
		NR == 1 { first = $1 } { last = $1; n++ }
		END { r = (n - 1) / (last - first); l = lim / per
		      printf "  %-22s %-16s %9d %12.2f %8.0f%% %9d\n", p, lim "/" per "s", n, r, 100 * r / l, thr }'
	stop_sink
done
echo "  (linkedin-companies: 320 requests, more than the minute's 300, so the fake's 60 s window is crossed."
echo "   Meta, TikTok, linkedin-audience and Elasticsearch publish no fixed request rate: their profiles follow"
echo "   the vendors' throttle signals instead; see each page in docs/destinations/.)"
