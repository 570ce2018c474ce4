/*
 * db_mysql.c - rx-push's MySQL and MariaDB destination (the db.h
 * interface), through libmariadb.
 *
 * Writes into an existing table: upsert as INSERT ... ON DUPLICATE KEY
 * UPDATE, insert, update and delete by the key columns.  One transaction
 * per batch; a record that violates a constraint is rejected with the
 * server's message, and the rest of the batch commits.
 *
 * NOTES ON THE DESIGN
 *
 *  - Multi-row first: the records of a batch that share a member list
 *    go as one multi-row statement (INSERT ... VALUES (...),(...) [ON
 *    DUPLICATE KEY UPDATE], DELETE ... WHERE key IN (...)), as large as
 *    the server's max_allowed_packet allows (a statement over it would
 *    cost the connection: error 2006).  When it fails on a record's
 *    error, InnoDB has undone that statement alone, and the driver goes
 *    back over its records one statement each, sent many at a time as
 *    one multi-statement (one round trip): the server stops at the first
 *    failing statement, that record is rejected, and the rest are sent
 *    again.  Every record thus gets its own result, and a batch without
 *    failures costs three round trips whatever its size.  Updates always
 *    go one statement each: a record whose key finds no row is rejected
 *    ("no row with this key"), which the found-rows count of each
 *    statement tells (CLIENT_FOUND_ROWS).
 *  - No savepoints: every record is one statement (an upsert without a
 *    multi-row fallback is an UPDATE, then an INSERT only when the
 *    UPDATE found nothing), and InnoDB rolls a failed statement back
 *    whole.  Errors that undo the whole transaction (a deadlock, a lost
 *    connection, a shutdown, a read-only server) fail the batch (-1).
 *  - ON DUPLICATE KEY UPDATE fires on any unique index, not only the
 *    key's: with another unique index, a new row whose e-mail is taken
 *    would overwrite the row holding that e-mail.  So the key columns
 *    must be exactly a unique index (else upserts are rejected), and
 *    when the table has other unique indexes the multi-row upsert
 *    carries a guard that fails the statement if the row it would update
 *    has another key; the fallback's UPDATE-then-INSERT then rejects the
 *    record with the server's duplicate-key message.
 *  - Values are SQL literals, escaped by the connection
 *    (mysql_real_escape_string, which follows NO_BACKSLASH_ESCAPES), per
 *    column type read at open: numbers unquoted and exact (an integer
 *    column refuses a fraction, a DECIMAL one more decimals than its
 *    scale, rather than let the server round them), binary columns take
 *    base64 (what rx-extract writes) as X'..', BIT columns a number,
 *    JSON columns the member's JSON text, DATETIME and TIMESTAMP columns
 *    ISO 8601 (an offset or Z converted to UTC, the session's zone).
 *    The session is strict (STRICT_ALL_TABLES): a value the column
 *    cannot hold is an error, not a warning and a truncated value.
 *  - The table must use a transactional engine (InnoDB): a MyISAM table
 *    cannot roll a batch back, and is refused at open.
 *  - A lost connection fails the batch; the next batch connects again.
 *  - Crash points for tests (RX_KILL_AT=rx-push:POINT:N, killpoint.c):
 *    "statement" after each statement sent inside the transaction,
 *    "committed" after COMMIT, before the records are acked.
 */
#include "db.h"
#include "rxmysql.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	STATEMENT_CAP = 4 << 20, /* bytes of one statement at most, within max_allowed_packet */
};

/* The op of a batch. */
typedef enum op_kind { OP_INSERT, OP_UPDATE, OP_UPSERT, OP_DELETE } op_kind;

/* How a column takes a value. */
typedef enum col_kind {
	C_TEXT,     /* strings, ENUM, SET, DATE, TIME and the others */
	C_BINARY,   /* BINARY, VARBINARY, BLOB: base64 in, X'..' out */
	C_BIT,      /* BIT(n): an unsigned integer */
	C_JSON,     /* JSON: the member's JSON text */
	C_INT,      /* TINYINT..BIGINT, YEAR: integers only */
	C_DECIMAL,  /* DECIMAL(p,s): at most s decimals */
	C_FLOAT,    /* FLOAT, DOUBLE */
	C_DATETIME, /* DATETIME, TIMESTAMP: ISO 8601, offsets to UTC */
} col_kind;

typedef struct my_column {
	char *name;        /* plain */
	col_kind kind;     /* how it takes a value */
	unsigned decimals; /* DECIMAL: its scale */
	int is_key;        /* one of the key columns */
} my_column;

struct rx_db {
	MYSQL *m;              /* the connection; NULL once lost */
	char *conninfo;        /* to connect again */
	char *table;           /* `schema`.`table` */
	char *name;            /* the table as named, for messages */
	my_column *cols;       /* the table's columns, in order */
	size_t ncols;
	size_t *keys;          /* indexes of the key columns in cols */
	size_t nkeys;
	int key_unique;        /* a unique index is exactly the key columns */
	int other_unique;      /* the table has another unique index */
	size_t max_statement;  /* bytes of one statement at most */
	size_t overhead;       /* bytes of a statement besides its tuples, at most */
	rx_members ms;         /* scratch: a row's members */
	size_t *map;           /* scratch: member i writes column map[i], or -1 */
	size_t capmap;
	rx_buf lits;           /* scratch: a record's literals, one after another */
	size_t *lit_at, *lit_len; /* per member: where its literal is in lits */
	size_t caplit;
	rx_buf text, sql, tmp; /* scratch */
	/* per batch */
	rx_buf tuples;         /* each record's tuple text (see prepare_record) */
	rx_buf sigs;           /* each record's member-to-column map, as text */
	size_t *tuple_at, *tuple_len, *sig_at, *sig_len; /* per record; tuple_at -1: not sent */
	int *pending;          /* per record: still to do in the fallback */
	size_t capbatch;
};

/* ---- errors ---- */

/* An error that is not one record's: the batch fails whole.  Client
 * errors (a lost connection), deadlocks and lock waits, a server going
 * down or read only, a killed statement, full disks. */
static int batch_error(unsigned e)
{
	if (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR)
		return 1;
	switch (e) {
	case ER_LOCK_DEADLOCK:
	case ER_LOCK_WAIT_TIMEOUT:
	case ER_SERVER_SHUTDOWN:
	case ER_QUERY_INTERRUPTED:
	case ER_OPTION_PREVENTS_STATEMENT:
	case ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION:
	case ER_CON_COUNT_ERROR:
	case ER_TOO_MANY_USER_CONNECTIONS:
	case ER_OUTOFMEMORY:
	case ER_OUT_OF_RESOURCES:
	case ER_DISK_FULL:
	case ER_RECORD_FILE_FULL:
	case ER_ERROR_DURING_COMMIT:
	case ER_ERROR_DURING_ROLLBACK:
	case ER_NET_READ_ERROR:
	case ER_NET_READ_INTERRUPTED:
	case ER_NET_ERROR_ON_WRITE:
	case ER_NET_WRITE_INTERRUPTED:
	case ER_NET_PACKET_TOO_LARGE:
	case ER_NEW_ABORTING_CONNECTION:
	case 1836: /* ER_READ_ONLY_MODE */
	case 1927: /* ER_CONNECTION_KILLED (MariaDB) */
	case 1969: /* ER_STATEMENT_TIMEOUT (MariaDB) */
	case 4031: /* the client was disconnected for inactivity (MariaDB) */
		return 1;
	}
	return 0;
}

/* After a batch error: is the connection gone (connect again next time)? */
static int connection_lost(unsigned e)
{
	return (e >= CR_MIN_ERROR && e <= CR_MAX_ERROR) || e == ER_SERVER_SHUTDOWN || e == 1927 || e == 4031;
}

static void drop_connection(rx_db *d)
{
	if (d->m != NULL)
		mysql_close(d->m);
	d->m = NULL;
}

/* ---- open and close ---- */

static void my_close(rx_db *d)
{
	if (d == NULL)
		return;
	drop_connection(d);
	free(d->conninfo);
	free(d->table);
	free(d->name);
	for (size_t i = 0; i < d->ncols; i++)
		free(d->cols[i].name);
	free(d->cols);
	free(d->keys);
	free(d->ms.m);
	free(d->map);
	free(d->lit_at);
	free(d->lit_len);
	rx_buf_free(&d->lits);
	rx_buf_free(&d->text);
	rx_buf_free(&d->sql);
	rx_buf_free(&d->tmp);
	rx_buf_free(&d->tuples);
	rx_buf_free(&d->sigs);
	free(d->tuple_at);
	free(d->tuple_len);
	free(d->sig_at);
	free(d->sig_len);
	free(d->pending);
	free(d);
}

/* Connect and set the session: strict, so that a value a column cannot
 * hold is an error rather than a warning and a changed value. */
static int connect_session(rx_db *d, char *err, size_t errlen)
{
	char msg[512];

	d->m = rx_mysql_connect(d->conninfo, CLIENT_FOUND_ROWS | CLIENT_MULTI_STATEMENTS, err, errlen);
	if (d->m == NULL)
		return -1;
	if (mysql_query(d->m, "SET SESSION sql_mode = CONCAT_WS(',', NULLIF(@@SESSION.sql_mode, ''), "
			      "'STRICT_ALL_TABLES')") != 0) {
		snprintf(err, errlen, "cannot set up the MySQL session: %s", rx_mysql_error(d->m, msg, sizeof msg));
		drop_connection(d);
		return -1;
	}
	return 0;
}

/* Run a query that returns rows, for open; NULL with err. */
static MYSQL_RES *query_rows(rx_db *d, const char *sql, char *err, size_t errlen)
{
	char msg[512];
	MYSQL_RES *res;

	if (mysql_query(d->m, sql) != 0 || (res = mysql_store_result(d->m)) == NULL) {
		snprintf(err, errlen, "MySQL table '%s': %s", d->name, rx_mysql_error(d->m, msg, sizeof msg));
		return NULL;
	}
	return res;
}

static col_kind column_kind(const MYSQL_FIELD *f)
{
	MARIADB_CONST_STRING format = {0};

	switch (f->type) {
	case MYSQL_TYPE_TINY:
	case MYSQL_TYPE_SHORT:
	case MYSQL_TYPE_LONG:
	case MYSQL_TYPE_INT24:
	case MYSQL_TYPE_LONGLONG:
	case MYSQL_TYPE_YEAR:
		return C_INT;
	case MYSQL_TYPE_DECIMAL:
	case MYSQL_TYPE_NEWDECIMAL:
		return C_DECIMAL;
	case MYSQL_TYPE_FLOAT:
	case MYSQL_TYPE_DOUBLE:
		return C_FLOAT;
	case MYSQL_TYPE_BIT:
		return C_BIT;
	case MYSQL_TYPE_DATETIME:
	case MYSQL_TYPE_DATETIME2:
	case MYSQL_TYPE_TIMESTAMP:
	case MYSQL_TYPE_TIMESTAMP2:
		return C_DATETIME;
	case MYSQL_TYPE_JSON:
		return C_JSON;
	case MYSQL_TYPE_VARCHAR:
	case MYSQL_TYPE_VAR_STRING:
	case MYSQL_TYPE_STRING:
	case MYSQL_TYPE_TINY_BLOB:
	case MYSQL_TYPE_MEDIUM_BLOB:
	case MYSQL_TYPE_LONG_BLOB:
	case MYSQL_TYPE_BLOB:
		if (mariadb_field_attr(&format, f, MARIADB_FIELD_ATTR_FORMAT_NAME) == 0 && format.length == 4 &&
		    memcmp(format.str, "json", 4) == 0)
			return C_JSON;
		if (f->charsetnr == 63 && !(f->flags & (ENUM_FLAG | SET_FLAG)))
			return C_BINARY;
		return C_TEXT;
	default:
		return C_TEXT;
	}
}

/* The schema and table of d->name as SQL string literals, for the
 * catalogue: "'schema'" or "DATABASE()", and "'table'". */
static void catalogue_names(rx_db *d, rx_buf *schema, rx_buf *table)
{
	const char *t = d->name, *dot = strchr(t, '.');

	if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
		rx_buf_reset(&d->tmp);
		rx_buf_put(&d->tmp, t, (size_t)(dot - t));
		rx_buf_reserve(schema, 2 * d->tmp.len + 3);
		rx_buf_putc(schema, '\'');
		schema->len += mysql_real_escape_string(d->m, schema->data + schema->len, d->tmp.data, d->tmp.len);
		rx_buf_putc(schema, '\'');
		t = dot + 1;
	} else {
		rx_buf_puts(schema, "DATABASE()");
	}
	size_t n = strlen(t);
	rx_buf_reserve(table, 2 * n + 3);
	rx_buf_putc(table, '\'');
	table->len += mysql_real_escape_string(d->m, table->data + table->len, t, n);
	rx_buf_putc(table, '\'');
}

/* The table's engine can roll back, and which unique indexes it has. */
static int check_table(rx_db *d, char *err, size_t errlen)
{
	rx_buf schema = {0}, table = {0}, q = {0};
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	int rc = -1;

	catalogue_names(d, &schema, &table);
	rx_buf_printf(&q,
		      "SELECT t.ENGINE, e.TRANSACTIONS FROM information_schema.TABLES t"
		      " LEFT JOIN information_schema.ENGINES e ON e.ENGINE = t.ENGINE"
		      " WHERE t.TABLE_SCHEMA = %s AND t.TABLE_NAME = %s",
		      schema.data, table.data);
	res = query_rows(d, q.data, err, errlen);
	if (res == NULL)
		goto done;
	row = mysql_fetch_row(res);
	if (row != NULL && row[0] != NULL && row[1] != NULL && strcmp(row[1], "NO") == 0) {
		snprintf(err, errlen,
			 "MySQL table '%s' uses the %s engine, which cannot roll a batch back: rx needs a "
			 "transactional engine (InnoDB)",
			 d->name, row[0]);
		goto done;
	}
	mysql_free_result(res);

	/* unique indexes: their columns, in order, one row each */
	rx_buf_reset(&q);
	rx_buf_printf(&q,
		      "SELECT INDEX_NAME, GROUP_CONCAT(COLUMN_NAME ORDER BY SEQ_IN_INDEX SEPARATOR '\\n'),"
		      " COUNT(*) FROM information_schema.STATISTICS"
		      " WHERE TABLE_SCHEMA = %s AND TABLE_NAME = %s AND NON_UNIQUE = 0 GROUP BY INDEX_NAME",
		      schema.data, table.data);
	res = query_rows(d, q.data, err, errlen);
	if (res == NULL)
		goto done;
	while ((row = mysql_fetch_row(res)) != NULL) {
		size_t count = (size_t)strtoul(row[2], NULL, 10), matched = 0;
		char *save = NULL, *names = rx_xstrdup(row[1] ? row[1] : "");
		for (char *c = strtok_r(names, "\n", &save); c; c = strtok_r(NULL, "\n", &save))
			for (size_t k = 0; k < d->nkeys; k++)
				if (strcmp(d->cols[d->keys[k]].name, c) == 0)
					matched++;
		free(names);
		if (count == d->nkeys && matched == d->nkeys)
			d->key_unique = 1;
		else
			d->other_unique = 1;
	}
	rc = 0;
done:
	if (res != NULL)
		mysql_free_result(res);
	rx_buf_free(&schema);
	rx_buf_free(&table);
	rx_buf_free(&q);
	return rc;
}

static rx_db *my_open(const char *target, const char *table, char *const *keys, size_t nkeys, char *err,
		      size_t errlen)
{
	rx_db *d = rx_xmalloc(sizeof *d);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char msg[512];

	memset(d, 0, sizeof *d);
	d->conninfo = rx_xstrdup(target ? target : "");
	d->name = rx_xstrdup(table);
	rx_buf_reset(&d->text);
	rx_mysql_put_table(&d->text, table);
	d->table = rx_xstrdup(d->text.data);
	if (connect_session(d, err, errlen) < 0)
		goto fail;
	if (nkeys == 0) {
		snprintf(err, errlen, "the mysql destination needs the key columns (--key)");
		goto fail;
	}

	/* the columns, as the server describes them to a query */
	rx_buf_reset(&d->sql);
	rx_buf_printf(&d->sql, "SELECT * FROM %s LIMIT 0", d->table);
	if (mysql_query(d->m, d->sql.data) != 0 || (res = mysql_store_result(d->m)) == NULL) {
		snprintf(err, errlen, "MySQL table '%s': %s", table, rx_mysql_error(d->m, msg, sizeof msg));
		goto fail;
	}
	d->ncols = mysql_num_fields(res);
	MYSQL_FIELD *fields = mysql_fetch_fields(res);
	d->cols = rx_xmalloc((d->ncols ? d->ncols : 1) * sizeof *d->cols);
	for (size_t i = 0; i < d->ncols; i++) {
		d->cols[i].name = rx_xstrdup(fields[i].org_name && fields[i].org_name[0] ? fields[i].org_name
										     : fields[i].name);
		d->cols[i].kind = column_kind(&fields[i]);
		d->cols[i].decimals = fields[i].decimals;
		d->cols[i].is_key = 0;
	}
	mysql_free_result(res);
	res = NULL;
	d->keys = rx_xmalloc(nkeys * sizeof *d->keys);
	for (size_t k = 0; k < nkeys; k++) {
		size_t i;
		for (i = 0; i < d->ncols; i++)
			if (strcmp(d->cols[i].name, keys[k]) == 0)
				break;
		if (i == d->ncols) {
			snprintf(err, errlen, "MySQL table '%s' has no key column '%s'", table, keys[k]);
			goto fail;
		}
		d->keys[k] = i;
		d->cols[i].is_key = 1;
	}
	d->nkeys = nkeys;
	/* a statement's text besides its values: the column list, and each
	 * name twice more in an upsert's tail */
	d->overhead = 1024 + strlen(d->table);
	for (size_t i = 0; i < d->ncols; i++)
		d->overhead += 6 * strlen(d->cols[i].name) + 32;
	if (check_table(d, err, errlen) < 0)
		goto fail;

	/* statements stay within max_allowed_packet (and a cap: past a few
	 * megabytes a larger statement is no faster) */
	d->max_statement = STATEMENT_CAP;
	res = query_rows(d, "SELECT @@max_allowed_packet", err, errlen);
	if (res == NULL)
		goto fail;
	row = mysql_fetch_row(res);
	if (row != NULL && row[0] != NULL) {
		unsigned long long packet = strtoull(row[0], NULL, 10);
		if (packet > 4096 && packet - 1024 < d->max_statement)
			d->max_statement = (size_t)(packet - 1024);
	}
	mysql_free_result(res);
	return d;
fail:
	if (res != NULL)
		mysql_free_result(res);
	my_close(d);
	return NULL;
}

/* ---- values ---- */

/* Map the row's members (d->ms) to columns; 0, or -1 with why. */
static int map_members(rx_db *d, op_kind op, char *why, size_t whylen)
{
	int is_delete = op == OP_DELETE;

	if (d->capmap < d->ms.n) {
		d->capmap = d->ms.n * 2;
		d->map = rx_xrealloc(d->map, d->capmap * sizeof *d->map);
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		size_t i;
		for (i = 0; i < d->ncols; i++)
			if (rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, strlen(d->cols[i].name)))
				break;
		if (i == d->ncols) {
			if (is_delete) { /* a delete needs only the keys */
				d->map[m] = (size_t)-1;
				continue;
			}
			rx_buf_reset(&d->tmp);
			rx_json_string_decode(d->ms.m[m].name, &d->tmp);
			snprintf(why, whylen, "no column \"%s\" in table %s", d->tmp.data ? d->tmp.data : "", d->name);
			return -1;
		}
		for (size_t e = 0; e < m; e++)
			if (d->map[e] == i) {
				snprintf(why, whylen, "member \"%s\" appears twice", d->cols[i].name);
				return -1;
			}
		d->map[m] = is_delete && !d->cols[i].is_key ? (size_t)-1 : i;
	}
	for (size_t k = 0; k < d->nkeys; k++) {
		size_t m;
		if (op == OP_INSERT)
			break;
		for (m = 0; m < d->ms.n; m++)
			if (d->map[m] == d->keys[k])
				break;
		if (m == d->ms.n || rx_json_kind(d->ms.m[m].value) == 'z') {
			snprintf(why, whylen, "the row's key column \"%s\" is missing or null",
				 d->cols[d->keys[k]].name);
			return -1;
		}
	}
	return 0;
}

/* The member index writing column col, or -1. */
static long member_of(const rx_db *d, size_t col)
{
	for (size_t m = 0; m < d->ms.n; m++)
		if (d->map[m] == col)
			return (long)m;
	return -1;
}

static void put_quoted(rx_db *d, rx_buf *b, const char *s, size_t n)
{
	rx_buf_reserve(b, 2 * n + 3);
	b->data[b->len++] = '\'';
	b->len += mysql_real_escape_string(d->m, b->data + b->len, s, n);
	b->data[b->len++] = '\'';
	b->data[b->len] = '\0';
}

/* A number's text: its parts, for the exactness checks.  0, or -1 when s
 * is not a decimal number (an optional sign, digits, a fraction, an
 * exponent). */
typedef struct number_parts {
	size_t int_start, int_end;   /* the integer digits */
	size_t frac_start, frac_end; /* the fraction's digits (empty: none) */
	int exponent;                /* has one */
} number_parts;

static int parse_number(const char *s, size_t n, number_parts *p)
{
	size_t i = 0;

	memset(p, 0, sizeof *p);
	if (i < n && (s[i] == '-' || s[i] == '+'))
		i++;
	p->int_start = i;
	while (i < n && s[i] >= '0' && s[i] <= '9')
		i++;
	p->int_end = i;
	p->frac_start = p->frac_end = i;
	if (i < n && s[i] == '.') {
		p->frac_start = ++i;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
		p->frac_end = i;
	}
	if (p->int_end == p->int_start && p->frac_end == p->frac_start)
		return -1;
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		p->exponent = 1;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return -1;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n ? 0 : -1;
}

/* Append a number for an INT or DECIMAL column exactly, or -1 with why
 * when the column would round it. */
static int put_exact_number(rx_db *d, rx_buf *b, const my_column *c, const char *s, size_t n, char *why,
			    size_t whylen)
{
	number_parts p;
	size_t keep;

	if (parse_number(s, n, &p) < 0) {
		put_quoted(d, b, s, n); /* not a number: the server says what is wrong */
		return 0;
	}
	if (p.exponent) {
		snprintf(why, whylen, "column \"%s\" is %s: %.*s has an exponent, write its digits", c->name,
			 c->kind == C_INT ? "an integer" : "DECIMAL", (int)(n < 64 ? n : 64), s);
		return -1;
	}
	keep = c->kind == C_INT ? 0 : c->decimals;
	for (size_t i = p.frac_start + keep; i < p.frac_end; i++)
		if (s[i] != '0') {
			if (c->kind == C_INT)
				snprintf(why, whylen, "column \"%s\" is an integer: %.*s is not one", c->name,
					 (int)(n < 64 ? n : 64), s);
			else
				snprintf(why, whylen, "column \"%s\" keeps %u decimals: %.*s would be rounded", c->name,
					 c->decimals, (int)(n < 64 ? n : 64), s);
			return -1;
		}
	/* the digits, without decimals past the column's (zeros) */
	if (s[0] == '-')
		rx_buf_putc(b, '-');
	if (p.int_end > p.int_start)
		rx_buf_put(b, s + p.int_start, p.int_end - p.int_start);
	else
		rx_buf_putc(b, '0');
	size_t frac = p.frac_end - p.frac_start;
	if (frac > keep)
		frac = keep;
	if (frac > 0) {
		rx_buf_putc(b, '.');
		rx_buf_put(b, s + p.frac_start, frac);
	}
	return 0;
}

static int base64_value(int c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+' || c == '-')
		return 62;
	if (c == '/' || c == '_')
		return 63;
	return -1;
}

/* base64 text as an X'..' literal; -1 when it is not base64. */
static int put_base64_hex(rx_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	unsigned acc = 0;
	int bits = 0;
	size_t i = 0, start = b->len;

	while (n > 0 && s[n - 1] == '=')
		n--;
	rx_buf_reserve(b, n * 3 / 2 + 4);
	rx_buf_put(b, "X'", 2);
	for (i = 0; i < n; i++) {
		int v = base64_value((unsigned char)s[i]);
		if (v < 0) {
			b->len = start;
			b->data[start] = '\0';
			return -1;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			unsigned char byte = (unsigned char)(acc >> bits);
			rx_buf_putc(b, hex[byte >> 4]);
			rx_buf_putc(b, hex[byte & 15]);
		}
	}
	rx_buf_putc(b, '\'');
	return 0;
}

/* An ISO 8601 date-time as the literal a DATETIME or TIMESTAMP column
 * takes, in UTC when it carries an offset: "2024-01-31T12:00:00.5+02:00"
 * is '2024-01-31 10:00:00.5'.  -1 when it is not one (it then goes as it
 * is, and the server says whether it takes it). */
static int put_datetime(rx_db *d, rx_buf *b, const char *s, size_t n)
{
	int y, mo, da, h, mi, sec = 0, off = 0, used = 0;
	size_t i, frac_start = 0, frac_len = 0;
	char text[64];

	if (n < 16 || n >= sizeof text)
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	if (sscanf(text, "%4d-%2d-%2d%*1[T ]%2d:%2d%n", &y, &mo, &da, &h, &mi, &used) != 5 || used != 16)
		return -1;
	i = 16;
	if (i < n && text[i] == ':') {
		if (i + 3 > n || text[i + 1] < '0' || text[i + 1] > '9' || text[i + 2] < '0' || text[i + 2] > '9')
			return -1;
		sec = (text[i + 1] - '0') * 10 + (text[i + 2] - '0');
		i += 3;
		if (i < n && text[i] == '.') {
			frac_start = ++i;
			while (i < n && text[i] >= '0' && text[i] <= '9')
				i++;
			frac_len = i - frac_start;
			if (frac_len == 0)
				return -1;
		}
	}
	if (i == n) {
		off = 0;
	} else if (text[i] == 'Z' && i + 1 == n) {
		off = 0;
	} else if (text[i] == '+' || text[i] == '-') {
		int oh = 0, om = 0, sign = text[i] == '-' ? -1 : 1;
		const char *z = text + i + 1;
		size_t zn = n - i - 1;
		if (zn == 2 && sscanf(z, "%2d", &oh) == 1)
			;
		else if (zn == 4 && sscanf(z, "%2d%2d", &oh, &om) == 2)
			;
		else if (zn == 5 && z[2] == ':' && sscanf(z, "%2d:%2d", &oh, &om) == 2)
			;
		else
			return -1;
		off = sign * (oh * 60 + om);
	} else {
		return -1;
	}
	if (i < n && off != 0) {
		struct tm tm = {0};
		tm.tm_year = y - 1900;
		tm.tm_mon = mo - 1;
		tm.tm_mday = da;
		tm.tm_hour = h;
		tm.tm_min = mi;
		tm.tm_sec = sec;
		time_t t = timegm(&tm) - (time_t)off * 60;
		if (gmtime_r(&t, &tm) == NULL)
			return -1;
		y = tm.tm_year + 1900, mo = tm.tm_mon + 1, da = tm.tm_mday;
		h = tm.tm_hour, mi = tm.tm_min, sec = tm.tm_sec;
	}
	(void)d;
	rx_buf_printf(b, "'%04d-%02d-%02d %02d:%02d:%02d", y, mo, da, h, mi, sec);
	if (frac_len > 0) {
		rx_buf_putc(b, '.');
		rx_buf_put(b, text + frac_start, frac_len);
	}
	rx_buf_putc(b, '\'');
	return 0;
}

/* Append the SQL literal for member value v into column c; 0, or -1
 * with why the column cannot take it. */
static int put_literal(rx_db *d, rx_buf *b, const my_column *c, rx_span v, char *why, size_t whylen)
{
	char kind = rx_json_kind(v);

	if (kind == 'z')
		goto null;
	switch (c->kind) {
	case C_JSON:
		rx_buf_reset(&d->tmp);
		rx_json_put_compact(&d->tmp, v);
		put_quoted(d, b, d->tmp.data, d->tmp.len);
		return 0;
	case C_BINARY:
		if (kind == 's') {
			rx_buf_reset(&d->tmp);
			rx_json_string_decode(v, &d->tmp);
			if (put_base64_hex(b, d->tmp.data ? d->tmp.data : "", d->tmp.len) == 0)
				return 0;
		}
		snprintf(why, whylen, "column \"%s\" is binary: its value must be base64 text", c->name);
		return -1;
	case C_BIT:
	case C_INT:
	case C_DECIMAL:
	case C_FLOAT:
		if (kind == 't' || kind == 'f') {
			rx_buf_putc(b, kind == 't' ? '1' : '0');
			return 0;
		}
		if (kind == 'o' || kind == 'a') {
			snprintf(why, whylen, "column \"%s\" is a number: an %s is not one", c->name,
				 kind == 'o' ? "object" : "array");
			return -1;
		}
		rx_buf_reset(&d->tmp);
		if (kind == 's')
			rx_json_string_decode(v, &d->tmp);
		else
			rx_buf_put(&d->tmp, v.p, v.n);
		if (c->kind == C_FLOAT) {
			number_parts p;
			if (parse_number(d->tmp.data, d->tmp.len, &p) == 0)
				rx_buf_put(b, d->tmp.data, d->tmp.len);
			else
				put_quoted(d, b, d->tmp.data, d->tmp.len);
			return 0;
		}
		if (c->kind == C_BIT) {
			/* a string literal would be taken as bytes: digits only */
			for (size_t i = 0; i < d->tmp.len; i++)
				if (d->tmp.data[i] < '0' || d->tmp.data[i] > '9' || d->tmp.len > 20) {
					snprintf(why, whylen, "column \"%s\" is BIT: %.*s is not an unsigned integer",
						 c->name, (int)(d->tmp.len < 64 ? d->tmp.len : 64), d->tmp.data);
					return -1;
				}
			if (d->tmp.len == 0) {
				snprintf(why, whylen, "column \"%s\" is BIT: an empty string is not a number", c->name);
				return -1;
			}
			rx_buf_put(b, d->tmp.data, d->tmp.len);
			return 0;
		}
		return put_exact_number(d, b, c, d->tmp.data ? d->tmp.data : "", d->tmp.len, why, whylen);
	case C_DATETIME:
		rx_buf_reset(&d->tmp);
		if (kind == 's')
			rx_json_string_decode(v, &d->tmp);
		else
			rx_buf_put(&d->tmp, v.p, v.n);
		if (kind == 's' && put_datetime(d, b, d->tmp.data, d->tmp.len) == 0)
			return 0;
		put_quoted(d, b, d->tmp.data ? d->tmp.data : "", d->tmp.len);
		return 0;
	case C_TEXT:
		rx_buf_reset(&d->tmp);
		if (kind == 's')
			rx_json_string_decode(v, &d->tmp);
		else if (kind == 'o' || kind == 'a')
			rx_json_put_compact(&d->tmp, v);
		else
			rx_buf_put(&d->tmp, v.p, v.n); /* a number's text, true, false */
		put_quoted(d, b, d->tmp.data ? d->tmp.data : "", d->tmp.len);
		return 0;
	}
null:
	rx_buf_put(b, "NULL", 4);
	return 0;
}

/* The literals of the mapped members of d->ms, into d->lits (lit_at and
 * lit_len per member; a member no column takes has none).  0, or -1 with
 * why (the record is rejected before anything is sent). */
static int build_literals(rx_db *d, char *why, size_t whylen)
{
	if (d->caplit < d->ms.n) {
		d->caplit = d->ms.n * 2;
		d->lit_at = rx_xrealloc(d->lit_at, d->caplit * sizeof *d->lit_at);
		d->lit_len = rx_xrealloc(d->lit_len, d->caplit * sizeof *d->lit_len);
	}
	rx_buf_reset(&d->lits);
	for (size_t m = 0; m < d->ms.n; m++) {
		d->lit_at[m] = d->lits.len;
		d->lit_len[m] = 0;
		if (d->map[m] == (size_t)-1)
			continue;
		if (put_literal(d, &d->lits, &d->cols[d->map[m]], d->ms.m[m].value, why, whylen) < 0)
			return -1;
		d->lit_len[m] = d->lits.len - d->lit_at[m];
	}
	return 0;
}

static void put_lit(rx_db *d, rx_buf *b, size_t m)
{
	rx_buf_put(b, d->lits.data + d->lit_at[m], d->lit_len[m]);
}

/* ---- statements ---- */

/* "(`a`, `b`)": the mapped columns of d->ms, in member order. */
static void put_column_list(rx_db *d, rx_buf *s)
{
	int first = 1;

	rx_buf_putc(s, '(');
	for (size_t m = 0; m < d->ms.n; m++) {
		if (d->map[m] == (size_t)-1)
			continue;
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		const char *name = d->cols[d->map[m]].name;
		rx_mysql_put_ident(s, name, strlen(name));
	}
	rx_buf_putc(s, ')');
}

/* "(lit, lit)" in member order. */
static void put_tuple(rx_db *d, rx_buf *s)
{
	int first = 1;

	rx_buf_putc(s, '(');
	for (size_t m = 0; m < d->ms.n; m++) {
		if (d->map[m] == (size_t)-1)
			continue;
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		put_lit(d, s, m);
	}
	rx_buf_putc(s, ')');
}

/* "lit" for one key column, "(lit, lit)" for several, in key order. */
static void put_key_tuple(rx_db *d, rx_buf *s)
{
	if (d->nkeys > 1)
		rx_buf_putc(s, '(');
	for (size_t k = 0; k < d->nkeys; k++) {
		if (k > 0)
			rx_buf_puts(s, ", ");
		put_lit(d, s, (size_t)member_of(d, d->keys[k]));
	}
	if (d->nkeys > 1)
		rx_buf_putc(s, ')');
}

static void put_ident_of(rx_buf *s, const my_column *c)
{
	rx_mysql_put_ident(s, c->name, strlen(c->name));
}

/* " WHERE `k` = lit AND ..." */
static void put_key_where(rx_db *d, rx_buf *s)
{
	rx_buf_puts(s, " WHERE ");
	for (size_t k = 0; k < d->nkeys; k++) {
		if (k > 0)
			rx_buf_puts(s, " AND ");
		put_ident_of(s, &d->cols[d->keys[k]]);
		rx_buf_puts(s, " = ");
		put_lit(d, s, (size_t)member_of(d, d->keys[k]));
	}
}

/* " ON DUPLICATE KEY UPDATE ...": the guard first when other unique
 * indexes could be the conflict (it fails the statement if the row hit
 * has another key), then the members other than the keys. */
static void put_upsert_tail(rx_db *d, rx_buf *s, int guard)
{
	int first = 1;

	rx_buf_puts(s, " ON DUPLICATE KEY UPDATE ");
	if (guard) {
		const my_column *k0 = &d->cols[d->keys[0]];
		put_ident_of(s, k0);
		rx_buf_puts(s, " = IF(");
		for (size_t k = 0; k < d->nkeys; k++) {
			const my_column *c = &d->cols[d->keys[k]];
			if (k > 0)
				rx_buf_puts(s, " AND ");
			put_ident_of(s, c);
			rx_buf_puts(s, " <=> VALUES(");
			put_ident_of(s, c);
			rx_buf_putc(s, ')');
		}
		rx_buf_puts(s, ", ");
		put_ident_of(s, k0);
		rx_buf_puts(s, ", (SELECT 1 UNION SELECT 2))");
		first = 0;
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		const my_column *c;
		if (d->map[m] == (size_t)-1 || d->cols[d->map[m]].is_key)
			continue;
		c = &d->cols[d->map[m]];
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		put_ident_of(s, c);
		rx_buf_puts(s, " = VALUES(");
		put_ident_of(s, c);
		rx_buf_putc(s, ')');
	}
	if (first) { /* nothing but keys: the row is there, change nothing */
		put_ident_of(s, &d->cols[d->keys[0]]);
		rx_buf_puts(s, " = ");
		put_ident_of(s, &d->cols[d->keys[0]]);
	}
}

/* "UPDATE t SET ... WHERE keys" for d->ms; with nothing but keys, a
 * no-op assignment, so that the found-rows count still says whether the
 * row is there. */
static void put_update(rx_db *d, rx_buf *s)
{
	int first = 1;

	rx_buf_printf(s, "UPDATE %s SET ", d->table);
	for (size_t m = 0; m < d->ms.n; m++) {
		if (d->map[m] == (size_t)-1 || d->cols[d->map[m]].is_key)
			continue;
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		put_ident_of(s, &d->cols[d->map[m]]);
		rx_buf_puts(s, " = ");
		put_lit(d, s, m);
	}
	if (first) {
		put_ident_of(s, &d->cols[d->keys[0]]);
		rx_buf_puts(s, " = ");
		put_ident_of(s, &d->cols[d->keys[0]]);
	}
	put_key_where(d, s);
}

/* ---- a batch ---- */

/* Scan, map and check record i, and keep its tuple text (the values of
 * an insert or upsert, the key of a delete) and its member map; 0, or -1
 * when it is rejected before anything is sent (results[i] says why). */
static int prepare_record(rx_db *d, op_kind op, rx_span row, size_t i, rx_db_result *result)
{
	char why[512];

	d->tuple_at[i] = (size_t)-1;
	if (row.n == 0 || rx_json_scan_object(row.p, row.n, &d->ms, why, sizeof why) < 0) {
		snprintf(result->message, sizeof result->message, "the change has no row object");
		return -1;
	}
	if (map_members(d, op, why, sizeof why) < 0 || build_literals(d, why, sizeof why) < 0) {
		snprintf(result->message, sizeof result->message, "%s", why);
		return -1;
	}
	if (op == OP_UPSERT && !d->key_unique) {
		snprintf(result->message, sizeof result->message,
			 "no unique index on the key columns of %s: an upsert needs a primary key or unique index "
			 "on exactly them",
			 d->name);
		return -1;
	}
	d->sig_at[i] = d->sigs.len;
	for (size_t m = 0; m < d->ms.n; m++)
		rx_buf_printf(&d->sigs, "%ld,", d->map[m] == (size_t)-1 ? -1L : (long)d->map[m]);
	d->sig_len[i] = d->sigs.len - d->sig_at[i];
	d->tuple_at[i] = d->tuples.len;
	if (op == OP_DELETE)
		put_key_tuple(d, &d->tuples);
	else
		put_tuple(d, &d->tuples);
	d->tuple_len[i] = d->tuples.len - d->tuple_at[i];
	/* the statement of this record alone must fit in a packet */
	if (d->tuple_len[i] + d->overhead > d->max_statement) {
		snprintf(result->message, sizeof result->message,
			 "the row needs a statement of more than the server's max_allowed_packet (%zu bytes)",
			 d->max_statement + 1024);
		d->tuples.len = d->tuple_at[i];
		d->tuple_at[i] = (size_t)-1;
		return -1;
	}
	return 0;
}

static int same_sig(const rx_db *d, size_t a, size_t b)
{
	return d->sig_len[a] == d->sig_len[b] &&
	       memcmp(d->sigs.data + d->sig_at[a], d->sigs.data + d->sig_at[b], d->sig_len[a]) == 0;
}

/* Record what the server said about a statement of record i: 0 when it
 * was a record's error (rejected), -1 for a batch error (err set). */
static int record_error(rx_db *d, size_t i, rx_db_result *results, char *err, size_t errlen)
{
	char msg[512];
	unsigned e = mysql_errno(d->m);

	rx_mysql_error(d->m, msg, sizeof msg);
	if (batch_error(e)) {
		snprintf(err, errlen, "MySQL: %s", msg);
		if (connection_lost(e))
			drop_connection(d);
		return -1;
	}
	results[i].ok = 0;
	snprintf(results[i].message, sizeof results[i].message, "%s", msg);
	return 0;
}

/* Send one statement that returns no rows; 0, or the error number. */
static unsigned run(rx_db *d, const rx_buf *sql)
{
	if (mysql_real_query(d->m, sql->data, sql->len) != 0)
		return mysql_errno(d->m) ? mysql_errno(d->m) : CR_UNKNOWN_ERROR;
	return 0;
}

/* The records [from, to) of one member map, as one multi-row statement.
 * 0 applied (all ok), 1 failed on a record's error (nothing of it
 * applied: the fallback sorts it out), -1 batch error. */
static int run_multirow(rx_db *d, op_kind op, const rx_span *rows, const size_t *idx, size_t count,
			rx_db_result *results, char *err, size_t errlen)
{
	rx_buf *s = &d->sql;
	char why[256];
	unsigned e;

	/* the member list of the first record, for the column list and tail */
	rx_json_scan_object(rows[idx[0]].p, rows[idx[0]].n, &d->ms, why, sizeof why);
	map_members(d, op, why, sizeof why);
	rx_buf_reset(s);
	if (op == OP_DELETE) {
		rx_buf_printf(s, "DELETE FROM %s WHERE ", d->table);
		if (d->nkeys > 1)
			rx_buf_putc(s, '(');
		for (size_t k = 0; k < d->nkeys; k++) {
			if (k > 0)
				rx_buf_puts(s, ", ");
			put_ident_of(s, &d->cols[d->keys[k]]);
		}
		if (d->nkeys > 1)
			rx_buf_putc(s, ')');
		rx_buf_puts(s, " IN (");
	} else {
		rx_buf_printf(s, "INSERT INTO %s ", d->table);
		put_column_list(d, s);
		rx_buf_puts(s, " VALUES ");
	}
	for (size_t j = 0; j < count; j++) {
		if (j > 0)
			rx_buf_putc(s, ',');
		rx_buf_put(s, d->tuples.data + d->tuple_at[idx[j]], d->tuple_len[idx[j]]);
	}
	if (op == OP_DELETE)
		rx_buf_putc(s, ')');
	else if (op == OP_UPSERT)
		put_upsert_tail(d, s, d->other_unique);
	e = run(d, s);
	rx_killpoint("statement"); /* tests: a crash inside the transaction */
	if (e == 0) {
		for (size_t j = 0; j < count; j++)
			results[idx[j]].ok = 1;
		return 0;
	}
	if (batch_error(e)) {
		snprintf(err, errlen, "MySQL: %s", rx_mysql_error(d->m, why, sizeof why));
		if (connection_lost(e))
			drop_connection(d);
		return -1;
	}
	return 1;
}

/* The one statement of record i for this pass into d->sql (appended):
 * its INSERT, upsert, DELETE or UPDATE. */
static void append_single(rx_db *d, op_kind op, int pass, const rx_span *rows, size_t i)
{
	char why[256];
	rx_buf *s = &d->sql;

	rx_json_scan_object(rows[i].p, rows[i].n, &d->ms, why, sizeof why);
	map_members(d, op, why, sizeof why);
	build_literals(d, why, sizeof why);
	if (op == OP_DELETE) {
		rx_buf_printf(s, "DELETE FROM %s", d->table);
		put_key_where(d, s);
	} else if (op == OP_INSERT || (op == OP_UPSERT && pass == 2)) {
		/* an insert, or the insert of an upsert whose UPDATE found nothing */
		rx_buf_printf(s, "INSERT INTO %s ", d->table);
		put_column_list(d, s);
		rx_buf_puts(s, " VALUES ");
		rx_buf_put(s, d->tuples.data + d->tuple_at[i], d->tuple_len[i]);
	} else if (op == OP_UPSERT && !d->other_unique) {
		/* an upsert whose only unique index is the key's: one statement */
		rx_buf_printf(s, "INSERT INTO %s ", d->table);
		put_column_list(d, s);
		rx_buf_puts(s, " VALUES ");
		rx_buf_put(s, d->tuples.data + d->tuple_at[i], d->tuple_len[i]);
		put_upsert_tail(d, s, 0);
	} else {
		/* an update, or the first pass of an upsert with other unique
		 * indexes: only the key's row can be changed */
		put_update(d, s);
	}
}

/* The records marked pending among idx[0..count), one statement each,
 * many statements per round trip.  pass 1: the op's statement (for an
 * upsert with other unique indexes, its UPDATE; a record whose UPDATE
 * found no row stays pending, for pass 2, its INSERT).  0, or -1 for a
 * batch error. */
static int run_singles(rx_db *d, op_kind op, int pass, const rx_span *rows, const size_t *idx, size_t count,
		       rx_db_result *results, char *err, size_t errlen)
{
	int two_pass = op == OP_UPSERT && d->other_unique;
	size_t from = 0;

	while (from < count) {
		size_t sent[1024], nsent = 0, j;
		rx_buf_reset(&d->sql);
		for (j = from; j < count && nsent < sizeof sent / sizeof sent[0]; j++) {
			if (!d->pending[idx[j]])
				continue;
			size_t before = d->sql.len;
			if (nsent > 0)
				rx_buf_putc(&d->sql, ';');
			append_single(d, op, pass, rows, idx[j]);
			if (nsent > 0 && d->sql.len > d->max_statement) {
				d->sql.len = before; /* the next round trip takes it */
				d->sql.data[before] = '\0';
				break;
			}
			sent[nsent++] = j;
		}
		if (nsent == 0)
			break;
		/* statement k's result, then the next; the server stops at the
		 * first error, and the statements after it are sent again */
		int status = mysql_real_query(d->m, d->sql.data, d->sql.len);
		rx_killpoint("statement");
		size_t k = 0, resume = j;
		for (;;) {
			size_t i = idx[sent[k]];
			if (status != 0) {
				if (record_error(d, i, results, err, errlen) < 0)
					return -1;
				d->pending[i] = 0;
				resume = sent[k] + 1;
				break;
			}
			my_ulonglong found = mysql_affected_rows(d->m);
			if (op == OP_UPDATE && found == 0) {
				results[i].ok = 0;
				snprintf(results[i].message, sizeof results[i].message, "no row with this key in %s",
					 d->name);
				d->pending[i] = 0;
			} else if (two_pass && pass == 1 && found == 0) {
				/* no row of this key: its INSERT, in pass 2 */
			} else {
				results[i].ok = 1;
				d->pending[i] = 0;
			}
			if (++k == nsent)
				break;
			status = mysql_next_result(d->m);
			if (status < 0) { /* fewer results than statements: a protocol surprise */
				snprintf(err, errlen, "MySQL: %zu statements sent, %zu results", nsent, k);
				drop_connection(d);
				return -1;
			}
		}
		/* no result may be left unread before the next command */
		while (mysql_more_results(d->m) && mysql_next_result(d->m) == 0)
			;
		from = resume;
	}
	return 0;
}

/* One group of records (one member map): multi-row when the op allows,
 * else or on a record's error one statement each. */
static int run_group(rx_db *d, op_kind op, const rx_span *rows, const size_t *idx, size_t count,
		     rx_db_result *results, char *err, size_t errlen)
{
	if (op != OP_UPDATE) { /* multi-row */
		int rc = run_multirow(d, op, rows, idx, count, results, err, errlen);
		if (rc <= 0)
			return rc;
	}
	for (size_t j = 0; j < count; j++)
		d->pending[idx[j]] = 1;
	if (run_singles(d, op, 1, rows, idx, count, results, err, errlen) < 0)
		return -1;
	if (op == OP_UPSERT && d->other_unique)
		return run_singles(d, op, 2, rows, idx, count, results, err, errlen);
	return 0;
}

static int simple(rx_db *d, const char *sql, char *err, size_t errlen)
{
	char msg[512];

	if (mysql_query(d->m, sql) == 0)
		return 0;
	unsigned e = mysql_errno(d->m);
	snprintf(err, errlen, "MySQL: %s: %s", sql, rx_mysql_error(d->m, msg, sizeof msg));
	if (connection_lost(e))
		drop_connection(d);
	return -1;
}

static int my_apply(rx_db *d, const char *opname, const rx_span *rows, size_t n, rx_db_result *results,
		    char *err, size_t errlen)
{
	size_t *idx = NULL;
	int rc = -1;
	op_kind op;

	err[0] = '\0';
	if (strcmp(opname, "insert") == 0)
		op = OP_INSERT;
	else if (strcmp(opname, "update") == 0)
		op = OP_UPDATE;
	else if (strcmp(opname, "upsert") == 0)
		op = OP_UPSERT;
	else if (strcmp(opname, "delete") == 0)
		op = OP_DELETE;
	else {
		snprintf(err, errlen, "unknown op '%s'", opname);
		return -1;
	}
	/* a connection lost on an earlier batch: connect again */
	if (d->m == NULL && connect_session(d, err, errlen) < 0)
		return -1;
	if (d->capbatch < n) {
		d->capbatch = n;
		d->tuple_at = rx_xrealloc(d->tuple_at, n * sizeof *d->tuple_at);
		d->tuple_len = rx_xrealloc(d->tuple_len, n * sizeof *d->tuple_len);
		d->sig_at = rx_xrealloc(d->sig_at, n * sizeof *d->sig_at);
		d->sig_len = rx_xrealloc(d->sig_len, n * sizeof *d->sig_len);
		d->pending = rx_xrealloc(d->pending, n * sizeof *d->pending);
	}
	idx = rx_xmalloc((n ? n : 1) * sizeof *idx);

	/* check every record and build its values before the transaction: a
	 * record that cannot be written is rejected here and never sent */
	rx_buf_reset(&d->tuples);
	rx_buf_reset(&d->sigs);
	for (size_t i = 0; i < n; i++) {
		results[i].ok = 0;
		results[i].message[0] = '\0';
		d->pending[i] = 0;
		prepare_record(d, op, rows[i], i, &results[i]);
	}

	if (simple(d, "START TRANSACTION", err, errlen) < 0) {
		/* a connection that died while idle (a server restart, its
		 * wait_timeout): nothing of the batch was sent, connect again */
		if (d->m != NULL || connect_session(d, err, errlen) < 0 ||
		    simple(d, "START TRANSACTION", err, errlen) < 0)
			goto fail;
	}
	/* groups: runs of records with one member map, within a statement */
	size_t i = 0;
	while (i < n) {
		if (d->tuple_at[i] == (size_t)-1) {
			i++;
			continue;
		}
		size_t count = 0, bytes = d->overhead, j;
		for (j = i; j < n; j++) {
			if (d->tuple_at[j] == (size_t)-1)
				continue;
			if (!same_sig(d, i, j) || (count > 0 && bytes + d->tuple_len[j] + 1 > d->max_statement))
				break;
			bytes += d->tuple_len[j] + 1;
			idx[count++] = j;
		}
		if (run_group(d, op, rows, idx, count, results, err, errlen) < 0)
			goto fail;
		i = j;
	}
	if (simple(d, "COMMIT", err, errlen) < 0)
		goto fail;
	rx_killpoint("committed"); /* tests: applied, never acked */
	rc = 0;
	goto done;
fail:
	for (size_t k = 0; k < n; k++)
		results[k].ok = 0;
	if (d->m != NULL && mysql_query(d->m, "ROLLBACK") != 0)
		drop_connection(d);
done:
	free(idx);
	return rc;
}

const rx_db_driver rx_db_mysql = {"mysql", my_open, my_apply, my_close};
