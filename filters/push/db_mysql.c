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
 *  - Many rows per statement first.  The records of a batch that share a
 *    member list are inserted or upserted by one statement: on MariaDB,
 *    one prepared INSERT executed over all of them at once (array
 *    binding, COM_STMT_BULK_EXECUTE: the statement is parsed once and
 *    the values travel in binary, which costs the server less than LOAD
 *    DATA); on MySQL, which has no bulk execution, one multi-row INSERT
 *    ... VALUES (...),(...).  Deletes are one DELETE ... WHERE key IN
 *    (...).  Each stays within the server's max_allowed_packet (a
 *    statement over it would cost the connection: error 2006).
 *  - Per-record results.  When such a statement fails on a record's
 *    error, InnoDB has undone that statement whole, and the driver goes
 *    back over its records one statement each, many statements per round
 *    trip (one multi-statement text): the server stops at the first one
 *    that fails, that record is rejected with the server's message, and
 *    the statements after it are sent again.  A batch without failures
 *    thus costs three round trips whatever its size.  Updates always go
 *    one statement each: a record whose key finds no row is rejected
 *    ("no row with this key"), which each statement's found-rows count
 *    tells (CLIENT_FOUND_ROWS).
 *  - No savepoints: every record is one statement (an upsert that falls
 *    back with other unique indexes is an UPDATE, then an INSERT only
 *    when the UPDATE found nothing), and InnoDB rolls a failed statement
 *    back whole.  Errors that undo the whole transaction (a deadlock, a
 *    lost connection, a shutdown, a read-only server) fail the batch.
 *  - ON DUPLICATE KEY UPDATE fires on any unique index, not only the
 *    key's: with another unique index, a new row whose e-mail is taken
 *    would overwrite the row holding that e-mail.  So the key columns
 *    must be exactly a unique index (else upserts are rejected), and
 *    when the table has other unique indexes the upsert carries a guard
 *    that fails the statement if the row it would update has another
 *    key; the fallback's UPDATE-then-INSERT then rejects the record with
 *    the server's duplicate-key message.
 *  - Values are checked and converted once per record, per column type
 *    read at open, into a value list: text the server converts (strings,
 *    numbers, JSON text, dates), bytes (binary columns take base64, what
 *    rx-extract writes), an unsigned integer (BIT).  Numbers stay exact:
 *    an integer column refuses a fraction, a DECIMAL one more decimals
 *    than its scale, rather than let the server round them.  DATETIME
 *    and TIMESTAMP columns take ISO 8601, an offset or Z converted to UTC
 *    (the session's zone).  The same list is bound to a prepared
 *    statement or written as SQL literals, escaped by the connection
 *    (mysql_real_escape_string follows NO_BACKSLASH_ESCAPES).  The
 *    session is strict (STRICT_ALL_TABLES): a value a column cannot hold
 *    is an error, not a warning and a truncated value.
 *  - Prepared statements are kept per statement text (a model's rows
 *    have one member list: one statement per op), and closed when the
 *    connection is dropped.
 *  - The table must use a transactional engine (InnoDB): a MyISAM table
 *    cannot roll a batch back, and is refused at open.
 *  - A lost connection fails the batch; the next batch connects again.
 *  - Pipelined (db.h send/finish): send checks and encodes a batch in
 *    the caller's thread and queues it; a worker thread, the only user
 *    of the connection after open, runs the queued batches in order, each
 *    its own transaction; finish waits for the oldest.  So rx-push reads
 *    and encodes the next batches while the server runs this one (a
 *    first sync took client + server time, one after the other; now
 *    about the larger of the two).  The per-batch state (values, counts)
 *    is the batch's own; the scratch of the encoding (ms, map, tmp) is
 *    the caller's thread's, the statement text (sql) and the bound arrays
 *    the worker's.  The worker blocks every signal: they stay the main
 *    thread's.  Up to DEPTH batches are in flight.
 *  - RX_MYSQL_BULK=0 turns the bulk execution off (MySQL's path, on
 *    MariaDB: the tests use it).
 *  - Crash points for tests (RX_KILL_AT=rx-push:POINT:N, killpoint.c):
 *    "statement" after each statement sent inside the transaction,
 *    "committed" after COMMIT, before the records are acked.
 */
#include "db.h"
#include "rxmysql.h"

#include <errmsg.h>
#include <mysqld_error.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum {
	STATEMENT_CAP = 4 << 20, /* bytes of one statement at most, within max_allowed_packet */
	MAX_PREPARED = 16,       /* prepared statements kept */
	DEPTH = 3,               /* batches sent and not finished, at most */
};

/* The op of a batch. */
typedef enum op_kind { OP_INSERT, OP_UPDATE, OP_UPSERT, OP_DELETE } op_kind;

/* How a column takes a value. */
typedef enum col_kind {
	C_TEXT,     /* strings, ENUM, SET, DATE, TIME and the others */
	C_BINARY,   /* BINARY, VARBINARY, BLOB: base64 in, bytes out */
	C_BIT,      /* BIT(n): an unsigned integer */
	C_JSON,     /* JSON: the member's JSON text */
	C_INT,      /* TINYINT..BIGINT, YEAR: integers only */
	C_DECIMAL,  /* DECIMAL(p,s): at most s decimals */
	C_FLOAT,    /* FLOAT, DOUBLE */
	C_DATETIME, /* DATETIME, TIMESTAMP: ISO 8601, offsets to UTC */
} col_kind;

typedef struct my_column {
	char *name;        /* plain */
	size_t len;        /* strlen(name) */
	col_kind kind;     /* how it takes a value */
	unsigned decimals; /* DECIMAL: its scale */
	int is_key;        /* one of the key columns */
} my_column;

/* One member's value, ready for the server. */
typedef enum value_tag {
	V_NULL,   /* NULL */
	V_TEXT,   /* text the server converts: quoted as a literal */
	V_NUMBER, /* an exact number's digits: bare as a literal */
	V_BYTES,  /* bytes: X'..' as a literal */
	V_UINT,   /* an unsigned integer (BIT): bare as a literal */
} value_tag;

typedef struct value {
	value_tag tag;
	size_t col;           /* the column it goes to */
	size_t off, len;      /* its bytes in rx_db.vals */
	unsigned long long u; /* V_UINT */
} value;

typedef struct prepared {
	char *text;       /* the statement's SQL */
	MYSQL_STMT *stmt; /* prepared on the current connection */
} prepared;

/* One batch, checked and encoded by send (the caller's thread), run by
 * the worker, finished by finish. */
typedef struct my_batch {
	int state;             /* B_FREE, B_QUEUED (the worker's), B_DONE */
	op_kind op;
	size_t n;
	rx_db_result *results; /* the caller's */
	rx_buf vals;           /* the values' bytes, every record's */
	value *values;         /* every record's values, record after record */
	size_t nvalues, capvalues;
	size_t *first, *count; /* per record: its values; count -1: rejected, not sent */
	size_t *bytes;         /* per record: its values' bytes */
	int *pending;          /* per record: still to do in the fallback */
	size_t *idx;           /* scratch: a group's records */
	size_t capbatch;
	int rc;                /* as apply's */
	char err[1024];
} my_batch;

enum { B_FREE, B_QUEUED, B_DONE };

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
	int bulk;              /* the server executes arrays of parameters */
	size_t max_statement;  /* bytes of one statement at most */
	size_t overhead;       /* bytes of a statement besides its values, at most */
	prepared stmts[MAX_PREPARED]; /* kept prepared statements */
	size_t nstmts, next_evict;
	rx_members ms;         /* scratch: a row's members */
	size_t *map;           /* scratch: member i writes column map[i], or -1 */
	size_t capmap;
	rx_buf text, sql, tmp; /* scratch (text, tmp: the caller's thread; sql: the worker's) */
	my_batch fly[DEPTH];   /* the batches sent and not finished: a ring */
	size_t first_fly, nfly;
	size_t run_at;         /* the worker's next batch in fly */
	pthread_t worker;
	int started, stop;     /* the worker runs; it is to stop */
	pthread_mutex_t lock;  /* fly[].state, stop */
	pthread_cond_t work, done;
	/* bulk binding scratch, per parameter */
	MYSQL_BIND *binds;
	char **ptrs;           /* nparams x rows: each value's bytes */
	unsigned long *lens;
	char *inds;
	unsigned long long *uints;
	size_t capbind, capcells;
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

/* Close the connection and its prepared statements (connect again on
 * the next batch). */
static void drop_connection(rx_db *d)
{
	for (size_t i = 0; i < d->nstmts; i++) {
		mysql_stmt_close(d->stmts[i].stmt);
		free(d->stmts[i].text);
		d->stmts[i].stmt = NULL;
		d->stmts[i].text = NULL;
	}
	d->nstmts = 0;
	if (d->m != NULL)
		mysql_close(d->m);
	d->m = NULL;
}

/* ---- open and close ---- */

static void my_close(rx_db *d)
{
	if (d == NULL)
		return;
	if (d->started) {
		pthread_mutex_lock(&d->lock);
		d->stop = 1;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->worker, NULL);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->done);
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
	rx_buf_free(&d->text);
	rx_buf_free(&d->sql);
	rx_buf_free(&d->tmp);
	for (size_t i = 0; i < DEPTH; i++) {
		my_batch *b = &d->fly[i];
		rx_buf_free(&b->vals);
		free(b->values);
		free(b->first);
		free(b->count);
		free(b->bytes);
		free(b->pending);
		free(b->idx);
	}
	free(d->binds);
	free(d->ptrs);
	free(d->lens);
	free(d->inds);
	free(d->uints);
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

static rx_db *my_open(const char *target, const char *table, char *const *keys, size_t nkeys, jv profile, char *err,
		      size_t errlen)
{
	(void)profile;
	rx_db *d = rx_xmalloc(sizeof *d);
	MYSQL_RES *res = NULL;
	MYSQL_ROW row;
	char msg[512];

	memset(d, 0, sizeof *d);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->done, NULL);
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
		d->cols[i].len = strlen(d->cols[i].name);
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
	/* MariaDB executes a prepared statement over arrays of values */
	const char *bulk = getenv("RX_MYSQL_BULK");
	unsigned long server = 0, extended = 0;
	mariadb_get_infov(d->m, MARIADB_CONNECTION_SERVER_CAPABILITIES, &server);
	mariadb_get_infov(d->m, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &extended);
	d->bulk = !(server & CLIENT_MYSQL) && (extended & (MARIADB_CLIENT_STMT_BULK_OPERATIONS >> 32)) &&
		  !(bulk != NULL && strcmp(bulk, "0") == 0);
	return d;
fail:
	if (res != NULL)
		mysql_free_result(res);
	my_close(d);
	return NULL;
}

/* ---- values ---- */

/* Map the row's members (d->ms) to columns; 0, or -1 with why.  A model's
 * rows have one member list: member m is tried against the column it had
 * in the last row first. */
static int map_members(rx_db *d, op_kind op, char *why, size_t whylen)
{
	int is_delete = op == OP_DELETE;

	if (d->capmap < d->ms.n) {
		size_t old = d->capmap;
		d->capmap = d->ms.n * 2;
		d->map = rx_xrealloc(d->map, d->capmap * sizeof *d->map);
		for (size_t m = old; m < d->capmap; m++)
			d->map[m] = (size_t)-1;
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		size_t i = d->map[m];
		if (i >= d->ncols || !rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, d->cols[i].len)) {
			for (i = 0; i < d->ncols; i++)
				if (rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, d->cols[i].len))
					break;
		}
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
		d->map[m] = i;
	}
	for (size_t k = 0; k < d->nkeys && op != OP_INSERT; k++) {
		size_t m;
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

/* A number for an INT or DECIMAL column, exactly, into b as its digits:
 * V_NUMBER, V_TEXT when it is not a number (the server says what is
 * wrong), or -1 with why when the column would round it. */
static int exact_number(rx_buf *b, const my_column *c, const char *s, size_t n, char *why, size_t whylen)
{
	number_parts p;
	size_t keep;

	if (parse_number(s, n, &p) < 0) {
		rx_buf_put(b, s, n);
		return V_TEXT;
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
	return V_NUMBER;
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

/* base64 text decoded into b; -1 when it is not base64. */
static int base64_decode(rx_buf *b, const char *s, size_t n)
{
	unsigned acc = 0;
	int bits = 0;
	size_t start = b->len;

	while (n > 0 && s[n - 1] == '=')
		n--;
	rx_buf_reserve(b, n * 3 / 4 + 4);
	for (size_t i = 0; i < n; i++) {
		int v = base64_value((unsigned char)s[i]);
		if (v < 0) {
			b->len = start;
			return -1;
		}
		acc = acc << 6 | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			b->data[b->len++] = (char)(acc >> bits);
		}
	}
	b->data[b->len] = '\0';
	return 0;
}

/* n digits at s as a number, or -1. */
static int digits(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* An ISO 8601 date-time as a DATETIME or TIMESTAMP column takes it, in
 * UTC when it carries an offset: "2024-01-31T12:00:00.5+02:00" is
 * "2024-01-31 10:00:00.5".  -1 when it is not one (it then goes as it is,
 * and the server says whether it takes it). */
static int iso_datetime(rx_buf *b, const char *s, size_t n)
{
	int y, mo, da, h, mi, sec = 0, off = 0;
	size_t i, frac_start = 0, frac_len = 0;

	if (n < 16 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ') || s[13] != ':')
		return -1;
	y = digits(s, 4), mo = digits(s + 5, 2), da = digits(s + 8, 2), h = digits(s + 11, 2), mi = digits(s + 14, 2);
	if (y < 0 || mo < 0 || da < 0 || h < 0 || mi < 0)
		return -1;
	i = 16;
	if (i < n && s[i] == ':') {
		if (i + 3 > n || (sec = digits(s + i + 1, 2)) < 0)
			return -1;
		i += 3;
		if (i < n && s[i] == '.') {
			frac_start = ++i;
			while (i < n && s[i] >= '0' && s[i] <= '9')
				i++;
			frac_len = i - frac_start;
			if (frac_len == 0)
				return -1;
		}
	}
	if (i < n && s[i] == 'Z' && i + 1 == n) {
		off = 0;
	} else if (i < n && (s[i] == '+' || s[i] == '-')) {
		int sign = s[i] == '-' ? -1 : 1, oh, om = 0;
		size_t zn = n - i - 1;
		const char *z = s + i + 1;
		if (zn == 2)
			oh = digits(z, 2);
		else if (zn == 4)
			oh = digits(z, 2), om = digits(z + 2, 2);
		else if (zn == 5 && z[2] == ':')
			oh = digits(z, 2), om = digits(z + 3, 2);
		else
			return -1;
		if (oh < 0 || om < 0)
			return -1;
		off = sign * (oh * 60 + om);
	} else if (i != n) {
		return -1;
	}
	if (off != 0) {
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
	if (y > 9999 || y < 0)
		return -1;
	char text[19] = {(char)('0' + y / 1000), (char)('0' + y / 100 % 10), (char)('0' + y / 10 % 10),
			 (char)('0' + y % 10), '-', (char)('0' + mo / 10), (char)('0' + mo % 10), '-',
			 (char)('0' + da / 10), (char)('0' + da % 10), ' ', (char)('0' + h / 10), (char)('0' + h % 10),
			 ':', (char)('0' + mi / 10), (char)('0' + mi % 10), ':', (char)('0' + sec / 10),
			 (char)('0' + sec % 10)};
	rx_buf_put(b, text, sizeof text);
	if (frac_len > 0) {
		rx_buf_putc(b, '.');
		rx_buf_put(b, s + frac_start, frac_len);
	}
	return 0;
}

/* The value of member v for column c: its bytes appended to b->vals,
 * its tag returned; or -1 with why the column cannot take it. */
static int encode_value(rx_db *d, my_batch *batch, const my_column *c, rx_span v, unsigned long long *u, char *why,
			size_t whylen)
{
	rx_buf *b = &batch->vals;
	char kind = rx_json_kind(v);
	size_t start = b->len;

	if (kind == 'z')
		return V_NULL;
	switch (c->kind) {
	case C_JSON:
		rx_json_put_compact(b, v);
		return V_TEXT;
	case C_BINARY:
		if (kind == 's') {
			rx_buf_reset(&d->tmp);
			rx_json_string_decode(v, &d->tmp);
			if (base64_decode(b, d->tmp.data ? d->tmp.data : "", d->tmp.len) == 0)
				return V_BYTES;
		}
		snprintf(why, whylen, "column \"%s\" is binary: its value must be base64 text", c->name);
		return -1;
	case C_BIT:
	case C_INT:
	case C_DECIMAL:
	case C_FLOAT:
		if (kind == 't' || kind == 'f') {
			rx_buf_putc(b, kind == 't' ? '1' : '0');
			*u = kind == 't';
			return c->kind == C_BIT ? V_UINT : V_NUMBER;
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
		const char *s = d->tmp.data ? d->tmp.data : "";
		size_t n = d->tmp.len;
		if (c->kind == C_FLOAT) {
			number_parts p;
			rx_buf_put(b, s, n);
			return parse_number(s, n, &p) == 0 ? V_NUMBER : V_TEXT;
		}
		if (c->kind == C_BIT) {
			/* a string would be taken as the bits' bytes: a number only */
			unsigned long long x = 0;
			int ok = n > 0 && n <= 20;
			for (size_t i = 0; ok && i < n; i++) {
				if (s[i] < '0' || s[i] > '9' || x > (~0ULL - (unsigned)(s[i] - '0')) / 10)
					ok = 0;
				else
					x = x * 10 + (unsigned)(s[i] - '0');
			}
			if (!ok) {
				snprintf(why, whylen, "column \"%s\" is BIT: %.*s is not an unsigned integer", c->name,
					 (int)(n < 64 ? n : 64), s);
				return -1;
			}
			rx_buf_put(b, s, n);
			*u = x;
			return V_UINT;
		}
		return exact_number(b, c, s, n, why, whylen);
	case C_DATETIME:
		rx_buf_reset(&d->tmp);
		if (kind == 's')
			rx_json_string_decode(v, &d->tmp);
		else
			rx_buf_put(&d->tmp, v.p, v.n);
		if (kind != 's' || iso_datetime(b, d->tmp.data, d->tmp.len) < 0) {
			b->len = start;
			rx_buf_put(b, d->tmp.data ? d->tmp.data : "", d->tmp.len);
		}
		return V_TEXT;
	case C_TEXT:
		if (kind == 's')
			rx_json_string_decode(v, b);
		else if (kind == 'o' || kind == 'a')
			rx_json_put_compact(b, v);
		else
			rx_buf_put(b, v.p, v.n); /* a number's text, true, false */
		return V_TEXT;
	}
	return V_NULL;
}

static const value *values_of(const my_batch *b, size_t record)
{
	return b->values + b->first[record];
}

/* The value of record i for column col, or NULL. */
static const value *value_for(const my_batch *b, size_t i, size_t col)
{
	const value *v = values_of(b, i);

	for (size_t j = 0; j < b->count[i]; j++)
		if (v[j].col == col)
			return &v[j];
	return NULL;
}

/* ---- SQL text ---- */

static void put_ident_of(rx_buf *s, const my_column *c)
{
	rx_mysql_put_ident(s, c->name, c->len);
}

/* A value as an SQL literal. */
static void put_literal(rx_db *d, my_batch *b, rx_buf *s, const value *v)
{
	static const char hex[] = "0123456789ABCDEF";
	const char *p = b->vals.data + v->off;

	switch (v->tag) {
	case V_NULL:
		rx_buf_put(s, "NULL", 4);
		return;
	case V_NUMBER:
	case V_UINT:
		rx_buf_put(s, p, v->len);
		return;
	case V_BYTES:
		rx_buf_reserve(s, 2 * v->len + 3);
		rx_buf_put(s, "X'", 2);
		for (size_t i = 0; i < v->len; i++) {
			unsigned char c = (unsigned char)p[i];
			s->data[s->len++] = hex[c >> 4];
			s->data[s->len++] = hex[c & 15];
		}
		rx_buf_putc(s, '\'');
		return;
	case V_TEXT:
		rx_buf_reserve(s, 2 * v->len + 3);
		s->data[s->len++] = '\'';
		s->len += mysql_real_escape_string(d->m, s->data + s->len, p, v->len);
		s->data[s->len++] = '\'';
		s->data[s->len] = '\0';
		return;
	}
}

/* "(`a`, `b`)": the columns of record i's values. */
static void put_column_list(rx_db *d, my_batch *b, rx_buf *s, size_t i)
{
	const value *v = values_of(b, i);

	rx_buf_putc(s, '(');
	for (size_t j = 0; j < b->count[i]; j++) {
		if (j > 0)
			rx_buf_puts(s, ", ");
		put_ident_of(s, &d->cols[v[j].col]);
	}
	rx_buf_putc(s, ')');
}

/* "(lit, lit)": record i's values. */
static void put_tuple(rx_db *d, my_batch *b, rx_buf *s, size_t i)
{
	const value *v = values_of(b, i);

	rx_buf_putc(s, '(');
	for (size_t j = 0; j < b->count[i]; j++) {
		if (j > 0)
			rx_buf_puts(s, ", ");
		put_literal(d, b, s, &v[j]);
	}
	rx_buf_putc(s, ')');
}

/* "lit" for one key column, "(lit, lit)" for several, in key order. */
static void put_key_tuple(rx_db *d, my_batch *b, rx_buf *s, size_t i)
{
	if (d->nkeys > 1)
		rx_buf_putc(s, '(');
	for (size_t k = 0; k < d->nkeys; k++) {
		if (k > 0)
			rx_buf_puts(s, ", ");
		put_literal(d, b, s, value_for(b, i, d->keys[k]));
	}
	if (d->nkeys > 1)
		rx_buf_putc(s, ')');
}

/* " WHERE `k` = lit AND ..." for record i. */
static void put_key_where(rx_db *d, my_batch *b, rx_buf *s, size_t i)
{
	rx_buf_puts(s, " WHERE ");
	for (size_t k = 0; k < d->nkeys; k++) {
		if (k > 0)
			rx_buf_puts(s, " AND ");
		put_ident_of(s, &d->cols[d->keys[k]]);
		rx_buf_puts(s, " = ");
		put_literal(d, b, s, value_for(b, i, d->keys[k]));
	}
}

/* " ON DUPLICATE KEY UPDATE ..." for record i's columns: the guard first
 * when other unique indexes could be the conflict (it fails the
 * statement if the row hit has another key), then the columns other than
 * the keys. */
static void put_upsert_tail(rx_db *d, my_batch *b, rx_buf *s, size_t i, int guard)
{
	const value *v = values_of(b, i);
	const my_column *k0 = &d->cols[d->keys[0]];
	int first = 1;

	rx_buf_puts(s, " ON DUPLICATE KEY UPDATE ");
	if (guard) {
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
	for (size_t j = 0; j < b->count[i]; j++) {
		const my_column *c = &d->cols[v[j].col];
		if (c->is_key)
			continue;
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		put_ident_of(s, c);
		rx_buf_puts(s, " = VALUES(");
		put_ident_of(s, c);
		rx_buf_putc(s, ')');
	}
	if (first) { /* nothing but keys: the row is there, change nothing */
		put_ident_of(s, k0);
		rx_buf_puts(s, " = ");
		put_ident_of(s, k0);
	}
}

/* "UPDATE t SET ... WHERE keys" for record i; with nothing but keys, a
 * no-op assignment, so that the found-rows count still says whether the
 * row is there. */
static void put_update(rx_db *d, my_batch *b, rx_buf *s, size_t i)
{
	const value *v = values_of(b, i);
	int first = 1;

	rx_buf_printf(s, "UPDATE %s SET ", d->table);
	for (size_t j = 0; j < b->count[i]; j++) {
		if (d->cols[v[j].col].is_key)
			continue;
		if (!first)
			rx_buf_puts(s, ", ");
		first = 0;
		put_ident_of(s, &d->cols[v[j].col]);
		rx_buf_puts(s, " = ");
		put_literal(d, b, s, &v[j]);
	}
	if (first) {
		put_ident_of(s, &d->cols[d->keys[0]]);
		rx_buf_puts(s, " = ");
		put_ident_of(s, &d->cols[d->keys[0]]);
	}
	put_key_where(d, b, s, i);
}

/* ---- a batch ---- */

/* Scan, map, check and encode record i into the value list; 0, or -1 when
 * it is rejected before anything is sent (results[i] says why). */
static int prepare_record(rx_db *d, my_batch *b, op_kind op, rx_span row, size_t i, rx_db_result *result)
{
	char why[512];
	size_t mark_vals = b->vals.len;

	b->count[i] = (size_t)-1;
	b->first[i] = b->nvalues;
	if (row.n == 0 || rx_json_members(row.p, row.n, &d->ms, why, sizeof why) < 0) {
		snprintf(result->message, sizeof result->message, "the change has no row object");
		return -1;
	}
	if (map_members(d, op, why, sizeof why) < 0)
		goto reject;
	if (op == OP_UPSERT && !d->key_unique) {
		snprintf(why, sizeof why,
			 "no unique index on the key columns of %s: an upsert needs a primary key or unique index "
			 "on exactly them",
			 d->name);
		goto reject;
	}
	if (b->nvalues + d->ms.n > b->capvalues) {
		b->capvalues = (b->nvalues + d->ms.n) * 2;
		b->values = rx_xrealloc(b->values, b->capvalues * sizeof *b->values);
	}
	size_t n = 0;
	for (size_t m = 0; m < d->ms.n; m++) {
		size_t col = d->map[m];
		if (col == (size_t)-1 || (op == OP_DELETE && !d->cols[col].is_key))
			continue;
		value *v = &b->values[b->nvalues + n];
		v->col = col;
		v->off = b->vals.len;
		v->u = 0;
		int tag = encode_value(d, b, &d->cols[col], d->ms.m[m].value, &v->u, why, sizeof why);
		if (tag < 0)
			goto reject;
		v->tag = (value_tag)tag;
		v->len = b->vals.len - v->off;
		n++;
	}
	b->count[i] = n;
	b->nvalues += n;
	b->bytes[i] = b->vals.len - mark_vals;
	/* this record's statement alone must fit in a packet: escaped text
	 * takes up to twice its bytes */
	if (2 * b->bytes[i] + 8 * n + d->overhead > d->max_statement) {
		snprintf(why, sizeof why,
			 "the row needs a statement of more than the server's max_allowed_packet (%zu bytes)",
			 d->max_statement + 1024);
		b->nvalues -= n;
		goto reject;
	}
	return 0;
reject:
	snprintf(result->message, sizeof result->message, "%s", why);
	b->count[i] = (size_t)-1;
	b->vals.len = mark_vals;
	return -1;
}

/* Do records a and b have the same columns, in the same order? */
static int same_columns(const my_batch *b, size_t x, size_t y)
{
	const value *va = values_of(b, x), *vb = values_of(b, y);

	if (b->count[x] != b->count[y])
		return 0;
	for (size_t j = 0; j < b->count[x]; j++)
		if (va[j].col != vb[j].col)
			return 0;
	return 1;
}

/* Record what the server said about record i's statement: 0 when it was a
 * record's error (rejected), -1 for a batch error (err set). */
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

/* A batch error from a statement's error number: -1 with err (the
 * connection dropped when it is gone), or 1 for a record's error. */
static int classify(rx_db *d, unsigned e, const char *msg, char *err, size_t errlen)
{
	if (!batch_error(e))
		return 1;
	snprintf(err, errlen, "MySQL: %s", msg);
	if (connection_lost(e))
		drop_connection(d);
	return -1;
}

/* The prepared statement of this text, kept; NULL with msg when it cannot
 * be prepared. */
static MYSQL_STMT *prepared_statement(rx_db *d, const rx_buf *sql, unsigned *e, char *msg, size_t msglen)
{
	for (size_t i = 0; i < d->nstmts; i++)
		if (strcmp(d->stmts[i].text, sql->data) == 0)
			return d->stmts[i].stmt;
	MYSQL_STMT *st = mysql_stmt_init(d->m);
	if (st == NULL) {
		*e = CR_OUT_OF_MEMORY;
		snprintf(msg, msglen, "out of memory");
		return NULL;
	}
	if (mysql_stmt_prepare(st, sql->data, sql->len) != 0) {
		char text[600];
		*e = mysql_stmt_errno(st);
		snprintf(text, sizeof text, "%s (error %u, SQLSTATE %s)", mysql_stmt_error(st), *e,
			 mysql_stmt_sqlstate(st));
		rx_one_line(text, msg, msglen);
		mysql_stmt_close(st);
		return NULL;
	}
	size_t slot = d->nstmts < MAX_PREPARED ? d->nstmts++ : d->next_evict++ % MAX_PREPARED;
	if (d->stmts[slot].stmt != NULL) {
		mysql_stmt_close(d->stmts[slot].stmt);
		free(d->stmts[slot].text);
	}
	d->stmts[slot].text = rx_xstrdup(sql->data);
	d->stmts[slot].stmt = st;
	return st;
}

/* MariaDB: the records idx[0..count) (one column list) by one prepared
 * INSERT executed over all of them.  0 applied, 1 failed on a record's
 * error (nothing of it applied), -1 batch error. */
static int run_bulk(rx_db *d, my_batch *b, op_kind op, const size_t *idx, size_t count, rx_db_result *results, char *err,
		    size_t errlen)
{
	size_t i0 = idx[0], np = b->count[i0];
	rx_buf *s = &d->sql;
	char msg[512];
	unsigned e = 0;

	rx_buf_reset(s);
	rx_buf_printf(s, "INSERT INTO %s ", d->table);
	put_column_list(d, b, s, i0);
	rx_buf_puts(s, " VALUES (");
	for (size_t j = 0; j < np; j++)
		rx_buf_puts(s, j > 0 ? ", ?" : "?");
	rx_buf_putc(s, ')');
	if (op == OP_UPSERT)
		put_upsert_tail(d, b, s, i0, d->other_unique);
	MYSQL_STMT *st = prepared_statement(d, s, &e, msg, sizeof msg);
	if (st == NULL)
		return classify(d, e, msg, err, errlen);

	/* column-wise arrays: parameter j of row r at [j * count + r] */
	if (d->capbind < np) {
		d->capbind = np;
		d->binds = rx_xrealloc(d->binds, np * sizeof *d->binds);
	}
	if (d->capcells < np * count) {
		d->capcells = np * count;
		d->ptrs = rx_xrealloc(d->ptrs, d->capcells * sizeof *d->ptrs);
		d->lens = rx_xrealloc(d->lens, d->capcells * sizeof *d->lens);
		d->inds = rx_xrealloc(d->inds, d->capcells);
		d->uints = rx_xrealloc(d->uints, d->capcells * sizeof *d->uints);
	}
	memset(d->binds, 0, np * sizeof *d->binds);
	for (size_t j = 0; j < np; j++) {
		const my_column *c = &d->cols[values_of(b, i0)[j].col];
		size_t at = j * count;
		MYSQL_BIND *bd = &d->binds[j];
		for (size_t r = 0; r < count; r++) {
			const value *v = &values_of(b, idx[r])[j];
			d->ptrs[at + r] = b->vals.data + v->off;
			d->lens[at + r] = v->len;
			d->uints[at + r] = v->u;
			d->inds[at + r] = v->tag == V_NULL ? STMT_INDICATOR_NULL : STMT_INDICATOR_NONE;
		}
		if (c->kind == C_BIT) {
			bd->buffer_type = MYSQL_TYPE_LONGLONG;
			bd->is_unsigned = 1;
			bd->buffer = d->uints + at;
		} else {
			bd->buffer_type = c->kind == C_BINARY ? MYSQL_TYPE_BLOB : MYSQL_TYPE_STRING;
			bd->buffer = d->ptrs + at;
			bd->length = d->lens + at;
		}
		bd->u.indicator = d->inds + at;
	}
	unsigned int rows = (unsigned int)count;
	if (mysql_stmt_attr_set(st, STMT_ATTR_ARRAY_SIZE, &rows) != 0 || mysql_stmt_bind_param(st, d->binds) != 0 ||
	    mysql_stmt_execute(st) != 0) {
		char text[600];
		e = mysql_stmt_errno(st);
		snprintf(text, sizeof text, "%s (error %u, SQLSTATE %s)", mysql_stmt_error(st), e,
			 mysql_stmt_sqlstate(st));
		rx_one_line(text, msg, sizeof msg);
		rx_killpoint("statement");
		return classify(d, e, msg, err, errlen);
	}
	rx_killpoint("statement"); /* tests: a crash inside the transaction */
	for (size_t r = 0; r < count; r++)
		results[idx[r]].ok = 1;
	return 0;
}

/* The records idx[0..count) (one column list) as one multi-row statement
 * (MySQL's INSERT, any DELETE).  0 applied, 1 failed on a record's error
 * (nothing of it applied), -1 batch error. */
static int run_multirow(rx_db *d, my_batch *b, op_kind op, const size_t *idx, size_t count, rx_db_result *results, char *err,
			size_t errlen)
{
	rx_buf *s = &d->sql;
	char msg[512];

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
		for (size_t j = 0; j < count; j++) {
			if (j > 0)
				rx_buf_putc(s, ',');
			put_key_tuple(d, b, s, idx[j]);
		}
		rx_buf_putc(s, ')');
	} else {
		rx_buf_printf(s, "INSERT INTO %s ", d->table);
		put_column_list(d, b, s, idx[0]);
		rx_buf_puts(s, " VALUES ");
		for (size_t j = 0; j < count; j++) {
			if (j > 0)
				rx_buf_putc(s, ',');
			put_tuple(d, b, s, idx[j]);
		}
		if (op == OP_UPSERT)
			put_upsert_tail(d, b, s, idx[0], d->other_unique);
	}
	int failed = mysql_real_query(d->m, s->data, s->len) != 0;
	rx_killpoint("statement"); /* tests: a crash inside the transaction */
	if (!failed) {
		for (size_t j = 0; j < count; j++)
			results[idx[j]].ok = 1;
		return 0;
	}
	return classify(d, mysql_errno(d->m), rx_mysql_error(d->m, msg, sizeof msg), err, errlen);
}

/* The one statement of record i for this pass, appended to d->sql: its
 * INSERT, upsert, DELETE or UPDATE. */
static void append_single(rx_db *d, my_batch *b, op_kind op, int pass, size_t i)
{
	rx_buf *s = &d->sql;

	if (op == OP_DELETE) {
		rx_buf_printf(s, "DELETE FROM %s", d->table);
		put_key_where(d, b, s, i);
	} else if (op == OP_INSERT || (op == OP_UPSERT && (pass == 2 || !d->other_unique))) {
		/* an insert; the insert of an upsert whose UPDATE found nothing;
		 * an upsert whose only unique index is the key's */
		rx_buf_printf(s, "INSERT INTO %s ", d->table);
		put_column_list(d, b, s, i);
		rx_buf_puts(s, " VALUES ");
		put_tuple(d, b, s, i);
		if (op == OP_UPSERT && pass == 1)
			put_upsert_tail(d, b, s, i, 0);
	} else {
		/* an update, or the first pass of an upsert with other unique
		 * indexes: only the key's row can be changed */
		put_update(d, b, s, i);
	}
}

/* The records marked pending among idx[0..count), one statement each,
 * many statements per round trip.  pass 1: the op's statement (for an
 * upsert with other unique indexes, its UPDATE; a record whose UPDATE
 * found no row stays pending, for pass 2, its INSERT).  0, or -1 for a
 * batch error. */
static int run_singles(rx_db *d, my_batch *b, op_kind op, int pass, const size_t *idx, size_t count, rx_db_result *results,
		       char *err, size_t errlen)
{
	int two_pass = op == OP_UPSERT && d->other_unique;
	size_t from = 0;

	while (from < count) {
		size_t sent[1024], nsent = 0, j;
		rx_buf_reset(&d->sql);
		for (j = from; j < count && nsent < sizeof sent / sizeof sent[0]; j++) {
			if (!b->pending[idx[j]])
				continue;
			size_t before = d->sql.len;
			if (nsent > 0)
				rx_buf_putc(&d->sql, ';');
			append_single(d, b, op, pass, idx[j]);
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
				b->pending[i] = 0;
				resume = sent[k] + 1;
				break;
			}
			my_ulonglong found = mysql_affected_rows(d->m);
			if (op == OP_UPDATE && found == 0) {
				results[i].ok = 0;
				snprintf(results[i].message, sizeof results[i].message, "no row with this key in %s",
					 d->name);
				b->pending[i] = 0;
			} else if (two_pass && pass == 1 && found == 0) {
				/* no row of this key: its INSERT, in pass 2 */
			} else {
				results[i].ok = 1;
				b->pending[i] = 0;
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

/* One group of records (one column list): many rows per statement when
 * the op allows, else, or on a record's error, one statement each. */
static int run_group(rx_db *d, my_batch *b, op_kind op, const size_t *idx, size_t count, rx_db_result *results, char *err,
		     size_t errlen)
{
	int rc = 1;

	if (op == OP_DELETE || ((op == OP_INSERT || op == OP_UPSERT) && !d->bulk))
		rc = run_multirow(d, b, op, idx, count, results, err, errlen);
	else if (op == OP_INSERT || op == OP_UPSERT)
		rc = run_bulk(d, b, op, idx, count, results, err, errlen);
	if (rc <= 0)
		return rc;
	for (size_t j = 0; j < count; j++)
		b->pending[idx[j]] = 1;
	if (run_singles(d, b, op, 1, idx, count, results, err, errlen) < 0)
		return -1;
	if (op == OP_UPSERT && d->other_unique)
		return run_singles(d, b, op, 2, idx, count, results, err, errlen);
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

static int op_of(const char *opname, op_kind *op)
{
	if (strcmp(opname, "insert") == 0)
		*op = OP_INSERT;
	else if (strcmp(opname, "update") == 0)
		*op = OP_UPDATE;
	else if (strcmp(opname, "upsert") == 0)
		*op = OP_UPSERT;
	else if (strcmp(opname, "delete") == 0)
		*op = OP_DELETE;
	else
		return -1;
	return 0;
}

/* The worker: batch b in one transaction (its records checked and encoded
 * already).  0 committed, -1 with err. */
static int run_batch(rx_db *d, my_batch *b, char *err, size_t errlen)
{
	op_kind op = b->op;
	rx_db_result *results = b->results;
	size_t n = b->n;
	size_t *idx = b->idx;

	err[0] = '\0';
	/* a connection lost on an earlier batch: connect again */
	if (d->m == NULL && connect_session(d, err, errlen) < 0)
		goto fail;
	if (simple(d, "START TRANSACTION", err, errlen) < 0) {
		/* a connection that died while idle (a server restart, its
		 * wait_timeout): nothing of the batch was sent, connect again */
		if (d->m != NULL || connect_session(d, err, errlen) < 0 ||
		    simple(d, "START TRANSACTION", err, errlen) < 0)
			goto fail;
	}
	/* groups: runs of records with one column list, within a statement */
	size_t i = 0;
	while (i < n) {
		if (b->count[i] == (size_t)-1) {
			i++;
			continue;
		}
		size_t count = 0, bytes = d->overhead, j;
		for (j = i; j < n; j++) {
			if (b->count[j] == (size_t)-1)
				continue;
			size_t need = 2 * b->bytes[j] + 8 * b->count[j];
			if (!same_columns(b, i, j) || (count > 0 && bytes + need > d->max_statement))
				break;
			bytes += need;
			idx[count++] = j;
		}
		if (run_group(d, b, op, idx, count, results, err, errlen) < 0)
			goto fail;
		i = j;
	}
	if (simple(d, "COMMIT", err, errlen) < 0)
		goto fail;
	rx_killpoint("committed"); /* tests: applied, never acked */
	return 0;
fail:
	for (size_t k = 0; k < n; k++)
		results[k].ok = 0;
	if (d->m != NULL && mysql_query(d->m, "ROLLBACK") != 0)
		drop_connection(d);
	return -1;
}

/* The worker thread: the queued batches, in the order sent, on the one
 * connection, until my_close stops it. */
static void *worker(void *arg)
{
	rx_db *d = arg;

	mysql_thread_init();
	pthread_mutex_lock(&d->lock);
	for (;;) {
		my_batch *b = &d->fly[d->run_at];
		while (b->state != B_QUEUED && !d->stop)
			pthread_cond_wait(&d->work, &d->lock);
		if (d->stop)
			break;
		pthread_mutex_unlock(&d->lock);
		b->rc = run_batch(d, b, b->err, sizeof b->err);
		pthread_mutex_lock(&d->lock);
		b->state = B_DONE;
		d->run_at = (d->run_at + 1) % DEPTH;
		pthread_cond_signal(&d->done);
	}
	pthread_mutex_unlock(&d->lock);
	mysql_thread_end();
	return NULL;
}

/* Check and encode every record of the batch, then queue it for the
 * worker: a record that cannot be written is rejected here and never
 * sent. */
static int my_send(rx_db *d, const char *opname, const rx_span *ids, const rx_span *rows, size_t n,
		   rx_db_result *results, char *err, size_t errlen)
{
	(void)ids;
	op_kind op;

	err[0] = '\0';
	if (op_of(opname, &op) < 0) {
		snprintf(err, errlen, "unknown op '%s'", opname);
		return -1;
	}
	if (d->nfly == DEPTH) {
		snprintf(err, errlen, "MySQL: more than %d batches in flight", DEPTH);
		return -1;
	}
	if (!d->started) {
		int rc = rx_thread_start(&d->worker, worker, d); /* signals stay the main thread's */
		if (rc != 0) {
			snprintf(err, errlen, "MySQL: cannot start a thread: %s", strerror(rc));
			return -1;
		}
		d->started = 1;
	}
	my_batch *b = &d->fly[(d->first_fly + d->nfly) % DEPTH];
	if (b->capbatch < n) {
		b->capbatch = n;
		b->first = rx_xrealloc(b->first, n * sizeof *b->first);
		b->count = rx_xrealloc(b->count, n * sizeof *b->count);
		b->bytes = rx_xrealloc(b->bytes, n * sizeof *b->bytes);
		b->pending = rx_xrealloc(b->pending, n * sizeof *b->pending);
		b->idx = rx_xrealloc(b->idx, n * sizeof *b->idx);
	}
	b->op = op;
	b->n = n;
	b->results = results;
	rx_buf_reset(&b->vals);
	b->nvalues = 0;
	for (size_t i = 0; i < n; i++) {
		results[i].ok = 0;
		results[i].message[0] = '\0';
		b->pending[i] = 0;
		prepare_record(d, b, op, rows[i], i, &results[i]);
	}
	pthread_mutex_lock(&d->lock);
	b->state = B_QUEUED;
	pthread_cond_signal(&d->work);
	pthread_mutex_unlock(&d->lock);
	d->nfly++;
	return 0;
}

/* The oldest batch sent: wait for the worker to run it. */
static int my_finish(rx_db *d, char *err, size_t errlen)
{
	err[0] = '\0';
	if (d->nfly == 0) {
		snprintf(err, errlen, "MySQL: no batch in flight");
		return -1;
	}
	my_batch *b = &d->fly[d->first_fly];
	pthread_mutex_lock(&d->lock);
	while (b->state != B_DONE)
		pthread_cond_wait(&d->done, &d->lock);
	b->state = B_FREE;
	pthread_mutex_unlock(&d->lock);
	d->first_fly = (d->first_fly + 1) % DEPTH;
	d->nfly--;
	if (b->rc < 0)
		snprintf(err, errlen, "%s", b->err);
	return b->rc;
}

static int my_apply(rx_db *d, const char *opname, const rx_span *ids, const rx_span *rows, size_t n, rx_db_result *results,
		    char *err, size_t errlen)
{
	if (my_send(d, opname, ids, rows, n, results, err, errlen) < 0)
		return -1;
	return my_finish(d, err, errlen);
}

const rx_db_driver rx_db_mysql = {"mysql", 1, my_open, my_apply, my_close, DEPTH, my_send, my_finish};
