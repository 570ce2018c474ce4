/*
 * stager.c - the changes of a stage run go into the state on a thread of
 * their own.
 *
 * NOTES ON THE DESIGN
 *
 * Staging a change is packing its row (lz4) and one INSERT into 'staged':
 * more than half of a first run's merge, where every row is a change.
 * The merge hands the changes, in key order, to this thread in blocks
 * of STAGER_BYTES through a blockq (blockq.c: memory is fixed) and goes
 * on merging; the thread owns the staging connection and its open
 * transaction until rx_diff_stager_finish, after which the run goes on
 * with it on the main thread (guard rails, COMMIT or ROLLBACK).
 *
 * The merge's own reads (the uncertain keys, the last delivered rows)
 * use another connection meanwhile: the staging does not touch the
 * tables they read.
 */
#include "stage.h"

#include <stdio.h>
#include <string.h>

#define STAGER_BYTES ((size_t)256 << 10)

/* One change in a block, followed by its key, its row and the
 * destination's id (raw JSON, when known), padded to 8. */
typedef struct job {
	uint32_t keylen, rowlen, idlen, pad;
	int32_t action;
	uint32_t has_raw;
	char op[8];
	unsigned char hash[DIFF_HASH_LEN];
	unsigned char raw[DIFF_RAW_LEN];
} job;

static size_t job_bytes(const job *j)
{
	return (sizeof(job) + j->keylen + j->rowlen + j->idlen + 7) & ~(size_t)7;
}

static int stage_job(stager *s, const job *j, rx_buf *packed)
{
	const char *key = (const char *)(j + 1);
	sqlite3_stmt *st = s->put;

	rx_diff_pack(s->dict, key + j->keylen, j->rowlen, packed);
	sqlite3_bind_text(st, 1, key, (int)j->keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->run_id);
	sqlite3_bind_text(st, 3, j->op, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, j->hash, DIFF_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, j->action);
	sqlite3_bind_blob(st, 6, packed->data, (int)packed->len, SQLITE_STATIC);
	if (j->has_raw)
		sqlite3_bind_blob(st, 7, j->raw, DIFF_RAW_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	if (j->idlen > 0)
		sqlite3_bind_text(st, 8, key + j->keylen + j->rowlen, (int)j->idlen, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(s->err, sizeof s->err, "cannot stage a change: %s", sqlite3_errmsg(s->db));
		return -1;
	}
	rx_killpoint("merge");
	return 0;
}

static void *stager_main(void *arg)
{
	stager *s = arg;
	rx_buf packed = {0};
	const rx_buf *b;

	while ((b = rx_diff_blockq_read(&s->q)) != NULL) {
		for (size_t at = 0; at < b->len;) {
			const job *j = (const job *)(b->data + at);
			if (stage_job(s, j, &packed) < 0) {
				s->failed = 1;
				rx_diff_blockq_stop(&s->q); /* the merge learns it at its next block */
				goto done;
			}
			at += job_bytes(j);
		}
		rx_diff_blockq_release(&s->q);
	}
done:
	rx_buf_free(&packed);
	return NULL;
}

int rx_diff_stager_start(stager *s, sqlite3 *db, sqlite3_stmt *put, long long run_id, const rx_buf *dict, char *err,
			 size_t errlen)
{
	memset(s, 0, sizeof *s);
	s->dict = dict;
	s->db = db;
	s->put = put;
	s->run_id = run_id;
	rx_diff_blockq_init(&s->q);
	s->blk = rx_diff_blockq_write(&s->q);
	if (pthread_create(&s->tid, NULL, stager_main, s) != 0) {
		snprintf(err, errlen, "cannot start a thread");
		rx_diff_blockq_free(&s->q);
		return -1;
	}
	s->started = 1;
	return 0;
}

int rx_diff_stager_put(stager *s, const char *op, const char *key, size_t keylen, const unsigned char *hash,
		       const unsigned char *raw, int action, rx_span row, rx_span id, char *err, size_t errlen)
{
	rx_buf *b = s->blk;
	job j;

	memset(&j, 0, sizeof j);
	j.keylen = (uint32_t)keylen;
	j.rowlen = (uint32_t)row.n;
	j.idlen = (uint32_t)id.n;
	j.action = action;
	snprintf(j.op, sizeof j.op, "%s", op);
	memcpy(j.hash, hash, DIFF_HASH_LEN);
	if (raw != NULL) {
		j.has_raw = 1;
		memcpy(j.raw, raw, DIFF_RAW_LEN);
	}
	size_t size = job_bytes(&j);
	rx_buf_reserve(b, size);
	memcpy(b->data + b->len, &j, sizeof j);
	memcpy(b->data + b->len + sizeof j, key, keylen);
	memcpy(b->data + b->len + sizeof j + keylen, row.p, row.n);
	if (id.n > 0)
		memcpy(b->data + b->len + sizeof j + keylen + row.n, id.p, id.n);
	memset(b->data + b->len + sizeof j + keylen + row.n + id.n, 0, size - sizeof j - keylen - row.n - id.n);
	b->len += size;
	if (b->len >= STAGER_BYTES) {
		rx_diff_blockq_push(&s->q);
		s->blk = rx_diff_blockq_write(&s->q);
		if (s->blk == NULL) { /* the thread failed and stopped the queue */
			snprintf(err, errlen, "%s", s->err);
			return -1;
		}
	}
	return 0;
}

int rx_diff_stager_finish(stager *s, int abandon, char *err, size_t errlen)
{
	int rc = 0;

	if (!s->started)
		return 0;
	if (abandon)
		rx_diff_blockq_stop(&s->q);
	else if (s->blk != NULL && s->blk->len > 0)
		rx_diff_blockq_push(&s->q);
	rx_diff_blockq_close(&s->q);
	pthread_join(s->tid, NULL);
	if (s->failed) {
		rc = -1;
		snprintf(err, errlen, "%s", s->err);
	}
	rx_diff_blockq_free(&s->q);
	s->started = 0;
	return rc;
}
