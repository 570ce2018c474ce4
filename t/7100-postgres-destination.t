#!/bin/sh
# The postgres destination driver (filters/push/db_postgres.c), driven by
# t/helpers/pg-apply.c: upsert, insert, update and delete in one
# transaction per batch, each record under a savepoint so a constraint
# violation rejects that record only; exact big numbers; a lost connection
# fails the whole batch with nothing committed.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-pg.sh"

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
	$(pkg-config --cflags libpq) -o pg-apply "$RX_TESTS/helpers/pg-apply.c" \
	"$RX_TOP/filters/push/db_postgres.c" "$librx" \
	$(pkg-config --libs libcurl sqlite3 liblz4 libpq libcrypto) -ljq -lonig -lcsv -lm -lpthread ||
	{ echo "Bail out! cannot build t/helpers/pg-apply.c"; exit 1; }

cat >setup.sql <<'SQL'
create table app (id int primary key, email text unique, ltv numeric, big int8,
  active bool, tags text[], doc jsonb, photo bytea, seen timestamptz,
  note text not null default '', check (ltv is null or ltv >= 0));
create table pair (org text, id int, v text, primary key (org, id));
create function crash() returns trigger language plpgsql as $$
begin
  if new.id = 666 then perform pg_terminate_backend(pg_backend_pid()); end if;
  return new;
end $$;
create table fragile (id int primary key, v text);
create trigger crash before insert on fragile for each row execute function crash();
SQL

pg_start

dump () {
	pg_query "select id, email, ltv, big, active, tags, doc, encode(photo, 'base64'), seen, note from app order by id"
}

test_expect_success 'setup: an application table' '
	"$PSQL" -X -q -v ON_ERROR_STOP=1 -f setup.sql
'

test_expect_success 'upsert inserts new rows, with every kind of value' '
	cat >rows <<-\EOF &&
	{"id":1,"email":"a@x.com","ltv":812.5,"big":"9223372036854775807","active":true,"tags":["a","b c","q\"uote",null],"doc":{"plan":"pro","n":[1,2]},"photo":"AP8Q","seen":"2024-01-31T10:30:00+00:00","note":"café"}
	{"id":2,"email":"b@x.com","ltv":"12345678901234567890.123456789","big":-5,"active":false,"tags":[],"doc":"just a string","photo":null,"seen":null}
	{"id":3,"email":null,"ltv":null,"big":null,"active":null,"tags":null,"doc":null}
	EOF
	./pg-apply "" app id upsert <rows >actual &&
	printf "ok\nok\nok\n" >expect &&
	test_cmp expect actual &&
	dump >table &&
	cat >expect <<-\EOF &&
	1|a@x.com|812.5|9223372036854775807|t|{a,"b c","q\"uote",NULL}|{"n": [1, 2], "plan": "pro"}|AP8Q|2024-01-31 10:30:00+00|café
	2|b@x.com|12345678901234567890.123456789|-5|f|{}|"just a string"|||
	3|||||||||
	EOF
	test_cmp expect table
'

test_expect_success 'upsert updates existing rows, only the members given' '
	echo "{\"id\":1,\"ltv\":900}" >rows &&
	./pg-apply "" app id upsert <rows >actual &&
	echo ok >expect &&
	test_cmp expect actual &&
	pg_query "select id, email, ltv from app where id = 1" >table &&
	echo "1|a@x.com|900" >expect &&
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
	./pg-apply "" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	rejected: duplicate key value violates unique constraint "app_email_key": Key (email)=(a@x.com) already exists. (SQLSTATE 23505)
	rejected: new row for relation "app" violates check constraint "app_ltv_check": Failing row contains (12, d@x.com, -1, null, null, null, null, null, null, ). (SQLSTATE 23514)
	rejected: null value in column "note" of relation "app" violates not-null constraint: Failing row contains (13, e@x.com, null, null, null, null, null, null, null, null). (SQLSTATE 23502)
	ok
	EOF
	test_cmp expect actual &&
	pg_query "select id from app where id >= 10 order by id" >table &&
	printf "10\n14\n" >expect &&
	test_cmp expect table
'

test_expect_success 'a bad value for its column type rejects its record' '
	printf "%s\n" "{\"id\":20,\"big\":1.5}" "{\"id\":21,\"active\":\"maybe\"}" "{\"id\":22}" >rows &&
	./pg-apply "" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	rejected: invalid input syntax for type bigint: "1.5" (SQLSTATE 22P02)
	rejected: invalid input syntax for type boolean: "maybe" (SQLSTATE 22P02)
	ok
	EOF
	test_cmp expect actual
'

test_expect_success 'a member with no column, or a missing key, rejects its record' '
	printf "%s\n" "{\"id\":30,\"nosuch\":1}" "{\"email\":\"k@x.com\"}" "{\"id\":null}" "[1]" >rows &&
	./pg-apply "" app id upsert <rows >actual &&
	cat >expect <<-\EOF &&
	rejected: no column "nosuch" in table app
	rejected: the row${q:-}s key column "id" is missing or null
	rejected: the row${q:-}s key column "id" is missing or null
	rejected: the change has no row object
	EOF
	sed "s/\${q:-}/$(printf "\\047")/" expect >expect2 &&
	test_cmp expect2 actual
'

test_expect_success 'insert: a duplicate key is rejected, not overwritten' '
	printf "%s\n" "{\"id\":1,\"email\":\"zzz\"}" "{\"id\":40,\"email\":\"g@x.com\"}" >rows &&
	./pg-apply "" app id insert <rows >actual &&
	test_grep "^rejected: duplicate key value violates unique constraint \"app_pkey\": Key (id)=(1) already exists. (SQLSTATE 23505)" actual &&
	sed -n 2p actual >second && echo ok >expect && test_cmp expect second &&
	pg_query "select email from app where id = 1" >table &&
	echo a@x.com >expect && test_cmp expect table
'

test_expect_success 'update: changes the row found by its key; no row is a rejection' '
	printf "%s\n" "{\"id\":40,\"email\":\"g2@x.com\"}" "{\"id\":41,\"email\":\"h@x.com\"}" "{\"id\":40}" >rows &&
	./pg-apply "" app id update <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	rejected: no row with this key in app
	ok
	EOF
	test_cmp expect actual &&
	pg_query "select email from app where id in (40, 41)" >table &&
	echo g2@x.com >expect && test_cmp expect table
'

test_expect_success 'delete: by the key, other members ignored; a missing row is done' '
	printf "%s\n" "{\"id\":40,\"email\":\"whatever\",\"gone\":1}" "{\"id\":999}" >rows &&
	./pg-apply "" app id delete <rows >actual &&
	printf "ok\nok\n" >expect &&
	test_cmp expect actual &&
	pg_query "select count(*) from app where id = 40" >table &&
	echo 0 >expect && test_cmp expect table
'

test_expect_success 'composite keys' '
	printf "%s\n" "{\"org\":\"acme\",\"id\":1,\"v\":\"a\"}" "{\"org\":\"beta\",\"id\":1,\"v\":\"b\"}" "{\"org\":\"acme\",\"id\":1,\"v\":\"a2\"}" >rows &&
	./pg-apply "" pair org,id upsert <rows >actual &&
	printf "ok\nok\nok\n" >expect && test_cmp expect actual &&
	echo "{\"org\":\"beta\",\"id\":1}" | ./pg-apply "" pair org,id delete >actual &&
	echo ok >expect && test_cmp expect actual &&
	pg_query "select org, id, v from pair" >table &&
	echo "acme|1|a2" >expect && test_cmp expect table
'

test_expect_success 'a big batch with failures in several pipeline segments' '
	seq 1000 1350 | awk "{ e = \$1; if (\$1 == 1050 || \$1 == 1150 || \$1 == 1151 || \$1 == 1300) e = \"dup\"; printf \"{\\\"id\\\":%d,\\\"email\\\":\\\"%s\\\"}\\n\", \$1, e }" >rows &&
	./pg-apply "" app id upsert <rows >actual &&
	grep -c "^ok$" actual >oks && echo 348 >expect && test_cmp expect oks &&
	grep -n "^rejected" actual | cut -d: -f1 >bad &&
	printf "151\n152\n301\n" >expect && test_cmp expect bad &&
	pg_query "select count(*) from app where id between 1000 and 1350" >table &&
	echo 348 >expect && test_cmp expect table
'

test_expect_success 'several batches through one connection reuse the statements' '
	seq 2000 2099 | sed "s/.*/{\"id\":&,\"ltv\":&}/" >rows &&
	./pg-apply "" app id upsert 10 <rows >actual &&
	test_lines 100 actual &&
	! grep -v "^ok$" actual &&
	pg_query "select count(*), sum(ltv) from app where id between 2000 and 2099" >table &&
	echo "100|204950" >expect && test_cmp expect table
'

test_expect_success 'the connection lost mid-batch: the batch fails whole, nothing committed' '
	printf "%s\n" "{\"id\":1,\"v\":\"a\"}" "{\"id\":666,\"v\":\"boom\"}" "{\"id\":3,\"v\":\"c\"}" >rows &&
	test_expect_code 1 ./pg-apply "" fragile id upsert <rows >actual &&
	test_grep "^batch failed: .*terminat" actual &&
	pg_query "select count(*) from fragile" >table &&
	echo 0 >expect && test_cmp expect table
'

test_expect_success 'after a lost connection the next batch reconnects' '
	printf "%s\n" "{\"id\":666,\"v\":\"boom\"}" "{\"id\":5,\"v\":\"e\"}" "{\"id\":6,\"v\":\"f\"}" >rows &&
	test_expect_code 1 ./pg-apply "" fragile id upsert 1 <rows >actual &&
	cat >expect <<-\EOF &&
	ok
	ok
	EOF
	sed 1d actual >rest && test_cmp expect rest &&
	pg_query "select id from fragile order by id" >table &&
	printf "5\n6\n" >expect && test_cmp expect table
'

test_expect_success 'open fails clearly: no table, no key column, no server' '
	echo "{}" | test_expect_code 1 ./pg-apply "" nosuch id upsert >actual &&
	test_grep "^open failed: PostgreSQL table .nosuch.: ERROR: relation \"nosuch\" does not exist" actual &&
	echo "{}" | test_expect_code 1 ./pg-apply "" app nokey upsert >actual &&
	test_grep "^open failed: PostgreSQL table .app. has no key column .nokey." actual &&
	mkdir nosock &&
	echo "{}" | test_expect_code 1 ./pg-apply "host=$TRASH/nosock" app id upsert >actual &&
	test_grep "^open failed: cannot connect to PostgreSQL: .*No such file" actual
'

test_done
