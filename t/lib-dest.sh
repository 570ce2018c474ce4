# t/lib-dest.sh - helpers for the destination tests (t/55NN-dest-*.t,
# t/56NN-dest-*.t).
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
#
# The t/55NN tests (a vendor fake of its own, t/fake/VENDOR.py on
# vendorlib.py, and the example sync of examples/NAME.sh run whole):
#
#   keys_of FILE         the "key" of each JSON line of FILE (acks, or the
#                        dead letters among stderr's lines), sorted
#   fake_expect          stdin: lines "KEY<TAB>ROW-JSON"; stdout: the same
#                        lines as fake_records prints them (sorted, the
#                        JSON re-dumped the way the fakes dump it)
#   dest_ex              a copy of examples/ in ./ex with its whole warehouse built
#   dest_change_model    changes to ./ex/warehouse.db: 3 customers renamed,
#                        2 gone, 2 new
#   dest_model MAPPING [QUERY]  the model (models/customers.sql, or the
#                        query) through ex/mappings/MAPPING, its rows on
#                        stdout (as the example sync maps them)
#   dest_changes N PREFIX [OP [ROW]]  N changes, one a line

. "$RX_TESTS/lib-fake.sh"

saas_start () {
	name=$1
	shift
	[ "${1:-}" = "--" ] && shift
	fake_stop "$name" # one of this name still running (a test's subshell reusing it) would be orphaned
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

keys_of () {
	grep '^{' "$1" | sed -n 's/^{"key":\("[^"]*"\|[^,]*\),.*/\1/p' | sed 's/^"\(.*\)"$/\1/' | sort
}

fake_expect () {
	python3 -c '
import json, sys
out = []
for line in sys.stdin:
    k, _, row = line.rstrip("\n").partition("\t")
    out.append("%s\t%s" % (k, json.dumps(json.loads(row), sort_keys=True, separators=(",", ":"))))
for l in sorted(out):
    print(l)
'
}

dest_ex () {
	cp -R "$RX_TOP/examples" ex && rm -rf ex/state ex/*.db ex/demo &&
	sqlite3 ex/warehouse.db <ex/warehouse.sql
}

dest_change_model () {
	sqlite3 ex/warehouse.db "
update customers set first_name = 'Renamed' where id in ('C00010', 'C00011', 'C00012');
delete from orders where customer_id in ('C00020', 'C00021');
delete from churn_scores where customer_id in ('C00020', 'C00021');
delete from customers where id in ('C00020', 'C00021');
insert or replace into customers values ('C09001', 'new.one@example.com', 'New', 'One', NULL, 'DE', 1, '2026-01-01T00:00:00Z'),
                             ('C09002', 'new.two@example.com', 'Nová', 'Dvě', '+420 601 123 456', 'CZ', 3, '2026-01-02T00:00:00Z');"
}

dest_model () {
	if [ $# -gt 1 ]; then
		rx-extract --sqlite ex/warehouse.db --query "$2"
	else
		rx-extract --sqlite ex/warehouse.db --query-file ex/models/customers.sql
	fi | rx-map -f "ex/mappings/$1" | grep -v '^{"\$rx":'
}

# dest_changes N PREFIX [OP [ROW]]: N changes keyed PREFIX1..PREFIXN, one
# a line; ROW is the row's JSON with %d for the number (default
# {"email":"prefixN@example.com"}).
dest_changes () {
	awk -v n="$1" -v p="$2" -v op="${3:-upsert}" -v row="${4:-}" 'BEGIN {
		if (row == "") row = "{\"email\":\"" tolower(p) "%d@example.com\"}"
		for (i = 1; i <= n; i++) {
			r = row
			gsub(/%d/, i, r)
			printf "{\"op\":\"%s\",\"key\":\"%s%d\",\"hash\":\"h%d\",\"row\":%s}\n", op, p, i, i, r
		}
	}'
}

# dest_sync_tests NAME PAGE FAKE EXPECT COUNT: the tests every destination
# shares, on the example sync ex/NAME.sh against the running fake FAKE:
#   - a kill in the middle of the first run (RX_KILL_AT=rx-push:sent:N,
#     N=$DEST_KILL, default 2), then a normal run: the fake equals the
#     model (EXPECT: a function printing it as fake_records would);
#   - a second run after dest_change_model: equal again, no dead letters;
#   - a third run sends nothing;
#   - the command of docs/destinations/PAGE.md's "Try it" section syncs
#     COUNT records into the vendor's fake.
# $DEST_ARGS: options for the example's rx-push (e.g. --url); $DEST_KILL_ARGS
# more of them for the killed run only.
dest_sync_tests () {
	DEST_NAME=$1 DEST_PAGE=$2 DEST_FAKE=$3 DEST_EXPECT=$4 DEST_COUNT=$5
	: "${DEST_KILL:=2}" "${DEST_ARGS:=}" "${DEST_KILL_ARGS:=}"
	test_expect_success 'a kill in the middle of the first sync, then a normal run: the fake equals the model' '
		test_expect_code 137 env RX_KILL_AT=rx-push:sent:$DEST_KILL ex/$DEST_NAME.sh $DEST_ARGS $DEST_KILL_ARGS &&
		test_grep "killed at sent:$DEST_KILL" ex/state/$DEST_NAME.dead-letters.ndjson &&
		ex/$DEST_NAME.sh $DEST_ARGS &&
		$DEST_EXPECT >expect &&
		fake_records $DEST_FAKE >stored &&
		test_cmp expect stored
	'
	test_expect_success 'a second run with changes and deletes: the fake equals the model again' '
		dest_change_model &&
		ex/$DEST_NAME.sh $DEST_ARGS &&
		$DEST_EXPECT >expect &&
		fake_records $DEST_FAKE >stored &&
		test_cmp expect stored &&
		test "$(wc -l <stored)" -gt 2900 &&
		! grep -q "^{" ex/state/$DEST_NAME.dead-letters.ndjson
	'
	test_expect_success 'a third run sends nothing' '
		before=$(fake_count $DEST_FAKE requests) &&
		ex/$DEST_NAME.sh $DEST_ARGS &&
		test "$(fake_count $DEST_FAKE requests)" = "$before"
	'
	test_expect_success "docs/destinations/$DEST_PAGE.md: the command on the page syncs into the fake" '
		sed -n "/^## Try it/,/^## /p" "$RX_TOP/docs/destinations/$DEST_PAGE.md" | sed -n "s/^    //p" >cmd &&
		test_lines 1 cmd &&
		{ (cd "$RX_TOP" && sh -c "$(cat "$TRASH/cmd")") >out 2>&1 || { cat out; false; }; } &&
		test_grep "^$DEST_NAME: $DEST_COUNT records in the fake, 0 dead letters" out
	'
}

# google_key: a service account's RSA key, as Google issues one, in
# sa.pem (and its public half in sa.pub, for a fake's --google-key).
google_key () {
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.pem 2>/dev/null &&
	openssl pkey -in sa.pem -pubout -out sa.pub 2>/dev/null
}

# google_service_account FAKE FILE: the service-account file of sa.pem,
# rx@proj.iam.gserviceaccount.com, whose token_uri is FAKE's /token.
google_service_account () {
	python3 -c '
import json, sys
print(json.dumps({"type": "service_account", "project_id": "proj", "private_key_id": "k1",
                  "private_key": open("sa.pem").read(), "client_email": "rx@proj.iam.gserviceaccount.com",
                  "token_uri": sys.argv[1] + "/token"}))' "$(cat "$1.url")" >"$2"
}
