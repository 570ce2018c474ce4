#!/bin/sh
# The crash-safety suite: the whole pipeline against the fake destination,
# a chosen stage killed with SIGKILL at a chosen point (RX_KILL_AT), the
# warehouse changed, then a normal run.  After it the destination must
# equal the model exactly: no row missing, none stale, no deleted row
# resurrected.  The changes before each crash include a value that is
# reverted after it, which only the "uncertain key" rule repairs.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

sqlite3 w.db <"$RX_TOP/examples/warehouse.sql" &&
sqlite3 w.db "DELETE FROM customers WHERE rowid > 600" || exit 1
cp "$RX_TOP/examples/mappings/app.jq" app.jq

fake_start -- --family webhook || exit 1

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
| rx-push --profile webhook --url "$(cat fake.url)" --retry-base 10 --concurrency 4 2>>push.err \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH

# What the destination must hold: the model, mapped, as sorted
# "KEY<TAB>ROW" lines in fake_records' format.
expected () {
	rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' | rx-map -f app.jq |
	rows_of - | python3 -c '
import json, sys
rows = [json.loads(l) for l in sys.stdin]
for r in sorted(rows, key=lambda r: r["id"]):
    print("%s\t%s" % (r["id"], json.dumps(r, sort_keys=True, separators=(",", ":"))))
'
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
	bash sync.sh &&
	expected >expect && fake_records >actual &&
	test_lines 600 actual &&
	test_cmp expect actual
'

n=0
for point in \
	rx-extract:row:1 rx-extract:row:400 \
	rx-map:row:1 rx-map:row:450 \
	rx-diff:stage:1 rx-diff:stage:500 rx-diff:merge:1 rx-diff:merge:12 rx-diff:emit:1 \
	rx-batch:batch:1 rx-batch:batch:3 \
	rx-push:sent:1 rx-push:sent:4 rx-push:replied:1 rx-push:replied:3 rx-push:flushed:1 rx-push:flushed:3 \
	rx-diff:commit:1 rx-diff:commit:8 rx-diff:commit:20 \
	rx-push:replied:2,rx-diff:commit:3
do
	n=$((n + 1))
	first=${point%%,*}
	test_expect_success "kill $point, change the warehouse, sync: the destination equals the model" "
		mutate $n before &&
		{ bash sync.sh '$point' 2>kill.err; test \$? != 0; } &&
		cat push.err kill.err >all.err &&
		test_grep 'killed at ${first#*:}' all.err &&
		mutate $n after &&
		bash sync.sh &&
		expected >expect && fake_records >actual &&
		test_cmp expect actual &&
		: >push.err
	"
done

# Truncated models: the extract killed at several rows, a CSV error
# midway, a head.  The interrupted run must not take anything from the
# destination (it would be deletes of rows still in the model); the next
# normal run then leaves it equal to the model.
cat >trunc.sh <<'SH'
set -o pipefail
case $1 in
kill:*) RX_KILL_AT=rx-extract:row:${1#kill:} rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' ;;
map:*) rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' | RX_KILL_AT=rx-map:row:${1#map:} rx-map -f app.jq ;;
head:*) rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' | head -n ${1#head:} ;;
csv:*) sqlite3 -header -csv w.db 'SELECT * FROM customer_model ORDER BY id' |
	awk -v at=${1#csv:} 'NR == at { print $0 ",\"unterminated"; next } { print }' >broken.csv &&
	rx-extract --csv broken.csv --infer ;;
esac \
| if [ "${1%%:*}" = map ]; then cat; else rx-map -f app.jq; fi \
| rx-diff --state s.db --key id --mode mirror \
| rx-batch --size 5 \
| rx-push --profile webhook --url "$(cat fake.url)" --retry-base 10 --concurrency 4 2>>push.err \
| rx-diff --state s.db --commit
SH

for cut in kill:1 kill:150 kill:300 kill:599 map:300 head:300 head:599 csv:200; do
	test_expect_success "a truncated model ($cut) takes nothing from the destination" "
		fake_records >before &&
		{ bash trunc.sh $cut 2>trunc.err; test \$? != 0; } &&
		test_grep 'ended without its end record' trunc.err &&
		fake_records >after &&
		test_cmp before after &&
		bash sync.sh &&
		expected >expect && fake_records >actual &&
		test_cmp expect actual
	"
done

test_expect_success 'after all that, an unchanged rerun sends nothing' '
	: >changes.ndjson &&
	bash sync.sh &&
	test_must_be_empty changes.ndjson
'

fake_stop

# Faults from the destination: 503s, 429s with Retry-After, and records
# it rejects (an e-mail without "@").  Every change of a run ends acked or
# dead-lettered, never both, never neither; the rejected ones are simply
# still different next run and are sent again; once fixed they land.
fake_start faulty -- --family webhook --fail-every 4 --rate 40/1 || exit 1

cat >faulty.sh <<'SH'
set -o pipefail
rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' \
| rx-map -f app.jq \
| rx-diff --state f.db --key id --mode mirror \
| tee changes.ndjson \
| rx-batch --size 10 \
| rx-push --profile webhook --url "$(cat faulty.url)" --retry-base 10 --concurrency 4 2>push.err \
| tee acks.ndjson \
| rx-diff --state f.db --commit
SH

reconcile () {
	{ grep "^{" push.err || :; } >dead.ndjson &&
	jq -r .key changes.ndjson | sort >changed.keys &&
	{ rows_of acks.ndjson | jq -r .key && jq -r .key dead.ndjson; } | sort >settled.keys &&
	test_cmp changed.keys settled.keys
}

test_expect_success 'faults: with 503s, 429s and rejected records, acks + dead letters = changes' '
	sqlite3 w.db "UPDATE customers SET email = \"broken-\" || id WHERE rowid % 80 = 3" &&
	broken=$(sqlite3 w.db "SELECT count(*) FROM customers WHERE email LIKE \"broken-%\"") &&
	test "$broken" -gt 3 &&
	{ bash faulty.sh; test $? = 3; } &&
	reconcile &&
	test_lines "$broken" dead.ndjson &&
	test "$(fake_count faulty violations)" = 0 &&
	test "$(fake_count faulty errors)" -gt 0
'

test_expect_success 'faults: the rejected records are sent again next run, and again dead-lettered' '
	broken=$(sqlite3 w.db "SELECT count(*) FROM customers WHERE email LIKE \"broken-%\"") &&
	{ bash faulty.sh; test $? = 3; } &&
	reconcile &&
	test_lines "$broken" changes.ndjson &&
	test_lines "$broken" dead.ndjson
'

test_expect_success 'faults: fixed in the warehouse, they land; the destination equals the model' '
	broken=$(sqlite3 w.db "SELECT count(*) FROM customers WHERE email LIKE \"broken-%\"") &&
	sqlite3 w.db "UPDATE customers SET email = \"fixed.\" || id || \"@example.com\" WHERE email LIKE \"broken-%\"" &&
	bash faulty.sh &&
	reconcile &&
	test_lines "$broken" acks.ndjson &&
	expected >expect && fake_records faulty >actual &&
	test_cmp expect actual
'

test_done
