/*
 * state.c - rx-diff's state file: schema, version, the run lock, packed
 * rows and --status.
 *
 * One SQLite file per sync, created 0600, in WAL mode (readers never wait;
 * a kill -9 at any point leaves the last committed transaction).  The
 * schema:
 *
 *   snapshot(key, hash, raw) per key, the hash of the last delivered row
 *                            and the fingerprint of its raw text (NULL:
 *                            not known)
 *   snapshot_row(key, row, id) that row, packed (kept apart so that the
 *                            key-ordered scan of snapshot stays small), and
 *                            the record's id at the destination (its raw
 *                            JSON, from an ack; NULL: not known)
 *   staged(key, run, op, hash, action, row, raw, id)
 *                            the changes of the open run not yet acked;
 *                            action 0 puts row (and raw) into the
 *                            snapshot, 1 removes the key from it; id is the
 *                            one the change was sent with
 *   uncertain(key, hash, row, id) keys sent by an earlier run and never
 *                            acked: the next run sends their current state
 *   runs(...)                the history, and the lock: a run whose end is
 *                            not recorded holds the state while its stage
 *                            process or its committer process lives
 *   run_errors(run, stage, reason, count)
 *                            each run's dead letters by the stage that
 *                            wrote them and why (health.c)
 *   rejected(run, key, reason) the staged changes of the newest run that
 *                            the destination rejected (rx-push said so
 *                            with {"$rx":"rejected"}): answered, not
 *                            applied; they stay staged
 *   totals(name, value)      the counts of runs dropped from the history
 *                            (--keep-runs), so that counters never fall
 *   meta(name, value)        the column set of the last delivered run, a
 *                            commit process waiting for its run, the
 *                            seed of the fingerprints (raw_seed), the row
 *                            dictionary and its SHA-256 (row_dict,
 *                            row_dict_sum), and the state's own id
 *                            (state_id: every change names it and its run,
 *                            "run":"<state_id>.<run>", and an ack counts
 *                            only for the state and run it names)
 *
 * PRAGMA application_id marks the file as ours; PRAGMA user_version is the
 * schema version.  Version 1 had no fingerprints; version 2 no state id
 * nor dictionary checksum; version 3 no destination ids; version 4 no
 * run_errors, rejected, totals nor runs.rejected; opening an older file
 * upgrades it in place.
 */
#include "diff.h"

#include <errno.h>
#include <fcntl.h>
#include <lz4.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define APPLICATION_ID 0x72786466 /* "rxdf" */
#define SCHEMA_VERSION 5

/* What operating a sync needs (health.c): version 5 */
#define OPS_SCHEMA \
	"CREATE TABLE IF NOT EXISTS run_errors(run INTEGER NOT NULL, stage TEXT NOT NULL, reason TEXT NOT NULL," \
	" count INTEGER NOT NULL, PRIMARY KEY(run, stage, reason)) WITHOUT ROWID;" \
	"CREATE TABLE IF NOT EXISTS rejected(run INTEGER NOT NULL, key TEXT NOT NULL, reason TEXT NOT NULL," \
	" PRIMARY KEY(run, key)) WITHOUT ROWID;" \
	"CREATE TABLE IF NOT EXISTS totals(name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;"

static const char schema[] =
	"CREATE TABLE meta(name TEXT PRIMARY KEY, value) WITHOUT ROWID;"
	"CREATE TABLE snapshot(key TEXT PRIMARY KEY, hash BLOB NOT NULL, raw BLOB) WITHOUT ROWID;"
	"CREATE TABLE snapshot_row(key TEXT PRIMARY KEY, row BLOB NOT NULL, id TEXT) WITHOUT ROWID;"
	"CREATE TABLE staged(key TEXT PRIMARY KEY, run INTEGER NOT NULL, op TEXT NOT NULL,"
	" hash BLOB NOT NULL, action INTEGER NOT NULL, row BLOB NOT NULL, raw BLOB, id TEXT) WITHOUT ROWID;"
	"CREATE TABLE uncertain(key TEXT PRIMARY KEY, hash BLOB NOT NULL, row BLOB NOT NULL, id TEXT) WITHOUT ROWID;"
	"CREATE TABLE runs(id INTEGER PRIMARY KEY, started TEXT NOT NULL, staged TEXT, ended TEXT,"
	" mode TEXT, shard TEXT, pid INTEGER, pid_start INTEGER, committer INTEGER, committer_start INTEGER,"
	" columns TEXT, rows INTEGER DEFAULT 0, inserts INTEGER DEFAULT 0, updates INTEGER DEFAULT 0,"
	" deletes INTEGER DEFAULT 0, unchanged INTEGER DEFAULT 0, invalid INTEGER DEFAULT 0,"
	" acked INTEGER DEFAULT 0, ignored INTEGER DEFAULT 0, not_acked INTEGER DEFAULT 0,"
	" status TEXT NOT NULL, rejected INTEGER DEFAULT 0);"
	OPS_SCHEMA
	"INSERT INTO meta(name, value) VALUES('raw_seed', random());"
	"INSERT INTO meta(name, value) VALUES('state_id', lower(hex(randomblob(8))));"
	"PRAGMA application_id = 1920492646;"
	"PRAGMA user_version = 5;";


/* Version 1 to 2: fingerprints, computed for the rows already delivered. */
static int upgrade_1(sqlite3 *db, char *err, size_t errlen)
{
	sqlite3_stmt *rows = NULL, *put = NULL;
	rx_buf row = {0}, dict = {0};
	uint64_t seed;
	unsigned char raw[DIFF_RAW_LEN];
	int rc = -1, s;

	if (rx_diff_exec(db,
			 "ALTER TABLE snapshot ADD COLUMN raw BLOB;"
			 "ALTER TABLE staged ADD COLUMN raw BLOB;"
			 "INSERT OR REPLACE INTO meta(name, value) VALUES('raw_seed', random());",
			 err, errlen) < 0 ||
	    rx_diff_seed(db, &seed, err, errlen) < 0 || rx_diff_dict_load(db, &dict, err, errlen) < 0)
		goto done;
	if (sqlite3_prepare_v2(db, "SELECT key, row FROM snapshot_row", -1, &rows, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(db, "UPDATE snapshot SET raw = ? WHERE key = ?", -1, &put, NULL) != SQLITE_OK)
		goto sqlerr;
	while ((s = sqlite3_step(rows)) == SQLITE_ROW) {
		if (rx_diff_unpack(&dict, sqlite3_column_blob(rows, 1), (size_t)sqlite3_column_bytes(rows, 1), &row) < 0)
			continue; /* damaged: no fingerprint, the hash decides */
		rx_diff_fingerprint(row.data, row.len, seed, raw);
		sqlite3_bind_blob(put, 1, raw, DIFF_RAW_LEN, SQLITE_STATIC);
		sqlite3_bind_value(put, 2, sqlite3_column_value(rows, 0));
		if (sqlite3_step(put) != SQLITE_DONE)
			goto sqlerr;
		sqlite3_reset(put);
	}
	if (s != SQLITE_DONE)
		goto sqlerr;
	if (rx_diff_exec(db, "PRAGMA user_version = 2", err, errlen) < 0)
		goto done;
	rc = 0;
	goto done;
sqlerr:
	snprintf(err, errlen, "%s", sqlite3_errmsg(db));
done:
	sqlite3_finalize(rows);
	sqlite3_finalize(put);
	rx_buf_free(&row);
	rx_buf_free(&dict);
	return rc;
}

/* Version 2 to 3: the state's id, and the checksum of its dictionary. */
static int upgrade_2(sqlite3 *db, char *err, size_t errlen)
{
	rx_buf dict = {0};
	int rc = -1;

	if (rx_diff_exec(db, "INSERT OR IGNORE INTO meta(name, value) VALUES('state_id', lower(hex(randomblob(8))))",
			 err, errlen) < 0)
		goto done;
	sqlite3_stmt *st = NULL;
	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = 'row_dict'", -1, &st, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
		goto done;
	}
	if (sqlite3_step(st) == SQLITE_ROW)
		rx_buf_put(&dict, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
	sqlite3_finalize(st);
	if (dict.len > 0 && rx_diff_dict_save(db, &dict, err, errlen) < 0)
		goto done;
	rc = rx_diff_exec(db, "PRAGMA user_version = 3", err, errlen);
done:
	rx_buf_free(&dict);
	return rc;
}

/* Version 3 to 4: the destination's id of each record. */
static int upgrade_3(sqlite3 *db, char *err, size_t errlen)
{
	return rx_diff_exec(db,
			    "ALTER TABLE snapshot_row ADD COLUMN id TEXT;"
			    "ALTER TABLE staged ADD COLUMN id TEXT;"
			    "ALTER TABLE uncertain ADD COLUMN id TEXT;"
			    "PRAGMA user_version = 4;",
			    err, errlen);
}

/* Version 4 to 5: dead letters by reason, rejected changes, totals. */
static int upgrade_4(sqlite3 *db, char *err, size_t errlen)
{
	long long has = 0;

	if (rx_diff_pragma_int(db, "SELECT count(*) FROM pragma_table_info('runs') WHERE name = 'rejected'", &has, err,
			       errlen) < 0 ||
	    (has == 0 && rx_diff_exec(db, "ALTER TABLE runs ADD COLUMN rejected INTEGER DEFAULT 0", err, errlen) < 0))
		return -1;
	return rx_diff_exec(db, OPS_SCHEMA "PRAGMA user_version = 5", err, errlen);
}

int rx_diff_state_id(sqlite3 *db, char id[17], char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, "SELECT value FROM meta WHERE name = 'state_id'", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW && sqlite3_column_bytes(st, 0) == 16) {
		memcpy(id, sqlite3_column_text(st, 0), 16);
		id[16] = '\0';
		rc = 0;
	} else {
		snprintf(err, errlen, "the state has no id (meta state_id)");
	}
	sqlite3_finalize(st);
	return rc;
}

int rx_diff_seed(sqlite3 *db, uint64_t *seed, char *err, size_t errlen)
{
	long long v = 0;

	if (rx_diff_pragma_int(db, "SELECT value FROM meta WHERE name = 'raw_seed'", &v, err, errlen) < 0) {
		snprintf(err, errlen, "the state has no fingerprint seed");
		return -1;
	}
	*seed = (uint64_t)v;
	return 0;
}

int rx_diff_exec(sqlite3 *db, const char *sql, char *err, size_t errlen)
{
	char *msg = NULL;

	if (sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		snprintf(err, errlen, "%s", msg ? msg : sqlite3_errmsg(db));
		sqlite3_free(msg);
		return -1;
	}
	return 0;
}

int rx_diff_pragma_int(sqlite3 *db, const char *sql, long long *out, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		goto done;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto done;
	*out = sqlite3_column_int64(st, 0);
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/* Make a new state file whole before it appears under its name: built
 * beside it (0600, WAL, schema) and then linked into place, so that the
 * two ends of a first-run pipeline, which open it at the same moment,
 * find either no file or a complete one.  When another process linked
 * its own first, that one is used and ours is dropped. */
static int create_state(const char *path, char *err, size_t errlen)
{
	char tmp[4096];
	sqlite3 *db = NULL;
	int fd, rc = -1;

	snprintf(tmp, sizeof tmp, "%s.new-%ld", path, (long)getpid());
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600); /* SQLite would use 0644 */
	if (fd < 0) {
		snprintf(err, errlen, "cannot create state '%s': %s", path, strerror(errno));
		return -1;
	}
	close(fd);
	if (sqlite3_open_v2(tmp, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot create state '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	if (rx_diff_exec(db, "PRAGMA journal_mode=WAL; BEGIN", err, errlen) < 0 ||
	    rx_diff_exec(db, schema, err, errlen) < 0 || rx_diff_exec(db, "COMMIT", err, errlen) < 0)
		goto done;
	sqlite3_close(db);
	db = NULL;
	if (link(tmp, path) < 0 && errno != EEXIST) {
		snprintf(err, errlen, "cannot create state '%s': %s", path, strerror(errno));
		goto done;
	}
	rc = 0;
done:
	sqlite3_close(db);
	unlink(tmp);
	return rc;
}

int rx_diff_state_open(const char *path, int create, sqlite3 **out, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	struct stat sb;
	long long appid = 0, version = 0, tables = 0;
	int rc = -1, fresh = 0;

	*out = NULL;
	if (stat(path, &sb) < 0 && errno == ENOENT) {
		if (!create) {
			snprintf(err, errlen, "state '%s' does not exist (a stage run creates it)", path);
			return -1;
		}
		if (create_state(path, err, errlen) < 0)
			return -1;
	} else if (sb.st_size == 0) {
		fresh = 1; /* an empty file someone made for us: initialise in place */
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK) {
		snprintf(err, errlen, "cannot open state '%s': %s", path, db ? sqlite3_errmsg(db) : "out of memory");
		goto done;
	}
	sqlite3_busy_timeout(db, 60000);
	/* one read transaction, so that a file another process is creating
	 * right now (both ends of a first-run pipeline open it at once) is
	 * seen either empty or complete, never half-made */
	if (rx_diff_exec(db, "BEGIN", err, errlen) < 0 ||
	    rx_diff_pragma_int(db, "PRAGMA application_id", &appid, err, errlen) < 0 ||
	    rx_diff_pragma_int(db, "PRAGMA user_version", &version, err, errlen) < 0 ||
	    rx_diff_pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err, errlen) < 0 ||
	    rx_diff_exec(db, "COMMIT", err, errlen) < 0) {
		char why[256];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "'%s' is not an rx-diff state file (%s)", path, why);
		goto done;
	}
	if (tables == 0 && appid == 0) {
		fresh = 1;
	} else if (appid != APPLICATION_ID) {
		snprintf(err, errlen, "'%s' is not an rx-diff state file", path);
		goto done;
	} else if (version > SCHEMA_VERSION) {
		snprintf(err, errlen, "state '%s' has schema version %lld, newer than this rx-diff knows (%d): upgrade rx",
			 path, version, SCHEMA_VERSION);
		goto done;
	}
	if (rx_diff_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-16384;"
			     "PRAGMA temp_store=FILE;",
			 err, errlen) < 0)
		goto done;
	if (!fresh && version < SCHEMA_VERSION) {
		/* upgrade, once: another process may be doing it right now */
		if (rx_diff_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0 ||
		    rx_diff_pragma_int(db, "PRAGMA user_version", &version, err, errlen) < 0)
			goto done;
		long long was = version;
		if ((version == 1 && upgrade_1(db, err, errlen) < 0) ||
		    (version >= 1 && version <= 2 && upgrade_2(db, err, errlen) < 0) ||
		    (version >= 1 && version <= 3 && upgrade_3(db, err, errlen) < 0) ||
		    (version >= 1 && version <= 4 && upgrade_4(db, err, errlen) < 0)) {
			char why[256];
			snprintf(why, sizeof why, "%s", err);
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			snprintf(err, errlen, "cannot upgrade state '%s' to schema version %d: %s", path, SCHEMA_VERSION,
				 why);
			goto done;
		}
		if (rx_diff_exec(db, "COMMIT", err, errlen) < 0)
			goto done;
		if (was >= 1 && was < SCHEMA_VERSION)
			rx_diag("upgraded state '%s' from schema version %lld to %d (%s)", path, was, SCHEMA_VERSION,
				was == 1   ? "fingerprints of the delivered rows, the state's id, destination ids, dead letters by reason"
				: was == 2 ? "the state's id, destination ids, dead letters by reason"
				: was == 3 ? "destination ids, dead letters by reason"
					   : "dead letters by reason, totals");
	}
	if (fresh) {
		if (rx_diff_exec(db, "BEGIN IMMEDIATE", err, errlen) < 0)
			goto done;
		if (rx_diff_pragma_int(db, "SELECT count(*) FROM sqlite_master", &tables, err, errlen) < 0)
			goto done;
		/* another process may have created it meanwhile */
		if (tables == 0 && rx_diff_exec(db, schema, err, errlen) < 0) {
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
			goto done;
		}
		if (rx_diff_exec(db, "COMMIT", err, errlen) < 0)
			goto done;
	}
	rc = 0;
done:
	if (rc < 0)
		sqlite3_close(db);
	else
		*out = db;
	return rc;
}

long long rx_diff_proc_start(long long pid)
{
	char path[64], buf[1024];
	FILE *f;
	size_t n;

	if (pid <= 0)
		return 0;
	snprintf(path, sizeof path, "/proc/%lld/stat", pid);
	f = fopen(path, "r");
	if (f == NULL) {
		/* no /proc: fall back to kill(pid, 0), start time unknown (1) */
		if (kill((pid_t)pid, 0) == 0 || errno == EPERM)
			return access("/proc/self/stat", R_OK) == 0 ? 0 : 1;
		return 0;
	}
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* field 22, counted after the ')' that ends the command name */
	char *p = strrchr(buf, ')');
	if (p == NULL)
		return 0;
	char state = p[2];
	if (state == 'Z' || state == 'X')
		return 0; /* a zombie has finished its work */
	int field = 2;
	for (p++; *p && field < 22; p++)
		if (*p == ' ')
			field++;
	return atoll(p) + 1; /* never 0 for a live process */
}

int rx_diff_alive(long long pid, long long start)
{
	long long now = rx_diff_proc_start(pid);

	if (now == 0)
		return 0;
	return start == 0 || now == start; /* a reused pid is not the holder */
}

int rx_diff_open_run(sqlite3 *db, diff_run *run, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	memset(run, 0, sizeof *run);
	if (sqlite3_prepare_v2(db,
			       "SELECT id, pid, pid_start, committer, committer_start, started, status"
			       " FROM runs WHERE ended IS NULL ORDER BY id DESC LIMIT 1",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	int s = sqlite3_step(st);
	if (s == SQLITE_DONE) {
		rc = 0;
		goto done;
	}
	if (s != SQLITE_ROW)
		goto done;
	run->id = sqlite3_column_int64(st, 0);
	run->pid = sqlite3_column_int64(st, 1);
	run->pid_start = sqlite3_column_int64(st, 2);
	run->committer = sqlite3_column_int64(st, 3);
	run->committer_start = sqlite3_column_int64(st, 4);
	snprintf(run->started, sizeof run->started, "%s", (const char *)sqlite3_column_text(st, 5));
	snprintf(run->status, sizeof run->status, "%s", (const char *)sqlite3_column_text(st, 6));
	rc = 1;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

/*
 * A packed row: the length of the raw text (4 bytes, little-endian), then
 * an LZ4 block.  Bit 31 of the length says the block was compressed
 * against the state's dictionary (meta 'row_dict': the first rows a run
 * ever staged): a single row of a few hundred bytes hardly compresses on
 * its own (92%), but against rows of the same model it comes to about a
 * quarter.  Rows packed before the state had a dictionary decode without.
 */
#define PACK_DICT 0x80000000u

/* The calling thread's LZ4 state with the dictionary loaded: loading
 * costs more than compressing a row, so it is done once and copied. */
static _Thread_local struct {
	LZ4_stream_t base, work;
	const rx_buf *dict; /* loaded from here, */
	size_t len;         /* this long */
} lz;

void rx_diff_pack(const rx_buf *dict, const char *raw, size_t n, rx_buf *out)
{
	int bound = LZ4_compressBound((int)n), z;
	uint32_t head = (uint32_t)n;

	rx_buf_reset(out);
	rx_buf_reserve(out, (size_t)bound + 4);
	if (dict != NULL && dict->len > 0) {
		if (lz.dict != dict || lz.len != dict->len) {
			LZ4_initStream(&lz.base, sizeof lz.base);
			LZ4_loadDict(&lz.base, dict->data, (int)dict->len);
			lz.dict = dict;
			lz.len = dict->len;
		}
		memcpy(&lz.work, &lz.base, sizeof lz.work);
		z = LZ4_compress_fast_continue(&lz.work, raw, out->data + 4, (int)n, bound, 1);
		head |= PACK_DICT;
	} else {
		z = LZ4_compress_default(raw, out->data + 4, (int)n, bound);
	}
	unsigned char *p = (unsigned char *)out->data;
	p[0] = (unsigned char)(head & 0xff);
	p[1] = (unsigned char)(head >> 8 & 0xff);
	p[2] = (unsigned char)(head >> 16 & 0xff);
	p[3] = (unsigned char)(head >> 24 & 0xff);
	out->len = 4 + (size_t)(z > 0 ? z : 0);
}

int rx_diff_unpack(const rx_buf *dict, const void *blob, size_t n, rx_buf *out)
{
	const unsigned char *p = blob;
	int got;

	rx_buf_reset(out);
	if (n < 4)
		return -1;
	uint32_t head = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
	size_t raw = head & ~PACK_DICT;
	rx_buf_reserve(out, raw + 1);
	if (head & PACK_DICT) {
		if (dict == NULL || dict->len == 0)
			return -1;
		got = LZ4_decompress_safe_usingDict((const char *)p + 4, out->data, (int)(n - 4), (int)raw, dict->data,
						    (int)dict->len);
	} else {
		got = LZ4_decompress_safe((const char *)p + 4, out->data, (int)(n - 4), (int)raw);
	}
	if (got < 0 || (size_t)got != raw)
		return -1;
	out->len = raw;
	out->data[raw] = '\0';
	return 0;
}

int rx_diff_dict_load(sqlite3 *db, rx_buf *dict, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1, s;

	rx_buf_reset(dict);
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT value FROM meta WHERE name = 'row_dict'),"
			       " (SELECT value FROM meta WHERE name = 'row_dict_sum')",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	s = sqlite3_step(st);
	if (s != SQLITE_ROW)
		goto done;
	if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
		char sum[65];
		rx_buf_put(dict, sqlite3_column_blob(st, 0), (size_t)sqlite3_column_bytes(st, 0));
		rx_sha256_hex(dict->data, dict->len, sum);
		const char *want = (const char *)sqlite3_column_text(st, 1);
		/* (no checksum: a state of version 2 or older, being upgraded) */
		if (want != NULL && strcmp(want, sum) != 0) {
			/* every row packed against it would unpack to garbage, and a
			 * delete carry that garbage to the destination */
			snprintf(err, errlen,
				 "the state's row dictionary is damaged (its SHA-256 does not match): its rows cannot be "
				 "trusted; restore the state from a backup, or start a new one (--full-resync)");
			sqlite3_finalize(st);
			return -1;
		}
	}
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

int rx_diff_dict_save(sqlite3 *db, const rx_buf *dict, char *err, size_t errlen)
{
	sqlite3_stmt *st = NULL;
	int rc = -1;

	char sum[65];

	rx_sha256_hex(dict->data, dict->len, sum);
	if (sqlite3_prepare_v2(db, "INSERT OR REPLACE INTO meta(name, value) VALUES('row_dict', ?), ('row_dict_sum', ?)",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	sqlite3_bind_blob(st, 1, dict->data, (int)dict->len, SQLITE_STATIC);
	sqlite3_bind_text(st, 2, sum, 64, SQLITE_STATIC);
	if (sqlite3_step(st) != SQLITE_DONE)
		goto done;
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}

static void put_column(rx_buf *b, sqlite3_stmt *st, int i)
{
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_NULL:
		rx_buf_puts(b, "null");
		break;
	case SQLITE_INTEGER:
		rx_buf_printf(b, "%lld", sqlite3_column_int64(st, i));
		break;
	default: {
		const char *s = (const char *)sqlite3_column_text(st, i);
		rx_json_put_string(b, s, (size_t)sqlite3_column_bytes(st, i));
	}
	}
}

int rx_diff_status(sqlite3 *db, rx_writer *w, char *err, size_t errlen)
{
	static const char *const cols[] = {"run", "started", "staged", "ended", "mode", "shard", "rows", "inserts",
					   "updates", "deletes", "unchanged", "invalid", "acked", "ignored",
					   "not_acked", "status"};
	sqlite3_stmt *st = NULL;
	int rc = -1, s;

	if (sqlite3_prepare_v2(db,
			       "SELECT id, started, staged, ended, mode, shard, rows, inserts, updates, deletes,"
			       " unchanged, invalid, acked, ignored, not_acked, status FROM runs ORDER BY id",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	while ((s = sqlite3_step(st)) == SQLITE_ROW) {
		rx_buf_putc(&w->buf, '{');
		for (int i = 0; i < 16; i++) {
			rx_buf_printf(&w->buf, "%s\"%s\":", i ? "," : "", cols[i]);
			put_column(&w->buf, st, i);
		}
		rx_buf_puts(&w->buf, "}\n");
		rx_writer_record(w);
	}
	if (s != SQLITE_DONE)
		goto done;
	sqlite3_finalize(st);
	st = NULL;
	/* freshness: the last run that delivered anything */
	if (sqlite3_prepare_v2(db,
			       "SELECT (SELECT count(*) FROM snapshot), (SELECT count(*) FROM staged),"
			       " (SELECT count(*) FROM uncertain),"
			       " last, CAST(round((julianday('now') - julianday(last)) * 86400) AS INTEGER),"
			       " (SELECT status FROM runs ORDER BY id DESC LIMIT 1)"
			       " FROM (SELECT coalesce((SELECT value FROM meta WHERE name = 'last_success'),"
			       "  (SELECT max(ended) FROM runs WHERE acked > 0 OR status = 'done')) AS last)",
			       -1, &st, NULL) != SQLITE_OK)
		goto done;
	if (sqlite3_step(st) != SQLITE_ROW)
		goto done;
	rx_buf_puts(&w->buf, "{\"snapshot_rows\":");
	put_column(&w->buf, st, 0);
	rx_buf_puts(&w->buf, ",\"staged\":");
	put_column(&w->buf, st, 1);
	rx_buf_puts(&w->buf, ",\"uncertain\":");
	put_column(&w->buf, st, 2);
	rx_buf_puts(&w->buf, ",\"last_commit\":");
	put_column(&w->buf, st, 3);
	rx_buf_puts(&w->buf, ",\"seconds_since_last_commit\":");
	put_column(&w->buf, st, 4);
	rx_buf_puts(&w->buf, ",\"last_status\":");
	put_column(&w->buf, st, 5);
	rx_buf_puts(&w->buf, "}\n");
	rx_writer_record(w);
	rc = 0;
done:
	if (rc < 0)
		snprintf(err, errlen, "%s", sqlite3_errmsg(db));
	sqlite3_finalize(st);
	return rc;
}
