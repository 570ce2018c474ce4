#!/bin/sh
# bench/10-extract.sh - rx-extract from SQLite and CSV beside sqlite3 -json
# and mlr --icsv --ojsonl, on BENCH_ROWS rows x 12 columns; peak memory at
# 10k rows and at BENCH_ROWS rows (it must not grow: rows are streamed).
. "$(dirname "$0")/lib.sh"
rows=$BENCH_ROWS
db=$BENCH_DIR/extract.db
echo "generating $rows rows x 12 columns"
gen_warehouse "$db" "$rows"
sqlite3 -header -csv "$db" "select * from t" >"$BENCH_DIR/extract.csv"
gen_warehouse "$BENCH_DIR/small.db" 10000

measure "rx-extract --sqlite ($rows rows)" rx-extract --sqlite "$db" --table t
rx=$secs rx_rss=$rss_kb
measure "sqlite3 -json" sqlite3 -json "$db" "select * from t"
sq=$secs
measure "rx-extract --csv --infer" rx-extract --csv "$BENCH_DIR/extract.csv" --infer
rxcsv=$secs
if command -v mlr >/dev/null; then
	measure "mlr --icsv --ojsonl" mlr --icsv --ojsonl cat "$BENCH_DIR/extract.csv"
	mlr=$secs
else
	mlr=0
	echo "  mlr not installed (apt-get install miller)"
fi
measure "rx-extract --sqlite (10k rows)" rx-extract --sqlite "$BENCH_DIR/small.db" --table t
small_rss=$rss_kb
echo "  ratio sqlite3 -json / rx-extract --sqlite: $(ratio "$sq" "$rx")x (target >= 1)"
echo "  ratio mlr / rx-extract --csv:             $(ratio "$mlr" "$rxcsv")x"
echo "  peak RSS: $((small_rss / 1024)) MB at 10k rows, $((rx_rss / 1024)) MB at $rows rows (target < 16 MB, flat)"
