/*
 * stream.c - rx-diff --stream: a change feed compared with the snapshot
 * and emitted as it comes, in one run that lasts as long as the feed.
 *
 * NOTES ON THE DESIGN
 *
 * The input is a change feed (rx-extract --slot or --follow,
 * docs/streaming.md): rows, each the current state of its key at the
 * source, and control records between them (control.c): source positions
 * ({"$rx":"commit",...}), which pass through in their place, deletes
 * ({"$rx":"delete","row":{key columns}}) and truncates.  There is no
 * whole model, so no end record, no key gone from a model and no
 * duplicate key: a key comes again each time it changes.
 *
 *  - One run.  The stream opens a run as a stage does (the lock, the
 *    recovery of a dead run: what it staged becomes uncertain) and holds
 *    it while it lives; every change names it, and one rx-diff --commit
 *    applies its acks as they come.  At its end the run is left 'staged'
 *    for that commit to close, as a batch run is.
 *
 *  - Groups.  Lines are read while more are waiting (at most GROUP_LINES,
 *    or GROUP_MS of work: the commit waits for the lock meanwhile, and
 *    its own chunks are as short, commit.c), their changes staged in one
 *    transaction (synchronous=FULL: a change that can reach the
 *    destination is known to the state, as in a batch run), and only
 *    after its COMMIT written and flushed.  A quiet feed makes groups of one line; a busy one,
 *    larger groups and fewer fsyncs.  A source position is written after
 *    the changes of its group before it, so it reaches rx-push after them.
 *
 *  - A row against the snapshot, for key K (one lookup: the snapshot's
 *    hash and fingerprint, this run's staged change, the uncertain row):
 *      K has a change of this run on its way: the same hash is a repeat
 *        (a replayed or re-polled row) and is dropped; another is sent
 *        whole (the destination holds one of the two: a partial update
 *        against either could be wrong).  rx-push keeps the two in order.
 *      K is uncertain (sent by an earlier run, never acked): sent whole.
 *      K is synced: the delivered fingerprint or hash is unchanged and
 *        dropped; a change is an update (with "changed", --changed-only).
 *      K is new: an insert (or the mode's op).
 *    A delete (mirror mode only; other modes keep the row, as a batch run
 *    does) goes out for a key that is synced, on its way or uncertain,
 *    carrying the last synced (or last sent) row; a key the destination
 *    never had is nothing to delete.  Its hash is the snapshot's, or,
 *    while a change of K is on its way, one derived from that change's, so
 *    that the earlier change's ack can never be taken for the delete's.
 *
 *  - Guard rails over a window (--window seconds, default 60): changes
 *    (--max-changes), deletes (--max-deletes), deletes of synced rows as
 *    a share of the synced rows (--max-delete-ratio), bad keys
 *    (--max-invalid), and the column set (a row whose columns are not the
 *    delivered ones, unless --accept-schema-change).  The group that
 *    would trip one is rolled back and not emitted, and the stream stops
 *    (exit 65); the source position has not passed it, so the same
 *    changes come again when it is restarted.  A truncate deletes
 *    nothing: a delete is never sent on a guess, and a full sync in
 *    mirror mode does it.
 *
 *  - Long runs: nothing is allocated per line once the buffers have
 *    grown; the run's counts are written once a second while they change;
 *    the state's WAL is checkpointed by the commit process as its commits
 *    go (SQLite's wal_autocheckpoint, off here: a checkpoint would hold
 *    the next group back) and kept to journal_size_limit.  SIGTERM and
 *    SIGINT end the stream after the group at work (exit 0); SIGHUP is
 *    ignored (diagnostics go to stderr: there is no log to reopen).
 *
 * Crash points (RX_KILL_AT=rx-diff:POINT:N): stream (a change staged,
 * before its group commits), stream-emit (a group committed, not yet
 * written).
 */
#include "stage.h"
#include "rxpoll.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/file.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define GROUP_LINES 2000
#define GROUP_MS 10
#define IDLE_MS 1000
#define WAIT_MS 100 /* a signal is heard within this */

/* The guard rails' counts, in buckets of one second. */
#define WINDOW_BUCKETS 64

typedef struct bucket {
	long long second; /* which second (monotonic) it counts */
	long long changes, deletes, synced_deletes, invalid;
} bucket;

typedef struct stream_ctx {
	stage_ctx c;           /* the run (stage.c's), the counters, the state */
	sqlite3_stmt *look;    /* a key's snapshot hash and fingerprint, staged change, uncertain hash */
	sqlite3_stmt *get_row; /* the last delivered row */
	sqlite3_stmt *get_staged, *get_uncertain; /* the rows of those */
	sqlite3_stmt *put;     /* INSERT OR REPLACE INTO staged */
	rx_writer out;         /* stdout */
	rx_buf group;          /* the group's lines, written after its COMMIT */
	/* this group's counts, added to the window when it commits */
	long long g_changes, g_deletes, g_synced_deletes, g_invalid;
	long long g_inserts, g_updates, g_unchanged, g_rows;
	bucket win[WINDOW_BUCKETS];
	long long window_s;    /* seconds per window, at most WINDOW_BUCKETS - 1 buckets apart */
	/* the column set */
	char **ref;            /* the delivered columns (sorted), or NULL: none yet */
	size_t nref;
	rx_buf last_names;     /* the last row's raw names, back to back */
	rx_buf columns;        /* the run's column set as JSON, for runs.columns */
	int columns_dirty;
	long long truncates;
	long long counts_at;   /* when the run's counts were last written (ms) */
	int counts_dirty;
	long long snapshot_at; /* when snapshot_rows was counted (ms) */
} stream_ctx;

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
	stop_signal = sig;
}

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

static long long now_s(void)
{
	return rx_now_ms() / 1000;
}

/* ---- the window ---- */

static bucket *bucket_now(stream_ctx *s)
{
	long long t = now_s();
	bucket *b = &s->win[t % WINDOW_BUCKETS];

	if (b->second != t) {
		memset(b, 0, sizeof *b);
		b->second = t;
	}
	return b;
}

/* The counts of the window ending now, this group's included. */
static void window_totals(stream_ctx *s, bucket *sum)
{
	long long t = now_s();

	memset(sum, 0, sizeof *sum);
	for (int i = 0; i < WINDOW_BUCKETS; i++) {
		const bucket *b = &s->win[i];
		if (b->second > t - s->window_s && b->second <= t) {
			sum->changes += b->changes;
			sum->deletes += b->deletes;
			sum->synced_deletes += b->synced_deletes;
			sum->invalid += b->invalid;
		}
	}
	sum->changes += s->g_changes;
	sum->deletes += s->g_deletes;
	sum->synced_deletes += s->g_synced_deletes;
	sum->invalid += s->g_invalid;
}

/* Would this group trip a guard rail?  1 (message printed), 0 no. */
static int window_guards(stream_ctx *s)
{
	const diff_options *o = s->c.o;
	bucket w;

	window_totals(s, &w);
	if (o->max_changes >= 0 && w.changes > o->max_changes) {
		rx_diag("guard: %lld changes in %llds exceed --max-changes %lld; the stream stops here (exit 65): the "
			"changes of this moment were not emitted and come again from the source position when it is "
			"restarted (check the source, or raise --max-changes)",
			w.changes, s->window_s, o->max_changes);
		return 1;
	}
	if (o->max_deletes >= 0 && w.deletes > o->max_deletes) {
		rx_diag("guard: %lld deletes in %llds exceed --max-deletes %lld; the stream stops here (exit 65): the "
			"deletes of this moment were not emitted and come again from the source position when it is "
			"restarted (check the source, or raise --max-deletes)",
			w.deletes, s->window_s, o->max_deletes);
		return 1;
	}
	if (o->mode == MODE_MIRROR && o->max_delete_ratio < 1.0 && s->g_synced_deletes > 0 &&
	    (double)w.synced_deletes >= o->max_delete_ratio * (double)s->c.snapshot_rows) {
		rx_diag("guard: %lld deletes in %llds are %g or more of the %lld synced rows (--max-delete-ratio); the "
			"stream stops here (exit 65): the deletes of this moment were not emitted and come again from "
			"the source position when it is restarted (check the source, or raise --max-delete-ratio)",
			w.synced_deletes, s->window_s, o->max_delete_ratio, s->c.snapshot_rows);
		return 1;
	}
	if (o->max_invalid > 0 && w.invalid > o->max_invalid) {
		rx_diag("guard: %lld rows with a missing or null key in %llds exceed --max-invalid %lld; the stream "
			"stops here (exit 65)",
			w.invalid, s->window_s, o->max_invalid);
		return 1;
	}
	return 0;
}

static void group_reset(stream_ctx *s)
{
	rx_buf_reset(&s->group);
	s->g_changes = s->g_deletes = s->g_synced_deletes = s->g_invalid = 0;
	s->g_inserts = s->g_updates = s->g_unchanged = s->g_rows = 0;
}

/* The group committed: its counts join the window and the run's. */
static void group_done(stream_ctx *s)
{
	bucket *b = bucket_now(s);

	b->changes += s->g_changes;
	b->deletes += s->g_deletes;
	b->synced_deletes += s->g_synced_deletes;
	b->invalid += s->g_invalid;
	s->c.rows += s->g_rows;
	s->c.inserts += s->g_inserts;
	s->c.updates += s->g_updates;
	s->c.deletes += s->g_deletes;
	s->c.unchanged += s->g_unchanged;
	s->c.invalid += s->g_invalid;
	if (s->g_rows || s->g_deletes || s->g_invalid)
		s->counts_dirty = 1;
}

/* ---- the column set ---- */

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void free_names(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* A JSON array of names (meta 'columns') into a sorted list. */
static int parse_columns(const char *text, char ***out, size_t *n)
{
	rx_buf name = {0};
	const char *p = text;
	char **v = NULL;
	size_t k = 0;

	while (*p == ' ')
		p++;
	if (*p++ != '[')
		return -1;
	for (;;) {
		while (*p == ' ' || *p == ',')
			p++;
		if (*p == ']')
			break;
		if (*p != '"')
			goto bad;
		const char *start = p++;
		while (*p && *p != '"') {
			if (*p == '\\' && p[1])
				p++;
			p++;
		}
		if (*p != '"')
			goto bad;
		p++;
		rx_buf_reset(&name);
		rx_json_string_decode(rx_span_of(start, (size_t)(p - start)), &name);
		v = rx_xrealloc(v, (k + 1) * sizeof *v);
		v[k++] = rx_xstrdup(name.data ? name.data : "");
	}
	qsort(v, k, sizeof *v, name_cmp);
	rx_buf_free(&name);
	*out = v;
	*n = k;
	return 0;
bad:
	rx_buf_free(&name);
	free_names(v, k);
	return -1;
}

static void columns_json(char *const *v, size_t n, rx_buf *out)
{
	rx_buf_reset(out);
	rx_buf_putc(out, '[');
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			rx_buf_putc(out, ',');
		rx_json_put_string(out, v[i], strlen(v[i]));
	}
	rx_buf_putc(out, ']');
}

/* A row's columns against the delivered set: 0 the same (or accepted),
 * 1 the guard trips (message printed). */
static int check_columns(stream_ctx *s, const rx_members *ms)
{
	static rx_buf name;
	static char **v;
	static size_t cap;
	size_t at = 0, i;

	for (i = 0; i < ms->n; i++) {
		size_t n = ms->m[i].name.n;
		if (at + n > s->last_names.len || memcmp(s->last_names.data + at, ms->m[i].name.p, n) != 0)
			break;
		at += n;
	}
	if (i == ms->n && at == s->last_names.len && s->last_names.len > 0)
		return 0; /* the names of the row before */
	if (cap < ms->n) {
		cap = ms->n;
		v = rx_xrealloc(v, cap * sizeof *v);
	}
	for (i = 0; i < ms->n; i++) {
		rx_buf_reset(&name);
		rx_json_string_decode(ms->m[i].name, &name);
		v[i] = rx_xstrdup(name.data ? name.data : "");
	}
	qsort(v, ms->n, sizeof *v, name_cmp);
	int same = s->ref != NULL && s->nref == ms->n;
	for (i = 0; same && i < ms->n; i++)
		same = strcmp(s->ref[i], v[i]) == 0;
	int rc = 0;
	if (!same && s->ref != NULL && !s->c.o->accept_schema_change) {
		rx_buf now = {0};
		columns_json(v, ms->n, &now);
		columns_json(s->ref, s->nref, &s->columns);
		rx_diag("guard: the columns changed since the last delivered run (were %s, now %s); the stream stops "
			"here (exit 65): a renamed column would overwrite a field with null (check the source, or pass "
			"--accept-schema-change)",
			s->columns.data, now.data);
		rx_buf_free(&now);
		rc = 1;
	} else if (!same) {
		/* the first row of a new sync, or an accepted change: these are
		 * the run's columns, the destination's once acked */
		free_names(s->ref, s->nref);
		s->ref = rx_xmalloc((ms->n ? ms->n : 1) * sizeof *s->ref);
		for (i = 0; i < ms->n; i++)
			s->ref[i] = rx_xstrdup(v[i]);
		s->nref = ms->n;
		columns_json(s->ref, s->nref, &s->columns);
		s->columns_dirty = 1;
	}
	for (i = 0; i < ms->n; i++)
		free(v[i]);
	if (rc == 0) {
		rx_buf_reset(&s->last_names);
		for (i = 0; i < ms->n; i++)
			rx_buf_put(&s->last_names, ms->m[i].name.p, ms->m[i].name.n);
	}
	return rc;
}

/* ---- a key against the state ---- */

typedef struct look {
	int synced;      /* in the snapshot */
	unsigned char snap_hash[DIFF_HASH_LEN];
	int has_raw;
	unsigned char snap_raw[DIFF_RAW_LEN];
	int in_flight;   /* a change of this run is staged */
	unsigned char staged_hash[DIFF_HASH_LEN];
	int staged_action;
	int uncertain;
	unsigned char unc_hash[DIFF_HASH_LEN];
} look;

static int lookup(stream_ctx *s, const char *key, size_t keylen, look *l, char *err, size_t errlen)
{
	sqlite3_stmt *st = s->look;
	int rc = -1;

	memset(l, 0, sizeof *l);
	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->c.run_id);
	if (sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->c.db));
		goto done;
	}
	if (sqlite3_column_bytes(st, 0) == DIFF_HASH_LEN) {
		l->synced = 1;
		memcpy(l->snap_hash, sqlite3_column_blob(st, 0), DIFF_HASH_LEN);
	}
	if (sqlite3_column_bytes(st, 1) == DIFF_RAW_LEN) {
		l->has_raw = 1;
		memcpy(l->snap_raw, sqlite3_column_blob(st, 1), DIFF_RAW_LEN);
	}
	if (sqlite3_column_bytes(st, 2) == DIFF_HASH_LEN) {
		l->in_flight = 1;
		memcpy(l->staged_hash, sqlite3_column_blob(st, 2), DIFF_HASH_LEN);
		l->staged_action = sqlite3_column_int(st, 3);
	}
	if (sqlite3_column_bytes(st, 4) == DIFF_HASH_LEN) {
		l->uncertain = 1;
		memcpy(l->unc_hash, sqlite3_column_blob(st, 4), DIFF_HASH_LEN);
	}
	/* the destination's id of the key (the change on its way, the
	 * delivered row, the uncertain one), for the change: emit() */
	rx_buf_reset(&s->c.id);
	if (sqlite3_column_type(st, 5) == SQLITE_TEXT)
		rx_buf_put(&s->c.id, sqlite3_column_text(st, 5), (size_t)sqlite3_column_bytes(st, 5));
	rc = 0;
done:
	sqlite3_reset(st);
	return rc;
}

/* The packed row of key in st's table into out: 1, 0 none, -1 error. */
static int row_of(stream_ctx *s, sqlite3_stmt *st, int bind_run, const char *key, size_t keylen, rx_buf *out,
		  char *err, size_t errlen)
{
	int found = 0;

	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	if (bind_run)
		sqlite3_bind_int64(st, 2, s->c.run_id);
	int rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		if (rx_diff_unpack(&s->c.dict, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0), out) < 0) {
			snprintf(err, errlen, "the state's row for key '%.*s' is damaged", (int)keylen, key);
			found = -1;
		} else {
			found = 1;
		}
	} else if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s->c.db));
		found = -1;
	}
	sqlite3_reset(st);
	return found;
}

static void put_trimmed(rx_buf *b, const char *p, size_t n)
{
	while (n > 0 && (*p == ' ' || *p == '\t'))
		p++, n--;
	while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t'))
		n--;
	rx_buf_put(b, p, n);
}

/* Stage one change and add it to the group's output: the same line a
 * batch run writes.  send: what the change carries; keep: the row kept
 * for the snapshot; changed: the names list, or NULL.  The key's
 * destination id is the one lookup() found (s->c.id), carried and
 * staged as a batch run does (stage.c). */
static int emit(stream_ctx *s, const char *op, const char *key, size_t keylen, const unsigned char *hash,
		const unsigned char *raw, int action, rx_span send, rx_span keep, const char *changed, char *err,
		size_t errlen)
{
	static rx_buf packed;
	char hex[2 * DIFF_HASH_LEN + 1];
	rx_buf *b = &s->group;
	sqlite3_stmt *st = s->put;

	rx_diff_pack(&s->c.dict, keep.p, keep.n, &packed);
	sqlite3_bind_text(st, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(st, 2, s->c.run_id);
	sqlite3_bind_text(st, 3, op, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 4, hash, DIFF_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int(st, 5, action);
	sqlite3_bind_blob(st, 6, packed.data, (int)packed.len, SQLITE_STATIC);
	if (raw != NULL)
		sqlite3_bind_blob(st, 7, raw, DIFF_RAW_LEN, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 7);
	if (s->c.id.len > 0)
		sqlite3_bind_text(st, 8, s->c.id.data, (int)s->c.id.len, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, 8);
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	if (rc != SQLITE_DONE) {
		snprintf(err, errlen, "cannot stage a change: %s", sqlite3_errmsg(s->c.db));
		return -1;
	}
	rx_killpoint("stream");

	rx_diff_hex(hash, hex);
	rx_buf_puts(b, "{\"op\":\"");
	rx_buf_puts(b, op);
	rx_buf_puts(b, "\",\"key\":");
	rx_json_put_string(b, key, keylen);
	rx_buf_puts(b, ",\"hash\":\"");
	rx_buf_puts(b, hex);
	rx_buf_putc(b, '"');
	rx_buf_puts(b, s->c.run_tag);
	if (s->c.id.len > 0) {
		/* the destination's own id of the record: where CRMs address it */
		rx_buf_puts(b, ",\"id\":");
		rx_buf_put(b, s->c.id.data, s->c.id.len);
	}
	if (changed != NULL) {
		rx_buf_puts(b, ",\"changed\":[");
		rx_buf_puts(b, changed);
		rx_buf_putc(b, ']');
	}
	rx_buf_puts(b, ",\"row\":");
	put_trimmed(b, send.p, send.n);
	rx_buf_puts(b, "}\n");
	s->g_changes++;
	return 0;
}

/* A row that cannot be synced: a dead letter, counted. */
static void reject(stream_ctx *s, const char *line, size_t len, unsigned long long lineno, const char *why)
{
	char msg[1200];

	snprintf(msg, sizeof msg, "line %llu: %s", lineno, why);
	rx_diff_dead_letter(line, len, msg);
	s->g_invalid++;
}

/* One row of the feed. */
static int stream_row(stream_ctx *s, const char *line, size_t len, unsigned long long lineno, rx_members *ms,
		      char *err, size_t errlen)
{
	static rx_buf key, old, changed, partial;
	static rx_members old_ms;
	static unsigned char *flags;
	static size_t cap_flags;
	const diff_options *o = s->c.o;
	unsigned char hash[DIFF_HASH_LEN], raw[DIFF_RAW_LEN];
	rx_span row = rx_span_of(line, len);
	look l;

	rx_buf_reset(&key);
	if (rx_key_of(ms, o->key_cols, o->nkey_cols, &key) < 0) {
		if (o->nshards == 0 || o->shard == 1)
			reject(s, line, len, lineno, "missing or null key (the row is not synced)");
		return 0;
	}
	if (o->nshards > 0 && rx_shard_of(key.data, key.len, o->nshards) != o->shard)
		return 0;
	s->g_rows++;
	if (check_columns(s, ms))
		return -2;
	if (lookup(s, key.data, key.len, &l, err, errlen) < 0)
		return -1;
	rx_diff_fingerprint(line, len, s->c.seed, raw);
	if (op_changed(o->mode) == NULL) {
		/* insert and delete modes: nothing for a key synced or on its way */
		if (l.synced || l.in_flight) {
			s->g_unchanged++;
			return 0;
		}
		rx_diff_row_hash(ms, o, hash);
		s->g_inserts++;
		return emit(s, op_new(o->mode), key.data, key.len, hash, raw, 0, row, row, NULL, err, errlen);
	}
	if (l.in_flight) {
		rx_diff_row_hash(ms, o, hash);
		if (l.staged_action == 0 && memcmp(hash, l.staged_hash, DIFF_HASH_LEN) == 0) {
			s->g_unchanged++; /* a repeat of the change on its way */
			return 0;
		}
	} else if (l.synced && !l.uncertain) {
		if (l.has_raw && memcmp(raw, l.snap_raw, DIFF_RAW_LEN) == 0) {
			s->g_unchanged++; /* the very text that was delivered */
			return 0;
		}
		rx_diff_row_hash(ms, o, hash);
		if (memcmp(hash, l.snap_hash, DIFF_HASH_LEN) == 0) {
			s->g_unchanged++; /* written differently, the same data */
			return 0;
		}
	} else {
		rx_diff_row_hash(ms, o, hash);
	}
	if (!l.synced) {
		s->g_inserts++;
		return emit(s, op_new(o->mode), key.data, key.len, hash, raw, 0, row, row, NULL, err, errlen);
	}
	s->g_updates++;
	if (l.in_flight || l.uncertain) /* the destination may hold either: send it all */
		return emit(s, op_changed(o->mode), key.data, key.len, hash, raw, 0, row, row, NULL, err, errlen);
	/* which fields changed, from the last delivered row */
	int found = row_of(s, s->get_row, 0, key.data, key.len, &old, err, errlen);
	if (found < 0)
		return -1;
	if (found == 0 || rx_json_scan_object(old.data, old.len, &old_ms, err, errlen) < 0)
		old_ms.n = 0;
	if (cap_flags < ms->n) {
		cap_flags = ms->n;
		flags = rx_xrealloc(flags, cap_flags);
	}
	memset(flags, 0, ms->n);
	rx_buf_reset(&changed);
	rx_diff_changed(&old_ms, ms, o, &changed, flags);
	rx_span send = row;
	if (o->changed_only) {
		rx_buf_reset(&partial);
		rx_buf_putc(&partial, '{');
		int first = 1;
		for (size_t i = 0; i < ms->n; i++) {
			if (!flags[i] && !rx_name_in(ms->m[i].name, o->key_cols, o->nkey_cols))
				continue;
			if (!first)
				rx_buf_putc(&partial, ',');
			first = 0;
			rx_buf_put(&partial, ms->m[i].name.p, ms->m[i].name.n);
			rx_buf_putc(&partial, ':');
			rx_buf_put(&partial, ms->m[i].value.p, ms->m[i].value.n);
		}
		rx_buf_putc(&partial, '}');
		send = rx_span_of(partial.data, partial.len);
	}
	return emit(s, op_changed(o->mode), key.data, key.len, hash, raw, 0, send, row, changed.data ? changed.data : "",
		    err, errlen);
}

/* A delete from the source: {"$rx":"delete","row":{key columns}}. */
static int stream_delete(stream_ctx *s, const char *line, size_t len, unsigned long long lineno, const rx_members *cm,
			 char *err, size_t errlen)
{
	static rx_buf key, row;
	static rx_members ms;
	const diff_options *o = s->c.o;
	unsigned char hash[DIFF_HASH_LEN];
	look l;

	long ri = rx_json_find(cm, "row", 3);
	if (ri < 0 || rx_json_kind(cm->m[ri].value) != 'o' ||
	    rx_json_scan_object(cm->m[ri].value.p, cm->m[ri].value.n, &ms, err, errlen) < 0) {
		reject(s, line, len, lineno, "a delete record without a \"row\" object");
		return 0;
	}
	rx_buf_reset(&key);
	if (rx_key_of(&ms, o->key_cols, o->nkey_cols, &key) < 0) {
		reject(s, line, len, lineno,
		       "a delete whose row lacks the key (does the table's replica identity hold the --key columns?)");
		return 0;
	}
	if (o->nshards > 0 && rx_shard_of(key.data, key.len, o->nshards) != o->shard)
		return 0;
	if (o->mode != MODE_MIRROR) {
		s->g_unchanged++; /* only mirror mode deletes, as in a batch run */
		return 0;
	}
	if (lookup(s, key.data, key.len, &l, err, errlen) < 0)
		return -1;
	int found = 0;
	if (l.in_flight) {
		if (l.staged_action == 1) {
			s->g_unchanged++; /* its delete is on its way */
			return 0;
		}
		/* a hash no ack of the change on its way can carry */
		unsigned char buf[DIFF_HASH_LEN + 6];
		memcpy(buf, l.staged_hash, DIFF_HASH_LEN);
		memcpy(buf + DIFF_HASH_LEN, "delete", 6);
		char hex[65];
		rx_sha256_hex(buf, sizeof buf, hex);
		rx_diff_unhex(hex, 64, hash);
		found = l.synced ? row_of(s, s->get_row, 0, key.data, key.len, &row, err, errlen) : 0;
		if (found == 0)
			found = row_of(s, s->get_staged, 1, key.data, key.len, &row, err, errlen);
	} else if (l.synced) {
		memcpy(hash, l.snap_hash, DIFF_HASH_LEN);
		found = row_of(s, s->get_row, 0, key.data, key.len, &row, err, errlen);
	} else if (l.uncertain) {
		memcpy(hash, l.unc_hash, DIFF_HASH_LEN);
		found = row_of(s, s->get_uncertain, 0, key.data, key.len, &row, err, errlen);
	} else {
		s->g_unchanged++; /* the destination never had it */
		return 0;
	}
	if (found < 0)
		return -1;
	if (found == 0) {
		rx_buf_reset(&row);
		rx_buf_puts(&row, "{}");
	}
	s->g_deletes++;
	if (l.synced)
		s->g_synced_deletes++;
	rx_span r = rx_span_of(row.data, row.len);
	return emit(s, "delete", key.data, key.len, hash, NULL, 1, r, r, NULL, err, errlen);
}

/* One line of the feed: 0, -1 error (err), -2 a guard tripped. */
static int stream_line(stream_ctx *s, const char *line, size_t len, unsigned long long lineno, char *err,
		       size_t errlen)
{
	static rx_members ms;
	char kind[16];

	size_t a = 0;
	while (a < len && (line[a] == ' ' || line[a] == '\t'))
		a++;
	if (a == len)
		return 0;
	if (rx_control_is(line, len)) {
		if (rx_control_parse(line, len, &ms, kind, sizeof kind, err, errlen) < 0) {
			rx_diag("line %llu: %s", lineno, err);
			s->g_invalid++;
			return 0;
		}
		if (strcmp(kind, "delete") == 0)
			return stream_delete(s, line, len, lineno, &ms, err, errlen);
		if (strcmp(kind, "truncate") == 0) {
			long t = rx_json_find(&ms, "table", 5);
			s->truncates++;
			rx_diag("line %llu: the source truncated %.*s: the stream deletes nothing for it (a delete is never "
				"sent on a guess); a full sync in mirror mode (without --stream) deletes its rows at the "
				"destination",
				lineno, t >= 0 ? (int)ms.m[t].value.n : 9, t >= 0 ? ms.m[t].value.p : "the table");
			return 0;
		}
		/* a source position (and any other control record) keeps its
		 * place, after the changes before it */
		put_trimmed(&s->group, line, len);
		rx_buf_putc(&s->group, '\n');
		return 0;
	}
	if (rx_json_scan_object(line, len, &ms, err, errlen) < 0) {
		char why[1100];
		snprintf(why, sizeof why, "cannot parse the row: %.1000s", err);
		reject(s, line, len, lineno, why);
		return 0;
	}
	return stream_row(s, line, len, lineno, &ms, err, errlen);
}

/* ---- the run ---- */

static int prepare(stream_ctx *s, char *err, size_t errlen)
{
	static const char *const sql[] = {
		"SELECT (SELECT hash FROM snapshot WHERE key = ?1), (SELECT raw FROM snapshot WHERE key = ?1),"
		" (SELECT hash FROM staged WHERE key = ?1 AND run = ?2),"
		" (SELECT action FROM staged WHERE key = ?1 AND run = ?2),"
		" (SELECT hash FROM uncertain WHERE key = ?1),"
		" coalesce((SELECT id FROM staged WHERE key = ?1 AND run = ?2), (SELECT id FROM snapshot_row WHERE key = ?1),"
		"  (SELECT id FROM uncertain WHERE key = ?1))",
		"SELECT row FROM snapshot_row WHERE key = ?",
		"SELECT row FROM staged WHERE key = ?1 AND run = ?2",
		"SELECT row FROM uncertain WHERE key = ?",
		"INSERT OR REPLACE INTO staged(key, run, op, hash, action, row, raw, id) VALUES(?, ?, ?, ?, ?, ?, ?, ?)",
	};
	sqlite3_stmt **sts[] = {&s->look, &s->get_row, &s->get_staged, &s->get_uncertain, &s->put};

	for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
		if (sqlite3_prepare_v2(s->c.db, sql[i], -1, sts[i], NULL) != SQLITE_OK) {
			snprintf(err, errlen, "%s", sqlite3_errmsg(s->c.db));
			return -1;
		}
	return 0;
}

static void count_snapshot(stream_ctx *s)
{
	long long n = 0;
	char err[256];

	if (rx_diff_pragma_int(s->c.db, "SELECT count(*) FROM snapshot", &n, err, sizeof err) == 0)
		s->c.snapshot_rows = n;
	s->snapshot_at = rx_now_ms();
}

/* Once a second at most: the run's counts (and columns) into the history;
 * once a minute, the count of synced rows the delete ratio is taken of. */
static void tick(stream_ctx *s, int force)
{
	char err[512];
	long long now = rx_now_ms();

	if ((s->counts_dirty || s->columns_dirty) && (force || now - s->counts_at >= 1000)) {
		if (rx_diff_run_counts(&s->c, "streaming", s->columns_dirty ? s->columns.data : NULL, 0, err, sizeof err) <
		    0)
			rx_diag("cannot record the run's counts: %s", err);
		s->counts_dirty = s->columns_dirty = 0;
		s->counts_at = now;
	}
	if (now - s->snapshot_at >= 60000)
		count_snapshot(s);
}

static void load_columns(stream_ctx *s)
{
	sqlite3_stmt *st = NULL;

	if (sqlite3_prepare_v2(s->c.db, "SELECT value FROM meta WHERE name = 'columns'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_text(st, 0) != NULL &&
	    parse_columns((const char *)sqlite3_column_text(st, 0), &s->ref, &s->nref) < 0) {
		s->ref = NULL;
		s->nref = 0;
	}
	sqlite3_finalize(st);
}

int rx_diff_stream(const diff_options *o)
{
	stream_ctx s;
	rx_reader in;
	char err[1024], id[17];
	char *line;
	size_t len;
	int status = RX_EXIT_FAIL, in_txn = 0, reader_open = 0, r, turn_fd = -1;

	memset(&s, 0, sizeof s);
	rx_writer_init(&s.out, 1);
	s.c.o = o;
	s.c.path = o->state;
	s.c.spool_fd = s.c.runs_fd = s.c.out_fd = -1;
	s.window_s = o->window < WINDOW_BUCKETS - 1 ? o->window : WINDOW_BUCKETS - 1;
	if (o->window >= WINDOW_BUCKETS) {
		/* longer windows count in coarser buckets: keep it simple, cap */
		s.window_s = WINDOW_BUCKETS - 1;
		rx_diag("--window %lld: the stream counts over %d s at most", o->window, WINDOW_BUCKETS - 1);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);

	if (rx_diff_state_open(o->state, 1, &s.c.db, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	r = rx_diff_run_open(&s.c, err, sizeof err);
	rx_diff_stream_busy(s.c.db);
	if (r < 0) {
		rx_diag("%s", err);
		status = r == -2 ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
		goto done;
	}
	if (rx_diff_state_id(s.c.db, id, err, sizeof err) < 0 || rx_diff_seed(s.c.db, &s.c.seed, err, sizeof err) < 0 ||
	    rx_diff_dict_load(s.c.db, &s.c.dict, err, sizeof err) < 0 || prepare(&s, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	snprintf(s.c.run_tag, sizeof s.c.run_tag, ",\"run\":\"%s.%lld\"", id, s.c.run_id);
	/* every group's staging durable before it is emitted; copying the
	 * WAL back into the database is the commit process's (its commits
	 * checkpoint, stream_busy's): a checkpoint here would hold a change
	 * back for as long as it takes */
	if (rx_diff_exec(s.c.db, "PRAGMA synchronous=FULL; PRAGMA wal_autocheckpoint=0; PRAGMA journal_size_limit=67108864;",
			 err, sizeof err) < 0 ||
	    rx_diff_run_counts(&s.c, "streaming", NULL, 0, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	load_columns(&s);
	count_snapshot(&s);
	turn_fd = rx_diff_stream_turn_open(s.c.db);
	if (rx_reader_open(&in, "-", o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto fail_run;
	}
	reader_open = 1;
	/* a test hook: groups of N lines (1: each line alone) */
	const char *hook = getenv("RX_DIFF_GROUP_LINES");
	int group_lines = hook != NULL && atoi(hook) > 0 ? atoi(hook) : GROUP_LINES;
	status = RX_EXIT_OK;
	int eof = 0;
	while (!eof && !stop_signal) {
		int w = rx_reader_wait(&in, WAIT_MS, err, sizeof err);
		if (w < 0) {
			rx_diag("%s", err);
			status = RX_EXIT_FAIL;
			break;
		}
		if (w == 0) {
			tick(&s, 0);
			continue;
		}
		rx_diff_stream_turn(turn_fd, 1);
		if (rx_diff_exec(s.c.db, "BEGIN IMMEDIATE", err, sizeof err) < 0) {
			rx_diff_stream_turn(turn_fd, 0);
			rx_diag("%s", err);
			status = RX_EXIT_FAIL;
			break;
		}
		in_txn = 1;
		group_reset(&s);
		long long started = rx_now_ms();
		int lines = 0;
		r = 0;
		for (;;) {
			int got = rx_reader_next(&in, &line, &len, err, sizeof err);
			if (got < 0 && in.too_long) {
				rx_diag("%s", err); /* it names the line */
				s.g_invalid++;
				if (rx_reader_skip(&in, NULL, 0, err, sizeof err) == 0)
					goto next;
			}
			if (got < 0) {
				rx_diag("%s", err);
				r = -1;
				break;
			}
			if (got == 0) {
				eof = 1;
				break;
			}
			r = stream_line(&s, line, len, in.line, err, sizeof err);
			if (r < 0)
				break;
		next:
			if (++lines >= group_lines || (hook == NULL && rx_now_ms() - started >= GROUP_MS) || stop_signal)
				break;
			if (rx_reader_wait(&in, 0, err, sizeof err) != 1)
				break;
		}
		if (r == 0 && window_guards(&s))
			r = -2;
		if (r < 0) {
			sqlite3_exec(s.c.db, "ROLLBACK", NULL, NULL, NULL);
			rx_diff_stream_turn(turn_fd, 0);
			in_txn = 0;
			if (r == -1)
				rx_diag("%s", err);
			status = r == -2 ? RX_EXIT_DATAERR : RX_EXIT_FAIL;
			break;
		}
		if (rx_diff_exec(s.c.db, "COMMIT", err, sizeof err) < 0) {
			rx_diag("cannot commit the staged changes to state '%s': %s; they were not emitted", o->state, err);
			sqlite3_exec(s.c.db, "ROLLBACK", NULL, NULL, NULL);
			rx_diff_stream_turn(turn_fd, 0);
			in_txn = 0;
			status = RX_EXIT_FAIL;
			break;
		}
		rx_diff_stream_turn(turn_fd, 0);
		in_txn = 0;
		group_done(&s);
		rx_killpoint("stream-emit");
		if (s.group.len > 0) {
			rx_buf_put(&s.out.buf, s.group.data, s.group.len);
			if (rx_writer_flush(&s.out) < 0) {
				rx_diag("cannot write the changes: %s", strerror(s.out.error));
				status = RX_EXIT_IOERR;
				break;
			}
		}
		tick(&s, 0);
	}
	if (stop_signal && status == RX_EXIT_OK)
		rx_diag("stopped by a signal: the changes emitted are staged and their acks still count");
	if (s.truncates > 0)
		rx_diag("%lld truncate%s of the source deleted nothing at the destination: run a full sync in mirror mode",
			s.truncates, s.truncates == 1 ? "" : "s");
	if (status == RX_EXIT_OK && s.c.invalid > 0)
		status = RX_EXIT_DEADLETTER;
fail_run:
	if (in_txn)
		sqlite3_exec(s.c.db, "ROLLBACK", NULL, NULL, NULL);
	if (s.c.db != NULL && s.c.run_id > 0) {
		/* the run ends staged: its commit closes it, as a batch run's */
		s.counts_dirty = 0;
		if (rx_diff_run_counts(&s.c, "staged", s.nref > 0 || s.columns_dirty ? s.columns.data : NULL, 0, err,
				       sizeof err) < 0)
			rx_diag("cannot record the run's counts: %s", err);
	}
done:
	if (turn_fd >= 0)
		close(turn_fd);
	if (reader_open)
		rx_reader_close(&in);
	sqlite3_finalize(s.look);
	sqlite3_finalize(s.get_row);
	sqlite3_finalize(s.get_staged);
	sqlite3_finalize(s.get_uncertain);
	sqlite3_finalize(s.put);
	if (s.c.db != NULL)
		sqlite3_close(s.c.db);
	if (rx_writer_finish(&s.out, "output") < 0 && status == RX_EXIT_OK)
		status = RX_EXIT_IOERR;
	rx_buf_free(&s.out.buf);
	rx_buf_free(&s.group);
	rx_buf_free(&s.c.dict);
	rx_buf_free(&s.c.id);
	rx_buf_free(&s.last_names);
	rx_buf_free(&s.columns);
	free_names(s.ref, s.nref);
	rx_diff_canon_free();
	return status;
}

/* ---- the commit's side: a source position into the state ---- */

int rx_diff_position_store(sqlite3 *db, const char *line, size_t n, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(name, value) VALUES('source_position', ?)", -1, &st,
			       NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_text(st, 1, line, (int)n, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "cannot store the source position: %s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

int rx_diff_run_streaming(sqlite3 *db, long long id)
{
	sqlite3_stmt *st = NULL;
	int yes = 0;

	if (sqlite3_prepare_v2(db, "SELECT status = 'streaming' FROM runs WHERE id = ?", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, id);
		if (sqlite3_step(st) == SQLITE_ROW)
			yes = sqlite3_column_int(st, 0);
	}
	sqlite3_finalize(st);
	return yes;
}

/* SQLite's own busy handler sleeps 1, 2, 5, 10 ... 100 ms: a change would
 * wait that long for a lock held a fraction of a millisecond. */
static int busy_nap(void *arg, int count)
{
	(void)arg;
	if (count >= 60 * 5000)
		return 0; /* 60 s */
	struct timespec ts = {0, 200000};
	nanosleep(&ts, NULL);
	return 1;
}

/*
 * Turns.  SQLite gives a writer the lock only by trying again (busy_nap):
 * on a busy machine a nap of 0.2 ms is a millisecond or more, and a stage
 * and a commit that write hundreds of times a second would spend their
 * time napping while the lock is free.  So each takes an flock(2) on its
 * own descriptor of the state file around each write transaction: the
 * kernel hands it over the moment the other lets go, and SQLite's lock
 * is then free at once.  (flock and SQLite's fcntl locks do not interact
 * on Linux; it only orders the two, SQLite still does the locking.)
 */
int rx_diff_stream_turn_open(sqlite3 *db)
{
	const char *path = sqlite3_db_filename(db, "main");

	return path != NULL && *path ? open(path, O_RDONLY | O_CLOEXEC) : -1;
}

void rx_diff_stream_turn(int fd, int on)
{
	if (fd < 0)
		return;
	while (flock(fd, on ? LOCK_EX : LOCK_UN) < 0 && errno == EINTR)
		if (stop_signal)
			break;
}

void rx_diff_stream_busy(sqlite3 *db)
{
	sqlite3_busy_handler(db, busy_nap, NULL);
	sqlite3_exec(db, "PRAGMA journal_size_limit=67108864", NULL, NULL, NULL);
}
