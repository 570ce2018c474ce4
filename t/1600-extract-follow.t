#!/bin/sh
# rx-extract --follow COL: a SQLite model polled for the rows whose COL
# is at or past a cursor; an overlap window for late commits; rows read
# again unchanged not written again; the cursor stored by the commit and
# resumed from; deletes invisible (issue 17).
. "$(dirname "$0")/lib.sh"

# wait_lines N FILE: until FILE has N lines (10 s at most)
wait_lines () {
	i=0
	while [ "$(cat "$2" 2>/dev/null | wc -l)" -lt "$1" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
}
# follow_start: the follower in the background, its feed emptied first
# (by this shell: the child's own >feed may come after a wait_lines that
# would then read the last follower's lines).  The overlap is long enough
# for a loaded machine to commit the "late" row within it.
follow_start () {
	: >feed && : >feed.err &&
	rx-extract --sqlite w.db --table c --follow updated_at --every 50 --overlap 3000 --state s.db "$@" >>feed 2>>feed.err &
	echo $! >follow.pid
}
# follow_stop: SIGTERM, and wait until it has gone (20 s at most: a
# loaded machine), failing if it has not
follow_stop () {
	kill -TERM "$(cat follow.pid)" &&
	i=0 && while kill -0 "$(cat follow.pid)" 2>/dev/null && [ $i -lt 400 ]; do sleep 0.05; i=$((i + 1)); done &&
	! kill -0 "$(cat follow.pid)" 2>/dev/null
}
test_cleanup 'kill "$(cat "$TRASH/follow.pid")"'

test_expect_success 'setup' '
	sqlite3 w.db "create table c (id integer primary key, name text, updated_at text);
		insert into c values (1, '"'"'a'"'"', '"'"'2024-01-01T00:00:01'"'"'), (2, '"'"'b'"'"', '"'"'2024-01-01T00:00:02'"'"')" &&
	echo "{\"id\":0}" | rx-diff --state s.db --key id >/dev/null
'

test_expect_success 'the first poll reads every row, then the cursor' '
	follow_start &&
	wait_lines 3 feed &&
	head -n 3 feed >actual &&
	cat >expect <<-\EOF &&
	{"id":1,"name":"a","updated_at":"2024-01-01T00:00:01"}
	{"id":2,"name":"b","updated_at":"2024-01-01T00:00:02"}
	{"$rx":"commit","cursor":"2024-01-01T00:00:02"}
	EOF
	test_cmp expect actual
'

test_expect_success 'new and changed rows follow; rows read again unchanged are not written again' '
	sqlite3 w.db "insert into c values (3, '"'"'c'"'"', '"'"'2024-01-01T00:00:03'"'"')" &&
	wait_lines 4 feed &&
	sqlite3 w.db "update c set name = '"'"'A'"'"', updated_at = '"'"'2024-01-01T00:00:04'"'"' where id = 1" &&
	wait_lines 5 feed &&
	sleep 0.6 &&
	grep -v "^{\"\$rx\"" feed >rows &&
	cat >expect <<-\EOF &&
	{"id":1,"name":"a","updated_at":"2024-01-01T00:00:01"}
	{"id":2,"name":"b","updated_at":"2024-01-01T00:00:02"}
	{"id":3,"name":"c","updated_at":"2024-01-01T00:00:03"}
	{"id":1,"name":"A","updated_at":"2024-01-01T00:00:04"}
	EOF
	test_cmp expect rows
'

test_expect_success 'a row committed late with an older COL, within the overlap, is read' '
	sqlite3 w.db "update c set name = '"'"'B'"'"', updated_at = '"'"'2024-01-01T00:00:05'"'"' where id = 2" &&
	sqlite3 w.db "insert into c values (4, '"'"'late'"'"', '"'"'2024-01-01T00:00:04.5'"'"')" &&
	i=0 && while ! grep -q "\"late\"" feed && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done &&
	sleep 0.6 &&
	grep -c "\"id\":4,\"name\":\"late\"" feed >n &&
	echo 1 >expect &&
	test_cmp expect n
'

test_expect_success 'a delete is invisible to a cursor: nothing is written' '
	lines=$(wc -l <feed) &&
	sqlite3 w.db "delete from c where id = 3" &&
	sleep 0.6 &&
	grep -v "^{\"\$rx\"" feed >rows &&
	test_lines 6 rows
'

test_expect_success 'the commit stores the cursor; a follower restarted starts there' '
	grep "^{\"\$rx\":\"commit\"" feed | tail -n 1 >pos &&
	i=0 && while ! grep -q "00:00:05" pos && [ $i -lt 300 ]; do
		sleep 0.1; grep "^{\"\$rx\":\"commit\"" feed | tail -n 1 >pos; i=$((i + 1)); done &&
	echo "{\"\$rx\":\"commit\",\"cursor\":\"2024-01-01T00:00:05\"}" >expect &&
	test_cmp expect pos &&
	follow_stop &&
	test_must_be_empty feed.err &&
	cat pos | rx-diff --state s.db --commit &&
	follow_start &&
	wait_lines 1 feed &&
	sleep 0.3 &&
	follow_stop &&
	grep -v "^{\"\$rx\"" feed | jq -c .id | sort >ids &&
	echo 2 >expect &&
	test_cmp expect ids
'

test_expect_success 'a position that is not a cursor is ignored, with a word' '
	echo "{\"\$rx\":\"commit\",\"lsn\":\"0/1\"}" | rx-diff --state s.db --commit &&
	follow_start &&
	wait_lines 4 feed &&
	follow_stop &&
	test_grep "not a follower" feed.err &&
	test "$(grep -vc "^{\"\$rx\"" feed)" = 3
'

test_expect_success 'a follow query, a number cursor' '
	sqlite3 w.db "create table ev (seq integer primary key, what text); insert into ev(what) values ('"'"'x'"'"'), ('"'"'y'"'"')" &&
	rm -f s2.db && echo "{\"id\":0}" | rx-diff --state s2.db --key id >/dev/null &&
	{ rx-extract --sqlite w.db --query "select seq, what from ev;" --follow seq --every 50 --state s2.db >q & pid=$!; } &&
	wait_lines 3 q &&
	kill -TERM $pid && wait $pid &&
	head -n 3 q >actual &&
	cat >expect <<-\EOF &&
	{"seq":1,"what":"x"}
	{"seq":2,"what":"y"}
	{"$rx":"commit","cursor":2}
	EOF
	test_cmp expect actual
'

test_expect_success 'usage: --follow needs --sqlite or --postgres and --state; --every and --overlap need --follow' '
	test_expect_code 2 rx-extract --csv x.csv --follow a --state s.db 2>err &&
	test_grep "follow" err &&
	test_expect_code 2 rx-extract --sqlite w.db --table c --follow updated_at 2>err &&
	test_grep "state" err &&
	test_expect_code 2 rx-extract --sqlite w.db --table c --every 10 2>err &&
	test_expect_code 2 rx-extract --sqlite w.db --table c --state s.db 2>err
'

test_expect_success 'a poll that fails ends the follower: exit 1, the rows before it written' '
	rx-extract --sqlite w.db --query "select * from nosuch" --follow x --state s.db >out 2>err;
	test $? = 1 &&
	test_grep "no such table" err
'

test_done
