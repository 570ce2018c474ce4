#!/bin/sh
# rx-push never acks a record on a guess: a URL that names one record
# carries one record; a key of "." or ".." stays in its path segment; a
# reply it does not understand acks nothing (issue 11, cases 4 to 6).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

mkdir -p profiles
export RX_PROFILE_PATH=$TRASH/profiles
cat >profiles/per-record.json <<'JSON'
{"ops": {"delete": {"method": "DELETE", "path": "/api/contacts/{key}"},
         "upsert": {"method": "PUT", "path": "/api/contacts/{row.email}"}}}
JSON
cat >profiles/raw-results.json <<'JSON'
{"response": "if .status == 200 then .body.results else null end"}
JSON
cat >profiles/per-record-batched.json <<'JSON'
{"ops": {"delete": {"method": "DELETE", "path": "/api/contacts/{key}", "max_records": 10}}}
JSON
change () { # OP KEY [ROW]
	printf '{"op":"%s","key":"%s","hash":"%064d","row":%s}\n' "$1" "$2" 0 "${3:-{\}}"
}

reply_start ok -- --status 204 --body "" || exit 1

test_expect_success 'a path naming {key}: one record a request, each acked for its own request' '
	{ change delete K1 && change delete K2 && change delete K3; } | rx-batch --size 100 >batch &&
	rx-push --profile per-record --url "$(cat ok.url)" <batch >acks &&
	test_lines 3 acks &&
	jq -r ".method + \" \" + .path" ok.log | sort >sent &&
	printf "DELETE /api/contacts/K%s\n" 1 2 3 >expect &&
	test_cmp expect sent
'

test_expect_success 'so does {row.NAME}' '
	: >ok.log &&
	{ change upsert K1 "{\"email\":\"a@x.com\"}" && change upsert K2 "{\"email\":\"b@x.com\"}"; } >two &&
	rx-push --profile per-record --url "$(cat ok.url)" <two >acks &&
	test_lines 2 acks &&
	jq -r .path ok.log | sort >sent &&
	printf "/api/contacts/%s\n" a%40x.com b%40x.com >expect &&
	test_cmp expect sent
'

test_expect_success 'a profile that asks for batches on such a path is refused at start, saying why' '
	test_expect_code 1 rx-push --profile per-record-batched --url "$(cat ok.url)" <batch >out 2>err &&
	test_must_be_empty out &&
	test_grep "ops.delete: its URL names one record ({key}, {id} or {row.NAME}), so a request carries one record" err
'

test_expect_success 'keys . and .. stay inside their segment, sent as built (no dot segments resolved)' '
	: >ok.log &&
	{ change delete . && change delete .. && change delete a/b && change delete "x y"; } >dots &&
	rx-push --profile per-record --url "$(cat ok.url)" <dots >acks &&
	test_lines 4 acks &&
	jq -r .path ok.log | sort >sent &&
	printf "/api/contacts/%s\n" %2E %2E%2E a%2Fb x%20y | sort >expect &&
	test_cmp expect sent
'

test_expect_success 'and a dry run shows exactly the URL that is sent' '
	rx-push --profile per-record --url "$(cat ok.url)" --dry-run <dots >dry &&
	jq -r "select(.method) | .url" dry | sed "s|^$(cat ok.url)||" | sort >shown &&
	test_cmp expect shown
'

test_expect_success '{+NAME}: a path of segments, each encoded (a dot segment too), the "/" between kept' '
	cat >profiles/segments.json <<-\JSON &&
	{"vars": {"coll": {"env": "COLL"}},
	 "ops": {"*": {"method": "POST", "path": "/v1/{+coll}:write"}, "delete": {"method": "POST", "path": "/v1/{coll}:write"}}}
	JSON
	{ change upsert K1 && change delete K2; } >two &&
	COLL="users/u 1/./../o%rders" rx-push --profile segments --url "$(cat ok.url)" --dry-run <two >dry &&
	jq -r "select(.method) | .url" dry | sed "s|^$(cat ok.url)||" >shown &&
	printf "%s\n" "/v1/users/u%201/%2E/%2E%2E/o%25rders:write" "/v1/users%2Fu%201%2F.%2F..%2Fo%25rders:write" >expect &&
	test_cmp expect shown
'

reply_start odd -- --status 200 --body '{"results":{"ok":true}}' || exit 1
reply_start short -- --status 200 --body '{"results":[{"ok":true},{},"yes"]}' || exit 1

test_expect_success 'webhook: a "results" that is not an array is not understood: nothing acked' '
	{ change upsert K1 && change upsert K2; } >pair &&
	test_expect_code 3 rx-push --profile webhook --url "$(cat odd.url)" <pair >acks 2>err &&
	test_must_be_empty acks &&
	test "$(grep -c "^{.*does not understand" err)" = 2
'

test_expect_success 'a per-record result that is neither ok nor rejected acks nothing' '
	{ change upsert K1 && change upsert K2 && change upsert K3; } >three &&
	test_expect_code 3 rx-push --profile raw-results --url "$(cat short.url)" <three >acks 2>err &&
	test_lines 1 acks &&
	test_grep "\"key\":\"K1\"" acks &&
	test "$(grep -c "^{.*not understood" err)" = 2
'

test_done
