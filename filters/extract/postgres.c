/*
 * postgres.c - rx-extract's PostgreSQL source (and PG-wire warehouses).
 *
 * NOTES ON THE DESIGN
 *
 *  - Streaming: the query runs as a server-side cursor in a read-only
 *    transaction and is read with FETCH in chunks.  The next FETCH is sent
 *    before the current chunk is converted, so the server produces rows
 *    while this process writes them.  The chunk size adapts so that one
 *    chunk holds about CHUNK_BYTES of output: memory stays flat whatever
 *    the number of rows, and wide rows do not multiply it.
 *  - Complete or failed: a result is complete only when a FETCH returns
 *    fewer rows than asked.  Any error before that (a query error, the
 *    server going away) is a diagnostic and exit 1, whatever was written.
 *  - Types are mapped by OID, from the text format, with the session set
 *    so that the text is stable (DateStyle ISO, TimeZone UTC,
 *    IntervalStyle iso_8601, bytea hex, UTF8):
 *      int2/int4/oid        number
 *      int8, numeric        number, or a string when a double cannot hold
 *                           it exactly (DESIGN.md "Numbers"); NaN and the
 *                           infinities as strings
 *      float4/float8        number (shortest round-trip text); NaN and the
 *                           infinities as strings
 *      bool                 true/false
 *      json/jsonb           embedded as JSON, compacted
 *      bytea                base64 string
 *      timestamp            "2024-01-31T12:00:00[.ffffff]"
 *      timestamptz          "2024-01-31T12:00:00[.ffffff]+00:00" (UTC), the
 *                           same text as PostgreSQL's to_json()
 *      date, time, uuid, text, interval and all others: their text, a string
 *      arrays               JSON arrays (nested for several dimensions),
 *                           elements typed as above
 *    Domains take their base type's mapping.  Unknown types (enums,
 *    composites, ranges, extension types) are strings.
 *  - --shard I/N --key COL is pushed into the query when the key columns'
 *    text in SQL is the text rx_shard_of() hashes here (integers, numeric,
 *    text, varchar, uuid, bool, float, date, timestamps): each shard then
 *    reads only its part.  rx_extract_row() filters again, so other key
 *    types are still sharded correctly, on this side.
 */
#include "extract.h"
#include "pg.h"

#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum {
	CHUNK_FIRST = 1000,       /* rows in the first FETCH */
	CHUNK_MIN = 16,           /* fewest rows in one FETCH */
	CHUNK_MAX = 20000,        /* most rows in one FETCH */
	CHUNK_BYTES = 4 << 20,    /* aim: output bytes per FETCH */
};

/* How a column's text becomes JSON: pg.h (shared with pgrepl.c and
 * follow.c). */
typedef rx_pg_kind kind;
typedef rx_pg_column column;

/* Built-in type OIDs (pg_type.dat; stable across versions). */
static int builtin_kind(Oid oid, kind *k, int *pushable)
{
	*pushable = 0;
	switch (oid) {
	case 21: case 23: case 26:
		*k = K_INT, *pushable = 1;
		return 1;
	case 20:
		*k = K_BIGINT, *pushable = 1;
		return 1;
	case 1700:
		*k = K_NUMERIC, *pushable = 1;
		return 1;
	case 700: case 701:
		*k = K_FLOAT, *pushable = 1;
		return 1;
	case 16:
		*k = K_BOOL, *pushable = 1;
		return 1;
	case 114: case 3802:
		*k = K_JSON;
		return 1;
	case 17:
		*k = K_BYTEA;
		return 1;
	case 1114:
		*k = K_TIMESTAMP, *pushable = 2;
		return 1;
	case 1184:
		*k = K_TIMESTAMPTZ, *pushable = 2;
		return 1;
	case 25: case 1043: case 19: case 2950: case 1082:
		*k = K_STRING, *pushable = 1;
		return 1;
	case 18: case 1042: case 1083: case 1266: case 1186:
		*k = K_STRING;
		return 1;
	}
	return 0;
}

/* The element type of a built-in array type, or 0. */
static Oid builtin_array_elem(Oid oid)
{
	static const Oid map[][2] = {
		{1000, 16}, {1001, 17}, {1002, 18}, {1003, 19}, {1005, 21}, {1007, 23},
		{1009, 25}, {1014, 1042}, {1015, 1043}, {1016, 20}, {1021, 700}, {1022, 701},
		{1028, 26}, {1115, 1114}, {1182, 1082}, {1183, 1083}, {1185, 1184}, {1187, 1186},
		{1231, 1700}, {1270, 1266}, {199, 114}, {3807, 3802}, {2951, 2950},
	};
	for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
		if (map[i][0] == oid)
			return map[i][1];
	return 0;
}

/* Set a column's mapping from a type OID known without asking the server;
 * 0 when it is not. */
static int set_builtin(column *c, Oid oid)
{
	Oid elem;
	int pushable;

	if (builtin_kind(oid, &c->kind, &c->pushable))
		return 1;
	elem = builtin_array_elem(oid);
	if (elem == 0)
		return 0;
	c->kind = K_ARRAY;
	c->delim = ',';
	if (!builtin_kind(elem, &c->elem, &pushable))
		c->elem = K_STRING;
	return 1;
}

static int is_special_number(const char *s, size_t n)
{
	return (n == 3 && memcmp(s, "NaN", 3) == 0) || (n == 8 && memcmp(s, "Infinity", 8) == 0) ||
	       (n == 9 && memcmp(s, "-Infinity", 9) == 0);
}

static rx_buf scratch; /* bytea bytes; reused, never per row */

static void put_scalar(rx_buf *b, kind k, const char *s, size_t n)
{
	switch (k) {
	case K_INT:
		rx_buf_put(b, s, n);
		return;
	case K_BIGINT:
		rx_extract_put_number(b, s, n);
		return;
	case K_NUMERIC:
	case K_FLOAT:
		if (is_special_number(s, n))
			rx_json_put_string(b, s, n);
		else if (k == K_NUMERIC)
			rx_extract_put_number(b, s, n);
		else
			rx_buf_put(b, s, n);
		return;
	case K_BOOL:
		if (n == 1 && s[0] == 't')
			rx_buf_put(b, "true", 4);
		else if (n == 1 && s[0] == 'f')
			rx_buf_put(b, "false", 5);
		else
			rx_json_put_string(b, s, n);
		return;
	case K_JSON: {
		char err[128];
		if (rx_json_validate(s, n, err, sizeof err) == 0)
			rx_json_put_compact(b, rx_span_of(s, n));
		else
			rx_json_put_string(b, s, n);
		return;
	}
	case K_BYTEA:
		if (n >= 2 && s[0] == '\\' && s[1] == 'x' && n % 2 == 0) {
			rx_buf_reset(&scratch);
			rx_buf_reserve(&scratch, n / 2);
			size_t i;
			for (i = 2; i < n; i += 2) {
				int hi = rx_hexval(s[i]), lo = rx_hexval(s[i + 1]);
				if (hi < 0 || lo < 0)
					break;
				scratch.data[scratch.len++] = (char)(hi << 4 | lo);
			}
			if (i >= n) {
				rx_buf_putc(b, '"');
				rx_base64_put(b, (const unsigned char *)scratch.data, scratch.len);
				rx_buf_putc(b, '"');
				return;
			}
		}
		rx_json_put_string(b, s, n);
		return;
	case K_TIMESTAMP:
	case K_TIMESTAMPTZ: {
		const char *sp = memchr(s, ' ', n);
		/* "infinity", or a BC date ("... BC"): the text as it is */
		if (sp == NULL || (n > 3 && memcmp(s + n - 3, " BC", 3) == 0)) {
			rx_json_put_string(b, s, n);
			return;
		}
		size_t at = (size_t)(sp - s);
		rx_buf_putc(b, '"');
		rx_buf_put(b, s, at);
		rx_buf_putc(b, 'T');
		rx_buf_put(b, s + at + 1, n - at - 1);
		/* "+00" or "-05": a whole-hour offset gains its minutes */
		if (k == K_TIMESTAMPTZ && n >= 3 && (s[n - 3] == '+' || s[n - 3] == '-'))
			rx_buf_put(b, ":00", 3);
		rx_buf_putc(b, '"');
		return;
	}
	case K_STRING:
	case K_ARRAY:
		break;
	}
	rx_json_put_string(b, s, n);
}

/* Parse one array level at s[*i] == '{' and write a JSON array.  Returns 0
 * or -1 on text that is not an array literal. */
static int put_array_level(rx_buf *b, const column *c, const char *s, size_t n, size_t *i, rx_buf *elem)
{
	int first = 1;

	if (*i >= n || s[*i] != '{')
		return -1;
	(*i)++;
	rx_buf_putc(b, '[');
	for (;;) {
		while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n'))
			(*i)++;
		if (*i >= n)
			return -1;
		if (s[*i] == '}' && first) {
			(*i)++;
			break;
		}
		if (!first)
			rx_buf_putc(b, ',');
		first = 0;
		if (s[*i] == '{') {
			if (put_array_level(b, c, s, n, i, elem) < 0)
				return -1;
		} else if (s[*i] == '"') {
			rx_buf_reset(elem);
			for ((*i)++; *i < n && s[*i] != '"'; (*i)++) {
				if (s[*i] == '\\' && *i + 1 < n)
					(*i)++;
				rx_buf_putc(elem, s[*i]);
			}
			if (*i >= n)
				return -1;
			(*i)++;
			put_scalar(b, c->elem, elem->data ? elem->data : "", elem->len);
		} else {
			size_t start = *i, end;
			while (*i < n && s[*i] != c->delim && s[*i] != '}')
				(*i)++;
			end = *i;
			while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t'))
				end--;
			if (end == start)
				return -1;
			if (end - start == 4 && strncasecmp(s + start, "null", 4) == 0)
				rx_buf_put(b, "null", 4);
			else
				put_scalar(b, c->elem, s + start, end - start);
		}
		while (*i < n && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\n'))
			(*i)++;
		if (*i >= n)
			return -1;
		if (s[*i] == c->delim) {
			(*i)++;
			continue;
		}
		if (s[*i] == '}') {
			(*i)++;
			break;
		}
		return -1;
	}
	rx_buf_putc(b, ']');
	return 0;
}

static void put_array(rx_buf *b, const column *c, const char *s, size_t n)
{
	static rx_buf elem;
	size_t start = b->len, i = 0;

	/* "[0:2]={...}": bounds other than 1 are decoration; the JSON array
	 * keeps the elements */
	if (n > 0 && s[0] == '[') {
		const char *eq = memchr(s, '=', n);
		if (eq != NULL)
			i = (size_t)(eq - s) + 1;
	}
	if (put_array_level(b, c, s, n, &i, &elem) < 0 || i != n) {
		b->len = start;
		rx_json_put_string(b, s, n);
	}
}

/* Look up the types the table above does not know: domains take their
 * base type's mapping, arrays their element type's.  Best effort: on an
 * engine without pg_type, they stay strings. */
static void resolve_types(PGconn *conn, column *cols, int ncols)
{
	rx_buf sql = {0};
	PGresult *res = NULL;
	int any = 0;

	rx_buf_puts(&sql, "SELECT oid::int8, typtype, typcategory, typelem::int8, typbasetype::int8, typdelim"
			  " FROM pg_catalog.pg_type WHERE oid IN (");
	for (int i = 0; i < ncols; i++) {
		if (set_builtin(&cols[i], cols[i].oid))
			continue;
		cols[i].kind = K_STRING;
		rx_buf_printf(&sql, "%s%u", any ? "," : "", (unsigned)cols[i].oid);
		any = 1;
	}
	if (!any)
		goto done;
	rx_buf_putc(&sql, ')');
	res = PQexec(conn, sql.data);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		goto done;
	for (int r = 0; r < PQntuples(res); r++) {
		Oid oid = (Oid)strtoul(PQgetvalue(res, r, 0), NULL, 10);
		char typtype = PQgetvalue(res, r, 1)[0], category = PQgetvalue(res, r, 2)[0];
		Oid elem = (Oid)strtoul(PQgetvalue(res, r, 3), NULL, 10);
		Oid base = (Oid)strtoul(PQgetvalue(res, r, 4), NULL, 10);
		char delim = PQgetvalue(res, r, 5)[0];
		for (int i = 0; i < ncols; i++) {
			column *c = &cols[i];
			int pushable;
			if (c->oid != oid)
				continue;
			if (typtype == 'd' && base != 0) {
				set_builtin(c, base);
			} else if (category == 'A' && elem != 0) {
				c->kind = K_ARRAY;
				c->delim = delim ? delim : ',';
				if (!builtin_kind(elem, &c->elem, &pushable))
					c->elem = K_STRING;
			}
		}
	}
done:
	PQclear(res);
	rx_buf_free(&sql);
}

/* The shard filter in SQL, for the key columns of o->key; 0 with it in
 * where, or -1 when a key column's SQL text would not be the text hashed
 * here (the filter then stays on this side only). */
static int shard_filter(const extract_options *o, const column *cols, int ncols, rx_buf *where)
{
	char *keys = rx_xstrdup(o->key), *save = NULL;
	rx_buf text = {0}, nulls = {0};
	int nkeys = 0, rc = -1;

	for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save))
		nkeys++;
	free(keys);
	keys = rx_xstrdup(o->key);
	save = NULL;
	if (nkeys > 1)
		rx_buf_puts(&text, "'[' || ");
	int n = 0;
	for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save), n++) {
		int found = -1;
		for (int i = 0; i < ncols; i++) {
			if (strcmp(cols[i].plain, k) != 0)
				continue;
			if (found >= 0)
				goto done; /* two columns of that name */
			found = i;
		}
		if (found < 0 || !cols[found].pushable)
			goto done;
		rx_buf ident = {0};
		rx_sql_put_ident(&ident, k, strlen(k));
		if (n > 0)
			rx_buf_puts(&text, " || ',' || ");
		if (nkeys > 1)
			rx_buf_puts(&text, "to_json(");
		if (cols[found].pushable == 2)
			rx_buf_printf(&text, "btrim(to_json(rx_q.%s)::text, '\"')", ident.data);
		else
			rx_buf_printf(&text, "rx_q.%s::text", ident.data);
		if (nkeys > 1)
			rx_buf_puts(&text, ")::text");
		rx_buf_printf(&nulls, " OR rx_q.%s IS NULL", ident.data);
		rx_buf_free(&ident);
	}
	if (nkeys > 1)
		rx_buf_puts(&text, " || ']'");
	rx_buf_printf(where, " WHERE ('x' || lpad(substr(md5(%s), 1, 8), 16, '0'))::bit(64)::bigint %% %u + 1 = %u",
		      text.data, o->nshards, o->shard);
	/* a row without a key is rx-diff's to report: shard 1 keeps it, as
	 * rx_extract_row() does */
	if (o->shard == 1)
		rx_buf_puts(where, nulls.data);
	rc = 0;
done:
	free(keys);
	rx_buf_free(&text);
	rx_buf_free(&nulls);
	return rc;
}

/* The model's SQL: the query without trailing ';' and white space, or
 * every row of the table ("schema.table" names a schema). */
static void base_query(const extract_options *o, rx_buf *sql)
{
	if (o->table != NULL) {
		const char *t = o->table, *dot = strchr(t, '.');
		rx_buf_puts(sql, "SELECT * FROM ");
		if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
			rx_sql_put_ident(sql, t, (size_t)(dot - t));
			rx_buf_putc(sql, '.');
			t = dot + 1;
		}
		rx_sql_put_ident(sql, t, strlen(t));
		return;
	}
	size_t n = strlen(o->query);
	while (n > 0 && strchr(" \t\r\n;", o->query[n - 1]) != NULL)
		n--;
	rx_buf_put(sql, o->query, n);
}

/* Wait for the result of the command sent last: the last non-NULL result,
 * or NULL when the connection failed. */
static PGresult *take_result(PGconn *conn)
{
	PGresult *res, *last = NULL;

	while ((res = PQgetResult(conn)) != NULL) {
		PQclear(last);
		last = res;
	}
	return last;
}

/* The server's notices and warnings, as diagnostics (one line each, the
 * program's name first) rather than libpq's bare lines on stderr. */
static void notice(void *arg, const char *message)
{
	char msg[1024];

	(void)arg;
	rx_diag("server says: %s", rx_one_line(message, msg, sizeof msg));
}

static void session_settings(PGconn *conn)
{
	static const char *const settings[] = {
		"SET DateStyle = 'ISO, YMD'", "SET TimeZone = 'UTC'", "SET IntervalStyle = 'iso_8601'",
		"SET extra_float_digits = 1", "SET bytea_output = 'hex'", "SET cursor_tuple_fraction = 1",
	};

	PQsetNoticeProcessor(conn, notice, NULL);
	PQsetClientEncoding(conn, "UTF8");
	/* best effort: an engine that lacks a setting keeps its default */
	for (size_t i = 0; i < sizeof settings / sizeof settings[0]; i++)
		PQclear(PQexec(conn, settings[i]));
}

/* --follow keeps the connection from one poll to the next */
static PGconn *kept;

void rx_extract_postgres_close(void)
{
	PQfinish(kept);
	kept = NULL;
}

int rx_extract_postgres(const extract_options *o, rx_writer *out)
{
	PGconn *conn = NULL;
	PGresult *desc = NULL, *res = NULL;
	rx_buf base = {0}, sql = {0};
	column *cols = NULL;
	int ncols = 0, status = RX_EXIT_FAIL;
	unsigned long long rows = 0;
	char msg[1024];

	if (kept != NULL && PQstatus(kept) == CONNECTION_OK) {
		conn = kept; /* --follow: the connection of the last poll */
		kept = NULL;
	} else {
		PQfinish(kept);
		kept = NULL;
		conn = PQconnectdb(o->source);
		if (conn == NULL || PQstatus(conn) != CONNECTION_OK) {
			rx_diag("cannot connect to PostgreSQL: %s",
				conn ? rx_one_line(PQerrorMessage(conn), msg, sizeof msg) : "out of memory");
			goto done;
		}
		session_settings(conn);
	}
	base_query(o, &base);
	if (base.len == 0) {
		rx_diag("the query is empty");
		goto done;
	}

	/* describe the model: column names and types, before any row */
	res = PQprepare(conn, "", base.data, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rx_diag("query failed: %s", rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
		goto done;
	}
	PQclear(res);
	res = NULL;
	desc = PQdescribePrepared(conn, "");
	if (PQresultStatus(desc) != PGRES_COMMAND_OK) {
		rx_diag("query failed: %s", rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
		goto done;
	}
	ncols = PQnfields(desc);
	if (ncols == 0) {
		rx_diag("the statement returns no rows (it is not a query)");
		goto done;
	}
	const char **plain = rx_xmalloc((size_t)ncols * sizeof *plain);
	for (int i = 0; i < ncols; i++)
		plain[i] = PQfname(desc, i);
	int bad = rx_extract_check_columns("query", plain, (size_t)ncols);
	free(plain);
	if (bad < 0) {
		status = RX_EXIT_DATAERR;
		goto done;
	}
	cols = calloc((size_t)ncols, sizeof *cols);
	if (cols == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (int i = 0; i < ncols; i++) {
		cols[i].plain = PQfname(desc, i);
		cols[i].oid = PQftype(desc, i);
		rx_json_put_string(&cols[i].name, cols[i].plain, strlen(cols[i].plain));
		rx_buf_putc(&cols[i].name, ':');
	}
	resolve_types(conn, cols, ncols);

	/* the cursor, with the shard filter pushed down when it can be */
	rx_buf_puts(&sql, "DECLARE rx_cursor NO SCROLL CURSOR FOR ");
	if (o->nshards > 0) {
		rx_buf where = {0};
		if (shard_filter(o, cols, ncols, &where) == 0) {
			rx_buf_puts(&sql, "SELECT * FROM (\n");
			rx_buf_put(&sql, base.data, base.len);
			rx_buf_puts(&sql, "\n) AS rx_q");
			rx_buf_put(&sql, where.data, where.len);
		} else {
			rx_buf_put(&sql, base.data, base.len);
		}
		rx_buf_free(&where);
	} else {
		rx_buf_put(&sql, base.data, base.len);
	}
	res = PQexec(conn, "BEGIN READ ONLY");
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rx_diag("cannot begin a transaction: %s", rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
		goto done;
	}
	PQclear(res);
	res = PQexec(conn, sql.data);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rx_diag("query failed: %s", rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
		goto done;
	}
	PQclear(res);
	res = NULL;

	/* FETCH chunk k+1 is on its way while chunk k is written */
	long asked = CHUNK_FIRST, next = CHUNK_FIRST;
	char fetch[64];
	snprintf(fetch, sizeof fetch, "FETCH %ld FROM rx_cursor", asked);
	if (!PQsendQuery(conn, fetch)) {
		rx_diag("query failed: %s", rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
		goto done;
	}
	for (;;) {
		res = take_result(conn);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			/* a lost connection's story (a FATAL message, then "server
			 * closed the connection") is in the connection's message */
			const char *why = res && PQresultErrorMessage(res)[0] && PQstatus(conn) == CONNECTION_OK
						  ? PQresultErrorMessage(res)
						  : PQerrorMessage(conn);
			rx_diag("query failed after %llu rows (the output is incomplete): %s", rows,
				rx_one_line(why, msg, sizeof msg));
			goto done;
		}
		if (PQnfields(res) != ncols) {
			rx_diag("the cursor returned %d columns, the query %d", PQnfields(res), ncols);
			goto done;
		}
		int n = PQntuples(res), more = n == asked;
		if (more) {
			asked = next;
			snprintf(fetch, sizeof fetch, "FETCH %ld FROM rx_cursor", asked);
			if (!PQsendQuery(conn, fetch)) {
				rx_diag("query failed after %llu rows (the output is incomplete): %s", rows,
					rx_one_line(PQerrorMessage(conn), msg, sizeof msg));
				goto done;
			}
		}
		size_t bytes = 0;
		for (int r = 0; r < n; r++) {
			rx_buf *b = &out->buf;
			size_t start = b->len;
			rx_buf_putc(b, '{');
			for (int i = 0; i < ncols; i++) {
				if (i > 0)
					rx_buf_putc(b, ',');
				rx_buf_put(b, cols[i].name.data, cols[i].name.len);
				if (PQgetisnull(res, r, i)) {
					rx_buf_put(b, "null", 4);
					continue;
				}
				rx_pg_put_value(b, &cols[i], PQgetvalue(res, r, i), (size_t)PQgetlength(res, r, i));
			}
			rx_buf_putc(b, '}');
			bytes += b->len - start;
			rx_extract_row(out, start, o);
			if (out->error) {
				status = RX_EXIT_IOERR;
				goto done;
			}
		}
		rows += (unsigned long long)n;
		PQclear(res);
		res = NULL;
		if (!more)
			break;
		if (n > 0 && bytes > 0) {
			double per_row = (double)bytes / n;
			next = (long)(CHUNK_BYTES / per_row);
			if (next < CHUNK_MIN)
				next = CHUNK_MIN;
			if (next > CHUNK_MAX)
				next = CHUNK_MAX;
		}
	}
	/* the rows are all read: the end of a read-only transaction changes
	 * nothing, whatever happens to it */
	PQclear(PQexec(conn, "COMMIT"));
	status = RX_EXIT_OK;
done:
	PQclear(res);
	if (cols != NULL) {
		for (int i = 0; i < ncols; i++)
			rx_buf_free(&cols[i].name);
		free(cols);
	}
	PQclear(desc);
	if (o->keep_connection && status == RX_EXIT_OK)
		kept = conn;
	else
		PQfinish(conn);
	rx_buf_free(&base);
	rx_buf_free(&sql);
	rx_buf_free(&scratch);
	return status;
}

/* ---- for pgrepl.c and follow.c (pg.h) ---- */

void rx_pg_session(PGconn *conn)
{
	session_settings(conn);
}

void rx_pg_resolve_types(PGconn *conn, rx_pg_column *cols, int ncols)
{
	resolve_types(conn, cols, ncols);
}

void rx_pg_put_value(rx_buf *b, const rx_pg_column *c, const char *v, size_t n)
{
	if (c->kind == K_ARRAY)
		put_array(b, c, v, n);
	else if (c->kind == K_STRING)
		rx_json_put_string(b, v, n);
	else
		put_scalar(b, c->kind, v, n);
}
