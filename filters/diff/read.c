/*
 * read.c - the first pass of a stage run: read the whole model into
 * sorted runs.
 *
 * NOTES ON THE DESIGN
 *
 * Each row is validated, keyed, filtered by --shard and fingerprinted
 * (and hashed, when the snapshot is empty); its raw text goes to the
 * spool (or, when the snapshot is empty, into its record) and a record
 * (key, hash, fingerprint, where the row is, its line number) to a chunk
 * in memory.  A full chunk is sorted by key and written to the runs file.
 * Nothing is emitted.  The work is spread over threads, as below.
 */
#include "stage.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The chunk is sorted through an index of (key prefix, record offset):
 * most comparisons are then one integer compare.  The prefix is the first
 * 8 key bytes, big-endian, zero-padded, which orders like memcmp on the
 * whole key whenever two prefixes differ. */
typedef struct chunk_ix {
	uint64_t prefix;
	size_t at;
} chunk_ix;

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
	size_t i, at = 0;

	/* rows of a model nearly always have the names of the row before:
	 * compare them in place with the last row's, back to back (a raw
	 * name is quoted, so the concatenation is unambiguous) */
	for (i = 0; i < ms->n; i++) {
		size_t n = ms->m[i].name.n;
		if (at + n > s->last.len || memcmp(s->last.data + at, ms->m[i].name.p, n) != 0)
			break;
		at += n;
	}
	if (i == ms->n && at == s->last.len)
		return;
	rx_buf_reset(&s->last);
	for (i = 0; i < ms->n; i++)
		rx_buf_put(&s->last, ms->m[i].name.p, ms->m[i].name.n);
	for (i = 0; i < ms->n; i++) {
		rx_buf_reset(&s->name);
		rx_json_string_decode(ms->m[i].name, &s->name);
		colset_add(s, s->name.data);
	}
}

void rx_diff_colset_free(colset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->cols[i]);
	free(s->cols);
	rx_buf_free(&s->name);
	rx_buf_free(&s->last);
	memset(s, 0, sizeof *s);
}

void rx_diff_dead_letter(const char *line, size_t n, const char *message)
{
	rx_deadletter d = {"rx-diff", 0, message, {NULL, 0}, 0};
	rx_deadletter_emit(line, n, &d);
}

int rx_diff_too_many_invalid(const stage_ctx *c)
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
#define DICT_BYTES ((size_t)8 << 10) /* rows sampled for the state's row dictionary */
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
			rx_diff_dead_letter(b->in.data + (r->offset - b->spool_base), r->rowlen, msg.data);
			c->rows++;
			c->invalid++;
			if (rx_diff_too_many_invalid(c))
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
		rx_diff_colset_free(&p->w[i].cols);
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

int rx_diff_read_model(stage_ctx *c)
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
		if (c->ended) {
			rx_diag_at(in.name, in.line, "a line after the end record; nothing was emitted");
			status = RX_EXIT_DATAERR;
			break;
		}
		if (rx_control_is(line, len)) {
			if (rx_control_end(line, len, &c->end, err, sizeof err) < 0) {
				rx_diag_at(in.name, in.line, "%s; nothing was emitted", err);
				status = RX_EXIT_DATAERR;
				break;
			}
			if (c->end.rows >= 0 && c->end.rows != c->model_lines) {
				rx_diag_at(in.name, in.line,
					   "the end record counts %lld rows, but %lld came before it (a stage lost rows);"
					   " nothing was emitted",
					   c->end.rows, c->model_lines);
				status = RX_EXIT_DATAERR;
				break;
			}
			c->ended = 1;
			continue;
		}
		c->model_lines++;
		if (len > 0xffffffffu - BATCH_BYTES) {
			rx_diag_at(in.name, in.line, "row too long");
			status = RX_EXIT_DATAERR;
			break;
		}
		batch *b = &p.b[p.fill % p.nb];
		if (c->dict.len == 0 && c->sample.len < DICT_BYTES) {
			size_t take = len < DICT_BYTES - c->sample.len ? len : DICT_BYTES - c->sample.len;
			rx_buf_put(&c->sample, line, take);
			rx_buf_putc(&c->sample, '\n');
		}
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
		rx_diag("%s", err); /* it names the line */
		status = err[0] == 'l' ? RX_EXIT_DATAERR : RX_EXIT_FAIL; /* "line too long" */
	}
	if (status == 0 && flush_chunk(c, err, sizeof err) < 0) {
		rx_diag("%s", err);
		status = RX_EXIT_FAIL;
	}
	rx_reader_close(&in);
	return status;
}
