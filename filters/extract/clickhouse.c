/*
 * clickhouse.c - rx-extract's ClickHouse source, over its HTTP interface.
 *
 * NOTES ON THE DESIGN
 *
 *  - One POST per model, the response streamed through libcurl's write
 *    callback: each complete line is converted where it lies in curl's
 *    buffer, in one pass (take_row: the row's worst-case size is reserved
 *    once, strings are unescaped, JSON-escaped and UTF-8-checked together);
 *    only a line cut by a buffer boundary is copied (into `carry`, as long
 *    as the longest row).  Nothing else grows with the result, and nothing
 *    is allocated per row.
 *  - The format is TabSeparatedWithNamesAndTypes, the one typed format that
 *    every server from 18.x (Debian 12's) to today has: a line of names, a
 *    line of types, then one line per row, every byte of a String kept
 *    (escaped with backslashes, never re-encoded), nested values in
 *    ClickHouse's literal syntax ([1,'a'], (1,2), {'k':1}).  The JSON
 *    formats were not chosen: JSON/JSONCompact replace invalid UTF-8 with
 *    U+FFFD (silently, on current servers) and 18.x has no
 *    JSONCompactEachRow; RowBinary needs a second request for the types on
 *    18.x and every new binary type is a hard stop.
 *  - A result is complete only if the last line is a row.  The query is
 *    wrapped as SELECT *, unhex('FFFE') AS __rx_row_end FROM (<model>):
 *    every row ends with the two bytes FF FE, which no text (and so no
 *    exception message) contains.  When the server fails after it sent
 *    HTTP 200 (a memory limit, throwIf, a timeout) it appends its exception
 *    text ("Code: 241. DB::Exception: ...", or the __exception__TAG frame
 *    of 25.11+) after the last full row and ends the body normally: that
 *    text is not a row, so the run fails (exit 1, no end record) with the
 *    server's message.  A connection lost midway is curl's error.
 *  - Settings: one small query first reads the relevant settings from
 *    system.settings (and the server's time zone).  Those that would make
 *    the text ambiguous or the result partial (date_time_output_format,
 *    format_tsv_null_representation, the *_overflow_mode "break" modes,
 *    limit/offset...) are set in the request when they differ; a server
 *    that lacks one behaves as the setting's default (18.x: no ISO dates).
 *    A readonly=1 user cannot set any: a wrong value is then refused.  A
 *    user denied system.settings gets them all sent; one the server does
 *    not know is refused before any row (Code 115) and dropped, and the
 *    query is asked again.
 *  - Types are read from the header line and mapped on purpose (see
 *    docs/clickhouse.md): 64-bit and wider integers and Decimals as
 *    numbers or strings by rx's exactness rule, floats as the server's
 *    shortest text (nan/inf as "NaN"/"Infinity" strings), DateTime as
 *    ISO 8601 in UTC ("...Z"), Array/Tuple/Map as JSON (named tuples as
 *    objects), Nullable as null, LowCardinality as its type, everything
 *    else as its text.  A String that is not valid UTF-8 stops the run
 *    (exit 65) naming the row and the column: JSON carries text, and
 *    replacing bytes would corrupt the row; base64Encode() in the query
 *    sends bytes on purpose.
 *  - Secrets: the user and password come from the environment (or a file)
 *    and travel as X-ClickHouse-User / X-ClickHouse-Key headers; a
 *    password in the URL is refused; messages name the server as
 *    scheme://host:port only.
 *  - --shard I/N --key COL is pushed into the query (MD5 of the key's text
 *    in SQL, the same bits rx_shard_of() takes) for key types whose
 *    toString() is the text rx hashes, after a DESCRIBE of the model; the
 *    pushed filter may keep more rows than the shard (values it cannot
 *    spell exactly in SQL pass it), never fewer: rx_extract_row() filters
 *    again.
 */
#include "extract.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MARKER "\xff\xfe"
#define MARKER_LEN 2
#define MARKER_NAME "__rx_row_end"
#define FORMAT_CLAUSE "FORMAT TabSeparatedWithNamesAndTypes"

enum {
	MAX_SMALL_BODY = 1 << 20, /* probe, DESCRIBE */
	MAX_ERROR_TEXT = 16384,   /* an error body or what follows the rows */
	CURL_BUFFER = 256 * 1024, /* curl's receive buffer */
	NAME_PAD = 32,            /* a column's "name": is copied in one piece this long */
};

/* ---- types ---- */

/* How a value's text becomes JSON. */
typedef enum kind {
	K_INT,      /* Int8..Int32, UInt8..UInt32: the digits */
	K_BIGINT,   /* 64 bits and wider: a number, or a string beyond 2^53 */
	K_FLOAT,    /* the shortest text; nan, inf as strings */
	K_DECIMAL,  /* a number, or a string beyond 15 significant digits */
	K_BOOL,     /* true / false */
	K_STRING,   /* String, FixedString: UTF-8 text or refused */
	K_TEXT,     /* UUID, Enum, IPv4/6, and any type rx does not know: its text */
	K_DATE,     /* "2024-01-31" */
	K_DATETIME, /* "2024-01-31T12:00:00[.fff]Z" */
	K_JSON,     /* JSON / Object('json'): embedded */
	K_NOTHING,  /* Nullable(Nothing): null */
	K_ARRAY,    /* [..] */
	K_TUPLE,    /* (..): a JSON array, or an object when named */
	K_MAP,      /* {k:v,..}: an object */
} kind;

typedef struct chtype {
	kind kind;
	unsigned char nullable;  /* Nullable(...): \N or NULL is null */
	unsigned char zone_utc;  /* DateTime: shown in UTC (explicitly or by the server) */
	unsigned char has_zone;  /* DateTime: the type names a zone */
	unsigned char shardable; /* toString() of it is the key text rx hashes */
	unsigned char floating;  /* K_FLOAT: NaN and infinities are spelt otherwise */
	unsigned char is_date;   /* K_DATE: day 0 is spelt 0000-00-00 by 18.x */
	unsigned char fixed;     /* FixedString */
	size_t n;                /* elements: Array 1, Map 2, Tuple n */
	struct chtype *elem;     /* the n element types */
	rx_buf *names;           /* named Tuple: "\"name\":" for each element, or NULL */
} chtype;

typedef struct column {
	char *plain;   /* the name */
	char *type;    /* the type as the server spells it (unescaped) */
	rx_buf name;   /* "\"name\":", escaped once */
	chtype t;
} column;

typedef struct tparser {
	const char *s;
	size_t n, i;
	char zone[64]; /* DateTime's zone argument, when any */
} tparser;

static const char *const utc_zones[] = {
	"UTC", "Etc/UTC", "UCT", "Etc/UCT", "Universal", "Etc/Universal", "Zulu", "Etc/Zulu", "GMT",
	"Etc/GMT", "GMT0", "Etc/GMT0", "GMT+0", "GMT-0", "Etc/GMT+0", "Etc/GMT-0", "Greenwich", "Etc/Greenwich",
};

static int zone_is_utc(const char *z)
{
	for (size_t i = 0; i < sizeof utc_zones / sizeof utc_zones[0]; i++)
		if (strcmp(z, utc_zones[i]) == 0)
			return 1;
	return 0;
}

static void tp_space(tparser *p)
{
	while (p->i < p->n && p->s[p->i] == ' ')
		p->i++;
}

/* Skip a parenthesised argument list (quotes and nesting respected). */
static int tp_skip_args(tparser *p)
{
	int depth = 0;

	if (p->i >= p->n || p->s[p->i] != '(')
		return 0;
	for (; p->i < p->n; p->i++) {
		char c = p->s[p->i];
		if (c == '\'' || c == '`' || c == '"') {
			for (p->i++; p->i < p->n && p->s[p->i] != c; p->i++)
				if (p->s[p->i] == '\\')
					p->i++;
			continue;
		}
		if (c == '(')
			depth++;
		else if (c == ')' && --depth == 0) {
			p->i++;
			return 0;
		}
	}
	return -1;
}

static int tp_expect(tparser *p, char c)
{
	tp_space(p);
	if (p->i >= p->n || p->s[p->i] != c)
		return -1;
	p->i++;
	return 0;
}

static int is_ident(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

static void type_free(chtype *t)
{
	for (size_t i = 0; i < t->n; i++)
		type_free(&t->elem[i]);
	free(t->elem);
	if (t->names != NULL) {
		for (size_t i = 0; i < t->n; i++)
			rx_buf_free(&t->names[i]);
		free(t->names);
	}
	memset(t, 0, sizeof *t);
}

static int parse_type(tparser *p, chtype *t);

static chtype *add_elem(chtype *t)
{
	t->elem = rx_xrealloc(t->elem, (t->n + 1) * sizeof *t->elem);
	memset(&t->elem[t->n], 0, sizeof *t->elem);
	return &t->elem[t->n++];
}

/* Tuple(...) and Nested(...): elements, each "name Type" or "Type". */
static int parse_elements(tparser *p, chtype *t)
{
	rx_buf name = {0};
	int named = 0, rc = -1;

	if (tp_expect(p, '(') < 0)
		return -1;
	for (;;) {
		tp_space(p);
		size_t start = p->i;
		rx_buf_reset(&name);
		/* a name: an identifier or `quoted`, then a space, then a type */
		if (p->i < p->n && p->s[p->i] == '`') {
			for (p->i++; p->i < p->n && p->s[p->i] != '`'; p->i++) {
				if (p->s[p->i] == '\\' && p->i + 1 < p->n)
					p->i++;
				rx_buf_putc(&name, p->s[p->i]);
			}
			if (p->i >= p->n)
				goto done;
			p->i++;
		} else {
			while (p->i < p->n && is_ident(p->s[p->i]))
				rx_buf_putc(&name, p->s[p->i++]);
		}
		if (p->i < p->n && p->s[p->i] == ' ' && name.len > 0) {
			tp_space(p);
			named = 1;
		} else {
			p->i = start;
			rx_buf_reset(&name);
		}
		chtype *e = add_elem(t);
		if (parse_type(p, e) < 0)
			goto done;
		t->names = rx_xrealloc(t->names, t->n * sizeof *t->names);
		memset(&t->names[t->n - 1], 0, sizeof *t->names);
		rx_json_put_string(&t->names[t->n - 1], name.data ? name.data : "", name.len);
		rx_buf_putc(&t->names[t->n - 1], ':');
		tp_space(p);
		if (p->i < p->n && p->s[p->i] == ',') {
			p->i++;
			continue;
		}
		if (tp_expect(p, ')') < 0)
			goto done;
		break;
	}
	if (!named) {
		for (size_t i = 0; i < t->n; i++)
			rx_buf_free(&t->names[i]);
		free(t->names);
		t->names = NULL;
	}
	rc = 0;
done:
	rx_buf_free(&name);
	return rc;
}

static void set_point(chtype *t)
{
	t->kind = K_TUPLE;
	for (int i = 0; i < 2; i++)
		add_elem(t)->kind = K_FLOAT, t->elem[i].floating = 1;
}

/* Geometry: Point is Tuple(Float64, Float64); Ring and LineString arrays of
 * points; Polygon and MultiLineString arrays of those; MultiPolygon one more. */
static void set_geo(chtype *t, int depth)
{
	if (depth == 0) {
		set_point(t);
		return;
	}
	t->kind = K_ARRAY;
	set_geo(add_elem(t), depth - 1);
}

static int parse_type(tparser *p, chtype *t)
{
	char id[64];
	size_t k = 0;

	tp_space(p);
	while (p->i < p->n && is_ident(p->s[p->i])) {
		if (k + 1 < sizeof id)
			id[k++] = p->s[p->i];
		p->i++;
	}
	id[k] = '\0';
	if (k == 0)
		return -1;
	if (strcmp(id, "Nullable") == 0 || strcmp(id, "LowCardinality") == 0) {
		int nullable = id[0] == 'N';
		if (tp_expect(p, '(') < 0 || parse_type(p, t) < 0 || tp_expect(p, ')') < 0)
			return -1;
		if (nullable)
			t->nullable = 1;
		return 0;
	}
	if (strcmp(id, "SimpleAggregateFunction") == 0) {
		/* (func, Type): stored and shown as Type */
		if (tp_expect(p, '(') < 0)
			return -1;
		int depth = 0;
		for (; p->i < p->n; p->i++) {
			char c = p->s[p->i];
			if (c == '(')
				depth++;
			else if (c == ')')
				depth--;
			else if (c == ',' && depth == 0)
				break;
		}
		if (tp_expect(p, ',') < 0 || parse_type(p, t) < 0 || tp_expect(p, ')') < 0)
			return -1;
		return 0;
	}
	if (strcmp(id, "Array") == 0) {
		t->kind = K_ARRAY;
		if (tp_expect(p, '(') < 0 || parse_type(p, add_elem(t)) < 0 || tp_expect(p, ')') < 0)
			return -1;
		return 0;
	}
	if (strcmp(id, "Map") == 0) {
		t->kind = K_MAP;
		if (tp_expect(p, '(') < 0 || parse_type(p, add_elem(t)) < 0 || tp_expect(p, ',') < 0 ||
		    parse_type(p, add_elem(t)) < 0 || tp_expect(p, ')') < 0)
			return -1;
		return 0;
	}
	if (strcmp(id, "Tuple") == 0) {
		t->kind = K_TUPLE;
		return parse_elements(p, t);
	}
	if (strcmp(id, "Nested") == 0) {
		/* Nested(a T, b U) is an array of named tuples */
		t->kind = K_ARRAY;
		chtype *e = add_elem(t);
		e->kind = K_TUPLE;
		return parse_elements(p, e);
	}
	if (strcmp(id, "DateTime") == 0 || strcmp(id, "DateTime64") == 0) {
		t->kind = K_DATETIME;
		p->zone[0] = '\0';
		if (p->i < p->n && p->s[p->i] == '(') {
			size_t at = p->i;
			/* the zone is the quoted argument, if any */
			for (size_t j = at; j < p->n && p->s[j] != ')'; j++) {
				if (p->s[j] != '\'')
					continue;
				size_t z = 0;
				for (j++; j < p->n && p->s[j] != '\''; j++)
					if (z + 1 < sizeof p->zone)
						p->zone[z++] = p->s[j];
				p->zone[z] = '\0';
				t->has_zone = 1;
				break;
			}
			if (tp_skip_args(p) < 0)
				return -1;
		}
		if (t->has_zone)
			t->zone_utc = (unsigned char)zone_is_utc(p->zone);
		return 0;
	}
	if (strcmp(id, "Point") == 0)
		set_geo(t, 0);
	else if (strcmp(id, "Ring") == 0 || strcmp(id, "LineString") == 0)
		set_geo(t, 1);
	else if (strcmp(id, "Polygon") == 0 || strcmp(id, "MultiLineString") == 0)
		set_geo(t, 2);
	else if (strcmp(id, "MultiPolygon") == 0)
		set_geo(t, 3);
	else if (strcmp(id, "UInt8") == 0 || strcmp(id, "UInt16") == 0 || strcmp(id, "UInt32") == 0 ||
		 strcmp(id, "Int8") == 0 || strcmp(id, "Int16") == 0 || strcmp(id, "Int32") == 0)
		t->kind = K_INT, t->shardable = 1;
	else if (strcmp(id, "UInt64") == 0 || strcmp(id, "Int64") == 0 || strcmp(id, "UInt128") == 0 ||
		 strcmp(id, "Int128") == 0 || strcmp(id, "UInt256") == 0 || strcmp(id, "Int256") == 0)
		t->kind = K_BIGINT, t->shardable = 1;
	else if (strcmp(id, "Float32") == 0 || strcmp(id, "Float64") == 0 || strcmp(id, "BFloat16") == 0)
		t->kind = K_FLOAT, t->shardable = 1, t->floating = 1;
	else if (strncmp(id, "Decimal", 7) == 0)
		t->kind = K_DECIMAL, t->shardable = 1;
	else if (strcmp(id, "Bool") == 0)
		t->kind = K_BOOL, t->shardable = 1;
	else if (strcmp(id, "String") == 0 || strcmp(id, "FixedString") == 0)
		t->kind = K_STRING, t->shardable = 1, t->fixed = id[0] == 'F';
	else if (strcmp(id, "Date") == 0 || strcmp(id, "Date32") == 0)
		t->kind = K_DATE, t->shardable = 1, t->is_date = 1;
	else if (strcmp(id, "JSON") == 0 || strcmp(id, "Object") == 0)
		t->kind = K_JSON;
	else if (strcmp(id, "Nothing") == 0)
		t->kind = K_NOTHING;
	else if (strcmp(id, "UUID") == 0 || strcmp(id, "IPv4") == 0 || strcmp(id, "IPv6") == 0 ||
		 strncmp(id, "Enum", 4) == 0)
		t->kind = K_TEXT, t->shardable = 1;
	else
		t->kind = K_TEXT; /* Interval*, Variant, Dynamic, AggregateFunction, Time...: the text */
	return tp_skip_args(p);
}

/* Parse a type as the server spells it; -1 when rx cannot read it. */
static int type_parse(const char *s, chtype *t)
{
	tparser p = {s, strlen(s), 0, ""};

	memset(t, 0, sizeof *t);
	if (parse_type(&p, t) < 0 || (tp_space(&p), p.i != p.n)) {
		type_free(t);
		return -1;
	}
	return 0;
}

/* ---- values ---- */

/* Why a value could not be written. */
enum { V_OK = 0, V_BAD = -1, V_UTF8 = -2 };

static int datetime_iso = 1; /* the server writes DateTime as ISO 8601 in UTC */
static int server_utc = 1;   /* the server's time zone is UTC (-1: not known yet) */

static rx_buf unescaped; /* a field's text without its escapes; reused */
static rx_buf keytext;   /* Map keys as JSON, a stack (maps nest); reused */
static rx_buf scratch;   /* a quoted literal's text; reused */

/* Undo the backslash escapes of TSV fields and quoted literals. */
static void unescape(const char *s, size_t n, rx_buf *out)
{
	rx_buf_reset(out);
	rx_buf_reserve(out, n);
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (c != '\\' || i + 1 == n) {
			out->data[out->len++] = c;
			continue;
		}
		c = s[++i];
		switch (c) {
		case 'b': c = '\b'; break;
		case 'f': c = '\f'; break;
		case 'n': c = '\n'; break;
		case 'r': c = '\r'; break;
		case 't': c = '\t'; break;
		case '0': c = '\0'; break;
		case 'a': c = '\a'; break;
		case 'v': c = '\v'; break;
		case 'e': c = '\x1b'; break;
		case 'x':
			if (i + 2 < n && rx_hexval(s[i + 1]) >= 0 && rx_hexval(s[i + 2]) >= 0) {
				c = (char)(rx_hexval(s[i + 1]) << 4 | rx_hexval(s[i + 2]));
				i += 2;
			}
			break;
		default: break; /* \\ \' \" \/ and any other: the character itself */
		}
		out->data[out->len++] = c;
	}
	out->data[out->len] = '\0';
}

/* The length of the UTF-8 sequence at p (1..4), or 0 when it is not one. */
static size_t utf8_seq(const unsigned char *p, const unsigned char *end)
{
	unsigned c = p[0];
	size_t k;
	unsigned min;

	if (c < 0xC2)
		return 0;
	if (c < 0xE0)
		k = 2, min = 0x80;
	else if (c < 0xF0)
		k = 3, min = 0x800;
	else if (c < 0xF5)
		k = 4, min = 0x10000;
	else
		return 0;
	if ((size_t)(end - p) < k)
		return 0;
	unsigned v = c & (0x7F >> k);
	for (size_t i = 1; i < k; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3F);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	return k;
}

/* Append s as a JSON string, in one pass that also checks it is UTF-8:
 * V_OK, or V_UTF8 (b is then left as it was). */
static int put_text(rx_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + n;
	size_t start = b->len;

	rx_buf_reserve(b, n + 2);
	b->data[b->len++] = '"';
	while (p < end) {
		const unsigned char *run = p;
		while (p < end && *p >= 0x20 && *p < 0x80 && *p != '"' && *p != '\\')
			p++;
		if (p > run)
			rx_buf_put(b, run, (size_t)(p - run));
		if (p == end)
			break;
		unsigned c = *p;
		if (c >= 0x80) {
			size_t k = utf8_seq(p, end);
			if (k == 0) {
				b->len = start;
				b->data[start] = '\0';
				return V_UTF8;
			}
			rx_buf_put(b, p, k);
			p += k;
			continue;
		}
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
			esc[1] = 'u', esc[2] = '0', esc[3] = '0', esc[4] = hex[c >> 4], esc[5] = hex[c & 15];
			en = 6;
		}
		rx_buf_put(b, esc, en);
		p++;
	}
	rx_buf_putc(b, '"');
	return V_OK;
}

/* A JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)? ; integers
 * only when `integer`. */
static int is_number(const char *s, size_t n, int integer)
{
	size_t i = 0;

	if (i < n && s[i] == '-')
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return 0;
	if (s[i] == '0' && i + 1 < n && s[i + 1] >= '0' && s[i + 1] <= '9')
		return 0;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	if (integer)
		return i == n;
	if (i < n && s[i] == '.') {
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static int text_is(const char *s, size_t n, const char *lit)
{
	size_t k = strlen(lit);
	return n == k && memcmp(s, lit, k) == 0;
}

/* A scalar's text (unescaped) as JSON. */
static int put_scalar(const chtype *t, const char *s, size_t n, rx_buf *b)
{
	switch (t->kind) {
	case K_INT:
		if (!is_number(s, n, 1))
			return V_BAD;
		rx_buf_put(b, s, n);
		return V_OK;
	case K_BIGINT:
		if (!is_number(s, n, 1))
			return V_BAD;
		rx_extract_put_number(b, s, n);
		return V_OK;
	case K_DECIMAL:
		if (!is_number(s, n, 0))
			return V_BAD;
		rx_extract_put_number(b, s, n);
		return V_OK;
	case K_FLOAT:
		if (is_number(s, n, 0)) {
			rx_buf_put(b, s, n);
			return V_OK;
		}
		/* 18.x writes -nan for some NaNs; +inf has been seen in docs */
		if (text_is(s, n, "nan") || text_is(s, n, "-nan") || text_is(s, n, "+nan"))
			rx_buf_puts(b, "\"NaN\"");
		else if (text_is(s, n, "inf") || text_is(s, n, "+inf"))
			rx_buf_puts(b, "\"Infinity\"");
		else if (text_is(s, n, "-inf"))
			rx_buf_puts(b, "\"-Infinity\"");
		else
			return V_BAD;
		return V_OK;
	case K_BOOL:
		if (text_is(s, n, "true"))
			rx_buf_put(b, "true", 4);
		else if (text_is(s, n, "false"))
			rx_buf_put(b, "false", 5);
		else
			return V_BAD;
		return V_OK;
	case K_DATE:
		/* 18.x spells day 0 (1970-01-01) 0000-00-00 */
		if (text_is(s, n, "0000-00-00"))
			rx_buf_puts(b, "\"1970-01-01\"");
		else if (n == 10 && s[4] == '-' && s[7] == '-')
			rx_json_put_string(b, s, n);
		else
			return V_BAD;
		return V_OK;
	case K_DATETIME:
		if (datetime_iso) {
			/* "2024-01-31T12:00:00[.fff]Z" */
			if (n < 20 || s[10] != 'T' || s[n - 1] != 'Z')
				return V_BAD;
			rx_json_put_string(b, s, n);
			return V_OK;
		}
		/* "2024-01-31 12:00:00[.fff]" in UTC (checked before the first row) */
		if (n < 19 || s[10] != ' ')
			return V_BAD;
		if (n == 19 && memcmp(s, "0000-00-00 00:00:00", 19) == 0) {
			rx_buf_puts(b, "\"1970-01-01T00:00:00Z\"");
			return V_OK;
		}
		rx_buf_putc(b, '"');
		rx_buf_put(b, s, 10);
		rx_buf_putc(b, 'T');
		rx_buf_put(b, s + 11, n - 11);
		rx_buf_put(b, "Z\"", 2);
		return V_OK;
	case K_JSON: {
		char err[64];
		if (rx_json_validate(s, n, err, sizeof err) == 0) {
			rx_json_put_compact(b, rx_span_of(s, n));
			return V_OK;
		}
		return put_text(b, s, n);
	}
	case K_NOTHING:
		return V_BAD;
	case K_STRING:
	case K_TEXT:
	case K_ARRAY:
	case K_TUPLE:
	case K_MAP:
		break;
	}
	return put_text(b, s, n);
}

/* One value in ClickHouse's literal syntax at s[*i] (inside an Array,
 * Tuple or Map): NULL, 'quoted', a bare token, or a nested literal. */
static int put_literal(const chtype *t, const char *s, size_t n, size_t *i, rx_buf *b, rx_buf *scratch);

/* A bare token: up to the next , ] ) } or : outside brackets and quotes. */
static size_t bare_end(const char *s, size_t n, size_t i)
{
	int depth = 0;

	for (; i < n; i++) {
		char c = s[i];
		if (c == '\'') {
			for (i++; i < n && s[i] != '\''; i++)
				if (s[i] == '\\')
					i++;
			continue;
		}
		if (c == '[' || c == '(' || c == '{')
			depth++;
		else if ((c == ']' || c == ')' || c == '}') && depth-- == 0)
			break;
		else if ((c == ',' || c == ':') && depth == 0)
			break;
	}
	return i;
}

/* A quoted literal at s[*i] == '\'' into out (unescaped). */
static int take_quoted(const char *s, size_t n, size_t *i, rx_buf *out)
{
	size_t start = ++*i;

	while (*i < n && s[*i] != '\'') {
		if (s[*i] == '\\')
			(*i)++;
		(*i)++;
	}
	if (*i >= n)
		return V_BAD;
	unescape(s + start, *i - start, out);
	(*i)++;
	return V_OK;
}

static int put_literal(const chtype *t, const char *s, size_t n, size_t *i, rx_buf *b, rx_buf *scratch)
{
	int rc;

	if (n - *i >= 4 && memcmp(s + *i, "NULL", 4) == 0 &&
	    (n - *i == 4 || (s[*i + 4] != '\0' && strchr(",])}:", s[*i + 4]) != NULL))) {
		*i += 4;
		rx_buf_put(b, "null", 4);
		return V_OK;
	}
	switch (t->kind) {
	case K_ARRAY:
		if (*i >= n || s[*i] != '[')
			return V_BAD;
		(*i)++;
		rx_buf_putc(b, '[');
		if (*i < n && s[*i] == ']') {
			(*i)++;
			rx_buf_putc(b, ']');
			return V_OK;
		}
		for (;;) {
			if ((rc = put_literal(&t->elem[0], s, n, i, b, scratch)) != V_OK)
				return rc;
			if (*i < n && s[*i] == ',') {
				(*i)++;
				rx_buf_putc(b, ',');
				continue;
			}
			if (*i < n && s[*i] == ']') {
				(*i)++;
				rx_buf_putc(b, ']');
				return V_OK;
			}
			return V_BAD;
		}
	case K_TUPLE:
		if (*i >= n || s[*i] != '(')
			return V_BAD;
		(*i)++;
		rx_buf_putc(b, t->names ? '{' : '[');
		for (size_t k = 0; k < t->n; k++) {
			if (k > 0) {
				if (*i >= n || s[*i] != ',')
					return V_BAD;
				(*i)++;
				rx_buf_putc(b, ',');
			}
			if (t->names)
				rx_buf_put(b, t->names[k].data, t->names[k].len);
			if ((rc = put_literal(&t->elem[k], s, n, i, b, scratch)) != V_OK)
				return rc;
		}
		if (*i >= n || s[*i] != ')')
			return V_BAD;
		(*i)++;
		rx_buf_putc(b, t->names ? '}' : ']');
		return V_OK;
	case K_MAP:
		if (*i >= n || s[*i] != '{')
			return V_BAD;
		(*i)++;
		rx_buf_putc(b, '{');
		if (*i < n && s[*i] == '}') {
			(*i)++;
			rx_buf_putc(b, '}');
			return V_OK;
		}
		for (;;) {
			/* the key, written as a value, becomes the member name: a
			 * string as it is, any other value as its JSON text */
			size_t mark = keytext.len;
			if ((rc = put_literal(&t->elem[0], s, n, i, &keytext, scratch)) != V_OK)
				return rc;
			if (keytext.data[mark] == '"')
				rx_buf_put(b, keytext.data + mark, keytext.len - mark);
			else
				rx_json_put_string(b, keytext.data + mark, keytext.len - mark);
			keytext.len = mark;
			keytext.data[mark] = '\0';
			if (*i >= n || s[*i] != ':')
				return V_BAD;
			(*i)++;
			rx_buf_putc(b, ':');
			if ((rc = put_literal(&t->elem[1], s, n, i, b, scratch)) != V_OK)
				return rc;
			if (*i < n && s[*i] == ',') {
				(*i)++;
				rx_buf_putc(b, ',');
				continue;
			}
			if (*i < n && s[*i] == '}') {
				(*i)++;
				rx_buf_putc(b, '}');
				return V_OK;
			}
			return V_BAD;
		}
	default:
		break;
	}
	if (*i < n && s[*i] == '\'') {
		if (take_quoted(s, n, i, scratch) != V_OK)
			return V_BAD;
		return put_scalar(t, scratch->data, scratch->len, b);
	}
	size_t e = bare_end(s, n, *i);
	if (e == *i)
		return V_BAD;
	rc = put_scalar(t, s + *i, e - *i, b);
	*i = e;
	return rc;
}

/* A top-level TSV field (still escaped) as JSON. */
static int put_field(const chtype *t, const char *s, size_t n, rx_buf *b)
{
	if (n == 2 && s[0] == '\\' && s[1] == 'N' && (t->nullable || t->kind == K_NOTHING)) {
		rx_buf_put(b, "null", 4);
		return V_OK;
	}
	if (t->kind == K_ARRAY || t->kind == K_TUPLE || t->kind == K_MAP) {
		/* a literal: ClickHouse does not escape it again for TSV */
		size_t i = 0;
		int rc = put_literal(t, s, n, &i, b, &scratch);
		if (rc == V_OK && i != n)
			rc = V_BAD;
		return rc;
	}
	if (memchr(s, '\\', n) != NULL) {
		unescape(s, n, &unescaped);
		s = unescaped.data;
		n = unescaped.len;
	}
	return put_scalar(t, s, n, b);
}

/* ---- the connection ---- */

typedef struct conn {
	CURL *curl;
	struct curl_slist *headers; /* the user, the key: freed and wiped at the end */
	char errbuf[CURL_ERROR_SIZE];
	char where[256];      /* "http://host:8123", for messages */
	char *base_url;       /* the URL as given, without user info, plus database= */
	char *secret_header;  /* "X-ClickHouse-Key: ..." (wiped when freed) */
	char exception_code[16]; /* X-ClickHouse-Exception-Code, when sent */
	char exception_tag[64];  /* X-ClickHouse-Exception-Tag, when sent (25.11+) */
	char timezone[64];       /* X-ClickHouse-Timezone, when sent (20.x+) */
} conn;

static size_t on_header(char *p, size_t size, size_t nmemb, void *arg)
{
	conn *c = arg;
	size_t n = size * nmemb;
	static const char code[] = "x-clickhouse-exception-code:", tag[] = "x-clickhouse-exception-tag:",
			  zone[] = "x-clickhouse-timezone:";
	char *dst = NULL;
	size_t cap = 0, skip = 0;

	if (n > sizeof code - 1 && strncasecmp(p, code, sizeof code - 1) == 0)
		dst = c->exception_code, cap = sizeof c->exception_code, skip = sizeof code - 1;
	else if (n > sizeof tag - 1 && strncasecmp(p, tag, sizeof tag - 1) == 0)
		dst = c->exception_tag, cap = sizeof c->exception_tag, skip = sizeof tag - 1;
	else if (n > sizeof zone - 1 && strncasecmp(p, zone, sizeof zone - 1) == 0)
		dst = c->timezone, cap = sizeof c->timezone, skip = sizeof zone - 1;
	if (dst != NULL) {
		size_t k = 0;
		for (size_t i = skip; i < n && k + 1 < cap; i++)
			if (p[i] != ' ' && p[i] != '\r' && p[i] != '\n')
				dst[k++] = p[i];
		dst[k] = '\0';
	}
	return n;
}

/* A small body, whole (a probe, a DESCRIBE, an error). */
typedef struct collector {
	rx_buf body;
	size_t limit;
} collector;

static size_t on_collect(char *p, size_t size, size_t nmemb, void *arg)
{
	collector *k = arg;
	size_t n = size * nmemb;

	if (k->body.len < k->limit)
		rx_buf_put(&k->body, p, n < k->limit - k->body.len ? n : k->limit - k->body.len);
	return n;
}

static char *getenv_nonempty(const char *name)
{
	char *v = getenv(name);
	return v != NULL && v[0] != '\0' ? v : NULL;
}

/* Does the URL's query string have parameter `name`? */
static int has_param(const char *query, const char *name)
{
	size_t k = strlen(name);

	for (const char *p = query; p != NULL && *p; p = strchr(p, '&')) {
		if (*p == '&')
			p++;
		if (strncasecmp(p, name, k) == 0 && (p[k] == '=' || p[k] == '&' || p[k] == '\0'))
			return 1;
	}
	return 0;
}

static int conn_open(conn *c, const char *url)
{
	CURLU *u = curl_url();
	char *part = NULL, *user = NULL;
	int rc = -1;

	memset(c->errbuf, 0, sizeof c->errbuf);
	if (u == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK) {
		rx_diag("--clickhouse: '%s' is not a URL (http://host:8123)", url);
		goto done;
	}
	curl_url_get(u, CURLUPART_SCHEME, &part, 0);
	if (part == NULL || (strcasecmp(part, "http") != 0 && strcasecmp(part, "https") != 0)) {
		rx_diag("--clickhouse: the URL must be http:// or https:// (ClickHouse's HTTP interface, port 8123 or 8443)");
		goto done;
	}
	curl_free(part);
	part = NULL;
	if (curl_url_get(u, CURLUPART_PASSWORD, &part, 0) == CURLUE_OK && part != NULL) {
		/* never echo it */
		rx_diag("--clickhouse: the URL holds a password: put it in CLICKHOUSE_PASSWORD or "
			"CLICKHOUSE_PASSWORD_FILE (a command line is visible to every user)");
		goto done;
	}
	if (curl_url_get(u, CURLUPART_QUERY, &part, 0) == CURLUE_OK && part != NULL) {
		if (has_param(part, "password")) {
			rx_diag("--clickhouse: the URL holds a password= parameter: put it in CLICKHOUSE_PASSWORD "
				"or CLICKHOUSE_PASSWORD_FILE (a command line is visible to every user)");
			goto done;
		}
		if (has_param(part, "query")) {
			rx_diag("--clickhouse: the URL holds a query= parameter: give the query with --query");
			goto done;
		}
	}
	curl_url_get(u, CURLUPART_USER, &user, CURLU_URLDECODE);
	curl_url_set(u, CURLUPART_USER, NULL, 0);
	curl_url_set(u, CURLUPART_PASSWORD, NULL, 0);
	const char *db = getenv_nonempty("CLICKHOUSE_DATABASE");
	if (db != NULL && !(part != NULL && has_param(part, "database"))) {
		rx_buf q = {0};
		rx_buf_printf(&q, "database=%s", db);
		curl_url_set(u, CURLUPART_QUERY, q.data, CURLU_APPENDQUERY | CURLU_URLENCODE);
		rx_buf_free(&q);
	}
	curl_free(part);
	part = NULL;
	{
		char *scheme = NULL, *host = NULL, *port = NULL;
		curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
		curl_url_get(u, CURLUPART_HOST, &host, 0);
		curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT);
		snprintf(c->where, sizeof c->where, "%s://%s:%s", scheme ? scheme : "?", host ? host : "?",
			 port ? port : "?");
		curl_free(scheme);
		curl_free(host);
		curl_free(port);
	}
	if (curl_url_get(u, CURLUPART_URL, &part, 0) != CURLUE_OK) {
		rx_diag("--clickhouse: '%s' is not a URL (http://host:8123)", url);
		goto done;
	}
	c->base_url = rx_xstrdup(part);

	/* the user and the password: the environment, or a file */
	const char *name = getenv_nonempty("CLICKHOUSE_USER");
	if (name == NULL)
		name = user;
	if (name != NULL && name[0] != '\0') {
		rx_buf h = {0};
		rx_buf_printf(&h, "X-ClickHouse-User: %s", name);
		c->headers = curl_slist_append(c->headers, h.data);
		rx_buf_free(&h);
	}
	char *secret = NULL;
	const char *file = getenv_nonempty("CLICKHOUSE_PASSWORD_FILE");
	if (getenv_nonempty("CLICKHOUSE_PASSWORD") != NULL) {
		secret = rx_xstrdup(getenv("CLICKHOUSE_PASSWORD"));
	} else if (file != NULL) {
		secret = rx_read_file(file);
		size_t k = strlen(secret);
		while (k > 0 && (secret[k - 1] == '\n' || secret[k - 1] == '\r'))
			secret[--k] = '\0';
	}
	if (secret != NULL) {
		if (strpbrk(secret, "\r\n") != NULL) {
			rx_diag("the ClickHouse password has a line break in it");
			explicit_bzero(secret, strlen(secret));
			free(secret);
			goto done;
		}
		rx_buf h = {0};
		rx_buf_printf(&h, "X-ClickHouse-Key: %s", secret);
		explicit_bzero(secret, strlen(secret));
		free(secret);
		c->secret_header = h.data; /* wiped in conn_close */
		c->headers = curl_slist_append(c->headers, c->secret_header);
	}
	c->headers = curl_slist_append(c->headers, "Content-Type: text/plain; charset=UTF-8");
	c->headers = curl_slist_append(c->headers, "Expect:");

	c->curl = curl_easy_init();
	if (c->curl == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->headers);
	curl_easy_setopt(c->curl, CURLOPT_ERRORBUFFER, c->errbuf);
	curl_easy_setopt(c->curl, CURLOPT_USERAGENT, "rx-extract/" RX_VERSION);
	curl_easy_setopt(c->curl, CURLOPT_CONNECTTIMEOUT, 30L);
	curl_easy_setopt(c->curl, CURLOPT_TCP_KEEPALIVE, 1L);
	curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c->curl, CURLOPT_BUFFERSIZE, (long)CURL_BUFFER);
	curl_easy_setopt(c->curl, CURLOPT_ACCEPT_ENCODING, ""); /* enable_http_compression=1 in the URL works */
	curl_easy_setopt(c->curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(c->curl, CURLOPT_HEADERDATA, c);
	curl_easy_setopt(c->curl, CURLOPT_PROTOCOLS_STR, "http,https");
	rc = 0;
done:
	curl_free(part);
	curl_free(user);
	curl_url_cleanup(u);
	return rc;
}

static void conn_close(conn *c)
{
	if (c->curl != NULL)
		curl_easy_cleanup(c->curl);
	curl_slist_free_all(c->headers);
	if (c->secret_header != NULL) {
		explicit_bzero(c->secret_header, strlen(c->secret_header));
		free(c->secret_header);
	}
	free(c->base_url);
	memset(c, 0, sizeof *c);
}

/* POST sql to url; the body goes to on_body.  The curl result. */
static CURLcode post(conn *c, const char *url, const char *sql, size_t (*on_body)(char *, size_t, size_t, void *),
		     void *arg)
{
	c->errbuf[0] = '\0';
	c->exception_code[0] = '\0';
	c->exception_tag[0] = '\0';
	c->timezone[0] = '\0';
	curl_easy_setopt(c->curl, CURLOPT_URL, url);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDS, sql);
	curl_easy_setopt(c->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(sql));
	curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, arg);
	return curl_easy_perform(c->curl);
}

static long http_status(conn *c)
{
	long code = 0;
	curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &code);
	return code;
}

/* The exception code in a ClickHouse error text ("Code: 60, ..." or
 * "Code: 60. DB::Exception: ..."), or the header's, or 0. */
static int error_code(const conn *c, const char *text)
{
	const char *p = text ? strstr(text, "Code: ") : NULL;

	if (p != NULL)
		return atoi(p + 6);
	return c->exception_code[0] ? atoi(c->exception_code) : 0;
}

/* The exit status for a server error: throttling and quotas are worth a
 * later try (75); everything else is a failure (1). */
static int error_status(long http, int code)
{
	if (code == 201 || code == 202 || code == 203 || http == 429 || http == 503)
		return RX_EXIT_TEMPFAIL;
	return RX_EXIT_FAIL;
}

/* Print "what: <the server's message, one line>" and return the status. */
static int report_error(conn *c, const char *what, rx_buf *body, long http)
{
	char msg[1200];
	const char *text = body->len > 0 ? body->data : NULL;
	int code = error_code(c, text);

	if (text == NULL) {
		snprintf(msg, sizeof msg, "HTTP %ld with no message", http);
		text = msg;
	} else {
		rx_one_line(text, msg, sizeof msg);
	}
	if (http == 401 || http == 403 || code == 516 || code == 192 || code == 193 || code == 194 || code == 195)
		rx_diag("cannot connect to ClickHouse at %s: authentication failed: %s", c->where, msg);
	else
		rx_diag("%s: %s", what, msg);
	return error_status(http, code);
}

/* ---- settings ---- */

/* The settings that decide how the text reads or whether the result is
 * whole, and the value rx needs.  `required`: a different value that
 * cannot be changed stops the run. */
static const struct wanted {
	const char *name;
	const char *value;
	int required;
} wanted[] = {
	{"date_time_output_format", "iso", 0}, /* else: the server's zone must be UTC */
	{"format_tsv_null_representation", "\\N", 1},
	{"output_format_tsv_crlf_end_of_line", "0", 1},
	{"bool_true_representation", "true", 1},
	{"bool_false_representation", "false", 1},
	{"result_overflow_mode", "throw", 1}, /* "break" would cut the result short, silently */
	{"read_overflow_mode", "throw", 1},
	{"timeout_overflow_mode", "throw", 1},
	{"sort_overflow_mode", "throw", 1},
	{"distinct_overflow_mode", "throw", 1},
	{"group_by_overflow_mode", "throw", 1},
	{"set_overflow_mode", "throw", 1},
	{"join_overflow_mode", "throw", 1},
	{"transfer_overflow_mode", "throw", 1},
	{"limit", "0", 1},
	{"offset", "0", 1},
	{"cancel_http_readonly_queries_on_client_close", "1", 0},
};

static int same_value(const char *have, const char *want)
{
	if (strcmp(have, want) == 0)
		return 1;
	if (strcmp(want, "0") == 0)
		return strcmp(have, "false") == 0;
	if (strcmp(want, "1") == 0)
		return strcmp(have, "true") == 0;
	return 0;
}

/* Read the settings and the time zone; append what must be set to params.
 * 0, or an exit status. */
static int probe(conn *c, rx_buf *params)
{
	rx_buf sql = {0};
	collector k = {{0}, MAX_SMALL_BODY};
	char *seen = calloc(sizeof wanted / sizeof wanted[0], 1);
	char readonly[8] = "0";
	int status = RX_EXIT_FAIL;

	if (seen == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	rx_buf_puts(&sql, "SELECT name, value FROM system.settings WHERE name IN ('readonly'");
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		rx_buf_printf(&sql, ", '%s'", wanted[i].name);
	rx_buf_puts(&sql, ") UNION ALL SELECT 'rx:timezone', timezone() FORMAT TabSeparated");
	CURLcode res = post(c, c->base_url, sql.data, on_collect, &k);
	if (res != CURLE_OK) {
		rx_diag("cannot connect to ClickHouse at %s: %s", c->where, c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
		goto done;
	}
	long http = http_status(c);
	if (http != 200 && error_code(c, k.body.data) == 497) {
		/* system.settings denied to this user (a current server): send
		 * every setting; one the server does not know is dropped when it
		 * says so (Code 115), and its time zone comes in a header */
		for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
			rx_buf_printf(params, "%s=%s", wanted[i].name, wanted[i].value);
			rx_buf_putc(params, '\0');
		}
		server_utc = -1;
		status = 0;
		goto done;
	}
	if (http != 200) {
		status = report_error(c, "ClickHouse: cannot read the server's settings", &k.body, http);
		goto done;
	}
	/* name \t value lines, TSV-escaped */
	char *line = k.body.data, *save = NULL;
	char *values[sizeof wanted / sizeof wanted[0]] = {0};
	for (line = strtok_r(line, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (tab == NULL)
			continue;
		*tab = '\0';
		unescape(tab + 1, strlen(tab + 1), &unescaped);
		if (strcmp(line, "rx:timezone") == 0) {
			server_utc = zone_is_utc(unescaped.data);
			continue;
		}
		if (strcmp(line, "readonly") == 0) {
			snprintf(readonly, sizeof readonly, "%s", unescaped.data);
			continue;
		}
		for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
			if (strcmp(line, wanted[i].name) == 0) {
				seen[i] = 1;
				free(values[i]);
				values[i] = rx_xstrdup(unescaped.data);
			}
	}
	status = 0;
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++) {
		const struct wanted *w = &wanted[i];
		int ok = seen[i] && same_value(values[i], w->value);
		if (!seen[i]) {
			/* an older server: the setting's behaviour is its default */
			if (strcmp(w->name, "date_time_output_format") == 0)
				datetime_iso = 0;
			continue;
		}
		if (ok)
			continue;
		if (strcmp(readonly, "1") != 0) {
			rx_buf_printf(params, "%s=%s", w->name, w->value);
			rx_buf_putc(params, '\0'); /* one NUL-separated item each */
			continue;
		}
		/* readonly=1: nothing can be set */
		if (strcmp(w->name, "date_time_output_format") == 0) {
			if (strcmp(values[i], "simple") == 0) {
				datetime_iso = 0;
				continue;
			}
		} else if (!w->required) {
			continue;
		}
		rx_diag("ClickHouse: the user's setting %s is '%s' and it cannot change it (readonly=1); rx needs "
			"'%s': set it in the user's profile, or use readonly=2",
			w->name, values[i], w->value);
		status = RX_EXIT_FAIL;
		break;
	}
	for (size_t i = 0; i < sizeof wanted / sizeof wanted[0]; i++)
		free(values[i]);
done:
	free(seen);
	rx_buf_free(&sql);
	rx_buf_free(&k.body);
	return status;
}

/* ---- the query ---- */

/* Append a quoted identifier: `na\`me`. */
static void put_ident(rx_buf *b, const char *s, size_t n)
{
	rx_buf_putc(b, '`');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '`' || s[i] == '\\')
			rx_buf_putc(b, '\\');
		rx_buf_putc(b, s[i]);
	}
	rx_buf_putc(b, '`');
}

/* The model's SQL: the query without trailing ';' and white space, or
 * every row of the table ("db.table" names a database). */
static void base_query(const extract_options *o, rx_buf *sql)
{
	if (o->table != NULL) {
		const char *t = o->table, *dot = strchr(t, '.');
		rx_buf_puts(sql, "SELECT * FROM ");
		if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
			put_ident(sql, t, (size_t)(dot - t));
			rx_buf_putc(sql, '.');
			t = dot + 1;
		}
		put_ident(sql, t, strlen(t));
		return;
	}
	size_t n = strlen(o->query);
	while (n > 0 && strchr(" \t\r\n;", o->query[n - 1]) != NULL)
		n--;
	rx_buf_put(sql, o->query, n);
}

/* The URL of the main request: the base plus the settings. */
static char *query_url(const conn *c, const rx_buf *params)
{
	CURLU *u = curl_url();
	char *url = NULL, *out;

	if (u == NULL || curl_url_set(u, CURLUPART_URL, c->base_url, 0) != CURLUE_OK)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < params->len; i += strlen(params->data + i) + 1)
		curl_url_set(u, CURLUPART_QUERY, params->data + i, CURLU_APPENDQUERY | CURLU_URLENCODE);
	if (curl_url_get(u, CURLUPART_URL, &url, 0) != CURLUE_OK)
		rx_die(RX_EXIT_FAIL, "out of memory");
	out = rx_xstrdup(url);
	curl_free(url);
	curl_url_cleanup(u);
	return out;
}

/* The key column's text in SQL, as rx_key_text() spells it, and the rows
 * it cannot spell (they pass the filter: rx_extract_row() decides). */
static void key_sql(const chtype *t, const char *ident, int composite, rx_buf *text, rx_buf *loose)
{
	rx_buf v = {0};

	/* toString() of a FixedString drops its trailing NULs; concat keeps them */
	if (t->fixed)
		rx_buf_printf(&v, "concat(%s, '')", ident);
	else
		rx_buf_printf(&v, "toString(%s)", ident);
	if (composite && (t->kind == K_STRING || t->kind == K_TEXT)) {
		/* a JSON string, as rx_json_put_string() writes it: \ and " are
		 * escaped here; a control character is escaped otherwise there */
		rx_buf_printf(text, "concat('\"', replaceAll(replaceAll(%s, '\\\\', '\\\\\\\\'), '\"', '\\\\\"'), '\"')",
			      v.data);
		rx_buf_printf(loose, " OR match(%s, '[\\\\x00-\\\\x1f]')", v.data);
	} else if (composite) {
		rx_buf_printf(text, "concat('\"', %s, '\"')", v.data);
	} else {
		rx_buf_put(text, v.data, v.len);
	}
	if (t->floating)
		rx_buf_printf(loose, " OR NOT isFinite(%s)", ident);
	if (t->is_date)
		rx_buf_printf(loose, " OR %s = toDate(0)", ident);
	rx_buf_free(&v);
}

/* The WHERE clause of --shard, or -1 when a key column's text in SQL would
 * not be the text rx hashes (the filter then stays on this side). */
static int shard_filter(conn *c, const extract_options *o, const char *base, rx_buf *where)
{
	rx_buf sql = {0}, text = {0}, loose = {0}, nulls = {0};
	collector k = {{0}, MAX_SMALL_BODY};
	char **names = NULL;
	chtype *types = NULL;
	size_t ncols = 0;
	int rc = -1, nkeys = 0;
	char *keys = NULL, *save = NULL;

	rx_buf_printf(&sql, "DESCRIBE (\n%s\n) FORMAT TabSeparated", base);
	if (post(c, c->base_url, sql.data, on_collect, &k) != CURLE_OK || http_status(c) != 200)
		goto done; /* the query itself will report it */
	for (char *line = strtok_r(k.body.data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *tab = strchr(line, '\t');
		if (tab == NULL)
			continue;
		*tab = '\0';
		char *end = strchr(tab + 1, '\t');
		if (end != NULL)
			*end = '\0';
		names = rx_xrealloc(names, (ncols + 1) * sizeof *names);
		types = rx_xrealloc(types, (ncols + 1) * sizeof *types);
		unescape(line, strlen(line), &unescaped);
		names[ncols] = rx_xstrdup(unescaped.data);
		unescape(tab + 1, strlen(tab + 1), &unescaped);
		if (type_parse(unescaped.data, &types[ncols]) < 0)
			memset(&types[ncols], 0, sizeof types[ncols]), types[ncols].kind = K_TEXT;
		ncols++;
	}
	keys = rx_xstrdup(o->key);
	save = NULL;
	for (char *key = strtok_r(keys, ",", &save); key; key = strtok_r(NULL, ",", &save))
		nkeys++;
	free(keys);
	keys = rx_xstrdup(o->key);
	save = NULL;
	if (nkeys > 1)
		rx_buf_puts(&text, "concat('[', ");
	int n = 0;
	for (char *key = strtok_r(keys, ",", &save); key; key = strtok_r(NULL, ",", &save), n++) {
		long found = -1;
		for (size_t i = 0; i < ncols; i++) {
			if (strcmp(names[i], key) != 0)
				continue;
			if (found >= 0)
				goto done;
			found = (long)i;
		}
		if (found < 0 || !types[found].shardable)
			goto done;
		rx_buf ident = {0};
		put_ident(&ident, key, strlen(key));
		if (n > 0)
			rx_buf_puts(&text, ", ',', ");
		key_sql(&types[found], ident.data, nkeys > 1, &text, &loose);
		rx_buf_printf(&nulls, " OR isNull(%s)", ident.data);
		rx_buf_free(&ident);
	}
	if (nkeys > 1)
		rx_buf_puts(&text, ", ']')");
	rx_buf_printf(where, " WHERE reinterpretAsUInt32(reverse(substring(MD5(%s), 1, 4))) %% %u + 1 = %u%s", text.data,
		      o->nshards, o->shard, loose.len ? loose.data : "");
	/* a row without a key is rx-diff's to report: shard 1 keeps it, as
	 * rx_extract_row() does */
	if (o->shard == 1 && nulls.len)
		rx_buf_puts(where, nulls.data);
	rc = 0;
done:
	for (size_t i = 0; i < ncols; i++) {
		free(names[i]);
		type_free(&types[i]);
	}
	free(names);
	free(types);
	free(keys);
	rx_buf_free(&sql);
	rx_buf_free(&text);
	rx_buf_free(&loose);
	rx_buf_free(&nulls);
	rx_buf_free(&k.body);
	return rc;
}

/* ---- the stream ---- */

enum { P_NAMES, P_TYPES, P_ROWS, P_TRAILER, P_ERROR, P_ABORT };

typedef struct stream {
	const extract_options *o;
	rx_writer *out;
	conn *c;
	int phase;
	int status;               /* why the stream was aborted */
	rx_buf carry;             /* a line cut by a buffer boundary */
	rx_buf trailer;           /* what follows the rows, or an error body */
	size_t max_line;
	column *cols;
	size_t ncols;             /* without the marker */
	size_t names_len;         /* the bytes of every "name": */
	char **header_names;      /* the names line, until the types arrive */
	size_t nheader;
	unsigned long long rows;  /* rows of the result read */
} stream;

static void keep_text(rx_buf *b, const char *p, size_t n)
{
	if (b->len < MAX_ERROR_TEXT)
		rx_buf_put(b, p, n < MAX_ERROR_TEXT - b->len ? n : MAX_ERROR_TEXT - b->len);
}

/* Split a header line into its unescaped fields. */
static char **split_header(const char *line, size_t n, size_t *count)
{
	char **v = NULL;
	size_t k = 0, start = 0;

	for (size_t i = 0; i <= n; i++) {
		if (i < n && line[i] != '\t')
			continue;
		v = rx_xrealloc(v, (k + 1) * sizeof *v);
		unescape(line + start, i - start, &unescaped);
		v[k++] = rx_xstrdup(unescaped.data ? unescaped.data : "");
		start = i + 1;
	}
	*count = k;
	return v;
}

static void free_strings(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* The types line: make the columns.  0, or -1 (not our header: the text is
 * then an error). */
static int take_types(stream *st, const char *line, size_t n)
{
	size_t ntypes;
	char **types = split_header(line, n, &ntypes);
	int rc = -1;

	if (ntypes != st->nheader || ntypes < 2 || strcmp(st->header_names[ntypes - 1], MARKER_NAME) != 0 ||
	    strcmp(types[ntypes - 1], "String") != 0)
		goto done;
	st->ncols = ntypes - 1;
	if (rx_extract_check_columns("query", (const char *const *)st->header_names, st->ncols) < 0) {
		st->status = RX_EXIT_DATAERR;
		st->phase = P_ABORT;
		rc = 0;
		goto done;
	}
	st->cols = calloc(st->ncols, sizeof *st->cols);
	if (st->cols == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < st->ncols; i++) {
		column *col = &st->cols[i];
		col->plain = st->header_names[i];
		st->header_names[i] = NULL;
		col->type = types[i];
		types[i] = NULL;
		rx_json_put_string(&col->name, col->plain, strlen(col->plain));
		rx_buf_putc(&col->name, ':');
		rx_buf_reserve(&col->name, NAME_PAD); /* readable up to NAME_PAD */
		memset(col->name.data + col->name.len, 0, col->name.cap - col->name.len);
		st->names_len += col->name.len + 1;
		if (type_parse(col->type, &col->t) < 0) {
			/* a type rx cannot read: its text, as a string */
			memset(&col->t, 0, sizeof col->t);
			col->t.kind = K_TEXT;
			col->t.nullable = strncmp(col->type, "Nullable(", 9) == 0;
		}
	}
	/* DateTime shown in a zone that is not UTC, by a server that cannot
	 * write ISO 8601 in UTC (18.x): the text alone does not say the instant */
	if (server_utc < 0)
		server_utc = st->c->timezone[0] ? zone_is_utc(st->c->timezone) : 0;
	for (size_t i = 0; i < st->ncols && !datetime_iso; i++) {
		const chtype *t = &st->cols[i].t;
		if (t->kind == K_DATETIME && !(t->has_zone ? t->zone_utc : server_utc)) {
			rx_diag("ClickHouse: column '%s' is %s, shown in a zone other than UTC, and this server cannot "
				"write it in UTC (no date_time_output_format): use toTimeZone(%s, 'UTC') in the query",
				st->cols[i].plain, st->cols[i].type, st->cols[i].plain);
			st->status = RX_EXIT_FAIL;
			st->phase = P_ABORT;
			break;
		}
	}
	if (st->phase != P_ABORT)
		st->phase = P_ROWS;
	rc = 0;
done:
	free_strings(types, ntypes);
	free_strings(st->header_names, st->nheader);
	st->header_names = NULL;
	st->nheader = 0;
	return rc;
}

/* The bytes a String copies as they are into a JSON string: printable
 * ASCII but for '"' and '\'. */
static unsigned char plain_byte[256];

static void init_plain_bytes(void)
{
	for (int c = 0x20; c < 0x80; c++)
		plain_byte[c] = c != '"' && c != '\\';
}

/* A String field at *pp, up to the next tab or end, as a JSON string in one
 * pass: TSV escapes undone, JSON escapes written, UTF-8 checked.  b has
 * room for 6 bytes per input byte.  V_OK with *pp at the tab (or end);
 * V_UTF8; or V_BAD when the field needs the general path (an escape that
 * makes a byte above 0x7F), b untouched then. */
static int put_tsv_string(rx_buf *b, const char **pp, const char *end)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)*pp, *e = (const unsigned char *)end;
	char *o = b->data + b->len;

	*o++ = '"';
	for (;;) {
		/* eight bytes at a time while none is special: no byte below
		 * 0x20 (the tab among them), none above 0x7F, no '"' nor '\' */
		while (e - p >= 8) {
			const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
			uint64_t x, q, k;
			memcpy(&x, p, 8);
			q = x ^ (ones * '"');
			k = x ^ (ones * '\\');
			if ((((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((k - ones) & ~k) | x) & highs)
				break;
			memcpy(o, p, 8);
			o += 8;
			p += 8;
		}
		while (p < e && plain_byte[*p])
			*o++ = (char)*p++;
		if (p == e || *p == '\t')
			break;
		unsigned c = *p;
		if (c >= 0x80) {
			size_t k = utf8_seq(p, e);
			if (k == 0)
				return V_UTF8;
			for (size_t x = 0; x < k; x++)
				*o++ = (char)p[x];
			p += k;
			continue;
		}
		if (c == '\\' && p + 1 < e) {
			switch (p[1]) {
			case 'b': c = '\b'; break;
			case 'f': c = '\f'; break;
			case 'n': c = '\n'; break;
			case 'r': c = '\r'; break;
			case 't': c = '\t'; break;
			case '0': c = '\0'; break;
			case 'a': c = '\a'; break;
			case 'v': c = '\v'; break;
			case 'e': c = 0x1b; break;
			case 'x': return V_BAD;
			default: c = p[1]; break;
			}
			if (c >= 0x80)
				return V_BAD;
			p += 2;
		} else {
			p++;
		}
		if (c >= 0x20 && c != '"' && c != '\\') {
			*o++ = (char)c;
			continue;
		}
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		default:
			*o++ = 'u', *o++ = '0', *o++ = '0', *o++ = hex[c >> 4], *o++ = hex[c & 15];
		}
	}
	*o++ = '"';
	b->len = (size_t)(o - b->data);
	*pp = (const char *)p;
	return V_OK;
}

static void put_raw(rx_buf *b, const void *p, size_t n)
{
	memcpy(b->data + b->len, p, n);
	b->len += n;
}

/* A data line: one row, or the start of what follows the rows. */
static void take_row(stream *st, const char *line, size_t n)
{
	rx_buf *b = &st->out->buf;
	size_t start = b->len, whole = n;
	const char *p = line, *end;
	int rc = V_OK;
	size_t i = 0;

	if (n < MARKER_LEN + 1 || memcmp(line + n - MARKER_LEN, MARKER, MARKER_LEN) != 0 ||
	    line[n - MARKER_LEN - 1] != '\t')
		goto not_a_row;
	end = line + n - MARKER_LEN - 1;
	/* room for the worst case (\u00XX for each byte), so that the loop
	 * below appends without checks; nested values use the checked calls */
	rx_buf_reserve(b, 6 * n + st->names_len + NAME_PAD + 16);
	b->data[b->len++] = '{';
	for (i = 0; i < st->ncols; i++) {
		const column *col = &st->cols[i];
		if (i > 0) {
			if (p >= end || *p != '\t')
				goto not_a_row;
			p++;
			b->data[b->len++] = ',';
		}
		/* "name": in one fixed-size copy (its buffer is padded) */
		if (col->name.len <= NAME_PAD)
			memcpy(b->data + b->len, col->name.data, NAME_PAD);
		else
			memcpy(b->data + b->len, col->name.data, col->name.len);
		b->len += col->name.len;
		if (col->t.nullable && end - p >= 2 && p[0] == '\\' && p[1] == 'N' && (end - p == 2 || p[2] == '\t')) {
			put_raw(b, "null", 4);
			p += 2;
			continue;
		}
		if (col->t.kind == K_STRING) {
			const char *at = p;
			rc = put_tsv_string(b, &p, end);
			if (rc == V_OK)
				continue;
			if (rc != V_BAD)
				goto bad_value;
			p = at; /* the general path below */
		}
		const char *f = p;
		while (p < end && *p != '\t')
			p++;
		size_t fn = (size_t)(p - f);
		/* the usual scalars without a call: a number of at most 15
		 * characters is exact whatever its type */
		switch (col->t.kind) {
		case K_INT:
		case K_BIGINT:
		case K_DECIMAL:
		case K_FLOAT:
			if (is_number(f, fn, col->t.kind == K_INT || col->t.kind == K_BIGINT)) {
				if (fn <= 15 || col->t.kind == K_INT || col->t.kind == K_FLOAT)
					put_raw(b, f, fn);
				else
					rx_extract_put_number(b, f, fn);
				continue;
			}
			if (col->t.kind != K_FLOAT) {
				rc = V_BAD;
				goto bad_value;
			}
			break;
		case K_DATETIME:
			if (datetime_iso && fn >= 20 && f[10] == 'T' && f[fn - 1] == 'Z') {
				b->data[b->len++] = '"';
				put_raw(b, f, fn);
				b->data[b->len++] = '"';
				continue;
			}
			break;
		default:
			break;
		}
		if ((rc = put_field(&col->t, f, fn, b)) != V_OK)
			goto bad_value;
		/* nested values may have grown b: keep the reserve */
		rx_buf_reserve(b, 6 * n + st->names_len + NAME_PAD + 16);
	}
	if (p != end)
		goto not_a_row;
	b->data[b->len++] = '}';
	b->data[b->len] = '\0';
	st->rows++;
	rx_extract_row(st->out, start, st->o);
	if (st->out->error) {
		st->status = RX_EXIT_IOERR;
		st->phase = P_ABORT;
	}
	return;
bad_value:
	b->len = start;
	b->data[start] = '\0';
	{
		const column *col = &st->cols[i];
		if (rc == V_UTF8)
			rx_diag("ClickHouse: row %llu, column '%s' (%s): not valid UTF-8; JSON carries text: send the bytes "
				"with base64Encode(%s) or hex(%s), or drop them with toValidUTF8(%s)",
				st->rows + 1, col->plain, col->type, col->plain, col->plain, col->plain);
		else
			rx_diag("ClickHouse: row %llu, column '%s': cannot read the value as %s", st->rows + 1, col->plain,
				col->type);
	}
	st->status = RX_EXIT_DATAERR;
	st->phase = P_ABORT;
	return;
not_a_row:
	b->len = start;
	if (b->data)
		b->data[start] = '\0';
	st->phase = P_TRAILER;
	keep_text(&st->trailer, line, whole);
	keep_text(&st->trailer, "\n", 1);
}

static void take_line(stream *st, const char *line, size_t n)
{
	switch (st->phase) {
	case P_NAMES:
		st->header_names = split_header(line, n, &st->nheader);
		st->phase = P_TYPES;
		return;
	case P_TYPES:
		if (take_types(st, line, n) < 0) {
			/* not the header rx asked for: an error text */
			st->phase = P_TRAILER;
			keep_text(&st->trailer, line, n);
			keep_text(&st->trailer, "\n", 1);
		}
		return;
	case P_ROWS:
		take_row(st, line, n);
		return;
	default:
		keep_text(&st->trailer, line, n);
		keep_text(&st->trailer, "\n", 1);
	}
}

static size_t on_stream(char *p, size_t size, size_t nmemb, void *arg)
{
	stream *st = arg;
	size_t n = size * nmemb, i = 0;

	if (st->phase == P_NAMES && st->carry.len == 0 && st->trailer.len == 0 && http_status(st->c) != 200)
		st->phase = P_ERROR;
	if (st->phase == P_ERROR || st->phase == P_TRAILER) {
		keep_text(&st->trailer, p, n);
		return n;
	}
	if (st->carry.len > 0) {
		char *nl = memchr(p, '\n', n);
		size_t k = nl ? (size_t)(nl - p) : n;
		if (st->carry.len + k > st->max_line) {
			rx_diag("ClickHouse: row %llu is longer than %zu bytes (see --max-line)", st->rows + 1, st->max_line);
			st->status = RX_EXIT_DATAERR;
			return 0;
		}
		rx_buf_put(&st->carry, p, k);
		if (nl == NULL)
			return n;
		take_line(st, st->carry.data, st->carry.len);
		rx_buf_reset(&st->carry);
		i = k + 1;
	}
	while (i < n && st->phase != P_ABORT) {
		if (st->phase == P_TRAILER) {
			keep_text(&st->trailer, p + i, n - i);
			return n;
		}
		char *nl = memchr(p + i, '\n', n - i);
		if (nl == NULL) {
			if (n - i > st->max_line) {
				rx_diag("ClickHouse: row %llu is longer than %zu bytes (see --max-line)", st->rows + 1,
					st->max_line);
				st->status = RX_EXIT_DATAERR;
				return 0;
			}
			rx_buf_put(&st->carry, p + i, n - i);
			break;
		}
		size_t k = (size_t)(nl - (p + i));
		take_line(st, p + i, k);
		i += k + 1;
	}
	return st->phase == P_ABORT ? 0 : n;
}

/* The server's message in what followed the rows: inside the frame of
 * 25.11+ ("\r\n__exception__\r\nTAG\r\n<message>\n<length> __exception__\r\nTAG\r\n",
 * TAG from the X-ClickHouse-Exception-Tag header), else the text itself. */
static const char *exception_text(const conn *c, rx_buf *t)
{
	static const char mark[] = "__exception__";
	char *first, *last, *p;

	if (t->len == 0)
		return NULL;
	first = strstr(t->data, mark);
	if (first == NULL)
		return t->data;
	for (last = first; (p = strstr(last + 1, mark)) != NULL;)
		last = p;
	p = first + sizeof mark - 1;
	while (*p == '\r' || *p == '\n')
		p++;
	size_t k = strlen(c->exception_tag);
	if (k > 0 && strncmp(p, c->exception_tag, k) == 0)
		p += k;
	while (*p == '\r' || *p == '\n')
		p++;
	if (last > p) {
		/* back over "<length> " to the line before */
		char *end = last;
		while (end > p && (end[-1] == ' ' || (end[-1] >= '0' && end[-1] <= '9')))
			end--;
		*end = '\0';
	}
	return p;
}

static void stream_free(stream *st)
{
	if (st->cols != NULL) {
		for (size_t i = 0; i < st->ncols; i++) {
			free(st->cols[i].plain);
			free(st->cols[i].type);
			rx_buf_free(&st->cols[i].name);
			type_free(&st->cols[i].t);
		}
		free(st->cols);
	}
	free_strings(st->header_names, st->nheader);
	rx_buf_free(&st->carry);
	rx_buf_free(&st->trailer);
	memset(st, 0, sizeof *st);
}

/* The server refused a setting rx sent (Code 115, unknown to it): take it
 * out of params.  1 when one was, 0 when the error is another. */
static int drop_unknown_setting(const conn *c, rx_buf *params, const rx_buf *error)
{
	if (error->len == 0 || error_code(c, error->data) != 115)
		return 0;
	for (size_t i = 0; i < params->len; i += strlen(params->data + i) + 1) {
		const char *item = params->data + i, *eq = strchr(item, '=');
		size_t k = eq ? (size_t)(eq - item) : strlen(item), n = strlen(item) + 1;
		char name[64];
		if (k >= sizeof name)
			continue;
		memcpy(name, item, k);
		name[k] = '\0';
		const char *at = error->data;
		while ((at = strstr(at, name)) != NULL &&
		       ((at > error->data && is_ident(at[-1])) || is_ident(at[k])))
			at += k;
		if (at == NULL)
			continue;
		if (strcmp(name, "date_time_output_format") == 0)
			datetime_iso = 0;
		memmove(params->data + i, params->data + i + n, params->len - i - n);
		params->len -= n;
		return 1;
	}
	return 0;
}

int rx_extract_clickhouse(const extract_options *o, rx_writer *out)
{
	conn c = {0};
	stream st = {0};
	rx_buf base = {0}, sql = {0}, params = {0};
	char *url = NULL;
	int status = RX_EXIT_FAIL;
	char msg[1200];

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rx_die(RX_EXIT_FAIL, "cannot initialise libcurl");
	init_plain_bytes();
	if (conn_open(&c, o->source) < 0) {
		status = RX_EXIT_USAGE;
		goto done;
	}
	base_query(o, &base);
	if (base.len == 0) {
		rx_diag("the query is empty");
		goto done;
	}
	if ((status = probe(&c, &params)) != 0)
		goto done;
	status = RX_EXIT_FAIL;

	/* every row ends with the marker; the shard filter goes in the server
	 * when it can */
	rx_buf_puts(&sql, "SELECT *, unhex('FFFE') AS " MARKER_NAME " FROM (\n");
	rx_buf_put(&sql, base.data, base.len);
	rx_buf_puts(&sql, "\n)");
	if (o->nshards > 0) {
		rx_buf where = {0};
		if (shard_filter(&c, o, base.data, &where) == 0)
			rx_buf_put(&sql, where.data, where.len);
		rx_buf_free(&where);
	}
	rx_buf_puts(&sql, "\n" FORMAT_CLAUSE);
	CURLcode res;
	long http;
	for (;;) {
		url = query_url(&c, &params);
		st.o = o;
		st.out = out;
		st.c = &c;
		st.max_line = o->max_line ? o->max_line : RX_MAX_LINE_DEFAULT;
		res = post(&c, url, sql.data, on_stream, &st);
		http = http_status(&c);
		/* a setting the probe could not see (system.settings denied) that
		 * the server does not know: refused before any row, so ask again
		 * without it */
		if (st.phase != P_ERROR || http == 200 || !drop_unknown_setting(&c, &params, &st.trailer))
			break;
		stream_free(&st);
		free(url);
		url = NULL;
	}
	if (st.phase == P_ABORT || (res == CURLE_WRITE_ERROR && st.status != 0)) {
		status = st.status ? st.status : RX_EXIT_FAIL;
		goto done;
	}
	if (res != CURLE_OK && http == 0) {
		rx_diag("cannot connect to ClickHouse at %s: %s", c.where, c.errbuf[0] ? c.errbuf : curl_easy_strerror(res));
		goto done;
	}
	if (http != 200) {
		status = report_error(&c, "ClickHouse: query failed", &st.trailer, http);
		goto done;
	}
	if (res != CURLE_OK) {
		const char *why = exception_text(&c, &st.trailer);
		if (why != NULL)
			rx_diag("ClickHouse: query failed after %llu rows (the output is incomplete): %s", st.rows,
				rx_one_line(why, msg, sizeof msg));
		else
			rx_diag("ClickHouse: query failed after %llu rows (the output is incomplete): the connection "
				"was lost: %s",
				st.rows, c.errbuf[0] ? c.errbuf : curl_easy_strerror(res));
		goto done;
	}
	if (st.carry.len > 0)
		keep_text(&st.trailer, st.carry.data, st.carry.len);
	if (st.phase != P_ROWS || st.trailer.len > 0) {
		const char *why = exception_text(&c, &st.trailer);
		int code = error_code(&c, why);
		if (st.phase < P_ROWS && why == NULL)
			rx_diag("ClickHouse: the response ended before the header of the result");
		else if (st.phase < P_ROWS)
			rx_diag("ClickHouse: query failed: %s", rx_one_line(why, msg, sizeof msg));
		else
			rx_diag("ClickHouse: query failed after %llu rows (the output is incomplete): %s", st.rows,
				rx_one_line(why, msg, sizeof msg));
		status = error_status(http, code);
		goto done;
	}
	status = RX_EXIT_OK;
done:
	stream_free(&st);
	conn_close(&c);
	free(url);
	rx_buf_free(&base);
	rx_buf_free(&sql);
	rx_buf_free(&params);
	rx_buf_free(&unescaped);
	rx_buf_free(&keytext);
	rx_buf_free(&scratch);
	curl_global_cleanup();
	return status;
}
