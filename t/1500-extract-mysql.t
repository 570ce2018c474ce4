#!/bin/sh
# rx-extract --mysql against a real MariaDB server: every type, NULLs,
# --table, the conninfo, the password from MYSQL_PWD or an option file,
# exact big numbers, UTC timestamps, a query that is not one.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-mariadb.sh"

cat >setup.sql <<'SQL'
create database sales;
create table sales.customers (
  id int primary key, small smallint, tiny tinyint, flag tinyint(1), med mediumint,
  big bigint, ubig bigint unsigned, zf int(5) zerofill, amount decimal(40,10),
  price decimal(8,2), ratio double, r4 float, bits bit(10), wide bit(64),
  day date, at datetime(3), ts timestamp(6) null, dur time(2), yr year,
  tier enum('free','pro'), tags set('a','b','c'), doc json, name varchar(40),
  code char(4), raw binary(3), photo varbinary(10), body text, blob_ blob,
  uid uuid, latin varchar(10) character set latin1)
  default charset=utf8mb4;
insert into sales.customers values
  (1, 7, -128, 1, 8388607, 9007199254740992, 18446744073709551615, 42,
   123456789012345678901234567890.0123456789, 812.50, 0.1, 1.5, b'1010000001',
   b'1111111111111111111111111111111111111111111111111111111111111111',
   '2024-01-31', '2024-01-31 12:30:00.250', '2024-01-31 12:30:00.000001',
   '-838:59:59', 2024, 'pro', 'a,c', '{"plan": "pro", "n": [1, 2.5, null]}',
   'café 😀 中文', 'ab', x'00ff10', x'', 'tab	and
newline "quoted" \\ back', x'0001', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 'é'),
  (2, -32768, 0, 0, 0, -9007199254740993, 0, 0, -0.5, -1.00, 1e300, -2.5e-5, b'0',
   b'0', '1000-01-01', '2024-06-01 00:00:00', '1970-01-01 00:00:01', '08:15:00', 1901,
   'free', '', '[]', '', '', x'000000', null, '', x'', null, ''),
  (3, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null, null, null, null, null, null,
   null, null);
create table empty (id int);
create table sales.`we``ird` (`a b` int, `c"d` text);
insert into sales.`we``ird` values (1, 'x');
SQL

my_start

test_expect_success 'setup: a warehouse' '
	my_client --default-character-set=utf8mb4 <setup.sql
'

test_expect_success 'every type maps to JSON; big and inexact numbers become strings' '
	rx-extract --mysql "$MY_CONN" --query "select * from sales.customers order by id" >actual &&
	cat >expect <<-\EOF &&
	{"id":1,"small":7,"tiny":-128,"flag":1,"med":8388607,"big":9007199254740992,"ubig":"18446744073709551615","zf":42,"amount":"123456789012345678901234567890.0123456789","price":812.50,"ratio":0.1,"r4":1.5,"bits":641,"wide":"18446744073709551615","day":"2024-01-31","at":"2024-01-31T12:30:00.250","ts":"2024-01-31T12:30:00.000001+00:00","dur":"-838:59:59.00","yr":2024,"tier":"pro","tags":"a,c","doc":{"plan":"pro","n":[1,2.5,null]},"name":"café 😀 中文","code":"ab","raw":"AP8Q","photo":"","body":"tab\tand\nnewline \"quoted\" \\ back","blob_":"AAE=","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","latin":"é"}
	{"id":2,"small":-32768,"tiny":0,"flag":0,"med":0,"big":"-9007199254740993","ubig":0,"zf":0,"amount":-0.5000000000,"price":-1.00,"ratio":1e300,"r4":-0.000025,"bits":0,"wide":0,"day":"1000-01-01","at":"2024-06-01T00:00:00.000","ts":"1970-01-01T00:00:01.000000+00:00","dur":"08:15:00.00","yr":1901,"tier":"free","tags":"","doc":[],"name":"","code":"","raw":"AAAA","photo":null,"body":"","blob_":"","uid":null,"latin":""}
	{"id":3,"small":null,"tiny":null,"flag":null,"med":null,"big":null,"ubig":null,"zf":null,"amount":null,"price":null,"ratio":null,"r4":null,"bits":null,"wide":null,"day":null,"at":null,"ts":null,"dur":null,"yr":null,"tier":null,"tags":null,"doc":null,"name":null,"code":null,"raw":null,"photo":null,"body":null,"blob_":null,"uid":null,"latin":null}
	{"$rx":"end","rows":3}
	EOF
	test_cmp expect actual
'

test_expect_success 'the output is JSON that jq reads; big numbers survive as strings' '
	rx-extract --mysql "$MY_CONN" --query "select big, ubig from sales.customers order by id" >out &&
	rows_of out | jq -r "[.big, .ubig] | @tsv" >bigs &&
	printf "%s\t%s\n" 9007199254740992 18446744073709551615 -9007199254740993 0 "" "" >expect &&
	test_cmp expect bigs
'

test_expect_success 'expressions: JSON functions embed, binary literals are base64, counts are numbers' '
	rx-extract --mysql "$MY_CONN" --query "select json_object(\"a\", 1) as jo, 0x00ff as xb, null as n,
		1.5 as dd, 2e0 as fe, count(*) as cnt, 18446744073709551615 + 0 as big from sales.customers" >actual &&
	cat >expect <<-\EOF &&
	{"jo":{"a":1},"xb":"AP8=","n":null,"dd":1.5,"fe":2,"cnt":3,"big":"18446744073709551615"}
	{"$rx":"end","rows":1}
	EOF
	test_cmp expect actual
'

test_expect_success 'TIMESTAMP is read in UTC whatever the server zone; DATETIME is never shifted' '
	my_sql "set global time_zone = \"+05:30\"" &&
	my_sql "create table times (ts timestamp null, dt datetime)" &&
	my_sql "set time_zone = \"+02:00\"; insert into times values (\"2024-06-01 12:00:00\", \"2024-06-01 12:00:00\")" &&
	rx-extract --mysql "$MY_CONN" --table times >actual &&
	cat >expect <<-\EOF &&
	{"ts":"2024-06-01T10:00:00+00:00","dt":"2024-06-01T12:00:00"}
	{"$rx":"end","rows":1}
	EOF
	test_cmp expect actual &&
	my_sql "set global time_zone = SYSTEM"
'

test_expect_success 'zero dates keep the server text, in the same shape' '
	my_sql "set sql_mode = \"\"; create table zero (d date, dt datetime, y year);
		insert into zero values (\"0000-00-00\", \"0000-00-00 00:00:00\", 0)" &&
	rx-extract --mysql "$MY_CONN" --table zero >actual &&
	cat >expect <<-\EOF &&
	{"d":"0000-00-00","dt":"0000-00-00T00:00:00","y":0}
	{"$rx":"end","rows":1}
	EOF
	test_cmp expect actual
'

test_expect_success '--table reads a table; schema.table names its schema; names are quoted' '
	rx-extract --mysql "$MY_CONN" --table sales.customers >all &&
	test_lines 4 all &&
	test_end 3 all &&
	rx-extract --mysql "$MY_CONN" --table empty >actual &&
	test_lines 1 actual &&
	test_end 0 actual &&
	rx-extract --mysql "$MY_CONN" --table "sales.we\`ird" >actual &&
	printf "%s\n" "{\"a b\":1,\"c\\\"d\":\"x\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a conninfo names the server; quoted values; --mariadb is the same source' '
	rx-extract --mysql "socket=$MY_SOCK user=root database=sales" --query "select database() as db" >a1 &&
	rx-extract --mariadb "socket = $(printf "\\047")$MY_SOCK$(printf "\\047") user=root" --query "select 1 as one" >a2 &&
	printf "%s\n" "{\"db\":\"sales\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect a1 &&
	printf "%s\n" "{\"one\":1}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect a2
'

test_expect_success 'the session is utf8mb4 and UTC' '
	rx-extract --mysql "$MY_CONN" --query "select @@character_set_results as cs, @@character_set_client as cc, @@time_zone as tz" >actual &&
	printf "%s\n" "{\"cs\":\"utf8mb4\",\"cc\":\"utf8mb4\",\"tz\":\"+00:00\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'setup: a user with a password' '
	my_sql "create user alice@localhost identified by \"right\"; grant select on sales.* to alice@localhost"
'

test_expect_success 'the password comes from MYSQL_PWD' '
	MYSQL_PWD=right rx-extract --mysql "socket=$MY_SOCK user=alice database=sales" --query "select current_user() as u" >actual &&
	printf "%s\n" "{\"u\":\"alice@localhost\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'or from an option file ([client] or [rx]), with the rest of the settings' '
	printf "[client]\nuser=alice\npassword=right\n" >client.cnf &&
	rx-extract --mysql "socket=$MY_SOCK database=sales defaults-file=client.cnf" --query "select current_user() as u" >a1 &&
	printf "[rx]\nsocket=%s\nuser=alice\npassword=right\n[mysqld]\nuser=nobody\n" "$MY_SOCK" >rx.cnf &&
	rx-extract --mysql "defaults-file=rx.cnf" --query "select current_user() as u" >a2 &&
	printf "%s\n" "{\"u\":\"alice@localhost\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect a1 &&
	test_cmp expect a2
'

test_expect_success 'or from ~/.my.cnf when no option file is named' '
	printf "[client]\npassword=right\n" >"$HOME/.my.cnf" &&
	rx-extract --mysql "socket=$MY_SOCK user=alice" --query "select current_user() as u" >actual &&
	rm "$HOME/.my.cnf" &&
	printf "%s\n" "{\"u\":\"alice@localhost\"}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'a wrong password: exit 1, one line, and the password is never printed' '
	test_expect_code 1 env MYSQL_PWD=wrong-secret rx-extract --mysql "socket=$MY_SOCK user=alice" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: cannot connect to MySQL: Access denied for user .alice.@.localhost. (using password: YES) (error 1045, SQLSTATE 28000)" err &&
	! grep -q wrong-secret err
'

test_expect_success 'a password in the conninfo is refused, and not echoed' '
	test_expect_code 1 rx-extract --mysql "socket=$MY_SOCK user=alice password=hunter2" --query "select 1" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: conninfo: no password here (it would be on a command line): set MYSQL_PWD" err &&
	! grep -q hunter2 err
'

test_expect_success 'bad conninfos: an unknown key, a bad port, a missing option file' '
	test_expect_code 1 rx-extract --mysql "socket=$MY_SOCK usr=alice" --query "select 1" 2>err &&
	test_grep "^rx-extract: conninfo: unknown key .usr. (host, port" err &&
	test_expect_code 1 rx-extract --mysql "port=99999" --query "select 1" 2>err &&
	test_grep "^rx-extract: conninfo: port: .99999. is not a port number" err &&
	test_expect_code 1 rx-extract --mysql "port" --query "select 1" 2>err &&
	test_grep "^rx-extract: conninfo: .port. is not key=value" err &&
	test_expect_code 1 rx-extract --mysql "user=$(printf "\\047")x" --query "select 1" 2>err &&
	test_grep "^rx-extract: conninfo: user: unterminated quoted value" err &&
	test_expect_code 1 rx-extract --mysql "defaults-file=nosuch.cnf" --query "select 1" 2>err &&
	test_grep "^rx-extract: cannot read option file .nosuch.cnf.: No such file" err
'

test_expect_success 'a trailing semicolon and comment in the query are fine' '
	rx-extract --mysql "$MY_CONN" --query "select 2 as two; " >out &&
	rows_of out >actual &&
	echo "{\"two\":2}" >expect &&
	test_cmp expect actual &&
	printf "select 3 as three -- the model\n" >model.sql &&
	rx-extract --mysql "$MY_CONN" --query-file model.sql --shard 1/1 --key three >out &&
	rows_of out >actual &&
	echo "{\"three\":3}" >expect &&
	test_cmp expect actual
'

test_expect_success 'rows stream in order (a sequence of 25,000)' '
	rx-extract --mysql "$MY_CONN" --query "select seq as id, repeat(\"x\", seq % 7) as s from seq_1_to_25000 order by seq" >actual &&
	test_lines 25001 actual &&
	test_end 25000 actual &&
	rows_of actual | jq -r .id >ids &&
	seq 1 25000 >expect &&
	test_cmp expect ids
'

test_expect_success 'two columns of one name are refused, named, before any row' '
	test_expect_code 65 rx-extract --mysql "$MY_CONN" --query "select 1 as id, 2 as a, 3 as id" >actual 2>err &&
	test_must_be_empty actual &&
	test_grep "^rx-extract: query: columns 1 and 3 are both named .id." err
'

test_expect_success 'a statement that is not a query is refused, and changes nothing' '
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --query "delete from sales.customers" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: query failed: Cannot execute statement in a READ ONLY transaction (error 1792" err &&
	my_query "select count(*) from sales.customers" >count &&
	echo 3 >expect &&
	test_cmp expect count &&
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --query "set @x = 1" 2>err &&
	test_grep "^rx-extract: the statement returns no rows (it is not a query)" err
'

test_expect_success 'a query error: exit 1, the server message, nothing written' '
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --query "select * from no_such_table" >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-extract: query failed: Table .rx.no_such_table. doesn.t exist (error 1146, SQLSTATE 42S02)" err &&
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --table "x; drop table y" 2>err &&
	test_grep "Table .rx.x; drop table y. doesn.t exist" err
'

test_expect_success 'an error after rows were written: exit 1, no end record' '
	test_expect_code 1 rx-extract --mysql "$MY_CONN" --query "select seq, 4500 - seq as x from seq_1_to_9000" >out 2>err &&
	test_grep "^rx-extract: query failed after 4500 rows (the output is incomplete): BIGINT UNSIGNED value is out of range" err &&
	test_lines 1 err &&
	test_lines 4500 out &&
	! grep -q "\"\\\$rx\"" out
'

test_expect_success '| head -1 stops quietly' '
	rx-extract --mysql "$MY_CONN" --query "select seq from seq_1_to_200000" 2>err | head -1 >actual &&
	echo "{\"seq\":1}" >expect &&
	test_cmp expect actual &&
	test_must_be_empty err
'

test_expect_success 'a full disk is exit 74, quickly, with the rest unread' '
	test_expect_code 74 rx-extract --mysql "$MY_CONN" --query "select seq from seq_1_to_2000000" >/dev/full 2>err &&
	test_grep "^rx-extract: " err
'

test_done
