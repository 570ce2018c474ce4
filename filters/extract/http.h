/*
 * http.h - what rx-extract's HTTP warehouse sources (snowflake.c,
 * bigquery.c, databricks.c) share, written once:
 *
 *  - http.c: one blocking libcurl handle with retries.  A request is
 *    retried, with exponential backoff and jitter (or the server's
 *    Retry-After), on a transport failure and on the replies the engine's
 *    classify callback calls transient or throttled, at most `retries`
 *    times.  gzip and deflate are asked for and decoded.  SIGINT and
 *    SIGTERM abort the transfer in flight and every wait, so a source can
 *    cancel its statement and stop.  TLS is always verified; plain http
 *    is accepted only for a loopback host (a test server, a local proxy).
 *  - walk.c: stepping through JSON that rx_json_validate() accepted,
 *    without building values (a page of rows is walked in place), and
 *    the cell conversions the three engines have in common: numbers kept
 *    exact (DESIGN.md "Numbers"), embedded JSON, epoch times to ISO 8601.
 *
 * A source holds at most two pages (partition, page, chunk) in memory:
 * the one it writes, the body of the current reply in rx_http.body, and
 * the next, downloading meanwhile on a second handle (rx_http_start).
 */
#ifndef RX_EXTRACT_HTTP_H
#define RX_EXTRACT_HTTP_H

#include "extract.h"

#include <curl/curl.h>
#include <pthread.h>
#include <signal.h>

/* ---- the client (http.c) ---- */

/* How the engine takes a reply (its classify callback). */
enum {
	RX_HTTP_FINAL,     /* a success or an error to report: no retry */
	RX_HTTP_TRANSIENT, /* the service failed for now (5xx): retry */
	RX_HTTP_THROTTLED, /* slow down (429, a rate-limit reason): retry */
};

typedef struct rx_http {
	CURL *curl;
	const char *engine;        /* "Snowflake": names the service in messages */
	int (*classify)(const struct rx_http *h); /* RX_HTTP_*; NULL: 429 throttled, 502-504 transient */
	int retries;               /* retries after the first attempt */
	long stall_seconds;        /* a transfer that receives nothing this long fails */
	size_t max_body;           /* a larger reply is an error (bounded memory) */
	int no_interrupt;          /* this request is not stopped by a signal (a cancel) */
	const char *retry_url;     /* the URL of attempts after the first, or NULL: the same */
	/* the last reply */
	long status;               /* its HTTP status; 0: no reply */
	rx_buf body;               /* its body, decoded, NUL-terminated */
	double retry_after;        /* its Retry-After, in seconds; -1: none */
	int gave_up;               /* 0, or RX_HTTP_TRANSIENT/THROTTLED: still that after every retry */
	int attempts;              /* attempts the last request took */
	char error[CURL_ERROR_SIZE + 160]; /* why there was no reply */
	/* a request in a thread of its own (rx_http_start) */
	pthread_t thread;
	int in_flight;             /* started, not yet finished */
	volatile sig_atomic_t abandon; /* stop the transfer in flight: nobody wants it */
	int async_rc;              /* what rx_http_request returned */
	const char *async_method;
	char *async_url;           /* owned copy */
	const struct curl_slist *async_headers; /* the caller's: kept alive until finished */
} rx_http;

/* Set up a client (once per source); also catches SIGINT and SIGTERM. */
void rx_http_init(rx_http *h, const char *engine, int retries);
void rx_http_free(rx_http *h);
/* Send a request, retrying as above.  0: a reply is in h (any status; see
 * gave_up), -1: no reply (h->error says why; rx_http_interrupted() tells
 * a signal).  body may be NULL for a GET; method "GET" or "POST". */
int rx_http_request(rx_http *h, const char *method, const char *url, const struct curl_slist *headers,
		    const char *body, size_t n);
/* The same request in a thread, so that the next page downloads while
 * this one is written: rx_http_finish() waits for it and returns what
 * rx_http_request() would have.  h is not to be touched in between, nor
 * the headers freed. */
void rx_http_start(rx_http *h, const char *method, const char *url, const struct curl_slist *headers);
int rx_http_finish(rx_http *h);
/* Exchange two clients' state (the prefetched page becomes the current). */
void rx_http_swap(rx_http *a, rx_http *b);
/* The signal that asked us to stop (SIGINT, SIGTERM), or 0. */
int rx_http_interrupted(void);
/* Sleep, or less when a signal comes: 0, or -1 when interrupted. */
int rx_http_sleep(long ms);
/* Is url https, or http to a loopback host?  0, or -1 with err. */
int rx_http_check_url(const char *url, char *err, size_t errlen);
/* Print the failure of a request (no reply, or a reply the engine could
 * not use) as one line: "ENGINE: WHAT: HTTP 503 (after 6 attempts): MSG".
 * msg is the engine's message from the body, or NULL.  Returns the exit
 * status: 75 (try again later) when the service was down or throttling
 * beyond the retries, or interrupted; 1 otherwise. */
int rx_http_fail(const rx_http *h, const char *what, const char *msg);
/* Append a random (version 4) UUID. */
void rx_http_put_uuid(rx_buf *b);
/* Append s percent-encoded for a URL query or form. */
void rx_http_put_escaped(rx_buf *b, const char *s);
/* A header list: "Name: value" lines (each copied), (char *)NULL ends it. */
struct curl_slist *rx_http_headers(const char *first, ...);

/* ---- what the sources share (http.c) ---- */

/* How a source quotes a --table name. */
enum {
	RX_TABLE_IDENTIFIER, /* Snowflake: IDENTIFIER('db.schema.t'), resolved as written unquoted */
	RX_TABLE_PATH,       /* BigQuery: `project.dataset.t`, one quoted path */
	RX_TABLE_PARTS,      /* Databricks: `catalog`.`schema`.`t`, each part quoted */
};
/* The model's SQL: the query without trailing ';' and white space, or
 * every row of the table.  0, or -1 when it is empty (message printed). */
int rx_http_model_sql(const extract_options *o, int table_style, rx_buf *sql);
/* The one --key column the shard filter can be pushed down for, or NULL
 * (no --shard, or a composite key: filtered on this side only). */
const char *rx_http_shard_key(const extract_options *o);
/* Wrap sql as the engine's "SELECT * FROM (sql) AS rx_q" + tail. */
void rx_http_wrap_sql(rx_buf *out, const char *sql, const char *tail);
/* The last reply as a JSON object, validated in one pass, its top-level
 * members in top: 0, or -1 after "ENGINE: WHAT: the reply is not a JSON
 * object: ...". */
int rx_http_reply_object(const rx_http *h, rx_members *top, const char *what);
/* Appends cell i of a row as a record's field: "name":value. */
typedef void rx_http_put_field(void *ctx, rx_buf *b, size_t i, rx_span cell);
/* Write the rows of data, an array of rows that are each an array of
 * exactly ncols cells (how Snowflake and Databricks send a result), as
 * records, walking each row as it is entered.  before is the count of
 * rows already written (for messages), *count gets this page's.
 * RX_EXIT_OK, or an exit status after a message naming the row. */
int rx_http_write_rows(rx_http *h, rx_span data, size_t ncols, rx_http_put_field *put, void *ctx,
		       long long before, long long *count, const extract_options *o, rx_writer *out);

/* ---- JSON walking and cells (walk.c) ---- */

/* A cursor over an array's elements or an object's members.  Only for
 * text rx_json_validate() (or rx_json_scan_object) accepted.  A cursor
 * finds the end of its container by its closing bracket, so a container
 * can be walked as it is entered, in one pass (rx_walk_enter). */
typedef struct rx_walk {
	const char *p;   /* next byte */
	const char *end; /* the end of the text it may read */
} rx_walk;

/* Start on the array or object v: 0, or -1 when v is neither. */
int rx_walk_start(rx_walk *w, rx_span v);
/* The next element of an array: 1, or 0 at its end (w is then past it). */
int rx_walk_next(rx_walk *w, rx_span *value);
/* The next member of an object (the raw name, with quotes): 1, or 0. */
int rx_walk_next_member(rx_walk *w, rx_span *name, rx_span *value);
/* Only the next member's name: w is left on its value, to be taken with
 * rx_walk_next() or rx_walk_enter().  1, or 0 at the end. */
int rx_walk_next_name(rx_walk *w, rx_span *name);
/* Step into the next value when it is an array or object: 1 with inner on
 * its contents; 0 at w's end; -1 when it is a scalar (w is left on it).
 * Walk inner to its end, then rx_walk_leave(w, &inner) goes on after it. */
int rx_walk_enter(rx_walk *w, rx_walk *inner);
void rx_walk_leave(rx_walk *w, const rx_walk *inner);
/* Skip the rest of w's container, past its closing bracket. */
void rx_walk_finish(rx_walk *w);
/* A top-level member that rx_json_scan_object() found: 1, or 0. */
int rx_walk_member(const rx_members *ms, const char *name, rx_span *value);
/* A member of an object by its plain name: 1 (value set), or 0. */
int rx_walk_get(rx_span object, const char *name, rx_span *value);
/* The text of a string value (a span inside the quotes, or decoded into
 * scratch when it has escapes); any other value's raw text. */
rx_span rx_walk_text(rx_span v, rx_buf *scratch);
/* A top-level string member as a NUL-terminated copy (caller frees), or
 * NULL when it is missing or not a string. */
char *rx_walk_member_strdup(const rx_members *ms, const char *name, rx_buf *scratch);
/* A member's text as a NUL-terminated copy (caller frees), or NULL when
 * it is missing or null. */
char *rx_walk_strdup(rx_span object, const char *name);
/* A member as an integer (a number or a numeric string): 1, or 0. */
int rx_walk_int(rx_span object, const char *name, long long *out);
/* Is v the literal true? */
int rx_walk_true(rx_span object, const char *name);
/* Count an array's elements (-1 when v is not an array). */
long rx_walk_count(rx_span v);

/* Cells: text (already unquoted) to JSON, appended to b. */
/* A decimal or integer: exact (a string when a double cannot hold it);
 * text that is not a JSON number (NaN, inf) becomes a string. */
void rx_cell_number(rx_buf *b, const char *s, size_t n);
/* A binary float: its text as a number; non-finite spellings as strings. */
void rx_cell_float(rx_buf *b, const char *s, size_t n);
/* true/false (any case) as booleans, anything else a string. */
void rx_cell_bool(rx_buf *b, const char *s, size_t n);
/* JSON text embedded, compact, with inexact numbers as strings; text
 * that is not JSON becomes a string. */
void rx_cell_json(rx_buf *b, const char *s, size_t n);
/* Days since 1970-01-01 as "YYYY-MM-DD". */
void rx_cell_days(rx_buf *b, const char *s, size_t n);
/* Epoch time as ISO 8601, computed exactly from the text (never through
 * a double): units 0 for decimal seconds ("1616173619.5", "-1.5",
 * "1.561017697269367E9"), 6 for integer microseconds.  zone: 'n' none
 * (a wall time), 'u' UTC ("+00:00"), 'o' the offset of offset_minutes,
 * which is added to the instant to give the local time.  The fraction
 * keeps its digits without trailing zeros.  Text it cannot read, or a
 * year outside 0001-9999, is written as a string as it came. */
void rx_cell_epoch(rx_buf *b, const char *s, size_t n, int units, char zone, long offset_minutes);
/* Seconds since midnight (decimal) as "HH:MM:SS[.fff]". */
void rx_cell_time_of_day(rx_buf *b, const char *s, size_t n);

#endif
