#!/bin/sh
# The mysql destination driver (filters/push/db_mysql.c), driven by
# t/helpers/my-apply.c against a real MariaDB server: upsert, insert,
# update and delete in one transaction per batch; a constraint violation
# rejects that record only; exact types (DECIMAL, BIGINT UNSIGNED, JSON,
# DATETIME, BIT, binary); a lost connection fails the whole batch with
# nothing committed, and the next batch connects again.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

if [ -n "${RX_BIN:-}" ]; then
	librx=$RX_BIN/../librx.a
	case $RX_BIN in *asan*) sanitize="-fsanitize=address,undefined" ;; *) sanitize= ;; esac
else
	librx=$RX_TOP/build/librx.a
	sanitize=
fi
[ -f "$librx" ] || test_skip_all "no $librx (run make)"
# shellcheck disable=SC2046
cc -std=c11 -D_GNU_SOURCE -g $sanitize -I"$RX_TOP/filters/lib" -I"$RX_TOP/filters/push" \
	$(pkg-config --cflags libmariadb) -o my-apply "$RX_TESTS/helpers/my-apply.c" \
	"$RX_TOP/filters/push/db_mysql.c" "$librx" \
	$(pkg-config --libs libcurl sqlite3 liblz4 libmariadb libcrypto) -ljq -lonig -lcsv -lm -lpthread ||
	{ echo "Bail out! cannot build t/helpers/my-apply.c"; exit 1; }

cat >setup.sql <<'SQL'
create table app (id int primary key, email varchar(60) unique, ltv decimal(40,10),
  big bigint, ubig bigint unsigned, active tinyint(1), score double, flags bit(12),
  doc json, photo varbinary(20), seen datetime(6), at timestamp(3) null,
  note varchar(20) not null default '', day date, check (ltv is null or ltv >= 0))
  default charset=utf8mb4;
create table pair (org varchar(10), id int, v text, primary key (org, id)) default charset=utf8mb4;
create table plain (id int primary key, v text) default charset=utf8mb4;
create table nokey (id int, v text);
create table legacy (id int primary key, v text) engine=MyISAM;
create table parent (id int primary key);
create table child (id int primary key, parent int, foreign key (parent) references parent (id));
insert into parent values (1);
SQL

my_start

dump () {
	my_query "select id, email, ltv, big, ubig, active, score, flags + 0, doc, to_base64(photo), seen, at, note from app order by id"
}

test_expect_success 'setup: application tables' '
	my_client --default-character-set=utf8mb4 <setup.sql
'

test_expect_success 'upsert inserts new rows, with every kind of value, exactly' '
	cat >rows <<-\EOF &&
	{"id":1,"email":"a@x.com","ltv":"123456789012345678901234567890.0123456789","big":"-9223372036854775808","ubig":"18446744073709551615","active":true,"score":0.1,"flags":2561,"doc":{"plan":"pro","n":[1,2.5]},"photo":"AP8Q","seen":"2024-01-31T12:30:00.25","at":"2024-01-31T12:30:00.5+02:00","note":"café 😀"}
	{"id":2,"email":"b@x.com","ltv":812.5,"big":-5,"ubig":0,"active":false,"score":1e300,"flags":"4095","doc":"just a string","photo":null,"seen":"2024-06-01 00:00:00","at":"2024-06-01T00:00:00Z"}
	{"id":3,"email":null,"ltv":null,"big":null,"ubig":null,"active":null,"score":null,"flags":null,"doc":null}
	EOF
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	printf "ok\nok\nok\n" >expect &&
	test_cmp expect actual &&
	dump >table &&
	cat >expect <<-\EOF &&
	1	a@x.com	123456789012345678901234567890.0123456789	-9223372036854775808	18446744073709551615	1	0.1	2561	{"plan":"pro","n":[1,2.5]}	AP8Q	2024-01-31 12:30:00.250000	2024-01-31 10:30:00.500	café 😀
	2	b@x.com	812.5000000000	-5	0	0	1e300	4095	"just a string"	NULL	2024-06-01 00:00:00.000000	2024-06-01 00:00:00.000	
	3	NULL	NULL	NULL	NULL	NULL	NULL	NULL	NULL	NULL	NULL	NULL	
	EOF
	test_cmp expect table
'

test_expect_success 'and rx-extract reads them back as they were sent' '
	rx-extract --mysql "$MY_CONN" --query "select id, ltv, big, ubig, doc, photo, at from app where id = 1" >out &&
	rows_of out >actual &&
	echo "{\"id\":1,\"ltv\":\"123456789012345678901234567890.0123456789\",\"big\":\"-9223372036854775808\",\"ubig\":\"18446744073709551615\",\"doc\":{\"plan\":\"pro\",\"n\":[1,2.5]},\"photo\":\"AP8Q\",\"at\":\"2024-01-31T10:30:00.500+00:00\"}" >expect &&
	test_cmp expect actual
'

test_expect_success 'upsert updates existing rows, only the members given' '
	echo "{\"id\":1,\"ltv\":900}" >rows &&
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	echo ok >expect &&
	test_cmp expect actual &&
	my_query "select id, email, ltv from app where id = 1" >table &&
	printf "1\ta@x.com\t900.0000000000\n" >expect &&
	test_cmp expect table
'

test_expect_success 'a constraint violation rejects that record only; the rest commit' '
	cat >rows <<-\EOF &&
	{"id":10,"email":"c@x.com"}
	{"id":11,"email":"a@x.com"}
	{"id":12,"email":"d@x.com","ltv":-1}
	{"id":13,"email":"e@x.com","note":null}
	{"id":14,"email":"f@x.com"}
	EOF
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	rejected: Duplicate entry ${q}a@x.com${q} for key ${q}email${q} (error 1062, SQLSTATE 23000)
	rejected: CONSTRAINT `CONSTRAINT_1` failed for `rx`.`app` (error 4025, SQLSTATE 23000)
	rejected: Column ${q}note${q} cannot be null (error 1048, SQLSTATE 23000)
	ok
	EOF
	sed "s/\${q}/$(printf "\\047")/g" expect >expect2 &&
	test_cmp expect2 actual &&
	my_query "select id from app where id >= 10 order by id" >table &&
	printf "10\n14\n" >expect &&
	test_cmp expect table
'

test_expect_success 'another unique index never merges two rows: the upsert is rejected, not applied to the other row' '
	printf "%s\n" "{\"id\":20,\"email\":\"a@x.com\",\"note\":\"stolen\"}" "{\"id\":21,\"email\":\"g@x.com\"}" >rows &&
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	rejected: Duplicate entry ${q}a@x.com${q} for key ${q}email${q} (error 1062, SQLSTATE 23000)
	ok
	EOF
	sed "s/\${q}/$(printf "\\047")/g" expect >expect2 &&
	test_cmp expect2 actual &&
	my_query "select id, email, note from app where email in (\"a@x.com\", \"g@x.com\") order by id" >table &&
	printf "1\ta@x.com\tcafé 😀\n21\tg@x.com\t\n" >expect &&
	test_cmp expect table
'

test_expect_success 'and an existing row cannot take another row$q e-mail either' '
	echo "{\"id\":2,\"email\":\"a@x.com\"}" | ./my-apply "$MY_CONN" app id upsert >actual &&
	test_grep "^rejected: Duplicate entry .a@x.com. for key .email." actual &&
	my_query "select email from app where id = 2" >table &&
	echo b@x.com >expect && test_cmp expect table
'

test_expect_success 'values a column would round or cannot hold reject their record' '
	cat >rows <<-\EOF &&
	{"id":30,"big":1.5}
	{"id":31,"ltv":"0.00000000001"}
	{"id":32,"ltv":1e3}
	{"id":33,"big":"abc"}
	{"id":34,"photo":"not base64!"}
	{"id":35,"flags":-1}
	{"id":36,"note":"much too long for twenty characters"}
	{"id":37,"seen":"yesterday"}
	{"id":38,"big":2.000,"ltv":"5.1200000000000"}
	{"id":39,"big":99999999999999999999}
	EOF
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	rejected: column "big" is an integer: 1.5 is not one
	rejected: column "ltv" keeps 10 decimals: 0.00000000001 would be rounded
	rejected: column "ltv" is DECIMAL: 1e3 has an exponent, write its digits
	rejected: Incorrect integer value: ${q}abc${q} for column `rx`.`app`.`big` at row 1 (error 1366, SQLSTATE 22007)
	rejected: column "photo" is binary: its value must be base64 text
	rejected: column "flags" is BIT: -1 is not an unsigned integer
	rejected: Data too long for column ${q}note${q} at row 1 (error 1406, SQLSTATE 22001)
	rejected: Incorrect datetime value: ${q}yesterday${q} for column `rx`.`app`.`seen` at row 1 (error 1292, SQLSTATE 22007)
	ok
	rejected: Out of range value for column ${q}big${q} at row 1 (error 1264, SQLSTATE 22003)
	EOF
	sed "s/\${q}/$(printf "\\047")/g" expect >expect2 &&
	test_cmp expect2 actual &&
	my_query "select big, ltv from app where id = 38" >table &&
	printf "2\t5.1200000000\n" >expect && test_cmp expect table
'

test_expect_success 'a member with no column, or a missing key, rejects its record' '
	printf "%s\n" "{\"id\":40,\"nosuch\":1}" "{\"email\":\"k@x.com\"}" "{\"id\":null}" "[1]" >rows &&
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	rejected: no column "nosuch" in table app
	rejected: the row${q}s key column "id" is missing or null
	rejected: the row${q}s key column "id" is missing or null
	rejected: the change has no row object
	EOF
	sed "s/\${q}/$(printf "\\047")/g" expect >expect2 &&
	test_cmp expect2 actual
'

test_expect_success 'insert: a duplicate key is rejected, not overwritten' '
	printf "%s\n" "{\"id\":1,\"email\":\"zzz\"}" "{\"id\":50,\"email\":\"h@x.com\"}" >rows &&
	./my-apply "$MY_CONN" app id insert <rows >actual &&
	test_grep "^rejected: Duplicate entry .1. for key .PRIMARY. (error 1062, SQLSTATE 23000)" actual &&
	sed -n 2p actual >second && echo ok >expect && test_cmp expect second &&
	my_query "select email from app where id = 1" >table &&
	echo a@x.com >expect && test_cmp expect table
'

test_expect_success 'update: changes the row found by its key; no row is a rejection' '
	printf "%s\n" "{\"id\":50,\"email\":\"h2@x.com\"}" "{\"id\":51,\"email\":\"i@x.com\"}" "{\"id\":50}" "{\"id\":50,\"email\":\"h2@x.com\"}" >rows &&
	./my-apply "$MY_CONN" app id update <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	rejected: no row with this key in app
	ok
	ok
	EOF
	test_cmp expect actual &&
	my_query "select id, email from app where id in (50, 51)" >table &&
	printf "50\th2@x.com\n" >expect && test_cmp expect table
'

test_expect_success 'delete: by the key, other members ignored; a missing row is done' '
	printf "%s\n" "{\"id\":50,\"email\":\"whatever\",\"gone\":1}" "{\"id\":999}" >rows &&
	./my-apply "$MY_CONN" app id delete <rows >actual &&
	printf "ok\nok\n" >expect &&
	test_cmp expect actual &&
	my_query "select count(*) from app where id = 50" >table &&
	echo 0 >expect && test_cmp expect table
'

test_expect_success 'a delete a foreign key refuses is rejected alone' '
	my_sql "insert into parent values (2), (3); insert into child values (1, 2)" &&
	printf "%s\n" "{\"id\":1}" "{\"id\":2}" "{\"id\":3}" >rows &&
	./my-apply "$MY_CONN" parent id delete <rows >actual &&
	sed -n 2p actual >second &&
	test_grep "^rejected: Cannot delete or update a parent row: a foreign key constraint fails" second &&
	sed "2d" actual >rest && printf "ok\nok\n" >expect && test_cmp expect rest &&
	my_query "select id from parent" >table &&
	echo 2 >expect && test_cmp expect table
'

test_expect_success 'composite keys' '
	printf "%s\n" "{\"org\":\"acme\",\"id\":1,\"v\":\"a\"}" "{\"org\":\"beta\",\"id\":1,\"v\":\"b\"}" "{\"org\":\"acme\",\"id\":1,\"v\":\"a2\"}" >rows &&
	./my-apply "$MY_CONN" pair org,id upsert 1 <rows >actual &&
	printf "ok\nok\nok\n" >expect && test_cmp expect actual &&
	printf "%s\n" "{\"org\":\"beta\",\"id\":1}" "{\"org\":\"zeta\",\"id\":9}" | ./my-apply "$MY_CONN" pair org,id delete >actual &&
	printf "ok\nok\n" >expect && test_cmp expect actual &&
	my_query "select org, id, v from pair" >table &&
	printf "acme\t1\ta2\n" >expect && test_cmp expect table
'

test_expect_success 'rows of different member lists in one batch' '
	printf "%s\n" "{\"id\":1,\"v\":\"a\"}" "{\"id\":2}" "{\"v\":\"c\",\"id\":3}" "{\"id\":1,\"v\":\"a1\"}" >rows &&
	./my-apply "$MY_CONN" plain id upsert <rows >actual &&
	printf "ok\nok\nok\nok\n" >expect && test_cmp expect actual &&
	my_query "select id, v from plain order by id" >table &&
	printf "1\ta1\n2\tNULL\n3\tc\n" >expect && test_cmp expect table
'

test_expect_success 'a big batch with failures spread through it' '
	seq 1000 3500 | awk "{ e = \$1; if (\$1 % 500 == 0 || \$1 == 1151) e = \"dup\"; printf \"{\\\"id\\\":%d,\\\"email\\\":\\\"%s\\\"}\\n\", \$1, e }" >rows &&
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	grep -c "^ok$" actual >oks && echo 2495 >expect && test_cmp expect oks &&
	grep -n "^rejected" actual | cut -d: -f1 >bad &&
	printf "152\n501\n1001\n1501\n2001\n2501\n" >expect && test_cmp expect bad &&
	my_query "select count(*) from app where id between 1000 and 3500" >table &&
	echo 2495 >expect && test_cmp expect table
'

test_expect_success 'several batches through one connection' '
	seq 4000 4099 | sed "s/.*/{\"id\":&,\"ltv\":&}/" >rows &&
	./my-apply "$MY_CONN" app id upsert 10 <rows >actual &&
	test_lines 100 actual &&
	! grep -v "^ok$" actual &&
	my_query "select count(*), sum(ltv) from app where id between 4000 and 4099" >table &&
	printf "100\t404950.0000000000\n" >expect && test_cmp expect table
'

test_expect_success 'statements are split to stay within max_allowed_packet' '
	my_sql "set global max_allowed_packet = 1048576" &&
	awk "BEGIN { for (i = 1; i <= 3000; i++) printf \"{\\\"id\\\":%d,\\\"v\\\":\\\"%0900d\\\"}\\n\", 10000 + i, i }" >rows &&
	./my-apply "$MY_CONN" plain id upsert <rows >actual &&
	test_lines 3000 actual &&
	! grep -v "^ok$" actual &&
	awk "BEGIN { printf \"{\\\"id\\\":1,\\\"v\\\":\\\"%02000000d\\\"}\\n\", 7 }" >big &&
	./my-apply "$MY_CONN" plain id upsert <big >actual &&
	test_grep "^rejected: the row needs a statement of more than the server.s max_allowed_packet" actual &&
	my_sql "set global max_allowed_packet = 16777216" &&
	my_query "select count(*) from plain where id > 10000" >table &&
	echo 3000 >expect && test_cmp expect table
'

test_expect_success 'on MariaDB the rows of a batch go as one prepared statement over arrays' '
	my_query "show global status like \"Com_stmt_execute\"" | cut -f2 >before &&
	seq 5000 5999 | sed "s/.*/{\"id\":&,\"ltv\":&}/" >rows &&
	./my-apply "$MY_CONN" app id upsert <rows >actual &&
	my_query "show global status like \"Com_stmt_execute\"" | cut -f2 >after &&
	test "$(cat after)" -eq "$(($(cat before) + 1))"
'

# The same cases through MySQL's path, multi-row INSERT statements, which
# a MySQL server (no bulk execution) takes.
test_expect_success 'RX_MYSQL_BULK=0: exact values, rejections, a big batch with failures' '
	my_sql "create table app2 like app" &&
	export RX_MYSQL_BULK=0 &&
	my_query "show global status like \"Com_stmt_execute\"" | cut -f2 >before &&
	cat >rows <<-\EOF &&
	{"id":1,"email":"a@x.com","ltv":"123456789012345678901234567890.0123456789","ubig":"18446744073709551615","flags":2561,"doc":{"n":[1,2.5]},"photo":"AP8Q","at":"2024-01-31T12:30:00.5+02:00"}
	{"id":2,"email":"a@x.com"}
	{"id":3,"big":1.5}
	{"id":4,"email":"b@x.com","note":null}
	{"id":5,"email":"c@x.com"}
	EOF
	./my-apply "$MY_CONN" app2 id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	rejected: Duplicate entry ${q}a@x.com${q} for key ${q}email${q} (error 1062, SQLSTATE 23000)
	rejected: column "big" is an integer: 1.5 is not one
	rejected: Column ${q}note${q} cannot be null (error 1048, SQLSTATE 23000)
	ok
	EOF
	sed "s/\${q}/$(printf "\\047")/g" expect >expect2 &&
	test_cmp expect2 actual &&
	my_query "select id, ltv, ubig, flags + 0, doc, to_base64(photo), at from app2 order by id" >table &&
	cat >expect <<-\EOF &&
	1	123456789012345678901234567890.0123456789	18446744073709551615	2561	{"n":[1,2.5]}	AP8Q	2024-01-31 10:30:00.500
	5	NULL	NULL	NULL	NULL	NULL	NULL
	EOF
	test_cmp expect table &&
	seq 1000 2000 | awk "{ e = \$1; if (\$1 % 250 == 0) e = \"dup\"; printf \"{\\\"id\\\":%d,\\\"email\\\":\\\"%s\\\"}\\n\", \$1, e }" >rows &&
	./my-apply "$MY_CONN" app2 id upsert <rows >actual &&
	grep -n "^rejected" actual | cut -d: -f1 >bad &&
	printf "251\n501\n751\n1001\n" >expect && test_cmp expect bad &&
	my_query "show global status like \"Com_stmt_execute\"" | cut -f2 >after &&
	test_cmp before after
'

test_expect_success 'upsert needs a unique index on the key; update and delete do not' '
	echo "{\"id\":1,\"v\":\"x\"}" | ./my-apply "$MY_CONN" nokey id upsert >actual &&
	test_grep "^rejected: no unique index on the key columns of nokey" actual &&
	echo "{\"id\":1,\"v\":\"x\"}" | ./my-apply "$MY_CONN" nokey id insert >actual &&
	echo "{\"id\":1,\"v\":\"y\"}" | ./my-apply "$MY_CONN" nokey id update >actual &&
	echo ok >expect && test_cmp expect actual
'

test_expect_success 'open fails clearly: no table, no key column, a MyISAM table, no server' '
	echo "{}" | test_expect_code 1 ./my-apply "$MY_CONN" nosuch id upsert >actual &&
	test_grep "^open failed: MySQL table .nosuch.: Table .rx.nosuch. doesn.t exist (error 1146" actual &&
	echo "{}" | test_expect_code 1 ./my-apply "$MY_CONN" app nokey upsert >actual &&
	test_grep "^open failed: MySQL table .app. has no key column .nokey." actual &&
	echo "{}" | test_expect_code 1 ./my-apply "$MY_CONN" legacy id upsert >actual &&
	test_grep "^open failed: MySQL table .legacy. uses the MyISAM engine, which cannot roll a batch back" actual &&
	echo "{}" | test_expect_code 1 ./my-apply "socket=$TRASH/nosuch.sock user=root" app id upsert >actual &&
	test_grep "^open failed: cannot connect to MySQL: Can.t connect to local server through socket" actual
'

test_expect_success 'the connection killed mid-batch: the batch fails whole, nothing committed' '
	my_sql "create table fragile (id int primary key, v text);
		create trigger slow before insert on fragile for each row set new.v = if(new.id = 666, sleep(30), new.v)" &&
	printf "%s\n" "{\"id\":1,\"v\":\"a\"}" "{\"id\":666,\"v\":\"boom\"}" "{\"id\":3,\"v\":\"c\"}" >rows || exit 1
	{ ./my-apply "$MY_CONN" fragile id upsert 1 <rows >actual; echo $? >status; } &
	n=0 && while [ $n -lt 100 ] && [ "$(my_query "select count(*) from information_schema.processlist where state = \"User sleep\"")" != 1 ]; do
		sleep 0.1; n=$((n + 1)); done &&
	my_sql "select id into @victim from information_schema.processlist where state = \"User sleep\"; kill @victim" &&
	wait &&
	echo 1 >expect && test_cmp expect status &&
	sed -n 2p actual >second &&
	test_grep "^batch failed: MySQL: " second &&
	sed -n 3p actual >third && echo ok >expect && test_cmp expect third &&
	my_query "select id from fragile order by id" >table &&
	printf "1\n3\n" >expect && test_cmp expect table
'

test_expect_success 'the server gone between batches: the next batch connects again' '
	mkfifo feed && : >fed || exit 1
	{ ./my-apply "$MY_CONN" plain id upsert 1 <feed >fed; echo $? >fed.status; } &
	apply=$! &&
	exec 9>feed &&
	echo "{\"id\":7,\"v\":\"x\"}" >&9 &&
	n=0 && while [ $n -lt 100 ] && ! [ -s fed ]; do sleep 0.1; n=$((n + 1)); done &&
	my_stop && my_restart 9>&- &&
	echo "{\"id\":8,\"v\":\"y\"}" >&9 &&
	exec 9>&- &&
	wait $apply &&
	echo 0 >expect && test_cmp expect fed.status &&
	printf "ok\nok\n" >expect && test_cmp expect fed &&
	my_query "select id, v from plain where id in (7, 8)" >table &&
	printf "7\tx\n8\ty\n" >expect && test_cmp expect table
'

test_done
