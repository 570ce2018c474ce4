/*
 * mysql.c - rx-extract's MySQL and MariaDB source, through libmariadb.
 *
 * NOTES ON THE DESIGN
 *
 *  - Streaming: the query runs with mysql_real_query() and is read with
 *    mysql_use_result(), one row at a time off the socket: memory holds
 *    one row (libmariadb's packet buffer grows to the largest), however
 *    many there are.  A slow reader holds the server's thread, so the
 *    session's net_write_timeout is raised to 10 minutes: a pipeline
 *    that stalls that long fails (exit 1, no end record) rather than
 *    holding locks for ever.
 *  - Complete or failed: mysql_fetch_row() returns NULL at the end and on
 *    an error (a row the server cannot compute, a killed query, a lost
 *    connection); only mysql_errno() tells them apart.  Any error is a
 *    diagnostic and exit 1, whatever was written before it.
 *  - Read only: the query runs in a START TRANSACTION READ ONLY, so a
 *    model that is not a query (a DELETE) fails instead of changing the
 *    warehouse; the single statement reads one consistent snapshot.  An
 *    engine without read-only transactions runs it without.
 *  - The session is utf8mb4 and UTC (rxmysql.h), so text arrives as UTF-8
 *    and TIMESTAMP values in UTC.
 *  - Types are mapped from each column's metadata, on purpose:
 *      TINYINT..BIGINT, YEAR   number; a string beyond 2^53 (BIGINT and
 *                              BIGINT UNSIGNED); ZEROFILL's zeros dropped
 *      DECIMAL                 number when a double holds it exactly,
 *                              else a string of every digit
 *      FLOAT, DOUBLE           number, the server's shortest text
 *      BIT(n)                  number (its unsigned value), a string
 *                              beyond 2^53
 *      DATE                    "2024-01-31"
 *      DATETIME                "2024-01-31T12:30:00[.ffffff]"
 *      TIMESTAMP               "2024-01-31T12:30:00[.ffffff]+00:00"
 *      TIME                    its text: "08:15:00", "-838:59:59"
 *      JSON                    embedded as JSON, compacted (MySQL's JSON
 *                              type, MariaDB's by its extended metadata)
 *      CHAR..LONGTEXT, ENUM,   string
 *      SET, UUID, INET6
 *      BINARY..LONGBLOB,       base64 string: a string column whose
 *      GEOMETRY                character set is binary (number 63)
 *      NULL                    null
 *    Zero dates ('0000-00-00') keep the server's text in the same shape.
 *  - --shard I/N --key COL is pushed into the query when the key
 *    columns' text in SQL is the text rx_shard_of() hashes here:
 *    SELECT * FROM (model) AS rx_q WHERE CONV(LEFT(MD5(key text), 8),
 *    16, 10) % N + 1 = I.  The column types are learnt first by preparing
 *    the model (never run); rx_extract_row() filters again, so keys of
 *    other types are still sharded exactly, on this side.
 */
#include "extract.h"
#include "rxmysql.h"

#include <stdlib.h>
#include <string.h>

/* How a column's text becomes JSON. */
typedef enum kind {
	K_STRING,    /* a JSON string of the text */
	K_INT,       /* an integer: a number, a string beyond 2^53 */
	K_DECIMAL,   /* an exact decimal: a number, or a string */
	K_FLOAT,     /* the text, a number */
	K_BIT,       /* big-endian bytes: an unsigned integer */
	K_BINARY,    /* bytes: base64 */
	K_JSON,      /* embedded */
	K_DATETIME,  /* ' ' to 'T' */
	K_TIMESTAMP, /* ' ' to 'T', "+00:00" */
} kind;

typedef struct column {
	rx_buf name;  /* "\"name\":", escaped once */
	kind kind;    /* how its text is written */
	int zerofill; /* a number with leading zeros */
} column;

/* Is this column's text JSON?  MySQL has a type for it; MariaDB stores
 * JSON as LONGTEXT and says so in the extended metadata. */
static int is_json(const MYSQL_FIELD *f)
{
	MARIADB_CONST_STRING format = {0};

	if (f->type == MYSQL_TYPE_JSON)
		return 1;
	if (mariadb_field_attr(&format, f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 && format.length == 4 &&
	    memcmp(format.str, "json", 4) == 0)
		return 1;
	return 0;
}

static kind kind_of(const MYSQL_FIELD *f)
{
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return K_INT;
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
		return K_DECIMAL;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		return K_FLOAT;
	case MYSQL_TYPE_BIT:
		return K_BIT;
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_DATETIME2:
		return K_DATETIME;
	case MYSQL_TYPE_TIMESTAMP:
	case MYSQL_TYPE_TIMESTAMP2:
		return K_TIMESTAMP;
	case MYSQL_TYPE_JSON:
		return K_JSON;
	case MYSQL_TYPE_GEOMETRY:
		return K_BINARY;
	case MYSQL_TYPE_VARCHAR:
	case MYSQL_TYPE_VAR_STRING:
	case MYSQL_TYPE_STRING:
	case MYSQL_TYPE_TINY_BLOB:
	case MYSQL_TYPE_MEDIUM_BLOB:
	case MYSQL_TYPE_LONG_BLOB:
	case MYSQL_TYPE_BLOB:
		if (is_json(f))
			return K_JSON;
		/* ENUM and SET arrive as STRING; binary by the character set,
		 * not by BINARY_FLAG (which a _bin collation sets too) */
		if (f->charsetnr == 63 && !(f->flags & (ENUM_FLAG | SET_FLAG)))
			return K_BINARY;
		return K_STRING;
	default: /* DATE, TIME, NEWDATE, ENUM, SET, NULL and any newer type */
		return K_STRING;
	}
}

static rx_buf scratch; /* a number without its zeros, BIT digits; reused */

/* A number's text without ZEROFILL's leading zeros: "00042" is 42,
 * "-007.50" is -7.50. */
static void put_zerofilled(rx_buf *b, const char *s, size_t n, kind k)
{
	size_t i = 0;

	rx_buf_reset(&scratch);
	if (i < n && s[i] == '-')
		rx_buf_putc(&scratch, s[i++]);
	while (i + 1 < n && s[i] == '0' && s[i + 1] >= '0' && s[i + 1] <= '9')
		i++;
	rx_buf_put(&scratch, s + i, n - i);
	if (k == K_FLOAT)
		rx_buf_put(b, scratch.data, scratch.len);
	else
		rx_extract_put_number(b, scratch.data, scratch.len);
}

/* Is s a JSON number?  The server's text always is; a string otherwise. */
static int is_number(const char *s, size_t n)
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
	if (i < n && s[i] == '.') {
		if (++i >= n || s[i] < '0' || s[i] > '9')
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

static void put_value(rx_buf *b, const column *c, const char *s, size_t n)
{
	switch (c->kind) {
	case K_STRING:
		rx_json_put_string(b, s, n);
		return;
	case K_INT:
	case K_DECIMAL:
		if (c->zerofill)
			put_zerofilled(b, s, n, c->kind);
		else if (is_number(s, n))
			rx_extract_put_number(b, s, n);
		else
			rx_json_put_string(b, s, n);
		return;
	case K_FLOAT:
		if (c->zerofill)
			put_zerofilled(b, s, n, c->kind);
		else if (is_number(s, n))
			rx_buf_put(b, s, n);
		else
			rx_json_put_string(b, s, n);
		return;
	case K_BIT: {
		/* BIT(n) is at most 64 bits, sent as big-endian bytes */
		unsigned long long v = 0;
		for (size_t i = 0; i < n; i++)
			v = v << 8 | (unsigned char)s[i];
		rx_buf_reset(&scratch);
		rx_buf_printf(&scratch, "%llu", v);
		rx_extract_put_number(b, scratch.data, scratch.len);
		return;
	}
	case K_BINARY:
		rx_buf_putc(b, '"');
		rx_base64_put(b, (const unsigned char *)s, n);
		rx_buf_putc(b, '"');
		return;
	case K_JSON: {
		char err[128];
		if (rx_json_validate(s, n, err, sizeof err) == 0)
			rx_json_put_compact(b, rx_span_of(s, n));
		else
			rx_json_put_string(b, s, n);
		return;
	}
	case K_DATETIME:
	case K_TIMESTAMP: {
		const char *sp = memchr(s, ' ', n);
		if (sp == NULL) {
			rx_json_put_string(b, s, n);
			return;
		}
		size_t at = (size_t)(sp - s);
		rx_buf_putc(b, '"');
		rx_buf_put(b, s, at);
		rx_buf_putc(b, 'T');
		rx_buf_put(b, s + at + 1, n - at - 1);
		if (c->kind == K_TIMESTAMP)
			rx_buf_put(b, "+00:00", 6);
		rx_buf_putc(b, '"');
		return;
	}
	}
}

/* The key column's text in SQL, as rx_key_text() reads it from the row
 * this file writes; 0 with it appended, or -1 when its type has no such
 * text (the shard is then filtered on this side only). */
static int key_text_sql(rx_buf *sql, const MYSQL_FIELD *f, const char *ident)
{
	kind k = kind_of(f);

	if (f->flags & ZEROFILL_FLAG)
		return -1;
	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
	case MYSQL_TYPE_DATE:
	case MYSQL_TYPE_NEWDATE:
		rx_buf_printf(sql, "CAST(rx_q.%s AS CHAR)", ident);
		return 0;
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_DATETIME2:
		rx_buf_printf(sql, "REPLACE(CAST(rx_q.%s AS CHAR), ' ', 'T')", ident);
		return 0;
	case MYSQL_TYPE_TIMESTAMP:
	case MYSQL_TYPE_TIMESTAMP2:
		rx_buf_printf(sql, "CONCAT(REPLACE(CAST(rx_q.%s AS CHAR), ' ', 'T'), '+00:00')", ident);
		return 0;
	default:
		break;
	}
	if (k == K_STRING) {
		rx_buf_printf(sql, "CONVERT(rx_q.%s USING utf8mb4)", ident);
		return 0;
	}
	return -1;
}

/* The shard filter in SQL for o->key over the model's columns; 0 with it
 * in where, or -1 when it cannot be pushed down.
 *
 * A composite key's text is ["a","b"], each part a JSON string.  The
 * server's JSON_QUOTE() writes what rx_json_put_string() writes except
 * for control characters other than \n \t \r \b \f (\u001F, not
 * \u001f): rows whose string parts hold one are let through as well, and
 * rx_extract_row() decides. */
static int shard_filter(const extract_options *o, const MYSQL_FIELD *fields, unsigned nfields, rx_buf *where)
{
	char *keys = rx_xstrdup(o->key), *save = NULL;
	rx_buf text = {0}, part = {0}, nulls = {0}, cntrl = {0}, ident = {0};
	int nkeys = 0, n = 0, rc = -1;

	for (const char *p = o->key; *p; p++)
		nkeys += *p == ',';
	nkeys++;
	for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save), n++) {
		long found = -1;
		for (unsigned i = 0; i < nfields; i++) {
			if (strcmp(fields[i].name, k) != 0)
				continue;
			if (found >= 0)
				goto done; /* two columns of that name */
			found = (long)i;
		}
		if (found < 0)
			goto done;
		rx_buf_reset(&ident);
		rx_mysql_put_ident(&ident, k, strlen(k));
		rx_buf_reset(&part);
		if (key_text_sql(&part, &fields[found], ident.data) < 0)
			goto done;
		if (nkeys == 1) {
			rx_buf_put(&text, part.data, part.len);
		} else {
			rx_buf_puts(&text, n == 0 ? "CONCAT('[', " : ", ',', ");
			rx_buf_printf(&text, "JSON_QUOTE(%s)", part.data);
			if (kind_of(&fields[found]) == K_STRING)
				rx_buf_printf(&cntrl, " OR %s REGEXP '[[:cntrl:]]'", part.data);
		}
		rx_buf_printf(&nulls, " OR rx_q.%s IS NULL", ident.data);
	}
	if (nkeys > 1)
		rx_buf_puts(&text, ", ']')");
	rx_buf_printf(where, " WHERE CAST(CONV(LEFT(MD5(%s), 8), 16, 10) AS UNSIGNED) %% %u + 1 = %u%s", text.data,
		      o->nshards, o->shard, cntrl.data ? cntrl.data : "");
	/* a row without a key is rx-diff's to report: shard 1 keeps it, as
	 * rx_extract_row() does */
	if (o->shard == 1)
		rx_buf_puts(where, nulls.data);
	rc = 0;
done:
	free(keys);
	rx_buf_free(&text);
	rx_buf_free(&part);
	rx_buf_free(&nulls);
	rx_buf_free(&cntrl);
	rx_buf_free(&ident);
	return rc;
}

/* The model's SQL: the query without trailing ';' and white space, or
 * every row of the table ("schema.table" names a schema). */
static void base_query(const extract_options *o, rx_buf *sql)
{
	if (o->table != NULL) {
		rx_buf_puts(sql, "SELECT * FROM ");
		rx_mysql_put_table(sql, o->table);
		return;
	}
	size_t n = strlen(o->query);
	while (n > 0 && strchr(" \t\r\n;", o->query[n - 1]) != NULL)
		n--;
	rx_buf_put(sql, o->query, n);
}

/* With --shard: the model with the shard filter pushed into it, when its
 * key columns allow (learnt by preparing the model, which runs nothing);
 * else the model as it is. */
static void sharded_query(MYSQL *m, const extract_options *o, const rx_buf *base, rx_buf *sql)
{
	MYSQL_STMT *st = mysql_stmt_init(m);
	MYSQL_RES *meta = NULL;
	rx_buf where = {0};

	if (st != NULL && mysql_stmt_prepare(st, base->data, base->len) == 0 &&
	    (meta = mysql_stmt_result_metadata(st)) != NULL &&
	    shard_filter(o, mysql_fetch_fields(meta), mysql_num_fields(meta), &where) == 0) {
		rx_buf_puts(sql, "SELECT * FROM (\n");
		rx_buf_put(sql, base->data, base->len);
		rx_buf_puts(sql, "\n) AS rx_q");
		rx_buf_put(sql, where.data, where.len);
	} else {
		rx_buf_put(sql, base->data, base->len);
	}
	if (meta != NULL)
		mysql_free_result(meta);
	if (st != NULL)
		mysql_stmt_close(st);
	rx_buf_free(&where);
}

int rx_extract_mysql(const extract_options *o, rx_writer *out)
{
	MYSQL *m = NULL;
	MYSQL_RES *res = NULL;
	rx_buf base = {0}, sql = {0};
	column *cols = NULL;
	unsigned ncols = 0;
	int status = RX_EXIT_FAIL, in_transaction = 0;
	unsigned long long rows = 0;
	char msg[1024], err[1024];

	m = rx_mysql_connect(o->source, 0, err, sizeof err);
	if (m == NULL) {
		rx_diag("%s", err);
		goto done;
	}
	/* best effort: a stalled reader fails after 10 minutes, not 1 */
	mysql_query(m, "SET SESSION net_write_timeout = GREATEST(@@net_write_timeout, 600)");
	base_query(o, &base);
	if (base.len == 0) {
		rx_diag("the query is empty");
		goto done;
	}
	if (o->nshards > 0)
		sharded_query(m, o, &base, &sql);
	else
		rx_buf_put(&sql, base.data, base.len);

	in_transaction = mysql_query(m, "START TRANSACTION READ ONLY") == 0;
	if (mysql_real_query(m, sql.data, sql.len) != 0) {
		rx_diag("query failed: %s", rx_mysql_error(m, msg, sizeof msg));
		goto done;
	}
	if (mysql_field_count(m) == 0) {
		rx_diag("the statement returns no rows (it is not a query)");
		goto done;
	}
	res = mysql_use_result(m);
	if (res == NULL) {
		rx_diag("query failed: %s", rx_mysql_error(m, msg, sizeof msg));
		goto done;
	}

	/* the columns, checked before any row */
	ncols = mysql_num_fields(res);
	MYSQL_FIELD *fields = mysql_fetch_fields(res);
	const char **names = rx_xmalloc((ncols ? ncols : 1) * sizeof *names);
	for (unsigned i = 0; i < ncols; i++)
		names[i] = fields[i].name;
	int bad = rx_extract_check_columns("query", names, ncols);
	free(names);
	if (bad < 0) {
		status = RX_EXIT_DATAERR;
		goto done;
	}
	cols = calloc(ncols ? ncols : 1, sizeof *cols);
	if (cols == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (unsigned i = 0; i < ncols; i++) {
		rx_json_put_string(&cols[i].name, fields[i].name, fields[i].name_length);
		rx_buf_putc(&cols[i].name, ':');
		cols[i].kind = kind_of(&fields[i]);
		cols[i].zerofill = (fields[i].flags & ZEROFILL_FLAG) != 0 &&
				   (cols[i].kind == K_INT || cols[i].kind == K_DECIMAL || cols[i].kind == K_FLOAT);
	}

	for (;;) {
		MYSQL_ROW row = mysql_fetch_row(res);
		if (row == NULL)
			break;
		unsigned long *lengths = mysql_fetch_lengths(res);
		rx_buf *b = &out->buf;
		size_t start = b->len;
		rx_buf_putc(b, '{');
		for (unsigned i = 0; i < ncols; i++) {
			if (i > 0)
				rx_buf_putc(b, ',');
			rx_buf_put(b, cols[i].name.data, cols[i].name.len);
			if (row[i] == NULL)
				rx_buf_put(b, "null", 4);
			else
				put_value(b, &cols[i], row[i], lengths[i]);
		}
		rx_buf_putc(b, '}');
		rx_extract_row(out, start, o);
		rows++;
		if (out->error) {
			status = RX_EXIT_IOERR;
			goto done;
		}
	}
	/* NULL is the end, or an error: only the error number tells */
	if (mysql_errno(m) != 0) {
		rx_diag("query failed after %llu rows (the output is incomplete): %s", rows,
			rx_mysql_error(m, msg, sizeof msg));
		goto done;
	}
	mysql_free_result(res);
	res = NULL;
	/* the rows are all read: the end of a read-only transaction changes
	 * nothing, whatever happens to it */
	if (in_transaction)
		mysql_query(m, "COMMIT");
	status = RX_EXIT_OK;
done:
	if (res != NULL) {
		/* rows left unread (the output failed): drop the connection
		 * rather than read them all to free the result */
		if (status != RX_EXIT_OK)
			mariadb_cancel(m);
		mysql_free_result(res);
	}
	if (cols != NULL) {
		for (unsigned i = 0; i < ncols; i++)
			rx_buf_free(&cols[i].name);
		free(cols);
	}
	if (m != NULL)
		mysql_close(m);
	rx_buf_free(&base);
	rx_buf_free(&sql);
	rx_buf_free(&scratch);
	return status;
}
