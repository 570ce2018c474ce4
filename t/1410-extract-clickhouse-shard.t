#!/bin/sh
# rx-extract --clickhouse --shard I/N --key COL: the filter runs in the
# server (MD5 in SQL, the bits rx_shard_of() takes), each row lands in the
# shard rx_shard_of() gives it (the same as sharding the unsharded output
# here), the shards' union is the whole, and for the key types it can spell
# the server returns exactly the shard's rows (system.query_log).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-clickhouse.sh"

cat >setup.sql <<'SQL'
CREATE TABLE c (id UInt64, email String, region String, big UInt64, amount Decimal64(2),
  ratio Float64, day Date, uid UUID, kind Enum8('free' = 1, 'pro' = 2, 'ent' = 3),
  fs FixedString(3), nid Nullable(UInt32), seen DateTime, tags Array(String))
ENGINE = MergeTree ORDER BY id
SQL
cat >rows.sql <<'SQL'
INSERT INTO c SELECT number + 1, concat('user', toString(number + 1), if(number % 7 = 0, '"q\\', ''), '@x.com'),
  ['eu', 'us', 'ap'][number % 3 + 1], 9007199254740000 + number * 7, (number + 1) * 1.25,
  (number + 1) / 8, toDate('2024-01-01') + number, toUUID(concat('00000000-0000-0000-0000-', leftPad(toString(number), 12, '0'))),
  [1, 2, 3][number % 3 + 1], toFixedString(toString(number % 1000), 3), if(number % 10 = 0, NULL, toUInt32(number)),
  toDateTime('2024-01-01 00:00:00') + number * 63, [toString(number % 5)]
FROM system.numbers LIMIT 2000
SQL
# leftPad is newer than 18.x: build the UUID text by hand there
cat >rows18.sql <<'SQL'
INSERT INTO c SELECT number + 1, concat('user', toString(number + 1), if(number % 7 = 0, '"q\\', ''), '@x.com'),
  ['eu', 'us', 'ap'][number % 3 + 1], 9007199254740000 + number * 7, toDecimal64((number + 1) * 1.25, 2),
  (number + 1) / 8, toDate('2024-01-01') + number,
  toUUID(concat('00000000-0000-0000-0000-', substring(concat('000000000000', toString(number)), length(toString(number)) + 1, 12))),
  [1, 2, 3][number % 3 + 1], toFixedString(substring(concat(toString(number % 1000), '   '), 1, 3), 3),
  if(number % 10 = 0, NULL, toUInt32(number)),
  toDateTime('2024-01-01 00:00:00') + number * 63, [toString(number % 5)]
FROM system.numbers LIMIT 2000
SQL

ch_start

test_expect_success 'setup: a model of 2000 rows (some keys with quotes and backslashes, some null)' '
	ch_sql "$(cat setup.sql)" &&
	{ ch_sql "$(cat rows.sql)" 2>/dev/null || ch_sql "$(cat rows18.sql)"; } &&
	ch_sql "INSERT INTO c (id, email, day) VALUES (0, $(printf "\\047")ctl\\x01key@x.com$(printf "\\047"), $(printf "\\047")2020-01-01$(printf "\\047"))" &&
	rx-extract --clickhouse "$CH_URL" --query "select * from c order by id" >whole &&
	test_lines 2002 whole &&
	test_end 2001 whole
'

# logged ID WHAT: WHAT (a column of system.query_log) of the main query run
# with query_id ID, once the log has it (the log is written in the
# background: flushed, and waited for up to ~10 s).
logged () {
	tries=0
	while [ $tries -lt 100 ]; do
		ch_sql "SYSTEM FLUSH LOGS" &&
		got=$(ch_query "SELECT $2 FROM system.query_log WHERE query_id = $(printf "\\047")$1$(printf "\\047")
			AND type = 2 AND query LIKE $(printf "\\047")SELECT *%$(printf "\\047")") || return 1
		if [ -n "$got" ]; then
			printf "%s\n" "$got"
			return 0
		fi
		sleep 0.1
		tries=$((tries + 1))
	done
	return 1
}

result_rows () {
	logged "$1" result_rows
}

# check_shards KEY N [exact]: each shard from the server equals the same
# shard of the whole output, and the shards together are the whole; with
# "exact", the server sent no row of another shard.
check_shards () {
	: >union &&
	i=1 &&
	while [ $i -le $2 ]; do
		id=rx-$(echo "$1" | tr , _)-$i-$$ &&
		rx-extract --clickhouse "$CH_URL/?query_id=$id" --query "select * from c order by id" \
			--shard $i/$2 --key $1 >server.$i &&
		rx-extract --ndjson whole --shard $i/$2 --key $1 >client.$i &&
		test_cmp client.$i server.$i &&
		if [ "${3:-}" = exact ]; then
			kept=$(grep -vc "^{\"\$rx\":" server.$i) ; sent=$(result_rows $id) &&
			test "$sent" = "$kept" || {
				echo "shard $i of $1: the server sent $sent rows, $kept kept" >&2
				return 1
			}
		fi &&
		{ rows_of server.$i || :; } >>union &&
		i=$((i + 1)) || return 1
	done &&
	rows_of whole | sort >a && sort union >b && test_cmp a b
}

for key in id email big amount day uid kind fs nid id,region day,kind,big; do
	test_expect_success "--shard on $key: pushed down, exact, per-row agreement with rx_shard_of" "
		check_shards $key 4 exact
	"
done

test_expect_success '--shard on a float key, and on a composite with strings (pushed down; agreement, union)' '
	check_shards ratio 3 &&
	check_shards email,day 4
'

test_expect_success 'the filter is in the query the server ran' '
	rx-extract --clickhouse "$CH_URL/?query_id=rx-pushed-$$" --table c --shard 2/3 --key email >out &&
	logged rx-pushed-$$ query >queries &&
	test_grep "WHERE reinterpretAsUInt32(reverse(substring(MD5(toString(.email.)), 1, 4))) % 3 + 1 = 2" queries
'

test_expect_success 'keys of other types (DateTime, Array) are sharded here, still exactly' '
	check_shards seen 3 &&
	check_shards tags 2 &&
	rx-extract --clickhouse "$CH_URL/?query_id=rx-local-$$" --table c --shard 2/3 --key seen >out &&
	logged rx-local-$$ query >queries &&
	! grep -q MD5 queries
'

test_expect_success 'a control character in a composite key: the row reaches its shard, and only it' '
	check_shards email,region 3 &&
	grep -l "ctl" server.* >where &&
	test_lines 1 where
'

test_expect_success 'a null key goes to shard 1 only' '
	rx-extract --clickhouse "$CH_URL" --table c --shard 1/5 --key nid >s1 &&
	test "$(grep -c "\"nid\":null" s1)" = "$(grep -c "\"nid\":null" whole)" &&
	rx-extract --clickhouse "$CH_URL" --table c --shard 2/5 --key nid >s2 &&
	! grep -q "\"nid\":null" s2
'

test_expect_success 'a key column the model lacks: every row keeps to shard 1' '
	rx-extract --clickhouse "$CH_URL" --table c --shard 1/2 --key nosuch >s1 &&
	test_end 2001 s1 &&
	rx-extract --clickhouse "$CH_URL" --table c --shard 2/2 --key nosuch >s2 &&
	test_end 0 s2 && test_lines 1 s2
'

test_done
