/*
 * db_sqlite.c - rx-push's SQLite destination (the db.h interface).
 *
 * Writes into an existing table of an application database: upserts as
 * INSERT ... ON CONFLICT (key columns) DO UPDATE, inserts, updates and
 * deletes by the key columns.  One transaction per batch (BEGIN
 * IMMEDIATE, so a busy database fails the batch before anything is
 * done); each record under its own savepoint, so a constraint violation
 * rejects that record only.
 *
 * The columns written are a row's members, so statements depend on the
 * member names: a small cache keeps one prepared statement per (op,
 * member list), which for a model's rows means one per op.  Every cached
 * statement is finalized in close.
 */
#include "db.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CACHE 8

struct rx_db {
	sqlite3 *db;           /* the connection */
	char *table;           /* quoted table name */
	char **keys;           /* key column names (plain) */
	size_t nkeys;
	struct {
		char *signature;   /* op + "\n" + member names, or NULL */
		sqlite3_stmt *stmt;
	} cache[CACHE];
	size_t next;           /* round-robin eviction */
	rx_buf sql, sig, text; /* scratch */
	rx_members ms;         /* scratch: a row's members */
};

static void sqlite_close(rx_db *d)
{
	if (d == NULL)
		return;
	for (size_t i = 0; i < CACHE; i++) {
		sqlite3_finalize(d->cache[i].stmt);
		free(d->cache[i].signature);
	}
	sqlite3_close(d->db);
	free(d->table);
	for (size_t i = 0; i < d->nkeys; i++)
		free(d->keys[i]);
	free(d->keys);
	rx_buf_free(&d->sql);
	rx_buf_free(&d->sig);
	rx_buf_free(&d->text);
	free(d->ms.m);
	free(d);
}

static rx_db *sqlite_open(const char *target, const char *table, char *const *keys, size_t nkeys, jv profile,
			  char *err, size_t errlen)
{
	rx_db *d = calloc(1, sizeof *d);

	(void)profile; /* nothing of its own to read */
	rx_buf b = {0};

	if (d == NULL)
		return NULL;
	if (sqlite3_open_v2(target, &d->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open SQLite database '%s': %s", target,
			 d->db ? sqlite3_errmsg(d->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(d->db, 2000); /* then the batch fails and rx-push retries it */
	rx_sql_put_ident(&b, table, strlen(table));
	d->table = b.data;
	d->keys = rx_xmalloc((nkeys ? nkeys : 1) * sizeof *d->keys);
	for (size_t i = 0; i < nkeys; i++)
		d->keys[i] = rx_xstrdup(keys[i]);
	d->nkeys = nkeys;
	/* the table must exist: fail now rather than on the first batch */
	rx_buf q = {0};
	sqlite3_stmt *st = NULL;
	rx_buf_printf(&q, "SELECT * FROM %s LIMIT 0", d->table);
	int rc = sqlite3_prepare_v2(d->db, q.data, -1, &st, NULL);
	rx_buf_free(&q);
	sqlite3_finalize(st);
	if (rc != SQLITE_OK) {
		snprintf(err, errlen, "SQLite database '%s': %s", target, sqlite3_errmsg(d->db));
		goto fail;
	}
	return d;
fail:
	sqlite_close(d);
	return NULL;
}

static int is_key(rx_db *d, rx_span name)
{
	for (size_t k = 0; k < d->nkeys; k++)
		if (rx_json_name_eq(name, d->keys[k], strlen(d->keys[k])))
			return 1;
	return 0;
}

static void put_name(rx_db *d, rx_buf *b, rx_span name)
{
	rx_buf_reset(&d->text);
	rx_json_string_decode(name, &d->text);
	rx_sql_put_ident(b, d->text.data ? d->text.data : "", d->text.len);
}

/* The statement for op over the row's members (d->ms), prepared once. */
static sqlite3_stmt *statement(rx_db *d, const char *op, char *err, size_t errlen)
{
	rx_buf *s = &d->sql;
	int first;

	rx_buf_reset(&d->sig);
	rx_buf_puts(&d->sig, op);
	for (size_t i = 0; i < d->ms.n; i++) {
		rx_buf_putc(&d->sig, '\n');
		rx_buf_put(&d->sig, d->ms.m[i].name.p, d->ms.m[i].name.n);
	}
	for (size_t i = 0; i < CACHE; i++)
		if (d->cache[i].signature && strcmp(d->cache[i].signature, d->sig.data) == 0) {
			sqlite3_reset(d->cache[i].stmt);
			sqlite3_clear_bindings(d->cache[i].stmt);
			return d->cache[i].stmt;
		}
	rx_buf_reset(s);
	if (strcmp(op, "delete") == 0 || strcmp(op, "update") == 0) {
		if (strcmp(op, "delete") == 0) {
			rx_buf_printf(s, "DELETE FROM %s", d->table);
		} else {
			rx_buf_printf(s, "UPDATE %s SET ", d->table);
			first = 1;
			for (size_t i = 0; i < d->ms.n; i++) {
				if (is_key(d, d->ms.m[i].name))
					continue;
				if (!first)
					rx_buf_puts(s, ", ");
				first = 0;
				put_name(d, s, d->ms.m[i].name);
				rx_buf_printf(s, " = ?%zu", i + 1);
			}
			if (first) /* nothing but keys: a no-op update */
				rx_buf_printf(s, "%s = %s", d->keys[0], d->keys[0]);
		}
		rx_buf_puts(s, " WHERE ");
		for (size_t k = 0; k < d->nkeys; k++) {
			long i = rx_json_find(&d->ms, d->keys[k], strlen(d->keys[k]));
			if (i < 0) {
				snprintf(err, errlen, "the row has no key column '%s'", d->keys[k]);
				return NULL;
			}
			if (k > 0)
				rx_buf_puts(s, " AND ");
			rx_sql_put_ident(s, d->keys[k], strlen(d->keys[k]));
			rx_buf_printf(s, " = ?%ld", i + 1);
		}
	} else {
		rx_buf_printf(s, "INSERT INTO %s (", d->table);
		for (size_t i = 0; i < d->ms.n; i++) {
			if (i > 0)
				rx_buf_puts(s, ", ");
			put_name(d, s, d->ms.m[i].name);
		}
		rx_buf_puts(s, ") VALUES (");
		for (size_t i = 0; i < d->ms.n; i++)
			rx_buf_printf(s, "%s?%zu", i ? ", " : "", i + 1);
		rx_buf_putc(s, ')');
		if (strcmp(op, "upsert") == 0) {
			rx_buf_puts(s, " ON CONFLICT (");
			for (size_t k = 0; k < d->nkeys; k++) {
				if (k > 0)
					rx_buf_puts(s, ", ");
				rx_sql_put_ident(s, d->keys[k], strlen(d->keys[k]));
			}
			rx_buf_puts(s, ") DO ");
			first = 1;
			for (size_t i = 0; i < d->ms.n; i++) {
				if (is_key(d, d->ms.m[i].name))
					continue;
				rx_buf_puts(s, first ? "UPDATE SET " : ", ");
				first = 0;
				put_name(d, s, d->ms.m[i].name);
				rx_buf_puts(s, " = excluded.");
				put_name(d, s, d->ms.m[i].name);
			}
			if (first)
				rx_buf_puts(s, "NOTHING");
		}
	}
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(d->db, s->data, -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(d->db));
		return NULL;
	}
	size_t slot = d->next++ % CACHE;
	sqlite3_finalize(d->cache[slot].stmt);
	free(d->cache[slot].signature);
	d->cache[slot].stmt = st;
	d->cache[slot].signature = rx_xstrdup(d->sig.data);
	return st;
}

static void bind(rx_db *d, sqlite3_stmt *st, int idx, rx_span v)
{
	char *end;

	switch (rx_json_kind(v)) {
	case 's':
		rx_buf_reset(&d->text);
		rx_json_string_decode(v, &d->text);
		sqlite3_bind_text(st, idx, d->text.data ? d->text.data : "", (int)d->text.len, SQLITE_TRANSIENT);
		break;
	case 'n': {
		char num[64];
		if (v.n < sizeof num && rx_json_number_exact(v.p, v.n)) {
			memcpy(num, v.p, v.n);
			num[v.n] = '\0';
			long long ll = strtoll(num, &end, 10);
			if (*end == '\0') {
				sqlite3_bind_int64(st, idx, ll);
				break;
			}
			double dd = strtod(num, &end);
			if (*end == '\0') {
				sqlite3_bind_double(st, idx, dd);
				break;
			}
		}
		sqlite3_bind_text(st, idx, v.p, (int)v.n, SQLITE_TRANSIENT);
		break;
	}
	case 't':
		sqlite3_bind_int(st, idx, 1);
		break;
	case 'f':
		sqlite3_bind_int(st, idx, 0);
		break;
	case 'z':
		sqlite3_bind_null(st, idx);
		break;
	default:
		rx_buf_reset(&d->text);
		rx_json_put_compact(&d->text, v);
		sqlite3_bind_text(st, idx, d->text.data, (int)d->text.len, SQLITE_TRANSIENT);
	}
}

static int exec(rx_db *d, const char *sql, char *err, size_t errlen)
{
	if (sqlite3_exec(d->db, sql, NULL, NULL, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s: %s", sql, sqlite3_errmsg(d->db));
		return -1;
	}
	return 0;
}

static void apply_one(rx_db *d, const char *op, rx_span row, rx_db_result *r)
{
	char err[400];
	sqlite3_stmt *st;

	r->ok = 0;
	if (row.n == 0 || rx_json_members(row.p, row.n, &d->ms, err, sizeof err) < 0) {
		snprintf(r->message, sizeof r->message, "the change has no row object");
		return;
	}
	st = statement(d, op, err, sizeof err);
	if (st == NULL) {
		snprintf(r->message, sizeof r->message, "%s", err);
		return;
	}
	for (size_t i = 0; i < d->ms.n; i++)
		bind(d, st, (int)i + 1, d->ms.m[i].value);
	int rc = sqlite3_step(st);
	if (rc != SQLITE_DONE) {
		snprintf(r->message, sizeof r->message, "%s", sqlite3_errmsg(d->db));
		sqlite3_reset(st);
		return;
	}
	sqlite3_reset(st);
	if (strcmp(op, "update") == 0 && sqlite3_changes(d->db) == 0) {
		/* as the postgres driver: an update finds its record or says so;
		 * a delete that finds none is done (the row is gone either way) */
		snprintf(r->message, sizeof r->message, "no row with this key in %s", d->table);
		return;
	}
	r->ok = 1;
}

static int sqlite_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
			rx_db_result *results, char *err, size_t errlen)
{
	(void)ids; /* rows are found by their key columns */
	if (exec(d, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (exec(d, "SAVEPOINT rx_record", err, errlen) < 0)
			goto rollback;
		apply_one(d, op, rows[i], &results[i]);
		if (!results[i].ok && exec(d, "ROLLBACK TO rx_record", err, errlen) < 0)
			goto rollback;
		if (exec(d, "RELEASE rx_record", err, errlen) < 0)
			goto rollback;
	}
	if (exec(d, "COMMIT", err, errlen) < 0)
		goto rollback;
	return 0;
rollback:
	sqlite3_exec(d->db, "ROLLBACK", NULL, NULL, NULL);
	return -1;
}

const rx_db_driver rx_db_sqlite = {"sqlite", 1, sqlite_open, sqlite_apply, sqlite_close, 0, NULL, NULL};
