/*
 * t/unit/lib.c - unit tests of filters/lib, printing TAP.
 *
 * Compiled and run by t/0100-lib.t.  Each check prints one TAP line; the
 * plan comes last.
 */
#include "rx.h"
#include "rxjq.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int count, failed;

static void ok(int cond, const char *what)
{
	count++;
	printf("%sok %d - %s\n", cond ? "" : "not ", count, what);
	if (!cond)
		failed++;
}

static void check_scan(void)
{
	rx_members ms = {0};
	char err[256];
	const char *line = "{\"id\":\"C1\", \"n\" : 1.50 ,\"o\":{\"a\":[1,{\"b\":null}]},\"e\\u0301\":true}";

	ok(rx_json_scan_object(line, strlen(line), &ms, err, sizeof err) == 0, "scan: a valid object");
	ok(ms.n == 4, "scan: four top-level members");
	ok(ms.n == 4 && ms.m[1].value.n == 4 && memcmp(ms.m[1].value.p, "1.50", 4) == 0,
	   "scan: a number's text is kept exactly");
	ok(ms.n == 4 && rx_json_kind(ms.m[2].value) == 'o' && ms.m[2].value.n == 20, "scan: a nested object is one span");
	ok(rx_json_find(&ms, "e\xcc\x81", 3) == 3, "scan: a name with an escape is found by its text");
	static const char *const bad[] = {
		"{\"a\":1,}", "{\"a\" 1}", "{\"a\":01}", "{\"a\":1.}", "{\"a\":-}", "{\"a\":\"x}", "{\"a\":tru}",
		"{\"a\":1} x", "[1]", "", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12G4\"}", "{\"a\":[1,]}", "{a:1}",
		"{\"a\":\"\xc3\x28\"}", "{\"a\":\"\xed\xa0\x80\"}", "{\"a\":1e}", "{\"a\":NaN}",
	};
	for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
		char what[128];
		snprintf(what, sizeof what, "scan: refuses invalid JSON #%zu", i + 1);
		ok(rx_json_scan_object(bad[i], strlen(bad[i]), &ms, err, sizeof err) < 0, what);
	}
	ok(rx_json_scan_object("[1]", 3, &ms, err, sizeof err) < 0 && strstr(err, "not a JSON object (an array)") != NULL,
	   "scan: says what a non-object is");
	char deep[2000];
	memset(deep, '[', sizeof deep);
	memcpy(deep, "{\"a\":", 5);
	ok(rx_json_scan_object(deep, sizeof deep, &ms, err, sizeof err) < 0 && strstr(err, "deeply") != NULL,
	   "scan: deep nesting is an error, not a stack overflow");
	const char *dup = "{\"id\":\"C1\",\"email\":\"a@x\",\"id\":\"P9\"}";
	ok(rx_json_scan_object(dup, strlen(dup), &ms, err, sizeof err) < 0 &&
		   strstr(err, "member \"id\" appears twice (members 1 and 3)") != NULL,
	   "scan: a repeated member name is refused, named, with both places");
	const char *esc = "{\"id\":1,\"\\u0069d\":2}";
	ok(rx_json_scan_object(esc, strlen(esc), &ms, err, sizeof err) < 0 && strstr(err, "appears twice") != NULL,
	   "scan: a name repeated with an escape is the same name");
	const char *nested = "{\"row\":{\"a\":1,\"a\":2},\"a\":3}";
	ok(rx_json_scan_object(nested, strlen(nested), &ms, err, sizeof err) == 0,
	   "scan: names are checked at the top level, where rows have them");
	rx_buf wide = {0};
	rx_buf_putc(&wide, '{');
	for (int i = 0; i < 600; i++)
		rx_buf_printf(&wide, "%s\"c%d\":%d", i ? "," : "", i, i);
	rx_buf_puts(&wide, "}");
	ok(rx_json_scan_object(wide.data, wide.len, &ms, err, sizeof err) == 0 && ms.n == 600,
	   "scan: 600 distinct names are fine");
	wide.len--;
	rx_buf_puts(&wide, ",\"c599\":0}");
	ok(rx_json_scan_object(wide.data, wide.len, &ms, err, sizeof err) < 0 && strstr(err, "members 600 and 601"),
	   "scan: and a wide row with one name twice is refused");
	rx_buf_free(&wide);
	free(ms.m);
}

static void check_numbers(void)
{
	ok(rx_json_number_exact("9007199254740992", 16), "exact: 2^53");
	ok(!rx_json_number_exact("9007199254740993", 16), "exact: 2^53+1 is not");
	ok(rx_json_number_exact("-9007199254740992", 17), "exact: -2^53");
	ok(!rx_json_number_exact("-9007199254740993", 17), "exact: -(2^53+1) is not");
	ok(!rx_json_number_exact("12345678901234567890", 20), "exact: 20 digits are not");
	ok(rx_json_number_exact("0.123456789012345", 17), "exact: 15 significant digits");
	ok(!rx_json_number_exact("0.1234567890123456", 18), "exact: 16 significant digits are not");
	ok(rx_json_number_exact("1.500000000000000000", 20), "exact: trailing zeros are not significant");
	ok(rx_json_number_exact("1e300", 5), "exact: 1e300");
	ok(!rx_json_number_exact("1e400", 5), "exact: 1e400 overflows");
	ok(!rx_json_number_exact("1e-400", 6), "exact: 1e-400 underflows");

	rx_buf b = {0};
	int roundtrip = 1;
	srand(42);
	for (int i = 0; i < 100000; i++) {
		double d;
		switch (i % 4) {
		case 0: d = (double)(rand() % 1000000) / 100.0; break;
		case 1: d = (rand() - RAND_MAX / 2) * 1e-9; break;
		case 2: d = ldexp((double)rand(), rand() % 200 - 100); break;
		default: d = (double)rand() * (double)rand(); break;
		}
		rx_buf_reset(&b);
		rx_json_put_double(&b, d);
		if (strtod(b.data, NULL) != d) {
			roundtrip = 0;
			printf("# %.17g printed as %s\n", d, b.data);
			break;
		}
	}
	ok(roundtrip, "put_double: 100,000 values read back exactly");
	rx_buf_reset(&b);
	rx_json_put_double(&b, 812.5);
	rx_buf_putc(&b, ' ');
	rx_json_put_double(&b, 0.1);
	rx_buf_putc(&b, ' ');
	rx_json_put_double(&b, NAN);
	rx_buf_putc(&b, ' ');
	rx_json_put_double(&b, -3.0);
	ok(strcmp(b.data, "812.5 0.1 null -3") == 0, "put_double: short forms, NaN as null");
	rx_buf_reset(&b);
	rx_json_put_int(&b, -9223372036854775807LL - 1);
	ok(strcmp(b.data, "-9223372036854775808") == 0, "put_int: the smallest long long");
	rx_buf_free(&b);
}

static void check_strings(void)
{
	rx_buf enc = {0}, dec = {0};
	const char raw[] = "q\"b\\s\n\t\x01 é 😀";

	rx_json_put_string(&enc, raw, sizeof raw - 1);
	ok(strcmp(enc.data, "\"q\\\"b\\\\s\\n\\t\\u0001 é 😀\"") == 0, "put_string: escapes what JSON needs");
	rx_json_string_decode(rx_span_of(enc.data, enc.len), &dec);
	ok(dec.len == sizeof raw - 1 && memcmp(dec.data, raw, dec.len) == 0, "string_decode: round trip");
	rx_buf_reset(&dec);
	const char *esc = "\"\\u00e9\\ud83d\\ude00\\/\"";
	rx_json_string_decode(rx_span_of(esc, strlen(esc)), &dec);
	ok(strcmp(dec.data, "é😀/") == 0, "string_decode: \\u escapes and surrogate pairs");
	rx_buf_reset(&enc);
	const char *pretty = "{ \"a\" : [ 1 , \"x y\" ] }";
	rx_json_put_compact(&enc, rx_span_of(pretty, strlen(pretty)));
	ok(strcmp(enc.data, "{\"a\":[1,\"x y\"]}") == 0, "put_compact: white space outside strings only");
	rx_buf_free(&enc);
	rx_buf_free(&dec);
}

static void check_reader(void)
{
	char path[] = "/tmp/rx-unit-XXXXXX", err[256], *line;
	int fd = mkstemp(path);
	size_t len;
	rx_reader r;
	char *big = malloc(600000);

	memset(big, 'x', 600000);
	dprintf(fd, "{\"a\":1}\r\n\n");
	(void)!write(fd, big, 600000);
	dprintf(fd, "\nlast");
	close(fd);
	ok(rx_reader_open(&r, path, 0, err, sizeof err) == 0, "reader: opens a file");
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == 1 && len == 7 && r.line == 1, "reader: CRLF stripped");
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == 1 && len == 0, "reader: an empty line");
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == 1 && len == 600000 && line[len] == '\0',
	   "reader: a line longer than the buffer");
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == 1 && strcmp(line, "last") == 0 && r.line == 4,
	   "reader: a last line without newline");
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == 0, "reader: then the end");
	rx_reader_close(&r);
	ok(rx_reader_open(&r, path, 100000, err, sizeof err) == 0, "reader: opens again with a limit");
	rx_reader_next(&r, &line, &len, err, sizeof err);
	rx_reader_next(&r, &line, &len, err, sizeof err);
	ok(rx_reader_next(&r, &line, &len, err, sizeof err) == -1 && strstr(err, "line 3: longer than") != NULL,
	   "reader: the limit is an error naming the line");
	rx_reader_close(&r);
	ok(rx_reader_open(&r, "/nonexistent/x", 0, err, sizeof err) == -1 && strstr(err, "cannot open") != NULL,
	   "reader: a missing file");
	unlink(path);
	free(big);
}

static void check_hashes(void)
{
	char hex[65];
	rx_buf b = {0};

	rx_sha256_hex("abc", 3, hex);
	ok(strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad") == 0, "sha256: abc");
	rx_sha256_hex("", 0, hex);
	ok(strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855") == 0, "sha256: empty");
	rx_base64_put(&b, (const unsigned char *)"foobar", 6);
	rx_buf_putc(&b, ' ');
	rx_base64_put(&b, (const unsigned char *)"fooba", 5);
	rx_buf_putc(&b, ' ');
	rx_base64_put(&b, (const unsigned char *)"foob", 4);
	ok(strcmp(b.data, "Zm9vYmFy Zm9vYmE= Zm9vYg==") == 0, "base64: RFC 4648 vectors");
	/* md5("C1") = 1f6c...: the first 32 bits mod 4, plus one */
	ok(rx_shard_of("C1", 2, 1) == 1, "shard: one shard holds everything");
	unsigned counts[4] = {0};
	for (int i = 0; i < 4000; i++) {
		char key[16];
		int n = snprintf(key, sizeof key, "C%d", i);
		counts[rx_shard_of(key, (size_t)n, 4) - 1]++;
	}
	ok(counts[0] > 800 && counts[1] > 800 && counts[2] > 800 && counts[3] > 800, "shard: keys spread over shards");
	rx_buf_free(&b);
}

static void check_keys(void)
{
	rx_members ms = {0};
	rx_buf key = {0};
	char err[128];
	const char *row = "{\"org\":\"acme\",\"id\":42,\"n\":null,\"s\":\"a\\\"b\"}";
	char *one[] = {"id"}, *two[] = {"org", "id"}, *null[] = {"n"}, *esc[] = {"s"}, *missing[] = {"zz"};

	rx_json_scan_object(row, strlen(row), &ms, err, sizeof err);
	ok(rx_key_of(&ms, one, 1, &key) == 0 && strcmp(key.data, "42") == 0, "key: a number's text");
	rx_buf_reset(&key);
	ok(rx_key_of(&ms, two, 2, &key) == 0 && strcmp(key.data, "[\"acme\",\"42\"]") == 0, "key: composite");
	rx_buf_reset(&key);
	ok(rx_key_of(&ms, esc, 1, &key) == 0 && strcmp(key.data, "a\"b") == 0, "key: a string decoded");
	rx_buf_reset(&key);
	ok(rx_key_of(&ms, null, 1, &key) == -1, "key: null is no key");
	rx_buf_reset(&key);
	ok(rx_key_of(&ms, missing, 1, &key) == -1, "key: missing is no key");
	free(ms.m);
	rx_buf_free(&key);
}

static void check_deadletter(void)
{
	rx_buf out = {0};
	rx_deadletter d = {"rx-push", 400, "bad \"email\"", {"{\"x\":1}", 7}, 2};
	const char *change = "{\"op\":\"upsert\",\"key\":\"C1\",\"error\":{\"old\":true},\"row\":{ \"a\" : 1 }}";

	rx_deadletter_format(&out, change, strlen(change), &d);
	ok(strncmp(out.data,
		   "{\"op\":\"upsert\",\"key\":\"C1\",\"row\":{\"a\":1},\"error\":{\"stage\":\"rx-push\",\"status\":400,"
		   "\"message\":\"bad \\\"email\\\"\",\"body\":{\"x\":1},\"attempts\":2,\"at\":\"",
		   strlen("{\"op\":\"upsert\",\"key\":\"C1\",\"row\":{\"a\":1},\"error\":{\"stage\":\"rx-push\",\"status\":400,"
			  "\"message\":\"bad \\\"email\\\"\",\"body\":{\"x\":1},\"attempts\":2,\"at\":\"")) == 0,
	   "deadletter: the record, its old error replaced");
	ok(out.data[out.len - 1] == '\n' && out.data[out.len - 2] == '}', "deadletter: one whole line");
	rx_members ms = {0};
	char err[128];
	ok(rx_json_scan_object(out.data, out.len - 1, &ms, err, sizeof err) == 0, "deadletter: valid JSON");
	rx_members row = {0};
	unsigned char h[32];
	char want[80] = "\"row_hash\":\"";
	rx_json_scan_object("{\"a\":1.0}", 9, &row, err, sizeof err);
	rx_canon_row_hash(&row, NULL, 0, h);
	for (int i = 0; i < 32; i++)
		snprintf(want + 12 + 2 * i, 3, "%02x", h[i]);
	ok(strstr(out.data, want) != NULL, "deadletter: a change's error carries the canonical hash of its row");
	rx_buf mark = {0};
	rx_buf_puts(&mark, "{\"op\":\"upsert\",\"key\":\"C1\",\"row\":{\"a\":2},\"error\":{\"row_hash\":\"");
	rx_buf_put(&mark, want + 12, 64);
	rx_buf_puts(&mark, "\"}}");
	rx_buf_reset(&out);
	rx_deadletter_format(&out, mark.data, mark.len, &d);
	ok(strstr(out.data, want) != NULL, "deadletter: and keeps the first one when it comes round again");
	rx_buf_free(&mark);
	free(row.m);
	rx_buf_reset(&out);
	rx_deadletter_format(&out, "not json", 8, &d);
	ok(strncmp(out.data, "{\"record\":\"not json\",\"error\":", 29) == 0, "deadletter: a non-object is kept as text");
	free(ms.m);
	rx_buf_free(&out);
}

/* rx_jv_put writes what jq 1.6's jv_dump_string writes, and
 * rx_jv_from_json makes what jv_parse makes, on many values: random
 * doubles of every magnitude, the format's edges, every control
 * character, unicode, escapes, nesting. */
static int same_as_jq(jv v)
{
	jv s = jv_dump_string(jv_copy(v), 0);
	rx_buf b = {0};
	int same;

	rx_jv_put(&b, v);
	same = (size_t)jv_string_length_bytes(jv_copy(s)) == b.len && memcmp(jv_string_value(s), b.data, b.len) == 0;
	if (!same)
		printf("# jq: %s\n# rx: %s\n", jv_string_value(s), b.data);
	jv_free(s);
	rx_buf_free(&b);
	return same;
}

static int parses_as_jq(const char *text)
{
	jv a = jv_parse(text), b = rx_jv_from_json(text, strlen(text));
	int same = jv_equal(jv_copy(a), jv_copy(b));
	if (same) { /* and in the same order, with the same number bits */
		jv sa = jv_dump_string(a, 0), sb = jv_dump_string(b, 0);
		same = strcmp(jv_string_value(sa), jv_string_value(sb)) == 0;
		jv_free(sa);
		jv_free(sb);
	} else {
		printf("# parse differs: %s\n", text);
		jv_free(a);
		jv_free(b);
	}
	return same;
}

static void check_jv_print(void)
{
	static const double edges[] = {0.0, -0.0, 1, -1, 0.1, 0.5, 1.5, 100, 1e15, 1e15 - 1, 1e16, 1e17, 123e15,
		9007199254740992.0, 9007199254740993.0, 0.0001, 0.00001, 1e-7, 1.5e300, 1e308, 5e-324, 2.2250738585072014e-308,
		1.7976931348623157e308, 812.25, 3.14159, 0.1 + 0.2, 1.0 / 3, 2.0 / 3, 123456789012345678.0, -1e-5, 1e21, 1e22,
		4.35, 0.3, 100.5, 1234567.125};
	int good = 1;

	for (size_t i = 0; i < sizeof edges / sizeof *edges; i++)
		good &= same_as_jq(jv_number(edges[i]));
	good &= same_as_jq(jv_number(INFINITY)) & same_as_jq(jv_number(-INFINITY)) & same_as_jq(jv_number(NAN));
	ok(good, "rx_jv_put: numbers at the edges of jq's format as jq prints them");

	srand48(12345);
	good = 1;
	for (int i = 0; i < 200000 && good; i++) {
		union { double d; unsigned long long u; } x;
		x.u = ((unsigned long long)mrand48() << 32) ^ (unsigned long long)(unsigned)mrand48();
		if (x.d != x.d)
			continue;
		good &= same_as_jq(jv_number(x.d));
		/* and decimals as data has them: few digits, any scale */
		double y = (double)(mrand48() % 1000000) / pow(10, (double)(lrand48() % 12)) * pow(10, (double)(lrand48() % 40) - 20);
		good &= same_as_jq(jv_number(y));
	}
	ok(good, "rx_jv_put: 400,000 random doubles as jq prints them");

	char all[200];
	int n = 0;
	for (int c = 1; c < 128; c++)
		all[n++] = (char)c;
	all[n] = '\0';
	good = same_as_jq(jv_string(all)) && same_as_jq(jv_string("Zoë 李 \xf0\x9f\x98\x80 \"q\" \\ /")) &&
	       same_as_jq(jv_string_sized("a\0b", 3)) && same_as_jq(jv_string("bad \xff\xfe utf-8"));
	ok(good, "rx_jv_put: strings (every ASCII character, unicode, NUL, bad UTF-8) as jq prints them");

	jv o = jv_parse("{\"b\":1,\"a\":[true,false,null,{\"z\":{},\"y\":[]}],\"c\":\"x\",\"b2\":-0.5e-10}");
	o = jv_object_set(o, jv_string("b"), jv_number(2)); /* replaced in place: keeps its order */
	o = jv_object_delete(o, jv_string("c"));
	ok(same_as_jq(o), "rx_jv_put: objects and arrays in jq's order, after a set and a delete");

	static const char *const texts[] = {
		"{\"id\":\"C1\",\"n\":1.50,\"big\":12345678901234567890,\"neg\":-0,\"e\":1E+2,\"f\":-1.5e-7}",
		"[1,2.5,\"x\",null,true,false,[],{},[[[]]]]",
		"{\"s\":\"tab\\tnl\\nq\\\"bs\\\\sl\\/u\\u00e9\\u674e\\ud83d\\ude00\"}",
		"{\"lone\":\"\\udc00\",\"raw\":\"Zoë 李\"}",
		" { \"sp\" : [ 1 , { \"a\" : \"b\" } ] } ",
		"{\"dup\":1,\"dup\":2}",
		"\"just a string\"", "42", "1e400", "-1e400", "0.1", "null",
		"123456789012345678901234567890123456789012345678901234567890123456789012345678901234567890",
	};
	good = 1;
	for (size_t i = 0; i < sizeof texts / sizeof *texts; i++)
		good &= parses_as_jq(texts[i]);
	ok(good, "rx_jv_from_json: what jq's parser makes of each value");
	jv bad = rx_jv_from_json("{\"a\":", 5);
	ok(jv_get_kind(bad) == JV_KIND_NULL, "rx_jv_from_json: not JSON is null, never an invalid value");
	jv_free(bad);
}

/* rx_json_members splits what rx_json_scan_object scanned exactly as it
 * does; rx_json_array_split and rx_json_put_compact on validated spans. */
static void check_members(void)
{
	static const char *const objs[] = {
		"{\"id\":\"C1\", \"n\" : 1.50 ,\"o\":{\"a\":[1,{\"b\":null}]},\"e\\u0301\":true}",
		"{}", " { } ", "{\"a\":[]}", "{\"s\":\"q\\\"}\\\\\",\"t\":\"x, ]}\",\"f\":false,\"z\":null,\"n\":-1e+5}",
		"{\"row\":{\"a\":1,\"a\":2},\"a\":[[],{},\"\\u00e9\"]}\t",
		"{\"op\":\"upsert\",\"key\":\"K1\",\"hash\":\"h1\",\"row\":{\"email\":\"user1@example.com\",\"ltv\":1.25}}",
	};
	rx_members a = {0}, b = {0};
	char err[256];

	for (size_t i = 0; i < sizeof objs / sizeof *objs; i++) {
		size_t n = strlen(objs[i]);
		int same = rx_json_scan_object(objs[i], n, &a, err, sizeof err) == 0 &&
			   rx_json_members(objs[i], n, &b, err, sizeof err) == 0 && a.n == b.n;
		for (size_t m = 0; same && m < a.n; m++)
			same = a.m[m].name.p == b.m[m].name.p && a.m[m].name.n == b.m[m].name.n &&
			       a.m[m].value.p == b.m[m].value.p && a.m[m].value.n == b.m[m].value.n &&
			       a.m[m].name_escaped == b.m[m].name_escaped && a.m[m].value_escaped == b.m[m].value_escaped;
		char what[96];
		snprintf(what, sizeof what, "members: as the scanner splits object #%zu", i + 1);
		ok(same, what);
	}
	const char *dup = "{\"id\":1,\"\\u0069d\":2}";
	ok(rx_json_members(dup, strlen(dup), &b, err, sizeof err) < 0 && strstr(err, "appears twice") != NULL,
	   "members: a repeated name is refused");
	ok(rx_json_members("[1]", 3, &b, err, sizeof err) < 0 && rx_json_members("{\"a\"", 4, &b, err, sizeof err) < 0,
	   "members: not an object, a cut object: refused, no overrun");
	const char *arr = "[ {\"a\":\"x,]\"} , [1,2],\"s\\\"\" ,3 ]";
	rx_span el[8];
	size_t k = rx_json_array_split(rx_span_of(arr, strlen(arr)), el, 8);
	ok(k == 4 && el[0].n == 11 && memcmp(el[1].p, "[1,2]", el[1].n) == 0 && el[2].n == 5 && el[3].n == 1 &&
		   *el[3].p == '3',
	   "array_split: elements, strings with commas and brackets kept whole, white space trimmed");
	ok(rx_json_array_split(rx_span_of("[ ]", 3), el, 8) == 0, "array_split: an empty array has none");
	rx_buf c = {0};
	const char *pretty = "{ \"a b\" : [ 1, \"x \\\" y\" ],\n\t\"c\":{} }";
	rx_json_put_compact(&c, rx_span_of(pretty, strlen(pretty)));
	ok(c.data && strcmp(c.data, "{\"a b\":[1,\"x \\\" y\"],\"c\":{}}") == 0,
	   "put_compact: white space outside strings dropped, inside kept");
	rx_buf_free(&c);
	free(a.m);
	free(b.m);
}

int main(void)
{
	rx_init("test-lib");
	check_scan();
	check_members();
	check_numbers();
	check_strings();
	check_reader();
	check_hashes();
	check_keys();
	check_deadletter();
	check_jv_print();
	printf("1..%d\n", count);
	return failed ? 1 : 0;
}
