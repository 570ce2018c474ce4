/*
 * commit.c - rx-diff --commit: advance the snapshot from acks.
 *
 * An ack {"key":K,"hash":H,"run":"<state>.<run>",...} advances the
 * snapshot only when it names this state and the run this commit holds,
 * and H is the hash staged for K in that run: the staged row goes into
 * the snapshot with the destination's id (the ack's "id", else the one
 * the change was sent with), or, for a mirror delete, the key leaves it;
 * and K is no longer staged nor uncertain.  Any other ack changes nothing and is
 * counted: from another state (a wrong --state: exit 65), naming no run
 * (exit 65), from another run (a new run started since: its changes are
 * sent again anyway), or matching no staged change.
 *
 * Acks are applied in transactions of --commit-every acks, also closed
 * when no ack is waiting on stdin, so a kill loses at most the open
 * transaction: those keys stay staged, become uncertain, and the next run
 * sends them again.  At the end of input the run is closed in the history.
 * The commit of a stream (stream.c), whose stage waits for the state's
 * lock while a transaction is open here, closes one at once when no ack
 * is waiting, and after STREAM_CHUNK acks or STREAM_CHUNK_MS at most.
 *
 * A commit record ({"$rx":"commit",...}, a stream's source position:
 * control.c, stream.c) is stored in the state (meta source_position) in
 * the transaction of the acks before it, so that the position never
 * passes an ack that is not applied; rx-extract reads it there and
 * confirms it to the source.  After an ack that counted for no run
 * (another run, another state, none) no position is stored: what it
 * covers was not applied.  SIGTERM and SIGINT end the commit when its
 * input ends, or 5 s after the signal, with every applied ack committed.
 *
 * One commit a run, and the run held while it works.  A commit that
 * starts while its run's stage is alive registers as that run's committer
 * (runs.committer); one that starts first (a pipeline starts all at once)
 * leaves its pid where the stage about to start takes it; one that finds
 * no live stage (a re-drive of dead letters) takes the run its first ack
 * names, if that is the newest run.  A second live commit of a run is
 * refused (exit 75), and no stage starts while the committer of the
 * newest run lives (stage.c).  The committer closes exactly its run, and
 * then lets it go.
 */
#include "diff.h"

#include "rxpoll.h"

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct commit_ctx {
	sqlite3 *db;
	long long me, me_start;
	char state_id[17];  /* this state's id, as acks name it */
	long long run_id;   /* the run this commit holds, once known (0: none yet) */
	/* counts */
	long long acked, ignored, chunk_acked, chunk_ignored;
	long long other_run, other_state, unbound;
	long long last_other_run;
	char other_state_id[64];
	int has_uncertain;  /* in this transaction: are any keys uncertain? */
	diff_rejects *rejects; /* {"$rx":"rejected"} records (health.c) */
	long long rejected, closed; /* those counted; the run closed at the end */
	int streaming;      /* the run held is a stream's (stream.c): its stage writes meanwhile */
	int turn_fd;        /* with a stream: the turn at the state's lock (stream.c), or -1 */
	int has_turn;       /* it is held, for the open transaction */
	long long positions, positions_held; /* source positions stored, and not stored */
	sqlite3_stmt *get, *put_hash, *put_row, *del_hash, *del_row, *del_staged, *del_uncertain;
} commit_ctx;

static int step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : -1;
}

/* 1 applied, 0 ignored, -1 error.  id: the destination's id the ack
 * carries (raw JSON; empty: none, keep the one the change was sent with). */
static int apply(commit_ctx *c, const char *key, size_t keylen, const unsigned char *hash, rx_span id)
{
	int rc = 0;
	sqlite3_stmt *g = c->get;

	sqlite3_bind_text(g, 1, key, (int)keylen, SQLITE_STATIC);
	sqlite3_bind_blob(g, 2, hash, DIFF_HASH_LEN, SQLITE_STATIC);
	sqlite3_bind_int64(g, 3, c->run_id);
	int s = sqlite3_step(g);
	if (s == SQLITE_DONE)
		goto done;
	if (s != SQLITE_ROW) {
		rc = -1;
		goto done;
	}
	int action = sqlite3_column_int(g, 0);
	if (action == 0) {
		sqlite3_bind_text(c->put_hash, 1, key, (int)keylen, SQLITE_STATIC);
		sqlite3_bind_blob(c->put_hash, 2, hash, DIFF_HASH_LEN, SQLITE_STATIC);
		sqlite3_bind_value(c->put_hash, 3, sqlite3_column_value(g, 2));
		sqlite3_bind_text(c->put_row, 1, key, (int)keylen, SQLITE_STATIC);
		sqlite3_bind_value(c->put_row, 2, sqlite3_column_value(g, 1));
		if (id.n > 0)
			sqlite3_bind_text(c->put_row, 3, id.p, (int)id.n, SQLITE_STATIC);
		else
			sqlite3_bind_value(c->put_row, 3, sqlite3_column_value(g, 3));
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
		snprintf(sql, sizeof sql, "UPDATE runs SET acked = acked + %lld, ignored = ignored + %lld WHERE id = %lld",
			 c->chunk_acked, c->chunk_ignored, c->run_id);
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
	int rc = rx_diff_exec(c->db, "COMMIT", err, errlen);
	if (c->has_turn) {
		rx_diff_stream_turn(c->turn_fd, 0);
		c->has_turn = 0;
	}
	return rc;
}

/* Hold run id: 0, -1 error, -2 another live commit holds it (err says). */
static int hold(commit_ctx *c, long long id, long long committer, long long committer_start, char *err, size_t errlen)
{
	char sql[512];

	if (committer != 0 && committer != c->me && rx_diff_alive(committer, committer_start)) {
		snprintf(err, errlen,
			 "run %lld is being committed by another rx-diff --commit (pid %lld); one commit a run: try "
			 "again when it has ended",
			 id, committer);
		return -2;
	}
	snprintf(sql, sizeof sql,
		 "UPDATE runs SET committer = %lld, committer_start = %lld WHERE id = %lld;"
		 " DELETE FROM meta WHERE name LIKE 'waiting_committer%%' AND"
		 " (SELECT value FROM meta WHERE name = 'waiting_committer') = %lld",
		 c->me, c->me_start, id, c->me);
	if (rx_diff_exec(c->db, sql, err, errlen) < 0)
		return -1;
	c->run_id = id;
	/* a stream's stage stages while acks come back: no waiting for more
	 * acks with the state's lock held, and short waits for the lock */
	c->streaming = rx_diff_run_streaming(c->db, id);
	if (c->streaming) {
		rx_diff_stream_busy(c->db);
		if (c->turn_fd < 0)
			c->turn_fd = rx_diff_stream_turn_open(c->db);
	}
	return 0;
}

/* At start: hold the open run if its stage is at work, else wait for the
 * stage about to start.  0, -1, -2 (refused). */
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
	if (found && rx_diff_alive(run.pid, run.pid_start)) {
		rc = hold(c, run.id, run.committer, run.committer_start, err, errlen);
		if (rc < 0)
			goto done;
	} else {
		snprintf(sql, sizeof sql,
			 "INSERT OR REPLACE INTO meta(name, value) VALUES('waiting_committer', %lld),"
			 " ('waiting_committer_start', %lld)",
			 c->me, c->me_start);
		if (rx_diff_exec(c->db, sql, err, errlen) < 0)
			goto done;
	}
	rc = rx_diff_exec(c->db, "COMMIT", err, errlen);
done:
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* The first ack names run id and this commit holds none yet: hold it, if
 * it is the newest run (a stage may have registered this process for it
 * already).  Inside the chunk's transaction.  1 held, 0 an older run (the
 * ack is ignored), -1 error, -2 refused. */
static int join(commit_ctx *c, long long id, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(c->db, "SELECT committer, committer_start, (SELECT max(id) FROM runs) FROM runs WHERE id = ?",
			       -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
		return -1;
	}
	sqlite3_bind_int64(st, 1, id);
	int s = sqlite3_step(st);
	if (s == SQLITE_DONE || (s == SQLITE_ROW && sqlite3_column_int64(st, 2) != id)) {
		rc = 0;
	} else if (s == SQLITE_ROW) {
		rc = hold(c, id, sqlite3_column_int64(st, 0), sqlite3_column_int64(st, 1), err, errlen);
		if (rc == 0)
			rc = 1;
	} else {
		snprintf(err, errlen, "%s", sqlite3_errmsg(c->db));
	}
	sqlite3_finalize(st);
	return rc;
}

/* A commit that held no run and read no ack: the stage of its own
 * pipeline may have ended before the commit looked (a small model, all
 * of it unanswered).  Take the newest open run when its stage finished
 * (status staged), nobody commits it, and its process started within a
 * second of this one, as processes of one pipeline do; an older run
 * left open is the next stage's to close.  Inside the transaction:
 * 0 (*id set when taken), or -1. */
static int adopt_finished_stage(commit_ctx *c, long long *id, char *err, size_t errlen)
{
	diff_run run;
	char sql[256];
	long long ticks = sysconf(_SC_CLK_TCK);

	int found = rx_diff_open_run(c->db, &run, err, errlen);
	if (found <= 0)
		return found;
	if (strcmp(run.status, "staged") != 0 || rx_diff_alive(run.pid, run.pid_start) ||
	    (run.committer != 0 && rx_diff_alive(run.committer, run.committer_start)) || c->me_start <= 1 ||
	    run.pid_start <= 1 || llabs(run.pid_start - c->me_start) > (ticks > 0 ? ticks : 100))
		return 0;
	snprintf(sql, sizeof sql, "UPDATE runs SET committer = %lld, committer_start = %lld WHERE id = %lld", c->me,
		 c->me_start, run.id);
	if (rx_diff_exec(c->db, sql, err, errlen) < 0)
		return -1;
	*id = run.id;
	return 0;
}

/* At the end of the acks: close the run this commit holds (the one a
 * stage registered it for, when no ack named it) and let it go. */
static int close_run(commit_ctx *c, char *err, size_t errlen)
{
	char sql[1024];
	long long id = c->run_id;
	int rc = -1;

	if (rx_diff_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0)
		return -1;
	if (id == 0) {
		snprintf(sql, sizeof sql,
			 "SELECT id FROM runs WHERE committer = %lld AND committer_start = %lld ORDER BY id DESC LIMIT 1",
			 c->me, c->me_start);
		if (rx_diff_pragma_int(c->db, sql, &id, err, errlen) < 0)
			id = 0;
	}
	if (id == 0 && adopt_finished_stage(c, &id, err, errlen) < 0)
		goto done;
	snprintf(sql, sizeof sql,
		 "DELETE FROM meta WHERE name LIKE 'waiting_committer%%' AND"
		 " (SELECT value FROM meta WHERE name = 'waiting_committer') = %lld",
		 c->me);
	if (rx_diff_exec(c->db, sql, err, errlen) < 0)
		goto done;
	if (id > 0) {
		snprintf(sql, sizeof sql,
			 "UPDATE runs SET ended = coalesce(ended, strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ','now')),"
			 " not_acked = (SELECT count(*) FROM staged WHERE run = %lld),"
			 " status = CASE WHEN status NOT IN ('staged', 'partial', 'committed') THEN status"
			 "  WHEN (SELECT count(*) FROM staged WHERE run = %lld) = 0 THEN 'committed' ELSE 'partial' END,"
			 " committer = 0, committer_start = 0"
			 " WHERE id = %lld AND committer = %lld AND committer_start = %lld",
			 id, id, id, c->me, c->me_start);
		if (rx_diff_exec(c->db, sql, err, errlen) < 0)
			goto done;
		/* closed: its freshness times, and its summary once committed */
		if (sqlite3_changes(c->db) > 0) {
			if (rx_diff_history_closed(c->db, id) < 0)
				goto done;
			c->closed = id;
		}
	}
	rc = rx_diff_exec(c->db, "COMMIT", err, errlen);
done:
	if (rc < 0)
		sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
	return rc;
}

/* Is a whole line waiting in the reader's buffer or on stdin (within
 * ms)? */
static int input_waiting(const rx_reader *in, int ms)
{
	struct pollfd p = {in->fd, POLLIN, 0};

	if (memchr(in->data + in->start, '\n', in->end - in->start) != NULL)
		return 1;
	return poll(&p, 1, ms) > 0;
}

/* The run an ack names: "<state id>.<run>".  1 this state (*run set), 0
 * another state (its id copied into c->other_state_id), -1 malformed. */
static int ack_run(commit_ctx *c, rx_span v, long long *run)
{
	char text[64];

	if (rx_json_kind(v) != 's' || v.n < 4 || v.n - 2 >= sizeof text)
		return -1;
	memcpy(text, v.p + 1, v.n - 2);
	text[v.n - 2] = '\0';
	char *dot = strrchr(text, '.'), *end;
	if (dot == NULL)
		return -1;
	*dot = '\0';
	long long id = strtoll(dot + 1, &end, 10);
	if (*end != '\0' || id <= 0)
		return -1;
	if (strcmp(text, c->state_id) != 0) {
		snprintf(c->other_state_id, sizeof c->other_state_id, "%s", text);
		return 0;
	}
	*run = id;
	return 1;
}

#define STREAM_CHUNK 500
#define STREAM_CHUNK_MS 5

static volatile sig_atomic_t commit_signal;

static void on_commit_signal(int sig)
{
	commit_signal = sig;
}

/* Open the transaction acks are applied in. */
static int begin_chunk(commit_ctx *c, char *err, size_t errlen)
{
	long long n = 1;

	if (c->turn_fd >= 0 && !c->has_turn) {
		rx_diff_stream_turn(c->turn_fd, 1);
		c->has_turn = 1;
	}
	if (rx_diff_exec(c->db, "BEGIN IMMEDIATE", err, errlen) < 0 ||
	    rx_diff_pragma_int(c->db, "SELECT EXISTS (SELECT 1 FROM uncertain)", &n, err, errlen) < 0)
		return -1;
	c->has_uncertain = n != 0; /* no other writer until COMMIT */
	return 0;
}

/* A control record among the acks: a stream's source position is stored
 * with them (1: in the open transaction); others are skipped (0). */
static int position(commit_ctx *c, int in_txn, const char *line, size_t len, char *err, size_t errlen)
{
	static rx_members ms;
	char kind[16];

	if (rx_control_parse(line, len, &ms, kind, sizeof kind, err, errlen) < 0 || strcmp(kind, "commit") != 0)
		return 0;
	if (c->other_run > 0 || c->other_state > 0 || c->unbound > 0) {
		if (c->positions_held++ == 0)
			rx_diag("acks that counted for no run came before a source position: it is not stored (what it "
				"covers was not applied), nor any after it in this commit");
		return 0;
	}
	if (!in_txn && begin_chunk(c, err, errlen) < 0)
		return -1;
	if (rx_diff_position_store(c->db, line, len, err, errlen) < 0)
		return -1;
	c->positions++;
	return 1;
}

int rx_diff_commit(const diff_options *o)
{
	commit_ctx c;
	rx_reader in;
	rx_members ms = {0};
	rx_buf key = {0}, idtext = {0};
	char err[1024];
	char *line;
	size_t len;
	int status = RX_EXIT_FAIL, in_txn = 0, r, reader_open = 0;
	long long bad = 0, in_chunk = 0;

	static const char *const sql[] = {
		"SELECT action, row, raw, id FROM staged WHERE key = ?1 AND hash = ?2 AND run = ?3",
		"INSERT INTO snapshot(key, hash, raw) VALUES(?1, ?2, ?3)"
		" ON CONFLICT(key) DO UPDATE SET hash = ?2, raw = ?3",
		"INSERT INTO snapshot_row(key, row, id) VALUES(?1, ?2, ?3) ON CONFLICT(key) DO UPDATE SET row = ?2, id = ?3",
		"DELETE FROM snapshot WHERE key = ?",
		"DELETE FROM snapshot_row WHERE key = ?",
		"DELETE FROM staged WHERE key = ?",
		"DELETE FROM uncertain WHERE key = ?",
	};
	sqlite3_stmt **sts[] = {&c.get, &c.put_hash, &c.put_row, &c.del_hash, &c.del_row, &c.del_staged,
				&c.del_uncertain};

	memset(&c, 0, sizeof c);
	c.turn_fd = -1;
	c.me = (long long)getpid();
	c.me_start = rx_diff_proc_start(c.me);
	if (rx_diff_state_open(o->state, 1, &c.db, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	if (rx_diff_state_id(c.db, c.state_id, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	r = attach(&c, err, sizeof err);
	if (r < 0) {
		rx_diag("%s", err);
		status = r == -2 ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
		goto done;
	}
	for (size_t i = 0; i < sizeof sql / sizeof *sql; i++)
		if (sqlite3_prepare_v2(c.db, sql[i], -1, sts[i], NULL) != SQLITE_OK) {
			rx_diag("%s", sqlite3_errmsg(c.db));
			goto done;
		}
	c.rejects = rx_diff_rejects_open(c.db, err, sizeof err);
	if (c.rejects == NULL) {
		rx_diag("%s", err);
		goto done;
	}
	if (rx_reader_open(&in, "-", o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		goto done;
	}
	reader_open = 1;
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_commit_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	long long signal_at = 0, chunk_at = 0;
	for (;;) {
		/* a stream's stage waits for the lock while a chunk is open: keep
		 * chunks short there (STREAM_CHUNK acks, STREAM_CHUNK_MS) */
		if (in_txn && (in_chunk >= (c.streaming ? STREAM_CHUNK : o->commit_every) ||
			       (c.streaming && rx_now_ms() - chunk_at >= STREAM_CHUNK_MS) ||
			       !input_waiting(&in, c.streaming ? 0 : 50))) {
			if (flush_chunk(&c, err, sizeof err) < 0) {
				rx_diag("%s", err);
				goto done;
			}
			in_txn = 0;
			in_chunk = 0;
		}
		/* wait for the next line with nothing open, and a signal heard:
		 * after one, the acks still on their way for 5 s */
		if (!in_txn) {
			int w;
			while ((w = rx_reader_wait(&in, 200, err, sizeof err)) == 0) {
				if (commit_signal && signal_at == 0)
					signal_at = rx_now_ms();
				if (signal_at > 0 && rx_now_ms() - signal_at >= 5000)
					break;
			}
			if (w == 0)
				break; /* as at the end of input */
		}
		r = rx_reader_next(&in, &line, &len, err, sizeof err);
		if (r < 0 && in.too_long) {
			/* one bad line: said, skipped; the acks after it still count */
			rx_diag("%s", err);
			bad++;
			if (rx_reader_skip(&in, NULL, 0, err, sizeof err) == 0)
				continue;
		}
		if (r < 0) {
			rx_diag("%s", err); /* it names the line */
			goto done;
		}
		if (r == 0)
			break;
		int reject = 0; /* {"$rx":"rejected"}: answered, not applied */
		if (len == 0)
			continue;
		if (rx_control_is(line, len) && !(reject = rx_control_kind_is(line, len, "rejected"))) {
			r = position(&c, in_txn, line, len, err, sizeof err);
			if (r < 0) {
				rx_diag("%s", err);
				goto done;
			}
			if (r > 0) {
				if (!in_txn)
					chunk_at = rx_now_ms();
				in_txn = 1;
				in_chunk++;
			}
			continue;
		}
		if (rx_json_scan_object(line, len, &ms, err, sizeof err) < 0) {
			rx_diag_at(in.name, in.line, "cannot parse the ack: %s", err);
			bad++;
			continue;
		}
		long k = rx_json_find(&ms, "key", 3), h = rx_json_find(&ms, "hash", 4), rn = rx_json_find(&ms, "run", 3);
		long di = rx_json_find(&ms, "id", 2);
		unsigned char hash[DIFF_HASH_LEN];
		if (k < 0 || h < 0 || rx_json_kind(ms.m[h].value) != 's' ||
		    rx_diff_unhex(ms.m[h].value.p + 1, ms.m[h].value.n - 2, hash) < 0) {
			rx_diag_at(in.name, in.line, "not an ack (it needs \"key\" and a \"hash\" of 64 hex digits)");
			bad++;
			continue;
		}
		long long run = 0;
		int mine = rn < 0 ? -2 : ack_run(&c, ms.m[rn].value, &run);
		if (mine == -1) {
			rx_diag_at(in.name, in.line, "not an ack (its \"run\" is not \"<state id>.<run>\")");
			bad++;
			continue;
		}
		if (mine == -2) {
			c.unbound++;
			continue;
		}
		if (mine == 0) {
			c.other_state++;
			continue;
		}
		if (!in_txn) {
			if (begin_chunk(&c, err, sizeof err) < 0) {
				rx_diag("%s", err);
				goto done;
			}
			in_txn = 1;
			chunk_at = rx_now_ms();
		}
		if (c.run_id == 0) {
			r = join(&c, run, err, sizeof err);
			if (r < 0) {
				rx_diag("%s", err);
				status = r == -2 ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
				goto done;
			}
		}
		if (run != c.run_id) {
			c.other_run++;
			c.last_other_run = run;
			continue;
		}
		rx_buf_reset(&key);
		rx_key_text(ms.m[k].value, &key);
		if (reject) {
			long why = rx_json_find(&ms, "reason", 6);
			r = rx_diff_reject(c.rejects, key.data, key.len, hash, run,
					   why >= 0 ? ms.m[why].value : rx_span_of("\"rejected\"", 10));
			if (r < 0) {
				rx_diag("cannot record a rejected change: %s", sqlite3_errmsg(c.db));
				goto done;
			}
			c.rejected += r;
			continue;
		}
		/* the destination's id: kept for the key, so that every later change
		 * of it (deletes too) can address the record by it */
		rx_span id = {NULL, 0};
		if (di >= 0 && rx_json_kind(ms.m[di].value) != 'z') {
			rx_buf_reset(&idtext);
			rx_json_put_compact(&idtext, ms.m[di].value);
			id = rx_span_of(idtext.data, idtext.len);
		}
		r = apply(&c, key.data, key.len, hash, id);
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
	if (c.closed > 0)
		rx_diff_history_summary(o->state); /* one line: what the run did, whose fault */
	if (c.ignored > 0)
		rx_diag("%lld acks matched no staged change and were ignored", c.ignored);
	if (c.other_run > 0)
		rx_diag("%lld acks are from run %lld, not run %lld, the newest: they were ignored (their changes are "
			"sent again by the next run)",
			c.other_run, c.last_other_run, c.run_id);
	if (c.other_state > 0)
		rx_diag("%lld acks name another state (%s; this one is %s) and were ignored: is --state %s the state of "
			"the sync that sent them?",
			c.other_state, c.other_state_id, c.state_id, o->state);
	if (c.unbound > 0)
		rx_diag("%lld acks name no run (an ack carries its change's \"run\") and were ignored", c.unbound);
	status = bad > 0 || c.other_state > 0 || c.unbound > 0 ? RX_EXIT_DATAERR : RX_EXIT_OK;
done:
	if (in_txn)
		sqlite3_exec(c.db, "ROLLBACK", NULL, NULL, NULL);
	for (size_t i = 0; i < sizeof sts / sizeof *sts; i++)
		sqlite3_finalize(*sts[i]);
	rx_diff_rejects_close(c.rejects);
	sqlite3_close(c.db);
	if (c.turn_fd >= 0)
		close(c.turn_fd);
	if (reader_open)
		rx_reader_close(&in);
	free(ms.m);
	rx_buf_free(&key);
	rx_buf_free(&idtext);
	return status;
}
