#!/bin/sh
# rx-diff: first run, reruns, modes, the canonical hash, keys, options.
. "$(dirname "$0")/lib.sh"

# the changes without their hashes, for comparing with a heredoc
nohash () { sed -e 's/"hash":"[0-9a-f]\{64\}",//' -e 's/"run":"[0-9a-f]\{16\}\.[0-9]*",//' "$@"; }
# acks for every change, as rx-push sends them
acks () { jq -c '{key,hash,run,op}' "$@"; }

test_expect_success 'usage: --help, --version, bad options' '
	rx-diff --help >out &&
	test_grep "^Usage: rx-diff --state FILE --key" out &&
	test_grep "See rx-diff(1)" out &&
	rx-diff --version >out &&
	test_grep "^rx-diff (rx) " out &&
	test_expect_code 2 rx-diff --key id 2>err &&
	test_grep "no state" err &&
	test_expect_code 2 rx-diff --state s.db 2>err &&
	test_grep "no key" err &&
	test_expect_code 2 rx-diff --state s.db --key id --mode sideways 2>err &&
	test_grep "Try .rx-diff --help" err &&
	test_expect_code 2 rx-diff --state s.db --key id --max-delete-ratio 2 2>err &&
	test_expect_code 2 rx-diff --state s.db --key id --shard 3/2 2>err
'

test_expect_success 'first run emits every row as an upsert; the state is 0600' '
	cat >m1 <<-\EOF &&
	{"id":"C1","email":"a@x.com","ltv":812.5}
	{"id":"C2","email":"b@x.com","ltv":10}
	{"id":"C3","email":"c@x.com","ltv":1}
	EOF
	rx-diff --state s.db --key id <m1 >c1 &&
	nohash c1 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"C1","row":{"id":"C1","email":"a@x.com","ltv":812.5}}
	{"op":"upsert","key":"C2","row":{"id":"C2","email":"b@x.com","ltv":10}}
	{"op":"upsert","key":"C3","row":{"id":"C3","email":"c@x.com","ltv":1}}
	EOF
	test_cmp expect actual &&
	test_grep "\"hash\":\"[0-9a-f]\{64\}\"" c1 &&
	test "$(stat -c %a s.db)" = 600
'

test_expect_success 'after the acks, an unchanged rerun emits nothing' '
	acks c1 | rx-diff --state s.db --commit &&
	rx-diff --state s.db --key id <m1 >c2 &&
	test_must_be_empty c2
'

test_expect_success 'member order, number spelling and escapes do not count as changes' '
	cat >m1b <<-\EOF &&
	{"ltv":1.0,"email":"c@x.com","id":"C3"}
	{"email":"b\u0040x.com","id":"C2","ltv":1e1}
	{"id":"C1","ltv":8125e-1,"email":"a@x.com"}
	EOF
	rx-diff --state s.db --key id <m1b >c3 &&
	test_must_be_empty c3 &&
	sqlite3 s.db ".backup base.db"
'

test_expect_success 'a changed row is an upsert naming the changed fields; a new row too' '
	cat >m2 <<-\EOF &&
	{"id":"C1","email":"a@x.com","ltv":813}
	{"id":"C2","email":"b@x.com","ltv":10}
	{"id":"C3","email":"c@x.com","ltv":1}
	{"id":"C4","email":"d@x.com","ltv":4}
	EOF
	rx-diff --state s.db --key id <m2 >c4 &&
	nohash c4 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"C1","changed":["ltv"],"row":{"id":"C1","email":"a@x.com","ltv":813}}
	{"op":"upsert","key":"C4","row":{"id":"C4","email":"d@x.com","ltv":4}}
	EOF
	test_cmp expect actual
'

test_expect_success 'update mode: new and changed rows are updates' '
	sqlite3 base.db ".backup update.db" &&
	rx-diff --state update.db --key id --mode update <m2 >c5 &&
	nohash c5 >actual &&
	cat >expect <<-\EOF &&
	{"op":"update","key":"C1","changed":["ltv"],"row":{"id":"C1","email":"a@x.com","ltv":813}}
	{"op":"update","key":"C4","row":{"id":"C4","email":"d@x.com","ltv":4}}
	EOF
	test_cmp expect actual
'

test_expect_success 'insert mode: only new rows' '
	sqlite3 base.db ".backup insert.db" &&
	rx-diff --state insert.db --key id --mode insert <m2 >c6 &&
	nohash c6 >actual &&
	cat >expect <<-\EOF &&
	{"op":"insert","key":"C4","row":{"id":"C4","email":"d@x.com","ltv":4}}
	EOF
	test_cmp expect actual
'

test_expect_success 'mirror mode: a row gone from the model is a delete carrying the last synced row' '
	grep -v C2 m2 >m3 &&
	sqlite3 base.db ".backup mirror.db" &&
	rx-diff --state mirror.db --key id --mode mirror --assume-complete <m3 >c7 &&
	nohash c7 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"C1","changed":["ltv"],"row":{"id":"C1","email":"a@x.com","ltv":813}}
	{"op":"delete","key":"C2","row":{"id":"C2","email":"b@x.com","ltv":10}}
	{"op":"upsert","key":"C4","row":{"id":"C4","email":"d@x.com","ltv":4}}
	EOF
	test_cmp expect actual &&
	acks c7 | rx-diff --state mirror.db --commit &&
	rx-diff --state mirror.db --key id --mode mirror --assume-complete <m3 >c8 &&
	test_must_be_empty c8
'

test_expect_success 'delete mode: each model row is a tombstone, sent once' '
	cat >gdpr <<-\EOF &&
	{"id":"C9","email":"gone@x.com"}
	EOF
	rx-diff --state d.db --key id --mode delete <gdpr >c9 &&
	nohash c9 >actual &&
	cat >expect <<-\EOF &&
	{"op":"delete","key":"C9","row":{"id":"C9","email":"gone@x.com"}}
	EOF
	test_cmp expect actual &&
	acks c9 | rx-diff --state d.db --commit &&
	rx-diff --state d.db --key id --mode delete <gdpr >c10 &&
	test_must_be_empty c10
'

test_expect_success '--ignore leaves a column out of the comparison' '
	cat >i1 <<-\EOF &&
	{"id":1,"name":"a","updated_at":"2025-01-01"}
	{"id":2,"name":"b","updated_at":"2025-01-01"}
	EOF
	cat >i2 <<-\EOF &&
	{"id":1,"name":"a","updated_at":"2025-02-01"}
	{"id":2,"name":"B","updated_at":"2025-02-01"}
	EOF
	rx-diff --state i.db --key id --ignore updated_at <i1 | acks | rx-diff --state i.db --commit &&
	rx-diff --state i.db --key id --ignore updated_at <i2 >out &&
	nohash out >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"2","changed":["name"],"row":{"id":2,"name":"B","updated_at":"2025-02-01"}}
	EOF
	test_cmp expect actual
'

test_expect_success '--changed-only sends the changed fields and the key' '
	cat >o1 <<-\EOF &&
	{"id":1,"a":1,"b":2,"c":3}
	EOF
	cat >o2 <<-\EOF &&
	{"id":1,"a":1,"b":20,"c":30}
	EOF
	rx-diff --state o.db --key id <o1 | acks | rx-diff --state o.db --commit &&
	rx-diff --state o.db --key id --changed-only <o2 >out &&
	nohash out >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"1","changed":["b","c"],"row":{"id":1,"b":20,"c":30}}
	EOF
	test_cmp expect actual &&
	acks out | rx-diff --state o.db --commit &&
	rx-diff --state o.db --key id <o2 >again &&
	test_must_be_empty again
'

test_expect_success 'composite keys are a JSON array of texts' '
	cat >k1 <<-\EOF &&
	{"account":"acme","n":42,"v":1}
	{"account":"acme","n":43,"v":1}
	{"account":"zeta","n":42,"v":1}
	EOF
	rx-diff --state k.db --key account,n <k1 >out &&
	nohash out >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"[\"acme\",\"42\"]","row":{"account":"acme","n":42,"v":1}}
	{"op":"upsert","key":"[\"acme\",\"43\"]","row":{"account":"acme","n":43,"v":1}}
	{"op":"upsert","key":"[\"zeta\",\"42\"]","row":{"account":"zeta","n":42,"v":1}}
	EOF
	test_cmp expect actual &&
	acks out | rx-diff --state k.db --commit &&
	sed "s/\"n\":43,\"v\":1/\"n\":43,\"v\":2/" k1 >k2 &&
	rx-diff --state k.db --key account,n <k2 >out2 &&
	nohash out2 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"[\"acme\",\"43\"]","changed":["v"],"row":{"account":"acme","n":43,"v":2}}
	EOF
	test_cmp expect actual
'

test_expect_success 'unicode keys and values, big integers kept exact' '
	cat >u1 <<-\EOF &&
	{"id":"Ünïcødé ✓","big":12345678901234567890,"s":"日本"}
	{"id":"x","big":"9007199254740993","s":"a"}
	EOF
	rx-diff --state u.db --key id <u1 >out &&
	nohash out >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"x","row":{"id":"x","big":"9007199254740993","s":"a"}}
	{"op":"upsert","key":"Ünïcødé ✓","row":{"id":"Ünïcødé ✓","big":12345678901234567890,"s":"日本"}}
	EOF
	test_cmp expect actual &&
	acks out | rx-diff --state u.db --commit &&
	sed "s/12345678901234567890/12345678901234567891/" u1 >u2 &&
	rx-diff --state u.db --key id <u2 >out2 &&
	nohash out2 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"Ünïcødé ✓","changed":["big"],"row":{"id":"Ünïcødé ✓","big":12345678901234567891,"s":"日本"}}
	EOF
	test_cmp expect actual
'

test_expect_success 'malformed input: exit 65, nothing emitted' '
	printf "{\"id\":1}\n{\"id\":2,}\n" >bad &&
	test_expect_code 65 rx-diff --state b.db --key id <bad >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-diff: line 2: cannot parse" err
'

test_expect_success 'a file that is not a state, and a newer schema, are refused' '
	echo "hello" >notstate &&
	test_expect_code 1 rx-diff --state notstate --key id <m1 2>err &&
	test_grep "not an rx-diff state" err &&
	sqlite3 other.db "create table x(a)" &&
	test_expect_code 1 rx-diff --state other.db --key id <m1 2>err &&
	test_grep "not an rx-diff state" err &&
	cp s.db new.db && rm -f new.db-wal new.db-shm &&
	sqlite3 new.db "pragma user_version=99" &&
	test_expect_code 1 rx-diff --state new.db --key id <m1 2>err &&
	test_grep "schema version 99, newer" err
'

test_expect_success '--status prints the history and freshness as JSON lines' '
	rx-diff --state s.db --status >st &&
	jq -e -s "map(select(.run == 1))[0] | .status == \"committed\" and .acked == 3" st &&
	tail -1 st | jq -e ".snapshot_rows == 3 and (.seconds_since_last_commit >= 0)"
'

test_expect_success '| head -1 stops quietly; a full disk is exit 74' '
	rx-diff --state h.db --key id <m2 | head -1 >out 2>err &&
	test_lines 1 out &&
	test_must_be_empty err &&
	rm -f h.db* &&
	test_expect_code 74 rx-diff --state h.db --key id <m2 >/dev/full 2>err &&
	test_grep "rx-diff: .*output" err
'

test_done
