/*
 * db_postgres.c - rx-push's PostgreSQL destination: not implemented yet.
 */
#include "db.h"

#include <stdio.h>

static rx_db *pg_open(const char *target, const char *table, char *const *keys, size_t nkeys, char *err,
		      size_t errlen)
{
	(void)target, (void)table, (void)keys, (void)nkeys;
	snprintf(err, errlen, "the postgres destination is not implemented yet");
	return NULL;
}

static int pg_apply(rx_db *db, const char *op, const rx_span *rows, size_t n, rx_db_result *results, char *err,
		    size_t errlen)
{
	(void)db, (void)op, (void)rows, (void)n, (void)results;
	snprintf(err, errlen, "the postgres destination is not implemented yet");
	return -1;
}

static void pg_close(rx_db *db)
{
	(void)db;
}

const rx_db_driver rx_db_postgres = {"postgres", pg_open, pg_apply, pg_close};
