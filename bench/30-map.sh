#!/bin/sh
# bench/30-map.sh - rx-map beside jq -c on BENCH_ROWS rows x 12 columns:
# a 10-field rename as a jq program (both run the same program), the
# same rename as --rename (the span path, no jq values), --select, and
# --hash; peak memory at 10k and at BENCH_ROWS rows (it must stay flat).
. "$(dirname "$0")/lib.sh"
rows=$BENCH_ROWS
in=$BENCH_DIR/map-rows.ndjson
small=$BENCH_DIR/map-small.ndjson
gen () {
	awk -v n="$1" 'BEGIN {
		for (i = 1; i <= n; i++)
			printf "{\"id\":%d,\"email\":\"user%d@example.com\",\"first_name\":\"First%d\",\"last_name\":\"Last%d\",\"plan\":\"%s\",\"ltv\":%d.25,\"orders\":%d,\"churn_risk\":0.%02d,\"country\":\"%s\",\"created_at\":\"2024-01-%02dT10:00:00Z\",\"active\":%d,\"note\":\"note %d\"}\n",
				i, i, i % 1000, i % 997, (i % 3 == 0 ? "free" : i % 3 == 1 ? "pro" : "enterprise"),
				i % 10000, i % 50, i % 100, (i % 2 ? "US" : "DE"), i % 28 + 1, i % 2, i
	}' >"$2"
}
echo "generating $rows rows x 12 columns"
gen "$rows" "$in"
gen 10000 "$small"
echo "  input: $(($(wc -c <"$in") / 1048576)) MB"

RENAME='id=Id,email=Email,first_name=FirstName,last_name=LastName,plan=Plan__c,ltv=LTV__c,orders=Orders__c,churn_risk=Churn_Risk__c,country=Country,created_at=CreatedDate'
PROGRAM='{Id: .id, Email: .email, FirstName: .first_name, LastName: .last_name, Plan__c: .plan, LTV__c: .ltv, Orders__c: .orders, Churn_Risk__c: .churn_risk, Country: .country, CreatedDate: .created_at, active: .active, note: .note}'

measure "jq -c PROGRAM (10-field rename)" jq -c "$PROGRAM" "$in"
jq_prog=$secs
measure "rx-map -e PROGRAM (same program)" rx-map -e "$PROGRAM" "$in"
rx_prog=$secs
measure "rx-map --rename (same rename)" rx-map --rename "$RENAME" "$in"
rx_rename=$secs rename_rss=$rss_kb
measure "jq -c '{id,email,plan}'" jq -c '{id, email, plan}' "$in"
jq_select=$secs
measure "rx-map --select id,email,plan" rx-map --select id,email,plan "$in"
rx_select=$secs
measure "rx-map --hash email --drop-nulls" rx-map --hash email --drop-nulls "$in"
measure "rx-map --rename (10k rows)" rx-map --rename "$RENAME" "$small"
small_rss=$rss_kb
jq -c "$PROGRAM" "$small" >"$BENCH_DIR/.jq-small"
rx-map -e "$PROGRAM" "$small" | cmp -s - "$BENCH_DIR/.jq-small" &&
	echo "  rx-map -e and jq -c give the same bytes (10k rows)" ||
	echo "  WARNING: rx-map -e and jq -c differ"
echo "  ratio jq / rx-map -e (same program):   $(ratio "$jq_prog" "$rx_prog")x (target >= 1)"
echo "  ratio jq / rx-map --rename:            $(ratio "$jq_prog" "$rx_rename")x (target >= 3)"
echo "  ratio jq / rx-map --select:            $(ratio "$jq_select" "$rx_select")x (target >= 3)"
echo "  peak RSS rx-map --rename: $((small_rss / 1024)) MB at 10k rows, $((rename_rss / 1024)) MB at $rows rows (flat)"
rm -f "$in" "$small" "$BENCH_DIR/.jq-small"
