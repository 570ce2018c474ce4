#!/bin/sh
# The crash-safety suite against the redis destination (t/9100 is the
# same against the fake HTTP destination): the whole pipeline into a
# real redis-server, a chosen stage killed with SIGKILL at a chosen
# point (RX_KILL_AT) — among them rx-push with a transaction queued but
# not executed, and with EXEC sent but its reply unread — the warehouse
# changed, then a normal run.  After it Redis must hold the model
# exactly: no key missing, none stale, no deleted key resurrected.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-redis.sh"

sqlite3 w.db <"$RX_TOP/examples/warehouse.sql" &&
sqlite3 w.db "DELETE FROM customers WHERE rowid > 600" || exit 1
cp "$RX_TOP/examples/mappings/app.jq" app.jq
cat >cache.json <<'EOF'
{"driver": "redis", "format": "json", "key_template": "customer:{key}", "max_records": 500}
EOF

redis_start

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' \
| rx-map -f app.jq \
| rx-diff --state s.db --key id --mode mirror \
| rx-batch --size 5 \
| rx-push --profile ./cache.json --url "$REDIS_URL" --retry-base 10 2>>push.err \
| rx-diff --state s.db --commit
SH

# What Redis must hold, and what it holds, as sorted "KEY<TAB>ROW" lines.
expected () {
	rx-extract --sqlite w.db --query 'SELECT * FROM customer_model ORDER BY id' | rx-map -f app.jq |
	rows_of - | python3 -c '
import json, sys
for r in sorted((json.loads(l) for l in sys.stdin), key=lambda r: r["id"]):
    print("customer:%s\t%s" % (r["id"], json.dumps(r, sort_keys=True, separators=(",", ":"))))
'
}
held () {
	redis_dump redis 'customer:*' | python3 -c '
import json, sys
for line in sys.stdin:
    key, kind, value = line.rstrip("\n").split("\t", 2)
    print("%s\t%s" % (key, json.dumps(json.loads(value), sort_keys=True, separators=(",", ":"))))
' | LC_ALL=C sort
}

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
	expected | LC_ALL=C sort >expect && held >actual &&
	test_lines 600 actual &&
	test_cmp expect actual
'

n=0
for point in \
	rx-push:queued:1 rx-push:queued:3 rx-push:sent:1 rx-push:sent:4 \
	rx-push:flushed:1 rx-push:flushed:3 \
	rx-diff:emit:1 rx-batch:batch:3 rx-diff:commit:1 rx-diff:commit:8 \
	rx-push:sent:2,rx-diff:commit:3
do
	n=$((n + 1))
	first=${point%%,*}
	test_expect_success "kill $point, change the warehouse, sync: Redis holds the model" "
		mutate $n before &&
		{ bash sync.sh '$point' 2>kill.err; test \$? != 0; } &&
		cat push.err kill.err >all.err &&
		test_grep 'killed at ${first#*:}' all.err &&
		mutate $n after &&
		bash sync.sh &&
		expected | LC_ALL=C sort >expect && held >actual &&
		test_cmp expect actual &&
		: >push.err
	"
done

test_expect_success 'keys lost at the destination (evicted, expired, flushed) come back with --full-resync' '
	rcli DEL customer:C00001 customer:C00002 >/dev/null &&
	bash sync.sh &&
	held >actual && test_lines 598 actual &&
	sed "s/--mode mirror/--mode mirror --full-resync/" sync.sh >resync.sh &&
	bash resync.sh &&
	expected | LC_ALL=C sort >expect && held >actual &&
	test_cmp expect actual
'

test_done
