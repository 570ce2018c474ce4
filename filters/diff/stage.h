/*
 * stage.h - what the parts of a stage run share: the record of a model
 * row (in chunks, sorted runs and the snapshot feed), the column set and
 * the run's context.  read.c reads the model into sorted runs, feed.c
 * reads the snapshot, stage.c merges them, and stager.c stages the
 * changes.
 */
#ifndef RX_DIFF_STAGE_H
#define RX_DIFF_STAGE_H

#include "diff.h"

#include <pthread.h>
#include <sys/types.h>

#define CHUNK_BYTES ((size_t)8 << 20)

/* One row's entry in a chunk and a runs file, followed by its key bytes
 * and padding to 8 bytes. */
typedef struct rec {
	uint64_t offset;                   /* of the row in the spool */
	uint64_t line;                     /* input line number */
	uint32_t keylen;                   /* bytes of key text */
	uint32_t rowlen;                   /* bytes of the row */
	uint32_t flags;                    /* REC_*: what is known, where the row is */
	uint32_t pad;
	unsigned char hash[DIFF_HASH_LEN]; /* canonical hash */
	unsigned char raw[DIFF_RAW_LEN];   /* fingerprint of the raw text */
} rec;

#define REC_HASH 1
#define REC_RAW 2
#define REC_INLINE 4 /* the row follows the key (not in the spool) */

static inline size_t rec_size(uint32_t keylen)
{
	return (sizeof(rec) + keylen + 7) & ~(size_t)7;
}

/* The whole record: header, key, and the row when inline. */
static inline size_t rec_bytes(const rec *r)
{
	size_t row = r->flags & REC_INLINE ? r->rowlen : 0;
	return (sizeof(rec) + r->keylen + row + 7) & ~(size_t)7;
}

static inline const char *rec_key(const rec *r)
{
	return (const char *)(r + 1);
}

static inline int key_cmp(const char *a, size_t an, const char *b, size_t bn)
{
	int c = memcmp(a, b, an < bn ? an : bn);
	if (c != 0)
		return c;
	return an < bn ? -1 : an > bn;
}

/* The sorted decoded names of every member seen, and the raw names of
 * the last row (rows nearly always repeat them). */
typedef struct colset {
	char **cols;
	size_t n, cap;
	rx_buf name, last;  /* scratch; the last row's raw names, back to back */
} colset;

typedef struct stage_ctx {
	const diff_options *o;
	const char *path;   /* the state file (a temporary one for a preview of a new sync) */
	sqlite3 *db;
	long long run_id;   /* 0: a preview, no run */
	char run_tag[64];   /* ,"run":"<state id>.<run>" in every change ("": a preview) */
	uint64_t seed;      /* of the fingerprints */
	size_t chunk_bytes; /* records sorted in memory at a time */
	int hash_all;       /* the snapshot is empty: every row needs its hash */
	int spool_fd, runs_fd, out_fd;
	rx_writer runs_out, out;
	uint64_t spool_off;
	rx_buf chunk;       /* records of the current chunk */
	struct chunk_ix *ix; /* their index, for sorting */
	size_t nix, cap_ix;
	off_t *run_ends;    /* where each sorted run ends in the runs file */
	size_t nruns;
	off_t runs_off;
	colset cols;        /* the column set */
	/* the end of the model (control.c) */
	long long model_lines; /* rows on the input, before --shard */
	int ended;             /* its end record was read */
	rx_end end;            /* what it said */
	int hold_deletes;      /* rows are missing from the model: no delete */
	long long held_deletes; /* deletes not emitted for that */
	/* counters */
	long long rows, inserts, updates, deletes, unchanged, invalid, snapshot_rows;
	long long duplicates;  /* of invalid: rows of a key seen twice (the rest: no key) */
	/* statements */
	sqlite3_stmt *get_row, *get_id, *put_staged;
	rx_buf id;          /* the destination's id of the key being merged (raw JSON; empty: none) */
	sqlite3 *rdb;       /* the merge's reads, while the stager owns db */
	rx_buf dict;        /* the state's row dictionary (empty: none yet) */
	rx_buf sample;      /* without one: the first rows read, to make it */
	struct stager *stg; /* stages the changes, during the merge */
} stage_ctx;

static inline uint64_t key_prefix(const char *k, size_t n)
{
	unsigned char b[8] = {0};
	memcpy(b, k, n < 8 ? n : 8);
	return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
	       (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 | (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

/* ---- read.c ---- */

/* Read the whole model into sorted runs (and the spool): 0, or an
 * RX_EXIT_* status with the message printed. */
int rx_diff_read_model(stage_ctx *c);
void rx_diff_colset_free(colset *s);
void rx_diff_dead_letter(const char *line, size_t n, const char *message);
/* More invalid rows than --max-invalid allows?  (The message is printed.) */
int rx_diff_too_many_invalid(const stage_ctx *c);

/* ---- blockq.c ---- */

#define BLOCKQ_BLOCKS 4

/* A ring of buffers from one producer thread to one consumer thread. */
typedef struct blockq {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rx_buf blk[BLOCKQ_BLOCKS];
	int full[BLOCKQ_BLOCKS];
	size_t wr, rd;  /* the producer's block, the consumer's */
	int closed;     /* the producer has pushed its last block */
	int stopped;    /* either side gave up: nobody waits any more */
} blockq;

void rx_diff_blockq_init(blockq *q);
void rx_diff_blockq_free(blockq *q);
/* Producer: the next block to fill, empty (waits for it), or NULL once
 * the queue is stopped; then push it. */
rx_buf *rx_diff_blockq_write(blockq *q);
void rx_diff_blockq_push(blockq *q);
void rx_diff_blockq_close(blockq *q);
/* Consumer: the next full block (waits for it), or NULL at the end (closed
 * and drained) or once stopped; then release it. */
const rx_buf *rx_diff_blockq_read(blockq *q);
void rx_diff_blockq_release(blockq *q);
void rx_diff_blockq_stop(blockq *q);

/* ---- feed.c ---- */

/* The snapshot's (key, hash, fingerprint) in key order, from a thread. */
typedef struct snap_feed {
	pthread_t tid;
	int started;
	sqlite3 *db;
	blockq q;
	char err[256];       /* why the scan failed */
	const rx_buf *blk;   /* the block being read, or NULL */
	size_t at;           /* where in it */
	const rec *cur;      /* the current pair, or NULL at the end; its key's
			      * prefix is in cur->line */
} snap_feed;

/* Start reading the snapshot of the state file; f->cur is the first pair.
 * 0, or -1 with err. */
int rx_diff_feed_start(snap_feed *f, const char *state, char *err, size_t errlen);
/* Move to the next pair: 0 (f->cur NULL at the end), -1 error in f->err. */
int rx_diff_feed_next(snap_feed *f);
void rx_diff_feed_stop(snap_feed *f);

/* ---- stager.c ---- */

/* Stages changes (lz4, INSERT INTO staged) on a thread that owns the
 * staging connection until rx_diff_stager_finish. */
typedef struct stager {
	pthread_t tid;
	int started;
	sqlite3 *db;          /* the staging connection, in its transaction */
	sqlite3_stmt *put;    /* INSERT OR REPLACE INTO staged ... */
	const rx_buf *dict;   /* to pack the rows against */
	long long run_id;
	blockq q;
	rx_buf *blk;          /* the block the merge fills */
	int failed;           /* an insert failed: err says why (set before
			       * the thread stops the queue) */
	char err[512];
} stager;

int rx_diff_stager_start(stager *s, sqlite3 *db, sqlite3_stmt *put, long long run_id, const rx_buf *dict, char *err,
			 size_t errlen);
/* Queue one change; row is the full row kept for the snapshot, id the
 * destination's id it was sent with (raw JSON; empty: none).  0, or -1
 * with err when staging has failed. */
int rx_diff_stager_put(stager *s, const char *op, const char *key, size_t keylen, const unsigned char *hash,
		       const unsigned char *raw, int action, rx_span row, rx_span id, char *err, size_t errlen);
/* Wait until every queued change is staged (abandon: drop them and stop):
 * 0, or -1 with err.  The connection is the caller's again. */
int rx_diff_stager_finish(stager *s, int abandon, char *err, size_t errlen);

#endif
