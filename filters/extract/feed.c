/*
 * feed.c - what rx-extract's change feeds (pgrepl.c, follow.c) share:
 * stopping on a signal, and the source position confirmed downstream.
 *
 * The position flows down the pipe and back through the state
 * (docs/streaming.md): a feed writes a commit record ({"$rx":"commit",...},
 * control.c) after the rows it covers; rx-push passes it on among its
 * acks once they have all left; rx-diff --commit stores it (meta
 * 'source_position' of its state file) in the transaction of the acks
 * before it.  The feed reads it here, read-only, and only then confirms it
 * to its source (a replication slot's flush position) or starts from it
 * (a polling cursor).  So the source forgets nothing the snapshot has not
 * taken in, and a crash anywhere replays from the last stored position:
 * at least once, and the snapshot drops the repeats.
 */
#include "extract.h"

#include <errno.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

volatile int rx_extract_stopping;

static void on_signal(int sig)
{
	rx_extract_stopping = sig;
}

void rx_extract_catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	/* diagnostics go to stderr: no log file to reopen on SIGHUP, and a
	 * hang-up does not end the feed */
	signal(SIGHUP, SIG_IGN);
}

static sqlite3 *state_db;
static sqlite3_stmt *state_get;

int rx_extract_position(const char *state, rx_buf *out, char *err, size_t errlen)
{
	struct stat sb;
	int rc = -1;

	rx_buf_reset(out);
	if (state_db == NULL) {
		if (stat(state, &sb) < 0 || sb.st_size == 0)
			return 0; /* no state yet: rx-diff creates it */
		if (sqlite3_open_v2(state, &state_db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
			snprintf(err, errlen, "cannot open state '%s': %s", state,
				 state_db ? sqlite3_errmsg(state_db) : "out of memory");
			sqlite3_close(state_db);
			state_db = NULL;
			return -1;
		}
		sqlite3_busy_timeout(state_db, 2000);
	}
	if (state_get == NULL &&
	    sqlite3_prepare_v2(state_db, "SELECT value FROM meta WHERE name = 'source_position'", -1, &state_get, NULL) !=
		    SQLITE_OK) {
		long long tables = 0;
		sqlite3_stmt *st = NULL;
		if (sqlite3_prepare_v2(state_db, "SELECT count(*) FROM sqlite_master", -1, &st, NULL) == SQLITE_OK &&
		    sqlite3_step(st) == SQLITE_ROW)
			tables = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (tables == 0)
			return 0; /* being created */
		snprintf(err, errlen, "'%s' is not an rx-diff state file (%s)", state, sqlite3_errmsg(state_db));
		return -1;
	}
	int s = sqlite3_step(state_get);
	if (s == SQLITE_ROW) {
		rx_buf_put(out, sqlite3_column_text(state_get, 0), (size_t)sqlite3_column_bytes(state_get, 0));
		rc = 1;
	} else if (s == SQLITE_DONE) {
		rc = 0;
	} else {
		snprintf(err, errlen, "cannot read the source position from state '%s': %s", state,
			 sqlite3_errmsg(state_db));
	}
	sqlite3_reset(state_get);
	return rc;
}

void rx_extract_position_close(void)
{
	sqlite3_finalize(state_get);
	state_get = NULL;
	sqlite3_close(state_db);
	state_db = NULL;
}
