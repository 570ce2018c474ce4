#!/bin/sh
# bench/55-jobs.sh - the asynchronous-job profiles end to end: each batch
# submitted (or its job created), its job polled, its results read.
#
#  Records/s and rx-push CPU per record, 200k records (at most
#  BENCH_ROWS) through klaviyo-profiles, sendgrid-contacts, zendesk-users
#  and google-ads-customer-match to a loopback sink (bench/sink.py: a
#  Python server answering the create, the polls and the results in each
#  vendor's shape; its CPU is printed beside, it is not rx-push's),
#  beside the webhook profile's raw path.  Each profile twice: its jobs
#  done at the first poll, and done at the second (one "in progress"
#  reply first).  A job's first poll comes a second after its submission
#  (the profiles' "interval"), so the wall time is the jobs' waits more
#  than work: -c 64 keeps enough batches in flight, and CPU per record is
#  the figure to read.  The goal: <= 10 us of rx-push CPU a record.
#  Also the body alone: a --dry-run's CPU per record.
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
export KLAVIYO_API_KEY=pk_bench SENDGRID_API_KEY=SG.bench ZENDESK_USER=agent@example.com/token ZENDESK_TOKEN=t
export GOOGLE_ADS_CUSTOMER_ID=1234567890 GOOGLE_ADS_USER_LIST_ID=4444 GOOGLE_ADS_DEVELOPER_TOKEN=dev
export GOOGLE_ADS_CLIENT_ID=c GOOGLE_ADS_CLIENT_SECRET=s GOOGLE_ADS_REFRESH_TOKEN=r

awk -v n="$N" 'BEGIN { for (i = 1; i <= n; i++) {
	h = sprintf("%08x", i); hex = h h h h h h h h
	printf "{\"op\":\"upsert\",\"key\":\"K%d\",\"hash\":\"h%d\",\"run\":\"0123456789abcdef.1\",\"row\":{\"email\":\"user%d@example.com\",\"first_name\":\"First%d\",\"last_name\":\"Last\",\"plan\":\"pro\",\"ltv\":%d.25,\"orders\":%d,\"country\":\"DE\",\"active\":true,\"hashedEmail\":\"%s\",\"hashedPhoneNumber\":\"%s\"}}\n", i, i, i, i % 1000, i, i % 50, hex, hex } }' >changes.ndjson

. "$TOP/bench/lib.sh"
trap 'stop_server' EXIT

echo "$N records through each job profile to a loopback sink (polls: the poll at which a job is done)"
printf '  %-26s %5s %9s %11s %14s %12s %9s %13s\n' profile polls records/s "CPU us/rec" "records/CPU-s" "sink CPU s" \
	requests "dry-run us/rec"
bench_profile () { # profile vendor polls
	p=$1 vendor=$2 polls=$3
	rm -f sink.cpu
	start_server "$TOP/bench/sink.py" sink.port --vendor "$vendor" --polls "$polls" --cpu-file sink.cpu
	export GOOGLE_ADS_API_URL=$URL GOOGLE_OAUTH_TOKEN_URL=$URL/token
	/usr/bin/time -f "%e %U %S" -o t.out -q rx-push --profile "$p" --url "$URL" -c 64 --rate 1000000/s \
		--stats st.json <changes.ndjson >acks 2>err
	stop_server
	/usr/bin/time -f "%e %U %S" -o d.out -q rx-push --profile "$p" --url "$URL" --dry-run <changes.ndjson >/dev/null 2>&1
	n=$(wc -l <acks)
	req=$(python3 -c "import json; print(json.load(open('st.json'))['requests'])" 2>/dev/null || echo 0)
	set -- $(cat t.out) "$(cat sink.cpu 2>/dev/null || echo 0)" $(cat d.out)
	awk -v p="$p" -v po="$polls" -v n="$n" -v N="$N" -v e="$1" -v u="$2" -v s="$3" -v sc="$4" -v r="$req" \
		-v du="$6" -v ds="$7" 'BEGIN {
		cpu = u + s; if (cpu <= 0) cpu = 0.01
		printf "  %-26s %5d %9.0f %11.2f %14.0f %12.2f %9d %13.2f\n", p, po, n / e, cpu * 1e6 / N, N / cpu, sc, r,
			(du + ds) * 1e6 / N }'
	[ "$n" -eq "$N" ] || { echo "  ($p: $n of $N acked: $(head -c 300 err))"; }
}
bench_profile webhook webhook 1
for prof in klaviyo-profiles:klaviyo sendgrid-contacts:sendgrid zendesk-users:zendesk \
	google-ads-customer-match:googleads; do
	case " ${BENCH_PROFILES:-${prof%%:*}} " in *" ${prof%%:*} "*) ;; *) continue ;; esac
	bench_profile "${prof%%:*}" "${prof#*:}" 1
	bench_profile "${prof%%:*}" "${prof#*:}" 2
done
