/*
 * stage.c - a stage run: read the whole model, compare it with the
 * snapshot, stage the changes, and only then emit them.
 *
 * NOTES ON THE DESIGN
 *
 * Memory is bounded whatever the model's size; the work is an external
 * sort-merge:
 *
 *  1. Read.  Each row is validated, keyed, filtered by --shard and hashed
 *     (canon.c); its raw text goes to a spool file and a small record
 *     (key, hash, where the row is in the spool, its line number) to a
 *     chunk in memory.  A full chunk is sorted by key and written to a
 *     runs file.  Nothing is emitted.
 *  2. Merge.  The sorted runs, the snapshot (SELECT ... ORDER BY key, a
 *     sequential scan of a small table) and the uncertain keys are merged
 *     in key order, like comm(1).  A key seen twice is dead-lettered; new,
 *     changed and uncertain keys, and in mirror mode keys gone from the
 *     model, become changes: staged in the state (one transaction) and
 *     written to an output spool.
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
#include "diff.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CHUNK_BYTES ((size_t)8 << 20)
#define READER_BUF ((size_t)256 << 10)    /* a run's read buffer, at most */
#define READER_MIN ((size_t)16 << 10)     /* and at least */
#define READER_BUDGET ((size_t)4 << 20)   /* all the runs' together */

/* One row's entry in a chunk and a runs file, followed by its key bytes
 * and padding to 8 bytes. */
typedef struct rec {
	uint64_t offset;                   /* of the row in the spool */
	uint64_t line;                     /* input line number */
	uint32_t keylen;                   /* bytes of key text */
	uint32_t rowlen;                   /* bytes of the row */
	uint32_t flags;                    /* REC_HASH, REC_RAW: which are known */
	uint32_t pad;
	unsigned char hash[DIFF_HASH_LEN]; /* canonical hash */
	unsigned char raw[DIFF_RAW_LEN];   /* fingerprint of the raw text */
} rec;

#define REC_HASH 1
#define REC_RAW 2
#define REC_INLINE 4 /* the row follows the key (not in the spool) */

static size_t rec_size(uint32_t keylen)
{
	return (sizeof(rec) + keylen + 7) & ~(size_t)7;
}

/* The whole record: header, key, and the row when inline. */
static size_t rec_bytes(const rec *r)
{
	size_t row = r->flags & REC_INLINE ? r->rowlen : 0;
	return (sizeof(rec) + r->keylen + row + 7) & ~(size_t)7;
}

static const char *rec_key(const rec *r)
{
	return (const char *)(r + 1);
}

static int key_cmp(const char *a, size_t an, const char *b, size_t bn)
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
	rx_buf names, name, last;
} colset;

/* Sorted runs of records in one temporary file. */
typedef struct run_reader {
	off_t pos, end;   /* what is left of this run in the file */
	char *buf;        /* read buffer */
	size_t cap, at, len;
	const rec *cur;   /* current record, or NULL at the end */
	uint64_t prefix;  /* of its key */
} run_reader;

typedef struct stage_ctx {
	const diff_options *o;
	sqlite3 *db;
	long long run_id;
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
	/* counters */
	long long rows, inserts, updates, deletes, unchanged, invalid, snapshot_rows;
	/* statements */
	sqlite3_stmt *get_row, *put_staged;
} stage_ctx;

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

/* ---- pass 1: read ---- */

/* The chunk is sorted through an index of (key prefix, record offset):
 * most comparisons are then one integer compare.  The prefix is the first
 * 8 key bytes, big-endian, zero-padded, which orders like memcmp on the
 * whole key whenever two prefixes differ. */
typedef struct chunk_ix {
	uint64_t prefix;
	size_t at;
} chunk_ix;

static uint64_t key_prefix(const char *k, size_t n)
{
	unsigned char b[8] = {0};
	memcpy(b, k, n < 8 ? n : 8);
	return (uint64_t)b[0] << 56 | (uint64_t)b[1] << 48 | (uint64_t)b[2] << 40 | (uint64_t)b[3] << 32 |
	       (uint64_t)b[4] << 24 | (uint64_t)b[5] << 16 | (uint64_t)b[6] << 8 | (uint64_t)b[7];
}

static int ix_cmp(const void *a, const void *b, void *arg)
{
	const chunk_ix *p = a, *q = b;
	if (p->prefix != q->prefix)
		return p->prefix < q->prefix ? -1 : 1;
	const char *base = arg;
	const rec *x = (const rec *)(base + p->at), *y = (const rec *)(base + q->at);
	int c = key_cmp(rec_key(x), x->keylen, rec_key(y), y->keylen);
	if (c != 0)
		return c;
	return x->line < y->line ? -1 : x->line > y->line;
}

static int flush_chunk(stage_ctx *c, char *err, size_t errlen)
{
	if (c->nix == 0)
		return 0;
	qsort_r(c->ix, c->nix, sizeof *c->ix, ix_cmp, c->chunk.data);
	for (size_t i = 0; i < c->nix; i++) {
		const rec *r = (const rec *)(c->chunk.data + c->ix[i].at);
		size_t n = rec_bytes(r);
		rx_buf_put(&c->runs_out.buf, r, n);
		c->runs_off += (off_t)n;
		rx_writer_record(&c->runs_out);
	}
	if (rx_writer_flush(&c->runs_out) < 0) {
		snprintf(err, errlen, "cannot write a temporary file: %s", strerror(c->runs_out.error));
		return -1;
	}
	c->run_ends = rx_xrealloc(c->run_ends, (c->nruns + 1) * sizeof *c->run_ends);
	c->run_ends[c->nruns++] = c->runs_off;
	c->nix = 0;
	rx_buf_reset(&c->chunk);
	return 0;
}

/* The column set: the sorted decoded names of every member seen. */
static void colset_add(colset *s, const char *name)
{
	size_t lo = 0, hi = s->n;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		int cmp = strcmp(s->cols[mid], name);
		if (cmp == 0)
			return;
		if (cmp < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (s->n == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 32;
		s->cols = rx_xrealloc(s->cols, s->cap * sizeof *s->cols);
	}
	memmove(s->cols + lo + 1, s->cols + lo, (s->n - lo) * sizeof *s->cols);
	s->cols[lo] = rx_xstrdup(name);
	s->n++;
}

static void colset_note(colset *s, const rx_members *ms)
{
	size_t i;

	/* rows of a model nearly always have the names of the row before */
	rx_buf_reset(&s->names);
	for (i = 0; i < ms->n; i++)
		rx_buf_put(&s->names, ms->m[i].name.p, ms->m[i].name.n);
	if (s->names.len == s->last.len && memcmp(s->names.data, s->last.data, s->names.len) == 0)
		return;
	rx_buf_reset(&s->last);
	rx_buf_put(&s->last, s->names.data, s->names.len);
	for (i = 0; i < ms->n; i++) {
		rx_buf_reset(&s->name);
		rx_json_string_decode(ms->m[i].name, &s->name);
		colset_add(s, s->name.data);
	}
}

static void colset_free(colset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->cols[i]);
	free(s->cols);
	rx_buf_free(&s->names);
	rx_buf_free(&s->name);
	rx_buf_free(&s->last);
	memset(s, 0, sizeof *s);
}

static void dead_letter(const char *line, size_t n, const char *message)
{
	rx_deadletter d = {"rx-diff", 0, message, {NULL, 0}, 0};
	rx_deadletter_emit(line, n, &d);
}

static int too_many_invalid(const stage_ctx *c)
{
	if (c->o->max_invalid > 0 && c->invalid > c->o->max_invalid) {
		rx_diag("guard: more than %lld invalid rows (missing, null or duplicate keys); nothing was emitted"
			" (fix the model, or raise --max-invalid)",
			c->o->max_invalid);
		return 1;
	}
	return 0;
}

/*
 * Reading is spread over threads.  The main thread reads lines into
 * batches, a ring of them; workers parse, key and hash each batch's rows
 * (the costly part) and write its bytes to the spool at the place the
 * main thread gave it; the main thread then takes the batches back in
 * input order, so dead letters, counts and the first bad line come out
 * exactly as if one thread had read the rows one by one.  When the batch
 * it needs next is not yet taken by a worker, the main thread works it
 * itself; with --threads 1 there are no workers at all.
 */
#define BATCH_BYTES ((size_t)256 << 10)
#define NO_KEY 0xffffffffu /* rec.keylen of a row without a key */

enum { BATCH_FREE, BATCH_FILLED, BATCH_BUSY, BATCH_DONE };

typedef struct batch_line {
	uint64_t line; /* input line number */
	uint32_t off;  /* in the batch's bytes */
	uint32_t len;
} batch_line;

typedef struct batch {
	int state;
	rx_buf in;          /* the lines, each followed by a NUL */
	batch_line *lines;
	size_t nlines, cap_lines;
	uint64_t spool_base; /* where in goes in the spool */
	rx_buf out;          /* a record per row kept, in input order */
	uint64_t stop_line;  /* the line that stops the run, or 0 */
	int stop_status;
	char stop_msg[640];
	int write_errno;     /* writing the spool failed */
} batch;

typedef struct worker {
	struct pool *p;
	rx_members ms;
	rx_buf key;
	colset cols;
} worker;

typedef struct pool {
	stage_ctx *c;
	pthread_mutex_t mu;
	pthread_cond_t work, done;
	batch *b;
	size_t nb;
	uint64_t fill, consume; /* batch numbers; batch i is b[i % nb] */
	int stop;
	worker *w;   /* nw workers, then the main thread's own */
	pthread_t *tid;
	size_t nw;
} pool;

static int pwrite_all(int fd, const char *p, size_t n, uint64_t at)
{
	while (n > 0) {
		ssize_t k = pwrite(fd, p, n, (off_t)at);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			return -1;
		p += k, n -= (size_t)k, at += (uint64_t)k;
	}
	return 0;
}

static void batch_stop(batch *b, uint64_t line, int status, const char *fmt, const char *detail)
{
	b->stop_line = line;
	b->stop_status = status;
	snprintf(b->stop_msg, sizeof b->stop_msg, fmt, detail);
}

/* Parse, key and hash every row of b; write its bytes to the spool. */
static void work_batch(const stage_ctx *c, worker *w, batch *b)
{
	const diff_options *o = c->o;
	char err[512];

	rx_buf_reset(&b->out);
	b->stop_line = 0;
	b->write_errno = 0;
	if (!c->hash_all && pwrite_all(c->spool_fd, b->in.data, b->in.len, b->spool_base) < 0) {
		b->write_errno = errno ? errno : EIO;
		return;
	}
	for (size_t i = 0; i < b->nlines; i++) {
		const batch_line *l = &b->lines[i];
		const char *line = b->in.data + l->off;
		if (rx_json_scan_object(line, l->len, &w->ms, err, sizeof err) < 0) {
			batch_stop(b, l->line, RX_EXIT_DATAERR, "cannot parse the row: %s; nothing was emitted", err);
			return;
		}
		rx_buf_reset(&w->key);
		size_t at = b->out.len;
		if (rx_key_of(&w->ms, o->key_cols, o->nkey_cols, &w->key) < 0) {
			/* like rx-extract --shard: shard 1 reports keyless rows */
			if (o->nshards > 0 && o->shard != 1)
				continue;
			rx_buf_reserve(&b->out, sizeof(rec));
			rec *r = (rec *)(b->out.data + at);
			memset(r, 0, sizeof *r);
			r->offset = b->spool_base + l->off;
			r->line = l->line;
			r->keylen = NO_KEY;
			r->rowlen = l->len;
			b->out.len += sizeof(rec);
			continue;
		}
		if (o->nshards > 0 && rx_shard_of(w->key.data, w->key.len, o->nshards) != o->shard)
			continue;
		if (w->key.len > 0xffffffu) {
			batch_stop(b, l->line, RX_EXIT_DATAERR, "%s", "key too long");
			return;
		}
		colset_note(&w->cols, &w->ms);
		/* a run with an empty snapshot sends every row: carry it along
		 * rather than read it back from the spool one by one */
		size_t inline_len = c->hash_all ? l->len : 0;
		size_t size = (sizeof(rec) + w->key.len + inline_len + 7) & ~(size_t)7;
		rx_buf_reserve(&b->out, size);
		rec *r = (rec *)(b->out.data + at);
		r->offset = b->spool_base + l->off;
		r->line = l->line;
		r->keylen = (uint32_t)w->key.len;
		r->rowlen = l->len;
		r->flags = REC_RAW | (c->hash_all ? REC_INLINE : 0);
		r->pad = 0;
		rx_diff_fingerprint(line, l->len, c->seed, r->raw);
		if (c->hash_all) {
			rx_diff_row_hash(&w->ms, o, r->hash);
			r->flags |= REC_HASH;
		} else {
			memset(r->hash, 0, DIFF_HASH_LEN);
		}
		memcpy(r + 1, w->key.data, w->key.len);
		memcpy((char *)(r + 1) + w->key.len, line, inline_len);
		memset((char *)(r + 1) + w->key.len + inline_len, 0, size - sizeof(rec) - w->key.len - inline_len);
		b->out.len += size;
	}
}

static batch *claim_filled(pool *p)
{
	for (uint64_t i = p->consume; i < p->fill; i++) {
		batch *b = &p->b[i % p->nb];
		if (b->state == BATCH_FILLED) {
			b->state = BATCH_BUSY;
			return b;
		}
	}
	return NULL;
}

static void *worker_main(void *arg)
{
	worker *w = arg;
	pool *p = w->p;
	batch *b = NULL;

	pthread_mutex_lock(&p->mu);
	for (;;) {
		while (!p->stop && (b = claim_filled(p)) == NULL)
			pthread_cond_wait(&p->work, &p->mu);
		if (p->stop)
			break;
		pthread_mutex_unlock(&p->mu);
		work_batch(p->c, w, b);
		pthread_mutex_lock(&p->mu);
		b->state = BATCH_DONE;
		pthread_cond_broadcast(&p->done);
	}
	pthread_mutex_unlock(&p->mu);
	rx_diff_canon_free();
	rx_key_scratch_free();
	return NULL;
}

/* Take back batch b, in input order: 0, or an RX_EXIT_* status that ends
 * the run (the message is printed). */
static int take_batch(stage_ctx *c, batch *b, const char *input)
{
	static rx_buf msg;
	char err[256];

	if (b->write_errno) {
		rx_diag("cannot write a temporary file: %s", strerror(b->write_errno));
		return RX_EXIT_FAIL;
	}
	for (size_t at = 0; at < b->out.len;) {
		const rec *r = (const rec *)(b->out.data + at);
		if (r->keylen == NO_KEY) {
			at += sizeof(rec);
			rx_buf_reset(&msg);
			rx_buf_printf(&msg, "line %llu: missing or null key (--key %s%s)", (unsigned long long)r->line,
				      c->o->key_cols[0], c->o->nkey_cols > 1 ? ",..." : "");
			dead_letter(b->in.data + (r->offset - b->spool_base), r->rowlen, msg.data);
			c->rows++;
			c->invalid++;
			if (too_many_invalid(c))
				return RX_EXIT_DATAERR;
			continue;
		}
		size_t size = rec_bytes(r);
		c->rows++;
		if (c->nix == c->cap_ix) {
			c->cap_ix = c->cap_ix ? 2 * c->cap_ix : 4096;
			c->ix = rx_xrealloc(c->ix, c->cap_ix * sizeof *c->ix);
		}
		c->ix[c->nix].prefix = key_prefix(rec_key(r), r->keylen);
		c->ix[c->nix++].at = c->chunk.len;
		rx_buf_put(&c->chunk, r, size);
		at += size;
		if (c->chunk.len >= c->chunk_bytes && flush_chunk(c, err, sizeof err) < 0) {
			rx_diag("%s", err);
			return RX_EXIT_FAIL;
		}
		rx_killpoint("stage");
	}
	if (b->stop_line != 0) {
		rx_diag_at(input, b->stop_line, "%s", b->stop_msg);
		return b->stop_status;
	}
	return 0;
}

/* Wait for the oldest batch (working it here if no worker has taken it)
 * and take it back. */
static int take_oldest(pool *p, const char *input)
{
	batch *b = &p->b[p->consume % p->nb];

	pthread_mutex_lock(&p->mu);
	if (b->state == BATCH_FILLED) {
		b->state = BATCH_BUSY;
		pthread_mutex_unlock(&p->mu);
		work_batch(p->c, &p->w[p->nw], b);
		pthread_mutex_lock(&p->mu);
		b->state = BATCH_DONE;
	}
	while (b->state != BATCH_DONE)
		pthread_cond_wait(&p->done, &p->mu);
	pthread_mutex_unlock(&p->mu);
	int status = take_batch(p->c, b, input);
	pthread_mutex_lock(&p->mu);
	b->state = BATCH_FREE;
	p->consume++;
	pthread_mutex_unlock(&p->mu);
	rx_buf_reset(&b->in);
	b->nlines = 0;
	return status;
}

/* Hand the batch being filled to the workers; make sure the next one is
 * free. */
static int submit(pool *p, const char *input)
{
	batch *b = &p->b[p->fill % p->nb];
	int status = 0;

	b->spool_base = p->c->spool_off;
	p->c->spool_off += b->in.len;
	pthread_mutex_lock(&p->mu);
	b->state = BATCH_FILLED;
	p->fill++;
	pthread_cond_signal(&p->work);
	pthread_mutex_unlock(&p->mu);
	while (status == 0 && p->fill - p->consume >= p->nb)
		status = take_oldest(p, input);
	/* take back what is done already: dead letters come out early and the
	 * ring stays short */
	for (;;) {
		if (status != 0 || p->consume == p->fill)
			break;
		pthread_mutex_lock(&p->mu);
		int done = p->b[p->consume % p->nb].state == BATCH_DONE;
		pthread_mutex_unlock(&p->mu);
		if (!done)
			break;
		status = take_oldest(p, input);
	}
	return status;
}

static void pool_start(pool *p, stage_ctx *c)
{
	memset(p, 0, sizeof *p);
	p->c = c;
	p->nw = c->o->threads > 1 ? (size_t)c->o->threads : 0;
	p->nb = p->nw > 0 ? 2 * p->nw + 2 : 1;
	p->b = calloc(p->nb, sizeof *p->b);
	p->w = calloc(p->nw + 1, sizeof *p->w);
	p->tid = calloc(p->nw + 1, sizeof *p->tid);
	if (p->b == NULL || p->w == NULL || p->tid == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	pthread_mutex_init(&p->mu, NULL);
	pthread_cond_init(&p->work, NULL);
	pthread_cond_init(&p->done, NULL);
	for (size_t i = 0; i <= p->nw; i++)
		p->w[i].p = p;
	size_t i;
	for (i = 0; i < p->nw; i++)
		if (pthread_create(&p->tid[i], NULL, worker_main, &p->w[i]) != 0)
			break; /* fewer workers: the main thread does the rest */
	if (i < p->nw) {
		p->w[i] = p->w[p->nw]; /* the main thread's own, still unused */
		p->nw = i;
	}
}

/* Stop the workers; merge their column sets into c's. */
static void pool_stop(pool *p)
{
	pthread_mutex_lock(&p->mu);
	p->stop = 1;
	pthread_cond_broadcast(&p->work);
	pthread_mutex_unlock(&p->mu);
	for (size_t i = 0; i < p->nw; i++)
		pthread_join(p->tid[i], NULL);
	for (size_t i = 0; i <= p->nw; i++) {
		for (size_t j = 0; j < p->w[i].cols.n; j++)
			colset_add(&p->c->cols, p->w[i].cols.cols[j]);
		colset_free(&p->w[i].cols);
		free(p->w[i].ms.m);
		rx_buf_free(&p->w[i].key);
	}
	for (size_t i = 0; i < p->nb; i++) {
		rx_buf_free(&p->b[i].in);
		rx_buf_free(&p->b[i].out);
		free(p->b[i].lines);
	}
	pthread_cond_destroy(&p->work);
	pthread_cond_destroy(&p->done);
	pthread_mutex_destroy(&p->mu);
	free(p->b);
	free(p->w);
	free(p->tid);
}

/* 0 read everything, RX_EXIT_* otherwise. */
static int read_model(stage_ctx *c)
{
	const diff_options *o = c->o;
	rx_reader in;
	pool p;
	char err[512];
	char *line;
	size_t len;
	int r, status = 0;

	if (rx_reader_open(&in, "-", o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	pool_start(&p, c);
	while ((r = rx_reader_next(&in, &line, &len, err, sizeof err)) == 1) {
		if (len == 0 || (len == 1 && line[0] == ' '))
			continue;
		if (len > 0xffffffffu - BATCH_BYTES) {
			rx_diag_at(in.name, in.line, "row too long");
			status = RX_EXIT_DATAERR;
			break;
		}
		batch *b = &p.b[p.fill % p.nb];
		if (b->nlines == b->cap_lines) {
			b->cap_lines = b->cap_lines ? 2 * b->cap_lines : 1024;
			b->lines = rx_xrealloc(b->lines, b->cap_lines * sizeof *b->lines);
		}
		b->lines[b->nlines++] = (batch_line){in.line, (uint32_t)b->in.len, (uint32_t)len};
		rx_buf_put(&b->in, line, len);
		rx_buf_putc(&b->in, '\0');
		if (b->in.len >= BATCH_BYTES && (status = submit(&p, in.name)) != 0)
			break;
	}
	if (status == 0 && p.b[p.fill % p.nb].nlines > 0)
		status = submit(&p, in.name);
	while (status == 0 && p.consume < p.fill)
		status = take_oldest(&p, in.name);
	pool_stop(&p);
	if (status == 0 && r < 0) {
		rx_diag_at(in.name, in.line + 1, "%s", err);
		status = err[0] == 'l' ? RX_EXIT_DATAERR : RX_EXIT_FAIL; /* "line too long" */
	}
	if (status == 0 && flush_chunk(c, err, sizeof err) < 0) {
		rx_diag("%s", err);
		status = RX_EXIT_FAIL;
	}
	rx_reader_close(&in);
	return status;
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
		       const unsigned char *raw, int action, rx_span row, rx_span full, const char *changed, char *err,
		       size_t errlen)
{
	static rx_buf packed;
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
	rx_diff_pack(full.p, full.n, &packed);
	sqlite3_stmt *st = c->put_staged;
	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, c->run_id);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, hash, DIFF_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, action);
	sqlite3_bind_blob(st, 6, packed.data, (int)packed.len, SQLITE_STATIC);
	if (raw != NULL)
		sqlite3_bind_blob(st, 7, raw, DIFF_RAW_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot stage a change: %s", sqlite3_errmsg(c->db));
		return -1;
	}
	rx_killpoint("merge");
	return 0;
}

/* The last delivered row of a key, unpacked into out: 1, 0 none, -1 error. */
static int last_row(stage_ctx *c, const char *key, size_t keylen, rx_buf *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = c->get_row;
	int found = 0;

	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (rx_diff_unpack(sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out) < 0) {
			snprintf(err, errlen, "the snapshot's row for key '%.*s' is damaged", (int)keylen, key);
			found = -1;
		} else {
			found = 1;
		}
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		found = -1;
	}
	sqlite3_reset(st);
	return found;
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
		c->inserts++;
		return emit_change(c, op, key, r->keylen, r->hash, r->raw, 0, rx_span_of(row.data, row.len), none,
				   NULL, err, errlen);
	}
	c->updates++;
	if (uncertain || o->mode == MODE_DELETE) /* the destination may hold anything: send it all */
		return emit_change(c, op, key, r->keylen, r->hash, r->raw, 0, rx_span_of(row.data, row.len), none,
				   NULL, err, errlen);
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
			if (!flags[i] && !rx_diff_name_in(new_ms.m[i].name, o->key_cols, o->nkey_cols))
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
			   changed.data ? changed.data : "", err, errlen);
}

/* A key gone from the model: in mirror mode, a delete that carries the
 * last synced row (or, for a key never acked, the row last sent). */
static int merge_gone(stage_ctx *c, const char *key, size_t keylen, const unsigned char *hash, rx_span sent_row,
		      char *err, size_t errlen)
{
	static rx_buf row;

	if (c->o->mode != MODE_MIRROR)
		return 0;
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
	return emit_change(c, "delete", key, keylen, hash, NULL, 1, sent_row, sent_row, NULL, err, errlen);
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
	dead_letter(row.data, row.len, msg.data);
	c->invalid++;
	return 0;
}

/* ---- the snapshot, scanned on a thread of its own ---- */

/*
 * The merge needs the snapshot's (key, hash) pairs in key order.  Stepping
 * SQLite through a million of them is a third of the merge's time, so a
 * thread does it on a second connection (WAL: it reads the last committed
 * state, which the open staging transaction does not touch) and passes
 * them on in blocks of recs, with REC_HASH and REC_RAW set for what they
 * have (a damaged hash has no REC_HASH).
 */
#define FEED_BLOCKS 4
#define FEED_BYTES ((size_t)128 << 10)

typedef struct snap_feed {
	pthread_t tid;
	int started;
	sqlite3 *db;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	rx_buf blk[FEED_BLOCKS];
	int full[FEED_BLOCKS];
	int done;        /* no block follows the last full one */
	int stop;        /* the merge gave up */
	char err[256];   /* why the scan failed */
	size_t rd, at;   /* the block being read, and where */
	int holding;     /* rd is full and being read */
	const rec *cur;  /* the current pair, or NULL at the end */
} snap_feed;

static void *feed_main(void *arg)
{
	snap_feed *f = arg;
	sqlite3_stmt *st = NULL;
	size_t wb = 0;
	int rc = SQLITE_ERROR;

	if (sqlite3_prepare_v2(f->db, "SELECT key, hash, raw FROM snapshot ORDER BY key", -1, &st, NULL) != SQLITE_OK) {
		snprintf(f->err, sizeof f->err, "%s", sqlite3_errmsg(f->db));
		pthread_mutex_lock(&f->mu);
		f->done = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		return NULL;
	}
	for (;;) {
		pthread_mutex_lock(&f->mu);
		while (f->full[wb] && !f->stop)
			pthread_cond_wait(&f->cv, &f->mu);
		int stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		if (stop)
			break;
		rx_buf *b = &f->blk[wb];
		rx_buf_reset(b);
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
		pthread_mutex_lock(&f->mu);
		f->full[wb] = 1;
		if (rc != SQLITE_ROW)
			f->done = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		if (rc != SQLITE_ROW)
			break;
		wb = (wb + 1) % FEED_BLOCKS;
	}
	sqlite3_finalize(st);
	return NULL;
}

/* Move to the next pair: 0 (f->cur NULL at the end), -1 error in f->err. */
static int feed_next(snap_feed *f)
{
	if (f->cur != NULL)
		f->at += rec_size(f->cur->keylen);
	for (;;) {
		if (f->holding) {
			if (f->at < f->blk[f->rd].len) {
				f->cur = (const rec *)(f->blk[f->rd].data + f->at);
				return 0;
			}
			pthread_mutex_lock(&f->mu);
			f->full[f->rd] = 0;
			pthread_cond_broadcast(&f->cv);
			pthread_mutex_unlock(&f->mu);
			f->holding = 0;
			f->rd = (f->rd + 1) % FEED_BLOCKS;
			f->at = 0;
		}
		pthread_mutex_lock(&f->mu);
		while (!f->full[f->rd] && !f->done)
			pthread_cond_wait(&f->cv, &f->mu);
		f->holding = f->full[f->rd];
		pthread_mutex_unlock(&f->mu);
		if (!f->holding) {
			f->cur = NULL;
			return f->err[0] ? -1 : 0;
		}
	}
}

static int feed_start(snap_feed *f, const char *state, char *err, size_t errlen)
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
	pthread_mutex_init(&f->mu, NULL);
	pthread_cond_init(&f->cv, NULL);
	if (pthread_create(&f->tid, NULL, feed_main, f) != 0) {
		snprintf(err, errlen, "cannot start a thread: %s", strerror(errno));
		return -1;
	}
	f->started = 1;
	return feed_next(f) < 0 ? (snprintf(err, errlen, "%s", f->err), -1) : 0;
}

static void feed_stop(snap_feed *f)
{
	if (f->started) {
		pthread_mutex_lock(&f->mu);
		f->stop = 1;
		pthread_cond_broadcast(&f->cv);
		pthread_mutex_unlock(&f->mu);
		pthread_join(f->tid, NULL);
	}
	if (f->db != NULL) {
		pthread_cond_destroy(&f->cv);
		pthread_mutex_destroy(&f->mu);
		sqlite3_close(f->db);
	}
	for (size_t i = 0; i < FEED_BLOCKS; i++)
		rx_buf_free(&f->blk[i]);
	memset(f, 0, sizeof *f);
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
	if (sqlite3_prepare_v2(c->db, "SELECT key, hash, row FROM uncertain ORDER BY key", -1, &unc, NULL) !=
	    SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		goto done;
	}
	if (!c->o->full_resync && feed_start(&feed, c->o->state, err, errlen) < 0)
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
				if (rx_diff_unpack(sqlite3_column_blob(unc, 2), (size_t)sqlite3_column_bytes(unc, 2),
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
		if (in_snap && feed_next(&feed) < 0) {
			snprintf(err, errlen, "%s", feed.err);
			goto done;
		}
		if (in_unc)
			unc_state = sqlite3_step(unc);
		if (too_many_invalid(c)) {
			rc = -2;
			goto done;
		}
	}
	rc = 0;
	goto done;
sqlerr:
	snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
	goto done;
ioerr:
	snprintf(err, errlen, "cannot read a temporary file");
done:
	feed_stop(&feed);
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
			 "INSERT OR REPLACE INTO uncertain(key, hash, row) SELECT key, hash, row FROM staged;"
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
	if (o->mode == MODE_MIRROR && o->max_delete_ratio < 1.0 && c->deletes > 0 &&
	    (double)c->deletes > o->max_delete_ratio * (double)c->snapshot_rows) {
		rx_diag("guard: %lld deletes are more than %g of the %lld synced rows (--max-delete-ratio); nothing was "
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

static int copy_out(stage_ctx *c)
{
	rx_writer w;
	off_t pos = 0;
	int status = RX_EXIT_OK;

	rx_writer_init(&w, 1);
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

int rx_diff_stage(const diff_options *o)
{
	stage_ctx c;
	rx_buf columns = {0};
	char err[1024];
	int status = RX_EXIT_FAIL, in_txn = 0, r;

	memset(&c, 0, sizeof c);
	c.o = o;
	c.spool_fd = c.runs_fd = c.out_fd = -1;
	if (rx_diff_state_open(o->state, 1, &c.db, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	r = open_run(&c, err, sizeof err);
	if (r < 0) {
		rx_diag("%s", err);
		status = r == -2 ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
		goto done;
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
	if (rx_diff_seed(c.db, &c.seed, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	c.hash_all = o->full_resync || !snapshot_has_rows(c.db);

	r = read_model(&c);
	if (r != 0) {
		status = r;
		goto fail_run;
	}
	if (sqlite3_prepare_v2(c.db, "SELECT row FROM snapshot_row WHERE key = ?", -1, &c.get_row, NULL) !=
		    SQLITE_OK ||
	    sqlite3_prepare_v2(c.db,
			       "INSERT OR REPLACE INTO staged(key, run, op, hash, action, row, raw) VALUES(?, ?, ?, ?, ?, ?, ?)",
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
	r = merge(&c, err, sizeof err);
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
	columns_text(&c, &columns);
	r = guards(&c, columns.data, err, sizeof err);
	if (r != 0) {
		if (r < 0)
			rx_diag("%s", err);
		status = r < 0 ? RX_EXIT_FAIL : RX_EXIT_DATAERR;
		goto fail_run;
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
		rx_diag("%s", err);
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
	sqlite3_finalize(c.put_staged);
	c.get_row = c.put_staged = NULL;
	/* the WAL is copied into the database by the commit process (it is
	 * open in a pipeline anyway, so this close would not do it): the
	 * changes go out now */
	sqlite3_db_config(c.db, SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE, 1, NULL);
	sqlite3_close(c.db);
	c.db = NULL;
	status = copy_out(&c);
	if (status == RX_EXIT_OK && c.invalid > 0)
		status = RX_EXIT_DEADLETTER;
	goto done;

fail_run:
	/* nothing was emitted: record why the run stopped */
	if (c.db != NULL && c.run_id > 0) {
		if (in_txn)
			sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
		set_counts(&c, status == RX_EXIT_DATAERR ? "aborted" : "failed", NULL, 1, err, sizeof err);
	}
done:
	sqlite3_finalize(c.get_row);
	sqlite3_finalize(c.put_staged);
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
	colset_free(&c.cols);
	free(c.ix);
	free(c.run_ends);
	return status;
}
