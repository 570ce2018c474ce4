#!/bin/sh
# A whole sync from a MariaDB model into a MariaDB application table:
# rx-extract --mysql | rx-diff --mode mirror | rx-batch | rx-push (the
# mysql driver) | rx-diff --commit.  A record that violates a constraint
# is dead-lettered and retried next run; a row gone from the model is
# deleted; exact types survive the round trip; rx-push killed inside a
# transaction, or after a commit it never acked, and the server lost
# mid-run (exit 75), are all repaired by the next run.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

cat >setup.sql <<'SQL'
create database warehouse;
create table warehouse.customers (id int primary key, email varchar(60), plan varchar(10),
  ltv decimal(30,10)) default charset=utf8mb4;
insert into warehouse.customers values
  (1, 'a@x.com', 'free', 10), (2, 'b@x.com', 'pro', 20.5), (3, 'c@x.com', 'pro', 12345678901234567890.12),
  (4, 'd@x.com', 'free', 0), (5, 'e@x.com', 'team', null);
create table app_customers (id int primary key, email varchar(60) not null unique, plan varchar(10),
  ltv decimal(30,10), synced_at timestamp(6) default current_timestamp(6)) default charset=utf8mb4;
-- a row the model does not know, holding an e-mail the model gives to id 4
insert into app_customers (id, email, plan) values (99, 'd@x.com', 'legacy');
create table warehouse.typed (id bigint unsigned primary key, amount decimal(40,10), big bigint,
  doc json, at datetime(6), ts timestamp(6) null, bits bit(64), raw varbinary(16), day date,
  score double, note text) default charset=utf8mb4;
insert into warehouse.typed values
  (18446744073709551615, 123456789012345678901234567890.0123456789, -9223372036854775808,
   '{"a": [1, 2.5, "x"], "b": {"c": null}}', '2024-01-31 12:30:00.000001', '2038-01-19 03:14:07.999999',
   b'1111111111111111111111111111111111111111111111111111111111111111', x'00ff10', '2024-02-29',
   0.1, 'tab	é 😀'),
  (1, -0.0000000001, 9007199254740993, '[]', '1000-01-01 00:00:00', '1970-01-01 00:00:01',
   b'0', x'', '9999-12-31', -1e-300, '');
create table app_typed like warehouse.typed;
SQL

my_start

# sync RUN: the pipeline, each stage's exit status kept in status.RUN
sync () {
	{ rx-extract --mysql "$MY_CONN" --query "select * from warehouse.customers order by id"; echo "extract $?" >>"status.$1"; } |
	{ rx-diff --state state.db --key id --mode mirror; echo "diff $?" >>"status.$1"; } |
	{ rx-batch --size 2; echo "batch $?" >>"status.$1"; } |
	{ rx-push --profile mysql --url "$MY_CONN" --table app_customers --key id 2>"dead.$1"; echo "push $?" >>"status.$1"; } |
	{ rx-diff --state state.db --commit; echo "commit $?" >>"status.$1"; }
	sort "status.$1" >"status.$1.sorted"
}

app () {
	my_query "select id, email, plan, ltv from app_customers order by id"
}

test_expect_success 'setup: a warehouse model and an application table' '
	my_client <setup.sql
'

test_expect_success 'run 1: four rows land; the one violating a constraint is dead-lettered' '
	sync 1 &&
	cat >expect <<-\EOF &&
	batch 0
	commit 0
	diff 0
	extract 0
	push 3
	EOF
	test_cmp expect status.1.sorted &&
	app >actual &&
	cat >expect <<-\EOF &&
	1	a@x.com	free	10.0000000000
	2	b@x.com	pro	20.5000000000
	3	c@x.com	pro	12345678901234567890.1200000000
	5	e@x.com	team	NULL
	99	d@x.com	legacy	NULL
	EOF
	test_cmp expect actual &&
	test_lines 1 dead.1 &&
	jq -r ".key, .row.email, .error.stage" dead.1 >dl &&
	printf "4\nd@x.com\nrx-push\n" >expect &&
	test_cmp expect dl &&
	test_grep "Duplicate entry .d@x.com. for key .email." dead.1
'

test_expect_success 'run 2: the conflict cleared, a row left the model, one changed' '
	my_sql "delete from app_customers where id = 99; delete from warehouse.customers where id = 2;
		update warehouse.customers set plan = \"team\" where id = 1" &&
	sync 2 &&
	cat >expect <<-\EOF &&
	batch 0
	commit 0
	diff 0
	extract 0
	push 0
	EOF
	test_cmp expect status.2.sorted &&
	test_must_be_empty dead.2 &&
	app >actual &&
	cat >expect <<-\EOF &&
	1	a@x.com	team	10.0000000000
	3	c@x.com	pro	12345678901234567890.1200000000
	4	d@x.com	free	0.0000000000
	5	e@x.com	team	NULL
	EOF
	test_cmp expect actual
'

test_expect_success 'run 3: nothing changed, nothing written' '
	my_query "select max(synced_at) from app_customers" >before &&
	sync 3 &&
	test_must_be_empty dead.3 &&
	my_query "select max(synced_at) from app_customers" >after &&
	test_cmp before after &&
	app >actual &&
	test_lines 4 actual
'

test_expect_success 'exact types, end to end: the destination holds what the warehouse holds' '
	rx-extract --mysql "$MY_CONN" --table warehouse.typed |
		rx-diff --state typed.db --key id |
		rx-batch --size 10 |
		rx-push --profile mysql --url "$MY_CONN" --table app_typed --key id |
		rx-diff --state typed.db --commit &&
	cols="id, amount, big, json_compact(doc), at, ts, bits, raw, day, score, note" &&
	my_query "select $cols from warehouse.typed order by id" >want &&
	my_query "select $cols from app_typed order by id" >got &&
	test_cmp want got &&
	test_lines 2 got
'

# The changes of a run as a file, then rx-push and rx-diff --commit on
# their own: the shape of a sync whose push is driven step by step.
model_changes () {
	rx-extract --mysql "$MY_CONN" --query "select * from warehouse.customers order by id" |
	rx-diff --state state.db --key id --mode mirror | rx-batch --size 2 >changes
}

test_expect_success 'rx-push killed inside a transaction: nothing of that batch is kept; the next run repairs' '
	my_sql "update warehouse.customers set plan = concat(plan, \"+\")" &&
	model_changes &&
	test_lines 2 changes &&
	{ RX_KILL_AT=rx-push:statement:2 rx-push --profile mysql --url "$MY_CONN" --table app_customers --key id \
		<changes >acks 2>err; echo $? >status; } &&
	echo 137 >expect && test_cmp expect status &&
	# the first batch committed; with batches in flight the worker may
	# reach the second one before its acks are written: acked, or not
	# acked (sent again by the next run), never one of its two alone
	n=$(wc -l <acks) && { test "$n" -eq 2 || test "$n" -eq 0; } &&
	my_query "select count(*) from app_customers where plan like \"%+\"" >n &&
	echo 2 >expect && test_cmp expect n &&
	rx-diff --state state.db --commit <acks &&
	sync 4 &&
	app >actual &&
	cat >expect <<-\EOF &&
	1	a@x.com	team+	10.0000000000
	3	c@x.com	pro+	12345678901234567890.1200000000
	4	d@x.com	free+	0.0000000000
	5	e@x.com	team+	NULL
	EOF
	test_cmp expect actual
'

test_expect_success 'rx-push killed after a commit it never acked: the next run sends those keys again' '
	my_sql "update warehouse.customers set plan = \"x\" where id = 1" &&
	model_changes &&
	{ RX_KILL_AT=rx-push:committed:1 rx-push --profile mysql --url "$MY_CONN" --table app_customers --key id \
		<changes >acks 2>err; echo $? >status; } &&
	echo 137 >expect && test_cmp expect status &&
	test_must_be_empty acks &&
	my_sql "update warehouse.customers set plan = \"team+\" where id = 1" &&
	sync 5 &&
	app >actual &&
	test_grep "^1	a@x.com	team+	" actual
'

test_expect_success 'the server lost mid-run: exit 75, the rest unacked; the next run repairs' '
	my_sql "update warehouse.customers set ltv = ltv + 1" &&
	model_changes &&
	test_lines 2 changes &&
	mkfifo feed && : >acks || exit 1
	{ rx-push --profile mysql --url "$MY_CONN" --table app_customers --key id --max-attempts 2 --retry-base 10 \
		<feed >acks 2>err; echo $? >status; } &
	push=$! &&
	exec 9>feed &&
	sed -n 1p changes >&9 &&
	n=0 && while [ $n -lt 100 ] && ! [ -s acks ]; do sleep 0.1; n=$((n + 1)); done &&
	test_lines 2 acks &&
	my_stop crash &&
	sed -n 2p changes >&9 &&
	exec 9>&- &&
	wait $push &&
	echo 75 >expect && test_cmp expect status &&
	test_lines 2 acks &&
	test_grep "^rx-push: stopped: mysql: cannot connect to MySQL: .*1 record left unacked" err &&
	rx-diff --state state.db --commit <acks &&
	my_restart 9>&- &&
	sync 6 &&
	test_must_be_empty dead.6 &&
	app >actual &&
	cat >expect <<-\EOF &&
	1	a@x.com	team+	11.0000000000
	3	c@x.com	pro+	12345678901234567891.1200000000
	4	d@x.com	free+	1.0000000000
	5	e@x.com	team+	NULL
	EOF
	test_cmp expect actual
'

test_expect_success 'batches in flight together: each its own values, results and transaction' '
	my_sql "create table app_many (id int primary key, email varchar(60) not null unique, n int)" &&
	awk "BEGIN { for (i = 1; i <= 60; i++) { e = (i == 33 ? \"dup@x.com\" : \"m\" i \"@x.com\");
		printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"%d\\\",\\\"hash\\\":\\\"h%d\\\",\\\"row\\\":{\\\"id\\\":%d,\\\"email\\\":\\\"%s\\\",\\\"n\\\":%d}}\\n\", i, i, i, e, i * 7 } }" |
		sed "s/\"id\":41,\"email\":\"m41@x.com\"/\"id\":41,\"email\":\"dup@x.com\"/" >many &&
	test_lines 60 many &&
	rx-batch --size 4 <many >many.batches &&
	test_expect_code 3 rx-push --profile mysql --url "$MY_CONN" --table app_many --key id <many.batches >acks 2>err &&
	test_lines 59 acks &&
	grep -c "\"key\":\"41\"" err >n && echo 1 >expect && test_cmp expect n &&
	test_grep "Duplicate entry .dup@x.com." err &&
	! grep -q "\"key\":\"41\"" acks &&
	cut -d, -f1 acks | sort >acked &&
	grep -v "\"key\":\"41\"" many | cut -d, -f2 | sed "s/^/{/" | sort >expect &&
	test_cmp expect acked &&
	my_query "select count(*), sum(n), sum(id) from app_many" >actual &&
	printf "59\t%d\t%d\n" $((7 * (1830 - 41))) $((1830 - 41)) >expect &&
	test_cmp expect actual &&
	my_query "select id, n from app_many where email = \"dup@x.com\"" >actual &&
	printf "33\t231\n" >expect &&
	test_cmp expect actual
'

test_expect_success 'a dry run connects to nothing and names the driver' '
	echo "{\"op\":\"upsert\",\"key\":\"1\",\"hash\":\"h\",\"row\":{\"id\":1}}" |
		rx-push --profile mysql --url "socket=$TRASH/nosuch.sock" --table app_customers --key id --dry-run >out &&
	test_grep "\"driver\":\"mysql\",\"table\":\"app_customers\",\"op\":\"upsert\"" out
'

test_done
