#!/bin/sh
# rx-diff --stream: each row of a change feed compared with the snapshot
# and emitted as it comes; deletes from the source; uncertain keys sent
# again; guard rails over a window; one run that its commit applies as it
# goes, and the source position stored with the acks (issue 17).
. "$(dirname "$0")/lib.sh"

acks () { jq -c 'if has("$rx") then . else {key,hash,run,op} end' "$@"; }
stream () { rx-diff --state s.db --key id --stream "$@"; }
position () { sqlite3 s.db "select value from meta where name = 'source_position'"; }

test_expect_success 'a full run syncs three rows' '
	printf "%s\n" "{\"id\":1,\"v\":\"a\"}" "{\"id\":2,\"v\":\"b\"}" "{\"id\":3,\"v\":\"c\"}" "{\"\$rx\":\"end\"}" >full &&
	rx-diff --state s.db --key id --mode mirror <full >c0 &&
	acks c0 | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select count(*) from snapshot")" = 3
'

test_expect_success 'unchanged rows are dropped, changes emitted at once, positions kept in place' '
	cat >feed <<-\EOF &&
	{"id":1,"v":"a"}
	{"id":2,"v":"B"}
	{"$rx":"commit","lsn":"0/10"}
	{"id":4,"v":"d"}
	{"$rx":"commit","lsn":"0/20"}
	EOF
	stream <feed >out &&
	norun out | sed "s/\"hash\":\"[0-9a-f]*\"/\"hash\":H/" >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"2","hash":H,"changed":["v"],"row":{"id":2,"v":"B"}}
	{"$rx":"commit","lsn":"0/10"}
	{"op":"upsert","key":"4","hash":H,"row":{"id":4,"v":"d"}}
	{"$rx":"commit","lsn":"0/20"}
	EOF
	test_cmp expect actual &&
	id=$(sqlite3 s.db "select value from meta where name = \"state_id\"") &&
	test "$(jq -r "select(.run) | .run" out | sort -u)" = "$id.2" &&
	test "$(sqlite3 s.db "select status || \" \" || inserts || \" \" || updates || \" \" || unchanged from runs where id = 2")" = "staged 1 1 1"
'

test_expect_success 'the commit applies the acks and stores the last position with them' '
	acks out | rx-diff --state s.db --commit &&
	test "$(position)" = "{\"\$rx\":\"commit\",\"lsn\":\"0/20\"}" &&
	test "$(sqlite3 s.db "select status || \" \" || acked from runs where id = 2")" = "committed 2" &&
	test "$(sqlite3 s.db "select count(*) from snapshot")" = 4
'

test_expect_success 'a repeat of a change on its way is dropped; another value for its key goes whole' '
	cat >feed <<-\EOF &&
	{"id":1,"v":"x"}
	{"id":1,"v":"x"}
	{"id":1,"v":"y"}
	EOF
	stream <feed >out &&
	norun out | jq -c "{op,changed,row}" >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","changed":["v"],"row":{"id":1,"v":"x"}}
	{"op":"upsert","changed":null,"row":{"id":1,"v":"y"}}
	EOF
	test_cmp expect actual &&
	test "$(sqlite3 s.db "select count(*) from staged")" = 1
'

test_expect_success 'the ack of the older change is ignored, the newer one is applied' '
	acks out | rx-diff --state s.db --commit 2>err &&
	test_grep "1 acks matched no staged change" err &&
	test "$(sqlite3 s.db "select count(*) from staged")" = 0 &&
	tail -n 1 feed | stream >again &&
	test_must_be_empty again
'

test_expect_success 'a change never acked leaves its key uncertain: the next stream sends it even unchanged' '
	echo "{\"id\":2,\"v\":\"C\"}" | stream >lost &&
	test_lines 1 lost &&
	echo "{\"id\":2,\"v\":\"B\"}" | stream >out 2>err &&
	test_grep "committed none" err &&
	norun out | jq -c "{op,changed,row}" >actual &&
	echo "{\"op\":\"upsert\",\"changed\":null,\"row\":{\"id\":2,\"v\":\"B\"}}" >expect &&
	test_cmp expect actual &&
	acks out | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select count(*) from uncertain")" = 0
'

test_expect_success 'mirror: a delete from the source carries the last synced row; an unknown key deletes nothing' '
	cat >feed <<-\EOF &&
	{"$rx":"delete","row":{"id":3}}
	{"$rx":"delete","row":{"id":99}}
	{"$rx":"commit","lsn":"0/30"}
	EOF
	stream --mode mirror --max-delete-ratio 1 <feed >out &&
	norun out | jq -c "if .op then {op,key,row} else . end" >actual &&
	cat >expect <<-\EOF &&
	{"op":"delete","key":"3","row":{"id":3,"v":"c"}}
	{"$rx":"commit","lsn":"0/30"}
	EOF
	test_cmp expect actual &&
	acks out | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select count(*) from snapshot where key = \"3\"")" = 0 &&
	test "$(position)" = "{\"\$rx\":\"commit\",\"lsn\":\"0/30\"}"
'

test_expect_success 'upsert mode keeps a row the source deleted, as a batch run does' '
	echo "{\"\$rx\":\"delete\",\"row\":{\"id\":4}}" | stream >out &&
	test_must_be_empty out
'

test_expect_success 'a delete while the key'"'"'s change is on its way has a hash of its own' '
	printf "%s\n" "{\"id\":4,\"v\":\"e\"}" "{\"\$rx\":\"delete\",\"row\":{\"id\":4}}" |
		stream --mode mirror --max-delete-ratio 1 >out &&
	test_lines 2 out &&
	test "$(jq -r .hash out | sort -u | wc -l)" = 2 &&
	test "$(sqlite3 s.db "select key || \" \" || action from staged")" = "4 1" &&
	acks out | rx-diff --state s.db --commit 2>err &&
	test "$(sqlite3 s.db "select count(*) from snapshot where key = \"4\"")" = 0
'

test_expect_success 'a delete whose row lacks the key is a dead letter' '
	echo "{\"\$rx\":\"delete\",\"row\":{\"other\":1}}" >feed &&
	test_expect_code 3 stream --mode mirror <feed >out 2>err &&
	test_grep "replica identity" err &&
	test_must_be_empty out
'

test_expect_success '--changed-only: an update carries the changed fields and the key' '
	echo "{\"id\":1,\"v\":\"z\",\"w\":1}" | stream --changed-only --accept-schema-change >out &&
	norun out | jq -c "{changed,row}" >actual &&
	echo "{\"changed\":[\"v\",\"w\"],\"row\":{\"id\":1,\"v\":\"z\",\"w\":1}}" >expect &&
	test_cmp expect actual &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'guard: the columns of a row not the delivered ones stop the stream, nothing of it emitted' '
	printf "%s\n" "{\"id\":5,\"v\":\"q\",\"w\":0}" "{\"id\":6,\"renamed\":\"q\"}" >feed &&
	RX_DIFF_GROUP_LINES=1 test_expect_code 65 stream <feed >out 2>err &&
	test_grep "guard: the columns changed" err &&
	test_lines 1 out &&
	test "$(jq -r .key out)" = 5 &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'guard: more deletes in the window than --max-deletes stop the stream before them' '
	printf "%s\n" "{\"id\":10,\"v\":1}" "{\"id\":11,\"v\":1}" "{\"id\":12,\"v\":1}" | stream --accept-schema-change >out &&
	acks out | rx-diff --state s.db --commit &&
	printf "%s\n" "{\"\$rx\":\"delete\",\"row\":{\"id\":10}}" "{\"\$rx\":\"commit\",\"lsn\":\"0/40\"}" \
		"{\"\$rx\":\"delete\",\"row\":{\"id\":11}}" "{\"\$rx\":\"delete\",\"row\":{\"id\":12}}" >feed &&
	RX_DIFF_GROUP_LINES=2 test_expect_code 65 stream --mode mirror --max-delete-ratio 1 --max-deletes 2 <feed >out 2>err &&
	test_grep "guard: 3 deletes in 60s exceed --max-deletes 2" err &&
	norun out | jq -c "if .op then {op,key} else . end" >actual &&
	cat >expect <<-\EOF &&
	{"op":"delete","key":"10"}
	{"$rx":"commit","lsn":"0/40"}
	EOF
	test_cmp expect actual
'

test_expect_success 'guard: deletes of a share of the synced rows in the window (--max-delete-ratio)' '
	acks out | rx-diff --state s.db --commit &&
	n=$(sqlite3 s.db "select count(*) from snapshot") &&
	test "$n" = 5 &&
	printf "%s\n" "{\"\$rx\":\"delete\",\"row\":{\"id\":11}}" "{\"\$rx\":\"delete\",\"row\":{\"id\":12}}" >feed &&
	RX_DIFF_GROUP_LINES=1 test_expect_code 65 stream --mode mirror --max-delete-ratio 0.3 <feed >out 2>err &&
	test_grep "guard: 2 deletes in 60s are 0.3 or more of the 5 synced rows" err &&
	test_lines 1 out &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'a truncate deletes nothing and says how to delete' '
	echo "{\"\$rx\":\"truncate\",\"table\":\"public.t\"}" | stream --mode mirror >out 2>err &&
	test_must_be_empty out &&
	test_grep "truncated \"public.t\"" err &&
	test_grep "full sync in mirror mode" err
'

test_expect_success 'a row without its key is a dead letter; the stream goes on, exit 3' '
	printf "%s\n" "{\"v\":1}" "{\"id\":20,\"v\":1}" | test_expect_code 3 stream --accept-schema-change >out 2>err &&
	test_grep "^{\"v\":1,\"error\"" err &&
	test_lines 1 out &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'a position after acks that counted for no run is not stored' '
	before=$(position) &&
	printf "%s\n" "{\"key\":\"1\",\"hash\":\"0000000000000000000000000000000000000000000000000000000000000000\",\"run\":\"0123456789abcdef.1\",\"op\":\"upsert\"}" \
		"{\"\$rx\":\"commit\",\"lsn\":\"9/0\"}" >bad &&
	test_expect_code 65 rx-diff --state s.db --commit <bad 2>err &&
	test_grep "it is not stored" err &&
	test "$(position)" = "$before"
'

test_expect_success 'a second stream while one holds the state: exit 75' '
	mkfifo fifo &&
	{ stream <fifo >/dev/null 2>first.err & } &&
	exec 9>fifo &&
	i=0 && while [ "$(sqlite3 s.db "select count(*) from runs where status = \"streaming\"")" != 1 ] && [ $i -lt 100 ]; do
		sleep 0.05; i=$((i + 1)); done &&
	test_expect_code 75 stream </dev/null 2>err &&
	test_grep "is locked by run" err &&
	exec 9>&- &&
	wait
'

test_expect_success 'SIGTERM ends a stream after the group at work, exit 0' '
	rm -f fifo2 && mkfifo fifo2 &&
	{ rx-diff --state s.db --key id --stream <fifo2 >term.out 2>term.err & pid=$!; } &&
	exec 8>fifo2 &&
	echo "{\"id\":30,\"v\":1}" >&8 &&
	i=0 && while [ ! -s term.out ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done &&
	kill -TERM $pid &&
	{ wait $pid; rc=$?; } &&
	exec 8>&- &&
	test $rc = 0 &&
	test_lines 1 term.out &&
	test_grep "stopped by a signal" term.err &&
	acks term.out | rx-diff --state s.db --commit
'

test_expect_success 'killed after staging, before emitting: the key is uncertain, sent again unchanged' '
	echo "{\"id\":31,\"v\":1}" >feed &&
	RX_KILL_AT=rx-diff:stream-emit:1 test_expect_code 137 sh -c "rx-diff --state s.db --key id --stream <feed >out" &&
	test_must_be_empty out &&
	stream <feed >out 2>err &&
	test_grep "recovering run" err &&
	test_lines 1 out &&
	acks out | rx-diff --state s.db --commit &&
	stream <feed >none &&
	test_must_be_empty none
'

test_expect_success 'usage: --stream is not a preview, a resync or a commit' '
	test_expect_code 2 rx-diff --state s.db --key id --stream --preview </dev/null 2>err &&
	test_grep "stream" err &&
	test_expect_code 2 rx-diff --state s.db --stream --commit </dev/null &&
	test_expect_code 2 rx-diff --state s.db --key id --stream --count-record </dev/null
'

test_expect_success 'destination ids: an update and a delete of the stream carry the id, and its ack keeps it' '
	printf "%s\n" "{\"id\":1,\"v\":\"a\"}" "{\"id\":2,\"v\":\"b\"}" "{\"\$rx\":\"end\"}" |
		rx-diff --state ids.db --key id --mode mirror >c0 &&
	jq -c "{key,hash,run,op,id:(\"crm-\" + .key)}" c0 | rx-diff --state ids.db --commit &&
	printf "%s\n" "{\"id\":1,\"v\":\"A\"}" "{\"\$rx\":\"delete\",\"row\":{\"id\":2}}" "{\"id\":3,\"v\":\"c\"}" |
		rx-diff --state ids.db --key id --mode mirror --stream --max-delete-ratio 1 >out &&
	jq -c "{key,op,id}" out >actual &&
	cat >expect <<-\EOF &&
	{"key":"1","op":"upsert","id":"crm-1"}
	{"key":"2","op":"delete","id":"crm-2"}
	{"key":"3","op":"upsert","id":null}
	EOF
	test_cmp expect actual &&
	test "$(sqlite3 ids.db "select group_concat(key || \"=\" || coalesce(id, \"-\"), \" \") from staged")" = "1=\"crm-1\" 2=\"crm-2\" 3=-" &&
	jq -c "{key,hash,run,op}" out | rx-diff --state ids.db --commit &&
	test "$(sqlite3 ids.db "select group_concat(key || \"=\" || coalesce(id, \"-\"), \" \") from snapshot_row")" = "1=\"crm-1\" 3=-"
'

test_expect_success 'a closed pipe ends it quietly; a full disk is exit 74' '
	printf "{\"id\":%d,\"v\":2}\n" 40 41 42 >feed &&
	stream <feed 2>err | head -n 1 >one &&
	test_lines 1 one &&
	{ grep -v "recovering run" err >said || :; } &&
	test_must_be_empty said &&
	printf "{\"id\":%d,\"v\":3}\n" 40 41 42 >feed &&
	test_expect_code 74 stream <feed >/dev/full 2>err &&
	test_grep "cannot write" err
'

test_done
