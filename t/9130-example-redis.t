#!/bin/sh
# examples/sync-redis.sh against a real redis-server: the customer model
# lands as one hash per customer; a rerun sends nothing; a changed and a
# deleted customer follow; keys the cache lost (evicted, expired) stay
# lost for a normal run and come back with FULL_RESYNC=1.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-redis.sh"

cp -R "$RX_TOP/examples" ex &&
rm -rf ex/state ex/*.db &&
sqlite3 ex/warehouse.db <"$RX_TOP/examples/warehouse.sql" || exit 1

redis_start
export REDIS_URL
STATE_DIR=$TRASH/state
export STATE_DIR

# the model as Redis should hold it: customer:ID and its non-null members
expected () {
	rx-extract --sqlite ex/warehouse.db --query-file ex/models/customers.sql | rx-map -f ex/mappings/app.jq |
	rows_of - | jq -r '"customer:\(.id)\thash\t" + ([to_entries[] | select(.value != null) |
		"\(.key)=\(.value | if type == "string" then . else tojson end)"] | sort | join(";"))' | LC_ALL=C sort
}

test_expect_success 'the first run writes every customer as a hash' '
	ex/sync-redis.sh &&
	expected >expect && redis_dump redis "customer:*" >actual &&
	test "$(wc -l <actual)" -gt 10 &&
	test_cmp expect actual &&
	test_must_be_empty state/redis.dead-letters.ndjson
'

test_expect_success 'a rerun with nothing changed writes nothing' '
	rcli HSET customer:C00001 touched yes >/dev/null &&
	ex/sync-redis.sh &&
	test "$(rcli HGET customer:C00001 touched)" = yes &&
	rcli HDEL customer:C00001 touched >/dev/null
'

test_expect_success 'a changed and a deleted customer follow the model' '
	sqlite3 ex/warehouse.db "UPDATE customers SET plan_id = 1 + (plan_id % 4) WHERE id = (SELECT min(id) FROM customers);
		DELETE FROM customers WHERE id = (SELECT max(id) FROM customers)" &&
	ex/sync-redis.sh &&
	expected >expect && redis_dump redis "customer:*" >actual &&
	test_cmp expect actual
'

test_expect_success 'keys the cache lost come back only with FULL_RESYNC=1' '
	rcli DEL customer:C00002 customer:C00003 >/dev/null &&
	ex/sync-redis.sh &&
	test "$(rcli EXISTS customer:C00002)" = 0 &&
	FULL_RESYNC=1 ex/sync-redis.sh &&
	expected >expect && redis_dump redis "customer:*" >actual &&
	test_cmp expect actual
'

test_done
