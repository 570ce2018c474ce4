#!/bin/sh
# HubSpot beyond contacts: the hubspot-companies (matched by domain),
# hubspot-deals (by a unique property of the user's, rx_deal_id) and
# hubspot-objects (a custom object by its type id) profiles against the
# HubSpot fake (t/fake/hubspot.py): whole syncs with changes, deletes and
# kills equal the model, partial failures in HubSpot's 207 shape,
# throttles, the daily quota, a refused token, deletes by the id learnt.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"
. "$RX_TESTS/lib-crm.sh"

FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start hs -- --token pat-test --rate 1000/1 || exit 1
export HUBSPOT_TOKEN=pat-test
CRM_URL=$(fake_url hs) CRM_FAKE=hs

# hubspot-objects with an object type of the user's, as its page says
mkdir -p p && jq '.vars.object = "2-12345"' "$RX_SHARE/destinations/hubspot-objects.json" >p/hubspot-tickets.json || exit 1

# live HubSpot records of TYPE: the properties PROPS, tab-separated, sorted
hs_live () { # TYPE PROP...
	t=$1
	shift
	fake_state hs | jq -r --arg t "$t" --args '.objects[$t] // {} | to_entries[] | select(.value.archived | not)
		| [.value.properties[$ARGS.positional[]] // ""] | @tsv' "$@" | sort
}
hs_ids () { # TYPE KEYPROP
	fake_state hs | jq -r --arg t "$1" --arg k "$2" '.objects[$t] // {} | to_entries[] | select(.value.archived | not)
		| [.value.properties[$k], .key] | @tsv' | sort
}

# companies -----------------------------------------------------------
CRM_PROFILE=hubspot-companies CRM_KEY=rx_company_id
CRM_MAP='{rx_company_id: .id, domain, name, plan}'
crm_dest () { hs_live companies rx_company_id domain name plan; }
crm_model () { sqlite3 -separator "	" w.db "select id, domain, name, plan from c order by id"; }
crm_ids () { hs_ids companies rx_company_id; }

test_expect_success 'hubspot-companies: a company made outside rx is found by its domain, updated, not duplicated' '
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"type\":\"companies\",\"properties\":{\"domain\":\"co3.example.com\",\"name\":\"Old\"}}" >seed &&
	jq -r .id seed >co3-id
'
crm_suite s-co.db
test_expect_success 'hubspot-companies: the company made outside rx kept its id, lookups by domain in batches' '
	test "$(hs_ids companies rx_company_id | awk -F"\t" "\$1 == \"C003\" { print \$2 }")" = "$(cat co3-id)" &&
	test "$(fake_count hs violations)" = 0
'

# deals ---------------------------------------------------------------
CRM_PROFILE=hubspot-deals CRM_KEY=rx_deal_id
CRM_MAP='{rx_deal_id: .id, dealname: .name, amount, pipeline: "default", dealstage: .plan}'
crm_dest () { hs_live deals rx_deal_id dealname amount dealstage; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, amount, plan from c order by id"; }
crm_ids () { hs_ids deals rx_deal_id; }
CRM_KILLS="rx-push:lookup:1 rx-push:replied:1" crm_suite s-deal.db
test_expect_success 'hubspot-deals: a big amount arrives as its exact digits, a string' '
	hs_live deals rx_deal_id amount | grep "^C014	12345678901234567890$"
'

# a custom object, by its type id --------------------------------------
CRM_PROFILE=./p/hubspot-tickets.json CRM_KEY=rx_id
CRM_MAP='{rx_id: .id, name, plan}'
crm_dest () { hs_live 2-12345 rx_id name plan; }
crm_model () { sqlite3 -separator "	" w.db "select id, name, plan from c order by id"; }
crm_ids () { hs_ids 2-12345 rx_id; }
CRM_KILLS="rx-push:sent:1 rx-diff:commit:1" crm_suite s-obj.db
test_expect_success 'hubspot-objects: requests go to the type named, never to another' '
	test "$(fake_state hs | jq "[.objects | keys[]] | sort | join(\",\")" -r)" = "2-12345,companies,deals" &&
	test "$(fake_count hs violations)" = 0
'

# one run of rx-push on changes, into the fake
push () { # PROFILE [OPTIONS]: changes on stdin, acks in acks, dead letters in err
	profile=$1
	shift
	rx-push --profile "$profile" --url "$CRM_URL" --retry-base 10 "$@" >acks 2>err
}

test_expect_success 'partial failure: a bad domain is a dead letter with HubSpot'"'"'s message, the rest acked with ids' '
	{ change upsert P1 "{\"domain\":\"p1.example.com\",\"name\":\"P1\"}" &&
	  change upsert P2 "{\"domain\":\"not a domain\",\"name\":\"P2\"}" &&
	  change upsert P3 "{\"domain\":\"p3.example.com\",\"name\":\"P3\"}"; } | rx-batch --size 3 >in &&
	test_expect_code 3 push hubspot-companies <in &&
	acked acks >keys && printf "P1\nP3\n" >expect && test_cmp expect keys &&
	test "$(jq -r "select(.id != null) | .key" acks | wc -l)" = 2 &&
	grep "^{" err >dead && test_lines 1 dead &&
	test "$(jq -r .key dead)" = P2 &&
	test "$(jq -r .error.status dead)" = 207 &&
	jq -r .error.message dead | grep "is not a valid domain"
'

seed_company () { # DOMAIN NAME: a company made outside rx; its id on stdout
	curl -sS -X POST "$CRM_URL/_seed" -d "{\"type\":\"companies\",\"properties\":{\"domain\":\"$1\",\"name\":\"$2\"}}" | jq -r .id
}

test_expect_success 'two companies of one domain: a dead letter naming both, neither updated nor archived, no guess' '
	a=$(seed_company twin.example.com "Twin A") && b=$(seed_company TWIN.example.com "Twin B") &&
	updates=$(fake_count hs updates) archives=$(fake_count hs archives) &&
	{ change upsert T1 "{\"domain\":\"twin.example.com\",\"name\":\"T1\"}" &&
	  change upsert T2 "{\"domain\":\"t2.example.com\",\"name\":\"T2\"}" &&
	  change delete T3 "{\"domain\":\"Twin.example.com\"}"; } | rx-batch --size 3 >in &&
	test_expect_code 3 push hubspot-companies <in &&
	test "$(acked acks)" = T2 &&
	grep "^{" err >dead && test_lines 2 dead &&
	test "$(jq -r .key dead | sort | tr "\n" " ")" = "T1 T3 " &&
	jq -r .error.message dead | grep "2 HubSpot companies have the domain twin.example.com (ids $a, $b)" &&
	test "$(fake_count hs updates)" = "$updates" && test "$(fake_count hs archives)" = "$archives" &&
	test "$(fake_state hs | jq -r "[.objects.companies[\"$a\", \"$b\"] | .properties.name] | join(\",\")")" = "Twin A,Twin B" &&
	test "$(fake_state hs | jq "[.objects.companies[] | select(.properties.name == \"T1\")] | length")" = 0
'

test_expect_success 'a search with more results than its page decides nothing: every record of it a dead letter' '
	i=0 && while [ $i -lt 201 ]; do seed_company many.example.com "Many $i" >/dev/null || return 1; i=$((i + 1)); done &&
	creates=$(fake_count hs creates) &&
	{ change upsert M1 "{\"domain\":\"many.example.com\",\"name\":\"M1\"}" &&
	  change upsert M2 "{\"domain\":\"m2.example.com\",\"name\":\"M2\"}"; } | rx-batch --size 2 >in &&
	test_expect_code 3 push hubspot-companies <in &&
	test_must_be_empty acks &&
	grep "^{" err >dead && test_lines 2 dead &&
	jq -r .error.message dead | sort -u >msgs && test_lines 1 msgs &&
	test_grep "found 201 companies for this batch.s domain values, more than its page of 200" msgs &&
	test "$(fake_count hs creates)" = "$creates" &&
	test "$(fake_count hs violations)" = 0
'

test_expect_success 'lookups keep to the search limit (5 a second) on their own: no 429 where unpaced ones draw them' '
	awk "BEGIN { for (i = 1; i <= 1500; i++) printf \"{\\\"op\\\":\\\"upsert\\\",\\\"key\\\":\\\"S%d\\\",\\\"hash\\\":\\\"h\\\",\\\"row\\\":{\\\"domain\\\":\\\"s%d.example.org\\\",\\\"name\\\":\\\"S%d\\\"}}\\n\", i, i, i }" |
		rx-batch --size 100 >many &&
	FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start srch -- --token pat-test --rate 1000/1 &&
	rx-push --profile hubspot-companies --url "$(fake_url srch)" -c 8 <many >acks 2>err &&
	test_lines 1500 acks &&
	test "$(fake_count srch searches)" = 15 && test "$(fake_count srch search_throttled)" = 0 &&
	jq "del(.identity.lookup.rate_limits)" "$RX_SHARE/destinations/hubspot-companies.json" >unpaced.json &&
	FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start srch2 -- --token pat-test --rate 1000/1 &&
	rx-push --profile ./unpaced.json --url "$(fake_url srch2)" -c 8 <many >acks2 2>err2 &&
	test_lines 1500 acks2 &&
	test "$(fake_count srch2 search_throttled)" -gt 0
'

test_expect_success 'partial failure on update by id: the deal HubSpot refuses is named by its id' '
	id=$(hs_ids deals rx_deal_id | awk -F"\t" "\$1 == \"C002\" { print \$2 }") &&
	{ change update C002 "{\"rx_deal_id\":\"C002\",\"amount\":\"lots\"}" "$id" &&
	  change update C004 "{\"rx_deal_id\":\"C004\",\"amount\":\"7\"}" ; } | rx-batch --size 2 >in &&
	test_expect_code 3 push hubspot-deals <in &&
	test "$(acked acks)" = C004 &&
	grep "^{" err | jq -r .error.message | grep "is not a valid number"
'

test_expect_success 'throttled: 429 SECONDLY is waited out and retried, nothing lost' '
	FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start thr -- --token pat-test --throttle-first 2 &&
	for i in 1 2 3 4 5; do change upsert T$i "{\"domain\":\"t$i.example.com\"}"; done | rx-batch --size 2 >in &&
	rx-push --profile hubspot-companies --url "$(fake_url thr)" --stats stats.json <in >acks 2>err &&
	test "$(acked acks | wc -l)" = 5 &&
	test "$(fake_count thr throttled)" = 2 &&
	test "$(jq .throttled stats.json)" = 2 &&
	test "$(fake_state thr | jq "[.objects.companies[]] | length")" = 5
'

test_expect_success 'the daily quota (429 DAILY) stops the run: exit 75, the rest unacked' '
	FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start day -- --token pat-test --daily 2 &&
	for i in 1 2 3 4 5 6; do change upsert D$i "{\"domain\":\"d$i.example.com\"}"; done | rx-batch --size 1 >in &&
	{ rx-push --profile hubspot-companies --url "$(fake_url day)" -c 1 <in >acks 2>err; test $? = 75; } &&
	test_grep "quota" err &&
	test "$(wc -l <acks)" -le 2
'

test_expect_success 'a refused token: exit 1, HubSpot'"'"'s message, the token in no output' '
	change upsert A1 "{\"domain\":\"a1.example.com\"}" >in &&
	{ HUBSPOT_TOKEN=wrong-secret-token push hubspot-deals <in; test $? = 1; } &&
	test_grep "refused the credentials" err &&
	test_grep "Authentication credentials not found" err &&
	test_must_be_empty acks &&
	! grep -q wrong-secret-token acks err
'

test_expect_success 'a delete by the id learnt on an earlier run is an archive of that id' '
	hs_ids companies rx_company_id | grep "^C0" | head -1 >one && key=$(cut -f1 one) id=$(cut -f2 one) &&
	test -n "$id" &&
	change delete "$key" "{\"domain\":\"x.example.com\"}" "$id" | push hubspot-companies &&
	test "$(acked acks)" = "$key" &&
	test -z "$(hs_ids companies rx_company_id | grep "^$key	")" &&
	test "$(fake_state hs | jq -r ".objects.companies[\"$id\"].archived")" = true
'

test_expect_success 'a delete with no id that the lookup does not find is acked as gone, never sent with a null' '
	archives=$(fake_count hs archives) &&
	change delete X9 "{\"rx_deal_id\":\"nobody\"}" | push hubspot-deals &&
	test "$(acked acks)" = X9 &&
	test "$(fake_count hs archives)" = "$archives" &&
	test "$(fake_count hs violations)" = 0
'

test_expect_success '--test-connection: each profile reads one record of its object' '
	for p in hubspot-companies hubspot-deals ./p/hubspot-tickets.json; do
		rx-push --profile $p --url "$CRM_URL" --test-connection >out || return 1
		grep "^ok: GET .* answered HTTP 200" out || return 1
	done
'

test_expect_success 'the commands on the pages sync into the fake: deals, companies, a custom object' '
	FAKE_SCRIPT=$RX_TESTS/fake/hubspot.py fake_start try -- --token pat-na1-... --rate 1000/1 &&
	export HUBSPOT_URL=$(fake_url try) &&
	crm_try hubspot-deals >out 2>err &&
	test_grep "^{\"\$rx\":\"request\",\"method\":\"POST\",\"url\":\"http://127.0.0.1:[0-9]*/crm/v3/objects/deals/batch/read\"" out &&
	n=$(sqlite3 top/examples/warehouse.db <"$RX_TOP/examples/models/deals.sql" | wc -l) &&
	test "$(fake_state try | jq "[.objects.deals[] | select(.archived | not)] | length")" = "$n" &&
	crm_try hubspot-companies >out 2>err &&
	test "$(fake_state try | jq "[.objects.companies[] | select(.archived | not)] | length")" = 8 &&
	crm_try hubspot-objects >out 2>err &&
	test "$(fake_state try | jq "[.objects[\"2-12345\"][] | select(.archived | not)] | length")" = "$n" &&
	test "$(fake_count try violations)" = 0 &&
	! grep -q "^{" top/examples/state/*.dead-letters.ndjson
'

test_done
