#!/bin/sh
# A whole sync from a PostgreSQL model into a PostgreSQL application table:
# rx-extract --postgres | rx-diff --mode mirror | rx-batch | rx-push
# (the postgres driver) | rx-diff --commit.  A record that violates a
# constraint is dead-lettered and retried next run; a row gone from the
# model is deleted from the table.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

cat >setup.sql <<'SQL'
create schema warehouse;
create table warehouse.customers (id int primary key, email text, plan text, ltv numeric);
insert into warehouse.customers values
  (1, 'a@x.com', 'free', 10), (2, 'b@x.com', 'pro', 20.5), (3, 'c@x.com', 'pro', 12345678901234567890.12),
  (4, 'd@x.com', 'free', 0), (5, 'e@x.com', 'team', null);
create table app_customers (id int primary key, email text not null unique, plan text, ltv numeric,
  synced_at timestamptz default now());
-- a row the model does not know, holding an e-mail the model gives to id 4
insert into app_customers (id, email, plan) values (99, 'd@x.com', 'legacy');
SQL

pg_start

# sync RUN: the pipeline, each stage's exit status kept in status.RUN
sync () {
	{ rx-extract --postgres "" --query "select * from warehouse.customers order by id"; echo "extract $?" >>"status.$1"; } |
	{ rx-diff --state state.db --key id --mode mirror; echo "diff $?" >>"status.$1"; } |
	{ rx-batch --size 2; echo "batch $?" >>"status.$1"; } |
	{ rx-push --profile postgres --url "" --table app_customers --key id 2>"dead.$1"; echo "push $?" >>"status.$1"; } |
	{ rx-diff --state state.db --commit; echo "commit $?" >>"status.$1"; }
	sort "status.$1" >"status.$1.sorted"
}

app () {
	pg_query "select id, email, plan, ltv from app_customers order by id"
}

test_expect_success 'setup: a warehouse model and an application table' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql
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
	1|a@x.com|free|10
	2|b@x.com|pro|20.5
	3|c@x.com|pro|12345678901234567890.12
	5|e@x.com|team|
	99|d@x.com|legacy|
	EOF
	test_cmp expect actual &&
	test_lines 1 dead.1 &&
	jq -r ".key, .row.email, .error.stage" dead.1 >dl &&
	printf "4\nd@x.com\nrx-push\n" >expect &&
	test_cmp expect dl &&
	test_grep "duplicate key value violates unique constraint" dead.1
'

test_expect_success 'run 2: the conflict cleared, a row left the model, one changed' '
	pg_sql "delete from app_customers where id = 99" &&
	pg_sql "delete from warehouse.customers where id = 2" &&
	pg_sql "update warehouse.customers set plan = $(printf "\\047")team$(printf "\\047") where id = 1" &&
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
	1|a@x.com|team|10
	3|c@x.com|pro|12345678901234567890.12
	4|d@x.com|free|0
	5|e@x.com|team|
	EOF
	test_cmp expect actual
'

test_expect_success 'run 3: nothing changed, nothing written' '
	pg_query "select max(synced_at) from app_customers" >before &&
	sync 3 &&
	test_must_be_empty dead.3 &&
	pg_query "select max(synced_at) from app_customers" >after &&
	test_cmp before after &&
	app >actual &&
	test_lines 4 actual
'

test_done
