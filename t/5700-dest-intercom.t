#!/bin/sh
# Intercom: the intercom-contacts profile against the fake (t/fake/intercom.py):
# a contact without an id is searched for by e-mail, then updated by its
# id or created; deletes go only by the id rx keeps (a 404 is acked, a
# delete with no id a dead letter); refusals in Intercom's error.list;
# the 409 of a search that lags, re-driven; 429 with X-RateLimit-Reset;
# no 429 at the documented 1,666 per 10 s and at least 90% of it (with
# enough requests in flight: --concurrency 32); a bad
# token (401) and one without write permission (403) stop the run; the
# page's command twice, the fake equal to the model; a kill in the middle.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

export INTERCOM_TOKEN=tok-test
FAKE_SCRIPT=$RX_TESTS/fake/intercom.py
export FAKE_SCRIPT
fake_start ic -- --token tok-test --read-token tok-read --rate 1666/1 &&
fake_start lag -- --token tok-test --search-lag 1 --rate 1666/1 &&
fake_start thr -- --token tok-test --throttle-first 2 --rate 1666/1 &&
fake_start lim -- --token tok-test --seed-count 1800 &&
fake_start cap -- --token tok-test --seed-count 600 --rate 100000/1 &&
fake_start page -- --token tok-test &&
fake_start kill -- --token tok-test || exit 1
ic () { rx-push --profile intercom-contacts --url "$(cat ic.url)" "$@"; }
seed () { # seed EMAIL [NAME] [?fresh=1]: a contact made outside rx; its id on stdout
	curl -sS -X POST "$(cat ic.url)/_seed${3:-}" -d "{\"email\":\"$1\",\"name\":\"${2:-x}\"}" | jq -r .id
}
contact () { fake_state ic | jq -c --arg id "$1" '.contacts[$id] | {email, name, external_id, custom_attributes}'; }

test_expect_success 'setup: a contact exists in Intercom already, made outside rx' '
	seed Cy@Example.com "Cy Old" >cy-id && test "$(wc -c <cy-id)" = 25 &&
	seed gone@example.com Gone >gone-id
'

test_expect_success 'upserts found by e-mail and updated, or created; refusals and deletes each as Intercom answers' '
	cat >changes.ndjson <<-EOF &&
	{"op":"upsert","key":"C1","hash":"h1","row":{"external_id":"C1","email":"ada@example.com","name":"Ada","plan":"pro","ltv":"12345678901234567890"}}
	{"op":"upsert","key":"C2","hash":"h2","row":{"external_id":"C2","email":"cy@example.com","name":"Cy","plan":"free"}}
	{"op":"upsert","key":"C3","hash":"h3","row":{"external_id":"C3","email":"not-an-email","name":"Bad"}}
	{"op":"update","key":"C4","hash":"h4","row":{"external_id":"C4","email":"nobody@example.com"}}
	{"op":"delete","key":"C5","hash":"h5","id":"$(cat gone-id)","row":{"email":"gone@example.com"}}
	{"op":"delete","key":"C6","hash":"h6","id":"0000000000000000000000ff","row":{"email":"never@example.com"}}
	{"op":"delete","key":"C7","hash":"h7","row":{"email":"cy@example.com"}}
	EOF
	rx-batch --profile intercom-contacts <changes.ndjson >batches &&
	test_expect_code 3 ic <batches >acks 2>err &&
	jq -r "[.key, .op, (.id // \"-\")] | @tsv" acks | sort >got &&
	grep -q "^C1	insert	[0-9a-f]\{24\}$" got &&
	grep -q "^C2	upsert	$(cat cy-id)$" got &&
	grep -q "^C5	delete	$(cat gone-id)$" got &&
	grep -q "^C6	delete	0000000000000000000000ff$" got &&
	test_lines 4 got &&
	dead err >got && printf "C3\nC4\nC7\n" >expect && test_cmp expect got &&
	test_grep "Intercom refused the contact: parameter_invalid: email is not a valid email" err &&
	test_grep "not found at the destination" err &&
	test_grep "not deleting a contact found by email" err &&
	contact "$(cat cy-id)" >got &&
	echo "{\"email\":\"cy@example.com\",\"name\":\"Cy\",\"external_id\":\"C2\",\"custom_attributes\":{\"plan\":\"free\"}}" >expect &&
	test_cmp expect got &&
	contact "$(grep "\"key\":\"C1\"" acks | jq -r .id)" >got &&
	echo "{\"email\":\"ada@example.com\",\"name\":\"Ada\",\"external_id\":\"C1\",\"custom_attributes\":{\"plan\":\"pro\",\"ltv\":\"12345678901234567890\"}}" >expect &&
	test_cmp expect got &&
	test "$(fake_count ic deletes)" = 1 &&
	test "$(fake_count ic violations)" = 0
'

test_expect_success 'the searches: one for the upserts, one for the update, one for the delete without id, none for deletes with one' '
	test "$(fake_count ic searches)" = 3 &&
	test "$(fake_count ic creates)" = 1 && test "$(fake_count ic updates)" = 1
'

test_expect_success 'two contacts of the role with the e-mail: a dead letter, not a guess' '
	seed twin@example.com A >/dev/null && seed TWIN@example.com B >/dev/null &&
	n=$(fake_count ic updates) &&
	echo "{\"op\":\"upsert\",\"key\":\"T1\",\"hash\":\"t\",\"row\":{\"email\":\"twin@example.com\"}}" >twin &&
	test_expect_code 3 ic <twin >acks 2>err &&
	test_must_be_empty acks && test_grep "2 Intercom contacts (role user) have this email: not guessing" err &&
	test "$(fake_count ic updates)" = "$n" && test "$(fake_count ic creates)" = 1
'

test_expect_success 'a contact made just now, not in the search yet: the create draws 409, a dead letter; re-driven, it is updated' '
	id=$(curl -sS -X POST "$(fake_url lag)/_seed?fresh=1" -d "{\"email\":\"new@example.com\",\"name\":\"Old\"}" | jq -r .id) &&
	echo "{\"op\":\"upsert\",\"key\":\"N1\",\"hash\":\"n\",\"row\":{\"external_id\":\"N1\",\"email\":\"new@example.com\",\"name\":\"New\"}}" >new &&
	test_expect_code 3 rx-push --profile intercom-contacts --url "$(fake_url lag)" <new >acks 2>dead.ndjson &&
	test_must_be_empty acks &&
	test_grep "Intercom already has a contact with these details (conflict: A contact matching those details already exists with id=$id); its search had not shown it yet: re-drive" dead.ndjson &&
	test "$(fake_count lag conflicts)" = 1 &&
	rx-push --profile intercom-contacts --url "$(fake_url lag)" <dead.ndjson >acks &&
	test "$(jq -r .id acks)" = "$id" &&
	test "$(fake_state lag | jq -r --arg id "$id" ".contacts[\$id].name")" = New &&
	test "$(fake_state lag | jq ".contacts | length")" = 1
'

test_expect_success '429 rate_limit_exceeded: waited for X-RateLimit-Reset, sent again, acked' '
	printf "{\"op\":\"insert\",\"key\":\"R%d\",\"hash\":\"r\",\"row\":{\"email\":\"r%d@example.com\"}}\n" 1 1 2 2 3 3 >three &&
	rx-push --profile intercom-contacts --url "$(fake_url thr)" <three >acks 2>stats &&
	test_lines 3 acks && test "$(fake_count thr throttled)" = 2 && test "$(fake_count thr creates)" = 3 &&
	test "$(fake_count thr conflicts)" = 0
'

test_expect_success 'at the documented 1,666 requests per 10 s: no 429, and at least 90% of the limit used' '
	awk "BEGIN { for (i = 1; i <= 1800; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"S%d\\\",\\\"hash\\\":\\\"h\\\",\\\"id\\\":\\\"%024x\\\",\\\"row\\\":{\\\"name\\\":\\\"N%d\\\"}}\n\", i, i, i }" >puts &&
	rx-push --profile intercom-contacts --url "$(fake_url lim)" --concurrency 32 <puts >acks &&
	test_lines 1800 acks &&
	fake_state lim >st &&
	used=$(jq ".max_in_window / 1666" st) &&
	echo "# $(jq .writes st) requests, $(jq "(.writes - 1) / (.last_at - .first_at) | floor" st) a second; at most $(jq .max_in_window st) in any 10 s: $used of the limit; $(jq .throttled st) answered 429" >lim.used &&
	cat lim.used &&
	test "$(jq .throttled st)" = 0 && test "$(jq .updates st)" = 1800 &&
	test "$(jq .max_in_window st)" -le 1666 &&
	if [ -n "${RX_TEST_CFLAGS:-}" ]; then
		echo "# a sanitizer build: the share of the limit is printed, not checked" >>lim.used
	elif ! awk -v f="$used" "BEGIN { exit !(f >= 0.9) }"; then
		# below 90%: only a machine too busy to go faster may excuse it
		head -n 600 puts >some &&
		rx-push --profile intercom-contacts --url "$(fake_url cap)" --concurrency 32 --rate 100000/1s <some >/dev/null &&
		cap=$(fake_state cap | jq "(.writes - 1) / (.last_at - .first_at) / 166.6") &&
		echo "# below 90%: unthrottled, this machine now reaches $cap of the limit" >>lim.used &&
		awk -v f="$used" -v c="$cap" "BEGIN { exit !(c < 1.1 && f >= 0.8 * c) }"
	fi
'
cat lim.used 2>/dev/null

test_expect_success 'a refused token (401) stops the run with exit 1, the token unshown' '
	test_expect_code 1 env INTERCOM_TOKEN=tok-wrong rx-push --profile intercom-contacts --url "$(cat ic.url)" <three >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 401" err && test_grep "unauthorized" err && ! grep -q tok-wrong err
'

test_expect_success 'a token without write permission (403) stops the run with exit 1' '
	test_expect_code 1 env INTERCOM_TOKEN=tok-read rx-push --profile intercom-contacts --url "$(cat ic.url)" <three >acks 2>err &&
	test_must_be_empty acks && test_grep "HTTP 403" err && test "$(fake_count ic forbidden)" -ge 1
'

test_expect_success '--test-connection: GET /me with the token' '
	rx-push --profile intercom-contacts --url "$(cat ic.url)" --test-connection >out &&
	test_grep "^ok: GET intercom-contacts answered HTTP 200" out &&
	test_expect_code 1 env INTERCOM_TOKEN=tok-wrong rx-push --profile intercom-contacts --url "$(cat ic.url)" --test-connection
'

test_expect_success 'intercom-contacts-archive archives by id instead; a 404 is acked' '
	id=$(seed arch@example.com A) &&
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"A1\",\"hash\":\"a\",\"id\":\"$id\",\"row\":{}}" \
		"{\"op\":\"delete\",\"key\":\"A2\",\"hash\":\"a\",\"id\":\"0000000000000000000000fe\",\"row\":{}}" >arch &&
	rx-push --profile intercom-contacts-archive --url "$(cat ic.url)" <arch >acks &&
	test_lines 2 acks &&
	fake_state ic | jq -r ".archived[]" >got && echo "$id" >expect && test_cmp expect got
'

# The example's model and what the fake holds, both as
# "external_id<TAB>{fields and custom attributes}" lines.
dest_examples 40
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/intercom.jq | rows_of - | python3 -c '
import json, sys
top = ("email", "name", "phone")
for line in sys.stdin:
    r = json.loads(line)
    out = {k: r.get(k) for k in top}
    out["custom_attributes"] = {k: v for k, v in r.items() if k not in top and k != "external_id"}
    print(r["external_id"] + "\t" + json.dumps(out, sort_keys=True))' | sort
}
held () {
	fake_state "$1" | python3 -c '
import json, sys
for c in json.load(sys.stdin)["contacts"].values():
    out = {k: c.get(k) for k in ("email", "name", "phone")}
    out["custom_attributes"] = c["custom_attributes"]
    print(c["external_id"] + "\t" + json.dumps(out, sort_keys=True))' | sort
}

test_expect_success 'the page command: Intercom holds the model, each contact once' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	dest_try intercom-contacts >try.sh && test_lines 1 try.sh &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got &&
	test "$(fake_count page creates)" = 40 && test "$(fake_count page violations)" = 0 &&
	test "$(sqlite3 examples/state/intercom.db "select count(*) from snapshot_row where id is not null")" = 40
'

test_expect_success 'a second run with changes and deletes: updated by id (a new e-mail too), deleted by id, equal to the model' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	id5=$(fake_state page | jq -r "[.contacts[] | select(.external_id == \"C00005\")][0].id") &&
	searches=$(fake_count page searches) &&
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\" WHERE id = \"C00005\";
		UPDATE customers SET plan_id = 4 WHERE id = \"C00007\";
		DELETE FROM customers WHERE id IN (\"C00011\", \"C00012\")" &&
	sh -e try.sh &&
	model >expect && held page >got && test_cmp expect got &&
	test "$(fake_state page | jq -r "[.contacts[] | select(.email == \"moved@example.com\")][0].id")" = "$id5" &&
	test "$(fake_count page deletes)" = 2 && test "$(fake_count page creates)" = 40 &&
	test "$(fake_count page searches)" = "$searches" &&
	test "$(fake_count page violations)" = 0 &&
	test_must_be_empty examples/state/intercom.dead-letters.ndjson
'

test_expect_success 'an unchanged rerun sends nothing' '
	FAKE_URL=$(cat page.url) && export FAKE_URL &&
	n=$(fake_count page requests) && sh -e try.sh && test "$(fake_count page requests)" = "$n"
'

cat >sync.sh <<'SH'
set -o pipefail
export RX_KILL_AT=${1:-}
rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql \
| rx-map -f examples/mappings/intercom.jq \
| rx-diff --state kill.db --key external_id --mode mirror --profile intercom-contacts \
| rx-batch --profile intercom-contacts \
| rx-push --profile intercom-contacts --url "$(cat kill.url)" 2>>kill.err \
| rx-diff --state kill.db --commit
SH

test_expect_success 'killed after its 6th request, a normal run finds the unacked contacts and creates the rest, each once' '
	{ bash sync.sh rx-push:sent:6; test $? != 0; } && test_grep "killed at sent" kill.err &&
	made=$(fake_count kill creates) && test "$made" -ge 4 &&
	bash sync.sh &&
	model >expect && held kill >got && test_cmp expect got &&
	test "$(fake_count kill creates)" = "$(wc -l <expect)" &&
	test "$(fake_count kill conflicts)" = 0 && test "$(fake_count kill violations)" = 0
'

test_done
