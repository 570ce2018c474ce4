#!/bin/sh
# rx-push --profile sqlite: upserts (INSERT ... ON CONFLICT DO UPDATE),
# inserts, updates and deletes by the key columns in an application
# database, one transaction per batch, a constraint violation rejecting
# only its record.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: an application database' '
	sqlite3 app.db "create table customers (id text primary key, email text not null, ltv real, vip integer, tags text);
		insert into customers values (\"C1\", \"old@x.com\", 1, 0, null), (\"C9\", \"gone@x.com\", 2, 0, null);
		create table seats (org text, seat integer, holder text, primary key (org, seat));"
'

cat >in.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"id":"C1","email":"a@x.com","ltv":812.5,"vip":true,"tags":["a","b"]}},{"key":"C2","hash":"h2","row":{"id":"C2","email":"b@x.com","ltv":null,"vip":false,"tags":null}},{"key":"C3","hash":"h3","row":{"id":"C3","email":null}}]}
{"op":"delete","records":[{"key":"C9","hash":"h9","row":{"id":"C9","email":"gone@x.com"}}]}
IN

test_expect_success 'upserts and deletes; a NOT NULL violation dead-letters one record' '
	test_expect_code 3 rx-push --profile sqlite --url app.db --table customers --key id <in.ndjson >acks 2>err &&
	cat >expect <<-\EOF &&
	{"key":"C1","hash":"h1","op":"upsert"}
	{"key":"C2","hash":"h2","op":"upsert"}
	{"key":"C9","hash":"h9","op":"delete"}
	EOF
	test_cmp expect acks &&
	grep "^{" err >dead &&
	test_lines 1 dead &&
	test_grep "\"key\":\"C3\".*NOT NULL constraint failed: customers.email" dead &&
	sqlite3 app.db "select id, email, ltv, vip, tags from customers order by id" >rows &&
	cat >expect <<-\EOF &&
	C1|a@x.com|812.5|1|["a","b"]
	C2|b@x.com||0|
	EOF
	test_cmp expect rows
'

test_expect_success 'single changes, inserts and updates, a composite key' '
	cat >seats.ndjson <<-\EOF &&
	{"op":"insert","key":["acme","1"],"hash":"a","row":{"org":"acme","seat":1,"holder":"ada"}}
	{"op":"insert","key":["acme","2"],"hash":"b","row":{"org":"acme","seat":2,"holder":"bob"}}
	{"op":"insert","key":["acme","1"],"hash":"c","row":{"org":"acme","seat":1,"holder":"cy"}}
	{"op":"update","key":["acme","2"],"hash":"d","row":{"org":"acme","seat":2,"holder":"di"}}
	EOF
	test_expect_code 3 rx-push --profile sqlite --url app.db --table seats --key org,seat <seats.ndjson >acks 2>err &&
	test_lines 3 acks &&
	test_grep "UNIQUE constraint failed" err &&
	sqlite3 app.db "select * from seats order by seat" >rows &&
	printf "acme|1|ada\nacme|2|di\n" >expect &&
	test_cmp expect rows
'

test_expect_success 'an update that finds no row is rejected; a delete that finds none is done' '
	cat >missing.ndjson <<-\EOF &&
	{"op":"update","key":"C404","hash":"u","row":{"id":"C404","email":"nobody@x.com"}}
	{"op":"delete","key":"C405","hash":"d","row":{"id":"C405"}}
	EOF
	test_expect_code 3 rx-push --profile sqlite --url app.db --table customers --key id <missing.ndjson >acks 2>err &&
	echo "{\"key\":\"C405\",\"hash\":\"d\",\"op\":\"delete\"}" >expect &&
	test_cmp expect acks &&
	test_grep "\"key\":\"C404\".*no row with this key in" err &&
	test "$(sqlite3 app.db "select count(*) from customers where id = \"C404\"")" = 0
'

test_expect_success 'a big number arrives as a string and stays exact' '
	echo "{\"op\":\"upsert\",\"key\":\"C4\",\"hash\":\"h\",\"row\":{\"id\":\"C4\",\"email\":\"d@x.com\",\"tags\":\"12345678901234567890\"}}" |
	rx-push --profile sqlite --url app.db --table customers --key id >acks &&
	sqlite3 app.db "select tags from customers where id = \"C4\"" >out &&
	echo 12345678901234567890 >expect &&
	test_cmp expect out
'

test_expect_success 'the same input twice: idempotent' '
	sqlite3 app.db "select * from customers order by id" >before &&
	test_expect_code 3 rx-push --profile sqlite --url app.db --table customers --key id <in.ndjson >acks 2>err &&
	sqlite3 app.db "select * from customers order by id" >after &&
	test_cmp before after
'

test_expect_success 'a missing table or key: exit 1, nothing acked' '
	test_expect_code 1 rx-push --profile sqlite --url app.db --table nope --key id <in.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "no such table: nope" err &&
	test_expect_code 1 rx-push --profile sqlite --url app.db --table customers <in.ndjson 2>err &&
	test_grep "needs a table and key columns" err
'

test_expect_success 'a locked database: the batch fails whole, exit 75, the records unacked' '
	{ python3 -c "
import sqlite3, time
c = sqlite3.connect(\"app.db\", isolation_level=None)
c.execute(\"begin immediate\")
open(\"locked\", \"w\").close()
time.sleep(5)
" & } &&
	holder=$! &&
	while [ ! -f locked ]; do sleep 0.05; done &&
	echo "{\"op\":\"upsert\",\"key\":\"C5\",\"hash\":\"h\",\"row\":{\"id\":\"C5\",\"email\":\"e@x.com\"}}" >one.ndjson &&
	test_expect_code 75 rx-push --profile sqlite --url app.db --table customers --key id --max-attempts 1 <one.ndjson >acks 2>err &&
	kill $holder &&
	test_must_be_empty acks &&
	test_grep "database is locked" err &&
	test_grep "1 record left unacked" err
'

test_expect_success '--dry-run shows the rows, writes nothing' '
	sqlite3 app.db "select count(*) from customers" >before &&
	rx-push --profile sqlite --url app.db --table customers --key id --dry-run <in.ndjson >dry &&
	sqlite3 app.db "select count(*) from customers" >after &&
	test_cmp before after &&
	test_lines 2 dry &&
	test_grep "^{\"\$rx\":\"request\",\"driver\":\"sqlite\",\"table\":\"customers\",\"op\":\"delete\",\"rows\":\[{\"id\":\"C9\"" dry
'

test_expect_success 'sqlite: | head -1 and a full stdout' '
	for i in $(seq 1 600); do echo "{\"op\":\"upsert\",\"key\":\"N$i\",\"hash\":\"h\",\"row\":{\"id\":\"N$i\",\"email\":\"n@x.com\"}}"; done >many.ndjson &&
	{ rx-push --profile sqlite --url app.db --table customers --key id <many.ndjson 2>err; echo $? >status; } | head -n 1 >first &&
	test_lines 1 first &&
	echo 74 >expect && test_cmp expect status &&
	test_expect_code 74 rx-push --profile sqlite --url app.db --table customers --key id <many.ndjson >/dev/full 2>err
'

test_done
