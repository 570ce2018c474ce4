#!/bin/sh
# rx-push and SIGTERM/SIGINT: it stops taking input, lets the requests in
# flight finish (or abandons them after --grace), writes the acks it
# earned, reports what is left unacked, and exits 75.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

for i in $(seq 1 60); do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h$i\",\"row\":{\"n\":$i}}"; done >in.ndjson

test_expect_success 'SIGTERM mid-run: earned acks written, exit 75, the rest unacked' '
	fake_start slow -- --slow-every 1 --slow-ms 100 &&
	{ rx-push --profile webhook --url "$(fake_url slow)" --max-records 1 --concurrency 2 <in.ndjson >acks 2>err & } &&
	pid=$! &&
	i=0 && while [ "$(fake_count slow requests)" -lt 4 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
	kill -TERM $pid &&
	{ wait $pid; echo $? >status; } &&
	echo 75 >expect &&
	test_cmp expect status &&
	test_grep "^rx-push: stopped: interrupted; [0-9]* records\{0,1\} left unacked" err &&
	n=$(wc -l <acks) &&
	test "$n" -gt 2 && test "$n" -lt 60 &&
	fake_records slow | cut -f1 | sort >stored &&
	sed -n "s/^{\"key\":\"\\([^\"]*\\)\".*/\\1/p" acks | sort >acked &&
	comm -23 acked stored >acked-not-stored &&
	test_must_be_empty acked-not-stored
'

test_expect_success 'SIGINT with a reply that never comes: abandoned after --grace' '
	fake_start stuck -- --slow-every 3 --slow-ms 20000 &&
	{ rx-push --profile webhook --url "$(fake_url stuck)" --max-records 1 --concurrency 1 --grace 300 <in.ndjson >acks 2>err & } &&
	pid=$! &&
	i=0 && while [ "$(fake_count stuck requests)" -lt 3 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
	sleep 0.2 &&
	kill -INT $pid &&
	start=$(date +%s) &&
	{ wait $pid; echo $? >status; } &&
	test $(( $(date +%s) - start )) -le 2 &&
	echo 75 >expect &&
	test_cmp expect status &&
	test_lines 2 acks &&
	test_grep "abandoning 1 request in flight" err &&
	test_grep "left unacked" err
'

test_done
