#!/bin/bash
# examples/demo.sh - `make demo`: a real sync from the example warehouse
# into an application database (SQLite), through the whole pipeline; then
# a few warehouse rows change and the second sync sends only those.
# No network.  Everything it makes is under examples/demo/.
set -eu -o pipefail
cd "$(dirname "$0")"
PATH=$(cd .. && pwd)/bin:$PATH

out=demo
rm -rf "$out"
mkdir -p "$out/state"
sqlite3 "$out/warehouse.db" <warehouse.sql
sqlite3 "$out/app.db" <app-schema.sql

# One sync: the model, mapped to the app's columns, diffed against the
# snapshot, batched, upserted into app.db, and the acks committed.
sync () {
	local run=$out/run$1 start end
	mkdir -p "$run"
	start=$(date +%s.%N)
	rx-extract --sqlite "$out/warehouse.db" --query-file models/customers.sql \
	| tee "$run/rows.ndjson" \
	| rx-map -f mappings/app.jq \
	| rx-diff --state "$out/state/app.db" --key id --mode mirror \
	| tee "$run/changes.ndjson" \
	| rx-batch --size 500 \
	| rx-push --profile sqlite --url "$out/app.db" --table customers --key id 2>"$run/dead-letters.ndjson" \
	| tee "$run/acks.ndjson" \
	| rx-diff --state "$out/state/app.db" --commit
	end=$(date +%s.%N)
	summary "$1" "$run" "$(awk -v a="$start" -v b="$end" 'BEGIN { print b - a }')"
}

# One line a run, from the run's own record in the state (rx-diff --status)
# and the streams the pipeline left behind.
summary () {
	local run=$2 dead
	dead=$(grep -c '^{' "$run/dead-letters.ndjson" || true)
	rx-diff --state "$out/state/app.db" --status | grep '^{"run":' | tail -n 1 |
	jq -r --arg n "$1" --arg secs "$3" --arg sent "$(wc -l <"$run/changes.ndjson")" --arg dead "$dead" '
		"run \($n): \(.rows) rows read: \(.inserts) new, \(.updates) changed, \(.deletes) gone, " +
		"\(.unchanged) unchanged; \($sent) changes sent, \(.acked) acked, \($dead) dead-lettered " +
		"(\($secs | tonumber * 100 | round / 100) s)"'
}

echo "rx demo: syncing examples/warehouse.sql's customer model into an application database"
echo "  rx-extract | rx-map | rx-diff --mode mirror | rx-batch | rx-push --profile sqlite | rx-diff --commit"
echo
sync 1

echo
echo "changing the warehouse: two plan upgrades, a new e-mail, a new order,"
echo "one new customer, one customer deleted"
sqlite3 "$out/warehouse.db" <<'SQL'
UPDATE customers SET plan_id = 4 WHERE id IN ('C00010', 'C00020');
UPDATE customers SET email = 'new.address@example.org' WHERE id = 'C00030';
INSERT INTO orders (customer_id, amount, ordered_at) VALUES ('C00040', 250, '2026-11-20T09:00:00Z');
INSERT INTO customers VALUES ('C03001', 'zoe@example.se', 'Zoë', 'Ångström', NULL, 'SE', 3, '2026-11-21T08:00:00Z');
INSERT INTO churn_scores VALUES ('C03001', 0.05);
DELETE FROM customers WHERE id = 'C00050';
SQL
sync 2

echo
echo "nothing changed since: the third sync sends nothing"
sync 3

echo
echo "the application database now:"
sqlite3 -column -header "$out/app.db" \
	"SELECT id, email, name, plan, lifetime_value FROM customers WHERE id IN ('C00010', 'C00030', 'C00040', 'C00050', 'C03001') ORDER BY id"
echo
echo "rows in app.db: $(sqlite3 "$out/app.db" 'SELECT count(*) FROM customers') (the model has $(grep -vc '^{"\$rx":' "$out/run3/rows.ndjson"))"
echo "the state, its history and freshness: rx-diff --state examples/$out/state/app.db --status"
