#!/bin/sh
# The snapshot keeps each record's id at the destination, from the acks,
# and every later change of the key carries it as "id" (deletes too):
# CRMs address records by their own ids (issue 12).
. "$(dirname "$0")/lib.sh"

model () { # ID=EMAIL...
	for kv in "$@"; do printf '{"id":"%s","email":"%s"}\n' "${kv%%=*}" "${kv#*=}"; done
	echo '{"$rx":"end"}'
}
# acks that carry the destination's id: HS-<key>, or a number for N keys
ack_with_ids () { jq -c '{key, hash, run, op} + {id: (if .key | startswith("N") then 4000000 + (.key[1:] | tonumber) else "HS-" + .key end)}' "$@"; }
ack_plain () { jq -c '{key, hash, run, op}' "$@"; }

test_expect_success 'a first run carries no ids; its acks give them' '
	model C1=a@x.com C2=b@x.com N7=n@x.com >m1 &&
	rx-diff --state s.db --key id --mode mirror <m1 >c1 &&
	! grep -q "\"id\":\"HS" c1 &&
	test "$(jq -r "has(\"id\")" c1 | sort -u)" = false &&
	ack_with_ids c1 | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select group_concat(key || \"=\" || id, \" \") from (select * from snapshot_row order by key)")" = \
		"C1=\"HS-C1\" C2=\"HS-C2\" N7=4000007"
'

test_expect_success 'an update carries the id, a number stays a number' '
	model C1=a2@x.com C2=b@x.com N7=n2@x.com >m2 &&
	rx-diff --state s.db --key id --mode mirror <m2 >c2 &&
	jq -c "{key, id}" c2 >ids &&
	cat >expect <<-\EOF &&
	{"key":"C1","id":"HS-C1"}
	{"key":"N7","id":4000007}
	EOF
	test_cmp expect ids &&
	ack_plain c2 | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select id from snapshot_row where key = \"C1\"")" = "\"HS-C1\""
'

test_expect_success 'a delete carries the id of the record to delete' '
	model C1=a2@x.com N7=n2@x.com >m3 &&
	rx-diff --state s.db --key id --mode mirror <m3 >c3 &&
	jq -c "{op, key, id}" c3 >ids &&
	echo "{\"op\":\"delete\",\"key\":\"C2\",\"id\":\"HS-C2\"}" >expect &&
	test_cmp expect ids &&
	ack_plain c3 | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select count(*) from snapshot_row where key = \"C2\"")" = 0
'

test_expect_success 'an ack with another id replaces it (the destination merged the record)' '
	model C1=a3@x.com N7=n2@x.com >m4 &&
	rx-diff --state s.db --key id --mode mirror <m4 >c4 &&
	jq -c "{key, hash, run, op, id: \"HS-merged\"}" c4 | rx-diff --state s.db --commit &&
	test "$(sqlite3 s.db "select id from snapshot_row where key = \"C1\"")" = "\"HS-merged\""
'

test_expect_success 'an uncertain key keeps its id when it is sent again' '
	model C1=a4@x.com N7=n2@x.com >m5 &&
	rx-diff --state s.db --key id --mode mirror <m5 >c5 &&
	rx-diff --state s.db --commit </dev/null 2>/dev/null &&
	rx-diff --state s.db --key id --mode mirror <m5 >c6 2>/dev/null &&
	test "$(jq -r .id c6)" = HS-merged
'

test_expect_success 'a state of schema version 3 is upgraded in place: ids not known yet' '
	model K1=k@x.com >k &&
	rx-diff --state v3.db --key id <k >ck && ack_plain ck | rx-diff --state v3.db --commit &&
	sqlite3 v3.db "ALTER TABLE snapshot_row DROP COLUMN id; ALTER TABLE staged DROP COLUMN id;
		ALTER TABLE uncertain DROP COLUMN id; PRAGMA user_version = 3" &&
	model K1=k2@x.com >k2 &&
	rx-diff --state v3.db --key id <k2 >ck2 2>err &&
	test_grep "upgraded state .v3.db. from schema version 3 to 5 (destination ids, dead letters by reason)" err &&
	test_lines 1 ck2 && test "$(jq -r "has(\"id\")" ck2)" = false &&
	jq -c "{key, hash, run, op, id: \"HS-K1\"}" ck2 | rx-diff --state v3.db --commit &&
	test "$(sqlite3 v3.db "select id from snapshot_row")" = "\"HS-K1\""
'

test_done
