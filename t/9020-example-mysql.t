#!/bin/sh
# examples/sync-mysql.sh runs as written against a real MariaDB server:
# the demo's customer model lands in the application table exactly, a
# change in the warehouse sends only that change, and the table's own
# column (created_at) is never touched.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

cp -R "$RX_TOP/examples" ex && rm -rf ex/state ex/*.db ex/demo || exit 1

my_start

# A user with a password, as an application database has; its password
# in an option file, named in the conninfo.
printf '[client]\npassword=app-secret\n' >app.cnf
MYSQL_URL="socket=$MY_SOCK user=app database=rx defaults-file=$TRASH/app.cnf"
export MYSQL_URL

model_rows () {
	sqlite3 ex/warehouse.db "select count(*) from customer_model"
}

test_expect_success 'setup: the application table, a user for the sync' '
	my_client <ex/app-schema-mysql.sql &&
	my_sql "create user app@localhost identified by \"app-secret\";
		grant select, insert, update, delete on rx.customers to app@localhost" &&
	make -s -C ex warehouse.db
'

test_expect_success 'make sync-mysql: the whole model lands' '
	make -s -C ex sync-mysql >out 2>err &&
	test "$(my_query "select count(*) from customers")" = "$(model_rows)" &&
	test_must_be_empty ex/state/mysql.dead-letters.ndjson
'

test_expect_success 'the table holds the model exactly: names joined, nulls kept, money as DECIMAL' '
	my_query "select name, phone is null, churn_risk, lifetime_value from customers where id = \"C00003\"" >actual &&
	sqlite3 -separator "	" ex/warehouse.db "select \"Søren García\", 1, churn_risk, printf(\"%.2f\", ltv) from customer_model where id = \"C00003\"" >expect &&
	test_cmp expect actual &&
	my_query "select sum(lifetime_value) from customers" >actual &&
	sqlite3 ex/warehouse.db "select printf(\"%.2f\", sum(round(ltv * 100)) / 100.0) from customer_model" >expect &&
	test_cmp expect actual
'

test_expect_success 'a changed warehouse sends only the change; created_at stays' '
	my_query "select created_at from customers where id = \"C00010\"" >before &&
	sqlite3 ex/warehouse.db "update customers set plan_id = 4 where id = \"C00010\"; delete from orders where customer_id = \"C00050\"; delete from customers where id = \"C00050\"" &&
	sleep 1 &&
	(cd ex && ./sync-mysql.sh) &&
	my_query "select plan from customers where id = \"C00010\"; select count(*) from customers where id = \"C00050\"" >actual &&
	printf "enterprise\n0\n" >expect &&
	test_cmp expect actual &&
	my_query "select created_at from customers where id = \"C00010\"" >after &&
	test_cmp before after &&
	rx-diff --state ex/state/mysql.db --status >status &&
	test_grep "\"staged\":0,\"uncertain\":0" status
'

test_expect_success 'without MYSQL_URL it says what to set' '
	(cd ex && env -u MYSQL_URL ./sync-mysql.sh) 2>err && exit 1
	test_grep "MYSQL_URL" err
'

test_done
