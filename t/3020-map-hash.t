#!/bin/sh
# rx-map --hash: SHA-256 against the published vectors (FIPS 180-2
# examples "abc", "" and the 448-bit message), an e-mail, Meta's phone
# example, the kinds, and what is not hashed.
. "$(dirname "$0")/lib.sh"

test_expect_success 'SHA-256 test vectors (kind raw: the exact bytes)' '
	cat >in.ndjson <<-\JSON &&
	{"v":"abc"}
	{"v":""}
	{"v":"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"}
	JSON
	rx-map --hash v:raw in.ndjson >out &&
	cat >expect <<-\JSON &&
	{"v":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"}
	{"v":"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"}
	{"v":"248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"}
	JSON
	test_cmp expect out
'

test_expect_success 'an e-mail is trimmed and lowercased, then hashed (default kind)' '
	cat >in.ndjson <<-\JSON &&
	{"id":1,"email":"  Foo@Example.COM "}
	{"id":2,"email":"foo@example.com"}
	{"id":3,"email":"JÖRG@EXÄMPLE.DE"}
	JSON
	rx-map --hash email in.ndjson >out &&
	cat >expect <<-\JSON &&
	{"id":1,"email":"321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"}
	{"id":2,"email":"321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6"}
	{"id":3,"email":"86794a47d88d151aa79340d3c90568d4267567296309e2da68daacd22c7f0df6"}
	JSON
	test_cmp expect out &&
	rx-map --hash email:email in.ndjson >out2 &&
	test_cmp expect out2
'

test_expect_success 'phones: Meta digits (its published example) and Google E.164' '
	echo "{\"phone\":\"(650)555-1212\"}" >in.ndjson &&
	rx-map --country-code 1 --hash phone:phone in.ndjson >out &&
	echo "{\"phone\":\"e323ec626319ca94ee8bff2e4c87cf613be6ea19919ed1364124e16807ab3176\"}" >expect &&
	test_cmp expect out &&
	rx-map --country-code +1 --hash phone:e164 in.ndjson >out &&
	echo "{\"phone\":\"$(printf %s +16505551212 | sha256sum | cut -d" " -f1)\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'numbers and booleans hash their text; null and blanks stay null' '
	cat >in.ndjson <<-\JSON &&
	{"a":12345,"b":true,"c":null,"d":"   ","e":"call me"}
	JSON
	rx-map --hash a,b,c,d,e:phone in.ndjson >out &&
	echo "{\"a\":\"5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5\",\"b\":\"b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b\",\"c\":null,\"d\":null,\"e\":null}" >expect &&
	test_cmp expect out &&
	rx-map --hash a,b,c,d,e:phone --drop-nulls in.ndjson >out &&
	echo "{\"a\":\"5994471abb01112afcc18159f6cc74b4f511b99806da59b3caf5a9c173cacfc5\",\"b\":\"b5bea41b6c623f7c09f1bf24dcae58ebab3c0cdd90ad966bc43a45b44867e12b\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'a value that is already a SHA-256 is kept (hashing twice is harmless)' '
	echo "{\"email\":\"foo@example.com\"}" | rx-map --hash email | rx-map --hash email >out &&
	echo "{\"email\":\"321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6\"}" >expect &&
	test_cmp expect out
'

test_expect_success '--hash names output fields: after --rename, and --set values' '
	echo "{\"mail\":\"Foo@Example.com\"}" >in.ndjson &&
	rx-map --rename mail=email --hash email,x --set x=abc in.ndjson >out &&
	echo "{\"email\":\"321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6\",\"x\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}" >expect &&
	test_cmp expect out
'

test_expect_success 'an object cannot be hashed: a dead letter, exit 3' '
	printf "%s\n" "{\"id\":1,\"email\":{\"a\":1}}" "{\"id\":2,\"email\":\"abc\"}" >in.ndjson &&
	test_expect_code 3 rx-map --hash email:raw in.ndjson >out 2>err &&
	echo "{\"id\":2,\"email\":\"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad\"}" >expect &&
	test_cmp expect out &&
	test_grep "^{\"id\":1,.*\"stage\":\"rx-map\".*cannot hash field .email.: it is an object" err
'

test_expect_success 'hashing inside changes leaves key and hash alone' '
	echo "{\"op\":\"upsert\",\"key\":\"Foo@Example.com\",\"hash\":\"abc\",\"row\":{\"email\":\"Foo@Example.com\"}}" >in.ndjson &&
	rx-map --hash email in.ndjson >out &&
	echo "{\"op\":\"upsert\",\"key\":\"Foo@Example.com\",\"hash\":\"abc\",\"row\":{\"email\":\"321ba197033e81286fedb719d60d4ed5cecaed170733cb4a92013811afc0e3b6\"}}" >expect &&
	test_cmp expect out
'

test_done
