#!/bin/sh
# Body templates over the request's records as a whole (docs/profiles.md,
# "Body templates"): {columns:A,B} (the names of a list any row of the
# request has), an element repeated for each of those columns ({column},
# {row.{column}}, a choice on it), "??else", {count}, {first.NAME},
# default: and hex:; what cannot mean anything refused when the profile
# loads, naming where; "count" in a "success".  The shipped Meta and
# TikTok templates make the bodies their jq programs made (kept here as
# the reference), refuse what they refused, and ack with their "success"
# what their programs alone ack.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"


cat >changes.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"a":"x","b":"MiXed\u00c9","z":1}}
{"op":"upsert","key":"K2","hash":"h2","row":{"c":null,"a":12345678901234567890}}
{"op":"upsert","key":"K3","hash":"h3"}
EOF

test_expect_success 'columns: the list'"'"'s names any row has, and an element for each in every record' '
	cat >t.json <<-\EOF &&
	{"vars": {"aud": "A1"}, "ops": {"*": {"template": {
	  "schema": "{columns:a,b,c,d // !no row has a, b, c or d}",
	  "n": "{count}", "k0": "{first.key}", "i0": "{first.idem}", "s": "{first.idem|hex:13}",
	  "r0": "{first.row.a}", "r1": "{first.row.nope // 0}",
	  "rows": [[{"?": "{column}", "b": "{row.b|text|lower // \"\"}", "*": "{row.{column}|default:\"\"}"}]],
	  "cells": [{"key": "{key}", "n": "{count}",
	             "c": [{"??": "{row.{column}}", "??else": {}, "col": "{column}", "v": "{row.{column}}", "aud": ["{aud}"]}]}]}}}}
	EOF
	rx-push --profile ./t.json --url http://127.0.0.1:9 --dry-run <changes.ndjson | bodies >got &&
	i0=$(jq -r .i0 got) && test ${#i0} = 32 &&
	s=$(python3 -c "print(int(\"$i0\"[:13], 16))") &&
	cat >expect <<-EOF &&
	{"schema":["a","b","c"],"n":3,"k0":"K1","i0":"$i0","s":$s,"r0":"x","r1":0,"rows":[["x","mixedÉ",""],[12345678901234567890,"",""],["","",""]],"cells":[{"key":"K1","n":3,"c":[{"col":"a","v":"x","aud":["A1"]},{"col":"b","v":"MiXedÉ","aud":["A1"]},{}]},{"key":"K2","n":3,"c":[{"col":"a","v":12345678901234567890,"aud":["A1"]},{},{}]},{"key":"K3","n":3,"c":[{},{},{}]}]}
	EOF
	test_cmp expect got
'

test_expect_success 'no row has any of the list: the request is refused with its own message' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"K9\",\"hash\":\"h\",\"row\":{\"q\":1}}" \
		"{\"op\":\"upsert\",\"key\":\"K8\",\"hash\":\"h\"}" >none.ndjson &&
	test_expect_code 3 rx-push --profile ./t.json --url http://127.0.0.1:9 --dry-run <none.ndjson >out 2>err &&
	test_must_be_empty out &&
	grep "^{" err | jq -r "[.key, .error.message] | join(\" \")" >got &&
	printf "%s\n" "K9 no row has a, b, c or d" "K8 no row has a, b, c or d" >expect && test_cmp expect got
'

test_expect_success 'a refusal in a column'"'"'s element names the column and the key; the others are sent' '
	cat >low.json <<-\EOF &&
	{"ops": {"*": {"template": {"s": "{columns:a,b}",
	  "rows": [[ "{row.{column}|default:\"\"|match:\\A[a-z]*\\z // !{column} of {key} is not lowercase}" ]]}}}}
	EOF
	test_expect_code 3 rx-push --profile ./low.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >out 2>err &&
	grep "^{" err | jq -r "[.key, .error.message] | @tsv" >got &&
	printf "K1\tb of \"K1\" is not lowercase\nK2\ta of \"K2\" is not lowercase\n" >expect && test_cmp expect got &&
	jq -c "[.records, .body]" out >got &&
	echo "[1,{\"s\":null,\"rows\":[[]]}]" >expect && test_cmp expect got
'

refused () { # message-pattern template-json
	printf "%s\n" "{\"ops\": {\"upsert\": {\"template\": $2}}}" >bad.json &&
	test_expect_code 1 rx-push --profile ./bad.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "$1" err
}

test_expect_success 'what these cannot mean is refused when the profile loads, naming where' '
	refused "template at x: {column} is the column of an element repeated" "{\"x\": \"{column}\"}" &&
	refused "template at x\[0\]: {column} is the column" "{\"x\": [\"{row.{column}}\"]}" &&
	refused "template at r\[0\]: an element naming {column} needs the template.s list of columns" \
		"{\"r\": [[\"{row.{column}}\"]]}" &&
	refused "template at t: {columns:a}: a template has one list of columns" \
		"{\"s\": \"{columns:a,b}\", \"t\": \"{columns:a}\"}" &&
	refused "{columns:a,a}: the column a is named twice" "{\"s\": \"{columns:a,a}\"}" &&
	refused "{columns:A,B} names the columns, written out" "{\"s\": \"{columns:}\"}" &&
	refused "template at r\[0\]\[0\]: the element repeated for each column cannot be left out" \
		"{\"s\": \"{columns:a}\", \"r\": [[{\"??\": \"{row.{column}}\", \"v\": 1}]]}" &&
	refused "template at \[0\]: \"??else\" stands when the object.s guard fails: it needs a guard" \
		"[{\"??else\": {}, \"a\": \"{key}\"}]" &&
	refused "template at \[0\].a: hex:14: the number of hex digits read, 1 to 13" "[{\"a\": \"{idem|hex:14}\"}]" &&
	refused "template at \[0\].a: default:nope: not a JSON value" "[{\"a\": \"{key|default:nope}\"}]" &&
	refused "template at a: {first.op}: first. takes a record.s placeholder" "{\"a\": \"{first.op}\"}" &&
	refused "template at \[0\].a: {first.v}: first. takes a record.s placeholder" "[{\"a\": \"{first.v}\"}]" &&
	refused "a spread (\"...\") takes {row}" "[{\"...\": \"{row|default:{}}\"}]"
'

test_expect_success 'a record'"'"'s element may have a guard when it has a "??else"' '
	cat >g.json <<-\EOF &&
	{"ops": {"*": {"template": [{"??": "{row.a}", "??else": null, "a": "{row.a}"}]}}}
	EOF
	rx-push --profile ./g.json --url http://127.0.0.1:9 --dry-run <changes.ndjson | bodies >got &&
	echo "[{\"a\":\"x\"},{\"a\":12345678901234567890},null]" >expect && test_cmp expect got
'

test_expect_success 'match: of one class over the whole text (read without Oniguruma) as Oniguruma reads it' '
	H=$(printf a | sha256sum | cut -c1-64) &&
	for v in "\"$H\"" "\"\"" "\"${H}0\"" "\"${H%?}\"" "\"$(echo $H | tr a-f A-F)\"" "\"\\u0061${H#?}\"" \
		"\"${H%?}\\u00e9\"" "\"${H}\\n\"" 1234 12345 true null "\"a-b\"" "\"ab\"" "\"abc\"" "\"abcd\"" "\"-\""; do
		printf "%s\n" "{\"op\":\"upsert\",\"key\":\"k\",\"hash\":\"h\",\"row\":{\"v\":$v}}"
	done >m.ndjson && test_lines 17 m.ndjson &&
	cat >res <<-\EOF &&
	\A[0-9a-f]{64}\z
	\A(?:[0-9a-f]{64})?\z
	\A[0-9]{4}\z
	\A[a-]{2,3}\z
	\A[a-z-]+\z
	\A[a-c]*\z
	\A[t-u]{2}\z
	EOF
	while read -r re; do
		jq -n --arg re "$re" "{ops: {\"*\": {template: [{f: \"{row.v|match:\(\$re) // 0}\",
			s: \"{row.v|match:\(\$re | sub(\"^\\\\\\\\A\"; \"\\\\A(?:)\")) // 0}\"}]}}}" >re.json &&
		grep -q "A(?:)" re.json &&
		rx-push --profile ./re.json --url http://127.0.0.1:9 --dry-run <m.ndjson | bodies >got &&
		jq -c "[.[] | .f]" got >fast && jq -c "[.[] | .s]" got >oni && test_cmp oni fast &&
		grep -q "[^0]" fast || return 1
	done <res
'

# ---- the shipped profiles against their jq programs (before templates) ----

h () { printf %s "$1" | sha256sum | cut -c1-64; }
E1=$(h ada@example.com) E2=$(h bo@example.com) P1=$(h 16505551212)
mkdir ref
cat >ref/oldmeta.jq <<\EOF
def _meta_keys: ["EMAIL", "PHONE", "FN", "LN", "FI", "GEN", "DOBY", "DOBM", "DOBD", "CT", "ST", "ZIP",
                 "COUNTRY", "MADID", "EXTERN_ID"];
def _meta_unhashed: {MADID: 1, EXTERN_ID: 1};
def meta_schema:
  ([.records[].row // {}] | add) as $present
  | [_meta_keys[] | . as $k | select($present | has($k))];
def meta_row($schema; $madid):
  (.row // {}) as $r
  | if $madid then [$schema[] as $k | ($r[$k] // "") | if $k == "MADID" then tostring | ascii_downcase else . end]
    else [$schema[] as $k | $r[$k] // ""] end;
def _meta_madid($schema): [$schema[] | select(. == "MADID")] | length > 0;
def meta_check($schema; $data):
  [range(0; $schema | length) | select(_meta_unhashed[$schema[.]] == null)] as $hashed
  | if ([$data[] | .[$hashed[]] | tostring] | add // "" | test("^(?:[0-9a-f]{64})*$")) then .
    else
      first(.records[] as $rec | $schema[$hashed[]] as $k | ($rec.row[$k] // "") as $v
            | select($v != "" and (($v | type) != "string" or ($v | test("^[0-9a-f]{64}$") | not)))
            | "\($k) of \($rec.key | tojson)") as $bad
      | error("\($bad) is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash), Meta takes no raw identifiers")
    end;
def _meta_hex_number: .[0:13] | explode | reduce .[] as $c (0; . * 16 + (if $c >= 97 then $c - 87 else $c - 48 end));
def meta_body:
  meta_schema as $schema
  | if ($schema | length) == 0 then error("no row of the batch has a Meta key (EMAIL, PHONE, ..., MADID, EXTERN_ID)") else . end
  | _meta_madid($schema) as $madid
  | [.records[] | meta_row($schema; $madid)] as $data
  | meta_check($schema; $data)
  | {payload: {schema: $schema, data: $data},
     session: {session_id: (.records[0].idem | _meta_hex_number), batch_seq: 1, last_batch_flag: true,
               estimated_num_total: (.records | length)}};
EOF
cat >ref/oldtiktok.jq <<\EOF
def _tt_ids: ["EMAIL_SHA256", "PHONE_SHA256", "IDFA_SHA256", "AAID_SHA256"];
def tiktok_schema:
  ([.records[].row // {}] | add) as $present
  | [_tt_ids[] | . as $k | select($present | has($k))];
def _tt_check($schema):
  if ([.records[] | (.row // {})[$schema[]] // "" | tostring] | add // "" | test("^(?:[0-9a-f]{64})*$")) then .
  else
    first(.records[] as $rec | $schema[] as $k | ($rec.row[$k] // "") as $v
          | select($v != "" and (($v | type) != "string" or ($v | test("^[0-9a-f]{64}$") | not)))
          | "\($k) of \($rec.key | tojson)") as $bad
    | error("\($bad) is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash)")
  end;
def tiktok_body:
  tiktok_schema as $schema
  | [$vars.audience_id] as $audiences
  | if ($schema | length) == 0 then error("no row of the batch has an identifier (EMAIL_SHA256, PHONE_SHA256, IDFA_SHA256, AAID_SHA256)") else . end
  | _tt_check($schema)
  | {advertiser_ids: [$vars.advertiser_id],
     action: (if .op == "delete" then "delete" else "add" end),
     id_schema: $schema,
     batch_data: [.records[] | (.row // {}) as $r
                  | [$schema[] as $k | ($r[$k] // "") | if . == "" then {} else {id: ., audience_ids: $audiences} end]]};
EOF
# the shipped profile with its templates replaced by the old body program
old_profile () { # PROFILE MODULE BODY
	jq --arg m "$2" --arg b "$3" '.jq = [.jq, $m] | .ops |= map_values(del(.template) + {body: $b})' \
		"$RX_SHARE/destinations/$1.json" >"ref/old-$1.json"
}
old_profile meta-custom-audience oldmeta meta_body
old_profile tiktok-audience oldtiktok tiktok_body
export META_ACCESS_TOKEN=EAABtest META_AUDIENCE_ID=23850000000000001 TIKTOK_ACCESS_TOKEN=act.test \
	TIKTOK_ADVERTISER_ID=70123 TIKTOK_AUDIENCE_ID=123456
both () { # PROFILE INPUT: the dry runs of the shipped profile (new) and the old body (old)
	{ rx-push --profile "$1" --url http://127.0.0.1:9 --dry-run <"$2" >new.out 2>new.err; echo $? >new.rc; } &&
	{ rx-push --profile "./ref/old-$1.json" --url http://127.0.0.1:9 --dry-run <"$2" >old.out 2>old.err
	  echo $? >old.rc; } &&
	test_cmp old.rc new.rc &&
	bodies <old.out >old.bodies && bodies <new.out >new.bodies && test_cmp old.bodies new.bodies &&
	grep "^{" old.err | jq -c "[.key, .error.message]" >old.dead &&
	grep "^{" new.err | jq -c "[.key, .error.message]" >new.dead && test_cmp old.dead new.dead
}

# a refusal of some records: the others are sent, their body the old
# program's for them alone
refused_some () { # PROFILE INPUT KEPT-KEYS-REGEX
	{ rx-push --profile "$1" --url http://127.0.0.1:9 --dry-run <"$2" >new.out 2>new.err; echo $? >new.rc; } &&
	grep -E "\"key\":\"($3)\"" "$2" >kept.ndjson &&
	rx-push --profile "./ref/old-$1.json" --url http://127.0.0.1:9 --dry-run <kept.ndjson >old.out &&
	bodies <old.out >old.bodies && bodies <new.out >new.bodies && test_cmp old.bodies new.bodies &&
	test -s new.bodies && test "$(cat new.rc)" = 3 &&
	grep "^{" new.err | jq -c "[.key, .error.message]" >new.dead
}

# awkward rows: keys missing here and there, nulls, "" values, unicode
# and escapes, a number beyond a double in EXTERN_ID, MADID in upper
# case, an object, a number and null in MADID, an empty row, no row
cat >meta.ndjson <<EOF
{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL":"$E1","PHONE":null,"MADID":"6D92078A-8246-4BA4-AE5B-76104861E7DC","x":"\u00e9"}}
{"op":"upsert","key":"$E2","hash":"h2","row":{"FN":"$E2","EXTERN_ID":"Zo\u00eb \u65e5","MADID":null}}
{"op":"upsert","key":"k3","hash":"h3","row":{"ZIP":"","COUNTRY":"$P1","EXTERN_ID":{"a":[1]},"MADID":"AB\u0043d"}}
{"op":"upsert","key":"k4","hash":"h4","row":{"MADID":42,"DOBY":"$E1"}}
{"op":"upsert","key":"k5","hash":"h5","row":{}}
{"op":"upsert","key":"k6","hash":"h6"}
EOF

test_expect_success 'meta: the template makes the body meta_body made, for adds and removes' '
	both meta-custom-audience meta.ndjson && test_lines 1 new.bodies &&
	jq -c .payload.schema new.bodies >schema &&
	echo "[\"EMAIL\",\"PHONE\",\"FN\",\"DOBY\",\"ZIP\",\"COUNTRY\",\"MADID\",\"EXTERN_ID\"]" >expect &&
	test_cmp expect schema &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/g" meta.ndjson >meta-del.ndjson &&
	both meta-custom-audience meta-del.ndjson && test_grep "\"method\":\"DELETE\"" new.out &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"n\",\"hash\":\"h\",\"row\":{\"EXTERN_ID\":12345678901234567890}}" >big.ndjson &&
	rx-push --profile meta-custom-audience --url http://127.0.0.1:9 --dry-run <big.ndjson >out &&
	test_grep "\"data\":\[\[12345678901234567890\]\]" out
'

test_expect_success 'meta: a value that is no SHA-256 refuses its record, naming the key, the others sent; none at all refuses the request' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"$E1\",\"hash\":\"h1\",\"row\":{\"EMAIL\":\"$E1\"}}" \
		"{\"op\":\"upsert\",\"key\":\"raw\",\"hash\":\"h2\",\"row\":{\"EMAIL\":\"ada@example.com\",\"PHONE\":\"$P1\"}}" \
		"{\"op\":\"upsert\",\"key\":\"n\",\"hash\":\"h3\",\"row\":{\"PHONE\":16505551212}}" >bad.ndjson &&
	refused_some meta-custom-audience bad.ndjson "$E1" &&
	jq -r "@tsv" new.dead >got &&
	printf "%s\t%s\n" raw "EMAIL of \"raw\" is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash), Meta takes no raw identifiers" \
		n "PHONE of \"n\" is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash), Meta takes no raw identifiers" >expect &&
	test_cmp expect got && test_grep "\"schema\":\[\"EMAIL\"\]" new.bodies &&
	printf "%s\n" "{\"op\":\"delete\",\"key\":\"q\",\"hash\":\"h\",\"row\":{\"email\":\"$E1\"}}" >none.ndjson &&
	both meta-custom-audience none.ndjson && test_grep "no row of the batch has a Meta key" new.dead
'

test_expect_success 'meta: where the template differs: false refused, a hash with a newline refused' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"f\",\"hash\":\"h\",\"row\":{\"EMAIL\":false}}" >false.ndjson &&
	test_expect_code 3 rx-push --profile meta-custom-audience --url http://127.0.0.1:9 --dry-run <false.ndjson 2>err &&
	test_grep "EMAIL of .*f.* is not a SHA-256 hex digest" err &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"nl\",\"hash\":\"h\",\"row\":{\"EMAIL\":\"$E1\\n\"}}" >nl.ndjson &&
	test_expect_code 3 rx-push --profile meta-custom-audience --url http://127.0.0.1:9 --dry-run <nl.ndjson 2>err &&
	test_grep "EMAIL of .*nl.* is not a SHA-256 hex digest" err
'

cat >tt.ndjson <<EOF
{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL_SHA256":"$E1","PHONE_SHA256":null,"x":"\u00e9"}}
{"op":"upsert","key":"$E2","hash":"h2","row":{"AAID_SHA256":"$P1","EMAIL_SHA256":""}}
{"op":"upsert","key":"k3","hash":"h3","row":{"EMAIL_SHA256":false,"IDFA_SHA256":"$E2"}}
{"op":"upsert","key":"k4","hash":"h4","row":{}}
{"op":"upsert","key":"k5","hash":"h5"}
EOF

test_expect_success 'tiktok: the template makes the body tiktok_body made, {} for an empty cell' '
	both tiktok-audience tt.ndjson && test_lines 1 new.bodies &&
	jq -c ".batch_data[3], .id_schema" new.bodies >got &&
	printf "%s\n" "[{},{},{},{}]" "[\"EMAIL_SHA256\",\"PHONE_SHA256\",\"IDFA_SHA256\",\"AAID_SHA256\"]" >expect &&
	test_cmp expect got &&
	sed "s/\"op\":\"upsert\"/\"op\":\"delete\"/g" tt.ndjson >tt-del.ndjson &&
	both tiktok-audience tt-del.ndjson && test "$(jq -r .action new.bodies)" = delete
'

test_expect_success 'tiktok: an id that is no SHA-256 refuses its record, naming the key, the others sent; none at all refuses the request' '
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"$E1\",\"hash\":\"h1\",\"row\":{\"EMAIL_SHA256\":\"$E1\"}}" \
		"{\"op\":\"upsert\",\"key\":\"n\",\"hash\":\"h2\",\"row\":{\"PHONE_SHA256\":0}}" >bad.ndjson &&
	refused_some tiktok-audience bad.ndjson "$E1" &&
	jq -r ".[1]" new.dead | sort -u >got &&
	echo "PHONE_SHA256 of \"n\" is not a SHA-256 hex digest: hash it in the mapping (rx-map --hash)" >expect &&
	test_cmp expect got &&
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"q\",\"hash\":\"h\",\"row\":{\"EMAIL\":\"$E1\"}}" >none.ndjson &&
	both tiktok-audience none.ndjson && test_grep "no row of the batch has an identifier" new.dead
'

# ---- "count" in a success ----

cat >two.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"a":1}}
{"op":"upsert","key":"K2","hash":"h2","row":{"a":2}}
EOF
cat >c.json <<\EOF
{"max_records": 10, "response": "{action: \"reject\", message: \"read by the program\"}",
 "success": {"status": 200, "equal": {"bad": 0}, "count": "received"},
 "ops": {"*": {"template": {"rows": ["{row}"]}}}}
EOF
N=0
outcome () { # BODY: "acked" (read in C) or "program"
	N=$((N + 1)) &&
	reply_start r$N -- --status 200 --body "$1" &&
	{ rx-push --profile ./c.json --url "$(cat r$N.url)" <two.ndjson >acks 2>err || :; } &&
	if test -s acks; then echo acked; elif grep -q "read by the program" err; then echo program; else cat err; fi
}

test_expect_success 'success "count": a member that must be the number of records of the request' '
	test "$(outcome "{\"received\": 2, \"bad\": 0}")" = acked &&
	test "$(outcome "{\"bad\":0,\"received\" :  2 }")" = acked &&
	test "$(outcome "{\"received\": 3, \"bad\": 0}")" = program &&
	test "$(outcome "{\"received\": 1, \"bad\": 0}")" = program &&
	test "$(outcome "{\"received\": 2.0, \"bad\": 0}")" = program &&
	test "$(outcome "{\"received\": \"2\", \"bad\": 0}")" = program &&
	test "$(outcome "{\"bad\": 0}")" = program &&
	test "$(outcome "{\"received\": 2, \"bad\": 1}")" = program
'

test_expect_success '"count" tests the body: without items, and with a match, it needs them named' '
	cat >bad.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "count": "n", "match": "position"}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.items: \"in\", \"equal\", \"empty\" and \"count\" test the body" err &&
	cat >bad.json <<-\EOF &&
	{"response": ".", "success": {"status": 200, "count": 2}, "ops": {"*": {}}}
	EOF
	test_expect_code 1 rx-push --profile ./bad.json --url http://127.0.0.1:9 --dry-run </dev/null 2>err &&
	test_grep "success\.count: a member name, or a list of them" err
'

# the shipped profiles as shipped and without their "success": the same
# acks and dead letters against two fresh fakes
same_outcome () { # PROFILE INPUT FAKE-SWITCHES...
	prof=$1 in=$2
	shift 2
	N=$((N + 1)) &&
	jq "del(.success) | .ops |= map_values(del(.success))" "$RX_SHARE/destinations/$prof.json" >"$prof.json" &&
	saas_start "a$N" -- "$@" && saas_start "b$N" -- "$@" &&
	{ META_GRAPH_URL=$(cat "a$N.url") TIKTOK_API_URL=$(cat "a$N.url") rx-push --profile "$prof" <"$in" >a.acks 2>a.err
	  echo $? >a.rc; } &&
	{ META_GRAPH_URL=$(cat "b$N.url") TIKTOK_API_URL=$(cat "b$N.url") rx-push --profile "./$prof.json" <"$in" \
		>b.acks 2>b.err; echo $? >b.rc; } &&
	test_cmp a.rc b.rc && sort a.acks >a.sorted && sort b.acks >b.sorted && test_cmp a.sorted b.sorted &&
	grep "^{" a.err | jq -c "del(.error.at)" | sort >a.dead && grep "^{" b.err | jq -c "del(.error.at)" | sort >b.dead &&
	test_cmp a.dead b.dead && test -s a.acks
}

test_expect_success 'meta-custom-audience: the same acks and dead letters with and without its "success"' '
	E3=$(h cy@example.com) &&
	cat >m.ndjson <<-EOF &&
	{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL":"$E1","PHONE":"$P1"}},{"op":"upsert","key":"$E2","hash":"h2","row":{"EMAIL":"$E2"}}]}
	{"op":"upsert","records":[{"op":"upsert","key":"$E3","hash":"h3","row":{"EMAIL":"$E3","MADID":"not-a-madid"}},{"op":"upsert","key":"x","hash":"h4","row":{"MADID":"6D92078A-8246-4BA4-AE5B-76104861E7DC"}}]}
	{"op":"delete","records":[{"op":"delete","key":"$E1","hash":"h1","row":{"EMAIL":"$E1","PHONE":"$P1"}}]}
	EOF
	same_outcome meta-custom-audience m.ndjson --vendor meta --token EAABtest &&
	test "$(cat a.rc)" = 3 && test_lines 4 a.acks && test_grep "Invalid MADID (not-a-madid)" a.dead &&
	same_outcome meta-custom-audience m.ndjson --vendor meta --token EAABtest --meta-samples 0 &&
	test_lines 3 a.acks
'

test_expect_success 'tiktok-audience: the same with and without its "success"' '
	cat >t2.ndjson <<-EOF &&
	{"op":"upsert","records":[{"op":"upsert","key":"$E1","hash":"h1","row":{"EMAIL_SHA256":"$E1","PHONE_SHA256":"$P1"}},{"op":"upsert","key":"$E2","hash":"h2","row":{"EMAIL_SHA256":"$E2"}}]}
	{"op":"delete","records":[{"op":"delete","key":"$E1","hash":"h1","row":{"EMAIL_SHA256":"$E1"}}]}
	EOF
	same_outcome tiktok-audience t2.ndjson --vendor tiktok --token act.test &&
	test_lines 3 a.acks
'

test_done
