#!/bin/sh
# The jq library share/rx/jq/rx.jq, data-driven as in jq's jq.test:
# groups of (filter, input value, expected value) separated by blank
# lines; each runs as rx-map -e '{v: (.v | FILTER)}' on {"v": INPUT}.
# Then: --hash's C normalisations agree with the jq ones.
. "$(dirname "$0")/lib.sh"

cat >library.test <<'TESTS'
trim
"  a b \t"
"a b"

trim
"\u00a0\u3000x\u2003"
"x"

lowercase
"ÀÉÎÕÜ ÆØ Ÿ Ā Ł Ž ΑΘΉΝΑ МОСКВА Ё"
"àéîõü æø ÿ ā ł ž αθήνα москва ё"

normalize_email
"  Foo.Bar@Example.COM "
"foo.bar@example.com"

normalize_email
"\tJÖRG.Müller@Exämple.DE\n"
"jörg.müller@exämple.de"

normalize_email
"ÉLODIE@EXEMPLE.FR"
"élodie@exemple.fr"

normalize_email
"   "
null

normalize_email
null
null

normalize_gmail
" A.B.C+promo@GMail.com "
"abc@gmail.com"

normalize_gmail
"a.b+c@example.com"
"a.b+c@example.com"

normalize_phone
"(650) 555-1212"
"6505551212"

normalize_phone("1")
"(650) 555-1212"
"16505551212"

normalize_phone("1")
" 1-650-555-1212 "
"16505551212"

normalize_phone("1")
"+1 (650) 555-1212"
"16505551212"

normalize_phone("49")
"030 1234567"
"49301234567"

normalize_phone("49")
"0049 30 1234567"
"49301234567"

normalize_phone
"+44 (0)20 7946 0958"
"442079460958"

normalize_phone("33")
"+33 6 12 34 56 78"
"33612345678"

normalize_phone
6505551212
"6505551212"

normalize_phone
"call me"
null

normalize_phone
"+1 234"
null

normalize_phone_e164("1")
" (650)555-1212 "
"+16505551212"

normalize_phone_e164
"0044 20 7946 0958"
"+442079460958"

normalize_name
"  Jean-Luc O'Brien! "
"jeanluc obrien"

normalize_name
"Zoë"
"zoë"

normalize_initial
"Élodie"
"é"

normalize_city
"San Francisco, CA"
"sanfranciscoca"

normalize_state
" N.Y. "
"ny"

normalize_zip
"94103-1234"
"94103"

normalize_zip
"SW1A 1AA"
"sw1a1aa"

normalize_country
" US "
"us"

normalize_country
"United States"
null

normalize_gender
"Female"
"f"

normalize_gender
" M "
"m"

normalize_gender
"x"
null

[normalize_dob_year, normalize_dob_month, normalize_dob_day]
"1987-04-09"
["1987","04","09"]
TESTS

# split the groups into files: NNN.filter NNN.input NNN.expect
awk 'BEGIN { n = 0; k = 0 }
     /^$/ { if (k) { n++; k = 0 } next }
     { f = sprintf("g%03d.%s", n, k == 0 ? "filter" : k == 1 ? "input" : "expect"); print > f; close(f); k++ }' library.test

for f in g*.filter; do
	g=${f%.filter}
	filter=$(cat "$f")
	test_expect_success "rx.jq: $filter on $(cat "$g.input")" "
		printf '{\"v\":%s}\n' \"\$(cat $g.input)\" >$g.in &&
		printf '{\"v\":%s}\n' \"\$(cat $g.expect)\" >$g.want &&
		rx-map -e '{v: (.v | $filter)}' $g.in >$g.out &&
		test_cmp $g.want $g.out
	"
done

cat >people.ndjson <<'JSON'
{"email":"  Foo.Bar@Example.COM ","phone":"(650) 555-1212"}
{"email":"\tJÖRG.Müller@Exämple.DE\u00a0","phone":"+44 (0)20 7946 0958"}
{"email":"ΑΘΉΝΑ@ΠΑΡΆΔΕΙΓΜΑ.ΕΛ","phone":"030 1234567"}
{"email":"ÀÉÎÕÜ.ÆØŸĀŁŽ@МОСКВА.РФ","phone":" 1-650-555-1212 "}
JSON

test_expect_success '--hash email agrees with normalize_email then --hash email:raw' '
	rx-map --hash email --select email people.ndjson >c.out &&
	test_lines 4 c.out && ! grep -q null c.out &&
	rx-map -e "{email: (.email | normalize_email)}" --hash email:raw people.ndjson >jq.out &&
	test_cmp jq.out c.out
'

test_expect_success '--hash phone/e164 agree with normalize_phone/normalize_phone_e164' '
	rx-map --country-code 1 --hash phone:phone --select phone people.ndjson >c.out &&
	rx-map -e "{phone: (.phone | normalize_phone(\"1\"))}" --hash phone:raw people.ndjson >jq.out &&
	test_cmp jq.out c.out &&
	rx-map --hash phone:e164 --select phone people.ndjson >c.out &&
	rx-map -e "{phone: (.phone | normalize_phone_e164)}" --hash phone:raw people.ndjson >jq.out &&
	test_cmp jq.out c.out
'

test_done
