/*
 * commit.c - rx-diff --commit: advance the snapshot from acks.
 *
 * An ack {"key":K,"hash":H,...} advances the snapshot only when H is the
 * hash staged for K: the staged row goes into the snapshot (or, for a
 * mirror delete, the key leaves it), and K is no longer staged nor
 * uncertain.  Any other ack changes nothing and is counted as ignored.
 *
 * Acks are applied in transactions of --commit-every acks, also closed
 * when no ack is waiting on stdin, so a kill loses at most the open
 * transaction: those keys stay staged, become uncertain, and the next run
 * sends them again.  At the end of input the run is closed in the history.
 *
 * The commit process joins its run: at start-up it attaches to the open
 * run if that run's stage process is alive, or else leaves its pid where
 * the stage process that is about to start will find it.  Either way the
 * run stays locked while the commit works, after the stage has exited.
 */
#include "diff.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct commit_ctx {
	sqlite3 *db;
	long long me, me_start;
	long long run_id;   /* the run the acks belong to, once known */
	long long acked, ignored, chunk_acked, chunk_ignored;
	int has_uncertain;  /* in this transaction: are any keys uncertain? */
	sqlite3_stmt *get, *put_hash, *put_row, *del_hash, *del_row, *del_staged, *del_uncertain;
} commit_ctx;

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 applied, 0 ignored, -1 error. */
static int apply(commit_ctx *c, const char *key, size_t keylen, const unsigned char *hash)
{
	int rc = 0;
	sqlite3_stmt *g = c->get;

	sqlite3_bind_text(g, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(g, 2, hash, DIFF_HASH_LEN, SQLITE_STATIC);
	int s = sqlite3_step(g);
	if (s == SQLITE_DONE)
		goto done;
	if (s != SQLITE_ROW) {
		rc = -1;
		goto done;
	}
	int action = sqlite3_column_int(g, 0);
	c->run_id = sqlite3_column_int64(g, 2);
	if (action == 0) {
		sqlite3_bind_text(c->put_hash, 1, key, (int)keylen, SQLITE_STATIC);
		sqlite3_bind_blob(c->put_hash, 2, hash, DIFF_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_value(c->put_hash, 3, sqlite3_column_value(g, 3));
		sqlite3_bind_text(c->put_row, 1, key, (int)keylen, SQLITE_STATIC);
		sqlite3_bind_value(c->put_row, 2, sqlite3_column_value(g, 1));
		if (step_done(c->put_hash) < 0 || step_done(c->put_row) < 0) {
			rc = -1;
			goto done;
		}
	} else {
		sqlite3_bind_text(c->del_hash, 1, key, (int)keylen, SQLITE_STATIC);
		sqlite3_bind_text(c->del_row, 1, key, (int)keylen, SQLITE_STATIC);
		if (step_done(c->del_hash) < 0 || step_done(c->del_row) < 0) {
			rc = -1;
			goto done;
		}
	}
	sqlite3_reset(g);
	sqlite3_bind_text(c->del_staged, 1, key, (int)keylen, SQLITE_STATIC);
	if (step_done(c->del_staged) < 0)
		return -1;
	if (c->has_uncertain) {
		sqlite3_bind_text(c->del_uncertain, 1, key, (int)keylen, SQLITE_STATIC);
		if (step_done(c->del_uncertain) < 0)
			return -1;
	}
	return 1;
done:
	sqlite3_reset(g);
	return rc;
}

static int flush_chunk(commit_ctx *c, char *err, size_t errlen)
{
	char sql[512];

	if (c->run_id > 0) {
		snprintf(sql, sizeof sql,
			 "UPDATE runs SET acked = acked + %lld, ignored = ignored + %lld,"
			 " committer = CASE WHEN ended IS NULL THEN %lld ELSE committer END,"
			 " committer_start = CASE WHEN ended IS NULL THEN %lld ELSE committer_start END WHERE id = %lld;",
			 c->chunk_acked, c->chunk_ignored, c->me, c->me_start, c->run_id);
		if (rx_diff_exec(c->db, sql, err, errlen) < 0)
			return -1;
		if (c->chunk_acked > 0) {
			/* this run's columns are now the destination's */
			snprintf(sql, sizeof sql,
				 "INSERT OR REPLACE INTO meta(name, value) SELECT 'columns', columns FROM runs"
				 " WHERE id = %lld AND columns IS NOT NULL",
				 c->run_id);
			if (rx_diff_exec(c->db, sql, err, errlen) < 0)
				return -1;
		}
		c->chunk_acked = c->chunk_ignored = 0;
	}
	return rx_diff_exec(c->db, "COMMIT", err, errlen);
}

static int attach(commit_ctx *c, char *err, size_t errlen)
{
	diff_run run;
	char sql[512];
	int found, rc = -1;

	if (rx_diff_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	found = rx_diff_open_run(c->db, &run, err, errlen);
	if (found < 0)
		goto done;
	if (found && rx_diff_alive(run.pid, run.pid_start) && !rx_diff_alive(run.committer, run.committer_start)) {
		snprintf(sql, sizeof sql, "UPDATE runs SET committer = %lld, committer_start = %lld WHERE id = %lld",
			 c->me, c->me_start, run.id);
		c->run_id = run.id;
	} else {
		snprintf(sql, sizeof sql,
			 "INSERT OR REPLACE INTO meta(name, value) VALUES('waiting_committer', %lld),"
			 " ('waiting_committer_start', %lld)",
			 c->me, c->me_start);
	}
	if (rx_diff_exec(c->db, sql, err, errlen) < 0)
		goto done;
	rc = rx_diff_exec(c->db, "COMMIT", err, errlen);
done:
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* At the end of the acks: close the run in the history. */
static int close_run(commit_ctx *c, char *err, size_t errlen)
{
	diff_run run;
	char sql[1024];
	int found, rc = -1;

	if (rx_diff_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	found = rx_diff_open_run(c->db, &run, err, errlen);
	if (found < 0)
		goto done;
	if (found && strcmp(run.status, "staged") == 0 &&
	    (run.committer == c->me ||
	     (!rx_diff_alive(run.pid, run.pid_start) && !rx_diff_alive(run.committer, run.committer_start)))) {
		snprintf(sql, sizeof sql,
			 "UPDATE runs SET ended = strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ','now'),"
			 " not_acked = (SELECT count(*) FROM staged WHERE run = %lld),"
			 " status = CASE WHEN (SELECT count(*) FROM staged WHERE run = %lld) = 0 THEN 'committed'"
			 " ELSE 'partial' END WHERE id = %lld",
			 run.id, run.id, run.id);
		if (rx_diff_exec(c->db, sql, err, errlen) < 0)
			goto done;
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(c->db, "SELECT not_acked, inserts + updates + deletes FROM runs WHERE id = ?", -1,
				       &st, NULL) == SQLITE_OK) {
			sqlite3_bind_int64(st, 1, run.id);
			if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_int64(st, 0) > 0)
				rx_diag("run %lld: %lld of %lld changes were not acked; the next run sends them again",
					run.id, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1));
		}
		sqlite3_finalize(st);
	}
	rc = rx_diff_exec(c->db, "COMMIT", err, errlen);
done:
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Is a whole line waiting in the reader's buffer or on stdin right now? */
static int input_waiting(const rx_reader *in)
{
	struct pollfd p = {in->fd, POLLIN, 0};

	if (memchr(in->data + in->start, '\n', in->end - in->start) != NULL)
		return 1;
	return poll(&p, 1, 50) > 0;
}

int rx_diff_commit(const diff_options *o)
{
	commit_ctx c;
	rx_reader in;
	rx_members ms = {0};
	rx_buf key = {0};
	char err[1024];
	char *line;
	size_t len;
	int status = RX_EXIT_FAIL, in_txn = 0, r, reader_open = 0;
	long long bad = 0, in_chunk = 0;

	static const char *const sql[] = {
		"SELECT action, row, run, raw FROM staged WHERE key = ?1 AND hash = ?2",
		"INSERT INTO snapshot(key, hash, raw) VALUES(?1, ?2, ?3)"
		" ON CONFLICT(key) DO UPDATE SET hash = ?2, raw = ?3",
		"INSERT INTO snapshot_row(key, row) VALUES(?1, ?2) ON CONFLICT(key) DO UPDATE SET row = ?2",
		"DELETE FROM snapshot WHERE key = ?",
		"DELETE FROM snapshot_row WHERE key = ?",
		"DELETE FROM staged WHERE key = ?",
		"DELETE FROM uncertain WHERE key = ?",
	};
	sqlite3_stmt **sts[] = {&c.get, &c.put_hash, &c.put_row, &c.del_hash, &c.del_row, &c.del_staged,
				&c.del_uncertain};

	memset(&c, 0, sizeof c);
	c.me = (long long)getpid();
	c.me_start = rx_diff_proc_start(c.me);
	if (rx_diff_state_open(o->state, 1, &c.db, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	if (attach(&c, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
		if (sqlite3_prepare_v2(c.db, sql[i], -1, sts[i], NULL) != SQLITE_OK) {
			rx_diag("%s", sqlite3_errmsg(c.db));
			goto done;
		}
	if (rx_reader_open(&in, "-", o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	reader_open = 1;
	for (;;) {
		if (in_txn && (in_chunk >= o->commit_every || !input_waiting(&in))) {
			if (flush_chunk(&c, err, sizeof err) < 0) {
				rx_diag("%s", err);
				goto done;
			}
			in_txn = 0;
			in_chunk = 0;
		}
		r = rx_reader_next(&in, &line, &len, err, sizeof err);
		if (r < 0) {
			rx_diag("%s", err); /* it names the line */
			goto done;
		}
		if (r == 0)
			break;
		if (len == 0 || rx_control_is(line, len))
			continue;
		if (rx_json_scan_object(line, len, &ms, err, sizeof err) < 0) {
			rx_diag_at(in.name, in.line, "cannot parse the ack: %s", err);
			bad++;
			continue;
		}
		long k = rx_json_find(&ms, "key", 3), h = rx_json_find(&ms, "hash", 4);
		unsigned char hash[DIFF_HASH_LEN];
		if (k < 0 || h < 0 || rx_json_kind(ms.m[h].value) != 's' ||
		    rx_diff_unhex(ms.m[h].value.p + 1, ms.m[h].value.n - 2, hash) < 0) {
			rx_diag_at(in.name, in.line, "not an ack (it needs \"key\" and a \"hash\" of 64 hex digits)");
			bad++;
			continue;
		}
		rx_buf_reset(&key);
		rx_key_text(ms.m[k].value, &key);
		if (!in_txn) {
			long long n = 1;
			if (rx_diff_exec(c.db, "BEGIN IMMEDIATE", err, sizeof err) < 0 ||
			    rx_diff_pragma_int(c.db, "SELECT EXISTS (SELECT 1 FROM uncertain)", &n, err, sizeof err) < 0) {
				rx_diag("%s", err);
				goto done;
			}
			c.has_uncertain = n != 0; /* no other writer until COMMIT */
			in_txn = 1;
		}
		r = apply(&c, key.data, key.len, hash);
		if (r < 0) {
			rx_diag("cannot commit an ack: %s", sqlite3_errmsg(c.db));
			goto done;
		}
		if (r > 0)
			c.acked++, c.chunk_acked++;
		else
			c.ignored++, c.chunk_ignored++;
		in_chunk++;
		rx_killpoint("commit");
	}
	if (in_txn) {
		if (flush_chunk(&c, err, sizeof err) < 0) {
			rx_diag("%s", err);
			goto done;
		}
		in_txn = 0;
	}
	if (close_run(&c, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	if (c.ignored > 0)
		rx_diag("%lld acks matched no staged change and were ignored", c.ignored);
	status = bad > 0 ? RX_EXIT_DATAERR : RX_EXIT_OK;
done:
	if (in_txn)
		sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof sts / sizeof *sts; i++)
		sqlite3_finalize(*sts[i]);
	sqlite3_close(c.db);
	if (reader_open)
		rx_reader_close(&in);
	free(ms.m);
	rx_buf_free(&key);
	return status;
}
