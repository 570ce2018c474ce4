#!/bin/sh
# rx-extract --follow on PostgreSQL: an update-time column (timestamptz)
# and a sequence beyond 2^53 as cursors, a transaction that commits late
# with an older update time read through the overlap, one connection for
# every poll (issue 17).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"
pg_start

wait_grep () {
	i=0
	while ! grep -q "$1" "$2" && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
	grep -q "$1" "$2"
}

test_expect_success 'setup' '
	pg_sql "create table c (id bigint primary key, name text, updated_at timestamptz not null default now())" &&
	pg_sql "create index on c (updated_at)" &&
	pg_sql "insert into c values (9007199254740993, '"'"'big'"'"', '"'"'2024-01-01 00:00:00+00'"'"')" &&
	echo "{\"id\":0}" | rx-diff --state s.db --key id >/dev/null
'

test_expect_success 'rows as --table writes them, the cursor a timestamptz the next poll compares' '
	{ rx-extract --postgres "" --table c --follow updated_at --every 50 --overlap 500 --state s.db >feed 2>err &
	  pid=$!; } &&
	wait_grep "cursor" feed &&
	rx-extract --postgres "" --table c | grep -v "^{\"\$rx\"" >expect &&
	head -n 1 feed >actual &&
	test_cmp expect actual &&
	test "$(sed -n 2p feed)" = "{\"\$rx\":\"commit\",\"cursor\":\"2024-01-01T00:00:00+00:00\"}" &&
	backends=$(pg_query "select count(*) from pg_stat_activity where backend_type = '"'"'client backend'"'"'") &&
	{ { echo "begin; insert into c(id, name) values (2, '"'"'late'"'"');" && sleep 0.3 && echo "commit;"; } |
		"$PSQL" -X -q & late=$!; } &&
	sleep 0.1 &&
	pg_sql "insert into c(id, name) values (3, '"'"'on time'"'"')" &&
	wait_grep "on time" feed &&
	wait $late &&
	wait_grep "late" feed &&
	test "$(pg_query "select count(*) from pg_stat_activity where backend_type = '"'"'client backend'"'"'")" = "$backends" &&
	kill -TERM $pid && wait $pid &&
	test_must_be_empty err
'

test_expect_success 'the late row came after the newer one, each once' '
	grep -v "^{\"\$rx\"" feed | jq -r .name >names &&
	printf "big\non time\nlate\n" >expect &&
	test_cmp expect names
'

test_expect_success 'a bigint cursor beyond 2^53 travels as a string and still compares' '
	pg_sql "create table ev (seq bigint primary key, what text)" &&
	pg_sql "insert into ev values (9007199254740993, '"'"'a'"'"'), (9007199254740995, '"'"'b'"'"')" &&
	rm -f s2.db && echo "{\"id\":0}" | rx-diff --state s2.db --key id >/dev/null &&
	echo "{\"\$rx\":\"commit\",\"cursor\":\"9007199254740994\"}" | rx-diff --state s2.db --commit &&
	{ rx-extract --postgres "" --table ev --follow seq --every 50 --state s2.db >q & pid=$!; } &&
	wait_grep "cursor" q &&
	kill -TERM $pid && wait $pid &&
	cat >expect <<-\EOF &&
	{"seq":"9007199254740995","what":"b"}
	{"$rx":"commit","cursor":"9007199254740995"}
	EOF
	test_cmp expect q
'

test_expect_success 'a lost connection ends the follower with exit 1' '
	{ rx-extract --postgres "" --table ev --follow seq --every 50 --state s2.db >q2 2>err & pid=$!; } &&
	wait_grep "cursor" q2 &&
	pg_sql "select pg_terminate_backend(pid) from pg_stat_activity where backend_type = '"'"'client backend'"'"' and pid <> pg_backend_pid()" &&
	{ wait $pid; rc=$?; } &&
	test $rc = 1 &&
	test_grep "rx-extract:" err
'

test_done
