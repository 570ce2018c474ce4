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
 *  - Overlap (db.h send/finish, one batch in flight): pg_send stops once
 *    the bulk COPY that starts a batch was sent whole (PENDING, d->pend
 *    says where); the server then converts and writes the rows, merges
 *    and commits while rx-push reads and scans the next batch; pg_finish
 *    reads the results and does whatever else the batch needs (the
 *    temporary table after a direct COPY that failed, the per-record
 *    path), synchronously.  Nothing else is sent in between, so the
 *    transaction and its results are exactly those of pg_apply.
 */
#include "db.h"

#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	SEGMENT = 100,     /* records per pipeline Sync */
	MAX_CACHED = 64,   /* prepared statements kept before starting over */
	BULK_MIN = 100,    /* records in a batch from which COPY and one merge are used */
	COPY_CHUNK = 16 << 10, /* bytes of COPY data sent at a time: the server parses while we build */
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

/* A batch whose bulk COPY was sent whole, its results not read yet
 * (pg_send; pg_finish reads them and does the rest of the batch), or one
 * done already. */
typedef struct pg_pending {
	int where;      /* 0: nothing; 1: after the direct COPY; 2: after the temporary table's; 3: done */
	int rc;         /* where 3: pg_apply's answer */
	char op[8];
	const rx_span *rows;
	size_t n;
	rx_db_result *results;
	size_t bulk, nsent; /* pg_apply's */
	int all, begun;
	/* run_bulk's, for its second half */
	size_t s;
	int is_update, commit, undo;
} pg_pending;

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
	long last;               /* the statement of the record before, or -1 */
	rx_buf sql, sig, text;   /* scratch */
	rx_buf *values;          /* scratch: one text parameter per member */
	const char **params;     /* pointers into values (NULL for NULL) */
	size_t capvalues;
	size_t *stmt_of;         /* per record of a batch: index in stmts, or -1 */
	size_t capbatch;
	size_t bulk_min;         /* records from which the bulk path is taken */
	unsigned char *hit;      /* bulk update: the records whose key found a row */
	rx_buf copy;             /* bulk: COPY data waiting to be sent */
	pg_pending pend;         /* the batch sent and not finished (pg_send) */
	rx_member *bm;           /* the batch's rows' members, as scanned: record i's from bm_off[i] */
	size_t *bm_off, *bm_n;   /* (bm_n[i] of them) */
	size_t bm_len, bm_cap;
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
	PQfinish(d->conn);
	free(d->table);
	for (size_t i = 0; i < d->ncols; i++) {
		free(d->cols[i].name);
		free(d->cols[i].type);
	}
	free(d->cols);
	free(d->keys);
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
	free(d->stmt_of);
	free(d->hit);
	free(d->bm);
	free(d->bm_off);
	free(d->bm_n);
	rx_buf_free(&d->copy);
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

/* Map the row's members (d->ms) to columns; 0, or -1 with why. */
static int map_members(rx_db *d, const char *op, char *why, size_t whylen)
{
	int is_delete = strcmp(op, "delete") == 0;

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
	}
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
 * Returns its index, or -1 when the connection is gone. */
static long statement(rx_db *d, const char *op)
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
static long run_segment(rx_db *d, const char *op, const rx_span *rows, size_t from, size_t to,
			rx_db_result *results, char *err, size_t errlen)
{
	char msg[512], scan_err[128];
	long failed = (long)to;
	int is_update = strcmp(op, "update") == 0;

	size_t any = from;
	while (any < to && d->stmt_of[any] == (size_t)-1)
		any++;
	if (any == to) /* nothing left to send here (the bulk path took them) */
		return (long)to;
	if (!PQenterPipelineMode(d->conn))
		goto lost;
	for (size_t i = from; i < to; i++) {
		if (d->stmt_of[i] == (size_t)-1)
			continue;
		rx_json_members(rows[i].p, rows[i].n, &d->ms, scan_err, sizeof scan_err);
		use_map(d, &d->stmts[d->stmt_of[i]]);
		fill_params(d);
		if (!PQsendQueryParams(d->conn, "SAVEPOINT rx_record", 0, NULL, NULL, NULL, NULL, 0) ||
		    !PQsendQueryPrepared(d->conn, d->stmts[d->stmt_of[i]].name, (int)d->ms.n, d->params, NULL,
					 NULL, 0) ||
		    !PQsendQueryParams(d->conn, "RELEASE SAVEPOINT rx_record", 0, NULL, NULL, NULL, NULL, 0))
			goto lost;
	}
	if (!PQpipelineSync(d->conn))
		goto lost;
	for (size_t i = from; i < to; i++) {
		if (d->stmt_of[i] == (size_t)-1)
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
	/* the table: an ordinal, then the columns written, typed as they are */
	rx_buf_printf(&sql, "CREATE TEMPORARY TABLE %s (\"rx ordinal\" bigint", table);
	for (size_t m = 0; m < d->ms.n; m++) {
		const pg_column *c;
		if (d->map[m] == (size_t)-1)
			continue;
		c = &d->cols[d->map[m]];
		rx_buf_puts(&sql, ", ");
		put_ident(&sql, c->name);
		rx_buf_printf(&sql, " %s", c->bytea ? "text" : c->type);
		rx_buf_puts(&cols, ", ");
		put_ident(&cols, c->name);
	}
	int update = strcmp(op, "update") == 0;
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
	rx_buf_printf(&sql, "COPY %s (\"rx ordinal\"%s) FROM STDIN", table, cols.data ? cols.data : "");
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

/* Send the COPY data gathered; 0 or -1. */
static int copy_flush(rx_db *d)
{
	if (d->copy.len > 0 && PQputCopyData(d->conn, d->copy.data, (int)d->copy.len) != 1)
		return -1;
	rx_buf_reset(&d->copy);
	return 0;
}

/* Give up the bulk path for this batch: back to before it.  1, or -1 when
 * the connection failed. */
static int bulk_abandon(rx_db *d, char *err, size_t errlen)
{
	PGresult *res;

	/* a COPY still open is ended first */
	while ((res = PQgetResult(d->conn)) != NULL) {
		ExecStatusType st = PQresultStatus(res);
		PQclear(res);
		if (st == PGRES_COPY_IN)
			PQputCopyEnd(d->conn, "rx-push: abandoned");
		else if (st == PGRES_COPY_OUT || st == PGRES_COPY_BOTH)
			break;
	}
	if (exec(d, "ROLLBACK TO SAVEPOINT rx_bulk; RELEASE SAVEPOINT rx_bulk", err, errlen) < 0)
		return -1;
	return 1;
}

/* The connection failed: -1, err says why. */
static int lost_copy(rx_db *d, char *err, size_t errlen)
{
	char msg[400];

	rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
	snprintf(err, errlen, "PostgreSQL: %s", msg[0] ? msg : "the connection failed");
	return -1;
}

/* After a bulk query string went: its results up to the COPY's start
 * (before: the results that come first).  0: the server is in COPY; 1:
 * the COPY (or what came before) was refused, the batch is back to
 * before it (bulk_abandon); -1: the connection failed, err says why. */
static int await_copy(rx_db *d, int before, char *err, size_t errlen)
{
	PGresult *res;

	for (int r = 0;; r++) {
		res = PQgetResult(d->conn);
		ExecStatusType rs = PQresultStatus(res);
		int got = res != NULL;
		PQclear(res);
		if (got && rs == PGRES_COPY_IN && r == before)
			return 0;
		if (!got || rs != PGRES_COMMAND_OK || r >= before) {
			/* BEGIN, SAVEPOINT or the COPY refused */
			if (PQstatus(d->conn) != CONNECTION_OK)
				return lost_copy(d, err, errlen);
			if (r < before && got) { /* not the COPY: the connection's fault */
				while ((res = PQgetResult(d->conn)) != NULL)
					PQclear(res);
				return lost_copy(d, err, errlen);
			}
			return bulk_abandon(d, err, errlen);
		}
	}
}

static int run_bulk_end(rx_db *d, char *err, size_t errlen);

/* run_bulk's answer when its COPY was sent whole and split asked for it
 * to stop there: run_bulk_end reads the rest. */
#define PENDING 2

/* The records of statement s through COPY: into the temporary table and
 * one merge, or (direct) straight into the table.  One query string, so
 * that a batch costs two round trips: "[BEGIN;] SAVEPOINT rx_bulk; COPY
 * ...; [merge;] RELEASE SAVEPOINT rx_bulk[; COMMIT]"; the server skips
 * what follows a statement that fails.  begin: the transaction starts
 * here; commit: it ends here when all went well (the caller has nothing
 * else for it).  0: done (their results set, and their stmt_of cleared so
 * the per-record path skips them; committed if commit); 1: it could not
 * be done (nothing of it remains, the transaction is open: the caller
 * tries another way); -1: the batch failed (the connection, or the
 * COMMIT: nothing of it is committed); PENDING (split): the COPY data
 * went whole, d->pend keeps what run_bulk_end needs for the rest.  The
 * rows' members are those pg_run scanned (d->bm); the COPY data is written
 * while the server starts the transaction, and sent COPY_CHUNK at a time
 * once it is in COPY. */
static int run_bulk(rx_db *d, const char *op, const rx_span *rows, size_t n, size_t s, int direct, int begin,
		    int commit, rx_db_result *results, char *err, size_t errlen, int split)
{
	pg_statement *st = &d->stmts[s];
	char msg[400];

	(void)rows; /* their members, as pg_run scanned them, are in d->bm */
	int is_update = strcmp(op, "update") == 0;
	const char *merge = direct ? NULL : st->bulk_merge;
	int before = (begin ? 1 : 0) + 1; /* results before the COPY's */
	int merges = merge == NULL ? 0 : is_update || op[0] == 'd' ? 3 : 1; /* SET LOCAL twice first */
	int undo = 1 + merges;            /* a failure before this result: roll back to the savepoint */

	rx_buf_reset(&d->sql);
	rx_buf_printf(&d->sql, "%sSAVEPOINT rx_bulk; %s", begin ? "BEGIN; " : "", direct ? st->direct_copy : st->bulk_copy);
	if (merge != NULL)
		rx_buf_printf(&d->sql, "; %s", merge);
	rx_buf_printf(&d->sql, "; RELEASE SAVEPOINT rx_bulk%s", commit ? "; COMMIT" : "");
	if (!PQsendQuery(d->conn, d->sql.data))
		goto lost;
	/* the rows are written while the server starts the transaction and
	 * the COPY: sent from the first chunk on, once it is ready */
	int ready = 0, w;
	rx_member *own = d->ms.m;
	size_t own_n = d->ms.n;
	rx_buf_reset(&d->copy);
	for (size_t i = 0; i < n; i++) {
		if (d->stmt_of[i] != s)
			continue;
		/* the members pg_run scanned (the rows are not scanned again) */
		d->ms.m = d->bm + d->bm_off[i];
		d->ms.n = d->bm_n[i];
		use_map(d, st);
		int simple = 1; /* no value to convert: the JSON text is the COPY text */
		for (size_t m = 0; m < d->ms.n && simple; m++) {
			if (d->map[m] == (size_t)-1)
				continue;
			char kind = rx_json_kind(d->ms.m[m].value);
			simple = !d->cols[d->map[m]].json && kind != 'o' && kind != 'a' &&
				 !(kind == 's' && d->ms.m[m].value_escaped);
		}
		if (!simple)
			fill_params(d);
		int tab = 0;
		if (!direct) {
			char digits[24], *p = digits + sizeof digits;
			size_t v = i;
			do
				*--p = (char)('0' + v % 10);
			while ((v /= 10) > 0);
			rx_buf_put(&d->copy, p, (size_t)(digits + sizeof digits - p));
			tab = 1;
		}
		for (size_t m = 0; m < d->ms.n; m++) {
			if (d->map[m] == (size_t)-1)
				continue;
			if (tab)
				rx_buf_putc(&d->copy, '\t');
			tab = 1;
			if (simple) {
				rx_span v = d->ms.m[m].value;
				char kind = rx_json_kind(v);
				if (kind == 'z')
					rx_buf_put(&d->copy, "\\N", 2);
				else if (kind == 's')
					put_copy_text(&d->copy, v.p + 1, v.n - 2);
				else
					put_copy_text(&d->copy, v.p, v.n);
			} else if (d->params[m] == NULL) {
				rx_buf_put(&d->copy, "\\N", 2);
			} else {
				put_copy_text(&d->copy, d->params[m], d->values[m].len);
			}
		}
		rx_buf_putc(&d->copy, '\n');
		if (d->copy.len >= COPY_CHUNK) {
			if (!ready && (w = await_copy(d, before, err, errlen)) != 0) {
				d->ms.m = own;
				d->ms.n = own_n;
				return w;
			}
			ready = 1;
			if (copy_flush(d) < 0) {
				d->ms.m = own;
				d->ms.n = own_n;
				goto lost;
			}
		}
	}
	d->ms.m = own;
	d->ms.n = own_n;
	if (!ready && (w = await_copy(d, before, err, errlen)) != 0)
		return w;
	if (copy_flush(d) < 0 || PQputCopyEnd(d->conn, NULL) != 1)
		goto lost;
	d->pend.n = n;
	d->pend.results = results;
	d->pend.s = s;
	d->pend.is_update = is_update;
	d->pend.commit = commit;
	d->pend.undo = undo;
	if (split)
		return PENDING;
	return run_bulk_end(d, err, errlen);
lost:
	if (err[0] == '\0') {
		rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
		snprintf(err, errlen, "PostgreSQL: %s", msg[0] ? msg : "the connection failed");
	}
	return -1;
}

/* The second half of run_bulk, after its COPY data was sent: the results. */
static int run_bulk_end(rx_db *d, char *err, size_t errlen)
{
	char msg[400];
	PGresult *res;
	size_t n = d->pend.n, s = d->pend.s;
	rx_db_result *results = d->pend.results;
	int is_update = d->pend.is_update, commit = d->pend.commit, undo = d->pend.undo;

	/* the COPY's result, the merge's, RELEASE's, COMMIT's: the first
	 * failure ends them */
	int failed = -1, r = 0, committed = 0;
	if (is_update)
		memset(d->hit, 0, n);
	for (; (res = PQgetResult(d->conn)) != NULL; r++) {
		ExecStatusType rs = PQresultStatus(res);
		if (rs != PGRES_COMMAND_OK && rs != PGRES_TUPLES_OK) {
			if (failed < 0) {
				failed = r;
				result_message(d->conn, res, msg, sizeof msg);
			}
		} else if (is_update && rs == PGRES_TUPLES_OK) {
			for (int t = 0; t < PQntuples(res); t++) {
				unsigned long long ord = strtoull(PQgetvalue(res, t, 0), NULL, 10);
				if (ord < n)
					d->hit[ord] = 1;
			}
		} else if (commit && r == undo + 1 && strcmp(PQcmdStatus(res), "COMMIT") == 0) {
			committed = 1;
		}
		PQclear(res);
	}
	if (PQstatus(d->conn) != CONNECTION_OK)
		goto lost;
	if (failed >= 0 && failed < undo) /* a value, a constraint: the caller finds whose */
		return bulk_abandon(d, err, errlen);
	if (failed >= 0 || r != undo + 1 + (commit ? 1 : 0) || (commit && !committed)) {
		snprintf(err, errlen, "PostgreSQL: %s", failed >= 0 ? msg : "the transaction failed");
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (d->stmt_of[i] != s)
			continue;
		results[i].ok = !is_update || d->hit[i];
		if (!results[i].ok)
			snprintf(results[i].message, sizeof results[i].message, "no row with this key in %s", d->table);
		d->stmt_of[i] = (size_t)-1;
	}
	return 0;
lost:
	if (err[0] == '\0') {
		rx_one_line(PQerrorMessage(d->conn), msg, sizeof msg);
		snprintf(err, errlen, "PostgreSQL: %s", msg[0] ? msg : "the connection failed");
	}
	return -1;
}

/* After a reconnection: the session's settings again. */
static void session_settings(rx_db *d)
{
	PQsetNoticeProcessor(d->conn, notice, NULL);
	PQsetClientEncoding(d->conn, "UTF8");
	PQclear(PQexec(d->conn, "SET DateStyle = 'ISO, YMD'"));
}

/* Apply a batch (db.h).  split: stop when a bulk COPY that starts the
 * batch was sent whole, answering PENDING (d->pend holds where); resume:
 * go on from there, the COPY's results read into rc. */
static int pg_run(rx_db *d, const char *op, const rx_span *rows, size_t n, rx_db_result *results, char *err,
		  size_t errlen, int split, int resume, int rc)
{
	char why[512];
	size_t bulk = (size_t)-1, nbulk = 0, nsent = 0;
	pg_statement *st = NULL;
	int all = 0, begun = 0;

	err[0] = '\0';
	if (resume) {
		bulk = d->pend.bulk;
		nsent = d->pend.nsent;
		all = d->pend.all;
		begun = d->pend.begun;
		st = &d->stmts[bulk];
		if (resume == 1)
			goto after_direct;
		goto after_temp;
	}
	if (strcmp(op, "insert") != 0 && strcmp(op, "update") != 0 && strcmp(op, "upsert") != 0 &&
	    strcmp(op, "delete") != 0) {
		snprintf(err, errlen, "unknown op '%s'", op);
		return -1;
	}
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
	if (d->capbatch < n) {
		d->capbatch = n;
		d->stmt_of = rx_xrealloc(d->stmt_of, n * sizeof *d->stmt_of);
		d->hit = rx_xrealloc(d->hit, n);
		d->bm_off = rx_xrealloc(d->bm_off, n * sizeof *d->bm_off);
		d->bm_n = rx_xrealloc(d->bm_n, n * sizeof *d->bm_n);
	}
	d->bm_len = 0;

	/* check and prepare before the transaction: a record that cannot be
	 * written is rejected here and never sent */
	for (size_t i = 0; i < n; i++) {
		results[i].ok = 0;
		results[i].message[0] = '\0';
		d->stmt_of[i] = (size_t)-1;
		/* rows of records rx-push scanned: split without validating again */
		if (rows[i].n == 0 || rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why) < 0) {
			snprintf(results[i].message, sizeof results[i].message, "the change has no row object");
			continue;
		}
		/* kept for the bulk path (the members point into the row) */
		if (d->bm_len + d->ms.n > d->bm_cap) {
			d->bm_cap = (d->bm_len + d->ms.n) * 2;
			d->bm = rx_xrealloc(d->bm, d->bm_cap * sizeof *d->bm);
		}
		memcpy(d->bm + d->bm_len, d->ms.m, d->ms.n * sizeof *d->bm);
		d->bm_off[i] = d->bm_len;
		d->bm_n[i] = d->ms.n;
		d->bm_len += d->ms.n;
		if (map_members(d, op, why, sizeof why) < 0) {
			snprintf(results[i].message, sizeof results[i].message, "%s", why);
			continue;
		}
		long s = statement(d, op);
		if (s < 0) {
			rx_one_line(PQerrorMessage(d->conn), why, sizeof why);
			snprintf(err, errlen, "PostgreSQL: %s", why);
			return -1;
		}
		if (!d->stmts[s].ok) {
			snprintf(results[i].message, sizeof results[i].message, "%s", d->stmts[s].message);
			continue;
		}
		d->stmt_of[i] = (size_t)s;
	}

	/* the bulk path, for the records of the first record's statement
	 * when there are enough of them */
	for (size_t i = 0; i < n; i++) {
		if (d->stmt_of[i] == (size_t)-1)
			continue;
		nsent++;
		if (bulk == (size_t)-1)
			bulk = d->stmt_of[i];
		if (d->stmt_of[i] == bulk)
			nbulk++;
	}
	if (nbulk >= d->bulk_min && d->stmts[bulk].bulk == 0) {
		for (size_t i = 0; i < n; i++) /* the statement's member map, again */
			if (d->stmt_of[i] == bulk) {
				rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why);
				map_members(d, op, why, sizeof why);
				break;
			}
		if (bulk_prepare(d, &d->stmts[bulk], op) < 0) {
			rx_one_line(PQerrorMessage(d->conn), why, sizeof why);
			snprintf(err, errlen, "PostgreSQL: %s", why);
			return -1;
		}
	}

	if (nbulk >= d->bulk_min && d->stmts[bulk].bulk == 1) {
		/* the batch is all the bulk statement's: its query string commits */
		st = &d->stmts[bulk];
		all = nbulk == nsent;
		rc = 1;
		if (st->direct_copy != NULL && st->skip > 0) {
			st->skip--;
		} else if (st->direct_copy != NULL) {
			/* straight into the table: for rows new to it (a first sync)
			 * the same as the merge at half the writes; a key already
			 * there fails it, and the temporary table takes the batch */
			rc = run_bulk(d, op, rows, n, bulk, 1, 1, all, results, err, errlen, split);
			if (rc == PENDING) {
				d->pend.where = 1;
				goto pending;
			}
		after_direct:
			if (rc < 0)
				goto rollback;
			begun = 1;
			if (rc == 0) {
				st->backoff = 0;
			} else { /* not again for a while: keys the table has come in runs */
				st->backoff = st->backoff == 0 ? 1 : st->backoff < 64 ? st->backoff * 2 : 64;
				st->skip = st->backoff;
			}
		}
		if (rc > 0) {
			rc = run_bulk(d, op, rows, n, bulk, 0, !begun, all, results, err, errlen, split && !begun);
			if (rc == PENDING) {
				d->pend.where = 2;
				goto pending;
			}
		after_temp:
			if (rc < 0)
				goto rollback;
			begun = 1;
		}
		if (rc == 0 && all)
			return 0;
		if (rc > 0) /* back to no result for any record */
			for (size_t i = 0; i < n; i++)
				if (d->stmt_of[i] != (size_t)-1)
					results[i].ok = 0;
	} else if (exec(d, "BEGIN", err, errlen) < 0) {
		return -1;
	}
	size_t from = 0;
	while (from < n) {
		size_t to = from + SEGMENT < n ? from + SEGMENT : n;
		long failed = run_segment(d, op, rows, from, to, results, err, errlen);
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
pending:
	snprintf(d->pend.op, sizeof d->pend.op, "%s", op);
	d->pend.rows = rows;
	d->pend.bulk = bulk;
	d->pend.nsent = nsent;
	d->pend.all = all;
	d->pend.begun = begun;
	return PENDING;
}

static int pg_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		    rx_db_result *results, char *err, size_t errlen)
{
	(void)ids; /* rows are found by their key columns */
	return pg_run(d, op, rows, n, results, err, errlen, 0, 0, 0);
}

/* The batch up to its bulk COPY sent whole (the common case: the rest
 * is the server's work, done while the caller reads the next batch), or
 * the whole batch when it takes another way. */
static int pg_send(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		   rx_db_result *results, char *err, size_t errlen)
{
	(void)ids;
	if (d->pend.where != 0) {
		snprintf(err, errlen, "PostgreSQL: a batch is still in flight");
		return -1;
	}
	int rc = pg_run(d, op, rows, n, results, err, errlen, 1, 0, 0);
	if (rc < 0)
		return -1;
	if (rc != PENDING) {
		d->pend.where = 3;
		d->pend.rc = rc;
	}
	return 0;
}

/* The batch pg_send started: its COPY's results, then whatever the batch
 * still needs (the temporary table, the per-record path). */
static int pg_finish(rx_db *d, char *err, size_t errlen)
{
	int where = d->pend.where;

	d->pend.where = 0;
	err[0] = '\0';
	if (where == 0) {
		snprintf(err, errlen, "PostgreSQL: no batch in flight");
		return -1;
	}
	if (where == 3)
		return d->pend.rc;
	int rc = run_bulk_end(d, err, errlen);
	return pg_run(d, d->pend.op, d->pend.rows, d->pend.n, d->pend.results, err, errlen, 0, where, rc);
}

const rx_db_driver rx_db_postgres = {"postgres", 1, pg_open, pg_apply, pg_close, 1, pg_send, pg_finish};
