/*
 * pgrepl.c - rx-extract --slot: a table's committed changes from a
 * PostgreSQL logical replication slot, as each transaction commits, in
 * commit order (pgoutput, protocol version 1, over libpq's replication
 * protocol: CopyBoth).
 *
 * NOTES ON THE DESIGN
 *
 *  - Two connections: one with replication=database for the stream, and
 *    an ordinary one for the catalog (the slot, the publication, types
 *    that are not built in) and for re-reading a row whose TOASTed
 *    columns an update did not send.  Both take the session settings of
 *    the query source (pg.h), so a value reads byte for byte as a batch
 *    extract of the table writes it, and the snapshot's fingerprints of
 *    rows synced by a full run hold for the stream.
 *
 *  - What is written, for the followed table (--table; other tables of
 *    the publication are read past):
 *      insert, update   the new row, as --table would write it
 *      delete           {"$rx":"delete","row":{the old key columns}}
 *                       (every old column under REPLICA IDENTITY FULL)
 *      a key's change   a delete of the old key, then the new row
 *      truncate         {"$rx":"truncate","table":"schema.name"}
 *    After the rows of transactions, and before output is flushed:
 *      {"$rx":"commit","lsn":"0/16B3748"}  the end of the last transaction
 *    written (or, between transactions, the server's position from a
 *    keepalive: a quiet table must not hold the server's WAL back).
 *
 *  - The slot's confirmed position (the flush LSN of the status updates)
 *    is the position rx-diff --commit stored in the state (feed.c), never
 *    more: a transaction is confirmed only once its changes are acked and
 *    committed to the snapshot, so a crash anywhere replays it (at least
 *    once; the snapshot drops the repeats).  The stream starts from the
 *    stored position when it is ahead of the slot's (the state was
 *    committed, the status update lost).  Status updates go once a second
 *    and whenever the server asks (before wal_sender_timeout).
 *
 *  - Values: 't' text as the query source maps it by type OID; 'n' NULL;
 *    'u' (an unchanged TOASTed value an update did not send) is taken from
 *    the old row when REPLICA IDENTITY FULL sent it, else the row is read
 *    again by its key (its current value: a later change of it follows on
 *    the stream anyway).
 *
 *  - Output is flushed whenever the server has nothing more ready (or
 *    FLUSH_MS after the last flush while it keeps sending), so a change
 *    leaves as soon as its transaction is read; memory is one message and
 *    one row.  SIGTERM/SIGINT end the feed at the next
 *    transaction boundary (exit 0, no end record).
 */
#include "extract.h"
#include "pg.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define FEEDBACK_MS 1000
#define POLL_MS 200
#define FLUSH_MS 2 /* a busy stream is written at least this often */

typedef struct relation {
	uint32_t relid;
	int ours;           /* the followed table */
	char replident;     /* d, n, f, i */
	int ncols;
	rx_pg_column *cols; /* escaped names and kinds */
	char **names;       /* the plain names */
	int *key;           /* flag 1: part of the replica identity */
	int *ident;         /* the columns a row is found by (re-reads, key changes under FULL) */
	int nident;
} relation;

typedef struct value {
	char kind;          /* 'n', 'u', 't' */
	const char *p;
	uint32_t n;
} value;

typedef struct repl {
	const extract_options *o;
	rx_writer *out;
	PGconn *conn;       /* the replication stream */
	PGconn *sql;        /* the catalog, re-reads */
	char nsp[256], rel[256]; /* the followed table */
	relation *rels;
	size_t nrels;
	int in_txn;
	uint64_t commit_end;   /* the end of the last transaction handled */
	uint64_t mark;         /* the position to write in the next commit record */
	uint64_t mark_written; /* the last written */
	uint64_t received;     /* the furthest position heard of */
	uint64_t confirmed;    /* sent as the flush position */
	long long feedback_at; /* ms */
	long long rows, deletes, rereads, skipped;
	value *tup[2];         /* decoded tuples: old, new */
	int tupcap[2];
	rx_buf scratch, pos;
} repl;

/* ---- the wire ---- */

typedef struct rd {
	const unsigned char *p, *end;
	int bad;
} rd;

static uint64_t rd_int(rd *r, int bytes)
{
	uint64_t v = 0;

	if (r->end - r->p < bytes) {
		r->bad = 1;
		r->p = r->end;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v = v << 8 | *r->p++;
	return v;
}

static const char *rd_str(rd *r)
{
	const unsigned char *z = memchr(r->p, '\0', (size_t)(r->end - r->p));

	if (z == NULL) {
		r->bad = 1;
		r->p = r->end;
		return "";
	}
	const char *s = (const char *)r->p;
	r->p = z + 1;
	return s;
}

static void put_be(unsigned char *p, uint64_t v, int bytes)
{
	for (int i = bytes - 1; i >= 0; i--) {
		p[i] = (unsigned char)(v & 0xff);
		v >>= 8;
	}
}

static void lsn_text(uint64_t lsn, char out[32])
{
	snprintf(out, 32, "%X/%X", (unsigned)(lsn >> 32), (unsigned)(lsn & 0xffffffffu));
}

static int lsn_parse(const char *s, size_t n, uint64_t *lsn)
{
	char text[40], *end;

	if (n == 0 || n >= sizeof text)
		return -1;
	memcpy(text, s, n);
	text[n] = '\0';
	char *slash = strchr(text, '/');
	if (slash == NULL)
		return -1;
	*slash = '\0';
	unsigned long long hi = strtoull(text, &end, 16);
	if (*end != '\0' || end == text || hi > 0xffffffffull)
		return -1;
	unsigned long long lo = strtoull(slash + 1, &end, 16);
	if (*end != '\0' || end == slash + 1 || lo > 0xffffffffull)
		return -1;
	*lsn = (uint64_t)hi << 32 | lo;
	return 0;
}

/* Microseconds since 2000-01-01, the server's clock origin. */
static int64_t pg_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((int64_t)ts.tv_sec - 946684800) * 1000000 + ts.tv_nsec / 1000;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the position ---- */

/* The position stored in the state: 1 (into *lsn), 0 none, -1 error. */
static int stored_position(repl *r, uint64_t *lsn)
{
	static rx_members ms;
	char err[512], kind[16];

	int got = rx_extract_position(r->o->state, &r->pos, err, sizeof err);
	if (got <= 0) {
		if (got < 0)
			rx_diag("%s", err);
		return got;
	}
	long i;
	if (rx_control_parse(r->pos.data, r->pos.len, &ms, kind, sizeof kind, err, sizeof err) < 0 ||
	    strcmp(kind, "commit") != 0 || (i = rx_json_find(&ms, "lsn", 3)) < 0 ||
	    rx_json_kind(ms.m[i].value) != 's' || lsn_parse(ms.m[i].value.p + 1, ms.m[i].value.n - 2, lsn) < 0) {
		rx_diag("state '%s' holds a source position that is not a replication slot's (%.60s): it is ignored",
			r->o->state, r->pos.data);
		return 0;
	}
	return 1;
}

/* A status update: written up to what was received, flushed (confirmed)
 * up to the state's position. */
static int feedback(repl *r, int reply)
{
	unsigned char m[34];
	uint64_t lsn;

	if (stored_position(r, &lsn) > 0 && lsn > r->confirmed)
		r->confirmed = lsn;
	m[0] = 'r';
	put_be(m + 1, r->received > r->confirmed ? r->received : r->confirmed, 8);
	put_be(m + 9, r->confirmed, 8);
	put_be(m + 17, r->confirmed, 8);
	put_be(m + 25, (uint64_t)pg_now(), 8);
	m[33] = (unsigned char)reply;
	r->feedback_at = now_ms();
	if (PQputCopyData(r->conn, (const char *)m, sizeof m) != 1 || PQflush(r->conn) != 0) {
		char msg[512];
		rx_diag("cannot send a status update to the server: %s", rx_one_line(PQerrorMessage(r->conn), msg, sizeof msg));
		return -1;
	}
	return 0;
}

/* Everything read so far out to the pipe, the position last. */
static int flush_out(repl *r)
{
	if (!r->in_txn && r->mark > r->mark_written) {
		char lsn[32];
		lsn_text(r->mark, lsn);
		rx_buf_printf(&r->out->buf, "{\"$rx\":\"commit\",\"lsn\":\"%s\"}\n", lsn);
		r->mark_written = r->mark;
	}
	if (r->out->buf.len > 0 && rx_writer_flush(r->out) < 0)
		return -1;
	return 0;
}

/* ---- relations ---- */

static void relation_free(relation *rel)
{
	for (int i = 0; i < rel->ncols; i++) {
		rx_buf_free(&rel->cols[i].name);
		free(rel->names[i]);
	}
	free(rel->cols);
	free(rel->names);
	free(rel->key);
	free(rel->ident);
	memset(rel, 0, sizeof *rel);
}

static relation *find_relation(repl *r, uint32_t relid)
{
	for (size_t i = 0; i < r->nrels; i++)
		if (r->rels[i].relid == relid)
			return &r->rels[i];
	return NULL;
}

/* The columns a row of the followed table is found by: its replica
 * identity; under FULL, its primary key, or rx-extract's --key. */
static void identity(repl *r, relation *rel, uint32_t relid)
{
	rel->nident = 0;
	if (rel->replident != 'f') {
		for (int i = 0; i < rel->ncols; i++)
			if (rel->key[i])
				rel->ident[rel->nident++] = i;
		return;
	}
	char sql[256], oid[16];
	const char *params[1] = {oid};
	snprintf(oid, sizeof oid, "%u", relid);
	snprintf(sql, sizeof sql,
		 "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND"
		 " a.attnum = ANY (i.indkey) WHERE i.indrelid = $1::oid AND i.indisprimary");
	PGresult *res = PQexecParams(r->sql, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK)
		for (int k = 0; k < PQntuples(res); k++)
			for (int i = 0; i < rel->ncols; i++)
				if (strcmp(rel->names[i], PQgetvalue(res, k, 0)) == 0)
					rel->ident[rel->nident++] = i;
	PQclear(res);
	if (rel->nident == 0 && r->o->key != NULL) {
		char *keys = rx_xstrdup(r->o->key), *save = NULL;
		for (char *k = strtok_r(keys, ",", &save); k; k = strtok_r(NULL, ",", &save))
			for (int i = 0; i < rel->ncols; i++)
				if (strcmp(rel->names[i], k) == 0)
					rel->ident[rel->nident++] = i;
		free(keys);
	}
}

static int on_relation(repl *r, rd *m)
{
	uint32_t relid = (uint32_t)rd_int(m, 4);
	const char *nsp = rd_str(m), *name = rd_str(m);
	char replident = (char)rd_int(m, 1);
	int ncols = (int)rd_int(m, 2);
	relation *rel = find_relation(r, relid);

	if (m->bad)
		return -1;
	if (rel == NULL) {
		r->rels = rx_xrealloc(r->rels, (r->nrels + 1) * sizeof *r->rels);
		rel = &r->rels[r->nrels++];
	} else {
		relation_free(rel); /* a relation can come again at any time: replace it */
	}
	memset(rel, 0, sizeof *rel);
	rel->relid = relid;
	rel->ours = strcmp(nsp, r->nsp) == 0 && strcmp(name, r->rel) == 0;
	rel->replident = replident;
	rel->ncols = ncols;
	rel->cols = calloc((size_t)(ncols ? ncols : 1), sizeof *rel->cols);
	rel->names = calloc((size_t)(ncols ? ncols : 1), sizeof *rel->names);
	rel->key = calloc((size_t)(ncols ? ncols : 1), sizeof *rel->key);
	rel->ident = calloc((size_t)(ncols ? ncols : 1), sizeof *rel->ident);
	if (rel->cols == NULL || rel->names == NULL || rel->key == NULL || rel->ident == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (int i = 0; i < ncols; i++) {
		rel->key[i] = (int)rd_int(m, 1) & 1;
		rel->names[i] = rx_xstrdup(rd_str(m));
		rel->cols[i].oid = (Oid)rd_int(m, 4);
		rd_int(m, 4); /* typmod */
		rel->cols[i].plain = rel->names[i];
		rx_json_put_string(&rel->cols[i].name, rel->names[i], strlen(rel->names[i]));
		rx_buf_putc(&rel->cols[i].name, ':');
	}
	if (m->bad)
		return -1;
	if (!rel->ours)
		return 0;
	if (rx_extract_check_columns("table", (const char *const *)rel->names, (size_t)ncols) < 0)
		return -2;
	rx_pg_resolve_types(r->sql, rel->cols, ncols);
	identity(r, rel, relid);
	return 0;
}

/* ---- rows ---- */

/* TupleData into r->tup[which]: 0, or -1. */
static int read_tuple(repl *r, rd *m, int which, int ncols)
{
	int n = (int)rd_int(m, 2);

	if (m->bad || n != ncols) {
		rx_diag("a change of %s.%s carries %d columns, its relation %d", r->nsp, r->rel, n, ncols);
		return -1;
	}
	if (r->tupcap[which] < n) {
		r->tupcap[which] = n;
		r->tup[which] = rx_xrealloc(r->tup[which], (size_t)n * sizeof *r->tup[which]);
	}
	for (int i = 0; i < n; i++) {
		value *v = &r->tup[which][i];
		v->kind = (char)rd_int(m, 1);
		v->p = NULL;
		v->n = 0;
		if (v->kind == 't') {
			v->n = (uint32_t)rd_int(m, 4);
			if ((size_t)(m->end - m->p) < v->n) {
				m->bad = 1;
				break;
			}
			v->p = (const char *)m->p;
			m->p += v->n;
		} else if (v->kind != 'n' && v->kind != 'u') {
			rx_diag("a change of %s.%s has a column in a form rx does not read ('%c')", r->nsp, r->rel, v->kind);
			return -1;
		}
	}
	return m->bad ? -1 : 0;
}

/* Read the row again by its identity (its TOASTed values were not
 * sent): the result into the new tuple.  1 found, 0 gone, -1 error. */
static int reread(repl *r, relation *rel, PGresult **res)
{
	rx_buf sql = {0};
	const char **params = calloc((size_t)(rel->nident ? rel->nident : 1), sizeof *params);
	int *lens = calloc((size_t)(rel->nident ? rel->nident : 1), sizeof *lens);
	char **copies = calloc((size_t)(rel->nident ? rel->nident : 1), sizeof *copies);
	int rc = -1;

	if (params == NULL || lens == NULL || copies == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	rx_buf_puts(&sql, "SELECT ");
	for (int i = 0; i < rel->ncols; i++) {
		if (i > 0)
			rx_buf_puts(&sql, ", ");
		rx_sql_put_ident(&sql, rel->names[i], strlen(rel->names[i]));
	}
	rx_buf_puts(&sql, " FROM ONLY ");
	rx_sql_put_ident(&sql, r->nsp, strlen(r->nsp));
	rx_buf_putc(&sql, '.');
	rx_sql_put_ident(&sql, r->rel, strlen(r->rel));
	for (int k = 0; k < rel->nident; k++) {
		const value *v = &r->tup[1][rel->ident[k]];
		if (v->kind != 't')
			goto done; /* no key value to find it by */
		copies[k] = rx_xmalloc(v->n + 1);
		memcpy(copies[k], v->p, v->n);
		copies[k][v->n] = '\0';
		params[k] = copies[k];
		lens[k] = (int)v->n;
		rx_buf_printf(&sql, " %s ", k == 0 ? "WHERE" : "AND");
		rx_sql_put_ident(&sql, rel->names[rel->ident[k]], strlen(rel->names[rel->ident[k]]));
		rx_buf_printf(&sql, "::text = $%d", k + 1);
	}
	if (rel->nident == 0)
		goto done;
	*res = PQexecParams(r->sql, sql.data, rel->nident, NULL, params, lens, NULL, 0);
	if (PQresultStatus(*res) != PGRES_TUPLES_OK) {
		char msg[512];
		rx_diag("cannot read a row of %s.%s again: %s", r->nsp, r->rel,
			rx_one_line(PQresultErrorMessage(*res), msg, sizeof msg));
		goto done;
	}
	rc = PQntuples(*res) > 0;
done:
	for (int k = 0; k < rel->nident; k++)
		free(copies[k]);
	free(copies);
	free(params);
	free(lens);
	rx_buf_free(&sql);
	return rc;
}

/* The new row: {"col":value,...}, through rx_extract_row. */
static int write_row(repl *r, relation *rel, int have_old)
{
	rx_buf *b = &r->out->buf;
	PGresult *res = NULL;
	value *nv = r->tup[1];
	int missing = 0;

	for (int i = 0; i < rel->ncols; i++) {
		if (nv[i].kind != 'u')
			continue;
		if (have_old && r->tup[0][i].kind != 'u')
			nv[i] = r->tup[0][i]; /* FULL identity sent it in the old row */
		else
			missing = 1;
	}
	if (missing) {
		int found = reread(r, rel, &res);
		if (found <= 0) {
			PQclear(res);
			if (found == 0) {
				r->skipped++; /* deleted since: its delete follows on the stream */
				return 0;
			}
			if (rel->nident == 0)
				rx_diag("an update of %s.%s did not send its TOASTed columns, and the table has no key to "
					"read the row again by: give rx-extract --key",
					r->nsp, r->rel);
			return -1;
		}
		r->rereads++;
	}
	size_t start = b->len;
	rx_buf_putc(b, '{');
	for (int i = 0; i < rel->ncols; i++) {
		if (i > 0)
			rx_buf_putc(b, ',');
		rx_buf_put(b, rel->cols[i].name.data, rel->cols[i].name.len);
		if (res != NULL) {
			if (PQgetisnull(res, 0, i))
				rx_buf_put(b, "null", 4);
			else
				rx_pg_put_value(b, &rel->cols[i], PQgetvalue(res, 0, i), (size_t)PQgetlength(res, 0, i));
		} else if (nv[i].kind == 'n') {
			rx_buf_put(b, "null", 4);
		} else {
			rx_pg_put_value(b, &rel->cols[i], nv[i].p, nv[i].n);
		}
	}
	rx_buf_putc(b, '}');
	PQclear(res);
	r->rows++;
	rx_extract_row(r->out, start, r->o);
	return r->out->error ? -1 : 0;
}

/* {"$rx":"delete","row":{...}} from an old tuple: its identity columns
 * (every column under FULL identity). */
static int write_delete(repl *r, relation *rel, const value *old)
{
	rx_buf *b = &r->out->buf;
	int first = 1;

	rx_buf_puts(b, "{\"$rx\":\"delete\",\"row\":{");
	for (int i = 0; i < rel->ncols; i++) {
		if (!rel->key[i] || old[i].kind == 'u')
			continue;
		if (!first)
			rx_buf_putc(b, ',');
		first = 0;
		rx_buf_put(b, rel->cols[i].name.data, rel->cols[i].name.len);
		if (old[i].kind == 'n')
			rx_buf_put(b, "null", 4);
		else
			rx_pg_put_value(b, &rel->cols[i], old[i].p, old[i].n);
	}
	rx_buf_puts(b, "}}\n");
	r->deletes++;
	rx_writer_record(r->out);
	return r->out->error ? -1 : 0;
}

/* Did an update under FULL identity change the row's key? */
static int key_changed(const relation *rel, const value *old, const value *nv)
{
	for (int k = 0; k < rel->nident; k++) {
		int i = rel->ident[k];
		if (old[i].kind != nv[i].kind || old[i].n != nv[i].n ||
		    (old[i].kind == 't' && memcmp(old[i].p, nv[i].p, old[i].n) != 0))
			return 1;
	}
	return 0;
}

static int on_change(repl *r, char tag, rd *m)
{
	uint32_t relid = (uint32_t)rd_int(m, 4);
	relation *rel = find_relation(r, relid);

	if (m->bad)
		return -1;
	if (rel == NULL) {
		rx_diag("a change of relation %u before its description", relid);
		return -1;
	}
	if (!rel->ours)
		return 0;
	char t = (char)rd_int(m, 1);
	if (tag == 'I') {
		if (t != 'N' || read_tuple(r, m, 1, rel->ncols) < 0)
			return -1;
		return write_row(r, rel, 0);
	}
	if (tag == 'D') {
		if ((t != 'K' && t != 'O') || read_tuple(r, m, 0, rel->ncols) < 0)
			return -1;
		return write_delete(r, rel, r->tup[0]);
	}
	/* an update: maybe the old key ('K') or the old row ('O'), then the new */
	int have_old = 0;
	if (t == 'K' || t == 'O') {
		if (read_tuple(r, m, 0, rel->ncols) < 0)
			return -1;
		have_old = t;
		t = (char)rd_int(m, 1);
	}
	if (t != 'N' || read_tuple(r, m, 1, rel->ncols) < 0)
		return -1;
	/* the key changed: the old key is gone */
	if ((have_old == 'K' || (have_old == 'O' && key_changed(rel, r->tup[0], r->tup[1]))) &&
	    write_delete(r, rel, r->tup[0]) < 0)
		return -1;
	return write_row(r, rel, have_old == 'O');
}

static int on_truncate(repl *r, rd *m)
{
	int n = (int)rd_int(m, 4);

	rd_int(m, 1); /* options */
	for (int i = 0; i < n && !m->bad; i++) {
		relation *rel = find_relation(r, (uint32_t)rd_int(m, 4));
		if (rel == NULL || !rel->ours)
			continue;
		rx_buf_puts(&r->out->buf, "{\"$rx\":\"truncate\",\"table\":");
		r->scratch.len = 0;
		rx_buf_reset(&r->scratch);
		rx_buf_printf(&r->scratch, "%s.%s", r->nsp, r->rel);
		rx_json_put_string(&r->out->buf, r->scratch.data, r->scratch.len);
		rx_buf_puts(&r->out->buf, "}\n");
		rx_writer_record(r->out);
	}
	return m->bad ? -1 : 0;
}

/* One pgoutput message (inside an XLogData). */
static int on_message(repl *r, rd *m)
{
	char tag = (char)rd_int(m, 1);

	switch (tag) {
	case 'B':
		r->in_txn = 1;
		return 0;
	case 'C':
		rd_int(m, 1);             /* flags */
		rd_int(m, 8);             /* commit_lsn */
		r->commit_end = rd_int(m, 8);
		r->in_txn = 0;
		if (r->commit_end > r->mark)
			r->mark = r->commit_end;
		rx_killpoint("commit");
		return m->bad ? -1 : 0;
	case 'R':
		return on_relation(r, m);
	case 'I':
	case 'U':
	case 'D':
		return on_change(r, tag, m);
	case 'T':
		return on_truncate(r, m);
	case 'Y': /* a type: its OID is looked up in the catalog */
	case 'O': /* an origin */
	case 'M': /* a logical decoding message */
		return 0;
	}
	rx_diag("an unknown pgoutput message '%c'", tag);
	return -1;
}

/* One CopyData of the stream. */
static int on_copydata(repl *r, const char *buf, int n)
{
	rd m = {(const unsigned char *)buf, (const unsigned char *)buf + n, 0};
	char tag = (char)rd_int(&m, 1);

	if (tag == 'w') {
		rd_int(&m, 8); /* walStart: 0 on a Relation message */
		uint64_t end = rd_int(&m, 8);
		rd_int(&m, 8); /* sendTime */
		if (end > r->received)
			r->received = end;
		return m.bad ? -1 : on_message(r, &m);
	}
	if (tag == 'k') {
		uint64_t end = rd_int(&m, 8);
		rd_int(&m, 8);
		int reply = (int)rd_int(&m, 1);
		if (m.bad)
			return -1;
		if (end > r->received)
			r->received = end;
		/* between transactions the server's position is ours too: a
		 * quiet table must not keep the server's WAL for ever */
		if (!r->in_txn && end > r->mark)
			r->mark = end;
		if (reply && (flush_out(r) < 0 || feedback(r, 0) < 0))
			return -1;
		return 0;
	}
	rx_diag("an unknown replication message '%c'", tag);
	return -1;
}

/* ---- setting up ---- */

static PGresult *exec1(PGconn *c, const char *sql, const char *p1, const char *p2, const char *p3)
{
	const char *params[3] = {p1, p2, p3};
	int n = p3 ? 3 : p2 ? 2 : p1 ? 1 : 0;

	return PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
}

/* The followed table, the slot and the publication, checked before the
 * stream starts.  0, or an exit status (the message printed). */
static int check_setup(repl *r, uint64_t *slot_lsn)
{
	const extract_options *o = r->o;
	rx_buf name = {0};
	PGresult *res = NULL;
	char msg[1024];
	int status = RX_EXIT_FAIL;

	for (const char *p = o->slot; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_')) {
			rx_diag("--slot '%s': a replication slot's name has lower-case letters, digits and '_' only", o->slot);
			return RX_EXIT_USAGE;
		}
	const char *t = o->table, *dot = strchr(t, '.');
	if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
		rx_sql_put_ident(&name, t, (size_t)(dot - t));
		rx_buf_putc(&name, '.');
		t = dot + 1;
	}
	rx_sql_put_ident(&name, t, strlen(t));
	res = exec1(r->sql,
		    "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
		    " WHERE c.oid = to_regclass($1)",
		    name.data, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rx_diag("cannot look the table up: %s", rx_one_line(PQresultErrorMessage(res), msg, sizeof msg));
		goto done;
	}
	if (PQntuples(res) == 0) {
		rx_diag("table '%s' does not exist", o->table);
		goto done;
	}
	snprintf(r->nsp, sizeof r->nsp, "%s", PQgetvalue(res, 0, 0));
	snprintf(r->rel, sizeof r->rel, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	res = exec1(r->sql,
		    "SELECT plugin, database = current_database(), confirmed_flush_lsn::text, active_pid"
		    " FROM pg_replication_slots WHERE slot_name = $1",
		    o->slot, NULL, NULL);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rx_diag("cannot look the slot up: %s", rx_one_line(PQresultErrorMessage(res), msg, sizeof msg));
		goto done;
	}
	if (PQntuples(res) == 0) {
		rx_diag("replication slot '%s' does not exist: create it once with SELECT "
			"pg_create_logical_replication_slot('%s', 'pgoutput'), then run a full sync (a slot streams only "
			"the changes after it was made)",
			o->slot, o->slot);
		goto done;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "pgoutput") != 0 || strcmp(PQgetvalue(res, 0, 1), "t") != 0) {
		rx_diag("replication slot '%s' is not a pgoutput slot of this database (plugin %s)", o->slot,
			PQgetvalue(res, 0, 0));
		goto done;
	}
	if (!PQgetisnull(res, 0, 3)) {
		rx_diag("replication slot '%s' is in use by the server process %s (another rx-extract?)", o->slot,
			PQgetvalue(res, 0, 3));
		status = RX_EXIT_TEMPFAIL;
		goto done;
	}
	*slot_lsn = 0;
	if (!PQgetisnull(res, 0, 2))
		lsn_parse(PQgetvalue(res, 0, 2), strlen(PQgetvalue(res, 0, 2)), slot_lsn);
	PQclear(res);
	res = exec1(r->sql, "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
		    o->publication, r->nsp, r->rel);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rx_diag("cannot look the publication up: %s", rx_one_line(PQresultErrorMessage(res), msg, sizeof msg));
		goto done;
	}
	if (PQntuples(res) == 0) {
		rx_diag("table %s.%s is not in publication '%s' (or the publication does not exist): CREATE PUBLICATION "
			"... FOR TABLE, or ALTER PUBLICATION ... ADD TABLE",
			r->nsp, r->rel, o->publication);
		goto done;
	}
	status = 0;
done:
	PQclear(res);
	rx_buf_free(&name);
	return status;
}

static PGconn *connect_to(const char *conninfo, int replication)
{
	const char *keys[] = {"dbname", replication ? "replication" : NULL, NULL};
	const char *values[] = {conninfo, replication ? "database" : NULL, NULL};

	return PQconnectdbParams(keys, values, 1);
}

int rx_extract_pgrepl(const extract_options *o, rx_writer *out)
{
	repl r;
	PGresult *res = NULL;
	rx_buf sql = {0};
	char msg[1024], lsn[32];
	int status = RX_EXIT_FAIL;
	uint64_t slot_lsn = 0, start = 0;

	memset(&r, 0, sizeof r);
	r.o = o;
	r.out = out;
	rx_extract_catch_signals();
	r.sql = connect_to(o->source, 0);
	if (r.sql == NULL || PQstatus(r.sql) != CONNECTION_OK) {
		rx_diag("cannot connect to PostgreSQL: %s",
			r.sql ? rx_one_line(PQerrorMessage(r.sql), msg, sizeof msg) : "out of memory");
		goto done;
	}
	rx_pg_session(r.sql);
	status = check_setup(&r, &slot_lsn);
	if (status != 0)
		goto done;
	status = RX_EXIT_FAIL;
	if (stored_position(&r, &start) > 0) {
		if (start < slot_lsn) {
			char a[32], b[32];
			lsn_text(start, a);
			lsn_text(slot_lsn, b);
			rx_diag("warning: slot '%s' is at %s, past the state's position %s: the changes between were "
				"confirmed by something else and are not streamed (run a full sync)",
				o->slot, b, a);
		}
		r.confirmed = start;
	}
	r.conn = connect_to(o->source, 1);
	if (r.conn == NULL || PQstatus(r.conn) != CONNECTION_OK) {
		rx_diag("cannot open a replication connection to PostgreSQL: %s",
			r.conn ? rx_one_line(PQerrorMessage(r.conn), msg, sizeof msg) : "out of memory");
		goto done;
	}
	/* the walsender writes values with these settings */
	rx_pg_session(r.conn);
	lsn_text(start, lsn);
	rx_buf_printf(&sql, "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names '", o->slot, lsn);
	rx_buf_putc(&sql, '"');
	for (const char *p = o->publication; *p; p++) {
		if (*p == '"')
			rx_buf_putc(&sql, '"');
		if (*p == '\'')
			rx_buf_putc(&sql, '\'');
		rx_buf_putc(&sql, *p);
	}
	rx_buf_puts(&sql, "\"')");
	res = PQexec(r.conn, sql.data);
	if (PQresultStatus(res) != PGRES_COPY_BOTH) {
		rx_diag("cannot start replication from slot '%s': %s", o->slot,
			rx_one_line(PQresultErrorMessage(res), msg, sizeof msg));
		goto done;
	}
	PQclear(res);
	res = NULL;
	r.feedback_at = now_ms();
	long long flushed_at = now_ms();
	for (;;) {
		if (rx_extract_stopping && !r.in_txn)
			break;
		char *buf = NULL;
		int n = PQgetCopyData(r.conn, &buf, 1);
		if (n > 0) {
			int rc = on_copydata(&r, buf, n);
			PQfreemem(buf);
			if (rc == -2) {
				status = RX_EXIT_DATAERR;
				goto done;
			}
			if (rc < 0) {
				if (out->error)
					status = RX_EXIT_IOERR;
				goto done;
			}
			if (now_ms() - r.feedback_at >= FEEDBACK_MS && !r.in_txn &&
			    (flush_out(&r) < 0 || feedback(&r, 0) < 0))
				goto done;
			continue;
		}
		if (n == -2 || n == -1) {
			res = PQgetResult(r.conn);
			rx_diag("the replication stream ended: %s",
				rx_one_line(res && PQresultErrorMessage(res)[0] ? PQresultErrorMessage(res)
										  : PQerrorMessage(r.conn),
					    msg, sizeof msg));
			goto done;
		}
		/* nothing ready in libpq's buffer: more on the socket already is
		 * read first (for FLUSH_MS at most), so that a busy stream goes out
		 * in fewer, larger writes; otherwise what was read goes out now */
		struct pollfd more = {PQsocket(r.conn), POLLIN, 0};
		if (now_ms() - flushed_at < FLUSH_MS && poll(&more, 1, 0) > 0) {
			if (PQconsumeInput(r.conn) == 0) {
				rx_diag("the replication connection failed: %s",
					rx_one_line(PQerrorMessage(r.conn), msg, sizeof msg));
				goto done;
			}
			continue;
		}
		if (flush_out(&r) < 0) {
			status = RX_EXIT_IOERR;
			goto done;
		}
		flushed_at = now_ms();
		if (now_ms() - r.feedback_at >= FEEDBACK_MS && feedback(&r, 0) < 0)
			goto done;
		struct pollfd p = {PQsocket(r.conn), POLLIN, 0};
		if (poll(&p, 1, POLL_MS) > 0 && PQconsumeInput(r.conn) == 0) {
			rx_diag("the replication connection failed: %s", rx_one_line(PQerrorMessage(r.conn), msg, sizeof msg));
			goto done;
		}
	}
	/* stopped between transactions: the rest out, the position confirmed */
	if (flush_out(&r) < 0) {
		status = RX_EXIT_IOERR;
		goto done;
	}
	feedback(&r, 0);
	PQputCopyEnd(r.conn, NULL);
	PQflush(r.conn);
	status = RX_EXIT_OK;
done:
	if (status != RX_EXIT_OK && status != RX_EXIT_IOERR && r.conn != NULL && PQstatus(r.conn) == CONNECTION_OK)
		flush_out(&r); /* what was read of whole transactions still goes */
	PQclear(res);
	PQfinish(r.conn);
	PQfinish(r.sql);
	for (size_t i = 0; i < r.nrels; i++)
		relation_free(&r.rels[i]);
	free(r.rels);
	free(r.tup[0]);
	free(r.tup[1]);
	rx_buf_free(&r.scratch);
	rx_buf_free(&r.pos);
	rx_buf_free(&sql);
	rx_extract_position_close();
	return status;
}
