#!/bin/sh
# rx-extract --postgres --shard I/N --key COL: the filter runs in the
# server, the shards' union is the whole, and each row lands in the shard
# rx_shard_of() gives it (the same as sharding the unsharded output).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

cat >setup.sql <<'SQL'
create table c (id int, email text, region text, big int8, amount numeric,
  seen timestamptz, day date, uid uuid, flag bool, doc jsonb);
insert into c
  select g, 'user' || g || '@x.com', (array['eu','us','ap'])[g % 3 + 1],
         9007199254740000 + g * 7, g * 1.25, timestamptz '2024-01-01' + g * interval '1 minute 3.5 seconds',
         date '2024-01-01' + g, md5(g::text)::uuid, g % 2 = 0, jsonb_build_object('g', g)
  from generate_series(1, 2000) g;
insert into c (id, email) values (null, 'nokey@x.com');
SQL

pg_start

test_expect_success 'setup: a model of 2001 rows, one without an id' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql &&
	pg_sql "alter system set log_statement = $(printf "\\047")all$(printf "\\047")" &&
	pg_sql "select pg_reload_conf()" &&
	rx-extract --postgres "" --query "select * from c order by id" >whole &&
	test_lines 2002 whole &&
	test_end 2001 whole
'

# check_shards KEY N: each shard of the server equals the same shard of the
# whole output, and the shards together are the whole.
check_shards () {
	: >union &&
	i=1 &&
	while [ $i -le $2 ]; do
		rx-extract --postgres "" --query "select * from c order by id" --shard $i/$2 --key $1 >server.$i &&
		rx-extract --ndjson whole --shard $i/$2 --key $1 >client.$i &&
		test_cmp client.$i server.$i &&
		cat server.$i >>union &&
		i=$((i + 1)) || return 1
	done &&
	rows_of whole | sort >a && rows_of union | sort >b && test_cmp a b
}

for key in id email big amount seen day uid flag id,region region,day; do
	test_expect_success "--shard on $key: per-row agreement with rx_shard_of, union is the whole" "
		check_shards $key 4
	"
done

test_expect_success 'the filter is pushed into the query the server runs' '
	rx-extract --postgres "" --table c --shard 2/3 --key email >out &&
	test_grep "rx_q WHERE .*md5(rx_q.\"email\"::text)" "$PG_LOG"
'

test_expect_success 'a key of another type (jsonb) is sharded on this side, still exactly' '
	check_shards doc 3
'

test_expect_success 'the key-less row goes to shard 1 only' '
	rx-extract --postgres "" --table c --shard 1/5 --key id >s1 &&
	test_grep "nokey" s1 &&
	rx-extract --postgres "" --table c --shard 2/5 --key id >s2 &&
	! grep -q nokey s2
'

test_expect_success 'a key column the model lacks: every row keeps to shard 1' '
	rx-extract --postgres "" --table c --shard 1/2 --key nosuch >s1 &&
	test_end 2001 s1 &&
	rx-extract --postgres "" --table c --shard 2/2 --key nosuch >s2 &&
	test_end 0 s2 && test_lines 1 s2
'

test_expect_success '--shard without --key is a usage error' '
	test_expect_code 2 rx-extract --postgres "" --table c --shard 1/2 2>err &&
	test_grep "needs --key" err
'

test_done
