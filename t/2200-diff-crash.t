#!/bin/sh
# rx-diff: the run lock, and kill -9 at every step of a run: the state
# stays intact and the next run leaves the destination right.
. "$(dirname "$0")/lib.sh"

# a fake destination: applies changes to dest.log, acks each
push () { tee -a dest.log | jq -c '{key,hash,run,op}'; }
dest () {
	jq -s -c 'reduce .[] as $c ({}; if $c.op == "delete" then del(.[$c.key])
		else .[$c.key] = ((.[$c.key] // {}) + $c.row) end) | .[]' dest.log | sort
}
model () {
	awk -v n="$1" -v v="$2" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%04d\",\"v\":%d}\n", i, i * v }' &&
	echo '{"$rx":"end"}'
}
intact () { test "$(sqlite3 "$1" "pragma integrity_check")" = ok; }
# wait until the state shows an open run
wait_open () {
	i=0
	while [ $i -lt 100 ]; do
		[ "$(sqlite3 "$1" "select count(*) from runs where ended is null" 2>/dev/null)" = 1 ] && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

test_expect_success 'a second run while one is open exits 75 naming the holder' '
	model 3 1 >m &&
	mkfifo fifo &&
	{ rx-diff --state l.db --key id <fifo >out1 & } &&
	pid=$! &&
	exec 3>fifo &&
	wait_open l.db &&
	test_expect_code 75 rx-diff --state l.db --key id <m >out2 2>err &&
	test_must_be_empty out2 &&
	test_grep "rx-diff: state .l.db. is locked by run 1 (pid $pid, started 20[0-9-]*T" err &&
	cat m >&3 && exec 3>&- &&
	wait $pid &&
	test_lines 3 out1
'

test_expect_success 'the commit process holds the lock after the stage has exited' '
	mkfifo acks &&
	{ rx-diff --state c.db --commit <acks & } &&
	cpid=$! &&
	exec 4>acks &&
	while ! sqlite3 c.db "select value from meta where name = \"waiting_committer\"" 2>/dev/null | grep -q .; do sleep 0.05; done &&
	rx-diff --state c.db --key id <m >out &&
	test_expect_code 75 rx-diff --state c.db --key id <m 2>err &&
	test_grep "locked by run 1 (pid $cpid," err &&
	jq -c "{key,hash,run,op}" out >&4 && exec 4>&- &&
	wait $cpid &&
	rx-diff --state c.db --key id <m >again &&
	test_must_be_empty again
'

test_expect_success 'a dead holder is recovered by the next run' '
	test_expect_code 137 sh -c "RX_KILL_AT=rx-diff:stage:1 rx-diff --state l.db --key id <m" &&
	rx-diff --state l.db --key id <m >out 2>err &&
	test_grep "recovering run" err &&
	intact l.db
'

# one sync whose stage or commit is killed at a point, then a normal sync:
# the destination must equal the model
crash_sync () {
	point=$1
	rm -f k.db* dest.log &&
	model 50 1 >m1 && model 50 2 | sed "/K0007/d" >m2 &&
	rx-diff --state k.db --key id --mode mirror <m1 | push | rx-diff --state k.db --commit &&
	case $point in
	commit:*)
		rx-diff --state k.db --key id --mode mirror <m2 | push |
			RX_KILL_AT=rx-diff:$point rx-diff --state k.db --commit --commit-every 7 ;;
	*)
		RX_KILL_AT=rx-diff:$point rx-diff --state k.db --key id --mode mirror <m2 | push |
			rx-diff --state k.db --commit ;;
	esac
	intact k.db &&
	rx-diff --state k.db --key id --mode mirror <m2 2>err | push | rx-diff --state k.db --commit &&
	intact k.db &&
	dest >actual && rows_of m2 | sort >expect && test_cmp expect actual &&
	rx-diff --state k.db --key id --mode mirror <m2 >quiet &&
	test_must_be_empty quiet
}

for point in stage:1 stage:30 merge:1 merge:25 emit:1 commit:1 commit:10 commit:30; do
	test_expect_success "kill -9 at $point, then a normal run" "crash_sync $point"
done

test_expect_success 'kill -9 mid-commit: only the open chunk is lost' '
	rm -f k.db* dest.log &&
	model 50 1 >m1 &&
	rx-diff --state k.db --key id <m1 | push | RX_KILL_AT=rx-diff:commit:25 rx-diff --state k.db --commit --commit-every 10 ;
	test "$(sqlite3 k.db "select count(*) from snapshot")" = 20 &&
	rx-diff --state k.db --key id <m1 >again 2>err &&
	test_lines 30 again
'

test_done
