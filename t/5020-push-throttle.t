#!/bin/sh
# rx-push and a destination that throttles: 429 storms whose wait hint
# (Retry-After in seconds or as an HTTP date, an epoch reset header, a
# duration in the body) is honoured — the fake counts requests that come
# back before the announced time (violations): zero — and 429s with no
# hint at all, where rx-push backs off and recovers by itself.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

for i in $(seq 1 8); do echo "{\"op\":\"upsert\",\"key\":\"K$i\",\"hash\":\"h$i\",\"row\":{\"n\":$i}}"; done >in.ndjson
FAST="--retry-base 20 --retry-max 2000 --max-records 1 --concurrency 4"

storm () {
	hint=$1
	shift
	test_expect_success "429 storm, hint '$hint': honoured, zero violations, all delivered" "
		fake_start $hint -- --rate 5/1 --hint $hint &&
		rx-push $* --url \"\$(fake_url $hint)\" $FAST --stats s.json <in.ndjson >acks 2>err &&
		test_lines 8 acks &&
		test_must_be_empty err &&
		test \"\$(fake_count $hint violations)\" = 0 &&
		test \"\$(fake_count $hint accepted)\" = 8 &&
		python3 -c \"import json; s = json.load(open('s.json')); assert s['throttled'] > 0 and s['unacked'] == 0, s\"
	"
}

storm seconds --profile webhook
storm date --profile webhook
storm reset --profile webhook

test_expect_success 'a wait hint in the body, read by the response program' '
	cat >bodyhint.json <<-\EOF &&
	{"max_records": 10,
	 "response": "if .status == 429 and (.body.retryDelay | type) == \"string\" then {action: \"throttle\", wait: (.body.retryDelay | rtrimstr(\"s\") | tonumber)} else null end"}
	EOF
	fake_start body -- --rate 5/1 --hint body &&
	rx-push --profile ./bodyhint.json --url "$(fake_url body)" $FAST <in.ndjson >acks 2>err &&
	test_lines 8 acks &&
	test "$(fake_count body violations)" = 0
'

test_expect_success 'no hint at all: back off, recover, deliver everything' '
	fake_start none -- --rate 5/1 --hint none &&
	rx-push --profile webhook --url "$(fake_url none)" $FAST --stats s.json <in.ndjson >acks 2>err &&
	test_lines 8 acks &&
	test "$(fake_count none accepted)" = 8 &&
	python3 -c "import json; s = json.load(open(\"s.json\")); assert s[\"throttled\"] > 0, s"
'

test_done
