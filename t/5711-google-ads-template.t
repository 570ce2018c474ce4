#!/bin/sh
# google-ads-customer-match's bodies are templates (built in C); they were
# jq programs, kept here as the reference (gads_create_body, gads_add_body
# of share/rx/jq/googleads.jq before the change).  On the rows both take,
# the dry-run bodies are the same; the rows where they differ are named,
# one test each.  Also: a batch the write's body refuses makes no job at
# all, since the write's body is built before the job's create.
. "$(dirname "$0")/lib.sh"

export GOOGLE_ADS_CUSTOMER_ID=1234567890 GOOGLE_ADS_USER_LIST_ID=555 GOOGLE_ADS_DEVELOPER_TOKEN=dev-test \
	GOOGLE_ADS_CLIENT_ID=c GOOGLE_ADS_CLIENT_SECRET=s GOOGLE_ADS_REFRESH_TOKEN=r

cat >oldgads.jq <<'JQ'
def _gads_hashed: ["hashedEmail", "hashedPhoneNumber", "hashedFirstName", "hashedLastName"];
def gads_check:
  if ([.records[].row // {} | .[_gads_hashed[]] // empty | tostring] | add // "" | test("^(?:[0-9a-f]{64})*$")) then .
  else
    first(.records[] as $rec | _gads_hashed[] as $k | ($rec.row[$k] // null) as $v
          | select($v != null and (($v | type) != "string" or ($v | test("^[0-9a-f]{64}$") | not)))
          | "\($k) of \($rec.key | tojson)") as $bad
    | error("\($bad) is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash), Google takes no raw identifiers")
  end;
def _gads_consent($vars):
  ({} + (if ($vars.consent_ad_user_data // "") != "" then {adUserData: $vars.consent_ad_user_data} else {} end)
      + (if ($vars.consent_ad_personalization // "") != "" then {adPersonalization: $vars.consent_ad_personalization} else {} end))
  | if . == {} then {} else {consent: .} end;
def gads_create_body($vars):
  gads_check
  | {job: {type: "CUSTOMER_MATCH_USER_LIST",
         customerMatchUserListMetadata: ({userList: "customers/\($vars.customer_id)/userLists/\($vars.user_list_id)"}
                                         + _gads_consent($vars))}};
def gads_identifiers:
  (.row // {}) as $r
  | [if $r.hashedEmail != null then {hashedEmail: $r.hashedEmail} else empty end,
     if $r.hashedPhoneNumber != null then {hashedPhoneNumber: $r.hashedPhoneNumber} else empty end,
     if $r.hashedFirstName != null and $r.hashedLastName != null and $r.countryCode != null and $r.postalCode != null then
       {addressInfo: {hashedFirstName: $r.hashedFirstName, hashedLastName: $r.hashedLastName,
                      countryCode: ($r.countryCode | tostring | ascii_upcase), postalCode: ($r.postalCode | tostring)}}
     else empty end,
     if $r.mobileId != null then {mobileId: ($r.mobileId | tostring)} else empty end,
     if $r.thirdPartyUserId != null then {thirdPartyUserId: ($r.thirdPartyUserId | tostring)} else empty end];
def gads_add_body:
  gads_check
  | (if .op == "delete" then "remove" else "create" end) as $verb
  | {enablePartialFailure: true,
     operations: [.records[] | {($verb): {userIdentifiers: gads_identifiers}}]};
JQ
# the shipped profile with the old programs: bodies by jq
mkdir -p old/destinations old/jq &&
cp "$RX_SHARE"/jq/*.jq old/jq/ &&
cat oldgads.jq >>old/jq/googleads.jq &&
jq '(.ops[] | .template) |= null | (.ops[] | .job.create.template) |= null
    | .ops["*"].body = "gads_add_body" | .ops.delete.body = "gads_add_body"
    | (.ops[] | .job.create.body) = "gads_create_body($vars)"
    | (.ops[] | .template, .job.create.template) |= empty' \
	"$RX_SHARE/destinations/google-ads-customer-match.json" >old/destinations/google-ads-customer-match.json || exit 1

h () { printf %s "$1" | sha256sum | cut -c1-64; }
A=$(h a) B=$(h b) C=$(h c) D=$(h d)
ga_bodies () { # RX_SHARE, then the changes on stdin: each request's body, a line each
	RX_SHARE=$1 rx-push --profile google-ads-customer-match --dry-run 2>"$2" | jq -c .body
}

test_expect_success 'the jq reference is the old profile (it refuses templates and bodies together)' '
	RX_SHARE=$PWD/old rx-push --profile google-ads-customer-match --check-profile >out 2>&1 &&
	test_grep "0 errors" out && jq -e ".ops[\"*\"].body == \"gads_add_body\"" old/destinations/google-ads-customer-match.json
'

cat >same.ndjson <<IN
{"op":"upsert","records":[{"op":"upsert","key":"K1","hash":"h","row":{"hashedEmail":"$A","hashedPhoneNumber":"$B","plan":"pro"}},{"op":"upsert","key":"K2","hash":"h","row":{"hashedFirstName":"$C","hashedLastName":"$D","countryCode":"de","postalCode":10115}},{"op":"upsert","key":"K3","hash":"h","row":{"mobileId":"ab-12","thirdPartyUserId":42,"hashedEmail":null}},{"op":"upsert","key":"K4","hash":"h","row":{"hashedFirstName":"$C","countryCode":"fr"}},{"op":"upsert","key":"K5","hash":"h","row":{}},{"op":"upsert","key":"K6","hash":"h","row":{"mobileId":false,"thirdPartyUserId":"caf\u00e9 \"x\"","countryCode":"gb","postalCode":"sw1a 1aa","hashedFirstName":"$A","hashedLastName":"$B"}},{"op":"upsert","key":"K7","hash":"h"}]}
{"op":"delete","records":[{"op":"delete","key":"K8","hash":"h","row":{"hashedEmail":"$A"}},{"op":"delete","key":"K9","hash":"h","row":{"hashedPhoneNumber":"$C","mobileId":7}}]}
IN

test_expect_success 'the create and the write: the same bodies as the jq programs, consent or none' '
	ga_bodies "$RX_SHARE" err.new <same.ndjson >new.out &&
	ga_bodies "$PWD/old" err.old <same.ndjson >old.out &&
	test_lines 4 new.out && test_cmp old.out new.out &&
	GOOGLE_ADS_CONSENT_AD_USER_DATA=GRANTED GOOGLE_ADS_CONSENT_AD_PERSONALIZATION=DENIED ga_bodies "$RX_SHARE" e <same.ndjson >new.out &&
	GOOGLE_ADS_CONSENT_AD_USER_DATA=GRANTED GOOGLE_ADS_CONSENT_AD_PERSONALIZATION=DENIED ga_bodies "$PWD/old" e <same.ndjson >old.out &&
	test_cmp old.out new.out && test_grep "\"consent\":{\"adUserData\":\"GRANTED\",\"adPersonalization\":\"DENIED\"}" new.out &&
	GOOGLE_ADS_CONSENT_AD_PERSONALIZATION=GRANTED ga_bodies "$RX_SHARE" e <same.ndjson >new.out &&
	GOOGLE_ADS_CONSENT_AD_PERSONALIZATION=GRANTED ga_bodies "$PWD/old" e <same.ndjson >old.out &&
	test_cmp old.out new.out && test_grep "\"consent\":{\"adPersonalization\":\"GRANTED\"}" new.out
'

test_expect_success 'a dry run shows the write after the create, its path naming {job}' '
	RX_SHARE=$RX_SHARE rx-push --profile google-ads-customer-match --dry-run <same.ndjson | jq -r .url >urls &&
	test_lines 4 urls &&
	sed -n 2p urls | grep "/offlineUserDataJobs/%7Bjob%7D:addOperations$" &&
	sed -n 1p urls | grep "/offlineUserDataJobs:create$"
'

refusal () { # ROW-JSON: the dead letter's message, by the new profile and by the old
	printf "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"h\",\"row\":{\"hashedEmail\":\"$A\"}}\n{\"op\":\"upsert\",\"key\":\"K2\",\"hash\":\"h\",\"row\":%s}\n" "$1" >r.ndjson
	RX_SHARE=$RX_SHARE rx-push --profile google-ads-customer-match --dry-run <r.ndjson >r.out 2>r.err
	jq -r "select(.error) | .key + \": \" + .error.message" r.err | sort >new.msg
	RX_SHARE=$PWD/old rx-push --profile google-ads-customer-match --dry-run <r.ndjson >r.oout 2>r.oerr
	jq -r "select(.error) | .key + \": \" + .error.message" r.oerr | sort >old.msg
}

test_expect_success 'a value that is not a SHA-256: its record refused (jq refused the request), the others sent' '
	for row in "{\"hashedEmail\":\"ada@example.com\"}" "{\"hashedPhoneNumber\":\"$(printf %s "$A" | tr a-f A-F)\"}" \
		"{\"hashedFirstName\":\"Ada\",\"hashedLastName\":\"$B\",\"countryCode\":\"DE\",\"postalCode\":\"1\"}" \
		"{\"hashedEmail\":\"${A}0\"}" "{\"hashedEmail\":[\"$A\"]}"; do
		refusal "$row" &&
		test_lines 1 new.msg && test_lines 2 old.msg && grep "^K2: " old.msg >old.k2 && test_cmp old.k2 new.msg &&
		test_must_be_empty r.oout && test_lines 2 r.out &&
		jq -c "select(.body.operations) | .body.operations" r.out >ops &&
		echo "[{\"create\":{\"userIdentifiers\":[{\"hashedEmail\":\"$A\"}]}}]" >expect &&
		test_cmp expect ops || { echo "row: $row"; cat new.msg old.msg; return 1; }
	done &&
	grep -q "^K2: hashed.* of \"K2\" is not a SHA-256 hex digest: hash it in the mapping" new.msg'

test_expect_success 'differences: "" and false are refused (jq sent them); an unsent address part is not checked (jq refused)' '
	refusal "{\"hashedEmail\":\"\"}" &&
	test_lines 1 new.msg && test_must_be_empty old.msg &&
	refusal "{\"hashedPhoneNumber\":false}" &&
	test_lines 1 new.msg && test_must_be_empty old.msg && test_grep "\"hashedPhoneNumber\":false" r.oout &&
	refusal "{\"hashedFirstName\":\"Ada\",\"countryCode\":\"DE\"}" &&
	test_must_be_empty new.msg && test_lines 2 old.msg &&
	jq -c "select(.body.operations) | .body.operations[1]" r.out >got &&
	echo "{\"create\":{\"userIdentifiers\":[]}}" >expect && test_cmp expect got
'

test_expect_success 'differences: a big number stays exact (jq rounded it)' '
	echo "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"h\",\"row\":{\"mobileId\":12345678901234567891}}" >big.ndjson &&
	ga_bodies "$RX_SHARE" e <big.ndjson | sed -n 2p >got &&
	test_grep "\"mobileId\":\"12345678901234567891\"" got &&
	ga_bodies "$PWD/old" e <big.ndjson | sed -n 2p >got &&
	test_grep "\"mobileId\":\"12345678901234567000\"" got
'

test_done
