#!/bin/sh
# The crash-safety suite against the mysql driver: the whole pipeline
# into a real MariaDB table, a chosen stage killed with SIGKILL at a
# chosen point (RX_KILL_AT; rx-push also inside a transaction and between
# a commit and its acks), the warehouse changed, then a normal run.  After
# it the table must equal the model exactly: no row missing, none stale,
# no deleted row resurrected.  As in t/9100, the changes before each
# crash include a value that is reverted after it.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

sqlite3 w.db <"$RX_TOP/examples/warehouse.sql" &&
sqlite3 w.db "DELETE FROM customers WHERE rowid > 600" || exit 1
cp "$RX_TOP/examples/mappings/app.jq" app.jq

my_start

# The pipeline, with RX_KILL_AT passed to every stage (each acts only on
# its own name).  bash for pipefail; its status is the pipeline's.
cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' \
| rx-map -f app.jq \
| rx-diff --state s.db --key id --mode mirror \
| tee -a changes.ndjson \
| rx-batch --size 5 \
| rx-push --profile mysql --url "$MY_CONN" --table customers --key id --retry-base 10 2>>push.err \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH

# canon: JSON rows on stdin as sorted "KEY<TAB>ROW" lines, numbers as
# floats (DECIMAL(12,2) reads back 812.50 for the model's 812.5)
canon () {
	python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin if not l.startswith("{\"$rx\"")]
def num(v):
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
for r in sorted(rows, key=lambda r: r["id"]):
    r = {k: num(v) for k, v in r.items()}
    print("%s\t%s" % (r["id"], json.dumps(r, sort_keys=True, separators=(",", ":"))))
'
}

# What the table must hold: the model, mapped.
expected () {
	rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' | rx-map -f app.jq | canon
}

# What it holds, without its own column (created_at).
actual () {
	rx-extract --mysql "$MY_CONN" --query 'SELECT id, email, name, phone, country, plan, lifetime_value,
		orders, churn_risk FROM customers' | canon
}

# Change the warehouse, differently for each case N: plans, e-mails, a
# new customer, a deleted one; "before" also bumps a churn score that
# "after" puts back.
mutate () {
	n=$1
	sqlite3 w.db "
		UPDATE customers SET plan_id = 1 + (plan_id % 4) WHERE rowid % 37 = $n % 37;
		UPDATE customers SET email = 'm$n.' || lower(id) || '@example.com' WHERE rowid % 53 = ($n * 7) % 53;
		INSERT INTO customers VALUES ('X$n$2', 'x$n$2@example.com', 'New', 'Customer $n', NULL, 'US', 2, '2026-01-01T00:00:00Z');
		DELETE FROM customers WHERE id = (SELECT id FROM customers ORDER BY id LIMIT 1 OFFSET $n * 5);
	" || return 1
	if [ "$2" = before ]; then
		sqlite3 w.db "INSERT OR REPLACE INTO churn_scores VALUES ('C00002', 0.999)"
	else
		sqlite3 w.db "INSERT OR REPLACE INTO churn_scores VALUES ('C00002', 0.814)"
	fi
}

test_expect_success 'setup: an uninterrupted first sync reaches the model' '
	my_client <"$RX_TOP/examples/app-schema-mysql.sql" &&
	bash sync.sh &&
	expected >expect && actual >got &&
	test_lines 600 got &&
	test_cmp expect got
'

n=0
for point in \
	rx-extract:row:400 rx-map:row:450 rx-diff:stage:500 rx-diff:emit:1 rx-batch:batch:3 \
	rx-push:statement:1 rx-push:statement:3 rx-push:committed:1 rx-push:committed:3 \
	rx-push:flushed:3 rx-diff:commit:8 \
	rx-push:committed:2,rx-diff:commit:3
do
	n=$((n + 1))
	first=${point%%,*}
	test_expect_success "kill $point, change the warehouse, sync: the table equals the model" "
		mutate $n before &&
		{ bash sync.sh '$point' 2>kill.err; test \$? != 0; } &&
		cat push.err kill.err >all.err &&
		test_grep 'killed at ${first#*:}' all.err &&
		mutate $n after &&
		bash sync.sh &&
		expected >expect && actual >got &&
		test_cmp expect got &&
		: >push.err
	"
done

test_expect_success 'after all that, an unchanged rerun sends nothing' '
	: >changes.ndjson &&
	bash sync.sh &&
	test_must_be_empty changes.ndjson
'

test_expect_success 'the server crashed mid-run: the runs fail until it is back, then one repairs' '
	mutate 90 before &&
	{ bash sync.sh "rx-push:statement:2" 2>/dev/null; test $? != 0; } &&
	my_stop crash &&
	mutate 90 after &&
	{ bash sync.sh 2>err; echo $? >status; } &&
	test "$(cat status)" != 0 &&
	test_grep "^rx-push: .*cannot connect to MySQL" push.err &&
	my_restart &&
	bash sync.sh &&
	expected >expect && actual >got &&
	test_cmp expect got
'

test_done
