/*
 * my-apply.c - drive db_mysql.c's driver directly, for t/7150: the
 * driver is tested on its own, before and beside rx-push's engine.
 *
 *   my-apply CONNINFO TABLE KEY[,KEY] OP [BATCH] <rows.ndjson
 *
 * Reads one row (a JSON object) a line and applies them BATCH at a time
 * (default: all in one).  Prints one line per record, "ok" or "rejected:
 * MESSAGE", and "batch failed: MESSAGE" for a batch that failed whole
 * (exit 1 then).
 */
#include "db.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int flush(void *db, const char *op, rx_span *rows, size_t n, rx_db_result *results)
{
	char err[512];

	if (n == 0)
		return 0;
	if (rx_db_mysql.apply(db, op, NULL, rows, n, results, err, sizeof err) < 0) {
		printf("batch failed: %s\n", err);
		fflush(stdout);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		if (results[i].ok)
			printf("ok\n");
		else
			printf("rejected: %s\n", results[i].message);
	}
	fflush(stdout); /* a test may wait for a batch's lines */
	return 0;
}

int main(int argc, char **argv)
{
	char err[512], *keys[8], *line = NULL;
	size_t nkeys = 0, cap = 0, batch, n = 0;
	ssize_t len;
	int status = 0;

	if (argc < 5) {
		fprintf(stderr, "usage: my-apply CONNINFO TABLE KEYS OP [BATCH]\n");
		return 2;
	}
	signal(SIGPIPE, SIG_IGN); /* as rx-push: a write to a server gone is an error, not a death */
	for (char *k = strtok(argv[3], ","); k && nkeys < 8; k = strtok(NULL, ","))
		keys[nkeys++] = k;
	batch = argc > 5 ? (size_t)atol(argv[5]) : 100000;
	rx_db *db = rx_db_mysql.open(argv[1], argv[2], keys, nkeys, jv_null(), err, sizeof err);
	if (db == NULL) {
		printf("open failed: %s\n", err);
		return 1;
	}
	char **texts = calloc(batch, sizeof *texts);
	rx_span *rows = calloc(batch, sizeof *rows);
	rx_db_result *results = calloc(batch, sizeof *results);
	while ((len = getline(&line, &cap, stdin)) > 0) {
		if (line[len - 1] == '\n')
			line[--len] = '\0';
		texts[n] = strdup(line);
		rows[n] = rx_span_of(texts[n], (size_t)len);
		if (++n == batch) {
			if (flush(db, argv[4], rows, n, results) < 0)
				status = 1;
			for (size_t i = 0; i < n; i++)
				free(texts[i]);
			n = 0;
		}
	}
	if (flush(db, argv[4], rows, n, results) < 0)
		status = 1;
	for (size_t i = 0; i < n; i++)
		free(texts[i]);
	rx_db_mysql.close(db);
	free(texts);
	free(rows);
	free(results);
	free(line);
	return status;
}
