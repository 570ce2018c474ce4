# t/lib-jobs.sh - helpers for the tests of the job-based destinations
# (t/53NN: Klaviyo, SendGrid, Intercom, Google Ads).  Source after lib.sh.
#
#   jobs_fake NAME FAKE -- SWITCHES   start t/fake/FAKE.py as NAME (its URL
#                        in NAME.url; fake_state / fake_count NAME work)
#   page_try PAGE        the commands of the block after <!-- rx:try --> in
#                        docs/destinations/PAGE.md: what the page tells a
#                        user to type, run by the test exactly
#   conf_trim SPEC NAME PATH...   a spec of the conformance kit cut to
#                        PATHs (the kit's trim.py: every component they
#                        reach) and started as NAME under Prism; PRISM_URL
#   conf_replay LOG NAME the requests a fake logged (--log), replayed
#                        through Prism NAME: each must validate (the flows a
#                        mock cannot drive, like a job's error pages)
#   acked FILE / dead FILE   the keys acked / dead-lettered, sorted
. "$RX_TESTS/lib-fake.sh"

jobs_fake () {
	n=$1 f=$2
	shift 2
	FAKE_SCRIPT=$RX_TESTS/fake/$f.py fake_start "$n" "$@"
}

page_try () {
	awk '/<!-- rx:try -->/ { want = 1; next }
	     want && /^```/ { if (inblock) exit; inblock = 1; next }
	     inblock { print }' "$RX_TOP/docs/destinations/$1.md"
}

conf_trim () {
	spec=$1 cname=$2
	shift 2
	python3 "$RX_CONFORMANCE/trim.py" "$RX_CONFORMANCE/specs/$spec" "$TRASH/$cname.json" "$@" >/dev/null || return 1
	port=$(bash "$RX_CONFORMANCE/run.sh" start "$TRASH/$cname.json" "$cname" 2>"$TRASH/prism-start.err") || {
		echo "conf_trim: Prism did not start on $cname:" >&2
		cat "$TRASH/prism-start.err" >&2
		return 1
	}
	PRISM_URL=http://127.0.0.1:$port
	test_cleanup "bash '$RX_CONFORMANCE/run.sh' stop"
}

conf_replay () {
	jq -c '{label: (.method + " " + (.path | split("?")[0])), expect: "2xx", method, path,
		headers: (.headers | with_entries(select(.key | ascii_downcase | IN("host", "content-length", "user-agent", "accept-encoding", "expect") | not))),
		body: (if .body == "" then null else (.body | fromjson? // .) end)}
		| if .body == null then del(.body) else . end' "$1" >"$TRASH/replay.ndjson" &&
	bash "$RX_CONFORMANCE/run.sh" send "$2" "$TRASH/replay.ndjson"
}

acked () {
	grep '^{' "$1" | grep -v '^{"\$rx":' | jq -r .key | sort
}
dead () {
	grep '^{' "$1" | jq -r .key | sort
}
