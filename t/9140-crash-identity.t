#!/bin/sh
# The crash-safety suite for destination identity: a HubSpot-like sync
# (lookups, creates, updates and archives by id) and a Zendesk-like one
# (asynchronous jobs), a stage killed at a point (a lookup sent, a job
# submitted, a job polled, a reply, a commit), the model changed, then a
# normal run.  After it the destination equals the model, and the
# snapshot's ids are the destination's (issue 12).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start hs -- --token t0k --rate 1000/1 || exit 1
FAKE_SCRIPT=$RX_TESTS/fake/zendesk.py fake_start zd -- --polls 2 || exit 1
export HUBSPOT_TOKEN=t0k ZENDESK_USER=agent@example.com/token ZENDESK_TOKEN=unused

sqlite3 w.db "create table c(id text primary key, email text, plan text);
	with recursive n(i) as (select 1 union all select i + 1 from n where i < 120)
	insert into c select printf('C%03d', i), 'u' || i || '@example.com', 'p' || (i % 3) from n;" || exit 1

# sync PROFILE STATE [RX_KILL_AT]
cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${3:-}
case $1 in hubspot-contacts) url=$(cat hs.url) ;; *) url=$(cat zd.url) ;; esac
rx-extract --sqlite w.db --query 'select id, email, plan from c order by id' \
| rx-diff --state "$2" --key id --mode mirror --max-delete-ratio 1 \
| rx-batch --size 20 \
| rx-push --profile "$1" --url "$url" --retry-base 10 2>>push.err \
| rx-diff --state "$2" --commit
SH

model () { sqlite3 -separator "	" w.db "select email, plan from c order by email"; }
hubspot () { fake_state hs | jq -r '.objects.contacts // {} | to_entries[] | select(.value.archived | not) | [.value.properties.email, .value.properties.plan] | @tsv' | sort; }
zendesk () { fake_state zd | jq -r '.users | to_entries[] | [.value.email, .value.plan] | @tsv' | sort; }
# the snapshot's ids against the destination's: "key<TAB>id" both ways
ids_hubspot () {
	sqlite3 -separator "	" s-hs.db "select key, json_extract(id, '\$') from snapshot_row order by key" >snap.ids &&
	fake_state hs | jq -r '.objects.contacts | to_entries[] | select(.value.archived | not) | [.value.properties.email, .key] | @tsv' |
		sort >dest.ids &&
	sqlite3 -separator "	" w.db "select id, email from c order by id" >keys &&
	awk -F"\t" 'NR == FNR { id[$1] = $2; next } { print $1 "\t" id[$2] }' dest.ids keys >expect.ids &&
	test_cmp expect.ids snap.ids
}
ids_zendesk () {
	sqlite3 -separator "	" s-zd.db "select key, json_extract(id, '\$') from snapshot_row order by key" >snap.ids &&
	fake_state zd | jq -r '.users | to_entries[] | [.key, .value.id] | @tsv' | sort >expect.ids &&
	test_cmp expect.ids snap.ids
}

mutate () {
	sqlite3 w.db "update c set plan = 'p' || ($1 % 5) where cast(substr(id, 2) as integer) % 7 = $1 % 7;
		update c set email = 'm$1.' || lower(id) || '@example.com' where cast(substr(id, 2) as integer) % 11 = $1 % 11;
		delete from c where id = (select id from c order by id limit 1 offset $1);
		insert into c values ('N$1', 'n$1@example.com', 'p1');"
}

test_expect_success 'setup: both syncs reach the model, ids kept' '
	bash sync.sh hubspot-contacts s-hs.db && bash sync.sh zendesk-users s-zd.db &&
	model >expect &&
	hubspot >actual && test_cmp expect actual &&
	zendesk >actual && test_cmp expect actual &&
	ids_hubspot && ids_zendesk
'

n=0
for case in hubspot-contacts:rx-push:lookup:1 hubspot-contacts:rx-push:sent:2 hubspot-contacts:rx-push:replied:1 \
	hubspot-contacts:rx-diff:commit:5 \
	zendesk-users:rx-push:job:1 zendesk-users:rx-push:poll:1 zendesk-users:rx-push:polled:2 \
	zendesk-users:rx-push:replied:1 zendesk-users:rx-diff:commit:3
do
	n=$((n + 1))
	profile=${case%%:*} point=${case#*:}
	state=s-hs.db check="hubspot" ids=ids_hubspot
	[ "$profile" = zendesk-users ] && state=s-zd.db check="zendesk" ids=ids_zendesk
	test_expect_success "$profile: kill $point, change the model, sync: the destination equals the model, ids too" "
		mutate $n &&
		: >push.err &&
		{ bash sync.sh $profile $state $point 2>kill.err; test \$? != 0; } &&
		cat push.err kill.err >all.err &&
		test_grep 'killed at ${point#*:}' all.err &&
		bash sync.sh $profile $state &&
		model >expect && $check >actual &&
		test_cmp expect actual &&
		$ids
	"
	# the other sync catches up with the change, uninterrupted
	other=zendesk-users other_state=s-zd.db
	[ "$profile" = zendesk-users ] && other=hubspot-contacts other_state=s-hs.db
	test_expect_success "and $other catches up" "bash sync.sh $other $other_state"
done

test_expect_success 'no request ever carried a null or missing id' '
	test "$(fake_count hs violations)" = 0 &&
	test "$(fake_count zd violations)" = 0
'

test_done
