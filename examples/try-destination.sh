#!/bin/sh
# examples/try-destination.sh NAME - a whole sync of the example warehouse
# into NAME's fake (t/fake/), twice, without an account at the vendor:
# the fake checks what the vendor checks (its auth, its batch limits, its
# partial failures, its rate-limit signals).  Everything happens in a
# temporary directory; nothing in the tree changes.
#
#   sh examples/try-destination.sh braze      (from the top of the source tree)
#
# NAME is one of: braze iterable mailchimp customerio marketo
# mixpanel-engage mixpanel-import amplitude segment.  It runs
# examples/NAME.sh (the sync you would run against the vendor, with the
# vendor's credentials) with the fake's address and a test credential.
set -eu
name=${1:?usage: try-destination.sh NAME}
here=$(cd "$(dirname "$0")" && pwd)
top=$(dirname "$here")
[ -x "$top/bin/rx-push" ] && PATH=$top/bin:$PATH
export PATH
RX_SHARE=${RX_SHARE:-$top/share/rx}
export RX_SHARE

case $name in
braze) vendor=braze ;;
iterable) vendor=iterable ;;
mailchimp) vendor=mailchimp ;;
customerio) vendor=customerio ;;
marketo) vendor=marketo ;;
mixpanel-engage | mixpanel-import) vendor=mixpanel ;;
amplitude) vendor=amplitude ;;
segment) vendor=segment ;;
*) echo "try-destination.sh: no example sync for '$name'" >&2; exit 2 ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rx-try-$name.XXXXXX")
pid=
cleanup () {
	rc=$?
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	rm -rf "$tmp"
	exit $rc
}
trap cleanup EXIT
cp -R "$here" "$tmp/ex"
rm -rf "$tmp/ex/state" "$tmp/ex/warehouse.db"
sqlite3 "$tmp/ex/warehouse.db" <"$tmp/ex/warehouse.sql"

key=test-key
case $vendor in
marketo) key=rx-client:rx-secret ;;
customerio) key=site-1:test-key ;;
esac
python3 "$top/t/fake/$vendor.py" --port-file "$tmp/port" --state-file "$tmp/fake.state" --key "$key" >"$tmp/fake.out" 2>&1 &
pid=$!
i=0
while [ ! -s "$tmp/port" ]; do
	i=$((i + 1))
	[ $i -gt 100 ] && { cat "$tmp/fake.out" >&2; exit 1; }
	sleep 0.05
done
url=http://127.0.0.1:$(cat "$tmp/port")

case $name in
braze) export BRAZE_API_KEY=$key BRAZE_REST_ENDPOINT=$url ;;
iterable) export ITERABLE_API_KEY=$key ITERABLE_ENDPOINT=$url ;;
mailchimp) export MAILCHIMP_API_KEY=$key MAILCHIMP_DC=us6 MAILCHIMP_LIST_ID=list1 ;;
customerio) export CUSTOMERIO_SITE_ID=site-1 CUSTOMERIO_API_KEY=test-key CUSTOMERIO_ENDPOINT=$url ;;
marketo) export MARKETO_CLIENT_ID=rx-client MARKETO_CLIENT_SECRET=rx-secret MARKETO_MUNCHKIN_ID=123-ABC-456 ;;
mixpanel-engage) export MIXPANEL_PROJECT_TOKEN=$key MIXPANEL_ENDPOINT=$url ;;
mixpanel-import) export MIXPANEL_SERVICE_ACCOUNT=sa-user MIXPANEL_SERVICE_ACCOUNT_SECRET=sa-secret MIXPANEL_PROJECT_ID=1234567 MIXPANEL_ENDPOINT=$url ;;
amplitude) export AMPLITUDE_API_KEY=$key AMPLITUDE_ENDPOINT=$url ;;
segment) export SEGMENT_WRITE_KEY=$key SEGMENT_ENDPOINT=$url ;;
esac
export WAREHOUSE=warehouse.db STATE_DIR=state
# the vendors whose base URL is not a variable are pointed at the fake with --url
case $name in
mailchimp) set -- --url "$url/3.0" ;;
marketo) set -- --url "$url" ;;
*) set -- ;;
esac

state () { curl -sS "$url/_state" | python3 -c "import json, sys; d = json.load(sys.stdin); print(len(d['records']), d['requests'], d['throttled'])"; }
"$tmp/ex/$name.sh" "$@"
st=$(state)
"$tmp/ex/$name.sh" "$@"
set -- $st $(state)
records=$1 first=$2 throttled=$3
dead=$(grep -c '^{' "$tmp/ex/state/$name.dead-letters.ndjson" 2>/dev/null || true)
echo "$name: $records records in the fake, ${dead:-0} dead letters, $first requests, $throttled throttled; a second run sent $(($5 - first)) requests"
