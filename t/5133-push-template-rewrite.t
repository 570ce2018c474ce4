#!/bin/sh
# Body templates: as: (a match:'s value rewritten from its groups), a
# refusal naming {id}, a variable's parts trimmed (split:SEP|trim), and
# the lists of names of without: and only: (looked up by a hash, escaped
# names decoded); what cannot mean anything refused when the profile
# loads, naming where.
. "$(dirname "$0")/lib.sh"

dry () { # profile input
	rx-push --profile "$1" --url http://127.0.0.1:9 --dry-run <"$2"
}

cat >ids.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","id":"Leads!A17","row":{}}
{"op":"upsert","key":"K2","hash":"h2","id":"Zo\u00eb \"q\"!A3","row":{}}
{"op":"upsert","key":"K3","hash":"h3","id":"x-9","row":{}}
{"op":"upsert","key":"K4","hash":"h4","id":42,"row":{}}
{"op":"upsert","key":"K5","hash":"h5","row":{}}
EOF

test_expect_success 'as: the value a match: passes, rewritten from its groups; a value it does not pass is missing' '
	cat >as.json <<-\EOF &&
	{"ops": {"*": {"template": [{"r": "{id|as:\\2 of \\1 (\\0) \\\\|match:\\A(.+)!A([0-9]+)\\z // id}",
	  "t": "{id|as:<\\1>|match:([a-z])-? // \"none\"}",
	  "s": "row {id|as:\\1|match:!A([0-9]+)} of the sheet", "o": "{id|as:x\\1|optional|match:(q)?\\z}"}]}}}
	EOF
	dry ./as.json ids.ndjson | bodies >got &&
	cat >expect <<-\EOF &&
	[{"r":"17 of Leads (Leads!A17) \\","t":"<e>","s":"row 17 of the sheet","o":"x"},{"r":"3 of Zoë \"q\" (Zoë \"q\"!A3) \\","t":"<o>","s":"row 3 of the sheet","o":"x"},{"r":"x-9","t":"<x>","s":"row  of the sheet","o":"x"},{"r":42,"t":"none","s":"row  of the sheet","o":"x"},{"r":null,"t":"none","s":"row  of the sheet"}]
	EOF
	test_cmp expect got
'

test_expect_success 'a refusal naming {id} says the id as text, and {key} where the key goes' '
	cat >no.json <<-\EOF &&
	{"ops": {"*": {"template": [{"r": "{id|as:\\1|match:!A([0-9]+)\\z // !{key}: not a row address: {id}}"}]}}}
	EOF
	: >got &&
	for n in 3 4 5; do
		sed -n "${n}p" ids.ndjson >one.ndjson &&
		test_expect_code 3 dry ./no.json one.ndjson >out 2>err && test_must_be_empty out &&
		jq -r .error.message err >>got || return 1
	done &&
	printf "%s\n" "\"K3\": not a row address: x-9" "\"K4\": not a row address: 42" "\"K5\": not a row address: null" >expect &&
	test_cmp expect got &&
	echo "{\"ops\": {\"*\": {\"template\": [{\"r\": \"{id|match:!A // !not a row address: {id}}\"}]}}}" >id.json &&
	test_expect_code 3 dry ./id.json ids.ndjson >out 2>err &&
	jq -r "[.key, .error.message] | join(\" \")" err >got &&
	printf "%s\n" "K3 not a row address: x-9" "K4 not a row address: 42" "K5 not a row address: null" >expect &&
	test_cmp expect got && jq -r ".body[].r" out >got &&
	printf "Leads!A17\nZo\303\253 \"q\"!A3\n" >expect && test_cmp expect got
'

test_expect_success 'split:SEP|trim: a variable'"'"'s parts, white space at either end removed as jq'"'"'s sub("^\\s+"; "") does' '
	echo "{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"h1\",\"row\":{}}" >one.ndjson &&
	cat >trim.json <<-\EOF &&
	{"vars": {"m": {"env": "M"}}, "ops": {"*": {"template": {"t": "{m|split:,|trim}", "s": "{m|split:,}", "p": "{m|split:||trim}"}}}}
	EOF
	for m in "Customer ID" " Customer ID ,	Email  " "a,,b" "a," " , " "x|y |z" "a$(printf "\302\240"), b"; do
		M="$m" dry ./trim.json one.ndjson | bodies >got &&
		jq -nc --arg m "$m" "{t: (\$m | split(\",\") | map(sub(\"^\\\\s+\"; \"\") | sub(\"\\\\s+\$\"; \"\"))),
			s: (\$m | split(\",\")), p: (\$m | split(\"|\") | map(sub(\"^\\\\s+\"; \"\") | sub(\"\\\\s+\$\"; \"\")))}" >expect &&
		test_cmp expect got || return 1
	done
'

cat >rows.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"email":"a@x","\u0065mail2":1,"axcxb":2,"aycyb":3,"n01":4,"n02":5,"n03":6,"n04":7,"n05":8,"n06":9,"n07":10,"n08":11,"n09":12,"n10":13,"n11":14,"n12":15,"n13":16,"n14":17,"n15":18,"n16":19,"n17":20,"n18":21,"n19":22,"n20":23,"keep":"k","":0,"x\"y":1}}
EOF

test_expect_success 'without: and only: lists: escaped names decoded, names alike in their ends told apart, long lists' '
	cat >lists.json <<-\EOF &&
	{"ops": {"*": {"template": [{"w": "{row|without:email,email2,axcxb,n01,n02,n03,n04,n05,n06,n07,n08,n09,n10,n11,n12,n13,n14,n15,n16,n17,n18,n19,n20}",
	  "o": "{row|only:email2,aycyb,keep,n20,x\"y,nothere}", "c": "{row|only:n05,axcxb|cells}",
	  "...": "{row|only:n19,n18,aycyb}", "n18": "mine"}]}}}
	EOF
	dry ./lists.json rows.ndjson | bodies >got &&
	cat >expect <<-\EOF &&
	[{"w":{"aycyb":3,"keep":"k","":0,"x\"y":1},"o":{"email2":1,"aycyb":3,"n20":23,"keep":"k","x\"y":1},"c":[2,8],"aycyb":3,"n19":22,"n18":"mine"}]
	EOF
	test_cmp expect got
'

refused () { # message-pattern template-json
	printf "%s\n" "{\"ops\": {\"upsert\": {\"template\": $2}}}" >bad.json &&
	test_expect_code 1 dry ./bad.json ids.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "$1" err
}

test_expect_success 'what as: and trim cannot mean is refused when the profile loads, naming where' '
	refused "at \[0\].a: {id|...}: as: rewrites what a match: passes: write match:REGEX after it" \
		"[{\"a\": \"{id|as:\\\\1}\"}]" &&
	refused "at \[0\].a: as: names a group the match: does not have: \\\\2, and the expression has 1" \
		"[{\"a\": \"{id|as:\\\\2|match:(a)}\"}]" &&
	refused "at \[0\].a: as:\\\\x: a backslash is a group" "[{\"a\": \"{id|as:\\\\x|match:a}\"}]" &&
	refused "at \[0\].a: {id|...}: as: makes a string of a match:.s groups" "[{\"a\": \"{id|text|as:\\\\0|match:a}\"}]" &&
	refused "at \[0\].a: {id|...}: as: makes a string" "[{\"a\": \"{id|hex:2|as:\\\\0|match:a}\"}]" &&
	refused "at \[0\].a: {id|...}: as: makes a string" "[{\"a\": \"{id|without:x|as:\\\\0|match:a}\"}]" &&
	printf "%s\n" "{\"vars\": {\"v\": \"x\"}, \"ops\": {\"upsert\": {\"template\": {\"a\": \"{v|trim}\"}}}}" >bad.json &&
	test_expect_code 1 dry ./bad.json ids.ndjson >out 2>err && test_must_be_empty out &&
	test_grep "at a: {v|...}: a variable takes no modifier but split:SEP (and trim after it)" err
'

test_done
