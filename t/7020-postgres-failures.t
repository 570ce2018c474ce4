#!/bin/sh
# rx-extract --postgres when things go wrong: no server, a wrong password,
# an unknown role, a query error, an error after some rows were written,
# the backend killed and the server stopped mid-stream.  Each is one clear
# line and exit 1; a half-read result is never passed off as complete.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

pg_start tcp

slow_model='select g, case when g = 3000 then pg_sleep(30) end as s from generate_series(1, 5000) g'

# wait_for_sleep: until a backend sleeps in pg_sleep (at most ~10 s).
wait_for_sleep () {
	n=0
	while [ $n -lt 100 ]; do
		got=$(pg_query "select count(*) from pg_stat_activity where wait_event = 'PgSleep'")
		[ "$got" = 1 ] && return 0
		sleep 0.1
		n=$((n + 1))
	done
	return 1
}

test_expect_success 'setup: a role with a password, reached over TCP' '
	pg_sql "create role alice login password $(printf "\\047")right$(printf "\\047")" &&
	PGPASSWORD=right rx-extract --postgres "host=127.0.0.1 port=$PGPORT user=alice dbname=postgres" --query "select current_user as u" >actual &&
	printf "%s\n" "{\"u\":\"alice\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'no server there: exit 1, one line' '
	mkdir nosock &&
	test_expect_code 1 rx-extract --postgres "host=$TRASH/nosock" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to PostgreSQL: .*No such file" err
'

test_expect_success 'a wrong password: exit 1, and the password is never printed' '
	test_expect_code 1 env PGPASSWORD=wrong-secret rx-extract --postgres "host=127.0.0.1 port=$PGPORT user=alice dbname=postgres" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to PostgreSQL: .*password authentication failed for user \"alice\"" err &&
	! grep -q wrong-secret err
'

test_expect_success 'a password in the conninfo is not echoed either' '
	test_expect_code 1 rx-extract --postgres "host=127.0.0.1 port=$PGPORT user=alice password=hunter2 dbname=postgres" --query "select 1" 2>err &&
	test_grep "authentication failed" err &&
	! grep -q hunter2 err
'

test_expect_success 'an unknown role: exit 1' '
	test_expect_code 1 rx-extract --postgres "user=nobody_here" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot connect to PostgreSQL: .*role \"nobody_here\" does not exist" err
'

test_expect_success 'a query error: exit 1, nothing written' '
	test_expect_code 1 rx-extract --postgres "" --query "select * from no_such_table" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: query failed: ERROR: relation \"no_such_table\" does not exist" err
'

test_expect_success 'a syntax error in --table is quoted, not run' '
	test_expect_code 1 rx-extract --postgres "" --table "x; drop table y" 2>err &&
	test_grep "relation \"x; drop table y\" does not exist" err
'

test_expect_success 'an error after rows were written: exit 1, says the output is incomplete' '
	test_expect_code 1 rx-extract --postgres "" --query "select g, 1 / (4500 - g) as x from generate_series(1, 9000) g" >out 2>err &&
	test_grep "^rx-extract: query failed after [0-9]* rows (the output is incomplete): ERROR: division by zero" err &&
	test_lines 1 err
'

test_expect_success 'the backend terminated mid-stream: exit 1' '
	{ rx-extract --postgres "" --query "$slow_model" >out 2>err; echo $? >status; } &
	wait_for_sleep &&
	pg_query "select pg_terminate_backend(pid) from pg_stat_activity where wait_event = $(printf "\\047")PgSleep$(printf "\\047")" &&
	wait &&
	echo 1 >expect &&
	test_cmp expect status &&
	test_grep "^rx-extract: query failed after [0-9]* rows (the output is incomplete): .*terminating connection" err
'

test_expect_success 'a | head -1 reader stops it quietly' '
	rx-extract --postgres "" --query "select g from generate_series(1, 100000) g" 2>err | head -1 >actual &&
	echo "{\"g\":1}" >expect &&
	test_cmp expect actual &&
	test_must_be_empty err
'

test_expect_success 'the server stopped mid-stream (a crash): exit 1' '
	{ rx-extract --postgres "" --query "$slow_model" >out 2>err; echo $? >status; } &
	wait_for_sleep &&
	pg_stop immediate &&
	wait &&
	echo 1 >expect &&
	test_cmp expect status &&
	test_grep "^rx-extract: query failed after [0-9]* rows (the output is incomplete): " err &&
	! grep -v "^rx-extract: " err
'

test_expect_success 'and then refused: exit 1' '
	test_expect_code 1 rx-extract --postgres "host=127.0.0.1 port=$PGPORT" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot connect to PostgreSQL: .*refused" err
'

test_done
