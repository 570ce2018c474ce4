#!/bin/sh
# bench/70-postgres.sh - rx-extract --postgres beside psql --csv and
# COPY ... TO STDOUT on the same BENCH_ROWS rows x 10 columns, from a
# throwaway server (t/lib-pg.sh); time, peak RSS and the ratios.
# Target: within 1.5x of psql --csv's time, memory flat.
. "$(dirname "$0")/lib.sh"
rows=$BENCH_ROWS

# t/lib-pg.sh expects t/lib.sh's hooks: provide them here
TRASH=$BENCH_DIR/pg
mkdir -p "$TRASH" && chmod 755 "$BENCH_DIR"
pg_cleanups=
test_cleanup () { pg_cleanups="$1; $pg_cleanups"; }
test_skip_all () { echo "  skipped: $1"; exit 0; }
trap 'eval "$pg_cleanups" >/dev/null 2>&1' EXIT
. "$(dirname "$0")/../t/lib-pg.sh"
pg_start

echo "generating $rows rows x 10 columns in PostgreSQL"
pg_sql "create table t as select g as id, 'user' || g || '@example.com' as email,
  'First' || (g % 1000) as first_name, (array['free','pro','enterprise'])[g % 3 + 1] as plan,
  round((g % 10000) * 1.25, 2) as ltv, g % 50 as orders, (g % 100) / 100.0::float8 as churn_risk,
  timestamptz '2024-01-01' + g * interval '1 second' as created_at, g % 2 = 0 as active,
  'note ' || g as note from generate_series(1, $rows) g" && pg_sql "vacuum analyze t" || exit 1
pg_sql "create table small as select * from t limit 10000"

measure "rx-extract --postgres ($rows rows)" rx-extract --postgres "" --table t
rx=$secs rx_rss=$rss_kb
measure "psql --csv" "$PSQL" -X --csv -c "select * from t"
psql_csv=$secs
measure "psql -c 'COPY t TO STDOUT'" "$PSQL" -X -c "copy t to stdout"
copy=$secs
measure "psql --csv, FETCH_COUNT=10000" "$PSQL" -X --csv -v FETCH_COUNT=10000 -c "select * from t"
measure "rx-extract --postgres --shard 1/4 --key id" rx-extract --postgres "" --table t --shard 1/4 --key id
measure "rx-extract --postgres (10k rows)" rx-extract --postgres "" --table small
small_rss=$rss_kb
echo "  ratio rx-extract / psql --csv:  $(ratio "$rx" "$psql_csv")x (target <= 1.5)"
echo "  ratio rx-extract / COPY:        $(ratio "$rx" "$copy")x"
echo "  peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows (flat)"
