#!/bin/sh
# rx-extract --mysql --shard I/N --key COL: the filter runs in the server,
# the shards' union is the whole, and each row lands in the shard
# rx_shard_of() gives it (the same as sharding the unsharded output).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

cat >setup.sql <<'SQL'
create table c (id int, email varchar(60), region char(2), big bigint, ubig bigint unsigned,
  amount decimal(12,2), seen timestamp(3) null, at datetime, day date, uid uuid,
  flag tinyint(1), ratio double, doc json, name varchar(20)) default charset=utf8mb4;
insert into c
  select seq, concat('user', seq, '@x.com'), elt(seq % 3 + 1, 'eu', 'us', 'ap'),
         9007199254740000 + seq * 7, 18446744073709540000 + seq, seq * 1.25,
         timestamp'2024-01-01 00:00:00' + interval seq * 63.5 second,
         timestamp'2024-01-01 00:00:00' + interval seq hour, date'2024-01-01' + interval seq day,
         uuid(), seq % 2, seq / 7, json_object('g', seq),
         concat('n', seq, char(seq % 40), 'é')
  from seq_1_to_2000;
insert into c (id, email) values (null, 'nokey@x.com');
SQL

my_start

test_expect_success 'setup: a model of 2001 rows, one without an id' '
	my_client --default-character-set=utf8mb4 <setup.sql &&
	my_sql "set global general_log_file = \"$TRASH/general.log\"; set global general_log = 1" &&
	rx-extract --mysql "$MY_CONN" --query "select * from c order by id" >whole &&
	test_lines 2002 whole &&
	test_end 2001 whole
'

# check_shards KEY N: each shard of the server equals the same shard of the
# whole output, and the shards together are the whole.  In the order the
# rows come (MySQL drops an ORDER BY inside a derived table, so a pushed
# filter may change it), then sorted.
check_shards () {
	: >union &&
	i=1 &&
	while [ $i -le $2 ]; do
		rx-extract --mysql "$MY_CONN" --query "select * from c order by id" --shard $i/$2 --key $1 >server.$i &&
		rx-extract --ndjson whole --shard $i/$2 --key $1 >client.$i &&
		test_end "$(rows_of client.$i | wc -l)" server.$i &&
		sort client.$i >client.$i.sorted && sort server.$i >server.$i.sorted &&
		test_cmp client.$i.sorted server.$i.sorted &&
		cat server.$i >>union &&
		i=$((i + 1)) || return 1
	done &&
	rows_of whole | sort >a && rows_of union | sort >b && test_cmp a b
}

for key in id email region big ubig amount seen at day uid flag id,region region,day name,id; do
	test_expect_success "--shard on $key: per-row agreement with rx_shard_of, union is the whole" "
		check_shards $key 4
	"
done

test_expect_success 'the filter is pushed into the query the server runs' '
	rx-extract --mysql "$MY_CONN" --table c --shard 2/3 --key email >out &&
	test_grep "rx_q WHERE CAST(CONV(LEFT(MD5(CONVERT(rx_q.\`email\` USING utf8mb4)), 8), 16, 10) AS UNSIGNED) % 3 + 1 = 2" general.log
'

test_expect_success 'it was pushed for every type tried above; never for double or JSON' '
	test_grep "MD5(CAST(rx_q.\`ubig\` AS CHAR))" general.log &&
	test_grep "MD5(CAST(rx_q.\`amount\` AS CHAR))" general.log &&
	test_grep "MD5(CONCAT(REPLACE(CAST(rx_q.\`seen\` AS CHAR), . ., .T.), .+00:00.))" general.log &&
	test_grep "MD5(REPLACE(CAST(rx_q.\`at\` AS CHAR), . ., .T.))" general.log &&
	test_grep "MD5(CAST(rx_q.\`day\` AS CHAR))" general.log &&
	test_grep "MD5(CONVERT(rx_q.\`uid\` USING utf8mb4))" general.log &&
	test_grep "MD5(CONVERT(rx_q.\`region\` USING utf8mb4))" general.log &&
	test_grep "MD5(CAST(rx_q.\`flag\` AS CHAR))" general.log
'

test_expect_success 'a composite key hashes ["a","b"] in the server too' '
	rx-extract --mysql "$MY_CONN" --table c --shard 1/3 --key id,day >out &&
	test_grep "MD5(CONCAT(.\[., JSON_QUOTE(CAST(rx_q.\`id\` AS CHAR)), .,., JSON_QUOTE(CAST(rx_q.\`day\` AS CHAR)), .\].))" general.log
'

test_expect_success 'keys of other types (double, JSON) are sharded on this side, still exactly' '
	check_shards ratio 3 &&
	check_shards doc 3 &&
	! grep "rx_q.\`ratio\`" general.log &&
	! grep "rx_q.\`doc\`" general.log
'

test_expect_success 'the key-less row goes to shard 1 only' '
	rx-extract --mysql "$MY_CONN" --table c --shard 1/5 --key id >s1 &&
	test_grep "nokey" s1 &&
	rx-extract --mysql "$MY_CONN" --table c --shard 2/5 --key id >s2 &&
	! grep -q nokey s2
'

test_expect_success 'a key column the model lacks: every row keeps to shard 1' '
	rx-extract --mysql "$MY_CONN" --table c --shard 1/2 --key nosuch >s1 &&
	test_end 2001 s1 &&
	rx-extract --mysql "$MY_CONN" --table c --shard 2/2 --key nosuch >s2 &&
	test_end 0 s2 && test_lines 1 s2
'

test_done
