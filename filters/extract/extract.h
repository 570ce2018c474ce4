/*
 * extract.h - rx-extract's sources.
 *
 * Each source reads its input and appends one JSON object per row to the
 * writer, record by record (rx_extract_row() after each), never holding
 * more than one row.  A source returns an exit status (RX_EXIT_*); on
 * failure it has already printed why.
 *
 * The end of the model is main()'s to mark: when the source returns
 * RX_EXIT_OK it writes the end record ({"$rx":"end","rows":N}, control.c)
 * as the last line, and never otherwise, so that a source that fails
 * midway, or a process killed midway, leaves a stream rx-diff knows is
 * cut short (it then sends no delete).  A source must therefore return
 * RX_EXIT_OK only once every row of its result has been written.
 */
#ifndef RX_EXTRACT_H
#define RX_EXTRACT_H

#include "rx.h"

typedef struct extract_options {
	const char *source;    /* file path, connection string, or URL */
	const char *query;     /* SQL, or NULL */
	const char *table;     /* table name, or NULL */
	char delimiter;        /* CSV field delimiter */
	int infer;             /* CSV: infer numbers, booleans, nulls */
	char **type_cols;      /* CSV --types: column names ... */
	char *type_kinds;      /* ... and their kinds: 'i' 'f' 'b' 's' 'j' */
	size_t ntypes;
	size_t max_line;       /* NDJSON line limit */
	char *key;             /* --key, for --shard */
	unsigned shard, nshards; /* --shard I/N, or 0/0 */
	/* the HTTP warehouses (http.h): NULL or 0 when not given */
	const char *base_url;  /* --base-url: instead of the service's own */
	const char *user;      /* Snowflake --user */
	const char *warehouse; /* Snowflake warehouse name, Databricks warehouse id */
	const char *role;      /* Snowflake --role */
	const char *database;  /* Snowflake --database */
	const char *catalog;   /* Databricks --catalog */
	const char *schema;    /* Snowflake, Databricks --schema */
	const char *location;  /* BigQuery --location */
	const char *credentials; /* BigQuery --credentials FILE */
	const char *disposition; /* Databricks: "EXTERNAL_LINKS" or "INLINE" */
	long timeout;          /* --timeout seconds */
	int retries;           /* --retries */
} extract_options;

/* Finish one row sitting at the end of out->buf (from `start`): apply the
 * shard filter, then let the writer flush if it wants to. */
void rx_extract_row(rx_writer *out, size_t start, const extract_options *o);

/* A source that passes on a stream of rows (--ndjson) reports what it
 * learnt of that stream's end: rows dead-lettered upstream, and whether
 * the stream was seen to end normally (complete 0: no end record is
 * written even if the source succeeds). */
void rx_extract_upstream(long long rejected, int complete);

/* Refuse a result whose columns cannot make a row: two of one name (a
 * join's "select *"), or one named "$rx".  0, or -1 with the message
 * printed, naming the columns. */
int rx_extract_check_columns(const char *source, const char *const *names, size_t n);

/* Append an integer, as a string when a double cannot hold it exactly. */
void rx_extract_put_int(rx_buf *b, long long v);
/* Append a JSON number text, as a string when a double cannot hold it. */
void rx_extract_put_number(rx_buf *b, const char *s, size_t n);

/* dbt.c: "SELECT * FROM <relation>" of a dbt model named in a manifest
 * (caller frees), or NULL with err. */
char *rx_extract_dbt_query(const char *manifest_path, const char *model, int postgres, char *err, size_t errlen);

int rx_extract_sqlite(const extract_options *o, rx_writer *out);
int rx_extract_csv(const extract_options *o, rx_writer *out);
int rx_extract_ndjson(const extract_options *o, rx_writer *out);
int rx_extract_postgres(const extract_options *o, rx_writer *out);
int rx_extract_mysql(const extract_options *o, rx_writer *out);
int rx_extract_snowflake(const extract_options *o, rx_writer *out);
int rx_extract_bigquery(const extract_options *o, rx_writer *out);
int rx_extract_databricks(const extract_options *o, rx_writer *out);
int rx_extract_clickhouse(const extract_options *o, rx_writer *out);

#endif
