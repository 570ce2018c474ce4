#!/bin/sh
# A model that did not end normally never causes a delete: rx-extract
# ends a model it read whole with {"$rx":"end",...}; rx-diff in mirror
# mode refuses a model without it, and holds back every delete when rows
# of the model were rejected (a null key here, a dead letter upstream).
. "$(dirname "$0")/lib.sh"

# a warehouse of N customers, and an application table to sync into
warehouse () {
	rm -f w.db &&
	sqlite3 w.db "create table c(id text, email text);
		with recursive n(i) as (select 1 union all select i + 1 from n where i < $1)
		insert into c select printf('C%05d', i), 'u' || i || '@x.com' from n;"
}
sqlite3 app.db "create table c(id text primary key, email text)" || exit 1

# sync [RX_KILL_AT] [MODEL-FILTER]: the whole pipeline, mirror mode
cat >sync.sh <<'SH'
set -o pipefail
RX_KILL_AT=${1:-} rx-extract --sqlite w.db --query 'select * from c order by id' \
| ${2:-cat} \
| rx-diff --state s.db --key id --mode mirror ${3:-} \
| rx-batch --size 50 \
| rx-push --profile sqlite --url app.db --table c --key id \
| rx-diff --state s.db --commit
SH
rows_in_app () { sqlite3 app.db "select count(*) from c"; }

test_expect_success 'setup: 10,000 rows synced in mirror mode' '
	warehouse 10000 &&
	bash sync.sh &&
	test "$(rows_in_app)" = 10000
'

test_expect_success 'rx-extract killed at row 7000: no end record, rx-diff sends nothing, deletes nothing' '
	test_expect_code 65 bash sync.sh rx-extract:row:7000 2>err &&
	test_grep "rx-diff: the model ended without its end record after [1-9][0-9]* rows" err &&
	test "$(rows_in_app)" = 10000 &&
	test "$(sqlite3 s.db "select count(*) from snapshot")" = 10000 &&
	warehouse 100 && rm -f s.db* && sqlite3 app.db "delete from c" && bash sync.sh &&
	test "$(rows_in_app)" = 100
'

test_expect_success 'a model cut by head: nothing emitted, exit 65' '
	rx-extract --sqlite w.db --query "select * from c order by id" | head -n 50 >half &&
	test_expect_code 65 rx-diff --state s.db --key id --mode mirror <half >out 2>err &&
	test_must_be_empty out &&
	test_grep "nothing was emitted, nothing deleted" err &&
	test "$(rows_in_app)" = 100
'

test_expect_success 'a CSV error midway: the line named is where the quote opened, and no delete' '
	{ echo "id,email" && i=1 && while [ $i -le 100 ]; do
		if [ $i = 61 ]; then echo "C00061,\"open"; else printf "C%05d,u%d@x.com\n" $i $i; fi
		i=$((i + 1)); done; } >c.csv &&
	test_expect_code 65 rx-extract --csv c.csv >rows 2>err &&
	test_grep "c.csv: line 62: malformed CSV" err &&
	test_lines 60 rows &&
	test_expect_code 65 rx-diff --state s.db --key id --mode mirror <rows >out 2>err &&
	test_must_be_empty out
'

test_expect_success 'the end record counts its rows: a stage that lost one is caught' '
	rx-extract --sqlite w.db --query "select * from c order by id" | grep -v C00042 >lost &&
	test_expect_code 65 rx-diff --state s.db --key id --mode mirror <lost >out 2>err &&
	test_grep "the end record counts 100 rows, but 99 came before it" err &&
	test_must_be_empty out
'

test_expect_success 'a line after the end record is bad input, in rx-diff and in rx-map' '
	rx-extract --sqlite w.db --query "select * from c order by id" >whole &&
	{ cat whole; echo "{\"id\":\"C00999\"}"; } >after &&
	test_expect_code 65 rx-diff --state s.db --key id --mode mirror <after >out 2>err &&
	test_grep "a line after the end record" err &&
	test_expect_code 65 rx-map --select id <after >out 2>err &&
	test_grep "a line after the end record" err
'

test_expect_success 'a foreign producer prints the end record itself, or passes --assume-complete' '
	rows_of whole | grep -v C00100 >foreign &&
	{ cat foreign && echo "{\"\$rx\":\"end\"}"; } >foreign.end &&
	rx-diff --state s.db --key id --mode mirror <foreign.end >c1 &&
	test_lines 1 c1 && test_grep "\"op\":\"delete\",\"key\":\"C00100\"" c1 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <foreign >c2 2>err &&
	test_lines 1 c2
'

test_expect_success 'other modes need no end record' '
	rx-diff --state u.db --key id <foreign >c3 &&
	test_lines 99 c3
'

test_expect_success 'the delete guard blocks at its limit, not only past it' '
	sqlite3 g-app.db "create table c(id text primary key, email text)" &&
	rx-diff --state g.db --key id --mode mirror <whole | rx-batch --size 50 |
		rx-push --profile sqlite --url g-app.db --table c --key id | rx-diff --state g.db --commit &&
	{ rows_of whole | head -n 50 && echo "{\"\$rx\":\"end\"}"; } >fifty &&
	test_expect_code 65 rx-diff --state g.db --key id --mode mirror <fifty >out 2>err &&
	test_grep "guard: 50 deletes are 0.5 or more of the 100 synced rows" err &&
	test_must_be_empty out
'

test_expect_success 'a destination profile may set a stricter delete guard (--profile)' '
	mkdir -p profiles &&
	echo "{\"driver\":\"sqlite\",\"max_delete_ratio\":0.01}" >profiles/strict.json &&
	{ rows_of whole | head -n 98 && echo "{\"\$rx\":\"end\"}"; } >ninety-eight &&
	test_expect_code 65 env RX_PROFILE_PATH=profiles rx-diff --state g.db --key id --mode mirror \
		--profile strict <ninety-eight >out 2>err &&
	test_grep "guard: 2 deletes are 0.01 or more" err &&
	env RX_PROFILE_PATH=profiles rx-diff --state g.db --key id --mode mirror --profile strict \
		--max-delete-ratio 0.5 <ninety-eight >out &&
	test_lines 2 out
'

test_expect_success 'rows with a null key are dead-lettered and hold back every delete' '
	warehouse 100 &&
	sqlite3 w.db "update c set id = null where cast(substr(id, 2) as integer) % 3 = 0;
		delete from c where id = '\''C00100'\''" &&
	test_expect_code 3 bash sync.sh 2>err &&
	test "$(grep -c "^{.*missing or null key" err)" = 33 &&
	test_grep "33 rows of the model were rejected" err &&
	test_grep "34 deletes held back" err &&
	test "$(rows_in_app)" = 100 &&
	sqlite3 w.db "update c set id = printf('\''N%05d'\'', rowid) where id is null" &&
	bash sync.sh 2>err &&
	test "$(rows_in_app)" = 99
'

test_expect_success 'rows rx-map dead-letters are counted in the end record and hold back deletes' '
	warehouse 100 &&
	bash sync.sh &&
	sqlite3 w.db "delete from c where id = '\''C00007'\''" &&
	cat >map.sh <<-\EOF &&
	rx-map -e "if .id == \"C00050\" then error(\"no mapping for C00050\") else . end"
	EOF
	test_expect_code 3 bash sync.sh "" "sh map.sh" 2>err &&
	test_grep "rejected (0 here for a missing or null key, 1 by a stage before)" err &&
	test_grep "2 deletes held back" err &&
	test "$(rows_in_app)" = 100 &&
	rx-extract --sqlite w.db --query "select * from c order by id" | sh map.sh 2>/dev/null | tail -n 1 >end &&
	echo "{\"\$rx\":\"end\",\"rows\":98,\"rejected\":1}" >expect &&
	test_cmp expect end &&
	bash sync.sh &&
	test "$(rows_in_app)" = 99
'

test_expect_success 'rx-extract refuses a join that repeats a column name, before any row' '
	sqlite3 w.db "create table p(id text, plan text); insert into p values (\"P9\", \"pro\")" &&
	test_expect_code 65 rx-extract --sqlite w.db --query "select * from c join p on 1" >out 2>err &&
	test_must_be_empty out &&
	test_grep "columns 1 and 3 are both named .id." err
'

test_done
