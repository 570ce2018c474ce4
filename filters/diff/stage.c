/*
 * stage.c - a stage run: read the whole model, compare it with the
 * snapshot, stage the changes, and only then emit them.
 *
 * NOTES ON THE DESIGN
 *
 * Memory is bounded whatever the model's size; the work is an external
 * sort-merge:
 *
 *  1. Read (read.c).  Every row is validated, keyed and fingerprinted on
 *     several threads and lands, as a record, in runs sorted by key.
 *     Nothing is emitted.
 *  2. Merge.  The sorted runs, the snapshot (feed.c: a thread scanning
 *     it in key order) and the uncertain keys are merged in key order,
 *     like comm(1).  A key seen twice is dead-lettered; a row whose
 *     fingerprint is the delivered one is unchanged; any other row is
 *     hashed (if it was not yet) and compared.  New, changed and
 *     uncertain keys, and in mirror mode keys gone from the model, become
 *     changes: staged in the state (one transaction, by the thread of
 *     stager.c) and written to an output spool.
 *  3. Guard rails are checked on the totals.  If one trips, the
 *     transaction is rolled back and nothing is emitted (exit 65).
 *     Otherwise the staging commits (synchronous=FULL: once a change can
 *     reach the destination, the state knows it was staged) and the output
 *     spool is copied to stdout.
 *
 * SQLite orders TEXT keys with memcmp (BINARY collation), and so does the
 * sort here, so the merge can walk both in step.
 *
 * Crash points for tests (rx_killpoint, RX_KILL_AT=rx-diff:POINT:N): the
 * Nth pass of stage (rows read), merge (changes staged, before the
 * staging commits), emit (once: the staging committed, nothing written
 * yet) and commit (acks applied, commit.c).
 */
#include "stage.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define READER_BUF ((size_t)256 << 10)    /* a run's read buffer, at most */
#define READER_MIN ((size_t)16 << 10)     /* and at least */
#define READER_BUDGET ((size_t)4 << 20)   /* all the runs' together */

/* Sorted runs of records in one temporary file. */
typedef struct run_reader {
	off_t pos, end;   /* what is left of this run in the file */
	char *buf;        /* read buffer */
	size_t cap, at, len;
	const rec *cur;   /* current record, or NULL at the end */
	uint64_t prefix;  /* of its key */
} run_reader;

static const char *op_new(enum diff_mode m)
{
	static const char *const ops[] = {"insert", "update", "upsert", "upsert", "delete"};
	return ops[m];
}

static const char *op_changed(enum diff_mode m)
{
	static const char *const ops[] = {NULL, "update", "upsert", "upsert", NULL};
	return ops[m];
}

static int temp_fd(char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");
	char path[4096];

	snprintf(path, sizeof path, "%s/rx-diff.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file in '%s': %s", dir && *dir ? dir : "/tmp",
			 strerror(errno));
		return -1;
	}
	unlink(path);
	return fd;
}

/* ---- pass 2: merge ---- */

static int reader_fill(run_reader *rd, int fd)
{
	/* make the record at rd->at whole in the buffer */
	for (;;) {
		size_t have = rd->len - rd->at;
		if (have >= sizeof(rec)) {
			const rec *r = (const rec *)(rd->buf + rd->at);
			if (have >= rec_bytes(r)) {
				rd->cur = r;
				rd->prefix = key_prefix(rec_key(r), r->keylen);
				return 0;
			}
		}
		if (rd->pos >= rd->end) {
			rd->cur = NULL;
			return have == 0 ? 0 : -1;
		}
		memmove(rd->buf, rd->buf + rd->at, have);
		rd->len = have;
		rd->at = 0;
		if (have >= sizeof(rec)) {
			size_t need = rec_bytes((const rec *)rd->buf);
			if (need > rd->cap) {
				rd->cap = need;
				rd->buf = rx_xrealloc(rd->buf, rd->cap);
			}
		}
		size_t want = rd->cap - rd->len;
		if ((off_t)want > rd->end - rd->pos)
			want = (size_t)(rd->end - rd->pos);
		ssize_t got = pread(fd, rd->buf + rd->len, want, rd->pos);
		if (got <= 0)
			return -1;
		rd->len += (size_t)got;
		rd->pos += got;
	}
}

static int reader_next(run_reader *rd, int fd)
{
	rd->at += rec_bytes(rd->cur);
	return reader_fill(rd, fd);
}

/* The row of r (inline, or from the spool) into buf. */
static int spool_row(stage_ctx *c, const rec *r, rx_buf *buf)
{
	rx_buf_reset(buf);
	if (r->flags & REC_INLINE) {
		rx_buf_put(buf, rec_key(r) + r->keylen, r->rowlen);
		return 0;
	}
	rx_buf_reserve(buf, r->rowlen + 1);
	size_t got = 0;
	while (got < r->rowlen) {
		ssize_t n = pread(c->spool_fd, buf->data + got, r->rowlen - got, (off_t)(r->offset + got));
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	buf->len = got;
	buf->data[got] = '\0';
	return 0;
}

static void put_trimmed(rx_buf *b, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		n--;
	rx_buf_put(b, s, n);
}

/* Stage one change and write it to the output spool.  row is the raw text
 * the change carries; full is the full current row, kept for the snapshot
 * (NULL: row itself).  changed: the names list, or NULL. */
static int emit_change(stage_ctx *c, const char *op, const char *key, size_t keylen, const unsigned char *hash,
		       const unsigned char *raw, int action, rx_span row, rx_span full, const char *changed, rx_span id,
		       char *err, size_t errlen)
{
	char hex[2 * DIFF_HASH_LEN + 1];
	rx_buf *b = &c->out.buf;

	rx_diff_hex(hash, hex);
	rx_buf_puts(b, "{\"op\":\"");
	rx_buf_puts(b, op);
	rx_buf_puts(b, "\",\"key\":");
	rx_json_put_string(b, key, keylen);
	rx_buf_puts(b, ",\"hash\":\"");
	rx_buf_puts(b, hex);
	rx_buf_putc(b, '"');
	rx_buf_puts(b, c->run_tag);
	if (id.n > 0) {
		/* the destination's own id of the record: where CRMs address it */
		rx_buf_puts(b, ",\"id\":");
		rx_buf_put(b, id.p, id.n);
	}
	if (changed != NULL) {
		rx_buf_puts(b, ",\"changed\":[");
		rx_buf_puts(b, changed);
		rx_buf_putc(b, ']');
	}
	rx_buf_puts(b, ",\"row\":");
	put_trimmed(b, row.p, row.n);
	rx_buf_puts(b, "}\n");
	rx_writer_record(&c->out);
	if (c->out.error) {
		snprintf(err, errlen, "cannot write a temporary file: %s", strerror(c->out.error));
		return -1;
	}

	if (full.p == NULL)
		full = row;
	if (c->stg == NULL)
		return 0; /* a preview stages nothing */
	return rx_diff_stager_put(c->stg, op, key, keylen, hash, raw, action, full, id, err, errlen);
}

/* The last delivered row of a key, unpacked into out, and its id at the
 * destination into c->id: 1, 0 none, -1 error. */
static int last_row(stage_ctx *c, const char *key, size_t keylen, rx_buf *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = c->get_row;
	int found = 0;

	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (rx_diff_unpack(&c->dict, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out) < 0) {
			snprintf(err, errlen, "the snapshot's row for key '%.*s' is damaged", (int)keylen, key);
			found = -1;
		} else {
			found = 1;
			if (sqlite3_column_type(st, 1) == SQLITE_TEXT) {
				rx_buf_reset(&c->id);
				rx_buf_put(&c->id, sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1));
			}
		}
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->rdb));
		found = -1;
	}
	sqlite3_reset(st);
	return found;
}

/* The destination's id of a delivered key, alone, into c->id (the row is
 * not needed; no id there leaves c->id as it was): 0, or -1 error. */
static int last_id(stage_ctx *c, const char *key, size_t keylen, char *err, size_t errlen)
{
	sqlite3_stmt *st = c->get_id;
	int rc;

	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW && sqlite3_column_type(st, 0) == SQLITE_TEXT) {
		rx_buf_reset(&c->id);
		rx_buf_put(&c->id, sqlite3_column_text(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	}
	sqlite3_reset(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->rdb));
		return -1;
	}
	return 0;
}

static rx_span id_of(const stage_ctx *c)
{
	return rx_span_of(c->id.data, c->id.len);
}

/* A key with exactly one model row.  snap: the key's entry in the
 * snapshot, NULL if it was never delivered (or its hash is damaged). */
static int merge_row(stage_ctx *c, rec *r, const rec *snap, int uncertain, char *err, size_t errlen)
{
	static rx_buf row, old, changed, partial;
	static rx_members new_ms, old_ms;
	static unsigned char *flags;
	static size_t cap_flags;
	const diff_options *o = c->o;
	const char *key = rec_key(r), *op;
	rx_span none = {NULL, 0};

	if (snap != NULL && op_changed(o->mode) == NULL) {
		c->unchanged++; /* insert and delete modes: nothing for a synced key */
		return 0;
	}
	if (snap != NULL && !uncertain && (snap->flags & REC_RAW) && memcmp(snap->raw, r->raw, DIFF_RAW_LEN) == 0) {
		c->unchanged++; /* the very text that was delivered */
		return 0;
	}
	if (spool_row(c, r, &row) < 0) {
		snprintf(err, errlen, "cannot read a temporary file: %s", strerror(errno));
		return -1;
	}
	if (!(r->flags & REC_HASH)) {
		/* the workers hashed only rows of a run with an empty snapshot */
		if (rx_json_scan_object(row.data, row.len, &new_ms, err, errlen) < 0)
			return -1;
		rx_diff_row_hash(&new_ms, o, r->hash);
		r->flags |= REC_HASH;
	}
	if (snap == NULL) {
		op = op_new(o->mode);
	} else if (uncertain || memcmp(snap->hash, r->hash, DIFF_HASH_LEN) != 0) {
		op = op_changed(o->mode);
	} else {
		c->unchanged++; /* written differently, the same data */
		return 0;
	}
	if (snap == NULL) {
		/* new to the snapshot (an uncertain key may have an id already) */
		c->inserts++;
		return emit_change(c, op, key, r->keylen, r->hash, r->raw, 0, rx_span_of(row.data, row.len), none,
				   NULL, id_of(c), err, errlen);
	}
	c->updates++;
	if (uncertain || o->mode == MODE_DELETE) { /* the destination may hold anything: send it all */
		if (last_id(c, key, r->keylen, err, errlen) < 0)
			return -1;
		return emit_change(c, op, key, r->keylen, r->hash, r->raw, 0, rx_span_of(row.data, row.len), none,
				   NULL, id_of(c), err, errlen);
	}
	/* which fields changed, from the last delivered row */
	int found = last_row(c, key, r->keylen, &old, err, errlen);
	if (found < 0)
		return -1;
	if (rx_json_scan_object(row.data, row.len, &new_ms, err, errlen) < 0)
		return -1;
	if (found == 0 || rx_json_scan_object(old.data, old.len, &old_ms, err, errlen) < 0)
		old_ms.n = 0;
	if (cap_flags < new_ms.n) {
		cap_flags = new_ms.n;
		flags = rx_xrealloc(flags, cap_flags);
	}
	memset(flags, 0, new_ms.n);
	rx_buf_reset(&changed);
	rx_diff_changed(&old_ms, &new_ms, o, &changed, flags);
	rx_span send = rx_span_of(row.data, row.len);
	if (o->changed_only) {
		rx_buf_reset(&partial);
		rx_buf_putc(&partial, '{');
		int first = 1;
		for (size_t i = 0; i < new_ms.n; i++) {
			if (!flags[i] && !rx_name_in(new_ms.m[i].name, o->key_cols, o->nkey_cols))
				continue;
			if (!first)
				rx_buf_putc(&partial, ',');
			first = 0;
			rx_buf_put(&partial, new_ms.m[i].name.p, new_ms.m[i].name.n);
			rx_buf_putc(&partial, ':');
			rx_buf_put(&partial, new_ms.m[i].value.p, new_ms.m[i].value.n);
		}
		rx_buf_putc(&partial, '}');
		send = rx_span_of(partial.data, partial.len);
	}
	return emit_change(c, op, key, r->keylen, r->hash, r->raw, 0, send, rx_span_of(row.data, row.len),
			   changed.data ? changed.data : "", id_of(c), err, errlen);
}

/* A key gone from the model: in mirror mode, a delete that carries the
 * last synced row (or, for a key never acked, the row last sent). */
static int merge_gone(stage_ctx *c, const char *key, size_t keylen, const unsigned char *hash, rx_span sent_row,
		      char *err, size_t errlen)
{
	static rx_buf row;

	if (c->o->mode != MODE_MIRROR)
		return 0;
	if (c->hold_deletes) {
		c->held_deletes++; /* not sent on a guess: the model lacks rows */
		return 0;
	}
	if (sent_row.p == NULL) {
		int found = last_row(c, key, keylen, &row, err, errlen);
		if (found < 0)
			return -1;
		if (found == 0) {
			rx_buf_reset(&row);
			rx_buf_puts(&row, "{}");
		}
		sent_row = rx_span_of(row.data, row.len);
	}
	c->deletes++;
	return emit_change(c, "delete", key, keylen, hash, NULL, 1, sent_row, sent_row, NULL, id_of(c), err, errlen);
}

/* Dead-letter one row of a duplicated key. */
static int duplicate(stage_ctx *c, const rec *r, const rx_buf *key)
{
	static rx_buf row, msg;

	if (spool_row(c, r, &row) < 0)
		return -1;
	rx_buf_reset(&msg);
	rx_buf_printf(&msg, "line %llu: duplicate key ", (unsigned long long)r->line);
	rx_json_put_string(&msg, key->data, key->len);
	rx_buf_puts(&msg, " (no row with this key is synced)");
	rx_diff_dead_letter(row.data, row.len, msg.data);
	c->invalid++;
	c->duplicates++;
	return 0;
}

/* Keys ordered by their prefix first, then by memcmp. */
static int cmp_pk(uint64_t pa, const char *a, size_t an, uint64_t pb, const char *b, size_t bn)
{
	if (pa != pb)
		return pa < pb ? -1 : 1;
	return key_cmp(a, an, b, bn);
}

/* The runs as a binary heap: the smallest key on top, and of equal keys
 * the earliest run (so the earliest input line). */
static int run_less(const run_reader *rd, size_t a, size_t b)
{
	const rec *x = rd[a].cur, *y = rd[b].cur;
	int c = cmp_pk(rd[a].prefix, rec_key(x), x->keylen, rd[b].prefix, rec_key(y), y->keylen);
	return c != 0 ? c < 0 : a < b;
}

static void heap_down(size_t *h, size_t n, size_t i, const run_reader *rd)
{
	for (;;) {
		size_t l = 2 * i + 1, m = i;
		if (l < n && run_less(rd, h[l], h[m]))
			m = l;
		if (l + 1 < n && run_less(rd, h[l + 1], h[m]))
			m = l + 1;
		if (m == i)
			return;
		size_t t = h[i];
		h[i] = h[m];
		h[m] = t;
		i = m;
	}
}

static int merge(stage_ctx *c, char *err, size_t errlen)
{
	static rx_buf unc_row, keybuf, first;
	run_reader *rd = calloc(c->nruns ? c->nruns : 1, sizeof *rd);
	size_t *heap = calloc(c->nruns ? c->nruns : 1, sizeof *heap), nheap = 0;
	sqlite3_stmt *unc = NULL;
	snap_feed feed;
	int rc = -1, unc_state;
	/* the read buffers share a fixed budget, however many runs there are */
	size_t bufsize = READER_BUDGET / (c->nruns ? c->nruns : 1);

	if (rd == NULL || heap == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	if (bufsize < READER_MIN)
		bufsize = READER_MIN;
	if (bufsize > READER_BUF)
		bufsize = READER_BUF;
	for (size_t i = 0; i < c->nruns; i++) {
		rd[i].pos = i == 0 ? 0 : c->run_ends[i - 1];
		rd[i].end = c->run_ends[i];
		rd[i].cap = bufsize;
		rd[i].buf = rx_xmalloc(rd[i].cap);
		if (reader_fill(&rd[i], c->runs_fd) < 0) {
			snprintf(err, errlen, "cannot read a temporary file");
			goto done;
		}
		if (rd[i].cur != NULL)
			heap[nheap++] = i;
	}
	for (size_t i = nheap / 2; i-- > 0;)
		heap_down(heap, nheap, i, rd);
	memset(&feed, 0, sizeof feed);
	/* a preview opens no run: the keys an earlier run staged (which a run
	 * would now make uncertain) are uncertain too */
	const char *unc_sql = c->o->preview ? "SELECT key, hash, row, id FROM staged UNION ALL SELECT key, hash, row, id"
					      " FROM uncertain WHERE key NOT IN (SELECT key FROM staged) ORDER BY key"
					    : "SELECT key, hash, row, id FROM uncertain ORDER BY key";
	if (sqlite3_prepare_v2(c->rdb, unc_sql, -1, &unc, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->rdb));
		goto done;
	}
	if (!c->o->full_resync && rx_diff_feed_start(&feed, c->path, err, errlen) < 0)
		goto done;
	unc_state = sqlite3_step(unc);
	for (;;) {
		/* the smallest key among the runs, the snapshot, the uncertain keys */
		const rec *in = nheap > 0 ? rd[heap[0]].cur : NULL;
		if (unc_state != SQLITE_ROW && unc_state != SQLITE_DONE)
			goto sqlerr;
		const char *key = NULL;
		size_t keylen = 0;
		uint64_t kp = 0;
		if (in != NULL)
			key = rec_key(in), keylen = in->keylen, kp = rd[heap[0]].prefix;
		const char *sk = NULL, *uk = NULL;
		size_t skn = 0, ukn = 0;
		uint64_t skp = 0, ukp = 0;
		if (feed.cur != NULL) {
			sk = rec_key(feed.cur);
			skn = feed.cur->keylen;
			skp = feed.cur->line;
			if (key == NULL || cmp_pk(skp, sk, skn, kp, key, keylen) < 0)
				key = sk, keylen = skn, kp = skp;
		}
		if (unc_state == SQLITE_ROW) {
			uk = (const char *)sqlite3_column_text(unc, 0);
			ukn = (size_t)sqlite3_column_bytes(unc, 0);
			ukp = key_prefix(uk, ukn);
			if (key == NULL || cmp_pk(ukp, uk, ukn, kp, key, keylen) < 0)
				key = uk, keylen = ukn, kp = ukp;
		}
		if (key == NULL)
			break;
		int in_snap = sk != NULL && cmp_pk(skp, sk, skn, kp, key, keylen) == 0;
		int in_unc = uk != NULL && cmp_pk(ukp, uk, ukn, kp, key, keylen) == 0;
		/* the key's id at the destination, so far: the one an uncertain
		 * change was sent with (the snapshot's, read when needed, wins) */
		rx_buf_reset(&c->id);
		if (in_unc && sqlite3_column_type(unc, 3) == SQLITE_TEXT)
			rx_buf_put(&c->id, sqlite3_column_text(unc, 3), (size_t)sqlite3_column_bytes(unc, 3));
		int in_model = in != NULL && cmp_pk(rd[heap[0]].prefix, rec_key(in), in->keylen, kp, key, keylen) == 0;
		const rec *snap = in_snap && (feed.cur->flags & REC_HASH) ? feed.cur : NULL;
		const unsigned char *snap_hash = snap != NULL ? snap->hash : NULL;
		if (in_snap)
			c->snapshot_rows++;

		if (in_model) {
			/* every model row with this key, in input order (the heap
			 * gives equal keys earliest run first, and a run has them in
			 * line order) */
			size_t count = 0;
			uint64_t prefix = rd[heap[0]].prefix;
			rx_buf_reset(&keybuf);
			rx_buf_put(&keybuf, rec_key(in), in->keylen);
			rx_buf_reset(&first);
			while (nheap > 0) {
				size_t i = heap[0];
				const rec *r = rd[i].cur;
				if (cmp_pk(rd[i].prefix, rec_key(r), r->keylen, prefix, keybuf.data, keybuf.len) != 0)
					break;
				if (++count == 1) {
					rx_buf_put(&first, r, rec_bytes(r));
				} else {
					if (count == 2 && duplicate(c, (const rec *)first.data, &keybuf) < 0)
						goto ioerr;
					if (duplicate(c, r, &keybuf) < 0)
						goto ioerr;
				}
				if (reader_next(&rd[i], c->runs_fd) < 0)
					goto ioerr;
				if (rd[i].cur == NULL)
					heap[0] = heap[--nheap];
				heap_down(heap, nheap, 0, rd);
			}
			if (count == 1 && merge_row(c, (rec *)first.data, snap, in_unc, err, errlen) < 0)
				goto done;
		} else if (in_snap || in_unc) {
			if (in_snap && snap_hash != NULL && !c->o->full_resync) {
				if (merge_gone(c, key, keylen, snap_hash, (rx_span){NULL, 0}, err, errlen) < 0)
					goto done;
			} else if (in_unc) {
				rx_buf_reset(&unc_row);
				if (rx_diff_unpack(&c->dict, sqlite3_column_blob(unc, 2), (size_t)sqlite3_column_bytes(unc, 2),
						   &unc_row) < 0 ||
				    sqlite3_column_bytes(unc, 1) != DIFF_HASH_LEN) {
					snprintf(err, errlen, "the uncertain row of a key is damaged");
					goto done;
				}
				if (merge_gone(c, key, keylen, sqlite3_column_blob(unc, 1),
					       rx_span_of(unc_row.data, unc_row.len), err, errlen) < 0)
					goto done;
			}
		}
		if (in_snap && rx_diff_feed_next(&feed) < 0) {
			snprintf(err, errlen, "%s", feed.err);
			goto done;
		}
		if (in_unc)
			unc_state = sqlite3_step(unc);
		if (rx_diff_too_many_invalid(c)) {
			rc = -2;
			goto done;
		}
	}
	rc = 0;
	goto done;
sqlerr:
	snprintf(err, errlen, "%s", sqlite3_errmsg(c->rdb));
	goto done;
ioerr:
	snprintf(err, errlen, "cannot read a temporary file");
done:
	rx_diff_feed_stop(&feed);
	sqlite3_finalize(unc);
	for (size_t i = 0; i < c->nruns; i++)
		free(rd[i].buf);
	free(rd);
	free(heap);
	return rc;
}

/* ---- the run ---- */

/* Has anything been delivered?  When not, every row of the run is new
 * and needs its hash, which the reading threads then compute. */
static int snapshot_has_rows(sqlite3 *db)
{
	sqlite3_stmt *st = NULL;
	int has = 1; /* when in doubt, the merge hashes what it needs */

	if (sqlite3_prepare_v2(db, "SELECT EXISTS (SELECT 1 FROM snapshot)", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW)
		has = sqlite3_column_int(st, 0);
	sqlite3_finalize(st);
	return has;
}

static void columns_text(const stage_ctx *c, rx_buf *out)
{
	rx_buf_reset(out);
	rx_buf_putc(out, '[');
	for (size_t i = 0; i < c->cols.n; i++) {
		if (i > 0)
			rx_buf_putc(out, ',');
		rx_json_put_string(out, c->cols.cols[i], strlen(c->cols.cols[i]));
	}
	rx_buf_putc(out, ']');
}

/* Open the run: the lock, recovery of a dead run, uncertain keys. */
static int open_run(stage_ctx *c, char *err, size_t errlen)
{
	const diff_options *o = c->o;
	sqlite3 *db = c->db;
	sqlite3_stmt *st = NULL;
	diff_run run;
	char now[32];
	int rc = -1, found;

	if (rx_diff_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	found = rx_diff_open_run(db, &run, err, errlen);
	if (found < 0)
		goto done;
	if (found) {
		long long holder = 0;
		if (rx_diff_alive(run.pid, run.pid_start))
			holder = run.pid;
		else if (rx_diff_alive(run.committer, run.committer_start))
			holder = run.committer;
		if (holder != 0) {
			snprintf(err, errlen,
				 "state '%s' is locked by run %lld (pid %lld, started %s); one run at a time per state",
				 o->state, run.id, holder, run.started);
			rc = -2;
			goto done;
		}
		/* its processes are gone: close it; what it staged stays staged and
		 * becomes uncertain just below */
		rx_diag("recovering run %lld (pid %lld, started %s), which ended without closing", run.id, run.pid,
			run.started);
		char sql[256];
		snprintf(sql, sizeof sql,
			 "UPDATE runs SET ended = strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ','now'),"
			 " not_acked = (SELECT count(*) FROM staged WHERE run = %lld),"
			 " status = CASE status WHEN 'staging' THEN 'died' ELSE 'unfinished' END WHERE id = %lld",
			 run.id, run.id);
		if (rx_diff_exec(db, sql, err, errlen) < 0)
			goto done;
	}
	/* the newest run's commit still at work: it holds the state until it
	 * ends, or its acks would come back to a run that is no longer open */
	if (sqlite3_prepare_v2(db, "SELECT id, committer, committer_start FROM runs ORDER BY id DESC LIMIT 1", -1, &st,
			       NULL) != SQLITE_OK)
		goto sqlerr;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) != 0 &&
	    rx_diff_alive(sqlite3_column_int64(st, 1), sqlite3_column_int64(st, 2))) {
		snprintf(err, errlen, "state '%s' is locked by the commit of run %lld (pid %lld); one run at a time per state",
			 o->state, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
		rc = -2;
		goto done;
	}
	sqlite3_finalize(st);
	st = NULL;
	/* the previous run staged changes and none came back: say so */
	if (sqlite3_prepare_v2(db,
			       "SELECT id, inserts + updates + deletes, acked FROM runs"
			       " WHERE status NOT IN ('aborted', 'died', 'failed') ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 1) > 0 && sqlite3_column_int64(st, 2) == 0)
		rx_diag("warning: run %lld staged %lld changes and committed none (did you pipe rx-push into "
			"rx-diff --state %s --commit?); they are sent again",
			sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), o->state);
	sqlite3_finalize(st);
	st = NULL;
	/* changes sent by earlier runs and never acked: uncertain */
	if (rx_diff_exec(db,
			 "INSERT OR REPLACE INTO uncertain(key, hash, row, id) SELECT key, hash, row, id FROM staged;"
			 "DELETE FROM staged;",
			 err, errlen) < 0)
		goto done;
	rx_iso_time(now);
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO runs(started, mode, shard, pid, pid_start, committer, committer_start, status)"
			       " VALUES(?, ?, ?, ?, ?, ?, ?, 'staging')",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	static const char *const modes[] = {"insert", "update", "upsert", "mirror", "delete"};
	char shard[32] = "";
	if (o->nshards > 0)
		snprintf(shard, sizeof shard, "%u/%u", o->shard, o->nshards);
	long long me = (long long)getpid();
	sqlite3_bind_text(st, 1, now, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(st, 2, modes[o->mode], -1, SQLITE_STATIC);
	if (shard[0])
		sqlite3_bind_text(st, 3, shard, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int64(st, 4, me);
	sqlite3_bind_int64(st, 5, rx_diff_proc_start(me));
	/* a commit process that started before this run and waits for it */
	sqlite3_stmt *q = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT value FROM meta WHERE name = 'waiting_committer'),"
			       " (SELECT value FROM meta WHERE name = 'waiting_committer_start')",
			       -1, &q, NULL) != SQLITE_OK)
		goto sqlerr;
	if (sqlite3_step(q) == SQLITE_ROW && rx_diff_alive(sqlite3_column_int64(q, 0), sqlite3_column_int64(q, 1)) &&
	    sqlite3_column_int64(q, 0) > 0) {
		sqlite3_bind_int64(st, 6, sqlite3_column_int64(q, 0));
		sqlite3_bind_int64(st, 7, sqlite3_column_int64(q, 1));
	}
	sqlite3_finalize(q);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto sqlerr;
	c->run_id = sqlite3_last_insert_rowid(db);
	if (rx_diff_exec(db, "DELETE FROM meta WHERE name LIKE 'waiting_committer%'; COMMIT", err, errlen) < 0)
		goto done;
	rc = 0;
	goto done;
sqlerr:
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	if (rc != 0)
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

static int set_counts(stage_ctx *c, const char *status, const char *columns, int end, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db,
			       "UPDATE runs SET status = ?, columns = coalesce(?, columns), rows = ?, inserts = ?,"
			       " updates = ?, deletes = ?, unchanged = ?, invalid = ?,"
			       " staged = strftime('%Y-%m-%dT%H:%M:%fZ','now'),"
			       " ended = CASE WHEN ? THEN strftime('%Y-%m-%dT%H:%M:%fZ','now') END WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(st, 1, status, -1, SQLITE_STATIC);
	if (columns != NULL)
		sqlite3_bind_text(st, 2, columns, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, c->rows);
	sqlite3_bind_int64(st, 4, c->inserts);
	sqlite3_bind_int64(st, 5, c->updates);
	sqlite3_bind_int64(st, 6, c->deletes);
	sqlite3_bind_int64(st, 7, c->unchanged);
	sqlite3_bind_int64(st, 8, c->invalid);
	sqlite3_bind_int(st, 9, end);
	sqlite3_bind_int64(st, 10, c->run_id);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
	sqlite3_finalize(st);
	if (rc == 0) {
		/* the history's dead letters by reason, and its retention */
		diff_counts n = {c->invalid - c->duplicates, c->duplicates, c->end.rejected};
		rc = rx_diff_history_stage(c->db, c->run_id, status, &n, c->o, err, errlen);
	}
	return rc;
}

/* The guard rails, on the totals: 0 pass, 1 tripped (message printed). */
static int guards(stage_ctx *c, const char *columns, char *err, size_t errlen)
{
	const diff_options *o = c->o;
	long long changes = c->inserts + c->updates + c->deletes;

	if (o->max_changes >= 0 && changes > o->max_changes) {
		rx_diag("guard: %lld changes exceed --max-changes %lld; nothing was emitted (check the model, or "
			"raise --max-changes)",
			changes, o->max_changes);
		return 1;
	}
	/* at the limit blocks too: half a destination deleted by a model cut
	 * in half (a head -n) is exactly what the guard is for */
	if (o->mode == MODE_MIRROR && o->max_delete_ratio < 1.0 && c->deletes > 0 &&
	    (double)c->deletes >= o->max_delete_ratio * (double)c->snapshot_rows) {
		rx_diag("guard: %lld deletes are %g or more of the %lld synced rows (--max-delete-ratio); nothing was "
			"emitted (check that the model returned what it should, or raise --max-delete-ratio)",
			c->deletes, o->max_delete_ratio, c->snapshot_rows);
		return 1;
	}
	if (!o->accept_schema_change && c->rows > 0) {
		sqlite3_stmt *st = NULL;
		int tripped = 0;
		if (sqlite3_prepare_v2(c->db, "SELECT value FROM meta WHERE name = 'columns'", -1, &st, NULL) !=
		    SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
			return -1;
		}
		if (sqlite3_step(st) == SQLITE_ROW) {
			const char *was = (const char *)sqlite3_column_text(st, 0);
			if (was != NULL && strcmp(was, columns) != 0) {
				rx_diag("guard: the columns changed since the last delivered run (were %s, now %s); "
					"nothing was emitted (a renamed column would overwrite a field with null: check "
					"the model, or pass --accept-schema-change)",
					was, columns);
				tripped = 1;
			}
		}
		sqlite3_finalize(st);
		return tripped;
	}
	return 0;
}

/* Is the model whole?  In mirror mode a model that did not end with its
 * end record may be cut short (a killed or failed producer, a head), and
 * would delete what it lacks: the run stops, nothing emitted.  A model
 * that is whole but lacks rows (keyless rows here, rows dead-lettered
 * upstream) sends its rows but holds back every delete, since any key
 * gone from it may be one of those rows.  0, or -1 (message printed). */
static int end_of_model(stage_ctx *c)
{
	const diff_options *o = c->o;

	if (o->mode != MODE_MIRROR)
		return 0;
	if (!c->ended && !o->assume_complete) {
		rx_diag("the model ended without its end record after %lld rows, so it may be cut short (a producer "
			"that failed or was stopped, a head): nothing was emitted, nothing deleted.  rx-extract writes "
			"{\"$rx\":\"end\"} last when it read its whole source; a script can print it last on success, "
			"or pass --assume-complete",
			c->model_lines);
		return -1;
	}
	if (c->invalid > 0 || c->end.rejected > 0) {
		c->hold_deletes = 1;
		rx_diag("%lld row%s of the model %s rejected (%lld here for a missing or null key, %lld by a stage "
			"before): no delete is sent this run, since a key gone from the model may be one of them",
			c->invalid + c->end.rejected, c->invalid + c->end.rejected == 1 ? "" : "s",
			c->invalid + c->end.rejected == 1 ? "was" : "were", c->invalid, c->end.rejected);
	}
	return 0;
}

static int copy_out(stage_ctx *c)
{
	rx_writer w;
	off_t pos = 0;
	int status = RX_EXIT_OK;

	rx_writer_init(&w, 1);
	if (c->o->count_record) {
		/* how many changes follow, for rx-push's progress (control.c) */
		char sync[256];
		if (c->o->sync != NULL)
			snprintf(sync, sizeof sync, "%s", c->o->sync);
		else
			rx_metrics_sync_name(c->o->state, sync, sizeof sync);
		rx_buf_printf(&w.buf, "{\"$rx\":\"changes\",\"count\":%lld,\"sync\":", c->inserts + c->updates + c->deletes);
		rx_json_put_string(&w.buf, sync, strlen(sync));
		rx_buf_printf(&w.buf, "%s}\n", c->run_tag);
	}
	for (;;) {
		rx_buf_reserve(&w.buf, 1 << 20);
		ssize_t n = pread(c->out_fd, w.buf.data + w.buf.len, (1 << 20), pos);
		if (n < 0) {
			rx_diag("cannot read a temporary file: %s", strerror(errno));
			status = RX_EXIT_FAIL;
			break;
		}
		if (n == 0)
			break;
		pos += n;
		w.buf.len += (size_t)n;
		if (rx_writer_flush(&w) < 0)
			break;
	}
	if (rx_writer_finish(&w, "output") < 0 && status == RX_EXIT_OK)
		status = RX_EXIT_IOERR;
	rx_buf_free(&w.buf);
	return status;
}

/* A preview of a sync that has no state yet: an empty state of its own,
 * in $TMPDIR, removed at the end.  0, or -1 with err. */
static int preview_state(char *path, size_t len, char *err, size_t errlen)
{
	const char *dir = getenv("TMPDIR");

	snprintf(path, len, "%s/rx-diff-preview.XXXXXX", dir && *dir ? dir : "/tmp");
	int fd = mkstemp(path);
	if (fd < 0) {
		snprintf(err, errlen, "cannot create a temporary file in '%s': %s", dir && *dir ? dir : "/tmp",
			 strerror(errno));
		return -1;
	}
	close(fd);
	return 0;
}

int rx_diff_stage(const diff_options *o)
{
	stage_ctx c;
	stager stg;
	rx_buf columns = {0};
	char err[1024], scratch[4096] = "";
	int status = RX_EXIT_FAIL, in_txn = 0, r;

	memset(&c, 0, sizeof c);
	c.o = o;
	c.path = o->state;
	c.spool_fd = c.runs_fd = c.out_fd = -1;
	if (o->preview && access(o->state, F_OK) != 0) {
		if (preview_state(scratch, sizeof scratch, err, sizeof err) < 0) {
			rx_diag("%s", err);
			return RX_EXIT_FAIL;
		}
		c.path = scratch;
	}
	if (rx_diff_state_open(c.path, !o->preview, &c.db, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	if (!o->preview) {
		char id[17];
		r = open_run(&c, err, sizeof err);
		if (r < 0) {
			rx_diag("%s", err);
			status = r == -2 ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
			goto done;
		}
		/* every change names its state and run: only this run's commit
		 * counts its acks */
		if (rx_diff_state_id(c.db, id, err, sizeof err) < 0) {
			rx_diag("%s", err);
			goto fail_run;
		}
		snprintf(c.run_tag, sizeof c.run_tag, ",\"run\":\"%s.%lld\"", id, c.run_id);
	}
	if ((c.spool_fd = temp_fd(err, sizeof err)) < 0 || (c.runs_fd = temp_fd(err, sizeof err)) < 0 ||
	    (c.out_fd = temp_fd(err, sizeof err)) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	rx_writer_init(&c.runs_out, c.runs_fd);
	rx_writer_init(&c.out, c.out_fd);
	/* a test hook: small chunks make many sorted runs of a small model */
	const char *chunk = getenv("RX_DIFF_CHUNK");
	c.chunk_bytes = chunk != NULL && atol(chunk) > 0 ? (size_t)atol(chunk) : CHUNK_BYTES;
	if (rx_diff_seed(c.db, &c.seed, err, sizeof err) < 0 || rx_diff_dict_load(c.db, &c.dict, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	c.hash_all = o->full_resync || !snapshot_has_rows(c.db);

	r = rx_diff_read_model(&c);
	if (r != 0) {
		status = r;
		goto fail_run;
	}
	if (end_of_model(&c) < 0) {
		status = RX_EXIT_DATAERR;
		goto fail_run;
	}
	/* the merge reads on a connection of its own: the stager thread
	 * owns c.db and its transaction meanwhile */
	if (sqlite3_open_v2(c.path, &c.rdb, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		rx_diag("cannot open state '%s': %s", o->state, c.rdb ? sqlite3_errmsg(c.rdb) : "out of memory");
		goto fail_run;
	}
	sqlite3_busy_timeout(c.rdb, 60000);
	sqlite3_exec(c.rdb, "PRAGMA cache_size=-2048", NULL, NULL, NULL);
	if (sqlite3_prepare_v2(c.rdb, "SELECT row, id FROM snapshot_row WHERE key = ?", -1, &c.get_row, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(c.rdb, "SELECT id FROM snapshot_row WHERE key = ?", -1, &c.get_id, NULL) != SQLITE_OK) {
		rx_diag("%s", sqlite3_errmsg(c.rdb));
		goto fail_run;
	}
	if (o->preview) {
		/* the changes it would emit; no run, nothing staged, nothing
		 * written to the state */
		r = merge(&c, err, sizeof err);
		if (r == -2) {
			status = RX_EXIT_DATAERR;
			goto fail_run;
		}
		if (r < 0 || rx_writer_flush(&c.out) < 0) {
			rx_diag("%s", r < 0 ? err : strerror(c.out.error));
			goto fail_run;
		}
		goto guard_rails;
	}
	if (sqlite3_prepare_v2(c.db,
			       "INSERT OR REPLACE INTO staged(key, run, op, hash, action, row, raw, id) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
			       -1, &c.put_staged, NULL) != SQLITE_OK) {
		rx_diag("%s", sqlite3_errmsg(c.db));
		goto fail_run;
	}
	/* synchronous=FULL for the staging: once a change can reach the
	 * destination, the state must know it was staged, even after a power
	 * cut.  No checkpoint when it commits: copying a large staging from
	 * the WAL into the database is the commit process's to do, while the
	 * changes are on their way (its own commits checkpoint) */
	if (rx_diff_exec(c.db,
			 "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA cache_size=-4096;"
			 " BEGIN IMMEDIATE",
			 err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	in_txn = 1;
	/* the state's first staging makes its row dictionary, in the same
	 * transaction: the first rows of this model */
	if (c.dict.len == 0 && c.sample.len > 0) {
		rx_buf_put(&c.dict, c.sample.data, c.sample.len);
		if (rx_diff_dict_save(c.db, &c.dict, err, sizeof err) < 0) {
			rx_diag("%s", err);
			goto fail_run;
		}
	}
	if (rx_diff_stager_start(&stg, c.db, c.put_staged, c.run_id, &c.dict, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	c.stg = &stg;
	r = merge(&c, err, sizeof err);
	/* every change staged (or, when the merge failed, dropped): the
	 * connection is this thread's again */
	char serr[512];
	if (rx_diff_stager_finish(&stg, r != 0, serr, sizeof serr) < 0 && r == 0) {
		snprintf(err, sizeof err, "%s", serr);
		r = -1;
	}
	c.stg = NULL;
	if (r == -2) {
		status = RX_EXIT_DATAERR;
		goto fail_run;
	}
	if (r < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	if (rx_writer_flush(&c.out) < 0) {
		rx_diag("cannot write a temporary file: %s", strerror(c.out.error));
		goto fail_run;
	}
guard_rails:
	columns_text(&c, &columns);
	r = guards(&c, columns.data, err, sizeof err);
	if (r != 0) {
		if (r < 0)
			rx_diag("%s", err);
		status = r < 0 ? RX_EXIT_FAIL : RX_EXIT_DATAERR;
		goto fail_run;
	}
	if (o->preview) {
		sqlite3_finalize(c.get_row);
		sqlite3_finalize(c.get_id);
		c.get_row = c.get_id = NULL;
		goto emit;
	}
	long long changes = c.inserts + c.updates + c.deletes;
	if (o->full_resync &&
	    rx_diff_exec(c.db, "DELETE FROM snapshot; DELETE FROM snapshot_row;", err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	/* a run that read no rows knows no columns: it must not record an
	 * empty set that every later run would then trip the guard on */
	if (set_counts(&c, changes > 0 ? "staged" : "done", c.rows > 0 ? columns.data : NULL, changes == 0, err,
		       sizeof err) < 0 ||
	    rx_diff_exec(c.db, "COMMIT", err, sizeof err) < 0) {
		rx_diag("cannot commit the staged changes to state '%s': %s; nothing was emitted", o->state, err);
		goto fail_run;
	}
	in_txn = 0;
	sqlite3_exec(c.db, "PRAGMA synchronous=NORMAL", NULL, NULL, NULL);
	if (changes == 0 && c.rows > 0 &&
	    rx_diff_exec(c.db, "INSERT OR REPLACE INTO meta(name, value) SELECT 'columns', columns FROM runs"
			       " WHERE id = (SELECT max(id) FROM runs)", err, sizeof err) < 0)
		rx_diag("%s", err);
	rx_killpoint("emit");
	sqlite3_finalize(c.get_row);
	sqlite3_finalize(c.get_id);
	sqlite3_finalize(c.put_staged);
	c.get_row = c.get_id = c.put_staged = NULL;
emit:
	sqlite3_close(c.rdb);
	c.rdb = NULL;
	/* the WAL is copied into the database by the commit process (it is
	 * open in a pipeline anyway, so this close would not do it): the
	 * changes go out now */
	sqlite3_db_config(c.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_close(c.db);
	c.db = NULL;
	if (c.held_deletes > 0)
		rx_diag("%lld delete%s held back; fix the rejected rows and the next run sends %s", c.held_deletes,
			c.held_deletes == 1 ? "" : "s", c.held_deletes == 1 ? "it" : "them");
	status = copy_out(&c);
	if (status == RX_EXIT_OK && c.invalid > 0)
		status = RX_EXIT_DEADLETTER;
	goto done;

fail_run:
	/* nothing was emitted: record why the run stopped */
	if (c.stg != NULL) {
		rx_diff_stager_finish(c.stg, 1, err, sizeof err);
		c.stg = NULL;
	}
	if (c.db != NULL && c.run_id > 0) {
		if (in_txn)
			sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
		set_counts(&c, status == RX_EXIT_DATAERR ? "aborted" : "failed", NULL, 1, err, sizeof err);
	}
done:
	sqlite3_finalize(c.get_row);
	sqlite3_finalize(c.get_id);
	sqlite3_finalize(c.put_staged);
	rx_buf_free(&c.id);
	sqlite3_close(c.rdb);
	if (c.db != NULL)
		sqlite3_close(c.db);
	if (c.spool_fd >= 0)
		close(c.spool_fd);
	if (c.runs_fd >= 0)
		close(c.runs_fd);
	if (c.out_fd >= 0)
		close(c.out_fd);
	rx_buf_free(&c.runs_out.buf);
	rx_buf_free(&c.out.buf);
	rx_buf_free(&c.chunk);
	rx_buf_free(&columns);
	rx_diff_colset_free(&c.cols);
	rx_buf_free(&c.dict);
	rx_buf_free(&c.sample);
	free(c.ix);
	free(c.run_ends);
	if (scratch[0]) {
		char side[4200];
		unlink(scratch);
		snprintf(side, sizeof side, "%s-wal", scratch);
		unlink(side);
		snprintf(side, sizeof side, "%s-shm", scratch);
		unlink(side);
	}
	return status;
}
