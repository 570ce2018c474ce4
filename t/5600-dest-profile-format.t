#!/bin/sh
# What the destination catalogue needed from the profile format: values
# from the environment or a file ("vars", "url": an audience id, a
# webhook URL that is itself a secret), and header values naming
# variables; and rx-diff --profile on a profile without max_delete_ratio.
. "$(dirname "$0")/lib.sh"


echo '{"op":"upsert","key":"C1","hash":"h1","row":{"email":"ada@example.com"}}' >one.ndjson

cat >vars.json <<'EOF'
{"url": {"env": "T_URL", "default": "https://api.example.com"},
 "vars": {"audience": {"env": "T_AUDIENCE"},
          "version": {"env": "T_VERSION", "default": "v25.0"},
          "apikey": {"env": "T_KEY", "file": "key.txt", "secret": true},
          "plain": "fixed"},
 "headers": {"X-Version": "{version}", "X-Key": "{apikey}"},
 "ops": {"*": {"path": "/{version}/{audience}/users", "body": "{k: $vars.apikey, p: $vars.plain}"}}}
EOF

test_expect_success 'vars from the environment, with defaults; a secret one is shown as ***' '
	T_AUDIENCE=2385 T_KEY=r0utingkey rx-push --profile ./vars.json --dry-run <one.ndjson >dry &&
	cat >expect <<-\EOF &&
	{"$rx":"request","method":"POST","url":"https://api.example.com/v25.0/2385/users","headers":{"Content-Type":"application/json","X-Version":"v25.0","X-Key":"***"},"body":{"k":"***","p":"fixed"},"records":1}
	EOF
	test_cmp expect dry
'

test_expect_success 'the environment wins over the default, a file over nothing' '
	echo "fr0mfile" >key.txt &&
	T_URL=http://127.0.0.1:9 T_AUDIENCE=7 T_VERSION=v26.0 rx-push --profile ./vars.json --dry-run <one.ndjson >dry &&
	test_grep "\"url\":\"http://127.0.0.1:9/v26.0/7/users\"" dry &&
	test_grep "\"k\":\"\\*\\*\\*\"" dry && ! grep -q fr0mfile dry
'

test_expect_success 'a missing variable is named, with the member that wants it' '
	rm -f key.txt &&
	test_expect_code 1 env T_KEY=x rx-push --profile ./vars.json --dry-run <one.ndjson 2>err &&
	test_grep "rx-push: \$T_AUDIENCE is not set (profile vars.json takes vars.audience from it)" err &&
	test_expect_code 1 env T_AUDIENCE=1 rx-push --profile ./vars.json --dry-run <one.ndjson 2>err &&
	test_grep "cannot read .key.txt.: No such file or directory (profile vars.json takes vars.apikey from it)" err
'

test_expect_success 'a value with a line break is refused' '
	test_expect_code 1 env T_AUDIENCE="1
X-Evil: 1" T_KEY=k rx-push --profile ./vars.json --dry-run <one.ndjson 2>err &&
	test_grep "vars.audience: the value contains a line break" err
'

test_expect_success 'a variable named like a template'"'"'s own ({base}) is refused' '
	echo "{\"vars\": {\"base\": \"app1\"}, \"ops\": {\"*\": {\"path\": \"/v0/{base}\"}}}" >reserved.json &&
	test_expect_code 1 rx-push --profile ./reserved.json --url http://127.0.0.1:9 --dry-run <one.ndjson 2>err &&
	test_grep "vars.base: a name templates keep for themselves" err
'

cat >secreturl.json <<'EOF'
{"url": {"env": "T_HOOK", "secret": true}, "ops": {"*": {"path": ""}}}
EOF

test_expect_success 'a URL that is a secret: never shown; unset, the message says which variable' '
	T_HOOK=https://hooks.example.com/services/T1/B1/s3cr3tpath rx-push --profile ./secreturl.json --dry-run <one.ndjson >dry &&
	test_grep "\"url\":\"\\*\\*\\*\"" dry && ! grep -q s3cr3tpath dry &&
	test_expect_code 1 rx-push --profile ./secreturl.json <one.ndjson 2>err &&
	test_grep "profile secreturl.json: no base URL: \$T_HOOK is not set (or give --url)" err &&
	rx-push --profile ./secreturl.json --url http://127.0.0.1:9/x --dry-run <one.ndjson >dry &&
	test_grep "127.0.0.1:9/x" dry
'

test_expect_success 'rx-diff --profile: a profile without max_delete_ratio has the default' '
	echo "{\"id\":1}" | rx-diff --state d.db --key id --profile webhook --preview --assume-complete >changes &&
	test_lines 1 changes
'

test_done
