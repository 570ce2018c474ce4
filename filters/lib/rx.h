/*
 * rx.h - the shared code of the rx filters (filters/lib/).
 *
 * What every program needs, written once: exit statuses, diagnostics,
 * command-line helpers, a growable byte buffer, a buffered writer, an
 * NDJSON line reader, a JSON scanner that works on raw spans, and dead
 * letters.
 *
 * NOTES ON THE DESIGN
 *
 *  - Nothing here allocates per record once buffers have grown to the
 *    size of the largest record: rx_buf is reset, never freed, between
 *    records.
 *  - Functions that can fail return 0 or -1 and write the detail into an
 *    error buffer the caller owns (char *err, size_t errlen).
 *  - Diagnostics go to stderr as one line: "rx-NAME: message".  Data goes
 *    only to stdout.
 *  - The JSON scanner never builds a value tree: it validates a line and
 *    reports the top-level members of an object as (name, value) spans
 *    into the caller's line, so stages that pass, rename or compare
 *    members write the original bytes back untouched.
 */
#ifndef RX_H
#define RX_H

#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define RX_VERSION "0.1.0"

/* Exit statuses: DESIGN.md's table, the same in every program. */
enum {
	RX_EXIT_OK = 0,         /* done; every record delivered */
	RX_EXIT_FAIL = 1,       /* failed (the message says why) */
	RX_EXIT_USAGE = 2,      /* bad usage */
	RX_EXIT_DEADLETTER = 3, /* done, but some records were dead-lettered */
	RX_EXIT_DATAERR = 65,   /* bad input data */
	RX_EXIT_IOERR = 74,     /* cannot write output */
	RX_EXIT_TEMPFAIL = 75,  /* try again later */
};

#define RX_MAX_LINE_DEFAULT ((size_t)64 << 20) /* 64 MiB */

/* ---- diagnostics and process set-up (diag.c, cli.c) ---- */

extern const char *rx_progname; /* "rx-map": set once by rx_init() */

/* Set the program name, restore the default SIGPIPE action (a pure filter
 * dies quietly when its reader goes away). */
void rx_init(const char *progname);
/* "rx-NAME: message" on stderr. */
void rx_diag(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* "rx-NAME: FILE: line N: message" ("rx-NAME: line N: ..." on stdin). */
void rx_diag_at(const char *file, unsigned long long line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* rx_diag() then exit(status). */
void rx_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3), noreturn));
/* "rx-NAME: message" and "Try 'rx-NAME --help'." then exit 2. */
void rx_usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
/* After getopt_long has printed its own complaint: "Try 'rx-NAME --help'."
 * and exit 2. */
void rx_usage_hint(void) __attribute__((noreturn));
/* "rx-NAME (rx) 0.1.0" (plus extra, if not NULL) on stdout, exit 0. */
void rx_print_version(const char *extra) __attribute__((noreturn));
/* Parse an integer option in [min, max]; a bad one is a usage error. */
long long rx_parse_number(const char *option, const char *arg, long long min, long long max);
/* Parse a byte size with an optional K, M or G suffix (powers of 1024). */
size_t rx_parse_size(const char *option, const char *arg);
/* Name an input for messages: "-" and NULL are "<stdin>". */
const char *rx_input_name(const char *path);
/* The directory of rx's shared data (profiles, jq modules): $RX_SHARE,
 * else ../share/rx beside the running program (a build tree), else the
 * directory compiled in (PREFIX/share/rx).  Never NULL. */
const char *rx_share_dir(void);
/* Start a worker thread with every signal blocked in it: they stay the
 * main thread's (SIGTERM's clean stop, SIGPIPE).  pthread_create's result. */
int rx_thread_start(pthread_t *t, void *(*fn)(void *), void *arg);
/* Fold a multi-line message (libpq's, jq's) into one line: runs of white
 * space become one space.  Returns out. */
const char *rx_one_line(const char *msg, char *out, size_t outlen);
/* The current UTC time as "2026-11-21T11:39:24.123Z" into out[32]. */
void rx_iso_time(char out[32]);

/* ---- growable byte buffer (buf.c) ---- */

typedef struct rx_buf {
	char *data; /* owned; always NUL-terminated after data[len] */
	size_t len; /* bytes in use */
	size_t cap; /* bytes allocated */
} rx_buf;

void rx_buf_reserve(rx_buf *b, size_t extra); /* aborts on out of memory */
/* inline: the hot loops of every program append small pieces */
static inline void rx_buf_put(rx_buf *b, const void *p, size_t n)
{
	if (b->len + n + 1 > b->cap)
		rx_buf_reserve(b, n);
	memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
}
void rx_buf_puts(rx_buf *b, const char *s);
void rx_buf_printf(rx_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void rx_buf_putc(rx_buf *b, char c)
{
	if (b->len + 2 > b->cap)
		rx_buf_reserve(b, 1);
	b->data[b->len++] = c;
	b->data[b->len] = '\0';
}
static inline void rx_buf_reset(rx_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}
void rx_buf_free(rx_buf *b);
/* The whole of a file ("-": stdin) as a NUL-terminated string (caller
 * frees); a file that cannot be read is fatal (exit 1). */
char *rx_read_file(const char *path);
/* Append s as a quoted SQL identifier: "na""me". */
void rx_sql_put_ident(rx_buf *b, const char *s, size_t n);
void *rx_xmalloc(size_t n);
void *rx_xrealloc(void *p, size_t n);
char *rx_xstrdup(const char *s);

/* ---- buffered writer (io.c) ---- */

/* A writer is a buffer in front of a file descriptor: records are appended
 * to w->buf and rx_writer_record() flushes once the buffer passes the
 * threshold, so a record is never split by a flush it did not ask for. */
typedef struct rx_writer {
	rx_buf buf;       /* pending output */
	int fd;           /* where it goes */
	size_t threshold; /* flush when buf.len reaches this */
	int error;        /* errno of the first failed write, or 0 */
	int unbuffered;   /* flush after every record */
} rx_writer;

void rx_writer_init(rx_writer *w, int fd);
int rx_writer_flush(rx_writer *w); /* 0 or -1 (w->error set) */
static inline void rx_writer_record(rx_writer *w)
{
	if (w->unbuffered || w->buf.len >= w->threshold)
		rx_writer_flush(w);
}
/* Flush and report: 0, or -1 with a message already printed. */
int rx_writer_finish(rx_writer *w, const char *what);

/* ---- NDJSON line reader (io.c) ---- */

typedef struct rx_reader {
	int fd;                  /* source */
	const char *name;        /* "<stdin>" or the path, for messages */
	char *data;              /* buffer; lines are returned in place */
	size_t cap;              /* bytes allocated */
	size_t start;            /* first unconsumed byte */
	size_t end;              /* one past the last byte read */
	size_t max_line;         /* longest line accepted, in bytes */
	unsigned long long line; /* number of the line last returned */
	int eof;                 /* read() returned 0 */
	int is_stdin;            /* don't close fd */
	int too_long;            /* the last rx_reader_next failed on a line over max_line */
} rx_reader;

/* Open path ("-" or NULL: stdin).  0 or -1 with err. */
int rx_reader_open(rx_reader *r, const char *path, size_t max_line, char *err, size_t errlen);
/* Next line, without its "\n" (nor a "\r" before it), NUL-terminated, valid
 * until the next call.  Returns 1 for a line, 0 at end of input, -1 on a
 * read error or a line longer than max_line (err says which). */
int rx_reader_next(rx_reader *r, char **line, size_t *len, char *err, size_t errlen);
/* After rx_reader_next failed on a line over max_line (r->too_long): drop
 * the rest of that line, keeping its first keep bytes in prefix (when not
 * NULL), so that the lines after it can be read.  0, or -1 on a read
 * error. */
int rx_reader_skip(rx_reader *r, rx_buf *prefix, size_t keep, char *err, size_t errlen);
/* Bytes read but not yet returned as lines (for poll-driven callers). */
static inline size_t rx_reader_buffered(const rx_reader *r) { return r->end - r->start; }
void rx_reader_close(rx_reader *r);

/* ---- JSON on raw spans (json.c) ---- */

typedef struct rx_span {
	const char *p; /* first byte, in the caller's line */
	size_t n;      /* length in bytes */
} rx_span;

typedef struct rx_member {
	rx_span name;  /* raw, with its quotes and escapes */
	rx_span value; /* raw JSON text of the value */
	unsigned char name_escaped;  /* the name has a backslash escape */
	unsigned char value_escaped; /* the value has one (in some string) */
} rx_member;

typedef struct rx_members {
	rx_member *m; /* owned array */
	size_t n;     /* members found */
	size_t cap;   /* allocated */
} rx_members;

/* Validate that s[0..n) is exactly one JSON object (surrounding white
 * space allowed) and list its top-level members in order.  0, or -1 with
 * err such as "at byte 17: expected ':' after a member name". */
int rx_json_scan_object(const char *s, size_t n, rx_members *out, char *err, size_t errlen);
/* A batch line's records, found by rx_json_scan_batch while it validates
 * the line: each element's span, and the members of each element that is
 * an object with no name twice (element i's are members.m[first[i]] up to
 * first[i + 1]; first[i] == first[i + 1] and own[i] set: scan it alone).
 * Reused from line to line. */
typedef struct rx_batch_scan {
	int found;           /* the line has a "records" array */
	rx_span *elems;      /* its elements */
	size_t n, cap;
	rx_members members;  /* the members of every element, in order */
	size_t *first;       /* n + 1 offsets into members */
	unsigned char *own;  /* element i is not an object of unique names */
	size_t fcap;
} rx_batch_scan;
/* rx_json_scan_object, and the elements of the top-level "records" array
 * and their members into b (a batch of changes scanned once).  0 or -1
 * with err, as rx_json_scan_object. */
int rx_json_scan_batch(const char *s, size_t n, rx_members *out, rx_batch_scan *b, char *err, size_t errlen);
/* Validate any one JSON value filling s[0..n) exactly (white space
 * allowed around it).  0 or -1 with err. */
int rx_json_validate(const char *s, size_t n, char *err, size_t errlen);
/* Index of the member called name (plain UTF-8), or -1. */
long rx_json_find(const rx_members *ms, const char *name, size_t namelen);
/* Does the raw name span equal the plain string?  Inline for the common
 * case (a name of the same length compared bytewise, a shorter one
 * never equal: an escape only makes a name longer than its text); a
 * longer one may have escapes (rx_json_name_eq_escaped decodes it). */
int rx_json_name_eq_escaped(rx_span raw, const char *name, size_t namelen);
static inline int rx_json_name_eq(rx_span raw, const char *name, size_t namelen)
{
	if (raw.n == namelen + 2)
		return memcmp(raw.p + 1, name, namelen) == 0;
	if (raw.n < namelen + 2)
		return 0;
	return rx_json_name_eq_escaped(raw, name, namelen);
}
/* Decode a raw JSON string (with quotes) into out (appended, no quotes). */
void rx_json_string_decode(rx_span raw, rx_buf *out);
/* Append s as a quoted, escaped JSON string. */
void rx_json_put_string(rx_buf *b, const char *s, size_t n);
/* The same for text of unknown bytes (replies, messages): invalid UTF-8
 * becomes U+FFFD, so the result is always valid JSON. */
void rx_json_put_text(rx_buf *b, const char *s, size_t n);
/* Append a span with white space outside strings removed (values from
 * pretty-printed input stay one line). */
void rx_json_put_compact(rx_buf *b, rx_span v);
/* The elements of a raw JSON array already validated, white space around
 * each trimmed, into out[0..cap): their number (count with cap 0). */
size_t rx_json_array_split(rx_span a, rx_span *out, size_t cap);
/* rx_json_scan_object's members of an object it scanned before (a span
 * of a line it validated): the members and the repeated-name check, no
 * validation, a few times cheaper.  Safe on any text, exact only on valid
 * JSON.  0, or -1 with err. */
int rx_json_members(const char *s, size_t n, rx_members *out, char *err, size_t errlen);
/* Can a double hold this JSON number text exactly (DESIGN.md "Numbers")?
 * Integers within +-2^53 and decimals of at most 15 significant digits. */
int rx_json_number_exact(const char *s, size_t n);
/* Append an integer in decimal. */
void rx_json_put_int(rx_buf *b, long long v);
/* Append a double in its shortest round-trip form, or null if not finite. */
void rx_json_put_double(rx_buf *b, double d);
/* The value of a hex digit, or -1. */
int rx_hexval(int c);
/* Is s[0..n) valid UTF-8?  1 or 0. */
int rx_utf8_valid(const char *s, size_t n);
/* Kind of a raw value from its first byte: 'o' object, 'a' array,
 * 's' string, 'n' number, 't' true, 'f' false, 'z' null. */
char rx_json_kind(rx_span v);
static inline rx_span rx_span_of(const char *p, size_t n)
{
	rx_span s = {p, n};
	return s;
}
/* Byte order of two spans (memcmp, then the shorter first). */
static inline int rx_span_cmp(rx_span a, rx_span b)
{
	int c = memcmp(a.p, b.p, a.n < b.n ? a.n : b.n);
	if (c != 0)
		return c;
	return a.n < b.n ? -1 : a.n > b.n;
}

/* ---- control records (control.c) ---- */

/* The end of a model: {"$rx":"end","rows":N,"rejected":M}. */
typedef struct rx_end {
	long long rows;     /* rows before it on the stream, or -1: not given */
	long long rejected; /* rows dead-lettered upstream (0: none) */
} rx_end;

/* Is the line a control record (an object whose first member is "$rx")?
 * A cheap test on the first bytes; rx_control_end() validates. */
int rx_control_is(const char *s, size_t n);
/* Parse an end record: 0, or -1 with err (another control record, or a
 * malformed one). */
int rx_control_end(const char *s, size_t n, rx_end *end, char *err, size_t errlen);
/* Append an end record (with "\n"); rejected 0 is left out. */
void rx_control_put_end(rx_buf *b, long long rows, long long rejected);
/* Any control record: its kind (the value of "$rx": "end", "commit",
 * "delete", "truncate", "request") into kind[kindlen], its members into ms
 * (the caller's, reused).  0, or -1 with err. */
int rx_control_parse(const char *s, size_t n, rx_members *ms, char *kind, size_t kindlen, char *err, size_t errlen);
/* Is the line the control record {"$rx":"KIND",...}? */
int rx_control_kind_is(const char *s, size_t n, const char *kind);
/* The "count" of a {"$rx":"changes","count":N} record, or -1. */
long long rx_control_count(const char *s, size_t n);

/* ---- secrets (secret.c) ---- */

/* Register a secret (and its JSON-escaped, URL-encoded and base64 forms):
 * from then on rx_scrub replaces it with *** in what the program writes. */
void rx_secret_add(const char *s);
int rx_secret_count(void);
/* Replace every registered secret in b->data[from..] with ***. */
void rx_scrub(rx_buf *b, size_t from);
/* The same, in place in a NUL-terminated string (it can only shrink). */
void rx_scrub_string(char *s);
void rx_secret_free(void);
/* A process that holds secrets leaves no core dump with them. */
void rx_no_core_dumps(void);

/* ---- dead letters (deadletter.c) ---- */

typedef struct rx_deadletter {
	const char *stage;   /* "rx-map" */
	int status;          /* HTTP status, or 0 for none (written as null) */
	const char *message; /* human message */
	rx_span body;        /* raw JSON body, or {NULL,0} for none */
	int attempts;        /* 0: omitted */
} rx_deadletter;

/* Append to out one dead-letter line (with "\n") for the record in
 * line[0..n): its members as they were, an "error" member replaced, plus
 * "error":{...}.  A line that is not an object is kept as "record". */
void rx_deadletter_format(rx_buf *out, const char *line, size_t n, const rx_deadletter *d);
/* Format and write to stderr in one write(). */
void rx_deadletter_emit(const char *line, size_t n, const rx_deadletter *d);

/* ---- the canonical form of a row (canon.c) ---- */

/* Is the decoded member name one of the columns? */
int rx_name_in(rx_span raw_name, char *const *cols, size_t ncols);
/* SHA-256 of the canonical form of a row (its members; those named in
 * skip left out) into hash[32]: the "hash" of a change. */
void rx_canon_row_hash(const rx_members *row, char *const *skip, size_t nskip, unsigned char hash[32]);
/* Append to out the canonical form of one value. */
void rx_canon_value(rx_buf *out, rx_span v, int depth);
/* Free the calling thread's buffers and hashing context. */
void rx_canon_free(void);

/* ---- hashing (hash.c) ---- */

/* Lowercase hex SHA-256 of data into out[65]. */
void rx_sha256_hex(const void *data, size_t n, char out[65]);
/* Lowercase hex HMAC-SHA256 of data keyed by key (a NUL-terminated secret) into out[65]. */
void rx_hmac_sha256_hex(const char *key, const void *data, size_t n, char out[65]);
/* n bytes as 2n lowercase hex digits and a NUL into out. */
void rx_hex(const unsigned char *md, size_t n, char *out);
/* Append s[0..n) percent-encoded as RFC 3986 says: unreserved characters
 * as they are ('/' too with slash), every other byte %XX (upper case). */
void rx_url_encode(rx_buf *b, const char *s, size_t n, int slash);
/* The raw HMAC-SHA256 of data keyed by key[0..klen). */
void rx_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, unsigned char out[32]);
/* Standard base64 of data appended to b. */
void rx_base64_put(rx_buf *b, const unsigned char *data, size_t n);

/* ---- crash points for tests (killpoint.c) ---- */

/* Raise SIGKILL here when $RX_KILL_AT names this program and point and
 * this is the pass it names: "rx-diff:stage-row:500,rx-push:sent:3". */
void rx_killpoint(const char *point);

/* ---- keys and shards (hash.c) ---- */

/* The text of one key value: a string's decoded text, any other value's
 * raw JSON text (a number keeps its digits).  Appended to out. */
void rx_key_text(rx_span value, rx_buf *out);
/* The key of a row from several columns: one column gives its text; several
 * give a compact JSON array of their texts, ["acme","42"].  Returns -1 when a
 * column is missing or null (out then names nothing useful). */
int rx_key_of(const rx_members *row, char *const *cols, size_t ncols, rx_buf *out);
/* rx_key_of keeps a scratch buffer per thread: a thread that used it frees
 * it with this before it ends. */
void rx_key_scratch_free(void);
/* Parse "I/N" (1 <= I <= N) for --shard; a bad one is a usage error. */
void rx_parse_shard(const char *arg, unsigned *i, unsigned *n);
/* The shard (1..n) of a key text: the first 32 bits of its MD5, big-endian,
 * modulo n, plus one.  In SQL, for pushing the filter into a query:
 *   ('x' || lpad(substr(md5(KEY::text), 1, 8), 16, '0'))::bit(64)::bigint % N + 1 */
unsigned rx_shard_of(const char *key, size_t n, unsigned nshards);

/* ---- metrics for Prometheus's textfile collector (metrics.c) ---- */

typedef struct rx_metrics {
	rx_buf text;     /* the file being made */
	rx_buf previous; /* the file it replaces (counters carry on from it) */
} rx_metrics;

/* Start a metrics file; previous (NULL: none) is the file it will replace. */
void rx_metrics_open(rx_metrics *m, const char *previous);
/* "# HELP" and "# TYPE" of a family (type: counter or gauge). */
void rx_metrics_family(rx_metrics *m, const char *name, const char *type, const char *help);
/* The end of a list of labels (a typed null: a bare NULL may be an int). */
#define RX_LABELS_END ((const char *)NULL)
/* One sample; after the value, (label, value) pairs ending with
 * RX_LABELS_END. */
void rx_metrics_sample(rx_metrics *m, const char *name, double value, ...);
/* A counter: the previous file's value of the same series plus add. */
void rx_metrics_counter(rx_metrics *m, const char *name, double add, ...);
/* The previous file's value of a series (labels as above), or 0. */
double rx_metrics_previous(const rx_metrics *m, const char *name, ...);
/* The values of the label that follows prefix ('name{sync="a",reason="')
 * in the previous file's samples, into out[max][48]: how many. */
size_t rx_metrics_previous_labels(const rx_metrics *m, const char *prefix, char (*out)[48], size_t max);
/* Write the file atomically (a temporary file beside it, fsync, rename),
 * secrets scrubbed.  0, or -1 with err. */
int rx_metrics_write(rx_metrics *m, const char *path, char *err, size_t errlen);
void rx_metrics_free(rx_metrics *m);
/* The metrics of a stage that reads rows and writes them (rx-extract,
 * rx-map): rx_PROGRAM_rows_total{outcome="written"|"dead_lettered"},
 * runs, the last run's duration and start, the last success; counters
 * carried on from the file replaced.  sync NULL: the file's name. */
void rx_metrics_stage(const char *path, const char *sync, const char *program, const char *what, double rows,
		      double dead, double started, double ended, int ok);
/* Wall-clock seconds. */
double rx_metrics_now(void);
/* The default name of a sync: the file name without directory nor
 * extension ("state/app.db" is "app"). */
void rx_metrics_sync_name(const char *path, char *out, size_t len);

#endif
