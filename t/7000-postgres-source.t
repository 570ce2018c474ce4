#!/bin/sh
# rx-extract --postgres against a real server: every type, NULLs, --table,
# the connection settings from the environment, exact big numbers.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

cat >setup.sql <<'SQL'
create schema sales;
create domain email as text;
create type plan as enum ('free', 'pro');
create table sales.customers (
  id int primary key, small int2, big int8, amount numeric, ratio float8, r4 float4,
  active bool, name text, code varchar(8), pad char(4), uid uuid, day date,
  at timestamp, atz timestamptz, doc jsonb, raw json, tags text[], grid int[][],
  prices numeric[], photo bytea, mail email, tier plan, span interval, seen time);
insert into sales.customers values
  (1, 7, 9007199254740992, 812.50, 0.1, 1.5, true, 'café', 'c1', 'ab',
   'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '2024-01-31', '2024-01-31 12:30:00.25',
   '2024-01-31 12:30:00+02', '{"plan": "pro", "n": [1, 2.5, null]}', '{"a" : 1}',
   '{red,"green blue","q\"uote",NULL}', '{{1,2},{3,4}}', '{1.5,12345678901234567890.5}',
   '\x00ff10', 'a@x.com', 'pro', '1 day 02:00:00', '08:15:00'),
  (2, -32768, -9007199254740993, 12345678901234567890.123, 'NaN', '-Infinity', false,
   '😀 中文 tab	and
newline', null, null, null, null, null, null, '[]', '"s"', '{}', null,
   null, '\x', null, null, null, null),
  (3, null, null, 'NaN', null, null, null, null, null, null, null, null, null, null, null,
   null, null, null, null, null, null, null, null, null);
create table empty (id int);
SQL
cat >times.sql <<'SQL'
select timestamptz '2024-06-01 23:59:59.999999-05:30' as a,
  to_json(timestamptz '2024-06-01 23:59:59.999999-05:30') as b,
  'infinity'::timestamp as c, timestamp '2024-06-01 10:00' as d
SQL

pg_start

test_expect_success 'setup: a warehouse' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql
'

test_expect_success 'every type maps to JSON; big and inexact numbers become strings' '
	rx-extract --postgres "" --query "select * from sales.customers order by id" >actual &&
	cat >expect <<-\EOF &&
	{"id":1,"small":7,"big":9007199254740992,"amount":812.50,"ratio":0.1,"r4":1.5,"active":true,"name":"café","code":"c1","pad":"ab  ","uid":"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11","day":"2024-01-31","at":"2024-01-31T12:30:00.25","atz":"2024-01-31T10:30:00+00:00","doc":{"n":[1,2.5,null],"plan":"pro"},"raw":{"a":1},"tags":["red","green blue","q\"uote",null],"grid":[[1,2],[3,4]],"prices":[1.5,"12345678901234567890.5"],"photo":"AP8Q","mail":"a@x.com","tier":"pro","span":"P1DT2H","seen":"08:15:00"}
	{"id":2,"small":-32768,"big":"-9007199254740993","amount":"12345678901234567890.123","ratio":"NaN","r4":"-Infinity","active":false,"name":"😀 中文 tab\tand\nnewline","code":null,"pad":null,"uid":null,"day":null,"at":null,"atz":null,"doc":[],"raw":"s","tags":[],"grid":null,"prices":null,"photo":"","mail":null,"tier":null,"span":null,"seen":null}
	{"id":3,"small":null,"big":null,"amount":"NaN","ratio":null,"r4":null,"active":null,"name":null,"code":null,"pad":null,"uid":null,"day":null,"at":null,"atz":null,"doc":null,"raw":null,"tags":null,"grid":null,"prices":null,"photo":null,"mail":null,"tier":null,"span":null,"seen":null}
	{"$rx":"end","rows":3}
	EOF
	test_cmp expect actual
'

test_expect_success 'the output is JSON that jq reads; big numbers survive as strings' '
	rx-extract --postgres "" --query "select * from sales.customers order by id" >out &&
	rows_of out | jq -r ".big" >bigs &&
	cat >expect <<-\EOF &&
	9007199254740992
	-9007199254740993
	null
	EOF
	test_cmp expect bigs
'

test_expect_success 'timestamps are ISO 8601, timestamptz in UTC, as to_json() writes them' '
	rx-extract --postgres "" --query-file times.sql >actual &&
	cat >expect <<-\EOF &&
	{"a":"2024-06-02T05:29:59.999999+00:00","b":"2024-06-02T05:29:59.999999+00:00","c":"infinity","d":"2024-06-01T10:00:00"}
	{"$rx":"end","rows":1}
	EOF
	test_cmp expect actual
'

test_expect_success '--table reads a table; schema.table names its schema' '
	rx-extract --postgres "" --table sales.customers >all &&
	test_lines 4 all &&
	test_end 3 all &&
	rx-extract --postgres "" --table empty >actual &&
	test_lines 1 actual &&
	test_end 0 actual
'

test_expect_success 'a conninfo or URI names the server; the environment fills the rest' '
	rx-extract --postgres "host=$PGHOST dbname=postgres" --query "select 1 as one" >a1 &&
	rx-extract --postgres "postgresql:///postgres?host=$PGHOST" --query "select 1 as one" >a2 &&
	printf "%s\n" "{\"one\":1}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect a1 &&
	test_cmp expect a2
'

test_expect_success 'a trailing semicolon and comment in the query are fine' '
	rx-extract --postgres "" --query "select 2 as two; " >out &&
	rows_of out >actual &&
	echo "{\"two\":2}" >expect &&
	test_cmp expect actual &&
	printf "select 3 as three -- the model\n" >model.sql &&
	rx-extract --postgres "" --query-file model.sql --shard 1/1 --key three >out &&
	rows_of out >actual &&
	echo "{\"three\":3}" >expect &&
	test_cmp expect actual
'

test_expect_success 'rows that span several FETCH chunks all arrive, in order' '
	rx-extract --postgres "" --query "select g as id, repeat(chr(120), g % 7) as s from generate_series(1, 25000) g order by g" >actual &&
	test_lines 25001 actual &&
	test_end 25000 actual &&
	rows_of actual | jq -r .id >ids &&
	seq 1 25000 >expect &&
	test_cmp expect ids
'

test_expect_success 'two columns of one name are refused, named, before any row' '
	test_expect_code 65 rx-extract --postgres "" --query "select 1 as id, 2 as a, 3 as id" >actual 2>err &&
	test_must_be_empty actual &&
	test_grep "^rx-extract: query: columns 1 and 3 are both named .id." err
'

test_expect_success 'a statement that returns no rows is refused' '
	test_expect_code 1 rx-extract --postgres "" --query "create temp table x (i int)" 2>err &&
	test_grep "^rx-extract: .*not a query" err
'

test_expect_success '| head -1 stops quietly' '
	rx-extract --postgres "" --query "select g from generate_series(1, 200000) g" 2>err | head -1 >actual &&
	echo "{\"g\":1}" >expect &&
	test_cmp expect actual &&
	test_must_be_empty err
'

test_expect_success 'a full disk is exit 74' '
	test_expect_code 74 rx-extract --postgres "" --table sales.customers >/dev/full 2>err &&
	test_grep "^rx-extract: " err
'

test_done
