#!/bin/sh
# Body templates, the rest of the language (docs/profiles.md, "Body
# templates"): alternatives with //, literal alternatives, match:,
# nonnull and nulls:, a choice made by a variable when the profile
# loads, and form bodies; what cannot mean anything is refused when the
# profile loads, naming where.
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-fake.sh"

cat >changes.ndjson <<\EOF
{"op":"upsert","key":"K1","hash":"h1","row":{"email":"Ada@X.com","uid":"u1","name":"Zo\u00eb","big":12345678901234567890,"gone":null,"also":null}}
{"op":"upsert","key":"a key with spaces","hash":"h2","row":{"uid":null,"name":"B","flag":false}}
{"op":"upsert","key":"\u65e5\u672c\u8a9e","hash":"h3"}
EOF

dry () { # profile
	rx-push --profile "$1" --url http://127.0.0.1:9 --dry-run <changes.ndjson
}
# each element of the bodies, one a line, numbers exact (jq would round them)
elements () {
	python3 -c "
import json, sys
for line in sys.stdin:
    body = json.loads(line)[\"body\"]
    for e in (body if isinstance(body, list) else [body]):
        print(json.dumps(e, ensure_ascii=False, separators=(\",\", \":\")))"
}

test_expect_success 'alternatives: the first with a value; a literal last; match: on the text' '
	cat >alt.json <<-\EOF &&
	{"ops": {"*": {"template": [{"u": "{row.uid|text // key|text}",
	  "i": "{row.iid // key|text|match:^[A-Za-z0-9-]{1,36}$ // idem}",
	  "r": "{row|without:email // {}}", "n": "{row.none // row.gone}", "z": "{row.gone // 0}",
	  "f": "{row.flag // true}", "three": "{key|match:^.{3}$}", "s": "<{row.uid // key}>"}]}}}
	EOF
	dry ./alt.json | elements >got &&
	idem=$(dry ./alt.json | jq -r ".body[1].i") && idem3=$(dry ./alt.json | jq -r ".body[2].i") &&
	test ${#idem} = 32 && test ${#idem3} = 32 &&
	cat >expect <<-EOF &&
	{"u":"u1","i":"K1","r":{"uid":"u1","name":"Zoë","big":12345678901234567890,"gone":null,"also":null},"n":null,"z":0,"f":true,"three":null,"s":"<u1>"}
	{"u":"a key with spaces","i":"$idem","r":{"uid":null,"name":"B","flag":false},"n":null,"z":0,"f":false,"three":null,"s":"<a key with spaces>"}
	{"u":"日本語","i":"$idem3","r":{},"n":null,"z":0,"f":true,"three":"日本語","s":"<日本語>"}
	EOF
	test_cmp expect got &&
	dry ./alt.json | grep -q "\"big\":12345678901234567890,"
'

test_expect_success 'nonnull and nulls: split an object by its nulls' '
	cat >nulls.json <<-\EOF &&
	{"ops": {"*": {"template": [{"set": "{row|without:uid|nonnull // {}}", "unset": "{row|nulls:-|optional}",
	  "all": "{row|nulls:x}", "t": "{row|nonnull|text}"}]}}}
	EOF
	dry ./nulls.json | elements >got &&
	cat >expect <<-\EOF &&
	{"set":{"email":"Ada@X.com","name":"Zoë","big":12345678901234567890},"unset":{"gone":"-","also":"-"},"all":{"gone":"x","also":"x"},"t":"{\"email\":\"Ada@X.com\",\"uid\":\"u1\",\"name\":\"Zo\\u00eb\",\"big\":12345678901234567890}"}
	{"set":{"name":"B","flag":false},"unset":{"uid":"-"},"all":{"uid":"x"},"t":"{\"name\":\"B\",\"flag\":false}"}
	{"set":{},"all":null,"t":null}
	EOF
	test_cmp expect got
'

test_expect_success 'a choice takes the case its variable names, else "*", when the profile loads' '
	cat >choice.json <<-\EOF &&
	{"vars": {"by": {"env": "BY", "default": "id"}},
	 "ops": {"*": {"template": {"batch": [{"?": "{by}",
	   "id": {"ids": {"id": "{key|text}"}},
	   "email": {"ids": {"email": "{row.email|text}"}, "a": "{row|without:email // {}}"},
	   "*": {"other": "{by}"}}]}}}}
	EOF
	head -1 changes.ndjson >one.ndjson &&
	rx-push --profile ./choice.json --url http://127.0.0.1:9 --dry-run <one.ndjson | elements >got &&
	BY=email rx-push --profile ./choice.json --url http://127.0.0.1:9 --dry-run <one.ndjson | elements >>got &&
	BY=phone rx-push --profile ./choice.json --url http://127.0.0.1:9 --dry-run <one.ndjson | elements >>got &&
	cat >expect <<-\EOF &&
	{"batch":[{"ids":{"id":"K1"}}]}
	{"batch":[{"ids":{"email":"Ada@X.com"},"a":{"uid":"u1","name":"Zoë","big":12345678901234567890,"gone":null,"also":null}}]}
	{"batch":[{"other":"phone"}]}
	EOF
	test_cmp expect got &&
	jq "del(.ops[\"*\"].template.batch[0][\"*\"])" choice.json >strict.json &&
	BY=phone test_expect_code 1 rx-push --profile ./strict.json --check-profile >out &&
	test_grep "ops.\*.template at batch\[0\]: \"phone\" is no case of this choice (\"id\", \"email\") and it has no \"\*\"" out
'

test_expect_success 'a case {"!": why} refuses the profile when it loads, its variables expanded; the other cases load' '
	cat >refuse.json <<-\EOF &&
	{"vars": {"by": {"env": "BY", "default": "id"}, "list": {"env": "LIST", "default": ""}},
	 "ops": {"*": {"template": {"batch": [{"?": "{by}",
	   "id": {"ids": {"id": "{key|text}"}},
	   "*": {"?": "{list}", "": {"!": "BY={by} needs LIST (the list the {by}s go to)"}, "*": {"list": "{list}"}}}]}}}}
	EOF
	rx-push --profile ./refuse.json --url http://127.0.0.1:9 --dry-run <one.ndjson | elements >got &&
	BY=email LIST=L7 rx-push --profile ./refuse.json --url http://127.0.0.1:9 --dry-run <one.ndjson | elements >>got &&
	printf "%s\n" "{\"batch\":[{\"ids\":{\"id\":\"K1\"}}]}" "{\"batch\":[{\"list\":\"L7\"}]}" >expect &&
	test_cmp expect got &&
	BY=email test_expect_code 1 rx-push --profile ./refuse.json --url http://127.0.0.1:9 --dry-run <one.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "^rx-push: profile refuse.json: BY=email needs LIST (the list the emails go to)$" err &&
	BY=email test_expect_code 1 rx-push --profile ./refuse.json --check-profile >out &&
	test_grep "profile refuse.json: BY=email needs LIST" out
'

test_expect_success 'a form template: each member a field, a string as its text, anything else its JSON' '
	cat >form.json <<-\EOF &&
	{"content_type": "application/x-www-form-urlencoded",
	 "vars": {"api_key": {"env": "KEY", "secret": true}},
	 "ops": {"*": {"template": {"api_key": "{api_key}", "n": 1,
	   "identification": [{"user_id": "{row.uid|text // key|text}", "p": "{row|nonnull}"}]}}}}
	EOF
	KEY="s3cr&t" rx-push --profile ./form.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >req &&
	jq -r .body req >body &&
	test_grep "^api_key=\*\*\*&n=1&identification=%5B%7B%22user_id%22%3A%22u1%22" body &&
	python3 -c "
import json, sys, urllib.parse
f = dict(urllib.parse.parse_qsl(open(\"body\").read().strip()))
print(json.dumps(json.loads(f[\"identification\"]), ensure_ascii=False))" >got &&
	echo "[{\"user_id\": \"u1\", \"p\": {\"email\": \"Ada@X.com\", \"uid\": \"u1\", \"name\": \"Zoë\", \"big\": 12345678901234567890}}, {\"user_id\": \"a key with spaces\", \"p\": {\"name\": \"B\", \"flag\": false}}, {\"user_id\": \"日本語\", \"p\": null}]" >expect &&
	test_cmp expect got
'

test_expect_success 'a form template is sent with its secret, encoded' '
	reply_start sink -- --status 200 &&
	sed "s/\"ops\"/\"response\": \"if .status == 200 then {action: \\\\\"ack\\\\\"} else null end\", \"ops\"/" form.json >send.json &&
	KEY="s3cr&t" rx-push --profile ./send.json --url "$(fake_url sink)" <changes.ndjson >acks &&
	test_lines 3 acks &&
	jq -r .body sink.log >sent &&
	test_grep "^api_key=s3cr%26t&n=1&identification=" sent
'

refused () { # message-pattern template-json [profile-extra]
	printf "%s\n" "{${3:-}\"ops\": {\"upsert\": {\"template\": $2}}}" >bad.json &&
	test_expect_code 1 rx-push --profile ./bad.json --url http://127.0.0.1:9 --dry-run <changes.ndjson >out 2>err &&
	test_must_be_empty out &&
	test_grep "$1" err
}

test_expect_success 'what these cannot mean is refused when the profile loads, naming where' '
	refused "at \[0\].a: \"x\": a literal is the last alternative" "[{\"a\": \"{\\\"x\\\" // key}\"}]" &&
	refused "at \[0\].a: {nope}: not a JSON value" "[{\"a\": \"{key // {nope}}\"}]" &&
	refused "at \[0\].a: a placeholder: an empty alternative" "[{\"a\": \"{key // }\"}]" &&
	refused "at \[0\].a: {rwo} is not a placeholder" "[{\"a\": \"{key // rwo}\"}]" &&
	refused "at \[0\].a: match: not a regular expression" "[{\"a\": \"{key|match:(}\"}]" &&
	refused "nulls: keeps the null members only" "[{\"a\": \"{row|nulls:-|nonnull}\"}]" &&
	refused "a spread (\"...\") takes {row}" "[{\"...\": \"{row // key}\"}]" &&
	refused "at \[0\].a: a choice.s \"?\" is a string" "[{\"a\": {\"?\": 1, \"*\": 2}}]" &&
	refused "at \[0\]: \"x\" is no case of this choice (\"a\")" "[{\"?\": \"{v}\", \"a\": \"{row}\"}]" \
		"\"vars\": {\"v\": \"x\"}, " &&
	refused "a member name may use variables only" "[{\"?\": \"{key}\", \"*\": 1}]" &&
	refused "{key} names a record outside the array" "{\"?\": \"{v}\", \"*\": {\"k\": \"{key}\"}}" \
		"\"vars\": {\"v\": \"x\"}, " &&
	refused "a form template is an object" "[\"{row}\"]" "\"content_type\": \"application/x-www-form-urlencoded\", "
'

test_expect_success 'cells: an object'"'"'s values as spreadsheet cells' '
	cat >rows.ndjson <<-\EOF &&
	{"op":"insert","key":"K1","hash":"h","row":{"k":"K1","n":12345678901234567890,"z":null,"o":{"a":[1,"\u00eb"]},"l":[true],"b":false}}
	{"op":"insert","key":"K2","hash":"h"}
	EOF
	echo "{\"ops\": {\"*\": {\"template\": {\"values\": [\"{row|cells // []}\"]}}}}" >cells.json &&
	rx-push --profile ./cells.json --url http://127.0.0.1:9 --dry-run <rows.ndjson >req &&
	sed "s/.*\"body\"://; s/,\"records\":2}\$//" req >got &&
	cat >expect <<-\EOF &&
	{"values":[["K1",12345678901234567890,"","{\"a\":[1,\"\\u00eb\"]}","[true]",false],[]]}
	EOF
	test_cmp expect got &&
	refused "cells makes an array of the values" "[\"{row|cells|strings}\"]"
'

test_expect_success 'firestore: a row as Firestore fields, the numbers typed as jq typed them' '
	cat >fs.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"s":"Zo\u00eb","i":-7,"one":1.0,"e":1e3,"f":1.5,"edge":9007199254740991,"over":12345678901234567890,"t":true,"z":null,"a":[1,[]],"o":{"x":{}}}}
	EOF
	echo "{\"ops\": {\"*\": {\"template\": {\"w\": [\"{row|firestore}\"]}}}}" >fs.json &&
	rx-push --profile ./fs.json --url http://127.0.0.1:9 --dry-run <fs.ndjson >req &&
	sed "s/.*\"body\"://; s/,\"records\":1}\$//" req >got &&
	cat >expect <<-\EOF &&
	{"w":[{"s":{"stringValue":"Zo\u00eb"},"i":{"integerValue":"-7"},"one":{"integerValue":"1"},"e":{"integerValue":"1000"},"f":{"doubleValue":1.5},"edge":{"integerValue":"9007199254740991"},"over":{"doubleValue":12345678901234567890},"t":{"booleanValue":true},"z":{"nullValue":null},"a":{"arrayValue":{"values":[{"integerValue":"1"},{"arrayValue":{"values":[]}}]}},"o":{"mapValue":{"fields":{"x":{"mapValue":{"fields":{}}}}}}}]}
	EOF
	test_cmp expect got
'

test_expect_success 'a refusal (// !MESSAGE) dead-letters the request, naming the key' '
	cat >no.json <<-\EOF &&
	{"ops": {"*": {"template": {"names": ["doc/{key|text|match:^[^/]+$ // !cannot be a document id}"]}}}}
	EOF
	printf "%s\n" "{\"op\":\"upsert\",\"key\":\"ok\",\"hash\":\"h1\",\"row\":{}}" "{\"op\":\"upsert\",\"key\":\"a/b\",\"hash\":\"h2\",\"row\":{}}" >two.ndjson &&
	rx-push --profile ./no.json --url http://127.0.0.1:9 --dry-run <two.ndjson >out 2>dead;
	test_must_be_empty out &&
	test_lines 2 dead &&
	jq -r .error.message dead | sort -u >msg &&
	echo "the key \"a/b\" cannot be a document id" >expect &&
	test_cmp expect msg &&
	rx-push --profile ./no.json --url http://127.0.0.1:9 --dry-run --max-records 1 <two.ndjson >out 2>dead;
	test_lines 1 out && test_lines 1 dead &&
	test "$(jq -c .body out)" = "{\"names\":[\"doc/ok\"]}" &&
	refused "a refusal is the last alternative" "[{\"a\": \"{key // !no // idem}\"}]" &&
	refused "a refusal (\"// !\") says why" "[{\"a\": \"{key // !}\"}]"
'

test_expect_success 'only:, texts, several spreads (the later wins) and "?NAME" members' '
	cat >sp.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"email":"a@x","phone":4155551234,"city":"Berlin","lat":52.5,"loc":{"city":"Mitte","lat":1,"tags":["a",2,null]},"plan":"pro","props":{"plan":"max"}}}
	{"op":"upsert","key":"K2","hash":"h","row":{"email":null,"props":{}}}
	EOF
	cat >sp.json <<-\EOF &&
	{"ops": {"*": {"template": [{"...": "{row|only:email,phone|texts}",
	  "?loc": {"...": "{row|only:city|texts}", "...ll": "{row|only:lat}", "...loc": "{row.loc|without:lat|texts}"},
	  "?props": {"...": "{row|without:email,phone,city,lat,loc,props}", "...p": "{row.props}"},
	  "?gone": "{row.nothing}", "?blank": "", "?kept": 0, "tags": "{row.loc.tags|texts}"}]}}}
	EOF
	rx-push --profile ./sp.json --url http://127.0.0.1:9 --dry-run <sp.ndjson | elements >got &&
	cat >expect <<-\EOF &&
	{"email":"a@x","phone":"4155551234","loc":{"lat":52.5,"city":"Mitte","tags":"[\"a\",2,null]"},"props":{"plan":"max"},"kept":0,"tags":null}
	{"email":null,"kept":0,"tags":null}
	EOF
	test_cmp expect got &&
	echo "{\"ops\": {\"*\": {\"template\": [{\"t\": \"{row.tags|texts}\"}]}}}" >ta.json &&
	echo "{\"op\":\"upsert\",\"key\":\"K\",\"hash\":\"h\",\"row\":{\"tags\":[\"a\",2,null,{\"b\":1}]}}" |
	rx-push --profile ./ta.json --url http://127.0.0.1:9 --dry-run | jq -c .body >got &&
	echo "[{\"t\":[\"a\",\"2\",null,\"{\\\"b\\\":1}\"]}]" >expect &&
	test_cmp expect got &&
	refused "the member \"a\" is named twice" "[{\"a\": 1, \"?a\": \"{key}\"}]" &&
	refused "texts makes text of each member" "[\"{row|texts|strings}\"]" &&
	refused "an empty name in only:" "[\"{row|only:a,,b}\"]"
'

test_expect_success 'lower, array, and a variable split when the profile loads' '
	cat >lo.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"email":"Ada@X.COM","alt":"B@x.com","n":"\u0041B"}}
	{"op":"upsert","key":"K2","hash":"h","row":{"email":null,"alt":["c",5],"n":12}}
	EOF
	cat >lo.json <<-\EOF &&
	{"vars": {"lists": "l1,l2", "none": ""},
	 "ops": {"*": {"template": {"c": [{"e": "{row.email|text|lower|optional}", "a": "{row.alt|texts|array}",
	                                   "n": "{row.n|text|lower}"}],
	                            "lists": "{lists|split:,}", "?none": "{none|split:,}"}}}}
	EOF
	rx-push --profile ./lo.json --url http://127.0.0.1:9 --dry-run <lo.ndjson | jq -c .body >got &&
	echo "{\"c\":[{\"e\":\"ada@x.com\",\"a\":[\"B@x.com\"],\"n\":\"ab\"},{\"a\":[\"c\",\"5\"],\"n\":\"12\"}],\"lists\":[\"l1\",\"l2\"]}" >expect &&
	test_cmp expect got &&
	refused "lower lowercases text" "[\"{row.email|lower}\"]" &&
	refused "a variable takes no modifier but split:SEP" "[\"{v|lower}\"]" "\"vars\": {\"v\": \"x\"}, "
'

test_expect_success 'upper: the text uppercased, escapes decoded first' '
	cat >up.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"c":"de","d":"a\nb\u00e9\u0061"}}
	{"op":"upsert","key":"K2","hash":"h","row":{"c":true,"d":{"x":"y\tz"}}}
	{"op":"upsert","key":"K3","hash":"h","row":{"c":null,"d":12}}
	EOF
	echo "{\"ops\": {\"*\": {\"template\": [{\"c\": \"{row.c|text|upper}\", \"d\": \"{row.d|text|upper}\"}]}}}" >up.json &&
	rx-push --profile ./up.json --url http://127.0.0.1:9 --dry-run <up.ndjson | jq -c ".body[]" >got &&
	jq -c "{c: (.row.c | if . == null then null else tostring | ascii_upcase end), d: (.row.d | tostring | ascii_upcase)}" up.ndjson >expect &&
	test_cmp expect got &&
	refused "upper uppercases text" "[\"{row.c|upper}\"]" &&
	refused "lower and upper together" "[\"{row.c|text|lower|upper}\"]"
'

test_expect_success 'a guard (??) leaves an object out unless its values are there (with text, false is there)' '
	cat >g.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"a":"x","b":0,"c":null}}
	{"op":"upsert","key":"K2","hash":"h","row":{"a":false,"b":"y"}}
	EOF
	cat >g.json <<-\EOF &&
	{"ops": {"*": {"template": [{"ids": [{"??": "{row.a}", "t": "A", "v": "{row.a}"}, {"??": "{row.b}", "t": "B"},
	                                     {"??": "{row.c}", "t": "C"}, {"??": ["{row.a}", "{row.b}"], "t": "AB"},
	                                     {"??": "{row.a|text}", "t": "a", "v": "{row.a|text}"}, {"??": "{row.c|text}", "t": "c"}, 1],
	                             "m": {"??": "{row.c}", "x": 1}, "n": {"??": "{row.b}", "y": "{row.b}"}}]}}}
	EOF
	rx-push --profile ./g.json --url http://127.0.0.1:9 --dry-run <g.ndjson | elements >got &&
	cat >expect <<-\EOF &&
	{"ids":[{"t":"A","v":"x"},{"t":"B"},{"t":"AB"},{"t":"a","v":"x"},1],"n":{"y":0}}
	{"ids":[{"t":"B"},{"t":"a","v":"false"},1],"n":{"y":"y"}}
	EOF
	test_cmp expect got &&
	echo "{\"op\":\"upsert\",\"key\":\"a/b\",\"hash\":\"h\",\"row\":{}}" >k.ndjson &&
	echo "{\"ops\": {\"*\": {\"template\": [\"{key|match:^[a-z]+$ // !the key {key} is not a word}\"]}}}" >k.json &&
	rx-push --profile ./k.json --url http://127.0.0.1:9 --dry-run <k.ndjson 2>dead;
	test "$(jq -r .error.message dead)" = "the key \"a/b\" is not a word" &&
	refused "at \\[0\\]: the element repeated for each record cannot be left out" "[{\"??\": \"{row.a}\", \"a\": 1}]" &&
	refused "a guard (\"??\") names a record.s values" "[{\"x\": {\"??\": \"{op}\", \"a\": 1}}]" &&
	refused "{row.a} names a record outside" "{\"??\": \"{row.a}\", \"a\": 1}" &&
	printf "%s\n" "{\"content_type\": \"application/x-ndjson\", \"ops\": {\"*\": {\"template\": [{\"??\": \"{row.a}\"}]}}}" >ndg.json &&
	test_expect_code 1 rx-push --profile ./ndg.json --check-profile >out &&
	test_grep "at \\[0\\]: a line cannot be left out" out
'

test_expect_success 'a variable inside a placeholder is its value: {row.{field}}, without:{field}' '
	cat >vv.ndjson <<-\EOF &&
	{"op":"upsert","key":"K1","hash":"h","row":{"Ext__c":7,"a":1}}
	{"op":"upsert","key":"K2","hash":"h","row":{"a":2}}
	EOF
	cat >vv.json <<-\EOF &&
	{"vars": {"field": "Ext__c"},
	 "ops": {"*": {"template": [{"...": "{row|without:{field}}", "{field}": "{row.{field}|text // key|text}",
	                             "n": "{key|text|match:^K[0-9]{1,3}$ // null}"}]}}}
	EOF
	rx-push --profile ./vv.json --url http://127.0.0.1:9 --dry-run <vv.ndjson | elements >got &&
	cat >expect <<-\EOF &&
	{"a":1,"Ext__c":"7","n":"K1"}
	{"a":2,"Ext__c":"K2","n":"K2"}
	EOF
	test_cmp expect got
'

test_expect_success 'a refusal reached in a record refuses that record alone: the others are sent and acked' '
	cat >rr.json <<-\EOF &&
	{"max_records": 10, "ops": {"*": {"template": {"n": "{count}",
	  "people": [{"id": "{key}", "h": "{row.h|text|match:\\A[0-9a-f]{4}\\z // !h of {key} is not 4 hex digits}"}]}}}}
	EOF
	printf "%s\n" "{\"op\":\"upsert\",\"records\":[{\"key\":\"A\",\"hash\":\"1\",\"row\":{\"h\":\"beef\"}},{\"key\":\"B\",\"hash\":\"2\",\"row\":{\"h\":\"raw@x\"}},{\"key\":\"C\",\"hash\":\"3\",\"row\":{\"h\":\"00ff\"}},{\"key\":\"D\",\"hash\":\"4\",\"row\":{}}]}" \
		"{\"op\":\"upsert\",\"records\":[{\"key\":\"E\",\"hash\":\"5\",\"row\":{\"h\":1}},{\"key\":\"F\",\"hash\":\"6\",\"row\":{\"h\":\"x\"}}]}" >rr.ndjson &&
	reply_start rr -- --status 200 &&
	test_expect_code 3 rx-push --profile ./rr.json --url "$(cat rr.url)" <rr.ndjson >acks 2>err &&
	jq -r .key acks >got && printf "A\nC\n" >expect && test_cmp expect got &&
	grep "^{" err | jq -r "[.key, .error.message] | @tsv" >got &&
	printf "%s\t%s\n" B "h of \"B\" is not 4 hex digits" D "h of \"D\" is not 4 hex digits" \
		E "h of \"E\" is not 4 hex digits" F "h of \"F\" is not 4 hex digits" >expect && test_cmp expect got &&
	jq -c ".body | fromjson" rr.log >got &&
	echo "{\"n\":2,\"people\":[{\"id\":\"A\",\"h\":\"beef\"},{\"id\":\"C\",\"h\":\"00ff\"}]}" >expect && test_cmp expect got
'

test_done
