#!/bin/sh
# rx-map's PII policy: tagged columns, a profile's blocked tags, a refusal
# at start (before any row is read) naming column, tag and destination.
. "$(dirname "$0")/lib.sh"

mkdir profiles &&
cat >profiles/ads.json <<'JSON'
{"name":"ads-audience","blocked_pii":["email","phone"],"max_records":10}
JSON
cat >profiles/open.json <<'JSON'
{"name":"warehouse-copy"}
JSON
printf '%s\n' '{"id":1,"email":"a@x.com","mobile":"+1 650 555 0100","plan":"pro"}' >rows.ndjson

test_expect_success 'sending a blocked column is refused at start: exit 1, nothing read' '
	mkfifo never &&
	test_expect_code 1 rx-map --pii email=email --profile profiles/ads.json never >out 2>err &&
	test_must_be_empty out &&
	test_lines 1 err &&
	test_grep "^rx-map: refusing to start: column .email. is tagged .email., which destination .ads-audience. blocks" err
'

test_expect_success 'the profile is found by name on RX_PROFILE_PATH' '
	RX_PROFILE_PATH=$TRASH/profiles test_expect_code 1 rx-map --pii mobile=phone --profile ads rows.ndjson 2>err &&
	test_grep "column .mobile. is tagged .phone." err
'

test_expect_success 'hashing the column, or leaving it out, is allowed' '
	rx-map --pii email=email --profile profiles/ads.json --hash email --select id,email rows.ndjson >out &&
	echo "{\"id\":1,\"email\":\"$(printf %s a@x.com | sha256sum | cut -d" " -f1)\"}" >expect &&
	test_cmp expect out &&
	rx-map --pii email=email,mobile=phone --profile profiles/ads.json --select id,plan rows.ndjson >out &&
	echo "{\"id\":1,\"plan\":\"pro\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a rename does not hide a column; a program is judged by what it sends' '
	test_expect_code 1 rx-map --pii email=email --profile profiles/ads.json --rename email=Email rows.ndjson 2>err &&
	test_grep "column .email." err &&
	test_expect_code 1 rx-map --pii email=email --profile profiles/ads.json \
		-e "{id, e: (.email | normalize_email)}" rows.ndjson 2>err &&
	test_grep "column .email." err &&
	test_expect_code 1 rx-map --pii mobile=phone --profile profiles/ads.json \
		-e ". + {x: 1}" rows.ndjson 2>err &&
	test_grep "column .mobile. is tagged .phone." err &&
	rx-map --pii email=email --profile profiles/ads.json -e "del(.email, .mobile)" rows.ndjson >out &&
	echo "{\"id\":1,\"plan\":\"pro\"}" >expect &&
	test_cmp expect out &&
	rx-map --pii email=email --profile profiles/ads.json -e "{id, email: (.email | normalize_email)}" \
		--hash email rows.ndjson >out &&
	test_grep "\"email\":\"[0-9a-f]\{64\}\"" out
'

test_expect_success 'tags from a file; a destination that blocks nothing accepts anything' '
	printf "%s\n" "# PII of the customers model" "email=email" "" "mobile=phone, " >tags &&
	test_expect_code 1 rx-map --pii-file tags --profile profiles/ads.json --select id,mobile rows.ndjson 2>err &&
	test_grep "column .mobile. is tagged .phone." err &&
	rx-map --pii-file tags --profile profiles/open.json rows.ndjson >out &&
	test_cmp rows.ndjson out
'

test_expect_success 'a bad tag, a missing profile' '
	test_expect_code 2 rx-map --pii email rows.ndjson 2>err &&
	test_grep "is not COL=TAG" err &&
	test_expect_code 1 rx-map --pii email=email --profile profiles/none.json rows.ndjson 2>err &&
	test_grep "^rx-map: cannot open profile" err
'

test_done
