/*
 * normalize.c - match-key normalisations for rx-map --hash.
 *
 * The C twins of rx.jq's normalize_email (trim + lowercase) and
 * normalize_phone / normalize_phone_e164.  Rules that must stay equal
 * to the jq side:
 *  - trim strips Unicode White_Space (what Oniguruma's \s matches);
 *  - lowercase maps ASCII, Latin-1, Latin Extended-A, Greek and Cyrillic
 *    capitals by their simple one-to-one mapping, nothing else;
 *  - a phone keeps its digits; "+CC" or "00CC" is international ("(0)"
 *    dropped once), else a national number loses its leading zeros and
 *    gains the country code; 7 to 15 digits or nothing.
 * Input is valid UTF-8 (the scanner checked it); a byte that does not
 * decode is passed through as it is.
 */
#include "map.h"

#include <string.h>

/* Decode one code point at p (n bytes left); its length in *len. */
static unsigned decode(const unsigned char *p, size_t n, size_t *len)
{
	if (p[0] < 0x80 || n < 2) {
		*len = 1;
		return p[0];
	}
	if ((p[0] & 0xE0) == 0xC0) {
		*len = 2;
		return ((unsigned)(p[0] & 0x1F) << 6) | (p[1] & 0x3F);
	}
	if ((p[0] & 0xF0) == 0xE0 && n >= 3) {
		*len = 3;
		return ((unsigned)(p[0] & 0x0F) << 12) | ((unsigned)(p[1] & 0x3F) << 6) | (p[2] & 0x3F);
	}
	if ((p[0] & 0xF8) == 0xF0 && n >= 4) {
		*len = 4;
		return ((unsigned)(p[0] & 0x07) << 18) | ((unsigned)(p[1] & 0x3F) << 12) |
		       ((unsigned)(p[2] & 0x3F) << 6) | (p[3] & 0x3F);
	}
	*len = 1;
	return p[0];
}

static void encode(rx_buf *b, unsigned cp)
{
	if (cp < 0x80) {
		rx_buf_putc(b, (char)cp);
	} else if (cp < 0x800) {
		rx_buf_putc(b, (char)(0xC0 | (cp >> 6)));
		rx_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else if (cp < 0x10000) {
		rx_buf_putc(b, (char)(0xE0 | (cp >> 12)));
		rx_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		rx_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	} else {
		rx_buf_putc(b, (char)(0xF0 | (cp >> 18)));
		rx_buf_putc(b, (char)(0x80 | ((cp >> 12) & 0x3F)));
		rx_buf_putc(b, (char)(0x80 | ((cp >> 6) & 0x3F)));
		rx_buf_putc(b, (char)(0x80 | (cp & 0x3F)));
	}
}

/* Unicode White_Space. */
static int is_space(unsigned cp)
{
	return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
	       (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
	       cp == 0x205F || cp == 0x3000;
}

/* The same table as rx.jq's lowercase. */
static unsigned lower(unsigned c)
{
	if (c >= 'A' && c <= 'Z')
		return c + 32;
	if (c < 192)
		return c;
	if (c <= 222)
		return c == 215 ? c : c + 32;
	if (c < 256)
		return c;
	if (c <= 311)
		return c % 2 == 0 && c != 304 ? c + 1 : c;
	if (c >= 313 && c <= 328)
		return c % 2 == 1 ? c + 1 : c;
	if (c >= 330 && c <= 375)
		return c % 2 == 0 ? c + 1 : c;
	if (c == 376)
		return 255;
	if (c >= 377 && c <= 382)
		return c % 2 == 1 ? c + 1 : c;
	if (c == 902)
		return 940;
	if (c >= 904 && c <= 906)
		return c + 37;
	if (c == 908)
		return 972;
	if (c == 910 || c == 911)
		return c + 63;
	if (c >= 913 && c <= 939)
		return c == 930 ? c : c + 32;
	if (c >= 1024 && c <= 1039)
		return c + 80;
	if (c >= 1040 && c <= 1071)
		return c + 32;
	return c;
}

/* The trimmed range of s[0..n) as [*from, *to). */
static void trim_range(const char *s, size_t n, size_t *from, size_t *to)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, len, first = n, last = 0;

	while (i < n) {
		unsigned cp = decode(p + i, n - i, &len);
		if (!is_space(cp)) {
			if (first == n)
				first = i;
			last = i + len;
		}
		i += len;
	}
	*from = first == n ? 0 : first;
	*to = first == n ? 0 : last;
}

int map_normalize_text(const char *s, size_t n, rx_buf *out)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t from, to, len, start = out->len;

	trim_range(s, n, &from, &to);
	for (size_t i = from; i < to; i += len) {
		unsigned cp = decode(p + i, to - i, &len);
		if (cp < 0x80)
			rx_buf_putc(out, (char)lower(cp));
		else if (len == 1)
			rx_buf_putc(out, (char)p[i]); /* a stray byte, as it is */
		else
			encode(out, lower(cp));
	}
	return out->len > start;
}

/* Append the digits of s[0..n) to out. */
static void put_digits(rx_buf *out, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] >= '0' && s[i] <= '9')
			rx_buf_putc(out, s[i]);
}

int map_normalize_phone(const char *s, size_t n, const char *country_code, int plus, rx_buf *out)
{
	static rx_buf d; /* the digits; reused from row to row */
	size_t from, to, start = out->len, skip = 0;
	const char *t;
	int rc = 0;

	rx_buf_reset(&d);
	trim_range(s, n, &from, &to);
	t = s + from;
	n = to - from;
	/* digits, with the first "(0)" dropped */
	const char *z = memmem(t, n, "(0)", 3);
	if (z != NULL) {
		put_digits(&d, t, (size_t)(z - t));
		put_digits(&d, z + 3, n - (size_t)(z - t) - 3);
	} else {
		put_digits(&d, t, n);
	}
	if (plus)
		rx_buf_putc(out, '+');
	size_t body = out->len;
	if (n > 0 && t[0] == '+') {
		skip = 0;
	} else if (d.len >= 2 && d.data[0] == '0' && d.data[1] == '0') {
		skip = 2;
	} else {
		while (skip < d.len && d.data[skip] == '0')
			skip++;
		if (country_code != NULL) {
			size_t nat = d.len - skip;
			size_t cclen = strlen(country_code);
			int carries = strcmp(country_code, "1") == 0 && nat == 11 && d.data[skip] == '1';
			if (!carries)
				put_digits(out, country_code, cclen);
		}
	}
	/* international forms also lose leading zeros */
	if (out->len == body)
		while (skip < d.len && d.data[skip] == '0')
			skip++;
	rx_buf_put(out, d.data ? d.data + skip : "", d.len - skip);
	size_t digits = out->len - body;
	if (digits >= 7 && digits <= 15) {
		rc = 1;
	} else {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	rx_buf_reset(&d);
	return rc;
}
