#!/bin/sh
# A row with two members of one name is two rows at once: rx keys it on
# the first, jq and most destinations keep the last.  Every stage refuses
# it as bad input, naming the line and the member (issue 11, case 3).
. "$(dirname "$0")/lib.sh"

cat >rows <<'EOF2'
{"id":"C1","email":"a@x.com"}
{"id":"C2","email":"b@x.com","plan":"pro","id":"P9"}
EOF2
cat >changes <<'EOF2'
{"op":"upsert","key":"C1","hash":"aa","row":{"id":"C1"}}
{"op":"upsert","key":"C2","hash":"bb","key":"P9","row":{"id":"C2"}}
EOF2

test_expect_success 'rx-extract --ndjson: exit 65, line 2, member id' '
	test_expect_code 65 rx-extract --ndjson rows >out 2>err &&
	test_grep "^rx-extract: rows: line 2: member \"id\" appears twice (members 1 and 4)" err &&
	! grep -q "\$rx" out
'

test_expect_success 'rx-map: exit 65 naming the line' '
	test_expect_code 65 rx-map --select id,email rows >out 2>err &&
	test_grep "^rx-map: rows: line 2: cannot parse JSON: member \"id\" appears twice" err
'

test_expect_success 'rx-diff: exit 65, nothing emitted' '
	test_expect_code 65 rx-diff --state s.db --key id <rows >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-diff: line 2: cannot parse the row: member \"id\" appears twice" err
'

test_expect_success 'rx-batch: exit 65 naming the line' '
	test_expect_code 65 rx-batch changes >out 2>err &&
	test_grep "^rx-batch: changes: line 2: cannot parse JSON: member \"key\" appears twice" err
'

test_expect_success 'rx-push: the change is dead-lettered, exit 65, the other delivered' '
	test_expect_code 65 rx-push --profile webhook --url http://127.0.0.1:9 --dry-run <changes >out 2>err &&
	test_grep "line 2: cannot parse JSON: member \"key\" appears twice" err &&
	test_grep "^{.*\"stage\":\"rx-push\"" err &&
	test_lines 1 out
'

test_done
