/*
 * feed.c - the snapshot, scanned on a thread of its own.
 *
 * NOTES ON THE DESIGN
 *
 * The merge needs the snapshot's (key, hash) pairs in key order.  Stepping
 * SQLite through a million of them is a third of the merge's time, so a
 * thread does it on a second connection (WAL: it reads the last committed
 * state, which the open staging transaction does not touch) and passes
 * them on in blocks of recs, with REC_HASH and REC_RAW set for what they
 * have (a damaged hash has no REC_HASH).
 *
 * The thread owns its connection; the blocks pass to the merge through
 * a blockq (blockq.c), so memory is fixed.
 */
#include "stage.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#define FEED_BYTES ((size_t)128 << 10)

static void *feed_main(void *arg)
{
	snap_feed *f = arg;
	sqlite3_stmt *st = NULL;
	rx_buf *b;
	int rc = SQLITE_ROW;

	if (sqlite3_prepare_v2(f->db, "SELECT key, hash, raw FROM snapshot ORDER BY key", -1, &st, NULL) != SQLITE_OK) {
		snprintf(f->err, sizeof f->err, "%s", sqlite3_errmsg(f->db));
		rx_diff_blockq_close(&f->q);
		return NULL;
	}
	while (rc == SQLITE_ROW && (b = rx_diff_blockq_write(&f->q)) != NULL) {
		while (b->len < FEED_BYTES && (rc = sqlite3_step(st)) == SQLITE_ROW) {
			size_t keylen = (size_t)sqlite3_column_bytes(st, 0);
			const void *key = sqlite3_column_text(st, 0);
			const void *hash = sqlite3_column_blob(st, 1);
			int hashlen = sqlite3_column_bytes(st, 1);
			size_t size = rec_size((uint32_t)keylen);
			rx_buf_reserve(b, size);
			rec *r = (rec *)(b->data + b->len);
			memset(r, 0, size);
			r->keylen = (uint32_t)keylen;
			r->line = key_prefix(key, keylen); /* for the merge's comparisons */
			if (hashlen == DIFF_HASH_LEN) {
				memcpy(r->hash, hash, DIFF_HASH_LEN);
				r->flags |= REC_HASH;
			}
			if (sqlite3_column_bytes(st, 2) == DIFF_RAW_LEN) {
				memcpy(r->raw, sqlite3_column_blob(st, 2), DIFF_RAW_LEN);
				r->flags |= REC_RAW;
			}
			memcpy(r + 1, key, keylen);
			b->len += size;
		}
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			snprintf(f->err, sizeof f->err, "%s", sqlite3_errmsg(f->db));
		rx_diff_blockq_push(&f->q);
	}
	rx_diff_blockq_close(&f->q);
	sqlite3_finalize(st);
	return NULL;
}

int rx_diff_feed_next(snap_feed *f)
{
	if (f->cur != NULL)
		f->at += rec_size(f->cur->keylen);
	for (;;) {
		if (f->blk != NULL) {
			if (f->at < f->blk->len) {
				f->cur = (const rec *)(f->blk->data + f->at);
				return 0;
			}
			rx_diff_blockq_release(&f->q);
			f->at = 0;
		}
		f->blk = rx_diff_blockq_read(&f->q);
		if (f->blk == NULL) {
			f->cur = NULL;
			return f->err[0] ? -1 : 0;
		}
	}
}

int rx_diff_feed_start(snap_feed *f, const char *state, char *err, size_t errlen)
{
	memset(f, 0, sizeof *f);
	if (sqlite3_open_v2(state, &f->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open state '%s': %s", state, f->db ? sqlite3_errmsg(f->db) : "out of memory");
		sqlite3_close(f->db);
		f->db = NULL;
		return -1;
	}
	sqlite3_busy_timeout(f->db, 60000);
	sqlite3_exec(f->db, "PRAGMA cache_size=-512", NULL, NULL, NULL); /* one pass in key order */
	rx_diff_blockq_init(&f->q);
	if (pthread_create(&f->tid, NULL, feed_main, f) != 0) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
		return -1;
	}
	f->started = 1;
	return rx_diff_feed_next(f) < 0 ? (snprintf(err, errlen, "%s", f->err), -1) : 0;
}

void rx_diff_feed_stop(snap_feed *f)
{
	if (f->started) {
		rx_diff_blockq_stop(&f->q);
		pthread_join(f->tid, NULL);
	}
	if (f->db != NULL) {
		rx_diff_blockq_free(&f->q);
		sqlite3_close(f->db);
	}
	memset(f, 0, sizeof *f);
}
