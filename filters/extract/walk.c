/*
 * walk.c - stepping through validated JSON, and the cell conversions the
 * HTTP warehouses share (see http.h).
 *
 * NOTES ON THE DESIGN
 *
 *  - A reply body is validated once, whole (rx_json_validate, strict
 *    UTF-8); the walker then trusts it and only finds where values begin
 *    and end.  Nothing is copied: a string cell without escapes is
 *    written out from the body itself.
 *  - Numbers never pass through a double: every warehouse sends numeric
 *    cells as strings, and their text decides (rx_extract_put_number).
 *    Epoch times are split into integer seconds and fraction digits from
 *    the text, so a nanosecond or a float seconds value in E-notation is
 *    converted exactly.
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

static inline const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Past a string whose opening quote is at p: sixteen bytes at a time
 * (SSE2) to the next '"' or '\\', as json.c's scanner does. */
static inline const char *skip_string(const char *p, const char *end)
{
	p++;
	for (;;) {
#ifdef __SSE2__
		while (end - p >= 16) {
			__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
			unsigned mask = (unsigned)_mm_movemask_epi8(
				_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
			if (mask != 0) {
				p += __builtin_ctz(mask);
				break;
			}
			p += 16;
		}
#endif
		while (p < end && *p != '"' && *p != '\\')
			p++;
		if (p >= end)
			return end;
		if (*p == '"')
			return p + 1;
		p += 2; /* an escape */
	}
}

/* Past the value that starts at p. */
static const char *skip_value(const char *p, const char *end)
{
	int depth = 0;

	switch (*p) {
	case '"':
		return skip_string(p, end);
	case '{':
	case '[':
		for (; p < end; p++) {
			char c = *p;
			if (c == '"') {
				p = skip_string(p, end) - 1;
			} else if (c == '{' || c == '[') {
				depth++;
			} else if (c == '}' || c == ']') {
				if (--depth == 0)
					return p + 1;
			}
		}
		return end;
	default:
		while (p < end && *p != ',' && *p != ']' && *p != '}' && *p != ' ' && *p != '\t' && *p != '\n' &&
		       *p != '\r')
			p++;
		return p;
	}
}

int rx_walk_start(rx_walk *w, rx_span v)
{
	if (v.n < 2 || (v.p[0] != '[' && v.p[0] != '{'))
		return -1;
	w->p = v.p + 1;
	w->end = v.p + v.n;
	return 0;
}

/* Before the next element: past white space and a ','.  0 at the
 * container's end (then past its closing bracket). */
static inline int prelude(rx_walk *w)
{
	const char *p = skip_ws(w->p, w->end);

	if (p < w->end && *p == ',')
		p = skip_ws(p + 1, w->end);
	if (p >= w->end || *p == ']' || *p == '}') {
		w->p = p < w->end ? p + 1 : w->end;
		return 0;
	}
	w->p = p;
	return 1;
}

int rx_walk_next(rx_walk *w, rx_span *value)
{
	if (!prelude(w))
		return 0;
	const char *q = skip_value(w->p, w->end);
	value->p = w->p;
	value->n = (size_t)(q - w->p);
	w->p = q;
	return 1;
}

int rx_walk_next_name(rx_walk *w, rx_span *name)
{
	if (!prelude(w))
		return 0;
	if (*w->p != '"') { /* not an object: nothing to name */
		w->p = w->end;
		return 0;
	}
	const char *q = skip_string(w->p, w->end);
	name->p = w->p;
	name->n = (size_t)(q - w->p);
	q = skip_ws(q, w->end);
	if (q < w->end && *q == ':')
		q = skip_ws(q + 1, w->end);
	w->p = q;
	return 1;
}

int rx_walk_next_member(rx_walk *w, rx_span *name, rx_span *value)
{
	if (!rx_walk_next_name(w, name))
		return 0;
	const char *q = skip_value(w->p, w->end);
	value->p = w->p;
	value->n = (size_t)(q - w->p);
	w->p = q;
	return 1;
}

int rx_walk_enter(rx_walk *w, rx_walk *inner)
{
	if (!prelude(w))
		return 0;
	if (*w->p != '[' && *w->p != '{')
		return -1;
	inner->p = w->p + 1;
	inner->end = w->end;
	return 1;
}

void rx_walk_leave(rx_walk *w, const rx_walk *inner)
{
	w->p = inner->p;
}

void rx_walk_finish(rx_walk *w)
{
	const char *p = w->p;
	int depth = 0;

	while (p < w->end) {
		char c = *p;
		if (c == '"') {
			p = skip_string(p, w->end);
			continue;
		}
		if (c == '[' || c == '{') {
			depth++;
		} else if (c == ']' || c == '}') {
			if (depth == 0) {
				w->p = p + 1;
				return;
			}
			depth--;
		}
		p++;
	}
	w->p = w->end;
}

int rx_walk_member(const rx_members *ms, const char *name, rx_span *value)
{
	long i = rx_json_find(ms, name, strlen(name));

	if (i < 0)
		return 0;
	*value = ms->m[i].value;
	return 1;
}

int rx_walk_get(rx_span object, const char *name, rx_span *value)
{
	rx_walk w;
	rx_span n, v;
	size_t len = strlen(name);

	if (object.n == 0 || object.p[0] != '{' || rx_walk_start(&w, object) < 0)
		return 0;
	while (rx_walk_next_member(&w, &n, &v))
		if (rx_json_name_eq(n, name, len)) {
			*value = v;
			return 1;
		}
	return 0;
}

rx_span rx_walk_text(rx_span v, rx_buf *scratch)
{
	if (v.n >= 2 && v.p[0] == '"') {
		if (memchr(v.p, '\\', v.n) == NULL)
			return rx_span_of(v.p + 1, v.n - 2);
		rx_buf_reset(scratch);
		rx_json_string_decode(v, scratch);
		rx_buf_reserve(scratch, 0);
		return rx_span_of(scratch->data, scratch->len);
	}
	return v;
}

char *rx_walk_member_strdup(const rx_members *ms, const char *name, rx_buf *scratch)
{
	rx_span v;

	if (!rx_walk_member(ms, name, &v) || rx_json_kind(v) != 's')
		return NULL;
	rx_span t = rx_walk_text(v, scratch);
	char *copy = rx_xmalloc(t.n + 1);
	memcpy(copy, t.p, t.n);
	copy[t.n] = '\0';
	return copy;
}

char *rx_walk_strdup(rx_span object, const char *name)
{
	rx_span v;
	rx_buf b = {0};

	if (!rx_walk_get(object, name, &v) || rx_json_kind(v) == 'z')
		return NULL;
	if (rx_json_kind(v) == 's')
		rx_json_string_decode(v, &b);
	else
		rx_buf_put(&b, v.p, v.n);
	rx_buf_reserve(&b, 0);
	return b.data;
}

int rx_walk_int(rx_span object, const char *name, long long *out)
{
	rx_span v;
	char tmp[32], *end;

	if (!rx_walk_get(object, name, &v))
		return 0;
	if (v.n >= 2 && v.p[0] == '"')
		v = rx_span_of(v.p + 1, v.n - 2);
	if (v.n == 0 || v.n >= sizeof tmp)
		return 0;
	memcpy(tmp, v.p, v.n);
	tmp[v.n] = '\0';
	long long x = strtoll(tmp, &end, 10);
	if (*end != '\0')
		return 0;
	*out = x;
	return 1;
}

int rx_walk_true(rx_span object, const char *name)
{
	rx_span v;

	return rx_walk_get(object, name, &v) && v.n == 4 && memcmp(v.p, "true", 4) == 0;
}

long rx_walk_count(rx_span v)
{
	rx_walk w;
	rx_span e;
	long n = 0;

	if (v.n == 0 || v.p[0] != '[' || rx_walk_start(&w, v) < 0)
		return -1;
	while (rx_walk_next(&w, &e))
		n++;
	return n;
}

/* ---- cells ---- */

/* Is s[0..n) exactly a JSON number? */
static int is_json_number(const char *s, size_t n)
{
	const char *p = s, *end = s + n;

	if (p < end && *p == '-')
		p++;
	if (p >= end || *p < '0' || *p > '9')
		return 0;
	if (*p == '0')
		p++;
	else
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	if (p < end && *p == '.') {
		p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			p++;
		if (p >= end || *p < '0' || *p > '9')
			return 0;
		while (p < end && *p >= '0' && *p <= '9')
			p++;
	}
	return p == end;
}

void rx_cell_number(rx_buf *b, const char *s, size_t n)
{
	if (is_json_number(s, n))
		rx_extract_put_number(b, s, n);
	else
		rx_json_put_string(b, s, n);
}

void rx_cell_float(rx_buf *b, const char *s, size_t n)
{
	if (is_json_number(s, n))
		rx_buf_put(b, s, n);
	else
		rx_json_put_string(b, s, n);
}

void rx_cell_bool(rx_buf *b, const char *s, size_t n)
{
	if (n == 4 && strncasecmp(s, "true", 4) == 0)
		rx_buf_put(b, "true", 4);
	else if (n == 5 && strncasecmp(s, "false", 5) == 0)
		rx_buf_put(b, "false", 5);
	else
		rx_json_put_string(b, s, n);
}

/* Copy validated JSON compactly, numbers through rx_extract_put_number. */
static void put_exact(rx_buf *b, const char *p, const char *end)
{
	while (p < end) {
		char c = *p;
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			p++;
		} else if (c == '"') {
			const char *q = skip_string(p, end);
			rx_buf_put(b, p, (size_t)(q - p));
			p = q;
		} else if (c == '-' || (c >= '0' && c <= '9')) {
			const char *q = p;
			while (q < end && (strchr("+-.eE", *q) != NULL || (*q >= '0' && *q <= '9')) && *q != '\0')
				q++;
			rx_extract_put_number(b, p, (size_t)(q - p));
			p = q;
		} else {
			rx_buf_putc(b, c);
			p++;
		}
	}
}

void rx_cell_json(rx_buf *b, const char *s, size_t n)
{
	char err[128];

	if (n > 0 && rx_json_validate(s, n, err, sizeof err) == 0)
		put_exact(b, s, s + n);
	else
		rx_json_put_string(b, s, n);
}

/* Days since 1970-01-01 to a civil date (H. Hinnant's algorithm). */
static void civil_from_days(long long z, long long *y, unsigned *m, unsigned *d)
{
	z += 719468;
	long long era = (z >= 0 ? z : z - 146096) / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = (long long)yoe + era * 400 + (*m <= 2);
}

/* Append v as exactly `width` decimal digits (v < 10^width). */
static inline void put_digits(rx_buf *b, unsigned v, int width)
{
	char tmp[8];

	for (int i = width - 1; i >= 0; i--, v /= 10)
		tmp[i] = (char)('0' + v % 10);
	rx_buf_put(b, tmp, (size_t)width);
}

static int put_date(rx_buf *b, long long days)
{
	long long y;
	unsigned m, d;

	if (days < -719162 || days > 2932896) /* 0001-01-01 .. 9999-12-31 */
		return -1;
	civil_from_days(days, &y, &m, &d);
	put_digits(b, (unsigned)y, 4);
	rx_buf_putc(b, '-');
	put_digits(b, m, 2);
	rx_buf_putc(b, '-');
	put_digits(b, d, 2);
	return 0;
}

/* A decimal text (optionally signed, with a fraction and an exponent)
 * as a sign, integer part and fraction digits, exactly.  0 or -1 (not a
 * number, too large, or more than 18 fraction digits). */
typedef struct decimal {
	int negative;
	long long whole;        /* the integer part, >= 0 */
	char frac[19];          /* fraction digits, NUL-terminated, no trailing zeros */
	size_t fraclen;
} decimal;

static int parse_decimal(const char *s, size_t n, decimal *d)
{
	char digits[64];
	size_t nd = 0, point = 0;
	long exp = 0;
	const char *p = s, *end = s + n;

	memset(d, 0, sizeof *d);
	if (p < end && (*p == '-' || *p == '+'))
		d->negative = *p++ == '-';
	int seen_point = 0, any = 0;
	for (; p < end; p++) {
		if (*p >= '0' && *p <= '9') {
			if (nd >= sizeof digits)
				return -1;
			digits[nd++] = *p;
			if (!seen_point)
				point++;
			any = 1;
		} else if (*p == '.' && !seen_point) {
			seen_point = 1;
		} else {
			break;
		}
	}
	if (!any)
		return -1;
	if (p < end && (*p == 'e' || *p == 'E')) {
		char tmp[16], *e;
		size_t en = (size_t)(end - p - 1);
		if (en == 0 || en >= sizeof tmp)
			return -1;
		memcpy(tmp, p + 1, en);
		tmp[en] = '\0';
		exp = strtol(tmp, &e, 10);
		if (*e != '\0' || exp > 30 || exp < -30)
			return -1;
		p = end;
	}
	if (p != end)
		return -1;
	long pos = (long)point + exp; /* digits before the point */
	for (long i = 0; i < pos; i++) {
		char c = i < (long)nd ? digits[i] : '0';
		if (d->whole > 99999999999999999LL) /* 18 digits: microseconds to year 9999 */
			return -1;
		d->whole = d->whole * 10 + (c - '0');
	}
	for (long i = pos; i < (long)nd; i++) {
		char c = i < 0 ? '0' : digits[i]; /* i < 0: a zero after the point */
		if (d->fraclen >= sizeof d->frac - 1) {
			if (c != '0')
				return -1;
			continue;
		}
		d->frac[d->fraclen++] = c;
	}
	while (d->fraclen > 0 && d->frac[d->fraclen - 1] == '0')
		d->fraclen--;
	d->frac[d->fraclen] = '\0';
	return 0;
}

/* floor() of a negative decimal: -1.25 is -2 and .75 */
static void decimal_floor(decimal *d)
{
	if (!d->negative)
		return;
	if (d->fraclen == 0) {
		d->whole = -d->whole;
		d->negative = 0;
		return;
	}
	/* 10^k - f, digit by digit */
	int borrow = 0;
	for (size_t i = d->fraclen; i-- > 0;) {
		int v = (i == d->fraclen - 1 ? 10 : 9) - (d->frac[i] - '0') - borrow;
		borrow = 0;
		if (v < 0) {
			v += 10;
			borrow = 1;
		}
		d->frac[i] = (char)('0' + v);
	}
	d->whole = -d->whole - 1;
	d->negative = 0;
	while (d->fraclen > 0 && d->frac[d->fraclen - 1] == '0')
		d->fraclen--;
	d->frac[d->fraclen] = '\0';
}

static long long floor_div(long long a, long long b)
{
	long long q = a / b;
	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void rx_cell_days(rx_buf *b, const char *s, size_t n)
{
	decimal d;
	size_t start = b->len;

	if (parse_decimal(s, n, &d) == 0 && d.fraclen == 0) {
		rx_buf_putc(b, '"');
		if (put_date(b, d.negative ? -d.whole : d.whole) == 0) {
			rx_buf_putc(b, '"');
			return;
		}
		b->len = start;
	}
	rx_json_put_string(b, s, n);
}

static void put_clock(rx_buf *b, long long secs_of_day, const decimal *d)
{
	put_digits(b, (unsigned)(secs_of_day / 3600), 2);
	rx_buf_putc(b, ':');
	put_digits(b, (unsigned)(secs_of_day / 60 % 60), 2);
	rx_buf_putc(b, ':');
	put_digits(b, (unsigned)(secs_of_day % 60), 2);
	if (d->fraclen > 0) {
		rx_buf_putc(b, '.');
		rx_buf_put(b, d->frac, d->fraclen);
	}
}

void rx_cell_epoch(rx_buf *b, const char *s, size_t n, int units, char zone, long offset_minutes)
{
	decimal d;
	size_t start = b->len;

	if (units == 6 && memchr(s, '.', n) == NULL && memchr(s, 'e', n) == NULL && memchr(s, 'E', n) == NULL) {
		/* integer microseconds */
		if (parse_decimal(s, n, &d) < 0)
			goto raw;
		long long us = d.negative ? -d.whole : d.whole;
		long long sec = floor_div(us, 1000000);
		long long micro = us - sec * 1000000;
		memset(&d, 0, sizeof d);
		d.whole = sec;
		for (int i = 5; i >= 0; i--, micro /= 10)
			d.frac[i] = (char)('0' + micro % 10);
		d.fraclen = 6;
		while (d.fraclen > 0 && d.frac[d.fraclen - 1] == '0')
			d.fraclen--;
		d.frac[d.fraclen] = '\0';
	} else {
		/* decimal seconds (also a float where microseconds were asked) */
		if (parse_decimal(s, n, &d) < 0)
			goto raw;
		decimal_floor(&d);
	}
	long long t = d.whole;
	if (zone == 'o')
		t += (long long)offset_minutes * 60;
	long long days = floor_div(t, 86400), secs = t - days * 86400;
	rx_buf_putc(b, '"');
	if (put_date(b, days) < 0) {
		b->len = start;
		goto raw;
	}
	rx_buf_putc(b, 'T');
	put_clock(b, secs, &d);
	if (zone == 'u') {
		rx_buf_put(b, "+00:00", 6);
	} else if (zone == 'o') {
		long off = offset_minutes < 0 ? -offset_minutes : offset_minutes;
		rx_buf_putc(b, offset_minutes < 0 ? '-' : '+');
		put_digits(b, (unsigned)(off / 60 % 100), 2);
		rx_buf_putc(b, ':');
		put_digits(b, (unsigned)(off % 60), 2);
	}
	rx_buf_putc(b, '"');
	return;
raw:
	rx_json_put_string(b, s, n);
}

void rx_cell_time_of_day(rx_buf *b, const char *s, size_t n)
{
	decimal d;

	if (parse_decimal(s, n, &d) == 0 && !d.negative && d.whole < 86400) {
		rx_buf_putc(b, '"');
		put_clock(b, d.whole, &d);
		rx_buf_putc(b, '"');
		return;
	}
	rx_json_put_string(b, s, n);
}
