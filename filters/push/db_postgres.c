/*
 * db_postgres.c - rx-push's PostgreSQL destination (the db.h interface).
 *
 * Writes into an existing table: upsert as INSERT ... ON CONFLICT (key
 * columns) DO UPDATE SET (the other members) = EXCLUDED, insert, update
 * and delete by the key columns.  One transaction per batch; each record
 * under its own savepoint, so a constraint violation rejects that record
 * (with the server's message) and the rest of the batch commits.
 *
 * NOTES ON THE DESIGN
 *
 *  - Columns are read from the catalogue at open: a member with no column
 *    of its name rejects its record (a mapping mistake is loud, not a
 *    silent drop); for a delete only the key members matter.
 *  - Values are text parameters and the server casts them to the column's
 *    type: strings as their decoded text, numbers as their JSON text (a
 *    big number arrives as a string and lands exact in numeric or bigint),
 *    true/false, null as NULL.  json/jsonb columns take the member's JSON
 *    text (any kind); array columns take a JSON array as an array literal;
 *    bytea columns take base64 (what rx-extract writes), decoded by the
 *    server.
 *  - One prepared statement per (op, member list), kept across batches:
 *    a model's rows have one member list, so one statement per op.
 *  - Round trips: the records of a batch are pipelined (libpq pipeline
 *    mode), SEGMENT records per Sync, each as SAVEPOINT, the statement,
 *    RELEASE.  When a record fails, the server skips the rest of the
 *    segment; the driver rolls back to that record's savepoint, rejects
 *    it, and sends the records after it again.  A batch without failures
 *    costs a few round trips whatever its size.
 *  - An update that finds no row rejects its record ("no row with this
 *    key"); a delete that finds none is done (the row is gone either way).
 *  - A lost connection, or a COMMIT that fails, fails the whole batch
 *    (-1): nothing is acknowledged, and the records stay unacked.
 *  - The bulk path: a batch of at least bulk_min_records records (the
 *    profile's, default BULK_MIN) of one member list is COPYed into a
 *    temporary table shaped like the columns written (their types and
 *    typmods from the catalogue, so COPY converts each value as a
 *    parameter would be; bytea stays base64 text, decoded in the merge),
 *    then merged by one statement: INSERT ... SELECT (ON CONFLICT ... DO
 *    UPDATE for upsert), UPDATE ... FROM ... RETURNING the ordinals
 *    updated (a key found nowhere rejects its record; the temporary
 *    table's UNIQUE key makes a key given twice fail the COPY), or
 *    DELETE ... USING, the last two as nested loops over the table's
 *    index (the temporary table has no statistics, and a hash join
 *    would scan the whole table for each batch).  All of it under a savepoint: when any of it fails (a value
 *    the column refuses, a constraint, a key twice in an update) the
 *    savepoint is rolled back and the batch takes the per-record path,
 *    which rejects exactly the records at fault.  The temporary table is
 *    made once per statement (ON COMMIT DELETE ROWS empties it at each
 *    commit) and lives as long as the session.
 *  - Insert and upsert try first the COPY straight into the table (under
 *    the same savepoint): for keys new to it, what the merge would write,
 *    at half the writes.  A key already there fails it; the batch then
 *    takes the temporary table (and the next batches too, for a pause
 *    that doubles up to 64 batches at each such failure).  The statements
 *    of a bulk batch go as one query string: two round trips a batch.
 *  - Batches in flight (db.h send/finish, DEPTH 2): pg_send checks the
 *    next batch's records, finds their statements and writes its whole
 *    COPY data and query string in the caller's thread while the server
 *    still runs the batch before it; a worker thread sends a batch's bulk
 *    query string and COPY data and reads its results, so the server is
 *    fed as fast as it parses while rx-push reads, checks and acks.  When
 *    the query string did the whole batch (COPY, merge, COMMIT: "clean")
 *    and the next batch is queued, the worker sends that one at once: the
 *    server never waits for the caller's thread.  Otherwise the worker
 *    stops, and pg_finish does whatever else the batch needs in the
 *    caller's thread (the savepoint rolled back, the temporary table after
 *    a direct COPY that failed, the per-record path, the COMMIT), then
 *    starts the next batch.  The worker touches the connection and its
 *    batch only, and only while it has a job; the caller's thread uses the
 *    connection only while it has none, and reads a batch's results only
 *    once the worker is done with it.  So batches run one after the other
 *    on the one connection, each its own transaction, with exactly
 *    pg_apply's results, and pg_finish returns (the caller acks) only
 *    after the batch's COMMIT answered.  A batch that needs the server
 *    before it can be sent (a statement or bulk table not made yet, a
 *    connection to make again, statements forgotten since it was checked:
 *    the epoch) is checked again and run whole in the caller's thread at
 *    its turn.  Whether a batch tries the direct COPY is decided when it
 *    is written; when the batch before then failed its direct COPY, the
 *    temporary table is taken instead (it is never chained after that).
 *    The worker blocks every signal: they stay the main thread's.
 */
#include "db.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum {
	SEGMENT = 100,     /* records per pipeline Sync */
	MAX_CACHED = 64,   /* prepared statements kept before starting over */
	BULK_MIN = 100,    /* records in a batch from which COPY and one merge are used */
	COPY_CHUNK = 16 << 10, /* bytes of COPY data handed to libpq at a time */
};

typedef struct pg_column {
	char *name;    /* plain */
	size_t namelen; /* strlen(name): matched against every member of every row */
	char category; /* pg_type.typcategory: 'A' array, ... */
	int json;      /* json or jsonb */
	int bytea;     /* bytea */
	int is_key;    /* one of the key columns */
	char *type;    /* format_type(): the type with its typmod, for the bulk table */
} pg_column;

typedef struct pg_statement {
	char *signature; /* op + member-to-column map */
	char name[32];   /* prepared statement name */
	int ok;          /* prepared; else message says why not */
	char *message;
	int bulk;        /* bulk path: 0 not tried yet, 1 its table exists, -1 not possible */
	char *bulk_copy; /* COPY rx_bulk_N (...) FROM STDIN */
	char *bulk_merge; /* the merge statement, after the SET LOCALs it needs */
	char *direct_copy; /* insert, upsert: COPY table (...) FROM STDIN, or NULL */
	unsigned skip, backoff; /* batches not to try direct_copy for, and the next such pause */
	char op[8];        /* its op, and */
	size_t *map, nmap; /* the member-to-column map of its records (the signature, unprinted) */
} pg_statement;

/* One batch: checked, mapped and (the bulk path) its COPY data written
 * by pg_send in the caller's thread; sent and read by the worker (its
 * bulk query string) or by the caller's thread (everything else). */
typedef struct pg_batch {
	int state;              /* B_FREE, B_READY (checked), B_DONE; the caller's thread's only */
	int async;              /* ready for the worker: its bulk COPY data written */
	int launched;           /* the worker sent its bulk query string (or is sending it) */
	unsigned long epoch;    /* rx_db.epoch when checked: its statement indexes hold */
	char op[8];
	const rx_span *rows;    /* the caller's, as its results */
	size_t n;
	rx_db_result *results;
	size_t *stmt_of;        /* per record: index in stmts, or -1 (rejected, or done) */
	unsigned char *hit;     /* bulk update: the records whose key found a row */
	rx_member *bm;          /* the rows' members, as scanned: record i's from bm_off[i] */
	size_t *bm_off, *bm_n;  /* (bm_n[i] of them) */
	size_t bm_len, bm_cap, cap;
	size_t bulk, nbulk, nsent; /* the bulk statement (or -1), its records, the records to send */
	int all;                /* every record to send is the bulk statement's */
	rx_buf copy;            /* the bulk records' COPY data */
	rx_buf sql;             /* the bulk query string */
	/* the query string's shape (bulk_query) */
	int direct, is_update, commit, before, undo;
	/* what sending it found (transmit) */
	int sent;               /* W_READ, W_REFUSED, W_LOST */
	int failed, nres, committed;
	char msg[400];
	/* under rx_db.lock: the worker's view */
	unsigned long seq;      /* the order sent */
	int queued;             /* the worker may take it after the batch before, if that one ends clean */
	int taken;              /* the worker took it (rx_db.job) */
	int done;               /* the worker sent and read it */
	int rc;                 /* B_DONE: as apply's */
	char err[1024];
} pg_batch;

enum { B_FREE, B_READY, B_DONE };
enum { W_READ, W_REFUSED, W_LOST };
enum { DEPTH = 2 };     /* batches sent and not finished: one at the server, the next checked and written */

struct rx_db {
	PGconn *conn;            /* the connection */
	char *table;             /* the table's SQL name, as the server spells it */
	pg_column *cols;         /* the table's columns, in order */
	size_t ncols;
	size_t *keys;            /* indexes of the key columns in cols */
	size_t nkeys;
	pg_statement *stmts;     /* prepared statements */
	size_t nstmts, capstmts;
	unsigned long serial;    /* for statement names */
	rx_members ms;           /* scratch: a row's members */
	size_t *map;             /* scratch: member i writes column map[i] */
	size_t *guess;           /* scratch: the column member i named in the row before */
	size_t capmap;
	int guess_ok;            /* guess is the map of the last row mapped, all columns, no column twice */
	size_t guess_n;          /* (of guess_n members, */
	char guess_op;           /* for this op's first letter) */
	size_t *key_member;      /* there: the member of each key column (nkeys) */
	long last;               /* the statement of the record before, or -1 */
	rx_buf sql, sig, text;   /* scratch */
	rx_buf *values;          /* scratch: one text parameter per member */
	const char **params;     /* pointers into values (NULL for NULL) */
	size_t capvalues;
	size_t bulk_min;         /* records from which the bulk path is taken */
	unsigned long epoch;     /* counts forget_statements: a batch checked before holds no index */
	pg_batch fly[DEPTH];     /* the batches sent and not finished: a ring */
	size_t first, nfly;
	pthread_t worker;        /* sends the bulk query strings (d->job) */
	int started, stop;       /* the worker runs; it is to stop */
	pg_batch *job;           /* the worker's batch, or NULL */
	unsigned long seq;       /* batches sent */
	pthread_mutex_t lock;    /* job, stop, seq and fly[]'s queued, taken, done */
	pthread_cond_t work, done;
};

static void put_ident(rx_buf *b, const char *s)
{
	rx_buf_putc(b, '"');
	for (; *s; s++) {
		if (*s == '"')
			rx_buf_putc(b, '"');
		rx_buf_putc(b, *s);
	}
	rx_buf_putc(b, '"');
}

static void notice(void *arg, const char *message)
{
	(void)arg, (void)message; /* the results carry what matters */
}

static void pg_close(rx_db *d)
{
	if (d == NULL)
		return;
	if (d->started) { /* idle: the caller finished every batch */
		pthread_mutex_lock(&d->lock);
		d->stop = 1;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->lock);
		pthread_join(d->worker, NULL);
	}
	PQfinish(d->conn);
	free(d->table);
	for (size_t i = 0; i < d->ncols; i++) {
		free(d->cols[i].name);
		free(d->cols[i].type);
	}
	free(d->cols);
	free(d->keys);
	free(d->key_member);
	for (size_t i = 0; i < d->nstmts; i++) {
		free(d->stmts[i].signature);
		free(d->stmts[i].message);
		free(d->stmts[i].bulk_copy);
		free(d->stmts[i].bulk_merge);
		free(d->stmts[i].direct_copy);
		free(d->stmts[i].map);
	}
	free(d->stmts);
	free(d->ms.m);
	free(d->map);
	free(d->guess);
	rx_buf_free(&d->sql);
	rx_buf_free(&d->sig);
	rx_buf_free(&d->text);
	for (size_t i = 0; i < d->capvalues; i++)
		rx_buf_free(&d->values[i]);
	free(d->values);
	free(d->params);
	for (size_t i = 0; i < DEPTH; i++) {
		pg_batch *b = &d->fly[i];
		free(b->stmt_of);
		free(b->hit);
		free(b->bm);
		free(b->bm_off);
		free(b->bm_n);
		rx_buf_free(&b->copy);
		rx_buf_free(&b->sql);
	}
	pthread_mutex_destroy(&d->lock);
	pthread_cond_destroy(&d->work);
	pthread_cond_destroy(&d->done);
	free(d);
}

static void session_settings(rx_db *d);

static rx_db *pg_open(const char *target, const char *table, char *const *keys, size_t nkeys, jv profile,
		      char *err, size_t errlen)
{
	rx_db *d = rx_xmalloc(sizeof *d);
	PGresult *res = NULL;
	char msg[512];

	memset(d, 0, sizeof *d);
	pthread_mutex_init(&d->lock, NULL);
	pthread_cond_init(&d->work, NULL);
	pthread_cond_init(&d->done, NULL);
	d->bulk_min = BULK_MIN;
	d->last = -1;
	if (jv_get_kind(profile) == JV_KIND_OBJECT) {
		jv v = jv_object_get(jv_copy(profile), jv_string("bulk_min_records"));
		if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 1)
			d->bulk_min = jv_number_value(v) > 1e12 ? (size_t)-1 : (size_t)jv_number_value(v);
		jv_free(v);
	}
	d->conn = PQconnectdb(target);
	if (d->conn == NULL || PQstatus(d->conn) != CONNECTION_OK) {
		rx_one_line(d->conn ? PQerrorMessage(d->conn) : "out of memory", msg, sizeof msg);
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", msg);
		goto fail;
	}
	session_settings(d);
	if (nkeys == 0) {
		snprintf(err, errlen, "the postgres destination needs the key columns (--key)");
		goto fail;
	}

	/* the table as the server resolves the name (search_path, quoting) */
	const char *values[1] = {table};
	res = PQexecParams(d->conn,
			   "SELECT c.oid::regclass::text, a.attname, t.typcategory, a.atttypid IN (114, 3802),"
			   " a.atttypid = 17 OR t.typbasetype = 17, format_type(a.atttypid, a.atttypmod)"
			   " FROM pg_catalog.pg_class c"
			   " JOIN pg_catalog.pg_attribute a ON a.attrelid = c.oid"
			   " JOIN pg_catalog.pg_type t ON t.oid = a.atttypid"
			   " WHERE c.oid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped"
			   " ORDER BY a.attnum",
			   1, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
		snprintf(err, errlen, "PostgreSQL table '%s': %s", table, msg);
		goto fail;
	}
	d->ncols = (size_t)PQntuples(res);
	if (d->ncols == 0) {
		snprintf(err, errlen, "PostgreSQL table '%s' has no columns", table);
		goto fail;
	}
	d->table = rx_xstrdup(PQgetvalue(res, 0, 0));
	d->cols = rx_xmalloc(d->ncols * sizeof *d->cols);
	for (size_t i = 0; i < d->ncols; i++) {
		d->cols[i].name = rx_xstrdup(PQgetvalue(res, (int)i, 1));
		d->cols[i].namelen = strlen(d->cols[i].name);
		d->cols[i].category = PQgetvalue(res, (int)i, 2)[0];
		d->cols[i].json = PQgetvalue(res, (int)i, 3)[0] == 't';
		d->cols[i].bytea = PQgetvalue(res, (int)i, 4)[0] == 't';
		d->cols[i].is_key = 0;
		d->cols[i].type = rx_xstrdup(PQgetvalue(res, (int)i, 5));
	}
	d->keys = rx_xmalloc(nkeys * sizeof *d->keys);
	d->key_member = rx_xmalloc(nkeys * sizeof *d->key_member);
	for (size_t k = 0; k < nkeys; k++) {
		size_t i;
		for (i = 0; i < d->ncols; i++)
			if (strcmp(d->cols[i].name, keys[k]) == 0)
				break;
		if (i == d->ncols) {
			snprintf(err, errlen, "PostgreSQL table '%s' has no key column '%s'", table, keys[k]);
			goto fail;
		}
		d->keys[k] = i;
		d->cols[i].is_key = 1;
	}
	d->nkeys = nkeys;
	PQclear(res);
	return d;
fail:
	PQclear(res);
	pg_close(d);
	return NULL;
}

/* Map the row's members (d->ms) to columns; 0, or -1 with why.  same:
 * their names are those of the last row mapped, byte for byte. */
static int map_members(rx_db *d, const char *op, int same, char *why, size_t whylen)
{
	int is_delete = strcmp(op, "delete") == 0;

	/* rows of a model name the same members in the same order: when each
	 * member names the column it named in the last row mapped, that row's
	 * map is this one's (and its checks hold: no member twice, the keys
	 * there), but for the keys' values */
	if (d->guess_ok && d->guess_n == d->ms.n && d->guess_op == op[0]) {
		size_t m;
		for (m = 0; m < d->ms.n; m++) {
			size_t i = d->guess[m];
			if (!same && !rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, d->cols[i].namelen))
				break;
			d->map[m] = is_delete && !d->cols[i].is_key ? (size_t)-1 : i;
		}
		if (m == d->ms.n) {
			if (op[0] == 'i')
				return 0;
			for (size_t k = 0; k < d->nkeys; k++)
				if (rx_json_kind(d->ms.m[d->key_member[k]].value) == 'z') {
					snprintf(why, whylen, "the row's key column \"%s\" is missing or null",
						 d->cols[d->keys[k]].name);
					return -1;
				}
			return 0;
		}
	}
	d->guess_ok = 0;
	if (d->capmap < d->ms.n) {
		size_t old = d->capmap;
		d->capmap = d->ms.n * 2;
		d->map = rx_xrealloc(d->map, d->capmap * sizeof *d->map);
		d->guess = rx_xrealloc(d->guess, d->capmap * sizeof *d->guess);
		for (size_t m = old; m < d->capmap; m++)
			d->guess[m] = (size_t)-1;
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		size_t i = d->guess[m];
		/* rows of a model name their members in one order: the column
		 * this member named in the row before, first */
		if (i == (size_t)-1 || !rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, d->cols[i].namelen))
			for (i = 0; i < d->ncols; i++)
				if (rx_json_name_eq(d->ms.m[m].name, d->cols[i].name, d->cols[i].namelen))
					break;
		d->guess[m] = i == d->ncols ? (size_t)-1 : i;
		if (i == d->ncols) {
			if (is_delete) { /* a delete needs only the keys */
				d->map[m] = (size_t)-1;
				continue;
			}
			rx_buf_reset(&d->text);
			rx_json_string_decode(d->ms.m[m].name, &d->text);
			snprintf(why, whylen, "no column \"%s\" in table %s", d->text.data ? d->text.data : "",
				 d->table);
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
		for (m = 0; m < d->ms.n; m++)
			if (d->map[m] == d->keys[k])
				break;
		if (strcmp(op, "insert") == 0)
			continue;
		if (m == d->ms.n || rx_json_kind(d->ms.m[m].value) == 'z') {
			snprintf(why, whylen, "the row's key column \"%s\" is missing or null",
				 d->cols[d->keys[k]].name);
			return -1;
		}
		d->key_member[k] = m;
	}
	/* every member named a column (for a delete, each the one it guessed
	 * or none), no column twice: the fast way above holds for the next
	 * row with these names */
	d->guess_ok = 1;
	for (size_t m = 0; m < d->ms.n; m++)
		if (d->guess[m] == (size_t)-1)
			d->guess_ok = 0;
	d->guess_n = d->ms.n;
	d->guess_op = op[0];
	return 0;
}

/* The map of a record checked before (map_members) that statement st
 * writes: its signature is that map. */
static void use_map(rx_db *d, const pg_statement *st)
{
	memcpy(d->map, st->map, st->nmap * sizeof *d->map);
}

/* "$N", or "decode($N, 'base64')" for a bytea column. */
static void put_param(rx_buf *s, const pg_column *c, size_t n)
{
	if (c->bytea)
		rx_buf_printf(s, "decode($%zu, 'base64')", n);
	else
		rx_buf_printf(s, "$%zu", n);
}

/* The member index writing column col, or -1. */
static long member_of(const rx_db *d, size_t col)
{
	for (size_t m = 0; m < d->ms.n; m++)
		if (d->map[m] == col)
			return (long)m;
	return -1;
}

/* Build the SQL for op over the mapped members into d->sql. */
static void build_sql(rx_db *d, const char *op)
{
	rx_buf *s = &d->sql;
	int first = 1;

	rx_buf_reset(s);
	if (strcmp(op, "delete") == 0 || strcmp(op, "update") == 0) {
		if (op[0] == 'd') {
			rx_buf_printf(s, "DELETE FROM %s", d->table);
		} else {
			rx_buf_printf(s, "UPDATE %s SET ", d->table);
			for (size_t m = 0; m < d->ms.n; m++) {
				const pg_column *c;
				if (d->map[m] == (size_t)-1 || d->cols[d->map[m]].is_key)
					continue;
				c = &d->cols[d->map[m]];
				if (!first)
					rx_buf_puts(s, ", ");
				first = 0;
				put_ident(s, c->name);
				rx_buf_puts(s, " = ");
				put_param(s, c, m + 1);
			}
			if (first) { /* nothing but keys: find the row, change nothing */
				put_ident(s, d->cols[d->keys[0]].name);
				rx_buf_puts(s, " = ");
				put_ident(s, d->cols[d->keys[0]].name);
			}
		}
		rx_buf_puts(s, " WHERE ");
		for (size_t k = 0; k < d->nkeys; k++) {
			const pg_column *c = &d->cols[d->keys[k]];
			if (k > 0)
				rx_buf_puts(s, " AND ");
			put_ident(s, c->name);
			rx_buf_puts(s, " = ");
			put_param(s, c, (size_t)member_of(d, d->keys[k]) + 1);
		}
		return;
	}
	rx_buf_printf(s, "INSERT INTO %s (", d->table);
	for (size_t m = 0; m < d->ms.n; m++) {
		if (m > 0)
			rx_buf_puts(s, ", ");
		put_ident(s, d->cols[d->map[m]].name);
	}
	rx_buf_puts(s, ") VALUES (");
	for (size_t m = 0; m < d->ms.n; m++) {
		if (m > 0)
			rx_buf_puts(s, ", ");
		put_param(s, &d->cols[d->map[m]], m + 1);
	}
	rx_buf_putc(s, ')');
	if (strcmp(op, "upsert") != 0)
		return;
	rx_buf_puts(s, " ON CONFLICT (");
	for (size_t k = 0; k < d->nkeys; k++) {
		if (k > 0)
			rx_buf_puts(s, ", ");
		put_ident(s, d->cols[d->keys[k]].name);
	}
	rx_buf_puts(s, ") DO ");
	for (size_t m = 0; m < d->ms.n; m++) {
		const pg_column *c = &d->cols[d->map[m]];
		if (c->is_key)
			continue;
		rx_buf_puts(s, first ? "UPDATE SET " : ", ");
		first = 0;
		put_ident(s, c->name);
		rx_buf_puts(s, " = EXCLUDED.");
		put_ident(s, c->name);
	}
	if (first)
		rx_buf_puts(s, "NOTHING");
}

static const char *result_message(PGconn *conn, PGresult *res, char *msg, size_t msglen);

/* The statement for op over the mapped members, prepared once.  Outside a
 * transaction: a statement that cannot be prepared (a type mismatch the
 * server sees at parse time) rejects its records, and the batch goes on.
 * Returns its index, or -1 when the connection is gone; without server
 * (the worker may be using the connection), -2 for a statement not
 * prepared yet. */
static long statement(rx_db *d, const char *op, int server)
{
	PGresult *res;
	char msg[512];

	/* most often the statement of the record before */
	if (d->last >= 0) {
		const pg_statement *l = &d->stmts[d->last];
		if (l->nmap == d->ms.n && strcmp(l->op, op) == 0 && memcmp(l->map, d->map, d->ms.n * sizeof *d->map) == 0)
			return d->last;
	}
	rx_buf_reset(&d->sig);
	rx_buf_puts(&d->sig, op);
	for (size_t m = 0; m < d->ms.n; m++)
		rx_buf_printf(&d->sig, ",%ld", d->map[m] == (size_t)-1 ? -1L : (long)d->map[m]);
	for (size_t i = 0; i < d->nstmts; i++)
		if (strcmp(d->stmts[i].signature, d->sig.data) == 0)
			return d->last = (long)i;
	if (!server)
		return -2;
	if (d->nstmts == d->capstmts) {
		d->capstmts = d->capstmts ? d->capstmts * 2 : 8;
		d->stmts = rx_xrealloc(d->stmts, d->capstmts * sizeof *d->stmts);
	}
	pg_statement *st = &d->stmts[d->nstmts];
	memset(st, 0, sizeof *st);
	st->signature = rx_xstrdup(d->sig.data);
	snprintf(st->op, sizeof st->op, "%s", op);
	st->nmap = d->ms.n;
	st->map = rx_xmalloc((d->ms.n ? d->ms.n : 1) * sizeof *st->map);
	memcpy(st->map, d->map, d->ms.n * sizeof *st->map);
	snprintf(st->name, sizeof st->name, "rx_push_%lu", ++d->serial);
	build_sql(d, op);
	/* every member is a parameter; the ones no column takes (a delete's
	 * other members) are declared text, the others typed by the server */
	Oid *types = rx_xmalloc((d->ms.n ? d->ms.n : 1) * sizeof *types);
	for (size_t m = 0; m < d->ms.n; m++)
		types[m] = d->map[m] == (size_t)-1 ? 25 : 0;
	res = PQprepare(d->conn, st->name, d->sql.data, (int)d->ms.n, types);
	free(types);
	if (PQresultStatus(res) == PGRES_COMMAND_OK) {
		st->ok = 1;
	} else {
		st->message = rx_xstrdup(result_message(d->conn, res, msg, sizeof msg));
	}
	PQclear(res);
	d->nstmts++;
	if (PQstatus(d->conn) != CONNECTION_OK)
		return -1;
	return d->last = (long)(d->nstmts - 1);
}

/* A JSON array as a PostgreSQL array literal: {"a b",NULL,{"1","2"}}. */
static void put_array_literal(rx_buf *out, rx_span v, rx_buf *tmp)
{
	const char *p = v.p, *end = v.p + v.n;
	int depth = 0;

	/* walk the raw text: brackets nest, each scalar becomes one element */
	while (p < end) {
		char c = *p;
		if (c == '[') {
			rx_buf_putc(out, '{');
			depth++;
			p++;
		} else if (c == ']') {
			rx_buf_putc(out, '}');
			depth--;
			p++;
		} else if (c == ',') {
			rx_buf_putc(out, ',');
			p++;
		} else if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			p++;
		} else {
			/* one element: find its end */
			const char *q = p;
			if (c == '"') {
				for (q++; q < end && *q != '"'; q++)
					if (*q == '\\')
						q++;
				q++;
			} else if (c == '{') { /* an object element: its JSON text */
				int nest = 0, in_string = 0;
				for (; q < end; q++) {
					if (in_string) {
						if (*q == '\\')
							q++;
						else if (*q == '"')
							in_string = 0;
					} else if (*q == '"') {
						in_string = 1;
					} else if (*q == '{' || *q == '[') {
						nest++;
					} else if (*q == '}' || *q == ']') {
						if (--nest == 0) {
							q++;
							break;
						}
					}
				}
			} else {
				while (q < end && *q != ',' && *q != ']' && *q != ' ')
					q++;
			}
			rx_span e = rx_span_of(p, (size_t)(q - p));
			char kind = rx_json_kind(e);
			if (kind == 'z') {
				rx_buf_puts(out, "NULL");
			} else {
				rx_buf_reset(tmp);
				if (kind == 's')
					rx_json_string_decode(e, tmp);
				else if (kind == 'o')
					rx_json_put_compact(tmp, e);
				else
					rx_buf_put(tmp, e.p, e.n);
				rx_buf_putc(out, '"');
				for (size_t i = 0; i < tmp->len; i++) {
					if (tmp->data[i] == '"' || tmp->data[i] == '\\')
						rx_buf_putc(out, '\\');
					rx_buf_putc(out, tmp->data[i]);
				}
				rx_buf_putc(out, '"');
			}
			p = q;
		}
	}
	(void)depth;
}

/* The text parameters of the mapped members, into d->params. */
static void fill_params(rx_db *d)
{
	if (d->capvalues < d->ms.n) {
		size_t old = d->capvalues;
		d->capvalues = d->ms.n * 2;
		d->values = rx_xrealloc(d->values, d->capvalues * sizeof *d->values);
		memset(d->values + old, 0, (d->capvalues - old) * sizeof *d->values);
		d->params = rx_xrealloc(d->params, d->capvalues * sizeof *d->params);
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		rx_buf *b = &d->values[m];
		rx_span v = d->ms.m[m].value;
		char kind = rx_json_kind(v);
		rx_buf_reset(b);
		d->params[m] = NULL;
		if (d->map[m] == (size_t)-1 || kind == 'z')
			continue;
		const pg_column *c = &d->cols[d->map[m]];
		if (c->json)
			rx_json_put_compact(b, v);
		else if (kind == 's')
			rx_json_string_decode(v, b);
		else if (kind == 'a' && c->category == 'A')
			put_array_literal(b, v, &d->text);
		else if (kind == 'o' || kind == 'a')
			rx_json_put_compact(b, v);
		else
			rx_buf_put(b, v.p, v.n);
		rx_buf_putc(b, '\0'); /* an empty string still needs its NUL */
		b->len--;
		d->params[m] = b->data;
	}
}

/* Exec a command outside the pipeline; 0 or -1 with err. */
static int exec(rx_db *d, const char *sql, char *err, size_t errlen)
{
	PGresult *res = PQexec(d->conn, sql);
	int rc = PQresultStatus(res) == PGRES_COMMAND_OK ? 0 : -1;
	if (rc < 0) {
		char msg[400];
		rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
		snprintf(err, errlen, "%s: %s", sql, msg);
	}
	PQclear(res);
	return rc;
}

/* A rejected record's message: the server's message, its detail and its
 * SQLSTATE, on one line:
 *   duplicate key value violates unique constraint "t_pkey": Key (id)=(1)
 *   already exists. (SQLSTATE 23505) */
static const char *result_message(PGconn *conn, PGresult *res, char *msg, size_t msglen)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *detail = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_DETAIL) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char text[1024];

	if (primary == NULL) {
		rx_one_line(PQerrorMessage(conn), msg, msglen);
		return msg;
	}
	snprintf(text, sizeof text, "%s%s%s%s%s%s", primary, detail ? ": " : "", detail ? detail : "",
		 state ? " (SQLSTATE " : "", state ? state : "", state ? ")" : "");
	rx_one_line(text, msg, msglen);
	return msg;
}

/* Send records [from, to) through the pipeline and read their results.
 * Returns the index of the first record that failed (it is rejected, the
 * transaction is left aborted), `to` when all went through, or -1 when
 * the connection failed (err says why). */
static long run_segment(rx_db *d, pg_batch *b, size_t from, size_t to, char *err, size_t errlen)
{
	const char *op = b->op;
	const rx_span *rows = b->rows;
	rx_db_result *results = b->results;
	char msg[512], scan_err[128];
	long failed = (long)to;
	int is_update = strcmp(op, "update") == 0;

	size_t any = from;
	while (any < to && b->stmt_of[any] == (size_t)-1)
		any++;
	if (any == to) /* nothing left to send here (the bulk path took them) */
		return (long)to;
	if (!PQenterPipelineMode(d->conn))
		goto lost;
	for (size_t i = from; i < to; i++) {
		if (b->stmt_of[i] == (size_t)-1)
			continue;
		rx_json_members(rows[i].p, rows[i].n, &d->ms, scan_err, sizeof scan_err);
		use_map(d, &d->stmts[b->stmt_of[i]]);
		fill_params(d);
		if (!PQsendQueryParams(d->conn, "SAVEPOINT rx_record", 0, NULL, NULL, NULL, NULL, 0) ||
		    !PQsendQueryPrepared(d->conn, d->stmts[b->stmt_of[i]].name, (int)d->ms.n, d->params, NULL,
					 NULL, 0) ||
		    !PQsendQueryParams(d->conn, "RELEASE SAVEPOINT rx_record", 0, NULL, NULL, NULL, NULL, 0))
			goto lost;
	}
	if (!PQpipelineSync(d->conn))
		goto lost;
	for (size_t i = from; i < to; i++) {
		if (b->stmt_of[i] == (size_t)-1)
			continue;
		for (int step = 0; step < 3; step++) {
			PGresult *res = PQgetResult(d->conn);
			ExecStatusType st = PQresultStatus(res);
			if (res == NULL)
				goto lost;
			if (st == PGRES_FATAL_ERROR && step == 1 && failed == (long)to) {
				results[i].ok = 0;
				snprintf(results[i].message, sizeof results[i].message, "%s",
					 result_message(d->conn, res, msg, sizeof msg));
				failed = (long)i;
			} else if (st == PGRES_FATAL_ERROR && failed == (long)to) {
				/* a savepoint that fails: the connection, not the record */
				snprintf(err, errlen, "%s", result_message(d->conn, res, msg, sizeof msg));
				PQclear(res);
				goto lost;
			} else if (st == PGRES_COMMAND_OK && step == 1 && failed == (long)to) {
				results[i].ok = 1;
				if (is_update && strcmp(PQcmdTuples(res), "0") == 0) {
					results[i].ok = 0;
					snprintf(results[i].message, sizeof results[i].message,
						 "no row with this key in %s", d->table);
				}
			}
			PQclear(res);
			res = PQgetResult(d->conn); /* NULL: the end of this command */
			PQclear(res);
		}
	}
	for (int tries = 0;; tries++) {
		PGresult *res = PQgetResult(d->conn);
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_PIPELINE_SYNC)
			break;
		if (PQstatus(d->conn) != CONNECTION_OK || tries > 8)
			goto lost;
	}
	if (!PQexitPipelineMode(d->conn))
		goto lost;
	return failed;
lost:
	if (err[0] == '\0') {
		rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
		snprintf(err, errlen, "PostgreSQL: %s", msg[0] ? msg : "the connection failed");
	}
	return -1;
}

static void forget_statements(rx_db *d)
{
	for (size_t i = 0; i < d->nstmts; i++) {
		free(d->stmts[i].signature);
		free(d->stmts[i].message);
		free(d->stmts[i].bulk_copy);
		free(d->stmts[i].bulk_merge);
		free(d->stmts[i].direct_copy);
		free(d->stmts[i].map);
	}
	d->nstmts = 0;
	d->last = -1;
	d->epoch++;
}

/* ---- the bulk path ---- */

/* The bulk table's column for a member: bytea travels as base64 text. */
static void put_bulk_value_expr(rx_buf *s, const pg_column *c, const char *alias)
{
	if (c->bytea)
		rx_buf_puts(s, "decode(");
	if (alias != NULL)
		rx_buf_printf(s, "%s.", alias);
	put_ident(s, c->name);
	if (c->bytea)
		rx_buf_puts(s, ", 'base64')");
}

/* "t.k = b.k AND ..." over the key columns. */
static void put_key_match(rx_buf *s, const rx_db *d)
{
	for (size_t k = 0; k < d->nkeys; k++) {
		const pg_column *c = &d->cols[d->keys[k]];
		if (k > 0)
			rx_buf_puts(s, " AND ");
		rx_buf_puts(s, "t.");
		put_ident(s, c->name);
		rx_buf_puts(s, " = ");
		put_bulk_value_expr(s, c, "b");
	}
}

/* Make statement st's bulk table and SQL (outside a transaction).  The
 * mapped members are d->ms / d->map (those of one of its records).  0,
 * or -1 when the connection is gone; st->bulk is 1 or -1 after it. */
static int bulk_prepare(rx_db *d, pg_statement *st, const char *op)
{
	rx_buf sql = {0}, cols = {0};
	char table[48];
	int first;

	snprintf(table, sizeof table, "pg_temp.rx_bulk_%lu", ++d->serial);
	/* the table: the columns written, typed as they are (an update's
	 * first an ordinal, the record each row is: RETURNING names the
	 * records whose key found a row).  Without the ordinal the COPY data
	 * of an insert or upsert is the same for this table and the direct
	 * COPY: written once, sent to either. */
	int update = strcmp(op, "update") == 0;
	rx_buf_printf(&sql, "CREATE TEMPORARY TABLE %s (", table);
	first = 1;
	if (update) {
		rx_buf_puts(&sql, "\"rx ordinal\" bigint");
		rx_buf_puts(&cols, ", \"rx ordinal\"");
		first = 0;
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		const pg_column *c;
		if (d->map[m] == (size_t)-1)
			continue;
		c = &d->cols[d->map[m]];
		if (!first)
			rx_buf_puts(&sql, ", ");
		first = 0;
		put_ident(&sql, c->name);
		rx_buf_printf(&sql, " %s", c->bytea ? "text" : c->type);
		rx_buf_puts(&cols, ", ");
		put_ident(&cols, c->name);
	}
	if (update) { /* a key given twice fails the COPY: its records go one by one, in order */
		rx_buf_puts(&sql, ", UNIQUE (");
		for (size_t k = 0; k < d->nkeys; k++) {
			if (k > 0)
				rx_buf_puts(&sql, ", ");
			put_ident(&sql, d->cols[d->keys[k]].name);
		}
		rx_buf_putc(&sql, ')');
	}
	rx_buf_puts(&sql, ") ON COMMIT DELETE ROWS");
	PGresult *res = PQexec(d->conn, sql.data);
	st->bulk = PQresultStatus(res) == PGRES_COMMAND_OK ? 1 : -1;
	PQclear(res);
	if (st->bulk < 0)
		goto done;

	rx_buf_reset(&sql);
	rx_buf_printf(&sql, "COPY %s (%s) FROM STDIN", table, cols.data ? cols.data + 2 : "");
	st->bulk_copy = rx_xstrdup(sql.data);

	rx_buf_reset(&sql);
	first = 1;
	if (update) {
		/* the temporary table has no statistics: without these the
		 * planner may hash-join it with the whole table, a scan per batch */
		rx_buf_puts(&sql, "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; ");
		rx_buf_printf(&sql, "UPDATE %s AS t SET ", d->table);
		for (size_t m = 0; m < d->ms.n; m++) {
			const pg_column *c;
			if (d->map[m] == (size_t)-1 || d->cols[d->map[m]].is_key)
				continue;
			c = &d->cols[d->map[m]];
			if (!first)
				rx_buf_puts(&sql, ", ");
			first = 0;
			put_ident(&sql, c->name);
			rx_buf_puts(&sql, " = ");
			put_bulk_value_expr(&sql, c, "b");
		}
		if (first) { /* nothing but keys: find the row, change nothing */
			put_ident(&sql, d->cols[d->keys[0]].name);
			rx_buf_puts(&sql, " = t.");
			put_ident(&sql, d->cols[d->keys[0]].name);
		}
		rx_buf_printf(&sql, " FROM %s AS b WHERE ", table);
		put_key_match(&sql, d);
		rx_buf_puts(&sql, " RETURNING b.\"rx ordinal\"");
		st->bulk_merge = rx_xstrdup(sql.data);
		goto done;
	}

	rx_buf_reset(&sql);
	if (strcmp(op, "delete") == 0) {
		rx_buf_puts(&sql, "SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; ");
		rx_buf_printf(&sql, "DELETE FROM %s AS t USING %s AS b WHERE ", d->table, table);
		put_key_match(&sql, d);
		st->bulk_merge = rx_xstrdup(sql.data);
		goto done;
	}
	/* insert, upsert: first tried straight into the table (see run_bulk);
	 * base64 for a bytea column would need decoding on the way */
	int direct = 1;
	for (size_t m = 0; m < d->ms.n; m++)
		if (d->cols[d->map[m]].bytea)
			direct = 0;
	if (direct) {
		rx_buf_printf(&sql, "COPY %s (%s) FROM STDIN", d->table, cols.data ? cols.data + 2 : "");
		st->direct_copy = rx_xstrdup(sql.data);
		rx_buf_reset(&sql);
	}
	/* the merge (ON CONFLICT: an index probe per row, whatever the
	 * planner thinks of the temporary table's size) */
	rx_buf_printf(&sql, "INSERT INTO %s (%s) SELECT ", d->table, cols.data ? cols.data + 2 : "");
	first = 1;
	for (size_t m = 0; m < d->ms.n; m++) {
		if (!first)
			rx_buf_puts(&sql, ", ");
		first = 0;
		put_bulk_value_expr(&sql, &d->cols[d->map[m]], NULL);
	}
	rx_buf_printf(&sql, " FROM %s", table);
	if (strcmp(op, "upsert") == 0) {
		rx_buf_puts(&sql, " ON CONFLICT (");
		for (size_t k = 0; k < d->nkeys; k++) {
			if (k > 0)
				rx_buf_puts(&sql, ", ");
			put_ident(&sql, d->cols[d->keys[k]].name);
		}
		rx_buf_puts(&sql, ") DO ");
		first = 1;
		for (size_t m = 0; m < d->ms.n; m++) {
			const pg_column *c = &d->cols[d->map[m]];
			if (c->is_key)
				continue;
			rx_buf_puts(&sql, first ? "UPDATE SET " : ", ");
			first = 0;
			put_ident(&sql, c->name);
			rx_buf_puts(&sql, " = EXCLUDED.");
			put_ident(&sql, c->name);
		}
		if (first)
			rx_buf_puts(&sql, "NOTHING");
	}
	st->bulk_merge = rx_xstrdup(sql.data);
done:
	rx_buf_free(&sql);
	rx_buf_free(&cols);
	return PQstatus(d->conn) == CONNECTION_OK ? 0 : -1;
}

/* Append s[0..n) in COPY's text format: backslash, tab, newline and
 * carriage return escaped. */
static void put_copy_text(rx_buf *b, const char *s, size_t n)
{
	size_t start = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i], e;
		switch (c) {
		case '\\': e = '\\'; break;
		case '\t': e = 't'; break;
		case '\n': e = 'n'; break;
		case '\r': e = 'r'; break;
		default: continue;
		}
		rx_buf_put(b, s + start, i - start);
		rx_buf_putc(b, '\\');
		rx_buf_putc(b, e);
		start = i + 1;
	}
	rx_buf_put(b, s + start, n - start);
}

/* The COPY data of the bulk statement's records of b, whole, into
 * b->copy: a line per record, its values in the statement's column
 * order (an update's first its ordinal).  The caller's thread, from the
 * members check_batch kept: the rows are not scanned again. */
static void build_copy(rx_db *d, pg_batch *b)
{
	const pg_statement *st = &d->stmts[b->bulk];
	int ordinal = strcmp(b->op, "update") == 0;
	rx_member *own = d->ms.m;
	size_t own_n = d->ms.n;
	rx_buf *out = &b->copy;

	rx_buf_reset(out);
	for (size_t i = 0; i < b->n; i++) {
		if (b->stmt_of[i] != b->bulk)
			continue;
		d->ms.m = b->bm + b->bm_off[i];
		d->ms.n = b->bm_n[i];
		use_map(d, st);
		/* most often no value to convert: the JSON text is the COPY text
		 * (a string without a backslash escape holds no backslash, tab
		 * or newline either: JSON has them only escaped), written
		 * straight into room made for the row's whole text */
		size_t start = out->len;
		if (out->len + b->rows[i].n + 24 > out->cap)
			rx_buf_reserve(out, b->rows[i].n + 24);
		char *w = out->data + out->len;
		int tab = 0, simple = 1;
		if (ordinal) {
			char digits[24], *p = digits + sizeof digits;
			size_t v = i;
			do
				*--p = (char)('0' + v % 10);
			while ((v /= 10) > 0);
			memcpy(w, p, (size_t)(digits + sizeof digits - p));
			w += digits + sizeof digits - p;
			tab = 1;
		}
		for (size_t m = 0; m < d->ms.n && simple; m++) {
			if (d->map[m] == (size_t)-1)
				continue;
			const rx_member *mb = &d->ms.m[m];
			rx_span v = mb->value;
			char c0 = v.p[0];
			if (tab)
				*w++ = '\t';
			tab = 1;
			if (c0 == 'n') {
				*w++ = '\\';
				*w++ = 'N';
			} else if (d->cols[d->map[m]].json || c0 == '{' || c0 == '[' || (c0 == '"' && mb->value_escaped)) {
				simple = 0;
			} else if (c0 == '"') {
				memcpy(w, v.p + 1, v.n - 2);
				w += v.n - 2;
			} else {
				memcpy(w, v.p, v.n);
				w += v.n;
			}
		}
		if (simple) {
			*w++ = '\n';
			out->len = (size_t)(w - out->data);
			out->data[out->len] = '\0';
			continue;
		}
		/* a value to convert: the row again, each value as a parameter */
		out->len = start;
		fill_params(d);
		tab = 0;
		if (ordinal) {
			rx_buf_printf(out, "%zu", i);
			tab = 1;
		}
		for (size_t m = 0; m < d->ms.n; m++) {
			if (d->map[m] == (size_t)-1)
				continue;
			if (tab)
				rx_buf_putc(out, '\t');
			tab = 1;
			if (d->params[m] == NULL)
				rx_buf_put(out, "\\N", 2);
			else
				put_copy_text(out, d->params[m], d->values[m].len);
		}
		rx_buf_putc(out, '\n');
	}
	d->ms.m = own;
	d->ms.n = own_n;
}

/* The bulk query string of b into b->sql: "[BEGIN;] SAVEPOINT rx_bulk;
 * COPY ...; [merge;] RELEASE SAVEPOINT rx_bulk[; COMMIT]", the server
 * skipping what follows a statement that fails.  direct: straight into
 * the table, else into the temporary table and the merge; begin: the
 * transaction starts here; commit: it ends here when all went well (the
 * caller has nothing else for it). */
static void bulk_query(rx_db *d, pg_batch *b, int direct, int begin, int commit)
{
	const pg_statement *st = &d->stmts[b->bulk];
	const char *merge = direct ? NULL : st->bulk_merge;

	b->direct = direct;
	b->is_update = strcmp(b->op, "update") == 0;
	b->commit = commit;
	b->before = (begin ? 1 : 0) + 1; /* results before the COPY's */
	/* a failure before this result: roll back to the savepoint (the
	 * COPY, the merge, an update's and a delete's SET LOCALs before it) */
	b->undo = 1 + (merge == NULL ? 0 : b->is_update || b->op[0] == 'd' ? 3 : 1);
	rx_buf_reset(&b->sql);
	rx_buf_printf(&b->sql, "%sSAVEPOINT rx_bulk; %s", begin ? "BEGIN; " : "", direct ? st->direct_copy : st->bulk_copy);
	if (merge != NULL)
		rx_buf_printf(&b->sql, "; %s", merge);
	rx_buf_printf(&b->sql, "; RELEASE SAVEPOINT rx_bulk%s", commit ? "; COMMIT" : "");
}

/* Read and drop every result left, ending a COPY still open. */
static void drain(PGconn *conn)
{
	PGresult *res;

	while ((res = PQgetResult(conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_COPY_IN)
			PQputCopyEnd(conn, "rx-push: abandoned");
		else if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			break;
	}
}

/* Send b's bulk query string, its COPY data once the server is in COPY
 * (COPY_CHUNK at a time: the server parses while the rest travels), and
 * read every result into b (sent, failed, nres, committed, msg, hit).
 * The worker's (or the caller's thread's, for a batch run there): it
 * touches the connection and b, nothing else of rx_db. */
static void transmit(PGconn *conn, pg_batch *b)
{
	PGresult *res;

	b->sent = W_LOST;
	b->failed = -1;
	b->nres = 0;
	b->committed = 0;
	b->msg[0] = '\0';
	if (!PQsendQuery(conn, b->sql.data))
		return;
	for (int r = 0;; r++) { /* BEGIN's and SAVEPOINT's, then the COPY's start */
		res = PQgetResult(conn);
		ExecStatusType rs = PQresultStatus(res);
		int got = res != NULL;
		PQclear(res);
		if (got && rs == PGRES_COPY_IN && r == b->before)
			break;
		if (!got || rs != PGRES_COMMAND_OK || r >= b->before) {
			if (PQstatus(conn) != CONNECTION_OK)
				return;
			drain(conn);
			/* BEGIN or SAVEPOINT refused: the connection's fault, not
			 * the batch's; the COPY refused: back to the savepoint */
			if (!(r < b->before && got) && PQstatus(conn) == CONNECTION_OK)
				b->sent = W_REFUSED;
			return;
		}
	}
	for (size_t off = 0; off < b->copy.len; off += COPY_CHUNK) {
		size_t len = b->copy.len - off < COPY_CHUNK ? b->copy.len - off : COPY_CHUNK;
		if (PQputCopyData(conn, b->copy.data + off, (int)len) != 1)
			return;
	}
	if (PQputCopyEnd(conn, NULL) != 1)
		return;
	/* the COPY's result, the merge's, RELEASE's, COMMIT's: the first
	 * failure ends them */
	if (b->is_update)
		memset(b->hit, 0, b->n);
	int r = 0;
	for (; (res = PQgetResult(conn)) != NULL; r++) {
		ExecStatusType rs = PQresultStatus(res);
		if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
			if (b->failed < 0) {
				b->failed = r;
				result_message(conn, res, b->msg, sizeof b->msg);
			}
		} else if (b->is_update && rs == PGRES_TUPLES_OK) {
			for (int t = 0; t < PQntuples(res); t++) {
				unsigned long long ord = strtoull(PQgetvalue(res, t, 0), NULL, 10);
				if (ord < b->n)
					b->hit[ord] = 1;
			}
		} else if (b->commit && r == b->undo + 1 && strcmp(PQcmdStatus(res), "COMMIT") == 0) {
			b->committed = 1;
		}
		PQclear(res);
	}
	b->nres = r;
	if (PQstatus(conn) == CONNECTION_OK)
		b->sent = W_READ;
}

/* The connection failed: -1, err says why. */
static int lost_copy(rx_db *d, char *err, size_t errlen)
{
	char msg[400];

	if (err[0] != '\0')
		return -1;
	rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
	snprintf(err, errlen, "PostgreSQL: %s", msg[0] ? msg : "the connection failed");
	return -1;
}

/* What transmit found, in the caller's thread.  0: done (the bulk
 * records' results set, their stmt_of cleared so the per-record path
 * skips them; committed if b->commit); 1: it could not be done (rolled
 * back to before it, the transaction open: the caller tries another
 * way); -1: the batch failed (the connection, or the COMMIT: nothing of
 * it is committed), err says why. */
static int bulk_end(rx_db *d, pg_batch *b, char *err, size_t errlen)
{
	if (b->sent == W_LOST)
		return lost_copy(d, err, errlen);
	if (b->sent == W_REFUSED || (b->failed >= 0 && b->failed < b->undo)) {
		/* a value, a constraint: the per-record path finds whose */
		if (exec(d, "ROLLBACK TO SAVEPOINT rx_bulk; RELEASE SAVEPOINT rx_bulk", err, errlen) < 0)
			return -1;
		return 1;
	}
	if (b->failed >= 0 || b->nres != b->undo + 1 + (b->commit ? 1 : 0) || (b->commit && !b->committed)) {
		snprintf(err, errlen, "PostgreSQL: %s", b->failed >= 0 ? b->msg : "the transaction failed");
		return -1;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (b->stmt_of[i] != b->bulk)
			continue;
		b->results[i].ok = !b->is_update || b->hit[i];
		if (!b->results[i].ok)
			snprintf(b->results[i].message, sizeof b->results[i].message, "no row with this key in %s",
				 d->table);
		b->stmt_of[i] = (size_t)-1;
	}
	return 0;
}

/* The bulk records of b through COPY, in the caller's thread: as
 * bulk_query, transmit and bulk_end. */
static int run_bulk(rx_db *d, pg_batch *b, int direct, int begin, int commit, char *err, size_t errlen)
{
	bulk_query(d, b, direct, begin, commit);
	transmit(d->conn, b);
	return bulk_end(d, b, err, errlen);
}

/* Try the direct COPY for this batch of statement st?  (Not for a while
 * after one failed: keys a table has come in runs.) */
static int use_direct(pg_statement *st)
{
	if (st->direct_copy == NULL)
		return 0;
	if (st->skip > 0) {
		st->skip--;
		return 0;
	}
	return 1;
}

/* After a reconnection: the session's settings again. */
static void session_settings(rx_db *d)
{
	PQsetNoticeProcessor(d->conn, notice, NULL);
	PQsetClientEncoding(d->conn, "UTF8");
	PQclear(PQexec(d->conn, "SET DateStyle = 'ISO, YMD'"));
}

/* The first '"' or '\\' at or after p (end when none), sixteen bytes at
 * a time where SSE2 is: strings are most of a row's bytes. */
static inline const char *quote_or_backslash(const char *p, const char *end)
{
#ifdef __SSE2__
	while (end - p >= 16) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
		unsigned mask = (unsigned)_mm_movemask_epi8(
			_mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')), _mm_cmpeq_epi8(v, _mm_set1_epi8('\\'))));
		if (mask != 0)
			return p + __builtin_ctz(mask);
		p += 16;
	}
#endif
	while (p < end && *p != '"' && *p != '\\')
		p++;
	return p;
}

/* Split row into ms when it names the members prev names (n of them, in
 * that order) and is written compactly, as rx-extract and rx-diff write
 * rows: {"a":1,"b":"x"}.  Each name is compared whole and each value
 * skipped: a string to its closing quote (noting escapes), a number or a
 * literal to the comma or brace after it.  1 when it is so (ms as
 * rx_json_members would set it, and no name twice, as in prev); 0 for
 * anything else (white space, another name, an object or array value),
 * ms then unspecified: the caller splits the row the general way. */
static int same_shape(rx_members *ms, rx_span row, const rx_member *prev, size_t n)
{
	const char *p = row.p, *end = row.p + row.n;

	if (n == 0 || ms->cap < n || row.n < 2 || *p != '{' || end[-1] != '}')
		return 0;
	p++;
	for (size_t m = 0; m < n; m++) {
		rx_member *o = &ms->m[m];
		rx_span name = prev[m].name;
		if ((size_t)(end - p) < name.n + 2 || memcmp(p, name.p, name.n) != 0 || p[name.n] != ':')
			return 0;
		o->name = rx_span_of(p, name.n);
		o->name_escaped = prev[m].name_escaped;
		p += name.n + 1;
		const char *v = p;
		int esc = 0;
		if (*p == '"') {
			for (p++;; p += 2) {
				p = quote_or_backslash(p, end);
				if (p >= end)
					return 0;
				if (*p == '"')
					break;
				esc = 1; /* a backslash and the character it escapes */
			}
			p++;
		} else {
			if (*p == '{' || *p == '[')
				return 0;
			while (p < end && *p != ',' && *p != '}') {
				if ((unsigned char)*p <= ' ')
					return 0;
				p++;
			}
		}
		if (p == v || p >= end || *p != (m + 1 < n ? ',' : '}'))
			return 0;
		o->value = rx_span_of(v, (size_t)(p - v));
		o->value_escaped = (unsigned char)esc;
		p++;
	}
	if (p != end)
		return 0;
	ms->n = n;
	return 1;
}

/* Size b's per-record arrays for n records. */
static void batch_room(pg_batch *b, size_t n)
{
	if (b->cap >= n)
		return;
	b->cap = n;
	b->stmt_of = rx_xrealloc(b->stmt_of, n * sizeof *b->stmt_of);
	b->hit = rx_xrealloc(b->hit, n);
	b->bm_off = rx_xrealloc(b->bm_off, n * sizeof *b->bm_off);
	b->bm_n = rx_xrealloc(b->bm_n, n * sizeof *b->bm_n);
}

#define NEED_SERVER 2

/* Check and map every record of b, find their statements, choose the
 * bulk statement (b->bulk, nbulk, nsent, all).  A record that cannot be
 * written is rejected here and never sent.  server: statements and bulk
 * tables are made as needed (outside a transaction); without it (the
 * worker may be using the connection) NEED_SERVER when one is missing.
 * 0, or -1 when the connection is gone (err says why). */
static int check_batch(rx_db *d, pg_batch *b, int server, char *err, size_t errlen)
{
	char why[512];
	const char *op = b->op;
	const rx_span *rows = b->rows;
	size_t n = b->n;
	rx_db_result *results = b->results;

	batch_room(b, n);
	b->bm_len = 0;
	b->bulk = (size_t)-1;
	b->nbulk = b->nsent = 0;
	b->all = 0;
	for (size_t i = 0; i < n; i++) {
		results[i].ok = 0;
		results[i].message[0] = '\0';
		b->stmt_of[i] = (size_t)-1;
		/* rows of records rx-push scanned: split without validating
		 * again, most often as the row before was */
		int same = i > 0 && b->stmt_of[i - 1] != (size_t)-1 &&
			   same_shape(&d->ms, rows[i], b->bm + b->bm_off[i - 1], b->bm_n[i - 1]);
		if (!same && (rows[i].n == 0 || rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why) < 0)) {
			snprintf(results[i].message, sizeof results[i].message, "the change has no row object");
			continue;
		}
		/* kept for the bulk path (the members point into the row) */
		if (b->bm_len + d->ms.n > b->bm_cap) {
			b->bm_cap = (b->bm_len + d->ms.n) * 2;
			b->bm = rx_xrealloc(b->bm, b->bm_cap * sizeof *b->bm);
		}
		memcpy(b->bm + b->bm_len, d->ms.m, d->ms.n * sizeof *b->bm);
		b->bm_off[i] = b->bm_len;
		b->bm_n[i] = d->ms.n;
		b->bm_len += d->ms.n;
		if (map_members(d, op, same, why, sizeof why) < 0) {
			snprintf(results[i].message, sizeof results[i].message, "%s", why);
			continue;
		}
		long s = statement(d, op, server);
		if (s == -2)
			return NEED_SERVER;
		if (s < 0) {
			rx_one_line(PQerrorMessage(d->conn), why, sizeof why);
			snprintf(err, errlen, "PostgreSQL: %s", why);
			return -1;
		}
		if (!d->stmts[s].ok) {
			snprintf(results[i].message, sizeof results[i].message, "%s", d->stmts[s].message);
			continue;
		}
		b->stmt_of[i] = (size_t)s;
	}

	/* the bulk path, for the records of the first record's statement
	 * when there are enough of them */
	for (size_t i = 0; i < n; i++) {
		if (b->stmt_of[i] == (size_t)-1)
			continue;
		b->nsent++;
		if (b->bulk == (size_t)-1)
			b->bulk = b->stmt_of[i];
		if (b->stmt_of[i] == b->bulk)
			b->nbulk++;
	}
	b->all = b->nbulk == b->nsent;
	if (b->nbulk >= d->bulk_min && d->stmts[b->bulk].bulk == 0) {
		if (!server)
			return NEED_SERVER;
		for (size_t i = 0; i < n; i++) /* the statement's member map, again */
			if (b->stmt_of[i] == b->bulk) {
				rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why);
				map_members(d, op, 0, why, sizeof why);
				break;
			}
		if (bulk_prepare(d, &d->stmts[b->bulk], op) < 0) {
			rx_one_line(PQerrorMessage(d->conn), why, sizeof why);
			snprintf(err, errlen, "PostgreSQL: %s", why);
			return -1;
		}
	}
	return 0;
}

/* The rest of batch b once checked: the bulk path (its first query
 * string already sent by the worker when b->launched), the per-record
 * path for what is left, the COMMIT.  The caller's thread. */
static int run_rest(rx_db *d, pg_batch *b, char *err, size_t errlen)
{
	size_t n = b->n;
	rx_db_result *results = b->results;

	if (b->nbulk >= d->bulk_min && d->stmts[b->bulk].bulk == 1) {
		/* the batch is all the bulk statement's: its query string commits */
		pg_statement *st = &d->stmts[b->bulk];
		int direct, rc;
		if (b->launched) {
			direct = b->direct;
			rc = bulk_end(d, b, err, errlen);
		} else {
			direct = use_direct(st);
			build_copy(d, b);
			rc = run_bulk(d, b, direct, 1, b->all, err, errlen);
		}
		if (rc < 0)
			goto rollback;
		if (direct && rc == 0) {
			st->backoff = 0;
		} else if (direct) {
			/* straight into the table: for rows new to it (a first sync)
			 * the same as the merge at half the writes; a key already
			 * there fails it, and the temporary table takes the batch (the
			 * same COPY data), and the next ones for a while */
			st->backoff = st->backoff == 0 ? 1 : st->backoff < 64 ? st->backoff * 2 : 64;
			st->skip = st->backoff;
			rc = run_bulk(d, b, 0, 0, b->all, err, errlen);
			if (rc < 0)
				goto rollback;
		}
		if (rc == 0 && b->all)
			return 0;
		if (rc > 0) /* back to no result for any record */
			for (size_t i = 0; i < n; i++)
				if (b->stmt_of[i] != (size_t)-1)
					results[i].ok = 0;
	} else if (exec(d, "BEGIN", err, errlen) < 0) {
		return -1;
	}
	size_t from = 0;
	while (from < n) {
		size_t to = from + SEGMENT < n ? from + SEGMENT : n;
		long failed = run_segment(d, b, from, to, err, errlen);
		if (failed < 0)
			goto rollback;
		if ((size_t)failed < to) {
			/* that record's work is undone; the ones before it stay */
			if (exec(d, "ROLLBACK TO SAVEPOINT rx_record", err, errlen) < 0 ||
			    exec(d, "RELEASE SAVEPOINT rx_record", err, errlen) < 0)
				goto rollback;
			from = (size_t)failed + 1;
		} else {
			from = to;
		}
	}
	if (PQtransactionStatus(d->conn) != PQTRANS_INTRANS) {
		snprintf(err, errlen, "PostgreSQL: the transaction failed");
		goto rollback;
	}
	if (exec(d, "COMMIT", err, errlen) < 0)
		goto rollback;
	return 0;
rollback:
	for (size_t i = 0; i < n; i++)
		results[i].ok = 0;
	if (PQstatus(d->conn) == CONNECTION_OK && PQpipelineStatus(d->conn) == PQ_PIPELINE_OFF) {
		PQclear(PQexec(d->conn, "ROLLBACK"));
	} else {
		/* a pipeline left half-read: start over on a new connection (the
		 * server rolls the old one's transaction back) */
		forget_statements(d);
		PQreset(d->conn);
	}
	return -1;
}

/* Batch b whole, in the caller's thread (db.h apply). */
static int pg_run(rx_db *d, pg_batch *b, char *err, size_t errlen)
{
	char why[512];

	err[0] = '\0';
	b->launched = 0;
	if (PQstatus(d->conn) != CONNECTION_OK) {
		/* a connection lost on an earlier batch: try once to get it back */
		PQreset(d->conn);
		if (PQstatus(d->conn) != CONNECTION_OK) {
			rx_one_line(PQerrorMessage(d->conn), why, sizeof why);
			snprintf(err, errlen, "cannot connect to PostgreSQL: %s", why);
			return -1;
		}
		session_settings(d);
		forget_statements(d);
	}
	if (d->nstmts >= MAX_CACHED) {
		if (exec(d, "DEALLOCATE ALL", err, errlen) < 0 || exec(d, "DISCARD TEMP", err, errlen) < 0)
			return -1;
		forget_statements(d);
	}
	if (check_batch(d, b, 1, err, errlen) < 0)
		return -1;
	return run_rest(d, b, err, errlen);
}

/* ---- batches in flight (db.h send/finish) ---- */

/* Did b's query string do the whole batch (the bulk COPY and merge of all
 * its records, and the COMMIT)?  Then the caller's thread has nothing to
 * send for it, and the worker may go on to the next batch at once. */
static int clean(const pg_batch *b)
{
	return b->sent == W_READ && b->failed < 0 && b->commit && b->committed && b->nres == b->undo + 2;
}

/* The worker thread: the batch handed to it (d->job) sent and read on the
 * one connection; when it did the whole batch and the next one is queued
 * (checked and written while this one ran), that one at once, so the
 * server does not wait for the caller's thread; until pg_close stops it.
 * The caller's thread uses the connection only while the worker has no
 * job. */
static void *worker(void *arg)
{
	rx_db *d = arg;

	pthread_mutex_lock(&d->lock);
	for (;;) {
		while (d->job == NULL && !d->stop)
			pthread_cond_wait(&d->work, &d->lock);
		if (d->stop)
			break;
		pg_batch *b = d->job;
		pthread_mutex_unlock(&d->lock);
		transmit(d->conn, b);
		pthread_mutex_lock(&d->lock);
		b->done = 1; /* b is the caller's again */
		d->job = NULL;
		for (size_t i = 0; i < DEPTH && clean(b); i++) {
			pg_batch *next = &d->fly[i];
			if (next->queued && next->seq == b->seq + 1) {
				next->queued = 0;
				next->taken = 1;
				d->job = next;
			}
		}
		pthread_cond_broadcast(&d->done);
	}
	pthread_mutex_unlock(&d->lock);
	return NULL;
}

/* Can b go to the worker now (which has no job): checked with every
 * statement and the bulk table ready, its COPY data written, nothing
 * changed since? */
static int can_launch(rx_db *d, const pg_batch *b)
{
	if (!b->async || b->epoch != d->epoch || PQstatus(d->conn) != CONNECTION_OK || d->nstmts >= MAX_CACHED)
		return 0;
	if (!d->started) {
		int rc = rx_thread_start(&d->worker, worker, d); /* signals stay the main thread's */
		if (rc != 0)
			return 0; /* then in this thread, one batch after another */
		d->started = 1;
	}
	return 1;
}

/* Start batch b (the oldest in flight, not started; the worker has no
 * job): its bulk query string to the worker, or the whole batch here. */
static void start(rx_db *d, pg_batch *b)
{
	if (can_launch(d, b)) {
		pg_statement *st = &d->stmts[b->bulk];
		if (b->direct && st->skip > 0) {
			/* the batch before failed the direct COPY after this one
			 * was written: the temporary table, as it would have been */
			st->skip--;
			bulk_query(d, b, 0, 1, b->all);
		}
		b->err[0] = '\0';
		b->launched = 1;
		pthread_mutex_lock(&d->lock);
		b->taken = 1;
		d->job = b;
		pthread_cond_signal(&d->work);
		pthread_mutex_unlock(&d->lock);
		return;
	}
	b->rc = pg_run(d, b, b->err, sizeof b->err);
	b->state = B_DONE;
}

/* Check the batch and write its bulk COPY data and query string now, in
 * the caller's thread, while the server may still run the batch before
 * it; it goes to the server when that one is done (by the worker at once
 * when that one was done whole), or now when none is in flight. */
static int pg_send(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		   rx_db_result *results, char *err, size_t errlen)
{
	(void)ids; /* rows are found by their key columns */
	err[0] = '\0';
	if (strcmp(op, "insert") != 0 && strcmp(op, "update") != 0 && strcmp(op, "upsert") != 0 &&
	    strcmp(op, "delete") != 0) {
		snprintf(err, errlen, "unknown op '%s'", op);
		return -1;
	}
	if (d->nfly == DEPTH) {
		snprintf(err, errlen, "PostgreSQL: more than %d batches in flight", DEPTH);
		return -1;
	}
	pg_batch *b = &d->fly[(d->first + d->nfly) % DEPTH];
	snprintf(b->op, sizeof b->op, "%s", op);
	b->rows = rows;
	b->n = n;
	b->results = results;
	b->launched = 0;
	b->async = 0;
	b->epoch = d->epoch;
	pthread_mutex_lock(&d->lock); /* the worker reads these of every batch */
	b->seq = ++d->seq;
	b->queued = b->taken = b->done = 0;
	pthread_mutex_unlock(&d->lock);
	if (check_batch(d, b, 0, err, errlen) == 0 && b->nbulk >= d->bulk_min && d->stmts[b->bulk].bulk == 1) {
		build_copy(d, b);
		bulk_query(d, b, use_direct(&d->stmts[b->bulk]), 1, b->all);
		b->async = 1;
	}
	b->state = B_READY;
	d->nfly++;
	if (d->nfly == 1) {
		start(d, b);
	} else if (b->async) {
		/* the worker takes it after the batch it runs, if that one is
		 * done whole; else the caller's thread starts it (pg_finish) */
		pthread_mutex_lock(&d->lock);
		if (d->job != NULL && d->job->seq + 1 == b->seq)
			b->queued = 1;
		pthread_mutex_unlock(&d->lock);
	}
	return 0;
}

/* The oldest batch sent: started if it was not, its results read, the
 * rest of it done; then the next one goes to the server if the worker did
 * not take it already, before this one's records are acked. */
static int pg_finish(rx_db *d, char *err, size_t errlen)
{
	err[0] = '\0';
	if (d->nfly == 0) {
		snprintf(err, errlen, "PostgreSQL: no batch in flight");
		return -1;
	}
	pg_batch *b = &d->fly[d->first];
	if (b->state == B_READY) {
		pthread_mutex_lock(&d->lock);
		b->queued = 0; /* the worker has not taken it: it never will */
		int taken = b->taken;
		pthread_mutex_unlock(&d->lock);
		if (taken)
			b->launched = 1;
		else
			start(d, b); /* the worker has no job: the batches before are done */
	}
	if (b->launched) {
		pthread_mutex_lock(&d->lock);
		while (!b->done)
			pthread_cond_wait(&d->done, &d->lock);
		pthread_mutex_unlock(&d->lock);
		/* done whole: nothing to send (the worker may be running the
		 * next); else the worker has no job, the connection is ours */
		b->rc = run_rest(d, b, b->err, sizeof b->err);
		b->launched = 0;
		b->state = B_DONE;
	}
	d->first = (d->first + 1) % DEPTH;
	d->nfly--;
	int rc = b->rc;
	if (rc < 0)
		snprintf(err, errlen, "%s", b->err);
	b->state = B_FREE;
	if (d->nfly > 0) {
		pg_batch *next = &d->fly[d->first];
		pthread_mutex_lock(&d->lock);
		next->queued = 0;
		int taken = next->taken;
		pthread_mutex_unlock(&d->lock);
		if (next->state == B_READY && !taken && can_launch(d, next))
			start(d, next);
	}
	return rc;
}

static int pg_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		    rx_db_result *results, char *err, size_t errlen)
{
	if (d->nfly > 0) {
		snprintf(err, errlen, "PostgreSQL: a batch is still in flight");
		return -1;
	}
	if (pg_send(d, op, ids, rows, n, results, err, errlen) < 0)
		return -1;
	return pg_finish(d, err, errlen);
}

const rx_db_driver rx_db_postgres = {"postgres", 1, pg_open, pg_apply, pg_close, DEPTH, pg_send, pg_finish};
