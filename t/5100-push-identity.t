#!/bin/sh
# Destination identity against a HubSpot-like fake (t/fake/hubspot.py):
# the snapshot keeps each contact's HubSpot id; a contact without one is
# found by e-mail (batch/read) and updated, or created; archives go by id,
# never with a null; the sync key and the match field are separate
# (issue 12).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start hs -- --token pat-test || exit 1
export HUBSPOT_TOKEN=pat-test

sqlite3 w.db "create table customers(customer_id text primary key, email text, plan text);
	insert into customers values ('C1', 'ada@example.com', 'pro'), ('C2', 'bob@example.com', 'free'),
	('C3', 'cy@example.com', 'pro'), ('C4', 'di@example.com', 'free'), ('C5', 'ed@example.com', 'pro');" || exit 1

cat >sync.sh <<'SH'
set -o pipefail
rx-extract --sqlite w.db --query 'select customer_id, email, plan from customers order by customer_id' \
| rx-map -e '{customer_id, email, plan}' \
| rx-diff --state s.db --key customer_id --mode mirror --profile hubspot-contacts ${RATIO:+--max-delete-ratio $RATIO} \
| tee -a changes.ndjson \
| rx-batch --profile hubspot-contacts \
| rx-push --profile hubspot-contacts --url "$(cat hs.url)" 2>>dead.ndjson \
| tee -a acks.ndjson \
| rx-diff --state s.db --commit
SH

# the fake's live contacts as "email<TAB>plan<TAB>id" lines, and its counters
contacts () {
	fake_state hs | jq -r '.objects.contacts // {} | to_entries[] | select(.value.archived | not)
		| [.value.properties.email, .value.properties.plan, .key] | @tsv' | sort
}
count () { fake_count hs "$1"; }

test_expect_success 'setup: one contact exists in HubSpot already, made outside rx' '
	curl -sS -X POST "$(cat hs.url)/_seed" -d "{\"type\":\"contacts\",\"properties\":{\"email\":\"cy@example.com\",\"plan\":\"trial\"}}" >seed &&
	jq -r .id seed >cy-id && test -s cy-id
'

test_expect_success 'a first sync: lookups by e-mail, the known contact updated, the others created' '
	bash sync.sh &&
	contacts >actual &&
	test_lines 5 actual &&
	grep "^cy@example.com	pro	$(cat cy-id)$" actual &&
	test "$(count creates)" = 4 &&
	test "$(count updates)" = 1 &&
	test "$(count reads)" = 1 &&
	test "$(count violations)" = 0
'

test_expect_success 'the snapshot keeps every HubSpot id, from the acks' '
	test "$(sqlite3 s.db "select count(*) from snapshot_row where id is not null")" = 5 &&
	test "$(sqlite3 s.db "select id from snapshot_row where key = \"C3\"")" = "\"$(cat cy-id)\""
'

test_expect_success 'a changed e-mail updates the same contact, by its id: no duplicate, no lookup' '
	reads=$(count reads) &&
	id=$(contacts | awk -F"\t" "\$1 == \"bob@example.com\" { print \$3 }") &&
	sqlite3 w.db "update customers set email = \"robert@example.com\" where customer_id = \"C2\"" &&
	bash sync.sh &&
	contacts >actual &&
	test_lines 5 actual &&
	grep "^robert@example.com	free	$id$" actual &&
	! grep -q "^bob@example.com" actual &&
	test "$(count reads)" = "$reads"
'

test_expect_success 'mirror: the profile guards HubSpot deletes at a tenth; past it, archives go by HubSpot id, none left behind' '
	gone1=$(contacts | awk -F"\t" "\$1 == \"di@example.com\" { print \$3 }") &&
	gone2=$(contacts | awk -F"\t" "\$1 == \"ed@example.com\" { print \$3 }") &&
	sqlite3 w.db "delete from customers where customer_id in (\"C4\", \"C5\")" &&
	{ bash sync.sh 2>err; test $? != 0; } &&
	test_grep "guard: 2 deletes are 0.1 or more of the 5 synced rows" err &&
	: >changes.ndjson &&
	RATIO=1 bash sync.sh &&
	jq -c "select(.op == \"delete\") | {key, id}" changes.ndjson | sort >deletes &&
	printf "%s\n" "{\"key\":\"C4\",\"id\":\"$gone1\"}" "{\"key\":\"C5\",\"id\":\"$gone2\"}" >expect &&
	test_cmp expect deletes &&
	contacts >actual &&
	test_lines 3 actual &&
	! grep -q "di@example.com\|ed@example.com" actual &&
	test "$(count violations)" = 0
'

test_expect_success 'an unchanged rerun sends nothing' '
	before=$(count requests) &&
	bash sync.sh &&
	test "$(count requests)" = "$before"
'

change () { # OP KEY EMAIL [ID]
	printf '{"op":"%s","key":"%s","hash":"%064d","row":{"email":"%s"}%s}\n' "$1" "$2" 0 "$3" "${4:+,\"id\":\"$4\"}"
}

test_expect_success 'a delete whose contact HubSpot does not know is acked as already gone' '
	change delete X9 nobody@example.com | rx-push --profile hubspot-contacts --url "$(cat hs.url)" >acks &&
	test_lines 1 acks && test_grep "\"key\":\"X9\"" acks &&
	test "$(count violations)" = 0
'

test_expect_success 'an update whose contact is not found is dead-lettered as not found, never sent' '
	{ change update X8 nobody@example.com | rx-push --profile hubspot-contacts --url "$(cat hs.url)" >acks 2>err; test $? = 3; } &&
	test_must_be_empty acks &&
	test_grep "not found at the destination" err
'

test_expect_success 'without a lookup, a record that needs an id and has none is a dead letter, not a null' '
	mkdir -p p && jq "del(.identity.lookup)" "$RX_SHARE/destinations/hubspot-contacts.json" >p/hs-nolookup.json &&
	cp "$RX_SHARE/jq/hubspot.jq" p/ &&
	before=$(count requests) &&
	{ change delete X7 z@example.com | rx-push --profile ./p/hs-nolookup.json --url "$(cat hs.url)" >acks 2>err; test $? = 3; } &&
	test_grep "needs the record.s id at the destination" err &&
	test_grep "no identity.lookup to find it" err &&
	test "$(count requests)" = "$before"
'

test_expect_success 'the ack carries the id the lookup found, for the commit to keep' '
	id=$(contacts | awk -F"\t" "\$1 == \"ada@example.com\" { print \$3 }") &&
	change update Y1 ada@example.com | rx-push --profile hubspot-contacts --url "$(cat hs.url)" >acks &&
	test "$(jq -r .id acks)" = "$id"
'

test_expect_success 'examples/sync-hubspot.sh, as docs/destinations/hubspot-contacts.md gives it: the model arrives, twice' '
	cp -R "$RX_TOP/examples" ex &&
	sqlite3 ex/warehouse.db <"$RX_TOP/examples/warehouse.sql" &&
	HUBSPOT_URL=$(cat hs.url) ex/sync-hubspot.sh --dry-run --limit 2 >tried &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:[0-9]*/crm/v3/objects/contacts/batch/read\"" tried &&
	test ! -e ex/state/hubspot.db &&
	HUBSPOT_URL=$(cat hs.url) ex/sync-hubspot.sh &&
	n=$(sqlite3 ex/warehouse.db "select count(*) from customer_model") &&
	test "$(fake_state hs | jq "[.objects.contacts[] | select(.properties.rx_customer_id != null and (.archived | not))] | length")" = "$n" &&
	sqlite3 ex/warehouse.db "update customers set email = \"moved@example.com\" where id = \"C00030\"" &&
	before=$(fake_state hs | jq -r "[.objects.contacts | to_entries[] | select(.value.properties.rx_customer_id == \"C00030\")][0].key") &&
	HUBSPOT_URL=$(cat hs.url) ex/sync-hubspot.sh &&
	after=$(fake_state hs | jq -r "[.objects.contacts | to_entries[] | select(.value.properties.email == \"moved@example.com\")][0].key") &&
	test "$before" = "$after" &&
	test "$(count violations)" = 0
'

test_done
