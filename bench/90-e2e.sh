#!/bin/sh
# bench/90-e2e.sh - a whole sync end to end: an initial sync of BENCH_ROWS
# rows (12 columns) from SQLite into the fake destination (webhook, on
# loopback), then an unchanged rerun.  For each stage: wall time, CPU
# time and peak memory.  Targets: the unchanged rerun under 5 s; the
# initial sync bound by the destination (the fake's CPU), not by rx.
. "$(dirname "$0")/lib.sh"
TOP=$(cd "$(dirname "$0")/.." && pwd)
RX_SHARE=${RX_SHARE:-$TOP/share/rx}
export RX_SHARE
cd "$BENCH_DIR" || exit 1
rows=$BENCH_ROWS

echo "generating $rows rows x 12 columns"
gen_warehouse e2e.db "$rows"
rm -f e2e-state.db*

rm -f fake.port
python3 "$TOP/t/fake/fake-dest.py" --family webhook --port-file fake.port >fake.out 2>&1 &
fake=$!
trap 'kill $fake 2>/dev/null' EXIT
while [ ! -s fake.port ]; do sleep 0.05; done
url=http://127.0.0.1:$(cat fake.port)

cpu_of () { # cumulative CPU seconds of a live process
	awk '{ printf "%.2f", ($14 + $15) / 100 }' "/proc/$1/stat"
}

timed () { # timed NAME COMMAND...: wall, user, sys, peak KB into NAME.t
	name=$1
	shift
	/usr/bin/time -f "%e %U %S %M" -o "$name.t" "$@"
}

sync () {
	start=$(date +%s.%N)
	timed ext rx-extract --sqlite e2e.db --table t \
	| timed map rx-map --rename email=Email \
	| timed diff rx-diff --state e2e-state.db --key id \
	| timed batch rx-batch --profile webhook \
	| timed push rx-push --profile webhook --url "$url" --concurrency 8 2>push.err \
	| timed commit rx-diff --state e2e-state.db --commit
	status=$?  # the last stage's
	wall=$(echo "$(date +%s.%N) - $start" | bc)
	printf '  %s: %.2f s wall (exit %s)\n' "$1" "$wall" "$status"
	for s in ext map diff batch push commit; do
		read -r e u sy m <$s.t
		printf '    %-8s %7.2f s wall %7.2f s CPU %8.1f MB peak\n' "$s" "$e" "$(echo "$u + $sy" | bc)" \
			"$(echo "$m / 1024" | bc -l)"
	done
}

fake_before=$(cpu_of $fake)
sync "initial sync of $rows rows"
fake_after=$(cpu_of $fake)
echo "    fake destination: $(echo "$fake_after - $fake_before" | bc) s CPU (one Python process: the bound)"
echo "    records at the destination: $(curl -sS "$url/_state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["records"]))')"
sync "unchanged rerun"
echo "  target: the unchanged rerun under 5 s"
