#!/bin/sh
# bench/20-diff.sh - rx-diff beside sqldiff and a SQL join diff in sqlite3.
#
# Two versions of a 12-column model: v2 changes 1% of v1's rows, deletes
# 0.1% and adds 0.1%.  Figures: rx-diff's first stage and commit, an
# unchanged rerun, the 1% stage and its commit, with peak RSS; then
# sqldiff on the two versions as SQLite files, and a plain join diff in
# sqlite3.  Peak RSS is also taken at a tenth of the rows and at 5M rows
# (BENCH_DIFF_LARGE) to show it flat.
set -u
N=${BENCH_ROWS:-1000000}
D=${BENCH_DIR:-/tmp}/diff
rm -rf "$D" && mkdir -p "$D" && cd "$D" || exit 1

make_db () { # FILE ROWS VERSION
	sqlite3 "$1" "
CREATE TABLE t(id INTEGER PRIMARY KEY, name TEXT, email TEXT, plan TEXT, ltv REAL, score INTEGER,
  city TEXT, country TEXT, created TEXT, active INTEGER, note TEXT, updated_at TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $2)
INSERT INTO t SELECT i, 'name ' || i, 'user' || i || '@example.com',
  CASE i % 3 WHEN 0 THEN 'free' WHEN 1 THEN 'pro' ELSE 'team' END, (i % 10007) * 1.25, i % 977,
  'city ' || (i % 500), CASE i % 4 WHEN 0 THEN 'FR' WHEN 1 THEN 'DE' WHEN 2 THEN 'US' ELSE 'JP' END,
  '2024-01-' || printf('%02d', 1 + i % 28), i % 2, 'a note about customer number ' || i,
  '2025-06-01T00:00:00Z' FROM c;"
	if [ "$3" = 2 ]; then
		sqlite3 "$1" "UPDATE t SET ltv = ltv + 1 WHERE id % 100 = 7;
DELETE FROM t WHERE id % 1000 = 3;
INSERT INTO t SELECT id + $2, name, email, plan, ltv, score, city, country, created, active, note, updated_at
  FROM t WHERE id % 1000 = 5;"
	fi
}
export_db () {
	sqlite3 "$1" "SELECT json_object('id', id, 'name', name, 'email', email, 'plan', plan, 'ltv', ltv,
  'score', score, 'city', city, 'country', country, 'created', created, 'active', active, 'note', note,
  'updated_at', updated_at) FROM t ORDER BY id" >"$2"
	echo "{\"\$rx\":\"end\",\"rows\":$(wc -l <"$2")}" >>"$2" # a whole model, as rx-extract ends one
}
# time and peak RSS of a command: "SECONDS KB" into the named variables
measure () {
	/usr/bin/time -f "%e %M" -o tm "$@" || echo "bench: '$*' failed" >&2
	read -r secs kb <tm
}
# {"op":..,"key":..,"hash":..,"run":..}: the members an ack carries back
acks () { sed -E 's/^(\{"op":"[a-z]+","key":"[^"]*","hash":"[^"]*","run":"[^"]*").*/\1}/'; }
ratio () { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

run_size () { # ROWS
	n=$1
	rm -f v1.db v2.db s.db* ./*.ndjson
	make_db v1.db "$n" 1 && make_db v2.db "$n" 2
	export_db v1.db v1.ndjson && export_db v2.db v2.ndjson
	echo "-- $n rows x 12 columns ($(wc -c <v1.ndjson | tr -d ' ') bytes of NDJSON)"

	measure sh -c 'rx-diff --state s.db --key id --mode mirror <v1.ndjson >c1.ndjson'
	printf '  rx-diff first stage (all %s rows new): %6.2f s  %6d KB\n' "$n" "$secs" "$kb"
	acks <c1.ndjson >a1.ndjson
	measure sh -c 'rx-diff --state s.db --commit <a1.ndjson'
	printf '  rx-diff commit of %s acks:           %6.2f s  %6d KB\n' "$n" "$secs" "$kb"

	measure sh -c 'rx-diff --state s.db --key id --mode mirror <v1.ndjson >c0.ndjson'
	unchanged=$secs
	printf '  rx-diff unchanged rerun:                 %6.2f s  %6d KB  (%s changes)\n' "$secs" "$kb" \
		"$(wc -l <c0.ndjson | tr -d ' ')"

	measure sh -c 'rx-diff --state s.db --key id --mode mirror <v2.ndjson >c2.ndjson'
	stage=$secs stage_kb=$kb
	printf '  rx-diff stage, 1%% changed:               %6.2f s  %6d KB  (%s changes)\n' "$secs" "$kb" \
		"$(wc -l <c2.ndjson | tr -d ' ')"
	acks <c2.ndjson >a2.ndjson
	measure sh -c 'rx-diff --state s.db --commit <a2.ndjson'
	printf '  rx-diff commit of the changes:            %6.2f s  %6d KB\n' "$secs" "$kb"

	measure sh -c 'sqldiff --table t v1.db v2.db >sqldiff.out'
	sqld=$secs
	printf '  sqldiff v1.db v2.db:                     %6.2f s  %6d KB  (%s statements)\n' "$secs" "$kb" \
		"$(wc -l <sqldiff.out | tr -d ' ')"
	measure sqlite3 v2.db "ATTACH 'v1.db' AS a;
SELECT count(*) FROM t b LEFT JOIN a.t o USING (id) WHERE o.id IS NULL
  OR b.name IS NOT o.name OR b.email IS NOT o.email OR b.plan IS NOT o.plan OR b.ltv IS NOT o.ltv
  OR b.score IS NOT o.score OR b.city IS NOT o.city OR b.country IS NOT o.country
  OR b.created IS NOT o.created OR b.active IS NOT o.active OR b.note IS NOT o.note
  OR b.updated_at IS NOT o.updated_at;
SELECT count(*) FROM a.t o WHERE o.id NOT IN (SELECT id FROM t);" >/dev/null
	join=$secs
	printf '  sqlite3 join diff of the two files:      %6.2f s  %6d KB\n' "$secs" "$kb"
	# sqldiff needs the new version as a SQLite file: load it as a user would
	sqlite3 -csv v2.db "SELECT * FROM t" >v2.csv
	rm -f v2load.db
	sqlite3 v2load.db "$(sqlite3 v2.db .schema)"
	measure sh -c 'sqlite3 v2load.db ".import --csv v2.csv t" && sqldiff --table t v1.db v2load.db >/dev/null'
	sqld_load=$secs
	printf '  CSV load of v2 into SQLite + sqldiff:    %6.2f s  %6d KB\n' "$secs" "$kb"
	echo "  ratios: sqldiff / rx-diff stage = $(ratio "$sqld" "$stage"); (load + sqldiff) / rx-diff stage =" \
		"$(ratio "$sqld_load" "$stage"); join / rx-diff stage = $(ratio "$join" "$stage");" \
		"unchanged rerun = $unchanged s (target < 5 s at 1M); stage peak RSS $stage_kb KB (target < 65536)"
}

# Memory from 100k to 5M rows (BENCH_DIFF_LARGE, 0 to skip): a generated
# model of the same shape, its first stage and commit, an unchanged rerun
# and a 1% stage; peak RSS must stay flat.
large () { # ROWS
	n=$1
	rm -f L.db* L*.ndjson
	gen () { # VERSION: 2 changes 1% of the rows
		awk -v n="$n" -v v="$1" 'BEGIN { for (i = 1; i <= n; i++) {
			ltv = (i % 10007) * 1.25; if (v == 2 && i % 100 == 7) ltv += 1
			printf "{\"id\":%d,\"name\":\"name %d\",\"email\":\"user%d@example.com\",\"plan\":\"pro\",", i, i, i
			printf "\"ltv\":%.2f,\"score\":%d,\"city\":\"city %d\",\"country\":\"DE\",\"created\":\"2024-01-02\",", ltv, i % 977, i % 500
			printf "\"active\":1,\"note\":\"a note about customer number %d\",\"updated_at\":\"2025-06-01T00:00:00Z\"}\n", i
		}
		printf "{\"$rx\":\"end\",\"rows\":%d}\n", n }'
	}
	gen 1 >L1.ndjson && gen 2 >L2.ndjson
	echo "-- $n rows (generated, same shape): memory"
	measure sh -c 'rx-diff --state L.db --key id --mode mirror <L1.ndjson >Lc1.ndjson'
	printf '  rx-diff first stage:                     %6.2f s  %6d KB\n' "$secs" "$kb"
	acks <Lc1.ndjson >La1.ndjson
	measure sh -c 'rx-diff --state L.db --commit <La1.ndjson'
	printf '  rx-diff commit of %s acks:          %6.2f s  %6d KB\n' "$n" "$secs" "$kb"
	measure sh -c 'rx-diff --state L.db --key id --mode mirror <L1.ndjson >Lc0.ndjson'
	printf '  rx-diff unchanged rerun:                 %6.2f s  %6d KB\n' "$secs" "$kb"
	measure sh -c 'rx-diff --state L.db --key id --mode mirror <L2.ndjson >Lc2.ndjson'
	printf '  rx-diff stage, 1%% changed:               %6.2f s  %6d KB  (%s changes)\n' "$secs" "$kb" \
		"$(wc -l <Lc2.ndjson | tr -d ' ')"
	rm -f L.db* L*.ndjson
}

small=$((N / 10))
[ "$small" -ge 1000 ] && run_size "$small"
run_size "$N"
L=${BENCH_DIFF_LARGE:-5000000}
[ "$L" -gt 0 ] && large "$L"
