#!/bin/sh
# rx-extract --sqlite: types, NULLs, unicode, exact big integers, errors.
. "$(dirname "$0")/lib.sh"

cat >setup.sql <<'SQL'
create table customers(id integer primary key, email text, ltv real, big integer, photo blob, note text);
insert into customers values
  (1, 'a@x.com', 812.5, 9007199254740992, x'00ff10', 'café'),
  (2, null, 0.1, 9007199254740993, null, '😀 中文'),
  (3, 'q"uote', -2.5e-7, -9007199254740993, x'', 'tab	and
newline');
create table empty(id integer, v text);
SQL

test_expect_success 'setup: a small warehouse' '
	sqlite3 w.db <setup.sql
'

test_expect_success 'every SQLite type maps to JSON; big integers become strings' '
	rx-extract --sqlite w.db --table customers >actual &&
	cat >expect <<-\EOF &&
	{"id":1,"email":"a@x.com","ltv":812.5,"big":9007199254740992,"photo":"AP8Q","note":"café"}
	{"id":2,"email":null,"ltv":0.1,"big":"9007199254740993","photo":null,"note":"😀 中文"}
	{"id":3,"email":"q\"uote","ltv":-2.5e-07,"big":"-9007199254740993","photo":"","note":"tab\tand\nnewline"}
	{"$rx":"end","rows":3}
	EOF
	test_cmp expect actual
'

test_expect_success 'the output is valid JSON that jq reads back unchanged' '
	rx-extract --sqlite w.db --table customers >out &&
	jq -c . out >jqout &&
	test_lines 4 jqout &&
	jq -r .note out >notes &&
	test_grep "中文" notes
'

test_expect_success '--query runs a model; column aliases become member names' '
	rx-extract --sqlite w.db --query "select id as customer_id, upper(email) as e from customers where id < 3 order by id" >actual &&
	cat >expect <<-\EOF &&
	{"customer_id":1,"e":"A@X.COM"}
	{"customer_id":2,"e":null}
	{"$rx":"end","rows":2}
	EOF
	test_cmp expect actual
'

test_expect_success '--query-file reads the model from a file' '
	echo "select id from customers where id = 2" >model.sql &&
	rx-extract --sqlite w.db --query-file model.sql >actual &&
	printf "%s\n" "{\"id\":2}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success 'an empty table gives no rows, the end record and exit 0' '
	rx-extract --sqlite w.db --table empty >actual &&
	test_lines 1 actual &&
	test_end 0 actual
'

test_expect_success 'a 5 MB row passes whole' '
	sqlite3 w.db "create table big(id integer, blobby text); insert into big values (1, printf(\"%.*c\", 5000000, \"x\"));" &&
	rx-extract --sqlite w.db --table big >out &&
	test "$(head -n 1 out | jq -r ".blobby | length")" = 5000000
'

test_expect_success 'a SQL error: a message naming the database, exit 1, no rows' '
	test_expect_code 1 rx-extract --sqlite w.db --query "select nope from customers" >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-extract: w.db: SQL error: no such column: nope" err
'

test_expect_success 'a missing database: exit 1, not an empty result' '
	test_expect_code 1 rx-extract --sqlite missing.db --table customers 2>err &&
	test_grep "^rx-extract: cannot open .missing.db." err &&
	test ! -e missing.db
'

test_expect_success 'a file that is not a database: exit 1' '
	echo "hello" >not.db &&
	test_expect_code 1 rx-extract --sqlite not.db --table t 2>err &&
	test_grep "not a database" err
'

test_expect_success 'usage: --query and --table are exclusive, one is needed' '
	test_expect_code 2 rx-extract --sqlite w.db 2>err &&
	test_expect_code 2 rx-extract --sqlite w.db --table a --query b 2>err &&
	test_expect_code 2 rx-extract --sqlite w.db --sqlite w.db --table a 2>err
'

test_expect_success 'a table name with a quote is quoted, not injected' '
	sqlite3 w.db "create table \"we\"\"ird\"(v integer); insert into \"we\"\"ird\" values (7);" &&
	rx-extract --sqlite w.db --table "we\"ird" >actual &&
	printf "%s\n" "{\"v\":7}" "{\"\$rx\":\"end\",\"rows\":1}" >expect &&
	test_cmp expect actual
'

test_expect_success '| head -1 ends quietly' '
	sqlite3 w.db "create table many(i integer); with recursive c(x) as (select 1 union all select x+1 from c where x < 200000) insert into many select x from c;" &&
	rx-extract --sqlite w.db --table many 2>err | head -n 1 >out &&
	test_lines 1 out &&
	test_must_be_empty err
'

test_expect_success 'a full disk is exit 74 with a message' '
	test_expect_code 74 rx-extract --sqlite w.db --table many >/dev/full 2>err &&
	test_grep "^rx-extract: cannot write output" err
'

test_expect_success '--shard: the union of the shards is the whole, each key once' '
	rx-extract --sqlite w.db --table many >all &&
	for i in 1 2 3; do rx-extract --sqlite w.db --table many --shard $i/3 --key i >s$i || return 1; done &&
	test_end 200000 all &&
	n1=$(rows_of s1 | wc -l) && n2=$(rows_of s2 | wc -l) && n3=$(rows_of s3 | wc -l) &&
	test_end $n1 s1 && test_end $n2 s2 && test_end $n3 s3 &&
	cat s1 s2 s3 | rows_of - | sort >union && rows_of all | sort >whole &&
	test_cmp whole union &&
	test -s s1 && test -s s2 && test -s s3
'

test_expect_success '--shard without --key, or a bad I/N, is a usage error' '
	test_expect_code 2 rx-extract --sqlite w.db --table many --shard 1/2 2>err &&
	test_expect_code 2 rx-extract --sqlite w.db --table many --shard 3/2 --key i 2>err &&
	test_expect_code 2 rx-extract --sqlite w.db --table many --shard 0/2 --key i 2>err
'

test_done
