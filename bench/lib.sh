# bench/lib.sh - shared by the bench/NN-*.sh scripts.
#
#   measure NAME COMMAND...   run it (stdout to /dev/null unless redirected
#                             inside a sh -c), print "NAME  SECONDS s  RSS MB",
#                             and set $secs, $rss_kb and $cpu (user + sys
#                             seconds of the command and its children)
#   proc_cpu PID...           user + sys seconds the processes used so far
#                             (with their waited-for children)
#   ratio A B                 A / B with two decimals
#   gen_warehouse FILE ROWS   a SQLite table "t" of ROWS rows x 12 columns
#   start_server SCRIPT PORT-FILE ARGS...
#                             a Python server (bench/sink.py) in the
#                             background, its output in server.out; waits
#                             for its port and sets $URL and $SERVER_PID
#   stop_server               stops it
#   curl_requests URL IN      curl --parallel (8 at once, keep-alive) sends
#                             the requests `rx-push --profile webhook
#                             --max-records 1` makes of the changes IN to
#                             URL (from its --dry-run: URL, headers, body);
#                             sets $curl_cpu (user + sys seconds) and
#                             $curl_n (requests).  What a request costs an
#                             HTTP client at all: the floor beneath a
#                             profile that sends one record a request
#   per_request_table FILE    lines "PROFILE REQUESTS CPU-SECONDS" as rx-push
#                             CPU a request and its multiple of curl's

measure () {
	name=$1
	shift
	/usr/bin/time -f "%e %M %U %S" -o "$BENCH_DIR/.time" "$@" >/dev/null 2>"$BENCH_DIR/.err"
	rc=$?
	read -r secs rss_kb cpu_user cpu_sys <"$BENCH_DIR/.time" || { secs=0; rss_kb=0; cpu_user=0; cpu_sys=0; }
	cpu=$(echo "$cpu_user $cpu_sys" | awk '{ printf "%.2f", $1 + $2 }')
	printf '  %-44s %8.2f s  %8.1f MB peak%s\n' "$name" "$secs" "$(echo "$rss_kb / 1024" | bc -l)" \
		"$( [ $rc -eq 0 ] || echo "  (exit $rc: $(head -c 200 "$BENCH_DIR/.err"))")"
}

proc_cpu () {
	for _p in "$@"; do cat "/proc/$_p/stat" 2>/dev/null; done |
		awk -v hz="$(getconf CLK_TCK)" '{ sub(/^.*\) /, ""); t += $12 + $13 + $14 + $15 } END { printf "%.2f", t / hz }'
}

ratio () {
	echo "$1 $2" | awk '{ if ($2 > 0) printf "%.2f", $1 / $2; else print "n/a" }'
}

gen_warehouse () {
	rm -f "$1"
	sqlite3 "$1" <<SQL
create table t(id integer primary key, email text, first_name text, last_name text,
  plan text, ltv real, orders integer, churn_risk real, country text, created_at text,
  active integer, note text);
with recursive c(x) as (select 1 union all select x + 1 from c where x < $2)
insert into t select x, 'user' || x || '@example.com', 'First' || (x % 1000), 'Last' || (x % 997),
  case x % 3 when 0 then 'free' when 1 then 'pro' else 'enterprise' end,
  round((x % 10000) * 1.25, 2), x % 50, (x % 100) / 100.0,
  case x % 4 when 0 then 'DE' when 1 then 'US' when 2 then 'JP' else 'BR' end,
  '2024-01-' || printf('%02d', x % 28 + 1) || 'T10:00:00Z', x % 2, 'note ' || x
from c;
SQL
}

start_server () { # script port-file args...
	script=$1 pf=$2
	shift 2
	rm -f "$pf"
	python3 "$script" --port-file "$pf" "$@" >server.out 2>&1 &
	SERVER_PID=$!
	i=0
	while [ ! -s "$pf" ]; do
		i=$((i + 1))
		[ $i -gt 100 ] && { cat server.out; exit 1; }
		sleep 0.05
	done
	URL=http://127.0.0.1:$(cat "$pf")
}
stop_server () { kill "$SERVER_PID" 2>/dev/null; wait "$SERVER_PID" 2>/dev/null; }

curl_requests () {
	rx-push --profile webhook --url "$1" --max-records 1 --dry-run <"$2" 2>/dev/null |
	jq -r 'select(."$rx" == "request")
	       | "url = \(.url | @json)", (.headers | to_entries[] | "header = \("\(.key): \(.value)" | @json)"),
	         "data-binary = \(.body | if type == "string" then . else tojson end | @json)", "next"' |
	sed '$d' >"$BENCH_DIR/curl.cfg"
	curl_n=$(grep -c '^url = ' "$BENCH_DIR/curl.cfg")
	/usr/bin/time -f "%U %S" -o "$BENCH_DIR/.time" curl -s --no-progress-meter -Z --parallel-max 8 -K "$BENCH_DIR/curl.cfg" >/dev/null
	curl_cpu=$(awk '{ print $1 + $2 }' "$BENCH_DIR/.time")
}

per_request_table () {
	awk -v cc="$curl_cpu" -v cn="$curl_n" '$2 > 0 && cc > 0 {
		printf "  %-22s %8d requests: %6.1f us of rx-push CPU a request, %4.2fx curl'"'"'s\n", $1, $2, 1e6 * $3 / $2,
			$3 / $2 / (cc / cn) }' "$1"
}
