/*
 * json.c - JSON on raw spans: validation, top-level members, strings,
 * numbers.
 *
 * The scanner validates strict RFC 8259 JSON (UTF-8 checked, control
 * characters in strings refused, nesting limited to MAX_DEPTH) in one
 * pass and records where each top-level member's name and value start
 * and end.  It never copies or converts a value, so a number's text and
 * a string's escapes reach the output exactly as they came in.  An
 * object whose top-level members repeat a name is refused (see
 * unique_names).
 */
#include "rx.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define MAX_DEPTH 512

typedef struct scanner {
	const char *s;   /* input */
	const char *end; /* one past the end */
	const char *p;   /* current position */
	char *err;       /* caller's error buffer */
	size_t errlen;
	int escaped;     /* a backslash escape was seen (cleared by the caller) */
	rx_batch_scan *batch; /* rx_json_scan_batch: where the records go */
} scanner;

static int fail(scanner *sc, const char *what)
{
	if (sc->p >= sc->end)
		snprintf(sc->err, sc->errlen, "unexpected end of line: %s", what);
	else
		snprintf(sc->err, sc->errlen, "at byte %zu: %s", (size_t)(sc->p - sc->s) + 1, what);
	return -1;
}

static inline void skip_ws(scanner *sc)
{
	while (sc->p < sc->end && (*sc->p == ' ' || *sc->p == '\t' || *sc->p == '\n' || *sc->p == '\r'))
		sc->p++;
}

/* Length of a valid UTF-8 sequence of non-ASCII bytes at p, or 0. */
static size_t utf8_len(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t n, i;
	unsigned cp;

	if (c >= 0xC2 && c <= 0xDF)
		n = 2, cp = c & 0x1F;
	else if (c >= 0xE0 && c <= 0xEF)
		n = 3, cp = c & 0x0F;
	else if (c >= 0xF0 && c <= 0xF4)
		n = 4, cp = c & 0x07;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3F);
	}
	if ((n == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
		return 0;
	return n;
}

int rx_hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* The rest of a string from a byte that is not plain ASCII: escapes,
 * UTF-8, the end, or an error. */
static int scan_string_slow(scanner *sc)
{
	for (;;) {
		while (sc->p < sc->end) {
			unsigned char c = (unsigned char)*sc->p;
			if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
				break;
			sc->p++;
		}
		if (sc->p >= sc->end)
			return fail(sc, "unterminated string");
		unsigned char c = (unsigned char)*sc->p;
		if (c == '"') {
			sc->p++;
			return 0;
		}
		if (c < 0x20)
			return fail(sc, "control character in a string (escape it)");
		if (c >= 0x80) {
			size_t n = utf8_len((const unsigned char *)sc->p, (const unsigned char *)sc->end);
			if (n == 0)
				return fail(sc, "invalid UTF-8 in a string");
			sc->p += n;
			continue;
		}
		/* a backslash */
		sc->escaped = 1;
		sc->p++;
		if (sc->p >= sc->end)
			return fail(sc, "unterminated string");
		switch (*sc->p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			sc->p++;
			break;
		case 'u':
			if (sc->end - sc->p < 5 || rx_hexval(sc->p[1]) < 0 || rx_hexval(sc->p[2]) < 0 ||
			    rx_hexval(sc->p[3]) < 0 || rx_hexval(sc->p[4]) < 0)
				return fail(sc, "bad \\u escape in a string");
			sc->p += 5;
			break;
		default:
			return fail(sc, "bad escape in a string");
		}
	}
}

/* A string, from its opening quote.  Most strings are short plain ASCII:
 * find the first byte that is '"', '\\', below 0x20 or above 0x7f sixteen
 * (SSE2) or eight bytes at a time, and leave the rest to the slow path. */
static inline int scan_string(scanner *sc)
{
	const char *p = sc->p + 1;

	for (;;) {
#ifdef __SSE2__
		if (sc->end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			/* signed: bytes from 0x80 are negative, so below 0x20 too */
			__m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
								 _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))),
						   _mm_cmplt_epi8(v, _mm_set1_epi8(0x20)));
			unsigned mask = (unsigned)_mm_movemask_epi8(hit);
			if (mask == 0) {
				p += 16;
				continue;
			}
			p += __builtin_ctz(mask);
			break;
		}
#endif
		if (sc->end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
			uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
			uint64_t hit = ((q - ones) & ~q) | ((b - ones) & ~b) | (w - ones * 0x20) | w;
			if ((hit & highs) == 0) {
				p += 8;
				continue;
			}
		}
		break;
	}
	sc->p = p;
	if (p < sc->end && *p == '"') {
		sc->p++;
		return 0;
	}
	return scan_string_slow(sc);
}

static int scan_number(scanner *sc)
{
	const char *p = sc->p;

	if (p < sc->end && *p == '-')
		p++;
	if (p >= sc->end || *p < '0' || *p > '9') {
		sc->p = p;
		return fail(sc, "bad number");
	}
	if (*p == '0')
		p++;
	else
		while (p < sc->end && *p >= '0' && *p <= '9')
			p++;
	if (p < sc->end && *p == '.') {
		p++;
		if (p >= sc->end || *p < '0' || *p > '9') {
			sc->p = p;
			return fail(sc, "bad number: a digit must follow '.'");
		}
		while (p < sc->end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < sc->end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < sc->end && (*p == '+' || *p == '-'))
			p++;
		if (p >= sc->end || *p < '0' || *p > '9') {
			sc->p = p;
			return fail(sc, "bad number: a digit must follow the exponent");
		}
		while (p < sc->end && *p >= '0' && *p <= '9')
			p++;
	}
	sc->p = p;
	return 0;
}

static int scan_literal(scanner *sc, const char *word, size_t n)
{
	if ((size_t)(sc->end - sc->p) < n || memcmp(sc->p, word, n) != 0)
		return fail(sc, "expected a JSON value");
	sc->p += n;
	return 0;
}

static int scan_value(scanner *sc, int depth);
static int scan_members(scanner *sc, int depth, rx_members *ms);
static int unique_names(const rx_members *ms, char *err, size_t errlen);

/* One element of a batch's "records" (rx_json_scan_batch): validated as
 * any element, its span and (an object) its members kept in b. */
static int scan_record(scanner *sc, int depth, rx_batch_scan *b)
{
	char err[8];

	if (b->n + 1 >= b->cap) {
		b->cap = b->cap ? b->cap * 2 : 256;
		b->elems = rx_xrealloc(b->elems, b->cap * sizeof *b->elems);
	}
	if (b->n + 2 >= b->fcap) {
		b->fcap = b->fcap ? b->fcap * 2 : 256;
		b->first = rx_xrealloc(b->first, b->fcap * sizeof *b->first);
		b->own = rx_xrealloc(b->own, b->fcap);
	}
	size_t at = b->members.n;
	const char *start = sc->p;
	int object = sc->p < sc->end && *sc->p == '{';
	if (depth > MAX_DEPTH)
		return fail(sc, "nested too deeply");
	if ((object ? scan_members(sc, depth, &b->members) : scan_value(sc, depth)) < 0)
		return -1;
	b->elems[b->n] = rx_span_of(start, (size_t)(sc->p - start));
	b->first[b->n] = at;
	/* a name twice is that change's fault, not the line's: the change is
	 * scanned alone, which says so (as is an element that is no object) */
	rx_members one = {b->members.m + at, b->members.n - at, 0};
	b->own[b->n] = !object || unique_names(&one, err, sizeof err) < 0;
	if (b->own[b->n])
		b->members.n = at;
	b->n++;
	b->first[b->n] = b->members.n;
	return 0;
}

/* An array; with b, the batch's records (each element kept). */
static int scan_array(scanner *sc, int depth, rx_batch_scan *b)
{
	if (b != NULL)
		b->found = 1;
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == ']') {
		sc->p++;
		return 0;
	}
	for (;;) {
		if ((b != NULL ? scan_record(sc, depth + 1, b) : scan_value(sc, depth + 1)) < 0)
			return -1;
		skip_ws(sc);
		if (sc->p >= sc->end)
			return fail(sc, "unterminated array");
		if (*sc->p == ']') {
			sc->p++;
			return 0;
		}
		if (*sc->p != ',')
			return fail(sc, "expected ',' or ']' in an array");
		sc->p++;
		skip_ws(sc);
	}
}

/* Scan an object; when ms is not NULL, record its members. */
static int scan_members(scanner *sc, int depth, rx_members *ms)
{
	sc->p++;
	skip_ws(sc);
	if (sc->p < sc->end && *sc->p == '}') {
		sc->p++;
		return 0;
	}
	for (;;) {
		rx_member m;
		if (sc->p >= sc->end || *sc->p != '"')
			return fail(sc, "expected a member name in quotes");
		m.name.p = sc->p;
		sc->escaped = 0;
		if (scan_string(sc) < 0)
			return -1;
		m.name.n = (size_t)(sc->p - m.name.p);
		m.name_escaped = (unsigned char)sc->escaped;
		skip_ws(sc);
		if (sc->p >= sc->end || *sc->p != ':')
			return fail(sc, "expected ':' after a member name");
		sc->p++;
		skip_ws(sc);
		m.value.p = sc->p;
		sc->escaped = 0;
		if (depth == 0 && sc->batch != NULL && !sc->batch->found && sc->p < sc->end && *sc->p == '[' &&
		    rx_json_name_eq(m.name, "records", 7)) {
			if (scan_array(sc, depth + 1, sc->batch) < 0)
				return -1;
		} else if (scan_value(sc, depth + 1) < 0) {
			return -1;
		}
		m.value.n = (size_t)(sc->p - m.value.p);
		m.value_escaped = (unsigned char)sc->escaped;
		if (ms != NULL) {
			if (ms->n == ms->cap) {
				ms->cap = ms->cap ? ms->cap * 2 : 32;
				ms->m = rx_xrealloc(ms->m, ms->cap * sizeof *ms->m);
			}
			ms->m[ms->n++] = m;
		}
		skip_ws(sc);
		if (sc->p >= sc->end)
			return fail(sc, "unterminated object");
		if (*sc->p == '}') {
			sc->p++;
			return 0;
		}
		if (*sc->p != ',')
			return fail(sc, "expected ',' or '}' in an object");
		sc->p++;
		skip_ws(sc);
	}
}

static int scan_value(scanner *sc, int depth)
{
	if (depth > MAX_DEPTH)
		return fail(sc, "nested too deeply");
	if (sc->p >= sc->end)
		return fail(sc, "expected a JSON value");
	switch (*sc->p) {
	case '{': return scan_members(sc, depth, NULL);
	case '[': return scan_array(sc, depth, NULL);
	case '"': return scan_string(sc);
	case 't': return scan_literal(sc, "true", 4);
	case 'f': return scan_literal(sc, "false", 5);
	case 'n': return scan_literal(sc, "null", 4);
	default: return scan_number(sc);
	}
}

/* Two members of one name: "member "id" appears twice (members 1 and 5)". */
static int twice(const rx_members *ms, size_t a, size_t b, char *err, size_t errlen)
{
	rx_span name = ms->m[b].name;
	int shown = name.n > 66 ? 64 : (int)name.n;

	snprintf(err, errlen, "member %.*s%s appears twice (members %zu and %zu): a row holds one value a name",
		 shown, name.p, shown < (int)name.n ? "...\"" : "", a + 1, b + 1);
	return -1;
}

/* Names compared decoded, for the rare object with an escaped name. */
static int unique_decoded(const rx_members *ms, char *err, size_t errlen)
{
	rx_buf *names = calloc(ms->n, sizeof *names);
	int rc = 0;

	if (names == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < ms->n && rc == 0; i++) {
		rx_json_string_decode(ms->m[i].name, &names[i]);
		for (size_t j = 0; j < i && rc == 0; j++)
			if (names[j].len == names[i].len && memcmp(names[j].data, names[i].data, names[i].len) == 0)
				rc = twice(ms, j, i, err, errlen);
	}
	for (size_t i = 0; i < ms->n; i++)
		rx_buf_free(&names[i]);
	free(names);
	return rc;
}

/*
 * Two top-level members of one name make a row two things at once: rx
 * keys it on the first, jq and most destinations' parsers keep the last
 * (a join's "select *" sent plan ids as customer ids).  So an object with
 * a repeated name is bad input.  Raw names go into an open-addressing
 * table by a hash of their length and first and last two bytes; the
 * table is the thread's own and is cleared by bumping a generation, so a
 * usual row costs a few instructions a member and no memset.
 */
#define NAME_SLOTS 1024

static _Thread_local struct {
	uint32_t gen;
	uint32_t stamp[NAME_SLOTS]; /* slot in use in this generation */
	uint16_t index[NAME_SLOTS]; /* which member holds it */
} names_seen;

static inline uint64_t name_hash(const char *p, size_t n)
{
	/* a raw name has its quotes: mix the length and two bytes from each end */
	const unsigned char *u = (const unsigned char *)p;
	uint64_t k = n;

	if (n >= 4)
		k |= (uint64_t)u[1] << 16 | (uint64_t)u[2] << 24 | (uint64_t)u[n - 3] << 32 | (uint64_t)u[n - 2] << 40;
	return k * 0x9E3779B97F4A7C15u;
}

static int unique_names(const rx_members *ms, char *err, size_t errlen)
{
	size_t n = ms->n;

	if (n < 2)
		return 0;
	if (2 * n > NAME_SLOTS)
		return unique_decoded(ms, err, errlen); /* a very wide row: pairwise */
	size_t mask = ((size_t)2 << (63 - __builtin_clzll((unsigned long long)(2 * n - 1)))) - 1;
	if (++names_seen.gen == 0) {
		memset(names_seen.stamp, 0, sizeof names_seen.stamp);
		names_seen.gen = 1;
	}
	uint32_t gen = names_seen.gen;
	for (size_t i = 0; i < n; i++) {
		const rx_member *m = &ms->m[i];
		if (m->name_escaped)
			return unique_decoded(ms, err, errlen); /* "\u0069d" is "id" */
		size_t at = (size_t)(name_hash(m->name.p, m->name.n) >> 54) & mask;
		for (;; at = (at + 1) & mask) {
			if (names_seen.stamp[at] != gen) {
				names_seen.stamp[at] = gen;
				names_seen.index[at] = (uint16_t)i;
				break;
			}
			rx_span b = ms->m[names_seen.index[at]].name;
			if (b.n == m->name.n && memcmp(b.p, m->name.p, b.n) == 0)
				return twice(ms, names_seen.index[at], i, err, errlen);
		}
	}
	return 0;
}

static int scan_object(scanner *sc, rx_members *out);

int rx_json_scan_object(const char *s, size_t n, rx_members *out, char *err, size_t errlen)
{
	scanner sc = {s, s + n, s, err, errlen, 0, NULL};

	return scan_object(&sc, out);
}

int rx_json_scan_batch(const char *s, size_t n, rx_members *out, rx_batch_scan *b, char *err, size_t errlen)
{
	scanner sc = {s, s + n, s, err, errlen, 0, b};

	b->found = 0;
	b->n = 0;
	b->members.n = 0;
	return scan_object(&sc, out);
}

/* One object filling the line (white space around it), its members into
 * out, no name twice among them. */
static int scan_object(scanner *scp, rx_members *out)
{
	scanner sc = *scp;
	const char *s = sc.s;
	size_t n = (size_t)(sc.end - sc.s);
	char *err = sc.err;
	size_t errlen = sc.errlen;

	out->n = 0;
	skip_ws(&sc);
	if (sc.p >= sc.end)
		return fail(&sc, "empty line (expected a JSON object)");
	if (*sc.p != '{') {
		static const char *const names[] = {"an array", "a string", "a number", "true", "false", "null"};
		const char *kind = names[strchr("asntfz", rx_json_kind(rx_span_of(sc.p, 1))) - "asntfz"];
		if (*sc.p != '[' && *sc.p != '"' && *sc.p != '-' && (*sc.p < '0' || *sc.p > '9') &&
		    *sc.p != 't' && *sc.p != 'f' && *sc.p != 'n')
			return fail(&sc, "expected a JSON object");
		if (rx_json_validate(s, n, err, errlen) < 0)
			return -1;
		snprintf(err, errlen, "not a JSON object (%s)", kind);
		return -1;
	}
	if (scan_members(&sc, 0, out) < 0)
		return -1;
	skip_ws(&sc);
	if (sc.p != sc.end)
		return fail(&sc, "unexpected text after the object");
	return unique_names(out, err, errlen);
}

int rx_json_validate(const char *s, size_t n, char *err, size_t errlen)
{
	scanner sc = {s, s + n, s, err, errlen, 0, NULL};

	skip_ws(&sc);
	if (scan_value(&sc, 0) < 0)
		return -1;
	skip_ws(&sc);
	if (sc.p != sc.end)
		return fail(&sc, "unexpected text after the value");
	return 0;
}

int rx_json_name_eq_escaped(rx_span raw, const char *name, size_t namelen)
{
	/* rx_json_name_eq (rx.h) took the names of the same length or shorter;
	 * an escape only makes a name longer than its text */
	if (raw.n <= namelen + 2 || memchr(raw.p, '\\', raw.n) == NULL)
		return 0;
	rx_buf tmp = {0};
	rx_json_string_decode(raw, &tmp);
	int eq = tmp.len == namelen && memcmp(tmp.data, name, namelen) == 0;
	rx_buf_free(&tmp);
	return eq;
}

long rx_json_find(const rx_members *ms, const char *name, size_t namelen)
{
	/* the scanner marked the names with an escape: the others are their bytes */
	for (size_t i = 0; i < ms->n; i++) {
		const rx_member *m = &ms->m[i];
		if (m->name.n == namelen + 2 && memcmp(m->name.p + 1, name, namelen) == 0)
			return (long)i;
		if (m->name_escaped && rx_json_name_eq(m->name, name, namelen))
			return (long)i;
	}
	return -1;
}

static void put_utf8(rx_buf *b, unsigned cp)
{
	char u[4];

	if (cp < 0x80) {
		rx_buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		u[0] = (char)(0xC0 | (cp >> 6));
		u[1] = (char)(0x80 | (cp & 0x3F));
		rx_buf_put(b, u, 2);
	} else if (cp < 0x10000) {
		u[0] = (char)(0xE0 | (cp >> 12));
		u[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[2] = (char)(0x80 | (cp & 0x3F));
		rx_buf_put(b, u, 3);
	} else {
		u[0] = (char)(0xF0 | (cp >> 18));
		u[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
		u[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
		u[3] = (char)(0x80 | (cp & 0x3F));
		rx_buf_put(b, u, 4);
	}
}

static unsigned hex4(const char *p)
{
	return (unsigned)(rx_hexval(p[0]) << 12 | rx_hexval(p[1]) << 8 | rx_hexval(p[2]) << 4 | rx_hexval(p[3]));
}

void rx_json_string_decode(rx_span raw, rx_buf *out)
{
	const char *p = raw.p + 1, *end = raw.p + raw.n - 1;

	while (p < end) {
		const char *q = p;
		while (q < end && *q != '\\')
			q++;
		rx_buf_put(out, p, (size_t)(q - p));
		if (q >= end)
			break;
		q++;
		switch (*q) {
		case 'b': rx_buf_putc(out, '\b'); q++; break;
		case 'f': rx_buf_putc(out, '\f'); q++; break;
		case 'n': rx_buf_putc(out, '\n'); q++; break;
		case 'r': rx_buf_putc(out, '\r'); q++; break;
		case 't': rx_buf_putc(out, '\t'); q++; break;
		case 'u': {
			unsigned cp = hex4(q + 1);
			q += 5;
			if (cp >= 0xD800 && cp <= 0xDBFF && end - q >= 6 && q[0] == '\\' && q[1] == 'u') {
				unsigned lo = hex4(q + 2);
				if (lo >= 0xDC00 && lo <= 0xDFFF) {
					cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
					q += 6;
				}
			}
			if (cp >= 0xD800 && cp <= 0xDFFF)
				cp = 0xFFFD; /* a lone surrogate */
			put_utf8(out, cp);
			break;
		}
		default: /* '"', '\\', '/' */
			rx_buf_putc(out, *q);
			q++;
		}
		p = q;
	}
}

void rx_json_put_text(rx_buf *b, const char *s, size_t n)
{
	rx_buf clean = {0};
	size_t i = 0;

	/* text from elsewhere (a reply, a library's message) may be any bytes:
	 * what is not UTF-8 becomes U+FFFD, so the line stays valid JSON */
	while (i < n) {
		unsigned char c = (unsigned char)s[i];
		size_t k = c < 0x80 ? 1 : utf8_len((const unsigned char *)s + i, (const unsigned char *)s + n);
		if (k == 0) {
			rx_buf_put(&clean, "\xEF\xBF\xBD", 3);
			i++;
		} else {
			rx_buf_put(&clean, s + i, k);
			i += k;
		}
	}
	rx_json_put_string(b, clean.data ? clean.data : "", clean.len);
	rx_buf_free(&clean);
}

void rx_json_put_string(rx_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	rx_buf_reserve(b, n + 2);
	rx_buf_putc(b, '"');
	while (i < n) {
		size_t j = i;
		while (j < n) {
			unsigned char c = (unsigned char)s[j];
			if (c < 0x20 || c == '"' || c == '\\')
				break;
			j++;
		}
		rx_buf_put(b, s + i, j - i);
		if (j >= n)
			break;
		unsigned char c = (unsigned char)s[j];
		char esc[6] = {'\\', 0, 0, 0, 0, 0};
		size_t en = 2;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			en = 6;
		}
		rx_buf_put(b, esc, en);
		i = j + 1;
	}
	rx_buf_putc(b, '"');
}

/* The first '"' or '\\' at or after p (end when none), sixteen (SSE2) or
 * eight bytes at a time: a string's body is most of a record's bytes. */
static inline const char *quote_or_backslash(const char *p, const char *end)
{
	for (;;) {
#ifdef __SSE2__
		if (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			unsigned mask = (unsigned)_mm_movemask_epi8(
				_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
			if (mask == 0) {
				p += 16;
				continue;
			}
			return p + __builtin_ctz(mask);
		}
#endif
		if (end - p >= 8) {
			uint64_t w;
			memcpy(&w, p, 8);
			const uint64_t ones = 0x0101010101010101u, highs = 0x8080808080808080u;
			uint64_t q = w ^ (ones * '"'), b = w ^ (ones * '\\');
			if (((((q - ones) & ~q) | ((b - ones) & ~b)) & highs) == 0) {
				p += 8;
				continue;
			}
		}
		break;
	}
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* Past the string whose opening quote is at p (end at most); *esc set
 * when it holds an escape. */
static inline const char *skip_string_esc(const char *p, const char *end, int *esc)
{
	p++;
	for (;;) {
		p = quote_or_backslash(p, end);
		if (p >= end)
			return end;
		if (*p == '"')
			return p + 1;
		*esc = 1;
		p += 2; /* an escape */
		if (p >= end)
			return end;
	}
}

static inline const char *skip_string(const char *p, const char *end)
{
	int esc = 0;
	return skip_string_esc(p, end, &esc);
}

static inline int is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Whole runs are copied: only white space outside strings breaks one. */
void rx_json_put_compact(rx_buf *b, rx_span v)
{
	const char *p = v.p, *end = v.p + v.n, *run = p;

	while (p < end) {
		if (*p == '"') {
			p = skip_string(p, end);
		} else if (is_ws(*p)) {
			rx_buf_put(b, run, (size_t)(p - run));
			while (p < end && is_ws(*p))
				p++;
			run = p;
		} else {
			p++;
		}
	}
	rx_buf_put(b, run, (size_t)(end - run));
}

size_t rx_json_array_split(rx_span a, rx_span *out, size_t cap)
{
	size_t n = 0, depth = 0;
	const char *p = a.p + 1, *end = a.p + a.n - 1, *start = NULL;

	while (p < end) {
		char ch = *p;
		if (is_ws(ch)) {
			p++;
			continue;
		}
		if (start == NULL)
			start = p;
		if (ch == '"') {
			p = skip_string(p, end);
			continue;
		}
		if (ch == '{' || ch == '[') {
			depth++;
		} else if (ch == '}' || ch == ']') {
			depth--;
		} else if (ch == ',' && depth == 0) {
			const char *e = p;
			while (e > start && is_ws(e[-1]))
				e--;
			if (n < cap)
				out[n] = rx_span_of(start, (size_t)(e - start));
			n++;
			start = NULL;
		}
		p++;
	}
	if (start != NULL) {
		const char *e = end;
		while (e > start && is_ws(e[-1]))
			e--;
		if (n < cap)
			out[n] = rx_span_of(start, (size_t)(e - start));
		n++;
	}
	return n;
}

/* Past the value at p, already validated (end at most). */
static const char *skip_value(const char *p, const char *end, int *esc)
{
	if (p < end && *p == '"')
		return skip_string_esc(p, end, esc);
	if (p < end && (*p == '{' || *p == '[')) {
		size_t depth = 0;
		while (p < end) {
			char ch = *p;
			if (ch == '"') {
				p = skip_string_esc(p, end, esc);
				continue;
			}
			p++;
			if (ch == '{' || ch == '[')
				depth++;
			else if ((ch == '}' || ch == ']') && --depth == 0)
				return p;
		}
		return end;
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && !is_ws(*p))
		p++;
	return p;
}

int rx_json_members(const char *s, size_t n, rx_members *out, char *err, size_t errlen)
{
	const char *p = s, *end = s + n;

	out->n = 0;
	while (p < end && is_ws(*p))
		p++;
	if (p >= end || *p != '{')
		goto bad;
	p++;
	for (;;) {
		while (p < end && is_ws(*p))
			p++;
		if (p < end && *p == '}' && out->n == 0)
			break;
		if (p >= end || *p != '"')
			goto bad;
		rx_member m;
		int esc = 0;
		m.name.p = p;
		p = skip_string_esc(p, end, &esc);
		m.name.n = (size_t)(p - m.name.p);
		m.name_escaped = (unsigned char)esc;
		while (p < end && is_ws(*p))
			p++;
		if (p >= end || *p != ':')
			goto bad;
		p++;
		while (p < end && is_ws(*p))
			p++;
		esc = 0;
		m.value.p = p;
		p = skip_value(p, end, &esc);
		m.value.n = (size_t)(p - m.value.p);
		m.value_escaped = (unsigned char)esc;
		if (m.value.n == 0)
			goto bad;
		if (out->n == out->cap) {
			out->cap = out->cap ? out->cap * 2 : 32;
			out->m = rx_xrealloc(out->m, out->cap * sizeof *out->m);
		}
		out->m[out->n++] = m;
		while (p < end && is_ws(*p))
			p++;
		if (p < end && *p == ',') {
			p++;
			continue;
		}
		if (p < end && *p == '}')
			break;
		goto bad;
	}
	return unique_names(out, err, errlen);
bad:
	snprintf(err, errlen, "not a JSON object");
	return -1;
}

int rx_json_number_exact(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	size_t intdigits = 0, sig = 0, pending_zeros = 0;
	int fraction = 0, started = 0;

	if (p < end && *p == '-')
		p++;
	const char *int_start = p;
	for (; p < end && *p >= '0' && *p <= '9'; p++)
		intdigits++;
	const char *int_end = p;
	if (p < end && (*p == '.' || *p == 'e' || *p == 'E'))
		fraction = 1;
	if (!fraction) {
		/* an integer: exact within +-2^53 */
		if (intdigits < 16)
			return 1;
		if (intdigits > 16)
			return 0;
		return memcmp(int_start, "9007199254740992", 16) <= 0;
	}
	/* count significant digits of the mantissa */
	for (const char *q = int_start; q < end; q++) {
		if (q == int_end && *q == '.')
			continue;
		if (*q < '0' || *q > '9')
			break;
		if (*q == '0') {
			if (started)
				pending_zeros++;
			continue;
		}
		started = 1;
		sig += pending_zeros + 1;
		pending_zeros = 0;
	}
	if (sig > 15)
		return 0;
	/* an exponent that over- or underflows a double is not exact either;
	 * s need not be NUL-terminated, so parse a copy */
	char copy[512];
	if (n >= sizeof copy)
		return 0;
	memcpy(copy, s, n);
	copy[n] = '\0';
	double d = strtod(copy, NULL);
	if (isinf(d) || (d == 0 && sig > 0))
		return 0;
	return 1;
}

void rx_json_put_int(rx_buf *b, long long v)
{
	char tmp[24], *p = tmp + sizeof tmp;
	unsigned long long u = v < 0 ? 0ULL - (unsigned long long)v : (unsigned long long)v;

	do
		*--p = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (v < 0)
		*--p = '-';
	rx_buf_put(b, p, (size_t)(tmp + sizeof tmp - p));
}

void rx_json_put_double(rx_buf *b, double d)
{
	static const double pow10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};
	char tmp[32];

	if (!isfinite(d)) {
		rx_buf_put(b, "null", 4);
		return;
	}
	if (d == 0) {
		rx_buf_puts(b, signbit(d) ? "-0" : "0");
		return;
	}
	/* Fast path for the usual warehouse value, a decimal with few places:
	 * m / 10^k computed in doubles is correctly rounded, so when it equals
	 * d the text "m with k places" reads back as d, and the smallest k is
	 * the shortest such text. */
	if (fabs(d) < 1e15) {
		for (int k = 0; k <= 6; k++) {
			double scaled = d * pow10[k];
			if (fabs(scaled) >= 9007199254740992.0)
				break;
			long long m = llround(scaled);
			if ((double)m / pow10[k] != d)
				continue;
			if (k == 0) {
				rx_json_put_int(b, m);
				return;
			}
			unsigned long long u = m < 0 ? 0ULL - (unsigned long long)m : (unsigned long long)m;
			char digits[24];
			int n = snprintf(digits, sizeof digits, "%0*llu", k + 1, u);
			if (m < 0)
				rx_buf_putc(b, '-');
			rx_buf_put(b, digits, (size_t)(n - k));
			rx_buf_putc(b, '.');
			rx_buf_put(b, digits + n - k, (size_t)k);
			return;
		}
	}
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(tmp, sizeof tmp, "%.*g", prec, d);
		if (prec == 17 || strtod(tmp, NULL) == d)
			break;
	}
	rx_buf_puts(b, tmp);
}

int rx_utf8_valid(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s, *end = p + n;

	while (p < end) {
		if (*p < 0x80) {
			p++;
			continue;
		}
		size_t k = utf8_len(p, end);
		if (k == 0)
			return 0;
		p += k;
	}
	return 1;
}

char rx_json_kind(rx_span v)
{
	if (v.n == 0)
		return 0;
	switch (v.p[0]) {
	case '{': return 'o';
	case '[': return 'a';
	case '"': return 's';
	case 't': return 't';
	case 'f': return 'f';
	case 'n': return 'z';
	default: return 'n';
	}
}
