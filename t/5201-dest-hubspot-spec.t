#!/bin/sh
# The HubSpot profiles against HubSpot's own OpenAPI document (Stoplight
# Prism, via t/lib-prism.sh): every request rx-push builds for them -- the
# lookup (batch/read), create, update, archive and the test read -- must
# validate, for awkward rows (unicode, numbers too big for a double as
# strings, nulls, empty strings, nested values, a batch at HubSpot's limit
# of 100).  The spec is the contacts one; companies, deals and custom
# objects share its batch schemas, so their profiles are checked with
# their object pointed at contacts.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-prism.sh"
. "$RX_TESTS/lib-crm.sh"

prism_start hubspot-contacts.json || exit 1
export HUBSPOT_TOKEN=pat-na1-conformance

mkdir -p p &&
for name in companies deals objects; do
	jq '.vars.object = "contacts"' "$RX_SHARE/destinations/hubspot-$name.json" >p/hubspot-$name.json || exit 1
done

# awkward rows for a profile whose match property is $1
awkward () {
	m=$1
	change upsert A1 "{\"$m\":\"zoë.ünal@example.com\",\"firstname\":\"Zoë 李 Иванова 🚀\",\"lifetime_value\":\"12345678901234567890\"}"
	change upsert A2 "{\"$m\":\"a2@example.com\",\"firstname\":null,\"lastname\":\"\",\"orders\":12,\"ltv\":812.5,\"vip\":true}"
	change upsert A3 "{\"$m\":\"a3@example.com\",\"tags\":[\"a\",\"b\"],\"address\":{\"city\":\"Zürich\"}}"
	change upsert A4 "{\"$m\":null,\"firstname\":\"no match value: created\"}"
	change update A5 "{\"$m\":\"a5@example.com\",\"firstname\":\"by id\",\"score\":0.1234567890123456}" 4418806601
	change upsert A6 "{\"$m\":\"\",\"firstname\":\"empty match value\"}" 4418806602
	change delete A7 "{\"$m\":\"a7@example.com\"}" 4418806603
	change delete A8 "{\"$m\":\"a8@example.com\"}"
}

# every op of one profile, then a batch of 100 of each
check_profile () { # PROFILE MATCH
	awkward "$2" | rx-batch --size 100 >in &&
	{ rx-push --profile "$1" --url "$PRISM_URL" --rate 50/s <in >acks 2>err; test $? -le 3; } &&
	log=$(bash "$RX_CONFORMANCE/run.sh" log hubspot-contacts) &&
	for op in read create update archive; do
		test "$(grep -c "post /crm/v3/objects/contacts/batch/$op .*Request received" "$log")" -gt "$(cat n.$op 2>/dev/null || echo 0)" ||
			{ echo "no batch/$op request"; return 1; }
		grep -c "post /crm/v3/objects/contacts/batch/$op .*Request received" "$log" >n.$op
	done &&
	{ for i in $(seq 100); do change upsert "B$i" "{\"$2\":\"b$i@example.com\",\"n\":\"$i\"}"; done
	  for i in $(seq 100); do change update "U$i" "{\"$2\":\"u$i@example.com\",\"n\":null}" "44188$i"; done
	  for i in $(seq 100); do change delete "D$i" "{\"$2\":\"d$i@example.com\"}" "44189$i"; done; } |
		rx-batch --size 100 >big &&
	{ rx-push --profile "$1" --url "$PRISM_URL" --rate 50/s <big >acks 2>err; test $? -le 3; } &&
	rx-push --profile "$1" --dry-run <big >dry &&
	test "$(jq "select(.url | test(\"batch/(read|update|archive)$\")) | .body.inputs | length" dry | sort -u)" = 100 &&
	rx-push --profile "$1" --url "$PRISM_URL" --test-connection >out &&
	prism_clean hubspot-contacts
}

test_expect_success 'hubspot-contacts: lookup, create, update, archive, test: every request validates' '
	check_profile hubspot-contacts email
'

for name in companies:domain deals:rx_deal_id objects:rx_id; do
	test_expect_success "hubspot-${name%%:*} (its object pointed at contacts): every request validates" "
		check_profile ./p/hubspot-${name%%:*}.json ${name#*:}
	"
done

test_expect_success 'the bodies are what HubSpot documents: values as strings, create with associations' '
	awkward email | rx-batch --size 100 | rx-push --profile hubspot-contacts --dry-run >dry &&
	jq -c "select(.url | endswith(\"batch/read\")) | .body" dry >read &&
	{ echo "{\"idProperty\":\"email\",\"properties\":[\"email\"],\"propertiesWithHistory\":[],\"inputs\":[{\"id\":\"a2@example.com\"},{\"id\":\"a3@example.com\"},{\"id\":\"zoë.ünal@example.com\"}]}" &&
	  echo "{\"idProperty\":\"email\",\"properties\":[\"email\"],\"propertiesWithHistory\":[],\"inputs\":[{\"id\":\"a8@example.com\"}]}"; } >expect &&
	test_cmp expect read &&
	jq -c "select(.url | endswith(\"batch/update\")) | .body.inputs[] | .properties" dry >update &&
	echo "{\"email\":\"a5@example.com\",\"firstname\":\"by id\",\"score\":\"0.1234567890123456\"}" >expect &&
	head -1 update >got && test_cmp expect got &&
	jq -c "select(.url | endswith(\"batch/archive\")) | .body" dry >archive &&
	echo "{\"inputs\":[{\"id\":\"4418806603\"}]}" >expect && test_cmp expect archive
'

test_done
