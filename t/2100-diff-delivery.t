#!/bin/sh
# rx-diff: delivery semantics (acks, uncertain keys), bad keys, guard
# rails, --full-resync and --shard.
. "$(dirname "$0")/lib.sh"

nohash () { sed -e 's/"hash":"[0-9a-f]\{64\}",//' -e 's/"run":"[0-9a-f]\{16\}\.[0-9]*",//' "$@"; }
acks () { jq -c '{key,hash,run,op}' "$@"; }
# a fake destination: applies changes to dest.log, acks each
push () { tee -a dest.log | jq -c '{key,hash,run,op}'; }
dest () {
	jq -s -c 'reduce .[] as $c ({}; if $c.op == "delete" then del(.[$c.key])
		else .[$c.key] = ((.[$c.key] // {}) + $c.row) end) | .[]' dest.log | sort
}

test_expect_success 'setup: a synced model' '
	cat >m1 <<-\EOF &&
	{"id":"C1","v":1}
	{"id":"C2","v":1}
	{"id":"C3","v":1}
	EOF
	rx-diff --state s.db --key id <m1 | push | rx-diff --state s.db --commit &&
	dest >actual &&
	sort m1 >expect &&
	test_cmp expect actual
'

test_expect_success 'a row that was not acked is sent again with its current value' '
	printf "{\"id\":\"C1\",\"v\":2}\n{\"id\":\"C2\",\"v\":2}\n{\"id\":\"C3\",\"v\":1}\n" >m2 &&
	rx-diff --state s.db --key id <m2 >c2 &&
	grep C1 c2 | acks | rx-diff --state s.db --commit &&
	printf "{\"id\":\"C1\",\"v\":2}\n{\"id\":\"C2\",\"v\":3}\n{\"id\":\"C3\",\"v\":1}\n" >m3 &&
	rx-diff --state s.db --key id <m3 >c3 2>err &&
	nohash c3 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"C2","row":{"id":"C2","v":3}}
	EOF
	test_cmp expect actual
'

test_expect_success 'an ack with a wrong hash changes nothing' '
	sed "s/\"hash\":\"[0-9a-f]\{8\}/\"hash\":\"00000000/" c3 | acks >bad-acks &&
	rx-diff --state s.db --commit <bad-acks 2>err &&
	test_grep "1 acks matched no staged change" err &&
	rx-diff --state s.db --key id <m3 >c4 &&
	nohash c4 >actual &&
	test_cmp expect actual &&
	acks c4 | rx-diff --state s.db --commit &&
	rx-diff --state s.db --key id <m3 >c5 &&
	test_must_be_empty c5
'

test_expect_success 'an uncertain key is sent even when its value reverted' '
	printf "{\"id\":\"C1\",\"v\":9}\n{\"id\":\"C2\",\"v\":3}\n{\"id\":\"C3\",\"v\":1}\n" >m4 &&
	rx-diff --state s.db --key id <m4 >c6 &&
	rx-diff --state s.db --key id <m3 >c7 2>err &&
	test_grep "run [0-9]* staged 1 changes and committed none" err &&
	nohash c7 >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"C1","row":{"id":"C1","v":2}}
	EOF
	test_cmp expect actual &&
	acks c7 | rx-diff --state s.db --commit &&
	rx-diff --state s.db --key id <m3 >c8 &&
	test_must_be_empty c8
'

test_expect_success 'mirror: an uncertain key that left the model is deleted' '
	printf "{\"id\":\"N1\",\"v\":1}\n" >>m3 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m3 >c9 &&
	grep -v N1 m3 >m5 &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m5 >c10 2>err &&
	nohash c10 >actual &&
	cat >expect <<-\EOF &&
	{"op":"delete","key":"N1","row":{"id":"N1","v":1}}
	EOF
	test_cmp expect actual &&
	acks c10 | rx-diff --state s.db --commit &&
	rx-diff --state s.db --key id --mode mirror --assume-complete <m5 >c11 &&
	test_must_be_empty c11
'

test_expect_success 'missing, null and duplicate keys are dead-lettered, not synced (exit 3)' '
	cat >d1 <<-\EOF &&
	{"id":"A","v":1}
	{"v":2}
	{"id":null,"v":3}
	{"id":"B","v":4}
	{"id":"A","v":5}
	EOF
	test_expect_code 3 rx-diff --state d.db --key id <d1 >out 2>err &&
	nohash out >actual &&
	cat >expect <<-\EOF &&
	{"op":"upsert","key":"B","row":{"id":"B","v":4}}
	EOF
	test_cmp expect actual &&
	grep "^{" err | sed "s/,\"at\":\"[^\"]*\"//" >letters &&
	cat >expect <<-\EOF &&
	{"v":2,"error":{"stage":"rx-diff","status":null,"message":"line 2: missing or null key (--key id)"}}
	{"id":null,"v":3,"error":{"stage":"rx-diff","status":null,"message":"line 3: missing or null key (--key id)"}}
	{"id":"A","v":1,"error":{"stage":"rx-diff","status":null,"message":"line 1: duplicate key \"A\" (no row with this key is synced)"}}
	{"id":"A","v":5,"error":{"stage":"rx-diff","status":null,"message":"line 5: duplicate key \"A\" (no row with this key is synced)"}}
	EOF
	test_cmp expect letters &&
	rx-diff --state d.db --status | jq -e -s ".[0].invalid == 4"
'

test_expect_success '--max-invalid: more bad rows abort with nothing emitted' '
	test_expect_code 65 rx-diff --state d2.db --key id --max-invalid 3 <d1 >out 2>err &&
	test_must_be_empty out &&
	test_grep "guard: more than 3 invalid rows.*--max-invalid" err
'

test_expect_success 'guard: --max-changes' '
	test_expect_code 65 rx-diff --state g.db --key id --max-changes 2 <m1 >out 2>err &&
	test_must_be_empty out &&
	test_grep "guard: 3 changes exceed --max-changes 2; nothing was emitted" err &&
	rx-diff --state g.db --key id --max-changes 3 <m1 >out &&
	test_lines 3 out &&
	acks out | rx-diff --state g.db --commit
'

test_expect_success 'guard: --max-delete-ratio stops a model that came back empty' '
	: >empty &&
	test_expect_code 65 rx-diff --state g.db --key id --mode mirror --assume-complete <empty >out 2>err &&
	test_must_be_empty out &&
	test_grep "guard: 3 deletes are 0.5 or more of the 3 synced rows (--max-delete-ratio)" err &&
	rx-diff --state g.db --key id --mode mirror --assume-complete --max-delete-ratio 1 <empty >out &&
	test_lines 3 out
'

test_expect_success 'guard: a changed column set needs --accept-schema-change' '
	sed "s/\"v\"/\"value\"/" m1 >renamed &&
	rx-diff --state s.db --key id <m5 >/dev/null &&
	test_expect_code 65 rx-diff --state s.db --key id <renamed >out 2>err &&
	test_must_be_empty out &&
	test_grep "guard: the columns changed since the last delivered run (were \[\"id\",\"v\"\], now \[\"id\",\"value\"\]).*--accept-schema-change" err &&
	rx-diff --state s.db --key id --accept-schema-change <renamed >out &&
	test_lines 3 out
'

test_expect_success '--full-resync sends every row again' '
	rx-diff --state f.db --key id <m1 | acks | rx-diff --state f.db --commit &&
	rx-diff --state f.db --key id --full-resync <m1 >out &&
	test_lines 3 out &&
	acks out | rx-diff --state f.db --commit &&
	rx-diff --state f.db --key id <m1 >out2 &&
	test_must_be_empty out2
'

test_expect_success '--shard: the union of the shards is the whole' '
	awk "BEGIN { for (i = 1; i <= 300; i++) printf \"{\\\"id\\\":\\\"K%d\\\",\\\"v\\\":%d}\\n\", i, i }" >big &&
	rx-diff --state all.db --key id <big >all &&
	rx-diff --state s1.db --key id --shard 1/3 <big >p1 &&
	rx-diff --state s2.db --key id --shard 2/3 <big >p2 &&
	rx-diff --state s3.db --key id --shard 3/3 <big >p3 &&
	test -s p1 && test -s p2 && test -s p3 &&
	norun p1 p2 p3 | sort >union &&
	norun all | sort >whole &&
	test_cmp whole union &&
	rx-extract --ndjson big --key id --shard 2/3 | rx-diff --state x.db --key id >via-extract &&
	norun via-extract | sort >a && norun p2 | sort >b &&
	test_cmp b a
'

test_done
