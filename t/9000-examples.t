#!/bin/sh
# Every example in examples/ runs as written, and does what it says.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

cp -R "$RX_TOP/examples" ex && rm -rf ex/state ex/*.db ex/demo || exit 1
# The examples' Makefile puts ../bin first on PATH; the copy has none, so
# the programs come from PATH (set by lib.sh), as when installed.

model_rows () {
	sqlite3 ex/warehouse.db "select count(*) from customer_model"
}

# The app table as sorted lines, without the app's own created_at column.
app_customers () {
	sqlite3 "$1" "select id, email, name, phone, country, plan, lifetime_value, orders, churn_risk from customers order by id"
}

test_expect_success 'make sync-all: app, audience and GDPR syncs into app.db' '
	make -s -C ex sync-all >out 2>err &&
	test "$(sqlite3 ex/app.db "select count(*) from customers")" = $(($(model_rows) - 2)) &&
	test "$(sqlite3 ex/app.db "select count(*) from churn_audience")" = \
	     "$(sqlite3 ex/warehouse.db "select count(*) from customer_model where churn_risk > 0.7 and email is not null")" &&
	test "$(sqlite3 ex/app.db "select count(*) from customers where id in (\"C00007\", \"C00777\")")" = 0
'

test_expect_success 'the app table holds the model exactly (names joined, nulls kept)' '
	sqlite3 ex/app.db "select name, phone is null, churn_risk from customers where id = \"C00003\"" >actual &&
	echo "Søren García|1|0.721" >expect &&
	test_cmp expect actual
'

test_expect_success 'a second make sync-all sends nothing' '
	make -s -C ex sync-all >out 2>err &&
	make -s -C ex status >status &&
	test_lines 4 status &&
	test "$(awk "NR > 1 && \$5 == \"ok\" && \$7 == 0" status | wc -l)" = 3 &&
	rx-diff --status --json ex/state >status.json &&
	test "$(jq -c "select(.changes == 0 and .uncertain == 0 and .outcome == \"ok\")" status.json | wc -l)" = 3
'

test_expect_success 'audience: a member whose risk falls leaves the destination' '
	sqlite3 ex/warehouse.db "update churn_scores set churn_risk = 0.1 where customer_id = (select id from customer_model where churn_risk > 0.7 order by id limit 1)" &&
	before=$(sqlite3 ex/app.db "select count(*) from churn_audience") &&
	(cd ex && ./audience.sh) &&
	after=$(sqlite3 ex/app.db "select count(*) from churn_audience") &&
	test "$after" = $((before - 1))
'

fake_start -- --family webhook

test_expect_success 'fanout: one model, two destinations, each with its own state' '
	rm -f ex/app.db && sqlite3 ex/app.db <ex/app-schema.sql &&
	(cd ex && WEBHOOK_URL=$(cat ../fake.url) ./fanout.sh) &&
	test "$(sqlite3 ex/app.db "select count(*) from customers")" = "$(model_rows)" &&
	fake_records >hooked &&
	test_lines "$(model_rows)" hooked &&
	test -f ex/state/fanout-app.db && test -f ex/state/fanout-webhook.db
'

test_expect_success 'parallel: 3 shards with GNU parallel equal one unsharded sync' '
	rm -f sharded.db whole.db &&
	sqlite3 sharded.db <ex/app-schema.sql && sqlite3 whole.db <ex/app-schema.sql &&
	(cd ex && SHARDS=3 APP_DB=../sharded.db STATE_DIR=../pstate ./parallel.sh) &&
	(cd ex && APP_DB=../whole.db STATE_DIR=../wstate ./sync-app.sh) &&
	ls pstate/shard-*-of-3.db >shards && test_lines 3 shards &&
	app_customers sharded.db >sharded && app_customers whole.db >whole &&
	test_lines "$(model_rows)" whole &&
	test_cmp whole sharded
'

test_expect_success 'gdpr: tombstones delete, and are not sent twice' '
	(cd ex && APP_DB=../whole.db STATE_DIR=../wstate ./gdpr-delete.sh) &&
	test "$(sqlite3 whole.db "select count(*) from customers where id in (\"C00007\", \"C00777\")")" = 0 &&
	(cd ex && APP_DB=../whole.db STATE_DIR=../wstate ./gdpr-delete.sh) &&
	rx-diff --state wstate/gdpr.db --status | tail -n 2 | head -n 1 >last &&
	test_grep "\"deletes\":0" last
'

test_expect_success 'the cron line runs as written (paths put in place)' '
	line=$(grep -v "^#" ex/cron/rx-sync.crontab | cut -d" " -f6-) &&
	line=$(echo "$line" | sed "s|/srv/rx|$TRASH/root|; s|/var/log/rx-sync.log|$TRASH/cron.log|") &&
	mkdir -p root && cp -R ex root/examples &&
	PATH=$PATH sh -c "$line" &&
	test -f root/examples/state/app.db
'

test_expect_success 'the systemd service runs its ExecStart in its WorkingDirectory' '
	dir=$(sed -n "s/^WorkingDirectory=//p" ex/systemd/rx-sync.service | sed "s|/srv/rx|$TRASH/root|") &&
	cmd=$(sed -n "s/^ExecStart=//p" ex/systemd/rx-sync.service) &&
	(cd "$dir" && $cmd >out 2>&1) &&
	grep -q "^OnCalendar=" ex/systemd/rx-sync.timer &&
	if command -v systemd-analyze >/dev/null; then systemd-analyze calendar "$(sed -n "s/^OnCalendar=//p" ex/systemd/rx-sync.timer)" >/dev/null; fi
'

test_done
