# t/lib-dest.sh - helpers for the destination tests (t/56NN-dest-*.t).
#
# Source it after t/lib.sh; it sources t/lib-fake.sh.
#
#   saas_start NAME -- SWITCHES...   a vendor fake (t/fake/fake-saas.py
#                        --vendor V ...): its URL in NAME.url, its state for
#                        fake_state / fake_records / fake_count NAME; stopped
#                        at the end of the script like every fake
#   dest_examples [N]    copy examples/ to ./examples with a small warehouse
#                        (N customers, default 40) already built, as a
#                        user's checkout would have it
#   dest_try PAGE        the commands of the block marked <!-- rx:try --> in
#                        docs/destinations/PAGE.md (what the page tells a
#                        user to type against the fake): the test runs them
#                        exactly, with $FAKE_URL set
#   acked FILE / dead FILE   the keys acked in FILE / dead-lettered in FILE,
#                        sorted, one a line

. "$RX_TESTS/lib-fake.sh"

saas_start () {
	name=$1
	shift
	[ "${1:-}" = "--" ] && shift
	rm -f "$name.port"
	python3 "$RX_TESTS/fake/fake-saas.py" --port-file "$name.port" --state-file "$name.state" "$@" \
		>"$name.out" 2>&1 &
	echo $! >"$name.pid"
	i=0
	while [ ! -s "$name.port" ]; do
		i=$((i + 1))
		if [ $i -gt 100 ]; then
			echo "saas_start: the fake did not start:" >&2
			cat "$name.out" >&2
			return 1
		fi
		sleep 0.05
	done
	echo "http://127.0.0.1:$(cat "$name.port")" >"$name.url"
}

dest_examples () {
	rm -rf examples &&
	cp -R "$RX_TOP/examples" examples &&
	rm -rf examples/state examples/*.db examples/demo &&
	sqlite3 examples/warehouse.db <examples/warehouse.sql &&
	sqlite3 examples/warehouse.db "DELETE FROM customers WHERE rowid > ${1:-40}"
}

dest_try () {
	awk '/<!-- rx:try -->/ { want = 1; next }
	     want && /^```/ { if (inblock) exit; inblock = 1; next }
	     inblock { print }' "$RX_TOP/docs/destinations/$1.md"
}

# the keys of the acks (stdout of rx-push) or of the dead letters (stderr)
acked () {
	sed -n 's/^{"key":\("[^"]*"\|[0-9]*\).*/\1/p' "$1" | tr -d '"' | sort
}
dead () {
	grep '^{' "$1" | jq -r .key | sort
}
