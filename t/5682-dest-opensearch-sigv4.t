#!/bin/sh
# Amazon OpenSearch Service's IAM auth: opensearch-bulk with
# OPENSEARCH_AUTH=aws_sigv4 signs every request with AWS Signature
# Version 4 (docs/destinations/opensearch-bulk.md).  The fake
# (t/fake/fake-saas.py --vendor elasticsearch --aws ...) recomputes each
# signature from the request as it came, with its own implementation,
# which is first checked on AWS's published test vector (get-vanilla).
. "$(dirname "$0")/lib.sh"
. "$RX_TESTS/lib-dest.sh"

KID=AKIDEXAMPLE SECRET=wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY
cat >changes.ndjson <<'IN'
{"op":"upsert","records":[{"key":"C1","hash":"h1","row":{"id":"C1","name":"Zoë 李"}},{"key":"C 2/x","hash":"h2","row":{"id":"C2"}}]}
{"op":"delete","records":[{"key":"C9","hash":"h9","row":{"id":"C9"}}]}
IN

saas_start os -- --vendor elasticsearch --aws "$KID:$SECRET:eu-west-1:es" --log os.log
OS="env OPENSEARCH_URL=$(cat os.url) OPENSEARCH_INDEX=people OPENSEARCH_AUTH=aws_sigv4 AWS_REGION=eu-west-1 AWS_ACCESS_KEY_ID=$KID"

test_expect_success 'the fake checks signatures as AWS does: its own code on AWS'"'"'s test vector (get-vanilla)' '
	python3 - "$RX_TESTS/fake/fake-saas.py" >sig <<-\PY &&
	import hashlib, importlib.util, sys
	spec = importlib.util.spec_from_file_location("fake", sys.argv[1])
	fake = importlib.util.module_from_spec(spec)
	spec.loader.exec_module(fake)
	print(fake.sigv4_signature("GET", "/", "", {"host": "example.amazonaws.com", "x-amz-date": "20150830T123600Z"},
	                           ["host", "x-amz-date"], hashlib.sha256(b"").hexdigest(), "20150830T123600Z",
	                           "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "us-east-1", "service"))
	PY
	echo 5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31 >expect && test_cmp expect sig
'

test_expect_success 'every request signed: acked, and the fake found each signature right' '
	$OS AWS_SECRET_ACCESS_KEY=$SECRET rx-push --profile opensearch-bulk <changes.ndjson >acks 2>err &&
	acked acks >got && printf "C 2/x\nC1\nC9\n" >expect && test_cmp expect got &&
	test "$(fake_count os signed)" = 2 && test "$(fake_count os requests)" = 2 &&
	jq -r ".headers.authorization" os.log | sed "s/Signature=[0-9a-f]*/Signature=S/" | sort -u >got &&
	echo "AWS4-HMAC-SHA256 Credential=$KID/$(date -u +%Y%m%d)/eu-west-1/es/aws4_request, SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature=S" >expect &&
	test_cmp expect got && ! grep -q "$SECRET" err acks
'

test_expect_success 'a wrong secret: 403 in AWS'"'"'s words, the run stops (exit 1), nothing acked, the secret not shown' '
	test_expect_code 1 $OS AWS_SECRET_ACCESS_KEY=not-the-secret rx-push --profile opensearch-bulk <changes.ndjson >acks 2>err &&
	test_must_be_empty acks &&
	test_grep "HTTP 403.*The request signature we calculated does not match" err && ! grep -q not-the-secret err
'

test_expect_success 'temporary credentials: the session token is sent and signed; a dry run shows neither it nor the signature' '
	$OS AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLE rx-push --profile opensearch-bulk <changes.ndjson >acks &&
	test_lines 3 acks &&
	tail -n 1 os.log | jq -r ".headers[\"x-amz-security-token\"], .headers.authorization" >got &&
	sed -n 1p got | grep -qx FwoGZXIvYXdzEXAMPLE &&
	sed -n 2p got | grep -q "SignedHeaders=host;x-amz-content-sha256;x-amz-date;x-amz-security-token," &&
	$OS AWS_SECRET_ACCESS_KEY=$SECRET AWS_SESSION_TOKEN=FwoGZXIvYXdzEXAMPLE rx-push --profile opensearch-bulk --dry-run <changes.ndjson >dry &&
	jq -c ".headers | {Authorization, \"x-amz-security-token\"}" dry | sort -u >got &&
	echo "{\"Authorization\":\"***\",\"x-amz-security-token\":\"***\"}" >expect && test_cmp expect got &&
	! grep -q -e FwoGZXIvYXdzEXAMPLE -e "$SECRET" dry
'

test_expect_success 'OpenSearch Serverless signs for aoss; a region or key id unset, or an auth with no case, is named' '
	saas_start aoss -- --vendor elasticsearch --aws "$KID:$SECRET:us-east-1:aoss" &&
	env OPENSEARCH_URL=$(cat aoss.url) OPENSEARCH_INDEX=people OPENSEARCH_AUTH=aws_sigv4 OPENSEARCH_AWS_SERVICE=aoss \
		AWS_REGION=us-east-1 AWS_ACCESS_KEY_ID=$KID AWS_SECRET_ACCESS_KEY=$SECRET \
		rx-push --profile opensearch-bulk <changes.ndjson >acks &&
	test_lines 3 acks && test "$(fake_count aoss signed)" = 2 &&
	test_expect_code 1 env OPENSEARCH_INDEX=people OPENSEARCH_AUTH=aws_sigv4 AWS_ACCESS_KEY_ID=$KID AWS_SECRET_ACCESS_KEY=$SECRET \
		rx-push --profile opensearch-bulk --dry-run <changes.ndjson 2>err &&
	test_grep "\$AWS_REGION is not set (the region)" err &&
	test_expect_code 1 env OPENSEARCH_INDEX=people OPENSEARCH_AUTH=iam rx-push --profile opensearch-bulk --dry-run <changes.ndjson 2>err &&
	test_grep "auth: \"iam\" is none of its cases (\"basic\", \"aws_sigv4\")" err
'

test_expect_success 'unset, OPENSEARCH_AUTH is basic, as before: no signature' '
	saas_start basic -- --vendor elasticsearch --token admin:s3cret --log basic.log &&
	env OPENSEARCH_URL=$(cat basic.url) OPENSEARCH_INDEX=people OPENSEARCH_USER=admin OPENSEARCH_PASSWORD=s3cret \
		rx-push --profile opensearch-bulk <changes.ndjson >acks &&
	test_lines 3 acks && ! grep -q x-amz basic.log && test_grep "\"authorization\": \"Basic YWRtaW46czNjcmV0\"" basic.log
'

test_done
