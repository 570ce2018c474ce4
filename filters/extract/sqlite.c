/*
 * sqlite.c - rx-extract's SQLite source.
 *
 * One prepared statement, stepped row by row.  Column names are escaped
 * once, before the first row.  Types map to JSON as SQLite stores them:
 * INTEGER (as a string beyond +-2^53), REAL (shortest round-trip text),
 * TEXT, NULL, and BLOB as base64.
 */
#include "extract.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

int rx_extract_sqlite(const extract_options *o, rx_writer *out)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	rx_buf sql = {0}, *names = NULL;
	int rc, ncols, status = RX_EXIT_FAIL;

	rc = sqlite3_open_v2(o->source, &db, SQLITE_OPEN_READONLY | SQLITE_OPEN_NOMUTEX, NULL);
	if (rc != SQLITE_OK) {
		rx_diag("cannot open '%s': %s", o->source, db ? sqlite3_errmsg(db) : sqlite3_errstr(rc));
		goto done;
	}
	sqlite3_busy_timeout(db, 5000);
	if (o->table != NULL) {
		rx_buf_puts(&sql, "SELECT * FROM ");
		rx_sql_put_ident(&sql, o->table, strlen(o->table));
	} else {
		rx_buf_puts(&sql, o->query);
	}
	rc = sqlite3_prepare_v2(db, sql.data, -1, &st, NULL);
	if (rc != SQLITE_OK) {
		rx_diag("%s: SQL error: %s", o->source, sqlite3_errmsg(db));
		goto done;
	}
	if (st == NULL) {
		rx_diag("%s: the query is empty", o->source);
		goto done;
	}
	ncols = sqlite3_column_count(st);
	if (ncols == 0) {
		rx_diag("%s: the statement returns no columns", o->source);
		goto done;
	}
	const char **plain = rx_xmalloc((size_t)ncols * sizeof *plain);
	for (int i = 0; i < ncols; i++)
		plain[i] = sqlite3_column_name(st, i);
	int bad = rx_extract_check_columns(o->source, plain, (size_t)ncols);
	free(plain);
	if (bad < 0) {
		status = RX_EXIT_DATAERR;
		goto done;
	}
	names = calloc((size_t)ncols, sizeof *names);
	if (names == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (int i = 0; i < ncols; i++) {
		const char *name = sqlite3_column_name(st, i);
		rx_json_put_string(&names[i], name, strlen(name));
		rx_buf_putc(&names[i], ':');
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		rx_buf *b = &out->buf;
		size_t start = b->len;
		rx_buf_putc(b, '{');
		for (int i = 0; i < ncols; i++) {
			if (i > 0)
				rx_buf_putc(b, ',');
			rx_buf_put(b, names[i].data, names[i].len);
			switch (sqlite3_column_type(st, i)) {
			case SQLITE_INTEGER:
				rx_extract_put_int(b, sqlite3_column_int64(st, i));
				break;
			case SQLITE_FLOAT:
				rx_json_put_double(b, sqlite3_column_double(st, i));
				break;
			case SQLITE_TEXT: {
				const char *t = (const char *)sqlite3_column_text(st, i);
				rx_json_put_string(b, t, (size_t)sqlite3_column_bytes(st, i));
				break;
			}
			case SQLITE_BLOB: {
				const void *p = sqlite3_column_blob(st, i);
				int n = sqlite3_column_bytes(st, i);
				rx_buf_putc(b, '"');
				rx_base64_put(b, p, (size_t)n);
				rx_buf_putc(b, '"');
				break;
			}
			default:
				rx_buf_put(b, "null", 4);
			}
		}
		rx_buf_putc(b, '}');
		rx_extract_row(out, start, o);
		if (out->error)
			break;
	}
	if (out->error) {
		status = RX_EXIT_IOERR;
		goto done;
	}
	if (rc != SQLITE_DONE) {
		rx_diag("%s: SQL error: %s", o->source, sqlite3_errmsg(db));
		goto done;
	}
	status = RX_EXIT_OK;
done:
	if (names != NULL) {
		for (int i = 0; i < sqlite3_column_count(st); i++)
			rx_buf_free(&names[i]);
		free(names);
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	rx_buf_free(&sql);
	return status;
}
