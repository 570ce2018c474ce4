# t/lib-fake.sh - start, query and stop the fake destination (t/fake/fake-dest.py).
#
# Source it after t/lib.sh.  Every helper works in the test's temp dir.
#
#   fake_start [NAME] -- [SWITCHES...]   start a fake (NAME defaults to "fake";
#                         several can run at once under different names);
#                         sets FAKE_URL (http://127.0.0.1:PORT), FAKE_PORT and
#                         FAKE_PID (for NAME=fake) and NAME_url in a file
#                         NAME.url; every fake is stopped at the end of the
#                         script.  Test bodies run in subshells: call it at
#                         the top level to use $FAKE_URL, or use
#                         "$(fake_url NAME)" inside a test.  Switches: see the top of
#                         t/fake/fake-dest.py (--family, --rate, --quota,
#                         --fail-every, --drop-every, --oauth, --log, ...).
#   fake_state [NAME]    print the fake's state document on stdout (JSON):
#                         {"records":{KEY:{"op","hash","row"}},"deleted":[..],
#                          "requests":N,"throttled":N,"violations":N,...}
#   fake_records [NAME]  the stored records as sorted lines "KEY<TAB>ROW-JSON",
#                         easy to compare with a model using test_cmp
#   fake_count NAME FIELD  one counter of the state ("requests", "violations")
#   fake_stop [NAME]     stop it (its state is then in NAME.state)
#   vendor_start NAME VENDOR -- [SWITCHES...]  a vendor's own fake instead
#                         (t/fake/VENDOR.py; switches at the top of
#                         t/fake/vendorlib.py); the same helpers read it
#
# FAKE_SCRIPT names another fake to start (t/fake/snowflake.py, ...); it
# takes the same --port-file and --state-file and serves /_state too.
#
# Example:
#   fake_start -- --family webhook --rate 5/1 &&
#   rx-push --profile webhook --url "$FAKE_URL" <in >acks &&
#   test "$(fake_count fake violations)" = 0

# one cleanup for every fake of the script, registered at the top level
test_cleanup 'for f in "$TRASH"/*.pid; do [ -f "$f" ] && fake_stop "$(basename "$f" .pid)"; done'

fake_start () {
	name=fake
	if [ $# -gt 0 ] && [ "$1" != "--" ]; then
		name=$1
		shift
	fi
	[ "${1:-}" = "--" ] && shift
	fake_stop "$name" # one of this name still running (a test's subshell reusing it) would be orphaned
	rm -f "$name.port"
	python3 "${FAKE_SCRIPT:-$RX_TESTS/fake/fake-dest.py}" --port-file "$name.port" --state-file "$name.state" "$@" \
		>"$name.out" 2>&1 &
	echo $! >"$name.pid"
	i=0
	while [ ! -s "$name.port" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "fake_start: the fake did not start:" >&2
			cat "$name.out" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "http://127.0.0.1:$(cat "$name.port")" >"$name.url"
	if [ "$name" = fake ]; then
		FAKE_PORT=$(cat fake.port)
		FAKE_URL=http://127.0.0.1:$FAKE_PORT
		FAKE_PID=$(cat fake.pid)
	fi
	return 0
}

# reply_start NAME -- [SWITCHES...]: a server that gives every request one
# answer and logs what it got (t/fake/reply.py); its URL in NAME.url, its
# requests in NAME.log.  Stopped with the fakes at the end.
reply_start () {
	name=$1
	shift
	[ "${1:-}" = "--" ] && shift
	fake_stop "$name" # one of this name still running (a test's subshell reusing it) would be orphaned
	rm -f "$name.port"
	python3 "$RX_TESTS/fake/reply.py" --port-file "$name.port" --log "$name.log" "$@" >"$name.out" 2>&1 &
	echo $! >"$name.pid"
	i=0
	while [ ! -s "$name.port" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "reply_start: the server did not start:" >&2
			cat "$name.out" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "http://127.0.0.1:$(cat "$name.port")" >"$name.url"
}

# vendor_start NAME VENDOR -- [SWITCHES...]: a vendor's own fake
# (t/fake/VENDOR.py, after vendorlib.py: its endpoints, auth, partial
# failures and rate-limit signals), read with fake_state, fake_records,
# fake_count and stopped with the fakes; its URL in NAME.url.
vendor_start () {
	name=$1 vendor=$2
	shift 2
	[ "${1:-}" = "--" ] && shift
	fake_stop "$name" # one of this name still running (a test's subshell reusing it) would be orphaned
	rm -f "$name.port"
	python3 "$RX_TESTS/fake/$vendor.py" --port-file "$name.port" --state-file "$name.state" "$@" \
		>"$name.out" 2>&1 &
	echo $! >"$name.pid"
	i=0
	while [ ! -s "$name.port" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "vendor_start: the $vendor fake did not start:" >&2
			cat "$name.out" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "http://127.0.0.1:$(cat "$name.port")" >"$name.url"
}

fake_url () {
	cat "${1:-fake}.url"
}

fake_state () {
	curl -sS --max-time 10 "$(fake_url "${1:-fake}")/_state"
}

fake_records () {
	fake_state "${1:-fake}" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in sorted(d["records"]):
    print("%s\t%s" % (k, json.dumps(d["records"][k]["row"], sort_keys=True, separators=(",", ":"))))
'
}

fake_count () {
	fake_state "$1" | python3 -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$2"
}

fake_stop () {
	name=${1:-fake}
	if [ -s "$name.pid" ]; then
		kill "$(cat "$name.pid")" 2>/dev/null
		i=0
		# gone, or a zombie (PID 1 of a container may never reap it)
		while [ $i -lt 50 ] && [ -r "/proc/$(cat "$name.pid")/stat" ] &&
			[ "$(cut -d" " -f3 "/proc/$(cat "$name.pid")/stat" 2>/dev/null)" != Z ]; do
			sleep 0.05
			i=$((i + 1))
		done
		rm -f "$name.pid"
	fi
}
