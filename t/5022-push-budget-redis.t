#!/bin/sh
# --budget redis://HOST:PORT/NAME: rx-push processes (shards, on one host
# or several) draw on one rate budget kept in Redis, decided atomically
# by a Lua script on the server's clock.  Against a fake that enforces
# its limit: no 429, and the limit is used (the fraction is printed; the
# assertion is a generous bound that holds on a loaded machine, and
# bench/75-load.sh has the figure closer to the limit).  A daily quota and a Retry-After
# pause are shared too.  A budget that cannot be reached stops the run
# (exit 1 at start, 75 later), never an unlimited send.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-redis.sh"

redis_start tcp
BUDGET=redis://127.0.0.1:$REDIS_PORT
FAST="--retry-base 20 --max-records 1 --concurrency 4"

changes () { # PREFIX COUNT
	for i in $(seq 1 "$2"); do echo "{\"op\":\"upsert\",\"key\":\"$1$i\",\"hash\":\"h\",\"row\":{}}"; done
}

# used NAME LIMIT: the share of the fake's limit (LIMIT per second) that
# its admitted requests used between the first and the last
used () {
	fake_state "$1" | python3 -c '
import json, sys
d = json.load(sys.stdin)
span = d["last_admitted"] - d["first_admitted"]
print("%.3f" % ((d["accepted"] - 1) / (span * float(sys.argv[1])) if span > 0 else 0))' "$2"
}

test_expect_success 'three shards share one Redis budget: no 429, the limit used' '
	fake_start three -- --rate 50/1 &&
	changes a 60 >a.ndjson && changes b 60 >b.ndjson && changes c 60 >c.ndjson &&
	url=$(fake_url three) &&
	{ rx-push --profile webhook --url "$url" $FAST --rate 45/1s --budget "$BUDGET/three" <a.ndjson >a.acks 2>a.err & } &&
	pa=$! &&
	{ rx-push --profile webhook --url "$url" $FAST --rate 45/1s --budget "$BUDGET/three" <b.ndjson >b.acks 2>b.err & } &&
	pb=$! &&
	rx-push --profile webhook --url "$url" $FAST --rate 45/1s --budget "$BUDGET/three" <c.ndjson >c.acks 2>c.err &&
	wait $pa && wait $pb &&
	cat a.acks b.acks c.acks >all.acks &&
	test_lines 180 all.acks &&
	cat a.err b.err c.err >all.err && test_must_be_empty all.err &&
	fraction=$(used three 50) &&
	echo "throttled $(fake_count three throttled), accepted $(fake_count three accepted), max_in_window $(fake_count three max_in_window), used $fraction" &&
	test "$(fake_count three throttled)" = 0 &&
	test "$(fake_count three accepted)" = 180 &&
	test "$(fake_count three max_in_window)" -le 50 &&
	echo "# three shards used $fraction of the limit (at most 45/50 / 1.02 = 0.88; bench/75-load.sh measures it)" >three.used
'

cat three.used 2>/dev/null

test_expect_success 'a shard that finishes early leaves its share to the others' '
	fake_start early -- --rate 50/1 &&
	changes e 10 >e.ndjson && changes l 140 >l.ndjson &&
	url=$(fake_url early) &&
	{ rx-push --profile webhook --url "$url" $FAST --rate 45/1s --budget "$BUDGET/early" <e.ndjson >e.acks 2>e.err & } &&
	pe=$! &&
	rx-push --profile webhook --url "$url" $FAST --rate 45/1s --budget "$BUDGET/early" <l.ndjson >l.acks 2>l.err &&
	wait $pe &&
	test_lines 10 e.acks && test_lines 140 l.acks &&
	fraction=$(used early 50) &&
	echo "throttled $(fake_count early throttled), used $fraction" &&
	test "$(fake_count early throttled)" = 0 &&
	echo "# with one shard done early, used $fraction of the limit (a fixed half each: about 0.5)" >early.used &&
	awk -v f="$fraction" "BEGIN { exit !(f >= 0.6) }"
'

cat early.used 2>/dev/null

test_expect_success 'the budget lives in one hash of the server, and expires' '
	rcli HGETALL rx:budget:three >hash &&
	test_grep "^45/1 tat$" hash &&
	ttl=$(rcli PTTL rx:budget:three) &&
	test "$ttl" -gt 0
'

test_expect_success 'a daily quota is shared: 5 in all, then exit 75 for everyone' '
	fake_start quota -- &&
	changes q 8 >q.ndjson && changes r 8 >r.ndjson &&
	test_expect_code 75 rx-push --profile webhook --url "$(fake_url quota)" $FAST --rate 5/1d --budget "$BUDGET/quota" <q.ndjson >q.acks 2>q.err &&
	test_lines 5 q.acks &&
	test_grep "^rx-push: stopped: the daily quota" q.err &&
	test_expect_code 75 rx-push --profile webhook --url "$(fake_url quota)" $FAST --rate 5/1d --budget "$BUDGET/quota" <r.ndjson >r.acks 2>r.err &&
	test_must_be_empty r.acks &&
	test_grep "8 records left unacked" r.err &&
	test "$(fake_count quota requests)" = 5
'

test_expect_success 'a Retry-After seen by one process pauses the others' '
	fake_start pause -- --rate 5/1 --hint seconds &&
	changes x 8 >x.ndjson && changes y 8 >y.ndjson &&
	url=$(fake_url pause) &&
	{ rx-push --profile webhook --url "$url" $FAST --budget "$BUDGET/pause" <x.ndjson >x.acks 2>x.err & } &&
	px=$! &&
	rx-push --profile webhook --url "$url" $FAST --budget "$BUDGET/pause" <y.ndjson >y.acks 2>y.err &&
	wait $px &&
	test_lines 8 x.acks && test_lines 8 y.acks &&
	test "$(fake_count pause throttled)" -gt 0 &&
	test "$(fake_count pause violations)" = 0
'

test_expect_success 'no server at start: exit 1, a message, nothing sent' '
	fake_start none -- &&
	changes n 3 >n.ndjson &&
	test_expect_code 1 rx-push --profile webhook --url "$(fake_url none)" --budget redis://127.0.0.1:1/x <n.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "^rx-push: --budget: cannot connect to Redis redis://127.0.0.1:1: Connection refused" err &&
	test "$(fake_count none requests)" = 0
'

test_expect_success 'a budget URL must name the budget; TLS is refused with a way out' '
	test_expect_code 1 rx-push --profile webhook --url http://127.0.0.1:9/ --budget "$BUDGET" </dev/null 2>err &&
	test_grep "name the budget (redis://HOST:PORT/NAME" err &&
	test_expect_code 1 rx-push --profile webhook --url http://127.0.0.1:9/ --budget rediss://127.0.0.1/x </dev/null 2>err &&
	test_grep "no TLS; reach the server through a local TLS tunnel" err
'

test_expect_success 'the server gone mid-run: exit 75, the rest unacked, not one request more' '
	fake_start gone -- &&
	redis_start gone tcp &&
	port=$(cat gone.redis-port) &&
	changes g 5 >first && changes h 5 >rest &&
	{ { cat first; w=0; while [ ! -f go ] && [ $w -lt 400 ]; do sleep 0.05; w=$((w + 1)); done; cat rest; } |
	  rx-push --profile webhook --url "$(fake_url gone)" $FAST --rate 100/1s --budget "redis://127.0.0.1:$port/gone" >acks 2>err & } &&
	pid=$! &&
	i=0 && while [ "$(wc -l <acks)" -lt 5 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done &&
	test_lines 5 acks &&
	redis_stop gone &&
	touch go &&
	{ wait $pid; test $? = 75; } &&
	test_lines 5 acks &&
	test_grep "^rx-push: stopped: the rate budget is unreachable: .*Connection refused" err &&
	test_grep "5 records left unacked" err &&
	test "$(fake_count gone requests)" = 5
'

test_done
