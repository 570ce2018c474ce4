/*
 * db.h - rx-push's database destinations (SQLite, PostgreSQL, MySQL, Redis).
 *
 * A database destination is a driver, not an HTTP profile: the profile
 * names the driver ("driver": "sqlite", "postgres" or "mysql"), and rx-push hands
 * it whole batches.  Each batch is one transaction; inside it each record
 * is applied under its own savepoint (or, for mysql, as its own statement,
 * which InnoDB undoes alone), so a constraint violation on one record
 * dead-letters that record and the rest of the batch commits.
 *
 * The rows are the raw JSON text of each change's "row" member (objects).
 * A driver maps members to columns by name: strings as text, numbers as
 * their JSON text (a big number arrives as a string and stays exact),
 * true/false as booleans, null as NULL, arrays and objects as JSON text.
 * Beside each row comes the change's key (raw JSON), for a driver that
 * names its records by it (Redis: a key template such as customer:{key}).
 */
#ifndef RX_PUSH_DB_H
#define RX_PUSH_DB_H

#include <jv.h>

#include "rx.h"

typedef struct rx_db rx_db; /* a driver's connection: opaque */

typedef struct rx_db_result {
	int ok;             /* 1: applied (ack it); 0: rejected (dead-letter it) */
	char message[512];  /* why it was rejected, when ok == 0 */
} rx_db_result;

typedef struct rx_db_driver {
	const char *name; /* "sqlite", "postgres", "mysql", "redis" */
	int needs_table;  /* the run must name a table and key columns */
	/* Connect.  target: a file path (sqlite), a libpq conninfo
	 * (postgres; the password comes from $PGPASSWORD or ~/.pgpass, never
	 * from here), an rx MySQL conninfo (mysql, rxmysql.h; the password
	 * from $MYSQL_PWD or an option file) or a Redis URL.  table: the table written (redis: the
	 * key template, or NULL).  keys: the conflict target columns (upsert,
	 * update and delete find a record by them).  profile: the profile's
	 * JSON object (borrowed), where a driver finds its own settings. */
	rx_db *(*open)(const char *target, const char *table, char *const *keys, size_t nkeys, jv profile,
		       char *err, size_t errlen);
	/* Apply one batch of n records of one op ("insert", "update",
	 * "upsert", "delete") in one transaction, filling results[0..n).
	 * ids[i] is record i's change key (raw JSON), rows[i] its row.
	 * Returns 0 when the transaction committed (some records may still
	 * be rejected), or -1 when the batch as a whole failed (connection
	 * lost, database locked): nothing is committed, err says why, and the
	 * caller retries or leaves the records unacked. */
	int (*apply)(rx_db *db, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		     rx_db_result *results, char *err, size_t errlen);
	void (*close)(rx_db *db);
	/* Optional (NULL: apply only): apply in two halves, so that the
	 * client prepares the next batch while the server runs this one.
	 * send starts a batch as apply would (ids, rows and results stay
	 * the caller's, untouched, until its finish): 0, or -1 with err when
	 * nothing of it could be sent (it is then not in flight).  finish
	 * completes the oldest batch sent and not finished, filling its
	 * results; it returns as apply does.  Up to depth batches are in
	 * flight at once (the caller finishes the oldest before sending one
	 * more), each still its own transaction, run in the order sent, and
	 * the caller never has two batches with one key in flight.  A batch
	 * that failed (-1) may have been followed by later ones that
	 * committed; the caller retries it after them. */
	size_t depth;
	int (*send)(rx_db *db, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		    rx_db_result *results, char *err, size_t errlen);
	int (*finish)(rx_db *db, char *err, size_t errlen);
} rx_db_driver;

extern const rx_db_driver rx_db_sqlite;   /* db_sqlite.c */
extern const rx_db_driver rx_db_postgres; /* db_postgres.c */
extern const rx_db_driver rx_db_mysql;    /* db_mysql.c */
extern const rx_db_driver rx_db_redis;    /* db_redis.c */

/* The driver called name, or NULL (db.c keeps the list). */
const rx_db_driver *rx_db_find(const char *name);

#endif
