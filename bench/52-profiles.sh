#!/bin/sh
# bench/52-profiles.sh - the shipped SaaS profiles, each through its own
# body and response programs.
#
#  Records/s and rx-push CPU per record, 200k records (at most
#  BENCH_ROWS) through each profile to a loopback sink (bench/sink.py: a
#  Python server answering each vendor's success at once; its CPU is
#  printed beside, it is not rx-push's), beside the webhook profile's raw
#  path (no body program).  The goal: 100k records/s a core for every
#  profile, i.e. <= 10 us of rx-push CPU a record; for a profile its
#  vendor limits to one record a request, a request costs more than that
#  to any client, and bench/53 and 54 (a') set each such profile's cost
#  beside curl's for the same exchange (docs/scale.md).  Pacing against each
#  vendor's documented limit is the destination tests' business
#  (t/55NN: no 429 from a fake enforcing it), not timed here.
set -u
: "${BENCH_DIR:=$(mktemp -d)}" "${BENCH_ROWS:=1000000}"
TOP=$(cd "$(dirname "$0")/.." && pwd)
PATH=$TOP/bin:$PATH
cd "$BENCH_DIR" || exit 1
RX_SHARE=${RX_SHARE:-$TOP/share/rx}
export RX_SHARE

N=$BENCH_ROWS
[ "$N" -gt 200000 ] && N=200000

# every profile's credentials and variables, none of them real
export BRAZE_API_KEY=k ITERABLE_API_KEY=k MAILCHIMP_API_KEY=k MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=list1
export CUSTOMERIO_SITE_ID=site-1 CUSTOMERIO_API_KEY=test-key MARKETO_MUNCHKIN_ID=1 MARKETO_CLIENT_ID=rx-client
export MARKETO_CLIENT_SECRET=rx-secret MIXPANEL_PROJECT_TOKEN=test-key MIXPANEL_PROJECT_ID=1234567
export MIXPANEL_SERVICE_ACCOUNT=sa-user MIXPANEL_SERVICE_ACCOUNT_SECRET=sa-secret AMPLITUDE_API_KEY=test-key
export SEGMENT_WRITE_KEY=test-key

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++)
	printf "{\"op\":\"upsert\",\"key\":\"K%d\",\"hash\":\"h%d\",\"run\":\"0123456789abcdef.1\",\"row\":{\"email\":\"user%d@example.com\",\"email_address\":\"user%d@example.com\",\"first_name\":\"First%d\",\"last_name\":\"Last\",\"plan\":\"pro\",\"ltv\":%d.25,\"orders\":%d,\"country\":\"DE\",\"event\":\"Order Placed\",\"time\":1700000000,\"distinct_id\":\"K%d\",\"active\":true}}\n", i, i, i, i, i % 1000, i, i % 50, i }' >changes.ndjson

. "$TOP/bench/lib.sh"
trap 'stop_server' EXIT

echo "$N records through each profile's programs to a loopback sink"
printf '  %-20s %9s %11s %14s %12s %9s\n' profile records/s "CPU us/rec" "records/CPU-s" "sink CPU s" requests
bench_profile () { # profile vendor [url-suffix]
	p=$1 vendor=$2 suffix=${3:-}
	if [ "$p" = webhook-raw ]; then
		rx-batch --size 100 <changes.ndjson >batches
		prof=webhook
	else
		rx-batch --profile "$p" <changes.ndjson >batches
		prof=$p
	fi
	start_server "$TOP/bench/sink.py" sink.port --vendor "$vendor" --cpu-file sink.cpu
	/usr/bin/time -f "%e %U %S" -o t.out rx-push --profile "$prof" --url "$URL$suffix" --stats st.json <batches >acks 2>err
	stop_server
	n=$(wc -l <acks)
	req=$(python3 -c "import json; print(json.load(open('st.json'))['requests'])")
	set -- $(cat t.out) "$(cat sink.cpu 2>/dev/null || echo 0)"
	awk -v p="$p" -v n="$n" -v e="$1" -v u="$2" -v s="$3" -v sc="$4" -v r="$req" 'BEGIN {
		cpu = u + s; if (cpu <= 0) cpu = 0.01
		printf "  %-20s %9.0f %11.2f %14.0f %12.2f %9d\n", p, n / e, cpu * 1e6 / n, n / cpu, sc, r }'
	[ "$n" -eq "$N" ] || { echo "  ($p: $n of $N acked: $(head -c 300 err))"; }
}
bench_profile webhook-raw webhook
bench_profile braze braze
bench_profile iterable-users iterable
bench_profile mailchimp-members mailchimp /3.0
bench_profile customerio customerio
bench_profile marketo-leads marketo
bench_profile mixpanel-engage mixpanel
sed 's/"op":"upsert"/"op":"insert"/' changes.ndjson >events.ndjson && mv events.ndjson changes.ndjson
bench_profile mixpanel-import mixpanel
bench_profile amplitude-identify amplitude
bench_profile segment-identify segment
