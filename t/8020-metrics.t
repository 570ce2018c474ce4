#!/bin/sh
# --metrics: files for Prometheus's textfile collector, written atomically
# by rx-diff (from the state: counters never fall) and rx-push (counters
# carry on from the file they replace); `promtool check metrics` accepts
# every one; no secret in them.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

command -v promtool >/dev/null || test_skip_all "promtool (Debian's prometheus package) is not installed"

model () {
	awk -v n="$1" 'BEGIN { for (i = 1; i <= n; i++) printf "{\"id\":\"K%d\",\"email\":\"%s\"}\n", i, i % 10 == 3 ? "bad" : "a@x.com" }' &&
	echo '{"$rx":"end"}'
}
RX_WEBHOOK_TOKEN=sekr1t-t0ken
export RX_WEBHOOK_TOKEN
fake_start -- --token sekr1t-t0ken

sync () {
	rx-diff --state s.db --key id --mode mirror --count-record --metrics diff-stage.prom <"$1" \
	| rx-batch --size 7 \
	| rx-push --profile webhook --url "$(fake_url)" --metrics push.prom --stats stats.json 2>dead \
	| rx-diff --state s.db --commit --metrics diff.prom
}

test_expect_success 'a sync writes its metrics; promtool accepts each file' '
	model 30 >m1 &&
	sync m1 2>err &&
	for f in diff-stage.prom push.prom diff.prom; do
		promtool check metrics <$f >lint 2>&1 || { cat lint; return 1; }
		test_must_be_empty lint || return 1
	done &&
	test_grep "^rx_diff_rows_read_total{sync=\"s\"} 30$" diff.prom &&
	test_grep "^rx_diff_changes_total{sync=\"s\",change=\"new\"} 30$" diff.prom &&
	test_grep "^rx_diff_acked_total{sync=\"s\"} 27$" diff.prom &&
	test_grep "^rx_diff_dead_letters_total{sync=\"s\",stage=\"rx-push\",reason=\"rejected\"} 3$" diff.prom &&
	test_grep "^rx_diff_unacked_changes{sync=\"s\"} 3$" diff.prom &&
	test_grep "^rx_push_records_total{sync=\"s\",op=\"upsert\",outcome=\"acked\"} 27$" push.prom &&
	test_grep "^rx_push_records_total{sync=\"s\",op=\"upsert\",outcome=\"dead_lettered\"} 3$" push.prom &&
	test_grep "^rx_push_dead_letters_total{sync=\"s\",reason=\"rejected\"} 3$" push.prom &&
	test_grep "^rx_push_requests_total{sync=\"s\"} 5$" push.prom &&
	test_grep "^# TYPE rx_push_throttled_seconds_total counter$" push.prom &&
	test "$(awk "/^rx_diff_last_success_timestamp_seconds/ { print (\$2 > 1700000000) }" diff.prom)" = 1
'

test_expect_success 'rx-extract and rx-map write theirs; promtool accepts them; counters carry on' '
	sqlite3 wh.db "create table m(id text, v int); insert into m values(\"a\", 1), (\"b\", 2)" &&
	rx-extract --sqlite wh.db --table m --metrics ex.prom --sync app | rx-map --set x=1 --metrics map.prom --sync app >/dev/null &&
	rx-extract --sqlite wh.db --table m --metrics ex.prom --sync app | rx-map --set x=1 --metrics map.prom --sync app >/dev/null &&
	promtool check metrics <ex.prom && promtool check metrics <map.prom &&
	test_grep "^rx_extract_rows_total{sync=\"app\",outcome=\"written\"} 4$" ex.prom &&
	test_grep "^rx_extract_runs_total{sync=\"app\",outcome=\"ok\"} 2$" ex.prom &&
	test_grep "^rx_map_rows_total{sync=\"app\",outcome=\"written\"} 4$" map.prom &&
	test_expect_code 1 rx-extract --sqlite wh.db --table nope --metrics ex.prom --sync app 2>/dev/null &&
	test_grep "^rx_extract_runs_total{sync=\"app\",outcome=\"failed\"} 1$" ex.prom &&
	promtool check metrics <ex.prom
'

test_expect_success 'no secret in any metrics or stats file' '
	! grep -l sekr1t *.prom stats.json
'

test_expect_success 'counters never fall: the next run adds to them (rx-push from its old file)' '
	sed "s/K1\",\"email\":\"a@x.com/K1\",\"email\":\"b@x.com/" m1 >m2 &&
	sync m2 2>err &&
	promtool check metrics <push.prom &&
	test_grep "^rx_push_records_total{sync=\"s\",op=\"upsert\",outcome=\"acked\"} 28$" push.prom &&
	test_grep "^rx_push_dead_letters_total{sync=\"s\",reason=\"rejected\"} 6$" push.prom &&
	test_grep "^rx_diff_rows_read_total{sync=\"s\"} 60$" diff.prom &&
	test_grep "^rx_diff_changes_total{sync=\"s\",change=\"new\"} 33$" diff.prom &&
	test_grep "^rx_diff_changes_total{sync=\"s\",change=\"changed\"} 1$" diff.prom &&
	test_grep "^rx_diff_runs_total{sync=\"s\"} 2$" diff.prom
'

test_expect_success 'a reason seen once carries on at its count in later files' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"Z\",\"hash\":\"h\",\"row\":{\"id\":\"Z\"}}" |
		rx-push --profile webhook --url "$(fake_url)" --metrics push.prom --sync s --max-records 1 --max-line 64 \
		>/dev/null 2>&1;
	test_grep "^rx_push_dead_letters_total{sync=\"s\",reason=\"rejected\"} 6$" push.prom &&
	promtool check metrics <push.prom
'

test_expect_success 'the file is replaced whole: no temporary file is left, mode 0644' '
	ls -a | grep -v "\.prom$" | grep "prom" >left || : &&
	test_must_be_empty left &&
	test "$(stat -c %a push.prom)" = 644
'

test_expect_success 'an unwritable metrics file is one line and exit 74, the sync done' '
	model 3 >m3 &&
	test_expect_code 74 rx-diff --state t.db --key id --metrics nodir/x.prom <m3 >/dev/null 2>err &&
	test_grep "^rx-diff: cannot write metrics file" err &&
	test "$(sqlite3 t.db "select count(*) from runs")" = 1
'

test_done
