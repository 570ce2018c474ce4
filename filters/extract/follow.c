/*
 * follow.c - rx-extract --follow COL: any SQL model (--sqlite or
 * --postgres, --query or --table) polled every --every ms for the rows
 * whose COL (an update time, a sequence) is at or past a cursor.
 *
 * NOTES ON THE DESIGN
 *
 *  - A poll is the model wrapped:
 *        SELECT * FROM (model) AS rx_f WHERE rx_f.COL >= CURSOR ORDER BY rx_f.COL
 *    run by the source of the batch extract (sqlite.c, postgres.c, which
 *    keeps its connection between polls), so a row reads as a full run
 *    writes it.  CURSOR is the last row's COL (the JSON value as an SQL
 *    literal: a string quoted, a number as it is); rows whose COL is NULL
 *    are never followed.  An index on COL keeps a poll cheap.
 *
 *  - Late commits.  A transaction can commit after a poll with a COL
 *    older than rows already read (now() is the transaction's start; a
 *    sequence is drawn before the commit).  So the cursor lags: a poll
 *    starts from the largest COL seen by a poll at least --overlap ms old,
 *    re-reading the rows of the last --overlap ms; a row read again with
 *    the very same text is not written again (a fingerprint of each row
 *    written in that window), and a changed one is, so that rx-diff
 *    compares it.  A commit that lags by more than --overlap is missed:
 *    pair a follower with a periodic full sync.
 *
 *  - Deletes are invisible to a cursor: a row that is gone is simply not
 *    read.  A follower never deletes anything; a full sync in mirror mode
 *    does (docs/streaming.md).
 *
 *  - The position.  After each poll, a commit record with the cursor the
 *    next poll starts from, {"$rx":"commit","cursor":VALUE}, follows the
 *    rows; rx-diff --commit stores it once they are acked (feed.c), and a
 *    follower restarted starts from the stored cursor: a crash re-reads
 *    what was not delivered, and the snapshot drops what was.
 */
#include "extract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>

typedef struct poll_mark {
	long long at;   /* when the poll started (ms); LLONG_MIN: before any */
	rx_buf value;   /* the largest COL it read (raw JSON) */
} poll_mark;

/* Fingerprints of the rows written in the window, with the poll that
 * last read each. */
typedef struct seen {
	uint64_t *hash;
	uint64_t *poll;
	size_t cap, count;
} seen;

static struct {
	const char *col;
	size_t collen;
	rx_members ms;
	rx_buf last;        /* COL of the last row read by this poll */
	int got;            /* a row with a COL was read */
	seen fp;
	uint64_t poll;      /* this poll's number (from 1) */
	long long skipped;
} fw;

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A row the poll before this one did not read is out of the window: the
 * cursor only moves on, so no later poll reads it again unchanged. */
static int fp_live(uint64_t poll)
{
	return poll + 1 >= fw.poll;
}

static void fp_grow(void)
{
	seen old = fw.fp;
	size_t cap = old.cap ? old.cap : 1024;

	/* drop what left the window; grow only if the rest still fills it */
	size_t live = 0;
	for (size_t i = 0; i < old.cap; i++)
		live += old.poll[i] != 0 && fp_live(old.poll[i]);
	while (live * 2 + 2 > cap)
		cap *= 2;
	fw.fp.hash = calloc(cap, sizeof *fw.fp.hash);
	fw.fp.poll = calloc(cap, sizeof *fw.fp.poll);
	if (fw.fp.hash == NULL || fw.fp.poll == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	fw.fp.cap = cap;
	fw.fp.count = 0;
	for (size_t i = 0; i < old.cap; i++) {
		if (old.poll[i] == 0 || !fp_live(old.poll[i]))
			continue;
		size_t j = (size_t)old.hash[i] & (cap - 1);
		while (fw.fp.poll[j] != 0)
			j = (j + 1) & (cap - 1);
		fw.fp.hash[j] = old.hash[i];
		fw.fp.poll[j] = old.poll[i];
		fw.fp.count++;
	}
	free(old.hash);
	free(old.poll);
}

/* Was this very row written in the window?  Note it either way. */
static int fp_seen(const char *row, size_t n)
{
	uint64_t h = XXH3_64bits(row, n);

	if ((fw.fp.count + 1) * 2 > fw.fp.cap)
		fp_grow();
	size_t j = (size_t)h & (fw.fp.cap - 1);
	while (fw.fp.poll[j] != 0) {
		if (fw.fp.hash[j] == h) {
			int was = fp_live(fw.fp.poll[j]);
			fw.fp.poll[j] = fw.poll;
			return was;
		}
		j = (j + 1) & (fw.fp.cap - 1);
	}
	fw.fp.hash[j] = h;
	fw.fp.poll[j] = fw.poll;
	fw.fp.count++;
	return 0;
}

static int on_row(const char *row, size_t n)
{
	char err[256];

	if (rx_json_scan_object(row, n, &fw.ms, err, sizeof err) == 0) {
		long i = rx_json_find(&fw.ms, fw.col, fw.collen);
		if (i >= 0 && rx_json_kind(fw.ms.m[i].value) != 'z') {
			rx_buf_reset(&fw.last);
			rx_buf_put(&fw.last, fw.ms.m[i].value.p, fw.ms.m[i].value.n);
			fw.got = 1;
		}
	}
	if (fp_seen(row, n)) {
		fw.skipped++;
		return 0; /* written already, unchanged */
	}
	return 1;
}

/* The cursor (raw JSON) as an SQL literal. */
static int put_literal(rx_buf *sql, rx_span v)
{
	rx_buf text = {0};

	switch (rx_json_kind(v)) {
	case 's':
		rx_json_string_decode(v, &text);
		rx_buf_putc(sql, '\'');
		for (size_t i = 0; i < text.len; i++) {
			if (text.data[i] == '\'')
				rx_buf_putc(sql, '\'');
			rx_buf_putc(sql, text.data[i]);
		}
		rx_buf_putc(sql, '\'');
		rx_buf_free(&text);
		return 0;
	case 'n':
	case 't':
	case 'f':
		rx_buf_put(sql, v.p, v.n);
		return 0;
	}
	return -1;
}

static void poll_sql(const extract_options *o, const rx_buf *cursor, rx_buf *sql)
{
	rx_buf_reset(sql);
	rx_buf_puts(sql, "SELECT * FROM (\n");
	if (o->table != NULL) {
		const char *t = o->table, *dot = strchr(t, '.');
		rx_buf_puts(sql, "SELECT * FROM ");
		if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
			rx_sql_put_ident(sql, t, (size_t)(dot - t));
			rx_buf_putc(sql, '.');
			t = dot + 1;
		}
		rx_sql_put_ident(sql, t, strlen(t));
	} else {
		size_t n = strlen(o->query);
		while (n > 0 && strchr(" \t\r\n;", o->query[n - 1]) != NULL)
			n--;
		rx_buf_put(sql, o->query, n);
	}
	rx_buf_puts(sql, "\n) AS rx_f");
	if (cursor->len > 0) {
		rx_buf_puts(sql, " WHERE rx_f.");
		rx_sql_put_ident(sql, o->follow, strlen(o->follow));
		rx_buf_puts(sql, " >= ");
		put_literal(sql, rx_span_of(cursor->data, cursor->len));
	}
	rx_buf_puts(sql, " ORDER BY rx_f.");
	rx_sql_put_ident(sql, o->follow, strlen(o->follow));
}

/* The cursor stored by rx-diff --commit: 1 (into cur), 0 none. */
static int stored_cursor(const extract_options *o, rx_buf *cur)
{
	rx_buf pos = {0}, lit = {0};
	rx_members ms = {0};
	char err[512], kind[16];
	int rc = 0;

	int got = rx_extract_position(o->state, &pos, err, sizeof err);
	if (got < 0)
		rx_diag("%s", err);
	if (got > 0) {
		long i;
		if (rx_control_parse(pos.data, pos.len, &ms, kind, sizeof kind, err, sizeof err) == 0 &&
		    strcmp(kind, "commit") == 0 && (i = rx_json_find(&ms, "cursor", 6)) >= 0 &&
		    put_literal(&lit, ms.m[i].value) == 0) {
			rx_buf_reset(cur);
			rx_buf_put(cur, ms.m[i].value.p, ms.m[i].value.n);
			rc = 1;
		} else {
			rx_diag("state '%s' holds a source position that is not a follower's cursor (%.60s): the follower "
				"starts from the beginning",
				o->state, pos.data);
		}
	}
	free(ms.m);
	rx_buf_free(&pos);
	rx_buf_free(&lit);
	return rc;
}

int rx_extract_follow(const extract_options *o, rx_writer *out)
{
	extract_options q = *o;
	rx_buf sql = {0}, cursor = {0}, written = {0};
	poll_mark *marks = NULL;
	size_t nmarks = 0;
	int status = RX_EXIT_OK;

	rx_extract_catch_signals();
	memset(&fw, 0, sizeof fw);
	fw.col = o->follow;
	fw.collen = strlen(o->follow);
	rx_extract_row_hook = on_row;
	q.table = NULL;
	q.keep_connection = 1;
	int resumed = stored_cursor(o, &cursor);
	if (resumed)
		rx_buf_put(&written, cursor.data, cursor.len);
	for (;;) {
		long long started = now_ms();
		fw.poll++;
		fw.got = 0;
		poll_sql(o, &cursor, &sql);
		q.query = sql.data;
		status = o->postgres ? rx_extract_postgres(&q, out) : rx_extract_sqlite(&q, out);
		if (status != RX_EXIT_OK)
			break;
		if (fw.got) {
			/* the first poll of a sync without a cursor: what it read is
			 * old, its last COL the cursor at once */
			marks = rx_xrealloc(marks, (nmarks + 1) * sizeof *marks);
			marks[nmarks].at = !resumed && fw.poll == 1 ? started - o->overlap_ms - 1 : started;
			memset(&marks[nmarks].value, 0, sizeof marks[nmarks].value);
			rx_buf_put(&marks[nmarks].value, fw.last.data, fw.last.len);
			nmarks++;
		}
		/* the cursor: the largest COL of the newest poll old enough */
		long long now = now_ms();
		size_t base = nmarks;
		for (size_t i = 0; i < nmarks; i++)
			if (marks[i].at <= now - o->overlap_ms)
				base = i;
		if (base < nmarks) {
			rx_buf_reset(&cursor);
			rx_buf_put(&cursor, marks[base].value.data, marks[base].value.len);
			for (size_t i = 0; i < base; i++)
				rx_buf_free(&marks[i].value);
			memmove(marks, marks + base, (nmarks - base) * sizeof *marks);
			nmarks -= base;
		}
		if (cursor.len > 0 && (written.len != cursor.len || memcmp(written.data, cursor.data, cursor.len) != 0)) {
			rx_buf_puts(&out->buf, "{\"$rx\":\"commit\",\"cursor\":");
			rx_buf_put(&out->buf, cursor.data, cursor.len);
			rx_buf_puts(&out->buf, "}\n");
			rx_buf_reset(&written);
			rx_buf_put(&written, cursor.data, cursor.len);
		}
		if (rx_writer_flush(out) < 0) {
			status = RX_EXIT_IOERR;
			break;
		}
		while (!rx_extract_stopping && now_ms() < started + o->every_ms) {
			long long left = started + o->every_ms - now_ms();
			usleep((useconds_t)(left > 50 ? 50000 : left * 1000));
		}
		if (rx_extract_stopping)
			break;
	}
	rx_extract_row_hook = NULL;
	rx_extract_postgres_close();
	rx_extract_position_close();
	for (size_t i = 0; i < nmarks; i++)
		rx_buf_free(&marks[i].value);
	free(marks);
	free(fw.ms.m);
	rx_buf_free(&fw.last);
	free(fw.fp.hash);
	free(fw.fp.poll);
	rx_buf_free(&sql);
	rx_buf_free(&cursor);
	rx_buf_free(&written);
	return status;
}
