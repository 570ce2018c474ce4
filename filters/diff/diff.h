/*
 * diff.h - rx-diff's modules: canonical hashing (canon.c), the state file
 * and its lock (state.c), staging a run (stage.c, with read.c, feed.c
 * and stager.c behind stage.h) and committing acks (commit.c).
 *
 * NOTES ON THE DESIGN
 *
 *  - The state file is SQLite in WAL mode.  The snapshot (what the
 *    destination holds) changes only in commit.c, and only for an ack whose
 *    hash equals the staged hash for its key.  Everything else a run writes
 *    is its staged changes and its line in the history.
 *  - A hash is the SHA-256 of the row's canonical form (canon.c): 32 bytes
 *    in the state, 64 lowercase hex digits on the wire.
 *  - A fingerprint is the XXH3-128 of a row's raw text, seeded per state
 *    file: the snapshot keeps the one of each delivered row, and a row
 *    whose fingerprint is unchanged is unchanged without being put in
 *    canonical form and hashed, which is most of the cost of reading a
 *    row.  Only rows whose text differs are hashed.
 *  - Rows in the state are lz4-compressed: a 4-byte little-endian length of
 *    the raw text, then the LZ4 block; bit 31 of the length marks a block
 *    compressed against the state's dictionary of model rows (state.c).
 */
#ifndef RX_DIFF_H
#define RX_DIFF_H

#include "rx.h"

#include <sqlite3.h>

#define DIFF_HASH_LEN 32
#define DIFF_RAW_LEN 16

enum diff_mode { MODE_INSERT, MODE_UPDATE, MODE_UPSERT, MODE_MIRROR, MODE_DELETE };

typedef struct diff_options {
	const char *state;       /* --state FILE */
	char **key_cols;         /* --key, split */
	size_t nkey_cols;
	char **ignore_cols;      /* --ignore, split */
	size_t nignore_cols;
	enum diff_mode mode;     /* --mode */
	long long max_invalid;   /* 0: no limit */
	long long max_changes;   /* -1: no limit */
	double max_delete_ratio; /* mirror mode; 1.0: no limit */
	int assume_complete;     /* --assume-complete: EOF ends the model */
	int preview;             /* --preview: the changes, no run, no state written */
	int accept_schema_change;
	int changed_only;
	int full_resync;
	unsigned shard, nshards; /* --shard I/N; nshards 0: all */
	size_t max_line;
	int threads;             /* --threads: reading threads (1: the main one only) */
	long long commit_every;  /* --commit: acks per transaction */
	const char *sync;        /* --sync NAME (NULL: the state's file name) */
	const char *destination; /* --profile NAME, kept for the status view */
	long long keep_runs;     /* --keep-runs: runs kept in the history (0: all) */
	const char *metrics;     /* --metrics FILE */
	int count_record;        /* --count-record: {"$rx":"changes","count":N} first */
} diff_options;

/* ---- canon.c ---- */

/* SHA-256 of the canonical form of a row (its members; ignored columns left
 * out) into hash[32]. */
void rx_diff_row_hash(const rx_members *row, const diff_options *o, unsigned char hash[DIFF_HASH_LEN]);
/* Free the calling thread's canonical-form buffers and hashing context. */
void rx_diff_canon_free(void);
/* Append the names of the members whose values differ between old and new
 * rows (as JSON strings, comma separated; new members, changed members,
 * then members that left), skipping ignored columns; new_flags (if not
 * NULL) gets 1 for each member of new_row that differs.  Returns how many. */
size_t rx_diff_changed(const rx_members *old_row, const rx_members *new_row, const diff_options *o, rx_buf *out,
		       unsigned char *new_flags);
/* The fingerprint of a row's raw text, with the state's seed. */
void rx_diff_fingerprint(const char *row, size_t n, uint64_t seed, unsigned char raw[DIFF_RAW_LEN]);
void rx_diff_hex(const unsigned char *hash, char out[2 * DIFF_HASH_LEN + 1]);
/* 0, or -1 if hex is not 64 hex digits. */
int rx_diff_unhex(const char *hex, size_t n, unsigned char hash[DIFF_HASH_LEN]);

/* ---- state.c ---- */

typedef struct diff_run {
	long long id;
	long long pid, pid_start;             /* the stage process */
	long long committer, committer_start; /* the commit process, or 0 */
	char started[32];
	char status[16];
} diff_run;

/* Open (create with --create) the state file; checks its kind and version. */
int rx_diff_state_open(const char *path, int create, sqlite3 **db, char *err, size_t errlen);
int rx_diff_exec(sqlite3 *db, const char *sql, char *err, size_t errlen);
/* The first column of the first row of sql as an integer (0 if NULL). */
int rx_diff_pragma_int(sqlite3 *db, const char *sql, long long *out, char *err, size_t errlen);
/* The process start time of pid (clock ticks since boot), 0 if it is gone. */
long long rx_diff_proc_start(long long pid);
int rx_diff_alive(long long pid, long long start);
/* The newest run whose end is not recorded: 1 found, 0 none, -1 error. */
int rx_diff_open_run(sqlite3 *db, diff_run *run, char *err, size_t errlen);
/* Compress raw text into out (length prefix + LZ4 block), against the
 * state's dictionary when dict has one / decompress (dict may be NULL for
 * rows packed without one). */
void rx_diff_pack(const rx_buf *dict, const char *raw, size_t n, rx_buf *out);
int rx_diff_unpack(const rx_buf *dict, const void *blob, size_t n, rx_buf *out);
/* The state's row dictionary into dict (empty: none yet) / store it. */
int rx_diff_dict_load(sqlite3 *db, rx_buf *dict, char *err, size_t errlen);
int rx_diff_dict_save(sqlite3 *db, const rx_buf *dict, char *err, size_t errlen);
/* The state's id (16 hex digits), which every change and ack names. */
int rx_diff_state_id(sqlite3 *db, char id[17], char *err, size_t errlen);
/* The fingerprint seed of the state. */
int rx_diff_seed(sqlite3 *db, uint64_t *seed, char *err, size_t errlen);
/* --status: the history and freshness as JSON lines on w. */
int rx_diff_status(sqlite3 *db, rx_writer *w, char *err, size_t errlen);

/* ---- health.c: operating syncs ---- */

/* What a stage run counted, for the history. */
typedef struct diff_counts {
	long long missing_keys, duplicate_keys, upstream_rejected;
} diff_counts;

/* What one state says about its sync (its newest run). */
typedef struct diff_sync {
	char path[4096], name[256], destination[256];
	char status[16];          /* the run's status in the history */
	const char *outcome;      /* ok, bad rows, rejected, unanswered, aborted, failed, running, ... */
	const char *fault;        /* "model", "destination", "delivery", combined, or "" */
	long long run_id, rows, inserts, updates, deletes, unchanged, invalid, acked, not_acked, rejected;
	long long model_errors;   /* rows dead-lettered by rx-diff or upstream */
	long long snapshot_rows, uncertain, runs_kept;
	double started, ended, duration, last_success, last_commit; /* Unix times, 0: never */
	int running;
	sqlite3 *db;              /* open until rx_diff_sync_close */
} diff_sync;

typedef struct diff_health {
	int max_age;           /* seconds; 0: no limit */
	const char *max_age_text; /* as given */
	double max_error_rate; /* -1: no limit */
	int json;
} diff_health;

typedef struct diff_rejects diff_rejects;

/* At the end of a stage run, inside its transaction: dead letters by
 * reason, the sync's name and destination, the history pruned. */
int rx_diff_history_stage(sqlite3 *db, long long run, const char *status, const diff_counts *n, const diff_options *o,
			  char *err, size_t errlen);
/* {"$rx":"rejected"} records, inside the commit's transactions: 1
 * counted, 0 not this run's change (or said before), -1 error. */
diff_rejects *rx_diff_rejects_open(sqlite3 *db, char *err, size_t errlen);
int rx_diff_reject(diff_rejects *r, const char *key, size_t keylen, const unsigned char *hash, long long run,
		   rx_span reason);
void rx_diff_rejects_close(diff_rejects *r);
/* The commit closed run: the freshness times (inside its transaction). */
int rx_diff_history_closed(sqlite3 *db, long long run);
/* The one-line summary of the newest run, on stderr. */
void rx_diff_history_summary(const char *path);
int rx_diff_sync_read(const char *path, diff_sync *s, char *err, size_t errlen);
void rx_diff_sync_close(diff_sync *s);
/* --status over files, folders and patterns: a table or JSON lines. */
int rx_diff_status_many(char **args, int nargs, int json);
/* --health: one line each, exit 0 healthy or 1. */
int rx_diff_health(char **args, int nargs, const diff_health *h);
int rx_diff_parse_age(const char *option, const char *arg);
/* --metrics FILE from the state. */
int rx_diff_metrics(const char *state, const char *path, char *err, size_t errlen);

/* ---- stage.c, commit.c ---- */

int rx_diff_stage(const diff_options *o);
int rx_diff_commit(const diff_options *o);


#endif
