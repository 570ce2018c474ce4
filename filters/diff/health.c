/*
 * health.c - operating syncs: the history's dead letters by reason, its
 * retention, the one-line summary of each run, and the views over one
 * or many state files: --status (a table, or JSON), --health (an exit
 * status for cron and monitoring) and --metrics (Prometheus's textfile
 * collector).
 *
 * NOTES ON THE DESIGN
 *
 *  - Everything here reads or adds to the state; nothing here touches
 *    the snapshot, the staged changes or the lock.  The stage and the
 *    commit call in at a few points: the end of a stage (its dead
 *    letters, the sync's name, pruning), each {"$rx":"rejected"} record
 *    the commit reads, and the close of a run (the summary, the times).
 *  - A run *happened* when the destination answered every change it sent
 *    (acked or rejected), or it had none to send.  That, not "acked
 *    something", is what freshness counts: a run whose only change was
 *    rejected is up to date, and the rejection is an error, not a lag.
 *  - Whose fault: bad keys (missing, null, duplicate), rows rejected
 *    upstream (the end record's "rejected") and an aborted run (a guard
 *    rail, a model cut short) are the model's; rejected changes are the
 *    destination's; unanswered changes are a delivery that stopped
 *    (quota, destination down, a signal) and are sent again.  The exit
 *    statuses stay DESIGN.md's; the summary line and the views say which.
 *  - Counters never fall: a run dropped from the history by --keep-runs
 *    adds its counts to the totals table first.
 *  - Times are kept in meta (last_success, last_commit) as well as in the
 *    history, so that pruning never makes a sync look as if it had never
 *    succeeded.
 */
#include "diff.h"

#include <dirent.h>
#include <glob.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define ISO_NOW "strftime('%Y-%m-%dT%H:%M:%fZ','now')"

static int set_meta(sqlite3 *db, const char *name, const char *value, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(name, value) VALUES(?, ?)", -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 2, value, -1, SQLITE_STATIC);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
	}
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static int add_errors(sqlite3 *db, long long run, const char *stage, const char *reason, long long n, char *err,
		      size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (n <= 0)
		return 0;
	if (sqlite3_prepare_v2(db,
			       "INSERT INTO run_errors(run, stage, reason, count) VALUES(?, ?, ?, ?)"
			       " ON CONFLICT(run, stage, reason) DO UPDATE SET count = count + excluded.count",
			       -1, &st, NULL) == SQLITE_OK) {
		sqlite3_bind_int64(st, 1, run);
		sqlite3_bind_text(st, 2, stage, -1, SQLITE_STATIC);
		sqlite3_bind_text(st, 3, reason, -1, SQLITE_STATIC);
		sqlite3_bind_int64(st, 4, n);
		if (sqlite3_step(st) == SQLITE_DONE)
			rc = 0;
	}
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Keep the newest keep runs: the older ones' counts go to the totals. */
static int prune(sqlite3 *db, long long keep, char *err, size_t errlen)
{
	long long newest = 0;
	char sql[2048];

	if (keep <= 0 || rx_diff_pragma_int(db, "SELECT coalesce(max(id), 0) FROM runs", &newest, err, errlen) < 0)
		return keep <= 0 ? 0 : -1;
	long long cut = newest - keep;
	if (cut <= 0)
		return 0;
	snprintf(sql, sizeof sql,
		 "INSERT INTO totals(name, value)"
		 " SELECT 'runs', count(*) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'rows', coalesce(sum(rows), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'inserts', coalesce(sum(inserts), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'updates', coalesce(sum(updates), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'deletes', coalesce(sum(deletes), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'unchanged', coalesce(sum(unchanged), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL"
		 " UNION ALL"
		 " SELECT 'acked', coalesce(sum(acked), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL UNION ALL"
		 " SELECT 'rejected', coalesce(sum(rejected), 0) FROM runs WHERE id <= %1$lld AND ended IS NOT NULL"
		 " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;"
		 "INSERT INTO totals(name, value)"
		 " SELECT 'errors ' || stage || ' ' || reason, sum(count) FROM run_errors"
		 "  WHERE run IN (SELECT id FROM runs WHERE id <= %1$lld AND ended IS NOT NULL) GROUP BY stage, reason"
		 " ON CONFLICT(name) DO UPDATE SET value = value + excluded.value;"
		 "DELETE FROM run_errors WHERE run IN (SELECT id FROM runs WHERE id <= %1$lld AND ended IS NOT NULL);"
		 "DELETE FROM runs WHERE id <= %1$lld AND ended IS NOT NULL;",
		 cut);
	return rx_diff_exec(db, sql, err, errlen);
}

int rx_diff_history_stage(sqlite3 *db, long long run, const char *status, const diff_counts *n, const diff_options *o,
			  char *err, size_t errlen)
{
	char name[256];

	if (add_errors(db, run, "rx-diff", "missing_key", n->missing_keys, err, errlen) < 0 ||
	    add_errors(db, run, "rx-diff", "duplicate_key", n->duplicate_keys, err, errlen) < 0 ||
	    add_errors(db, run, "upstream", "rejected", n->upstream_rejected, err, errlen) < 0)
		return -1;
	if (o->sync != NULL)
		snprintf(name, sizeof name, "%s", o->sync);
	else
		rx_metrics_sync_name(o->state, name, sizeof name);
	if (set_meta(db, "sync", name, err, errlen) < 0)
		return -1;
	if (o->destination != NULL && set_meta(db, "destination", o->destination, err, errlen) < 0)
		return -1;
	/* a run with nothing to send happened when it staged */
	if (strcmp(status, "done") == 0 &&
	    rx_diff_exec(db, "INSERT OR REPLACE INTO meta(name, value) VALUES('last_success', " ISO_NOW ")", err,
			 errlen) < 0)
		return -1;
	return prune(db, o->keep_runs, err, errlen);
}

/* ---- rejected changes, from the commit ---- */

struct diff_rejects {
	sqlite3 *db;
	sqlite3_stmt *staged, *put, *count_run;
};

diff_rejects *rx_diff_rejects_open(sqlite3 *db, char *err, size_t errlen)
{
	diff_rejects *r = calloc(1, sizeof *r);

	if (r == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	r->db = db;
	if (sqlite3_prepare_v2(db, "SELECT 1 FROM staged WHERE key = ?1 AND hash = ?2 AND run = ?3", -1, &r->staged,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "INSERT OR IGNORE INTO rejected(key, run, reason) VALUES(?, ?, ?)", -1, &r->put,
			       NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE runs SET rejected = rejected + 1 WHERE id = ?", -1, &r->count_run, NULL) !=
		    SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		rx_diff_rejects_close(r);
		return NULL;
	}
	return r;
}

/* A reason is a label: letters, digits, '_' and '-', at most 40. */
static void clean_reason(rx_span v, char *out, size_t len)
{
	size_t o = 0;

	if (rx_json_kind(v) == 's')
		for (size_t i = 1; i + 1 < v.n && o + 1 < len && o < 40; i++) {
			char ch = v.p[i];
			if ((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_' || ch == '-')
				out[o++] = ch;
			else if (ch >= 'A' && ch <= 'Z')
				out[o++] = (char)(ch - 'A' + 'a');
			else
				out[o++] = '_';
		}
	out[o] = '\0';
	if (o == 0)
		snprintf(out, len, "rejected");
}

int rx_diff_reject(diff_rejects *r, const char *key, size_t keylen, const unsigned char *hash, long long run,
		   rx_span reason)
{
	char why[48], err[256];
	int s, rc = 0;

	sqlite3_bind_text(r->staged, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(r->staged, 2, hash, DIFF_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(r->staged, 3, run);
	s = sqlite3_step(r->staged);
	sqlite3_reset(r->staged);
	if (s == SQLITE_DONE)
		return 0; /* not this run's change: nothing to count */
	if (s != SQLITE_ROW)
		return -1;
	clean_reason(reason, why, sizeof why);
	sqlite3_bind_text(r->put, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_int64(r->put, 2, run);
	sqlite3_bind_text(r->put, 3, why, -1, SQLITE_STATIC);
	s = sqlite3_step(r->put);
	sqlite3_reset(r->put);
	if (s != SQLITE_DONE)
		return -1;
	if (sqlite3_changes(r->db) == 0)
		return 0; /* said twice */
	sqlite3_bind_int64(r->count_run, 1, run);
	s = sqlite3_step(r->count_run);
	sqlite3_reset(r->count_run);
	if (s != SQLITE_DONE || add_errors(r->db, run, "rx-push", why, 1, err, sizeof err) < 0)
		rc = -1;
	return rc < 0 ? -1 : 1;
}

void rx_diff_rejects_close(diff_rejects *r)
{
	if (r == NULL)
		return;
	sqlite3_finalize(r->staged);
	sqlite3_finalize(r->put);
	sqlite3_finalize(r->count_run);
	free(r);
}

/* ---- what one state says ---- */

/* The "stage reason count, ..." of a run's dead letters into b, for the
 * stages given ("rx-push" or the model's: "rx-diff" and "upstream").
 * Returns how many. */
static long long errors_text(sqlite3 *db, long long run, int destination, rx_buf *b)
{
	sqlite3_stmt *st = NULL;
	long long total = 0;

	if (sqlite3_prepare_v2(db,
			       "SELECT reason, count FROM run_errors WHERE run = ? AND (stage = 'rx-push') = ?"
			       " ORDER BY count DESC, reason",
			       -1, &st, NULL) != SQLITE_OK)
		return 0;
	sqlite3_bind_int64(st, 1, run);
	sqlite3_bind_int(st, 2, destination);
	while (sqlite3_step(st) == SQLITE_ROW) {
		rx_buf_printf(b, "%s%s %lld", total ? ", " : "", (const char *)sqlite3_column_text(st, 0),
			      sqlite3_column_int64(st, 1));
		total += sqlite3_column_int64(st, 1);
	}
	sqlite3_finalize(st);
	return total;
}

static double unix_time(const char *iso)
{
	struct tm tm;
	double frac = 0;

	if (iso == NULL || *iso == '\0')
		return 0;
	memset(&tm, 0, sizeof tm);
	const char *rest = strptime(iso, "%Y-%m-%dT%H:%M:%S", &tm);
	if (rest == NULL)
		return 0;
	if (*rest == '.')
		frac = strtod(rest, NULL);
	return (double)timegm(&tm) + frac;
}

static void copy_text(char *out, size_t len, sqlite3_stmt *st, int i)
{
	const char *s = (const char *)sqlite3_column_text(st, i);
	snprintf(out, len, "%s", s ? s : "");
}

/* Classify the newest run (see NOTES). */
static void classify(diff_sync *s)
{
	s->fault = "";
	if (s->run_id == 0) {
		s->outcome = "never run";
		return;
	}
	if (s->running) {
		s->outcome = "running";
		return;
	}
	const char *st = s->status;
	if (strcmp(st, "aborted") == 0) {
		s->outcome = "aborted";
		s->fault = "model";
	} else if (strcmp(st, "failed") == 0 || strcmp(st, "died") == 0 || strcmp(st, "unfinished") == 0) {
		s->outcome = "failed";
	} else if (strcmp(st, "staged") == 0 || strcmp(st, "staging") == 0) {
		s->outcome = "not committed";
	} else if (s->not_acked > s->rejected) {
		s->outcome = "unanswered";
		s->fault = s->model_errors > 0 ? "model, delivery" : "delivery";
	} else if (s->rejected > 0) {
		s->outcome = "rejected";
		s->fault = s->model_errors > 0 ? "model, destination" : "destination";
	} else if (s->model_errors > 0) {
		s->outcome = "bad rows";
		s->fault = "model";
	} else {
		s->outcome = "ok";
	}
}

int rx_diff_sync_read(const char *path, diff_sync *s, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(s, 0, sizeof *s);
	snprintf(s->path, sizeof s->path, "%s", path);
	if (rx_diff_state_open(path, 0, &db, err, errlen) < 0)
		return -1;
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT value FROM meta WHERE name = 'sync'),"
			       " (SELECT value FROM meta WHERE name = 'destination'),"
			       " (SELECT value FROM meta WHERE name = 'last_success'),"
			       " (SELECT value FROM meta WHERE name = 'last_commit'),"
			       " (SELECT count(*) FROM snapshot), (SELECT count(*) FROM uncertain),"
			       " (SELECT count(*) FROM runs), (SELECT coalesce(max(id), 0) FROM runs)",
			       -1, &st, NULL) != SQLITE_OK ||
	    sqlite3_step(st) != SQLITE_ROW)
		goto sqlerr;
	copy_text(s->name, sizeof s->name, st, 0);
	if (s->name[0] == '\0')
		rx_metrics_sync_name(path, s->name, sizeof s->name);
	copy_text(s->destination, sizeof s->destination, st, 1);
	char iso[64];
	copy_text(iso, sizeof iso, st, 2);
	s->last_success = unix_time(iso);
	copy_text(iso, sizeof iso, st, 3);
	s->last_commit = unix_time(iso);
	s->snapshot_rows = sqlite3_column_int64(st, 4);
	s->uncertain = sqlite3_column_int64(st, 5);
	s->runs_kept = sqlite3_column_int64(st, 6);
	sqlite3_finalize(st);
	st = NULL;
	if (sqlite3_prepare_v2(db,
			       "SELECT id, started, ended, status, rows, inserts, updates, deletes, unchanged, invalid,"
			       " acked, not_acked, rejected, pid, pid_start, committer, committer_start,"
			       " (SELECT count(*) FROM staged WHERE run = runs.id)"
			       " FROM runs ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto sqlerr;
	if (sqlite3_step(st) == SQLITE_ROW) {
		s->run_id = sqlite3_column_int64(st, 0);
		copy_text(iso, sizeof iso, st, 1);
		s->started = unix_time(iso);
		copy_text(iso, sizeof iso, st, 2);
		s->ended = unix_time(iso);
		copy_text(s->status, sizeof s->status, st, 3);
		s->rows = sqlite3_column_int64(st, 4);
		s->inserts = sqlite3_column_int64(st, 5);
		s->updates = sqlite3_column_int64(st, 6);
		s->deletes = sqlite3_column_int64(st, 7);
		s->unchanged = sqlite3_column_int64(st, 8);
		s->invalid = sqlite3_column_int64(st, 9);
		s->acked = sqlite3_column_int64(st, 10);
		s->not_acked = sqlite3_column_int64(st, 11);
		s->rejected = sqlite3_column_int64(st, 12);
		if (sqlite3_column_type(st, 2) == SQLITE_NULL) {
			/* open: alive, or gone without closing */
			s->running = rx_diff_alive(sqlite3_column_int64(st, 13), sqlite3_column_int64(st, 14)) ||
				     rx_diff_alive(sqlite3_column_int64(st, 15), sqlite3_column_int64(st, 16));
			s->not_acked = sqlite3_column_int64(st, 17);
		}
	}
	sqlite3_finalize(st);
	st = NULL;
	rx_buf scratch = {0};
	s->model_errors = errors_text(db, s->run_id, 0, &scratch);
	rx_buf_free(&scratch);
	if (s->model_errors < s->invalid)
		s->model_errors = s->invalid; /* a run staged by a version 3 rx-diff */
	if (s->started > 0 && s->ended >= s->started)
		s->duration = s->ended - s->started;
	classify(s);
	s->db = db;
	db = NULL;
	rc = 0;
	goto done;
sqlerr:
	snprintf(err, errlen, "state '%s': %s", path, sqlite3_errmsg(db));
done:
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

void rx_diff_sync_close(diff_sync *s)
{
	sqlite3_close(s->db);
	s->db = NULL;
}

/* "3 changes" / "1 change" */
static const char *plural(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

/* ---- the close of a run, from the commit ---- */

int rx_diff_history_closed(sqlite3 *db, long long run)
{
	char err[512];
	sqlite3_stmt *st = NULL;
	int happened = 0, acked = 0;

	/* the times first: freshness counts a run that happened */
	if (sqlite3_prepare_v2(db,
			       "SELECT status = 'done' OR (status IN ('committed', 'partial') AND not_acked <= rejected),"
			       " acked > 0 OR status = 'done', ended FROM runs WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK)
		return -1;
	sqlite3_bind_int64(st, 1, run);
	if (sqlite3_step(st) == SQLITE_ROW) {
		char ended[64];
		happened = sqlite3_column_int(st, 0);
		acked = sqlite3_column_int(st, 1);
		copy_text(ended, sizeof ended, st, 2);
		if ((happened && set_meta(db, "last_success", ended, err, sizeof err) < 0) ||
		    (acked && set_meta(db, "last_commit", ended, err, sizeof err) < 0)) {
			sqlite3_finalize(st);
			rx_diag("%s", err);
			return -1;
		}
	}
	sqlite3_finalize(st);
	/* the rejections of older runs have nothing left to answer */
	char sql[128];
	snprintf(sql, sizeof sql, "DELETE FROM rejected WHERE run < %lld", run);
	if (rx_diff_exec(db, sql, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return -1;
	}
	return 0;
}

void rx_diff_history_summary(const char *path)
{
	diff_sync s;
	char err[512];
	rx_buf line = {0}, model = {0}, dest = {0};

	if (rx_diff_sync_read(path, &s, err, sizeof err) < 0)
		return;
	long long changes = s.inserts + s.updates + s.deletes;
	long long model_n = errors_text(s.db, s.run_id, 0, &model);
	long long dest_n = errors_text(s.db, s.run_id, 1, &dest);
	long long unanswered = s.not_acked - s.rejected;
	rx_buf_printf(&line,
		      "%s run %lld: %lld rows read, %lld %s (%lld new, %lld changed, %lld gone), %lld acked, %lld "
		      "rejected, %lld unanswered: ",
		      s.name, s.run_id, s.rows, changes, plural(changes, "change", "changes"), s.inserts, s.updates,
		      s.deletes, s.acked, s.rejected, unanswered > 0 ? unanswered : 0);
	int said = 0;
	if (model_n > 0 || s.invalid > 0) {
		rx_buf_printf(&line, "the model's fault, %lld %s not synced (%s)", model_n ? model_n : s.invalid,
			      plural(model_n ? model_n : s.invalid, "row", "rows"), model.len ? model.data : "bad keys");
		said = 1;
	}
	if (dest_n > 0 || s.rejected > 0) {
		rx_buf_printf(&line, "%sthe destination's fault, %lld %s rejected (%s)", said ? "; " : "", s.rejected,
			      plural(s.rejected, "change", "changes"), dest.len ? dest.data : "rejected");
		said = 1;
	}
	if (unanswered > 0) {
		rx_buf_printf(&line, "%s%lld %s not answered (the delivery stopped): sent again next run", said ? "; " : "",
			      unanswered, plural(unanswered, "change", "changes"));
		said = 1;
	}
	if (!said)
		rx_buf_puts(&line, "ok");
	rx_diag("%s", line.data);
	rx_buf_free(&line);
	rx_buf_free(&model);
	rx_buf_free(&dest);
	rx_diff_sync_close(&s);
}

/* ---- many states: --status, --health, --metrics ---- */

static int has_suffix(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);
	return n >= k && strcmp(s + n - k, suffix) == 0;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The state files named: a file as it is, a folder's *.db files, a glob
 * pattern (for a shell that did not expand it).  NULL-terminated; the
 * caller frees.  A name that is none of these is an error. */
static char **state_files(char **args, int nargs, char *err, size_t errlen)
{
	char **files = NULL;
	size_t n = 0;

	for (int i = 0; i < nargs; i++) {
		struct stat sb;
		if (stat(args[i], &sb) == 0 && S_ISDIR(sb.st_mode)) {
			DIR *d = opendir(args[i]);
			struct dirent *e;
			size_t first = n;
			while (d != NULL && (e = readdir(d)) != NULL) {
				if (!has_suffix(e->d_name, ".db") || e->d_name[0] == '.')
					continue;
				files = rx_xrealloc(files, (n + 2) * sizeof *files);
				size_t len = strlen(args[i]) + strlen(e->d_name) + 2;
				files[n] = rx_xmalloc(len);
				snprintf(files[n], len, "%s%s%s", args[i], has_suffix(args[i], "/") ? "" : "/", e->d_name);
				n++;
			}
			if (d != NULL)
				closedir(d);
			qsort(files + first, n - first, sizeof *files, by_name);
		} else if (stat(args[i], &sb) == 0) {
			files = rx_xrealloc(files, (n + 2) * sizeof *files);
			files[n++] = rx_xstrdup(args[i]);
		} else {
			glob_t g;
			if (glob(args[i], 0, NULL, &g) != 0) {
				snprintf(err, errlen, "'%s': no such state file, folder or pattern", args[i]);
				for (size_t k = 0; k < n; k++)
					free(files[k]);
				free(files);
				return NULL;
			}
			for (size_t k = 0; k < g.gl_pathc; k++) {
				files = rx_xrealloc(files, (n + 2) * sizeof *files);
				files[n++] = rx_xstrdup(g.gl_pathv[k]);
			}
			globfree(&g);
		}
	}
	files = rx_xrealloc(files, (n + 1) * sizeof *files);
	files[n] = NULL;
	return files;
}

static void free_files(char **files)
{
	for (size_t i = 0; files && files[i]; i++)
		free(files[i]);
	free(files);
}

/* "45s", "12m", "3h", "2d": an age for a person. */
static void age_text(double seconds, char *out, size_t len)
{
	if (seconds < 0)
		seconds = 0;
	if (seconds < 90)
		snprintf(out, len, "%.0fs", seconds);
	else if (seconds < 90 * 60)
		snprintf(out, len, "%.0fm", seconds / 60);
	else if (seconds < 36 * 3600)
		snprintf(out, len, "%.0fh", seconds / 3600);
	else
		snprintf(out, len, "%.0fd", seconds / 86400);
}

static double now_seconds(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void put_time(rx_buf *b, const char *name, double t)
{
	rx_buf_printf(b, ",\"%s\":", name);
	if (t <= 0) {
		rx_buf_puts(b, "null");
		return;
	}
	char iso[40];
	time_t secs = (time_t)t;
	struct tm tm;
	gmtime_r(&secs, &tm);
	strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
	rx_buf_printf(b, "\"%s\"", iso);
}

/* One sync as a JSON object (no newline). */
static void sync_json(rx_buf *b, const diff_sync *s, double now)
{
	rx_buf_puts(b, "{\"sync\":");
	rx_json_put_string(b, s->name, strlen(s->name));
	rx_buf_puts(b, ",\"state\":");
	rx_json_put_string(b, s->path, strlen(s->path));
	rx_buf_puts(b, ",\"destination\":");
	if (s->destination[0])
		rx_json_put_string(b, s->destination, strlen(s->destination));
	else
		rx_buf_puts(b, "null");
	rx_buf_printf(b, ",\"run\":%lld", s->run_id);
	put_time(b, "last_run", s->started);
	rx_buf_puts(b, ",\"status\":");
	if (s->run_id > 0)
		rx_json_put_string(b, s->status, strlen(s->status));
	else
		rx_buf_puts(b, "null");
	rx_buf_printf(b, ",\"outcome\":\"%s\",\"fault\":", s->outcome);
	if (s->fault[0])
		rx_buf_printf(b, "\"%s\"", s->fault);
	else
		rx_buf_puts(b, "null");
	rx_buf_printf(b,
		      ",\"rows\":%lld,\"changes\":%lld,\"new\":%lld,\"changed\":%lld,\"gone\":%lld,\"acked\":%lld,"
		      "\"rejected\":%lld,\"unanswered\":%lld,\"bad_rows\":%lld,\"errors\":%lld",
		      s->rows, s->inserts + s->updates + s->deletes, s->inserts, s->updates, s->deletes, s->acked,
		      s->rejected, s->not_acked > s->rejected ? s->not_acked - s->rejected : 0, s->model_errors,
		      s->model_errors + s->rejected);
	put_time(b, "last_success", s->last_success);
	put_time(b, "last_commit", s->last_commit);
	rx_buf_puts(b, ",\"lag_seconds\":");
	if (s->last_success > 0)
		rx_buf_printf(b, "%.0f", now - s->last_success);
	else
		rx_buf_puts(b, "null");
	rx_buf_printf(b, ",\"snapshot_rows\":%lld,\"uncertain\":%lld}", s->snapshot_rows, s->uncertain);
}

/* The table's cells of one sync. */
typedef struct status_row {
	char cell[8][300];
} status_row;

int rx_diff_status_many(char **args, int nargs, int json)
{
	static const char *const head[8] = {"SYNC", "DESTINATION", "LAST RUN", "OUTCOME", "ROWS", "CHANGES", "ERRORS",
					    "LAG"};
	char err[1024];
	char **files = state_files(args, nargs, err, sizeof err);
	rx_writer w;
	int status = RX_EXIT_OK;
	double now = now_seconds();
	status_row *rows = NULL;
	size_t nrows = 0, width[8];

	if (files == NULL) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	if (files[0] == NULL) {
		rx_diag("no state files in %s", nargs == 1 ? args[0] : "the folders named");
		free_files(files);
		return RX_EXIT_FAIL;
	}
	rx_writer_init(&w, 1);
	for (int k = 0; k < 8; k++)
		width[k] = strlen(head[k]);
	for (size_t i = 0; files[i]; i++) {
		diff_sync s;
		if (rx_diff_sync_read(files[i], &s, err, sizeof err) < 0) {
			rx_diag("%s", err);
			status = RX_EXIT_FAIL;
			continue;
		}
		if (json) {
			sync_json(&w.buf, &s, now);
			rx_buf_putc(&w.buf, '\n');
			rx_writer_record(&w);
			rx_diff_sync_close(&s);
			continue;
		}
		rows = rx_xrealloc(rows, (nrows + 1) * sizeof *rows);
		status_row *r = &rows[nrows++];
		memset(r, 0, sizeof *r);
		snprintf(r->cell[0], sizeof r->cell[0], "%s", s.name);
		snprintf(r->cell[1], sizeof r->cell[1], "%s", s.destination[0] ? s.destination : "-");
		snprintf(r->cell[2], sizeof r->cell[2], "-");
		if (s.started > 0) {
			age_text(now - s.started, r->cell[2], sizeof r->cell[2]);
			strcat(r->cell[2], " ago");
		}
		if (s.fault[0])
			snprintf(r->cell[3], sizeof r->cell[3], "%s (%s)", s.outcome, s.fault);
		else
			snprintf(r->cell[3], sizeof r->cell[3], "%s", s.outcome);
		snprintf(r->cell[4], sizeof r->cell[4], "%lld", s.rows);
		snprintf(r->cell[5], sizeof r->cell[5], "%lld", s.inserts + s.updates + s.deletes);
		snprintf(r->cell[6], sizeof r->cell[6], "%lld", s.model_errors + s.rejected);
		snprintf(r->cell[7], sizeof r->cell[7], "-");
		if (s.last_success > 0)
			age_text(now - s.last_success, r->cell[7], sizeof r->cell[7]);
		for (int k = 0; k < 8; k++)
			if (strlen(r->cell[k]) > width[k])
				width[k] = strlen(r->cell[k]);
		rx_diff_sync_close(&s);
	}
	if (!json) {
		/* names left-aligned, counts and ages right-aligned */
		for (size_t i = 0; i <= nrows; i++) {
			for (int k = 0; k < 8; k++) {
				const char *v = i == 0 ? head[k] : rows[i - 1].cell[k];
				int left = k < 4;
				rx_buf_printf(&w.buf, "%s%*s%s", k ? "  " : "", left ? 0 : (int)(width[k] - strlen(v)), "", v);
				if (left && k < 7)
					rx_buf_printf(&w.buf, "%*s", (int)(width[k] - strlen(v)), "");
			}
			rx_buf_putc(&w.buf, '\n');
			rx_writer_record(&w);
		}
	}
	if (rx_writer_finish(&w, "output") < 0 && status == RX_EXIT_OK)
		status = RX_EXIT_IOERR;
	rx_buf_free(&w.buf);
	free(rows);
	free_files(files);
	return status;
}

int rx_diff_parse_age(const char *option, const char *arg)
{
	char *end;
	double v = strtod(arg, &end);
	double unit = 1;

	if (end == arg || v < 0 || !isfinite(v))
		rx_usage_error("%s: '%s' is not an age (like 90s, 15m, 2h, 1d)", option, arg);
	if (*end == 's')
		end++;
	else if (*end == 'm')
		unit = 60, end++;
	else if (*end == 'h')
		unit = 3600, end++;
	else if (*end == 'd')
		unit = 86400, end++;
	if (*end != '\0')
		rx_usage_error("%s: '%s' is not an age (like 90s, 15m, 2h, 1d)", option, arg);
	return (int)(v * unit);
}

int rx_diff_health(char **args, int nargs, const diff_health *h)
{
	char err[1024];
	char **files = state_files(args, nargs, err, sizeof err);
	rx_writer w;
	int status = RX_EXIT_OK;
	double now = now_seconds();

	if (files == NULL) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	if (files[0] == NULL) {
		rx_diag("no state files in %s", nargs == 1 ? args[0] : "the folders named");
		free_files(files);
		return RX_EXIT_FAIL;
	}
	rx_writer_init(&w, 1);
	for (size_t i = 0; files[i]; i++) {
		diff_sync s;
		rx_buf why = {0};
		if (rx_diff_sync_read(files[i], &s, err, sizeof err) < 0) {
			rx_diag("%s", err);
			status = RX_EXIT_FAIL;
			continue;
		}
		long long changes = s.inserts + s.updates + s.deletes;
		long long upstream = s.model_errors > s.invalid ? s.model_errors - s.invalid : 0;
		double model_rate = s.rows + upstream > 0 ? (double)s.model_errors / (double)(s.rows + upstream) : 0;
		double dest_rate = changes > 0 ? (double)s.rejected / (double)changes : 0;
		char age[16];
		if (s.last_success <= 0) {
			rx_buf_printf(&why, "%snever succeeded", why.len ? "; " : "");
		} else if (h->max_age > 0 && now - s.last_success > h->max_age) {
			age_text(now - s.last_success, age, sizeof age);
			rx_buf_printf(&why, "stale: last success %s ago (--max-age %s)", age, h->max_age_text);
		}
		if (s.running == 0 && strcmp(s.outcome, "aborted") == 0)
			rx_buf_printf(&why, "%sthe last run was aborted (a guard rail, or a model cut short: the model's)",
				      why.len ? "; " : "");
		else if (strcmp(s.outcome, "failed") == 0)
			rx_buf_printf(&why, "%sthe last run failed (%s)", why.len ? "; " : "", s.status);
		if (h->max_error_rate >= 0 && model_rate > h->max_error_rate)
			rx_buf_printf(&why, "%s%lld of %lld rows not synced (%.3g > --max-error-rate %g: the model's)",
				      why.len ? "; " : "", s.model_errors, s.rows, model_rate, h->max_error_rate);
		if (h->max_error_rate >= 0 && dest_rate > h->max_error_rate)
			rx_buf_printf(&why, "%s%lld of %lld changes rejected (%.3g > --max-error-rate %g: the destination's)",
				      why.len ? "; " : "", s.rejected, changes, dest_rate, h->max_error_rate);
		int healthy = why.len == 0;
		if (!healthy)
			status = RX_EXIT_FAIL;
		if (h->json) {
			rx_buf_printf(&w.buf, "{\"healthy\":%s,\"problems\":", healthy ? "true" : "false");
			if (healthy)
				rx_buf_puts(&w.buf, "null");
			else
				rx_json_put_string(&w.buf, why.data, why.len);
			rx_buf_puts(&w.buf, ",\"status\":");
			sync_json(&w.buf, &s, now);
			rx_buf_puts(&w.buf, "}\n");
		} else if (healthy) {
			age_text(now - s.last_success, age, sizeof age);
			rx_buf_printf(&w.buf, "%s: healthy: last success %s ago, last run %s\n", s.name, age, s.outcome);
		} else {
			rx_buf_printf(&w.buf, "%s: unhealthy: %s\n", s.name, why.data);
		}
		rx_writer_record(&w);
		rx_buf_free(&why);
		rx_diff_sync_close(&s);
	}
	if (rx_writer_finish(&w, "output") < 0 && status == RX_EXIT_OK)
		status = RX_EXIT_IOERR;
	rx_buf_free(&w.buf);
	free_files(files);
	return status;
}

/* ---- --metrics ---- */

static long long total(sqlite3 *db, const char *name, const char *column)
{
	char sql[256];
	long long v = 0, t = 0;
	char err[128];

	snprintf(sql, sizeof sql, "SELECT coalesce(sum(%s), 0) FROM runs WHERE ended IS NOT NULL", column);
	rx_diff_pragma_int(db, sql, &v, err, sizeof err);
	snprintf(sql, sizeof sql, "SELECT coalesce((SELECT value FROM totals WHERE name = '%s'), 0)", name);
	rx_diff_pragma_int(db, sql, &t, err, sizeof err);
	return v + t;
}

int rx_diff_metrics(const char *state, const char *path, char *err, size_t errlen)
{
	diff_sync s;
	rx_metrics m;
	int rc = -1;

	if (rx_diff_sync_read(state, &s, err, errlen) < 0)
		return -1;
	rx_metrics_open(&m, NULL);
	const char *n = s.name;
	rx_metrics_family(&m, "rx_diff_runs_total", "counter", "Runs of the sync that ended.");
	rx_metrics_sample(&m, "rx_diff_runs_total", (double)total(s.db, "runs", "1"), "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_rows_read_total", "counter", "Rows of the model read by the runs that ended.");
	rx_metrics_sample(&m, "rx_diff_rows_read_total", (double)total(s.db, "rows", "rows"), "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_changes_total", "counter",
			  "Changes emitted: rows new to the destination, changed, gone from the model.");
	rx_metrics_sample(&m, "rx_diff_changes_total", (double)total(s.db, "inserts", "inserts"), "sync", n, "change",
			  "new", RX_LABELS_END);
	rx_metrics_sample(&m, "rx_diff_changes_total", (double)total(s.db, "updates", "updates"), "sync", n, "change",
			  "changed", RX_LABELS_END);
	rx_metrics_sample(&m, "rx_diff_changes_total", (double)total(s.db, "deletes", "deletes"), "sync", n, "change",
			  "gone", RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_acked_total", "counter", "Changes the destination acked (committed).");
	rx_metrics_sample(&m, "rx_diff_acked_total", (double)total(s.db, "acked", "acked"), "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_dead_letters_total", "counter",
			  "Records dead-lettered, by stage (rx-diff, upstream: the model's; rx-push: the destination's) "
			  "and reason.");
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(s.db,
			       "SELECT stage, reason, sum(n) FROM (SELECT stage, reason, count AS n FROM run_errors"
			       " UNION ALL SELECT substr(name, 8, instr(substr(name, 8), ' ') - 1),"
			       " substr(substr(name, 8), instr(substr(name, 8), ' ') + 1), value FROM totals"
			       " WHERE name LIKE 'errors %') GROUP BY 1, 2 ORDER BY 1, 2",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(s.db));
		goto done;
	}
	while (sqlite3_step(st) == SQLITE_ROW)
		rx_metrics_sample(&m, "rx_diff_dead_letters_total", (double)sqlite3_column_int64(st, 2), "sync", n,
				  "stage", (const char *)sqlite3_column_text(st, 0), "reason",
				  (const char *)sqlite3_column_text(st, 1), RX_LABELS_END);
	sqlite3_finalize(st);
	rx_metrics_family(&m, "rx_diff_unacked_changes", "gauge",
			  "Changes of the last run not acked (rejected or unanswered): sent again next run.");
	rx_metrics_sample(&m, "rx_diff_unacked_changes", (double)s.not_acked, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_uncertain_keys", "gauge", "Keys sent and never answered by an earlier run.");
	rx_metrics_sample(&m, "rx_diff_uncertain_keys", (double)s.uncertain, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_snapshot_rows", "gauge", "Rows the destination holds, as the snapshot knows.");
	rx_metrics_sample(&m, "rx_diff_snapshot_rows", (double)s.snapshot_rows, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_last_run_ok", "gauge",
			  "1 if the last run ended with every change answered and no row dead-lettered.");
	rx_metrics_sample(&m, "rx_diff_last_run_ok", strcmp(s.outcome, "ok") == 0 ? 1 : 0, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_last_run_duration_seconds", "gauge", "From the stage to the end of the commit.");
	rx_metrics_sample(&m, "rx_diff_last_run_duration_seconds", s.duration, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_last_run_timestamp_seconds", "gauge", "When the last run started.");
	rx_metrics_sample(&m, "rx_diff_last_run_timestamp_seconds", s.started, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_last_success_timestamp_seconds", "gauge",
			  "When the last run that happened (every change answered) ended.");
	rx_metrics_sample(&m, "rx_diff_last_success_timestamp_seconds", s.last_success, "sync", n, RX_LABELS_END);
	rx_metrics_family(&m, "rx_diff_last_commit_timestamp_seconds", "gauge",
			  "When the destination last acked a change.");
	rx_metrics_sample(&m, "rx_diff_last_commit_timestamp_seconds", s.last_commit, "sync", n, RX_LABELS_END);
	rc = rx_metrics_write(&m, path, err, errlen);
done:
	rx_metrics_free(&m);
	rx_diff_sync_close(&s);
	return rc;
}
