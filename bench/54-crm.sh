#!/bin/sh
# bench/54-crm.sh - the CRM profiles (HubSpot, Salesforce, Pipedrive, Attio,
# Dataverse), beside the webhook profile's raw path.
#
#  (a) cost: N records (200,000 for the batch APIs; 10,000 for those that
#      send one record a request) through each profile's body and
#      response programs to its vendor fake on loopback (t/fake/hubspot.py,
#      t/fake/crm.py --sink): records/s on the wall and rx-push's own CPU
#      per record (the figure that says whether the profile, and not the
#      Python fake, is what limits a sync), and the body program alone (a
#      dry run's CPU per record).
#  (a') the same CPU a request, beside what a request costs curl
#      --parallel (bench/lib.sh curl_requests: the webhook's requests of
#      one record each, to fake-dest): at one record a request, the HTTP
#      exchange is most of a record's cost, whatever sends it.
#  (b) rate limits: against a fake enforcing the profile's documented
#      short window, the request rate the profile reaches (from the fake's
#      arrival times) as a share of the limit, and the 429s drawn.
#      Salesforce has no short window (a 24-hour allocation): not measured.
#
# Figures are printed, never asserted.  The machine is shared: CPU time is
# the steadier figure.
set -u
: "${BENCH_DIR:=$(mktemp -d)}" "${BENCH_ROWS:=1000000}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH=$TOP/bin:$PATH
cd "$BENCH_DIR" || exit 1
RX_SHARE=${RX_SHARE:-$TOP/share/rx}
export RX_SHARE
. "$TOP/bench/lib.sh"
export HUBSPOT_TOKEN=b SALESFORCE_TOKEN=b PIPEDRIVE_TOKEN=b ATTIO_TOKEN=b DATAVERSE_TOKEN=b

min () { [ "$1" -lt "$2" ] && echo "$1" || echo "$2"; }
BIG=$(min "$BENCH_ROWS" 200000)
ONE=$(min "$BENCH_ROWS" 10000)

FAKE_PID=
start_fake () { # SCRIPT ARGS...
	script=$1
	shift
	rm -f fake.port
	python3 "$TOP/t/fake/$script" --port-file fake.port "$@" >fake.out 2>&1 &
	FAKE_PID=$!
	i=0
	while [ ! -s fake.port ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat fake.out; exit 1; }
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat fake.port)
}
stop_fake () { [ -n "$FAKE_PID" ] && kill "$FAKE_PID" 2>/dev/null; wait "$FAKE_PID" 2>/dev/null; FAKE_PID=; }
trap 'stop_fake' EXIT
cpu_of () { awk '{ print ($14 + $15) / 100 }' "/proc/$1/stat" 2>/dev/null || echo 0; }

# single changes as rx-diff writes them: OP N SHAPE (ids where the op needs one)
gen () {
	awk -v op="$1" -v n="$2" -v shape="$3" 'BEGIN {
	for (i = 1; i <= n; i++) {
		if (shape == "hubspot") row = sprintf("{\"domain\":\"co%d.example.com\",\"name\":\"Zoë Ünal %d\",\"plan\":\"pro\",\"annualrevenue\":%d.5}", i, i, i)
		else if (shape == "salesforce") row = sprintf("{\"Warehouse_Id__c\":\"K%d\",\"LastName\":\"Ünal %d\",\"Email\":\"u%d@example.com\",\"Plan__c\":\"pro\",\"Amount__c\":%d.5}", i, i, i, i)
		else if (shape == "pipedrive") row = sprintf("{\"_rx_id\":\"K%d\",\"name\":\"Zoë %d\",\"email\":\"u%d@example.com\",\"custom_fields\":{\"plan\":\"pro\"}}", i, i, i)
		else if (shape == "attio") row = sprintf("{\"email_addresses\":\"u%d@example.com\",\"name\":\"Zoë %d\",\"plan\":\"pro\"}", i, i)
		else if (shape == "dataverse") row = sprintf("{\"rx_customerid\":\"K%d\",\"lastname\":\"O'\''Brien %d\",\"emailaddress1\":\"u%d@example.com\"}", i, i, i)
		else row = sprintf("{\"id\":\"K%d\",\"email\":\"u%d@example.com\",\"name\":\"First%d\",\"plan\":\"pro\",\"ltv\":%d.5}", i, i, i, i)
		id = ""
		if (shape == "pipedrive") id = sprintf(",\"id\":%d", i)
		printf "{\"op\":\"%s\",\"key\":\"K%d\",\"hash\":\"h%d\",\"row\":%s%s}\n", op, i, i, row, id
	} }'
}

# profile:fake:fake args:op:shape:records
PROFILES="webhook:fake-dest.py:--family webhook:upsert:webhook:$BIG
hubspot-companies:hubspot.py:--rate 1000000/1:insert:hubspot:$BIG
salesforce:crm.py:--vendor salesforce --sink:upsert:salesforce:$BIG
pipedrive-persons:crm.py:--vendor pipedrive --sink:insert:pipedrive:$ONE
attio-records:crm.py:--vendor attio --sink:upsert:attio:$ONE
dataverse:crm.py:--vendor dataverse --sink:upsert:dataverse:$ONE"

rm -f req.cpu
echo "(a) records through each profile's body and response programs, to a loopback fake (no rate limit)"
printf '  %-18s %8s %10s %11s %12s %10s %15s\n' profile records records/s "rx-push CPU" "CPU/record" "fake CPU" "dry-run CPU/rec"
echo "$PROFILES" | while IFS=: read -r prof script args op shape n; do
	case " ${BENCH_PROFILES:-$prof} " in *" $prof "*) ;; *) continue ;; esac
	gen "$op" "$n" "$shape" >in.ndjson
	# shellcheck disable=SC2086
	start_fake "$script" $args
	c0=$(cpu_of "$FAKE_PID")
	/usr/bin/time -f "%e %U %S" -o t.out rx-push --profile "$prof" --url "$URL" --rate 1000000/s --stats st.json <in.ndjson >acks 2>err
	c1=$(cpu_of "$FAKE_PID")
	/usr/bin/time -f "%e %U %S" -o d.out rx-push --profile "$prof" --url "$URL" --dry-run <in.ndjson >/dev/null 2>&1
	acked=$(wc -l <acks)
	set -- $(cat t.out)
	wall=$1 cpu=$(echo "$2 + $3" | bc -l)
	set -- $(cat d.out)
	dry=$(echo "$2 + $3" | bc -l)
	awk -v p="$prof" -v n="$n" -v a="$acked" -v w="$wall" -v c="$cpu" -v s0="$c0" -v s1="$c1" -v d="$dry" 'BEGIN {
		printf "  %-18s %8d %10.0f %9.2f s %9.1f us %8.2f s %12.1f us%s\n", p, n, a / (w > 0 ? w : 0.01), c, 1e6 * c / n,
			s1 - s0, 1e6 * d / n, (a == n ? "" : sprintf("  (%d acked)", a)) }'
	echo "$prof $(jq .requests st.json) $cpu" >>req.cpu
	stop_fake
done

echo "(a') CPU a request, beside curl --parallel sending the webhook's one-record requests"
if [ -s req.cpu ]; then
	gen upsert "$ONE" webhook >in.ndjson
	start_fake fake-dest.py --family webhook
	curl_requests "$URL" in.ndjson
	stop_fake
	printf '  %-22s %8d requests: %6.1f us of curl CPU a request\n' "curl -Z (8)" "$curl_n" \
		"$(echo "1000000 * $curl_cpu / $curl_n" | bc -l)"
	per_request_table req.cpu
fi

echo "(b) against a fake enforcing the documented limit: the rate reached, and the 429s drawn"
printf '  %-18s %-12s %9s %12s %9s %6s\n' profile documented requests "reached/s" "of limit" 429s
# profile:fake:vendor args:limit:per seconds:requests:op:shape
RATES="hubspot-companies:hubspot.py::100:10:150:insert:hubspot
pipedrive-persons:crm.py:--vendor pipedrive:20:2:60:insert:pipedrive
attio-records:crm.py:--vendor attio:25:1:75:upsert:attio
dataverse:crm.py:--vendor dataverse:6000:300:100:upsert:dataverse"
echo "$RATES" | while IFS=: read -r prof script args lim per reqs op shape; do
	case " ${BENCH_PROFILES:-$prof} " in *" $prof "*) ;; *) continue ;; esac
	max=$(jq -r '.max_records // 100' "$TOP/share/rx/destinations/$prof.json")
	gen "$op" $((reqs * max)) "$shape" >in.ndjson
	rm -f log.ndjson
	# shellcheck disable=SC2086
	start_fake "$script" $args --rate "$lim/$per" --log log.ndjson
	rx-push --profile "$prof" --url "$URL" <in.ndjson >acks 2>err
	thr=$(curl -s "$URL/_state" | jq .throttled)
	jq -r .t log.ndjson | sort -n |
	awk -v p="$prof" -v lim="$lim" -v per="$per" -v thr="$thr" '
		NR == 1 { first = $1 } { last = $1; n++ }
		END { r = (n - 1) / (last - first); l = lim / per
		      printf "  %-18s %-12s %9d %12.2f %8.0f%% %6d\n", p, lim "/" per "s", n, r, 100 * r / l, thr }'
	stop_fake
done
echo "  salesforce: a rolling 24-hour allocation (api-usage in Sforce-Limit-Info), no short window to reach"
