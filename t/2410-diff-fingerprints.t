#!/bin/sh
# rx-diff keeps, beside each delivered row's hash, a fingerprint of its
# raw text: a row whose text is the same is unchanged without being
# hashed.  Rows whose text differs are still judged by the canonical
# hash, and a state of schema version 1 (no fingerprints) is upgraded.
. "$(dirname "$0")/lib.sh"

acks () { jq -c '{key,hash,run,op}' "$@"; }
sync_all () { # STATE MODEL: stage and ack every change
	rx-diff --state "$1" --key id --mode mirror --assume-complete <"$2" >changes &&
	acks changes | rx-diff --state "$1" --commit
}

test_expect_success 'setup: a delivered model of 50 rows' '
	awk "BEGIN { for (i = 1; i <= 50; i++) printf \"{\\\"id\\\":%d,\\\"v\\\":\\\"row %d\\\",\\\"n\\\":%d}\\n\", i, i, i }" >m1 &&
	sync_all s.db m1 &&
	test_lines 50 changes
'

test_expect_success 'the commit keeps a 16-byte fingerprint for every delivered row' '
	test "$(sqlite3 s.db "SELECT count(*) FROM snapshot WHERE length(raw) = 16")" = 50 &&
	test "$(sqlite3 s.db "PRAGMA user_version")" = 5
'

test_expect_success 'the same text: nothing emitted' '
	rx-diff --state s.db --key id --mode mirror --assume-complete <m1 >out &&
	test_must_be_empty out
'

test_expect_success 'other text, same data (order, number spelling): nothing emitted' '
	sed -e "s/{\"id\":\([0-9]*\),\"v\":\(\"[^\"]*\"\),\"n\":\([0-9]*\)}/{\"n\":\3.0,\"v\":\2,\"id\":\1}/" m1 >m2 &&
	! cmp -s m1 m2 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m2 >out &&
	test_must_be_empty out
'

test_expect_success 'other text, other data: an update, with the fields that changed' '
	sed "7s/row 7/row seven/" m1 >m3 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m3 >out &&
	test_lines 1 out &&
	test "$(jq -c "[.op, .key, .changed]" out)" = "[\"upsert\",\"7\",[\"v\"]]" &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'the delivered text is now the fingerprinted one' '
	rx-diff --state s.db --key id --mode mirror --assume-complete <m3 >out &&
	test_must_be_empty out
'

test_expect_success 'a row without a fingerprint is judged by its hash' '
	sqlite3 s.db "UPDATE snapshot SET raw = NULL" &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m3 >out &&
	test_must_be_empty out &&
	sed "9s/row 9/row nine/" m3 >m4 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m4 >out &&
	test_lines 1 out &&
	test "$(jq -r .key out)" = 9 &&
	acks out | rx-diff --state s.db --commit
'

test_expect_success 'a fingerprint that does not match costs a hash, not a send' '
	sqlite3 s.db "UPDATE snapshot SET raw = zeroblob(16)" &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m4 >out &&
	test_must_be_empty out
'

test_expect_success 'an uncertain key is sent even when its text is the same' '
	sync_all u.db m1 &&
	sed "3s/row 3/row three/" m1 >m5 &&
	rx-diff --state u.db --key id --mode mirror --assume-complete <m5 >out &&
	test_lines 1 out &&
	rx-diff --state u.db --key id --mode mirror --assume-complete <m5 >again 2>err &&
	test_lines 1 again &&
	test "$(jq -r .key again)" = 3
'

# an older rx-diff packed each row alone: its length, then an LZ4 block,
# here the simplest one (one run of literals)
plain_pack () { # STATE MODEL
	python3 - "$1" "$2" <<-\EOF
	import json, sqlite3, struct, sys
	db = sqlite3.connect(sys.argv[1])
	for line in open(sys.argv[2]):
	    text = line.rstrip("\n").encode()
	    n = len(text)
	    assert 15 <= n < 270
	    row = struct.pack("<I", n) + bytes([0xF0, n - 15]) + text
	    db.execute("UPDATE snapshot_row SET row = ? WHERE key = ?", (row, str(json.loads(text)["id"])))
	db.execute("DELETE FROM meta WHERE name = 'row_dict'")
	db.commit()
	EOF
}

test_expect_success 'setup: a state of schema version 1, as an older rx-diff left it' '
	sync_all old.db m1 &&
	sqlite3 old.db "ALTER TABLE snapshot DROP COLUMN raw; ALTER TABLE staged DROP COLUMN raw;
		ALTER TABLE snapshot_row DROP COLUMN id; ALTER TABLE staged DROP COLUMN id;
		ALTER TABLE uncertain DROP COLUMN id;
		DELETE FROM meta WHERE name IN (\"raw_seed\", \"state_id\", \"row_dict_sum\");
		DROP TABLE run_errors; DROP TABLE rejected; DROP TABLE totals; ALTER TABLE runs DROP COLUMN rejected;
		PRAGMA user_version = 1" &&
	plain_pack old.db m1 &&
	test "$(sqlite3 old.db "PRAGMA user_version")" = 1 &&
	test "$(sqlite3 old.db "SELECT count(*) FROM meta WHERE name = \"row_dict\"")" = 0
'

test_expect_success 'opening it upgrades it: fingerprints from the delivered rows' '
	rx-diff --state old.db --key id --mode mirror --assume-complete <m1 >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-diff: upgraded state .old.db. from schema version 1 to 5" err &&
	test "$(sqlite3 old.db "PRAGMA user_version")" = 5 &&
	test "$(sqlite3 old.db "SELECT count(*) FROM snapshot WHERE length(raw) = 16")" = 50 &&
	sed "5s/row 5/row five/" m1 >m6 &&
	rx-diff --state old.db --key id --mode mirror --assume-complete <m6 >out &&
	test_lines 1 out
'

test_expect_success 'after the upgrade, old rows (packed without a dictionary) still come back' '
	acks out | rx-diff --state old.db --commit &&
	sed "/\"id\":12,/d" m6 >m7 &&
	rx-diff --state old.db --key id --mode mirror --assume-complete <m7 >out &&
	test_lines 1 out &&
	test "$(jq -c "[.op, .row]" out)" = "[\"delete\",{\"id\":12,\"v\":\"row 12\",\"n\":12}]"
'

test_expect_success 'rows are packed against a dictionary made by the first staging' '
	sync_all d.db m1 &&
	test "$(sqlite3 d.db "SELECT length(value) > 100 FROM meta WHERE name = \"row_dict\"")" = 1 &&
	sqlite3 d.db "SELECT hex(value) FROM meta WHERE name = \"row_dict\"" >dict1 &&
	sed "s/row/line/" m1 >m8 &&
	sync_all d.db m8 &&
	test_lines 50 changes &&
	sqlite3 d.db "SELECT hex(value) FROM meta WHERE name = \"row_dict\"" >dict2 &&
	test_cmp dict1 dict2
'

test_expect_success 'and come back exactly: changed fields and deletes from packed rows' '
	sed "20s/line 20/row twenty/" m8 | sed "/\"id\":30,/d" >m9 &&
	rx-diff --state d.db --key id --mode mirror --assume-complete <m9 >out &&
	test_lines 2 out &&
	jq -c "[.op, .key, .changed, .row]" out >actual &&
	cat >expect <<-\EOF &&
	["upsert","20",["v"],{"id":20,"v":"row twenty","n":20}]
	["delete","30",null,{"id":30,"v":"line 30","n":30}]
	EOF
	test_cmp expect actual
'

test_expect_success 'the fingerprint seed differs from one state to the next' '
	a=$(sqlite3 s.db "SELECT value FROM meta WHERE name = \"raw_seed\"") &&
	b=$(sqlite3 u.db "SELECT value FROM meta WHERE name = \"raw_seed\"") &&
	test -n "$a" && test "$a" != "$b"
'

test_done
