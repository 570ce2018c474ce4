#!/bin/sh
# The pipedrive-persons profile (API v2, one person a request, written by
# Pipedrive id, found by an exact e-mail search when rx has no id) against
# the Pipedrive fake (t/fake/crm.py --vendor pipedrive): whole syncs with
# changes, deletes and kills equal the model, a refused person, 429 with
# x-ratelimit-*, a refused token, deletes by the id learnt.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-crm.sh"

FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start pd -- --vendor pipedrive --token pd-test || exit 1
export PIPEDRIVE_TOKEN=pd-test
CRM_URL=$(fake_url pd) CRM_FAKE=pd CRM_PROFILE=pipedrive-persons CRM_PUSH="--rate 500/1s"
# Pipedrive has no key of its own to match on: a person without an e-mail
# could be created twice after a crash, so every model row has one here
CRM_KEY=_rx_id
CRM_MAP='{_rx_id: .id, name, email: (.email // "\(.id | ascii_downcase)@no-email.example"), custom_fields: {rx_id: .id, plan}}'
crm_dest () { fake_state pd | jq -r '.records[] | .row | [.custom_fields.rx_id, .name, .emails[0].value, .custom_fields.plan] | @tsv' | sort; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, coalesce(email, lower(id) || '@no-email.example'), plan from c order by id"; }
crm_ids () { fake_state pd | jq -r '.records[] | [.row.custom_fields.rx_id, .id] | @tsv' | sort; }

test_expect_success 'setup: a person made outside rx, with the e-mail of C003' '
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"key\":\"u3@example.com\",\"row\":{\"name\":\"Old\",\"emails\":[{\"value\":\"u3@example.com\"}]}}" |
		jq -r .id >p3-id
'
crm_suite s.db
test_expect_success 'the person made outside rx was found by e-mail and updated: same id, no duplicate' '
	test "$(crm_ids | awk -F"\t" "\$1 == \"C003\" { print \$2 }")" = "$(cat p3-id)" &&
	test "$(fake_count pd violations)" = 0
'

push () { rx-push --profile pipedrive-persons --url "$CRM_URL" --retry-base 10 "$@" >acks 2>err; }

test_expect_success 'a person Pipedrive refuses is a dead letter with its error; the others are written' '
	{ change upsert P1 "{\"name\":\"One\",\"email\":\"p1@example.com\"}" &&
	  change upsert P2 "{\"name\":\"Two\",\"email\":\"not-an-email\"}" &&
	  change upsert P3 "{\"name\":\"Three\",\"email\":\"p3@example.com\"}"; } >in &&
	test_expect_code 3 push <in &&
	acked acks >keys && printf "P1\nP3\n" >expect && test_cmp expect keys &&
	grep "^{" err >dead && test_lines 1 dead &&
	test "$(jq -r .key dead)" = P2 &&
	test "$(jq -r .error.message dead)" = "'"'"'not-an-email'"'"' is not a valid email address"
'

test_expect_success 'two persons with the e-mail: a dead letter, not a guess' '
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"key\":\"Twin@example.com\",\"row\":{\"name\":\"A\",\"emails\":[{\"value\":\"twin@example.com\"}]}}" >/dev/null &&
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"key\":\"twin@example.com\",\"row\":{\"name\":\"B\",\"emails\":[{\"value\":\"twin@example.com\"}]}}" >/dev/null &&
	{ change upsert T1 "{\"name\":\"Twin\",\"email\":\"twin@example.com\"}" | push; test $? = 3; } &&
	test_grep "2 Pipedrive persons have this e-mail" err
'

test_expect_success 'throttled: 429 with x-ratelimit-reset is waited out, nothing lost' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start thr -- --vendor pipedrive --token pd-test --throttle-first 3 &&
	for i in 1 2 3 4; do change upsert T$i "{\"name\":\"T$i\",\"email\":\"t$i@example.com\"}"; done >in &&
	rx-push --profile pipedrive-persons --url "$(fake_url thr)" --stats stats.json <in >acks 2>err &&
	test "$(acked acks | wc -l)" = 4 &&
	test "$(fake_count thr throttled)" = 3 &&
	test "$(jq .throttled stats.json)" = 3 &&
	test "$(fake_state thr | jq ".records | length")" = 4
'

test_expect_success 'a refused token: exit 1, Pipedrive'"'"'s message, the token in no output' '
	change upsert A1 "{\"name\":\"A\",\"email\":\"a1@example.com\"}" >in &&
	{ PIPEDRIVE_TOKEN=wrong-secret-token push <in; test $? = 1; } &&
	test_grep "unauthorized access" err &&
	test_must_be_empty acks &&
	! grep -q wrong-secret-token acks err
'

test_expect_success 'a delete by the id learnt on an earlier run: DELETE /persons/ID' '
	crm_ids | grep "^C" | head -1 >one && key=$(cut -f1 one) id=$(cut -f2 one) &&
	change delete "$key" "{}" "$id" >in &&
	rx-push --profile pipedrive-persons --url "$CRM_URL" --dry-run <in >dry &&
	test "$(jq -r "[.method, .url] | @tsv" dry)" = "DELETE	$CRM_URL/api/v2/persons/$id" &&
	push <in && test "$(acked acks)" = "$key" &&
	test -z "$(crm_ids | grep "^$key	")"
'

test_expect_success 'a delete with no id that the search does not find is acked as gone, never sent' '
	requests=$(fake_count pd requests) &&
	change delete X9 "{\"email\":\"nobody@example.com\"}" | push &&
	change delete X8 "{\"email\":null}" | push &&
	test "$(fake_count pd requests)" = $((requests + 1)) &&
	test "$(fake_count pd violations)" = 0
'

test_expect_success '--test-connection lists one person with the token' '
	rx-push --profile pipedrive-persons --url "$CRM_URL" --test-connection >out &&
	grep "^ok: GET pipedrive-persons answered HTTP 200" out
'

test_expect_success 'the command on the page syncs into the fake' '
	FAKE_SCRIPT=$RX_TESTS/fake/crm.py fake_start try -- --vendor pipedrive --token pd-... &&
	PIPEDRIVE_URL=$(fake_url try) crm_try pipedrive-persons >out 2>err || { cat err; false; } &&
	test "$(fake_state try | jq ".records | length")" = 40 &&
	test "$(fake_count try violations)" = 0 &&
	! grep -q "^{" top/examples/state/pipedrive.dead-letters.ndjson
'

test_done
