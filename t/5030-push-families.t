#!/bin/sh
# rx-push: the partial-failure families of destinations.md "Common
# patterns", each expressed by a test profile (t/profiles) against the
# fake in that family's format.  Acks + dead letters add up to the input,
# no record is in both, and the fake holds exactly the acked records.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

RX_PROFILE_PATH=$RX_TESTS/profiles
export RX_PROFILE_PATH

cat >in.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"email":"ada@example.com","plan":"pro"}},{"key":"C2","hash":"h2","row":{"email":"not-an-email","plan":"free"}},{"key":"C3","hash":"h3","row":{"email":"cy@example.com","plan":"pro"}},{"key":"C4","hash":"h4","row":{"email":"di@example.com","_reject":true}}]}
IN
cat >good.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C5","hash":"h5","row":{"email":"ed@example.com"}},{"key":"C6","hash":"h6","row":{"email":"fi@example.com"}}]}
IN

# keys of acks, keys of dead letters, and the fake's keys
check_split () {
	sed -n 's/^{"key":"\([^"]*\)".*/\1/p' acks | sort >acked &&
	grep '^{' err | sed -n 's/^{"key":"\([^"]*\)".*/\1/p' | sort >dead &&
	test_cmp expect-acked acked &&
	test_cmp expect-dead dead &&
	fake_records | cut -f1 >stored &&
	test_cmp expect-acked stored
}

partial_family () {
	family=$1 profile=$2 idpattern=$3
	test_expect_success "$family: a mixed batch acks 2 and dead-letters 2" "
		fake_start $family -- --family $family &&
		test_expect_code 3 rx-push --profile $profile --url \"\$(fake_url $family)\" <in.ndjson >acks 2>err &&
		printf 'C1\nC3\n' >expect-acked &&
		printf 'C2\nC4\n' >expect-dead &&
		sed -n 's/^{\"key\":\"\\([^\"]*\\)\".*/\\1/p' acks | sort >acked &&
		grep '^{' err | sed -n 's/^{\"key\":\"\\([^\"]*\\)\".*/\\1/p' | sort >dead &&
		test_cmp expect-acked acked &&
		test_cmp expect-dead dead &&
		fake_records $family | cut -f1 >stored &&
		test_cmp expect-acked stored &&
		test_grep '\"stage\":\"rx-push\"' err &&
		test_grep 'not-an-email' err &&
		grep '\"key\":\"C1\"' acks >c1 &&
		test_grep '$idpattern' c1
	"
}

partial_family webhook webhook '"id":"d-C1"'
partial_family positional positional '"id":"003-C1"'
partial_family correlation correlation '"id":"hs-C1"'
partial_family index index '"op":"upsert"'
partial_family keyed keyed '"op":"upsert"'
partial_family success4xx success4xx '"op":"upsert"'

test_expect_success 'positional: the dead letter carries the per-record error' '
	fake_start pos2 -- --family positional &&
	test_expect_code 3 rx-push --profile positional --url "$(fake_url pos2)" <in.ndjson >acks 2>err &&
	grep "\"key\":\"C2\"" err >c2 &&
	test_grep "INVALID_EMAIL_ADDRESS" c2 &&
	test_grep "\"status\":200" c2
'

test_expect_success 'success4xx: dead letters keep the 400, the acks came from it too' '
	fake_start s4 -- --family success4xx &&
	test_expect_code 3 rx-push --profile success4xx --url "$(fake_url s4)" <in.ndjson >acks 2>err &&
	test_lines 2 acks &&
	grep "\"key\":\"C4\"" err >c4 &&
	test_grep "\"status\":400" c4
'

for family in allornothing failure2xx; do
	test_expect_success "$family: one bad record fails the whole batch, a clean one passes" "
		fake_start $family -- --family $family &&
		test_expect_code 3 rx-push --profile $family --url \"\$(fake_url $family)\" <in.ndjson >acks 2>err &&
		test_must_be_empty acks &&
		test \$(grep -c '^{' err) = 4 &&
		fake_records $family >stored &&
		test_must_be_empty stored &&
		rx-push --profile $family --url \"\$(fake_url $family)\" <good.ndjson >acks 2>err &&
		test_lines 2 acks &&
		test_must_be_empty err &&
		fake_records $family | cut -f1 >stored &&
		printf 'C5\nC6\n' >expect &&
		test_cmp expect stored
	"
done

test_expect_success 'correlation: a 2xx naming no record is a failure, not an ack' '
	cat >silent.json <<-\EOF &&
	{"max_records": 10, "ops": {"*": {"path": "/_state_nothing", "body": "{inputs: []}"}},
	 "response": "if .status == 200 then {action: \"reject\", message: \"the reply names no record\"} else null end"}
	EOF
	fake_start silent -- --family correlation &&
	test_expect_code 3 rx-push --profile ./silent.json --url "$(fake_url silent)" <good.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "names no record" err
'

test_done
