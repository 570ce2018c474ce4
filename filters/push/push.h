/*
 * push.h - the parts of rx-push and the state they share.
 *
 * rx-push is split by concern:
 *   main.c       options, reading input (batches or single changes),
 *                acks, dead letters, the exit status
 *   engine.c     the libcurl multi loop: requests in flight, retries,
 *                classification of replies
 *   profile.c    the destination profile: ops, URL templates, the body
 *                and response jq programs
 *   ratelimit.c  request pacing per window, daily quotas, back-off after
 *                429s, and the --budget file shared by processes
 *   auth.c       secrets from the environment or files, auth headers,
 *                OAuth2 tokens
 *   db_sqlite.c  the SQLite destination driver (db.h)
 *   order.c      the order of a stream: a key's changes in order, and
 *                source positions (commit records) after what they cover
 *
 * NOTES ON THE DESIGN
 *
 *  - A record is one change as it was received (its own copy of the text,
 *    with spans into it).  It lives from the moment it is read until it
 *    leaves as exactly one ack or one dead letter, or the run stops with
 *    it unacked; records_held counts those alive, and input is read only
 *    while that count is under a bound, so memory stays flat.
 *  - A request owns an array of pointers to its records; a retry moves
 *    the records still undecided into a new request.
 *  - Times are wall-clock seconds (doubles) so that a --budget file can be
 *    shared by several processes.
 */
#ifndef RX_PUSH_H
#define RX_PUSH_H

#include <curl/curl.h>

#include "db.h"
#include "rx.h"
#include "rxjq.h"

/* ---- records ---- */

typedef struct push_record {
	char *text;              /* the change as received (owned), NUL-terminated */
	size_t len;              /* its length */
	rx_span key, hash, row;  /* raw values inside text; row may be empty */
	rx_span run;             /* its "run" (state and run of the change), or empty */
	rx_span id;              /* its "id" at the destination (raw JSON), or empty */
	int looked_up;           /* a lookup has been run for it (never twice) */
	/* when its members are all among op, key, hash, run, row, id, error
	 * and idem: the order of those kept in a jv of it (RX_MEMBER_*), so
	 * that it is built from the spans above without scanning it again */
	unsigned char order[6], norder, plain;
	char op[8];              /* insert, update, upsert or delete */
	char idem[33];           /* its idempotency id once asked for (rx_push_idem), else "" */
	unsigned long long line; /* input line it came from */
	/* order.c */
	unsigned long long mark; /* the segment it belongs to: the commit record after it */
	uint64_t key_hash;       /* of the key's raw text */
	struct push_record *next_same_key; /* the next held record of its key */
	unsigned stamp;          /* scratch of rx_push_order_ready */
} push_record;

/* A record's idempotency id: the first 32 hex digits of sha256(key text
 * "\n" hash), made when first asked for (a sha256 costs more than the
 * rest of a record's reading, and most profiles never use it). */
const char *rx_push_idem(const push_record *r);

enum { RX_MEMBER_KEY = 1, RX_MEMBER_HASH, RX_MEMBER_RUN, RX_MEMBER_ROW, RX_MEMBER_ID };

/* ---- the profile (profile.c) ---- */

typedef struct push_window {
	double requests; /* allowed per window */
	double seconds;  /* window length */
	int quota;       /* a quota (counted, exhausted = stop) rather than pacing */
} push_window;

typedef struct push_op {
	char name[8];         /* "upsert", or "*" for any */
	char *method;         /* POST, PUT, PATCH, DELETE */
	char *path;           /* template: {op}, {key}, {NAME} from "vars" */
	jv query;             /* object of extra query parameters, or null */
	jv headers;           /* object of extra headers, or null */
	char *content_type;   /* of this op's body, or NULL: the profile's */
	rx_jq body;           /* body program, when has_body and not tmpl */
	int has_body;
	int body_records;     /* it may read .records (it is no JSON constant, as Google's :run body "{}" is) */
	struct push_tmpl *tmpl; /* a body template instead (template.c), or NULL */
	rx_jq path_program;   /* a program computing the path (one record a request), */
	int has_path_program; /* when has_path_program: else path is the template */
	rx_jq response;       /* a per-op response program, when has_response */
	int has_response;
	int response_records; /* it mentions .records: build them for it */
	struct push_success *success; /* the usual reply, read in C before the program, or NULL */
	size_t max_records;   /* records a request for this op (0: the profile's);
	                       * 1 when the path or query names a record */
	int raw_rows;         /* the body program places rows without reading them:
	                       * each row's own text is written where it puts it */
	/* an asynchronous job: the reply names a job (job_id), polled with
	 * poll (its response program is the job's status program) */
	rx_jq job_id;
	int has_job;
	struct push_op *poll;
	struct push_op *create; /* job.create: a request that makes the job before
	                         * the write (which names it as {job}), or NULL */
	double job_interval;  /* seconds before the first poll (then x1.5, at most 30) */
	/* windows of this op's own (the vendor limits one endpoint more
	 * tightly), on top of the profile's; rate is opened by the engine */
	push_window windows[4];
	size_t nwindows;
	struct push_rate *rate;
	double job_max_wait;  /* seconds a job may run before the run stops, its records unacked */
} push_op;

typedef struct push_profile {
	jv json;                /* the whole profile (owned) */
	char path[4096];        /* where it was found */
	char *name;             /* for messages */
	char *driver;           /* "sqlite", "postgres" or NULL for HTTP */
	char *url;              /* base URL (or database target) */
	char *url_missing;      /* "url" names a variable that is not set: which */
	char *table;            /* database destinations */
	char *key;              /* database destinations: key columns, comma-separated */
	size_t max_records;     /* records per request */
	size_t max_bytes;       /* bytes per request body */
	char *content_type;     /* of the body */
	jv headers;             /* static headers */
	jv vars;                /* template variables, also $vars in programs */
	jv unset_vars;          /* under --check-profile: what each unset var lacks */
	push_op *ops;           /* per-op request specs */
	size_t nops;
	rx_jq response;         /* the response program, when has_response */
	int has_response;
	int response_records;   /* it mentions .records: build them for it */
	struct push_success *success; /* the usual reply, read in C before it, or NULL */
	int retry_statuses[32]; /* retried statuses */
	size_t nretry;
	int throttle_statuses[8]; /* statuses meaning "slow down" */
	size_t nthrottle;
	push_window windows[8]; /* rate-limit windows */
	size_t nwindows;
	char *reset_header;     /* a header holding when the limit resets */
	char *reset_unit;       /* "epoch" (seconds), "seconds", "ms" */
	char *remaining_header; /* a header holding the requests left */
	char *idem_header;      /* header carrying the idempotency key */
	jv auth;                /* the "auth" object, or null */
	/* identity: ops that address a record by the destination's id, and
	 * how one without an id is found */
	int needs_id[4];        /* insert, update, upsert, delete */
	char not_found[4][8];   /* after a lookup found nothing: insert, reject or ack */
	push_op lookup;         /* the lookup request, when has_lookup */
	int has_lookup;
	char **modules;         /* "jq": the jq modules its programs include (NULL-terminated) */
	char *dir;              /* the profile's directory: modules are found there first */
	long max_concurrency;   /* requests in flight the destination allows (0: no cap) */
	int response_rows;      /* response programs read the records' rows (default) */
	char **response_members; /* "response_rows": [NAMES]: only these members of each row */
	jv response_names;       /* the same as jq strings, made once (array, or null) */
	size_t nresponse_members;
} push_profile;

/* Set by --check-profile: a var that is not set is a finding, not a stop. */
extern int rx_push_profile_checking;
int rx_push_profile_load(push_profile *p, const char *name, char *err, size_t errlen);
const push_op *rx_push_profile_op(const push_profile *p, const char *op);
/* Does op need the record's id at the destination (identity.ops)? */
int rx_push_needs_id(const push_profile *p, const char *op);
/* What a record of op not found by the lookup becomes: insert, reject, ack. */
const char *rx_push_not_found(const push_profile *p, const char *op);
void rx_push_profile_free(push_profile *p);
/* Expand a template ({op}, {key}, {NAME} from vars, {base}); URL-encodes
 * record values when encode is set. */
void rx_push_template(rx_buf *out, const char *tmpl, const push_profile *p, const char *op,
		   const push_record *first, int encode);
/* The same for a request of n records: also {id} (the first record's id
 * at the destination), {keys} and {ids} (every record's key or id,
 * comma-separated), and {job} (a job's id, for its poll). */
void rx_push_template_request(rx_buf *out, const char *tmpl, const push_profile *p, const char *op,
			      push_record *const *recs, size_t n, const char *job, int encode);
/* The records as jq values: [{key,hash,op,row,idem,...}] (the error member
 * dropped). */
jv rx_push_records_jv(push_record **recs, size_t n);
/* The path of a request whose op computes it (path_program) into out.  0,
 * or -1 with err (the program failed or gave no string). */
int rx_push_build_path(const push_profile *p, const push_op *op, push_record **recs, size_t n, rx_buf *out,
		       char *err, size_t errlen);
/* The records for a response program: key, op and idem only, when the
 * profile's "response_rows" is false. */
jv rx_push_response_records(const push_profile *p, push_record **recs, size_t n);
/* A choice made when the profile loads ({"?": "{NAME}", CASE: ..., "*":
 * ...}, a template's or the auth's): the case named value, else "*"
 * (*as says which); jv_invalid() when it has neither, its cases listed
 * in cases ("a", "b"). */
jv rx_push_choice_case(jv choice, const char *value, const char **as, char *cases, size_t len);
/* Build the body of a request for recs[0..n) into body.  0, or -1 with err
 * (a jq error in the body program), or a template's -2 (some records
 * refused: rx_push_tmpl_build).  records, when not NULL, is given
 * the records' jv the body program read, if it read them whole (no
 * raw_rows), for the response program (else jv_invalid()). */
int rx_push_build_body(const push_profile *p, const push_op *op, push_record **recs, size_t n, rx_buf *body,
		       jv *records, char *err, size_t errlen);

/* ---- body templates (template.c) ---- */

typedef struct push_tmpl push_tmpl;
/* Compile a template (the JSON value of "template"; with mode
 * RX_TMPL_NDJSON, the lines of one record; with RX_TMPL_FORM, an object
 * whose members are form-encoded); what names it in messages.  0, or -1
 * with err naming where in it. */
enum { RX_TMPL_JSON, RX_TMPL_NDJSON, RX_TMPL_FORM };
int rx_push_tmpl_compile(push_tmpl **out, jv spec, const push_profile *p, const char *what, int mode, char *err,
			 size_t errlen);
/* Append the body for recs[0..n), all of op, to body.  0; -1 with err
 * when the request's own part reached a refusal ("// !MESSAGE": every
 * record refused); -2 when records did: rx_push_tmpl_nrefused of them,
 * the k-th's place in recs and its message from rx_push_tmpl_refused
 * (the body is then to be built again without them). */
int rx_push_tmpl_build(push_tmpl *t, const char *op, push_record **recs, size_t n, rx_buf *body, char *err,
		       size_t errlen);
size_t rx_push_tmpl_nrefused(const push_tmpl *t);
size_t rx_push_tmpl_refused(const push_tmpl *t, size_t k, char *err, size_t errlen);
void rx_push_tmpl_free(push_tmpl *t);

/* ---- the usual reply, read in C (success.c) ---- */

typedef struct push_success push_success;
/* Compile a "success" (its JSON value); what names it in messages.  0, or
 * -1 with err. */
int rx_push_success_compile(push_success **out, jv spec, const push_profile *p, const char *what, char *err,
			    size_t errlen);
/* 1 when the reply (status, body) is the success of every one of
 * recs[0..n): ids[i] then holds record i's id in the reply (raw JSON, or
 * empty) and created[i] 1, 0 or -1 (not said); else 0: the response
 * program reads it. */
int rx_push_success_match(const push_success *s, long status, const char *reply, size_t len, push_record **recs,
			  size_t n, rx_span *ids, signed char *created);
void rx_push_success_free(push_success *s);

/* ---- secrets and auth (auth.c) ---- */

typedef struct push_auth {
	char *type;           /* bearer, basic, header, query, oauth2, or NULL */
	char *header_name;    /* header: its name; query: the parameter */
	char *secret;         /* token, key, or "user:password" (owned, never printed) */
	char *token_url;      /* oauth2 */
	double expires;       /* oauth2: when to refresh it (wall clock, a little before it
	                         expires), 0 unknown */
	int can_refresh;      /* oauth2 */
	unsigned generation;  /* incremented by each new token */
	int generation_ok;    /* the current token has had a success */
	char *prefix;         /* header: put before the secret ("ApiKey ") */
	void *jwt_key;        /* oauth2 jwt_bearer: the service account's EVP_PKEY */
	char *jwt_iss;        /* its client_email (the assertion's issuer) */
	char *jwt_kid;        /* its private_key_id, or NULL */
	char *proof_name;     /* "proof": a query parameter holding the hex HMAC-SHA256 of
	                       * the token keyed by proof_key (Meta's appsecret_proof) */
	char *proof_key;      /* its key (owned, never printed), or NULL: not sent */
	/* aws_sigv4: each request signed (Amazon OpenSearch Service's IAM
	 * auth); secret is the secret access key */
	char *aws_key_id, *aws_region, *aws_service, *aws_token; /* token: a session's, or NULL */
} push_auth;

int rx_push_auth_init(push_auth *a, const push_profile *p, const char *base, int insecure, char *err,
		   size_t errlen);
/* Fetch a new OAuth2 token.  0 or -1 with err. */
int rx_push_auth_refresh(push_auth *a, const push_profile *p, int insecure, char *err, size_t errlen);
/* Add the auth header or query parameter to a request.  With redact, the
 * secret is written as ***. */
void rx_push_auth_apply(const push_auth *a, struct curl_slist **headers, rx_buf *url, int redact,
		     rx_buf *shown_headers);
/* aws_sigv4: sign the request about to be sent (its method, URL and
 * body) with AWS Signature Version 4: the x-amz-* headers and
 * Authorization added.  Any other auth: nothing. */
void rx_push_auth_sign(const push_auth *a, const char *method, const char *url, const rx_buf *body,
		       struct curl_slist **headers, int redact, rx_buf *shown);
void rx_push_auth_free(push_auth *a);

/* ---- rate limits (ratelimit.c) ---- */

typedef struct push_rate push_rate;

push_rate *rx_push_rate_open(const push_window *w, size_t n, const char *budget_file, char *err, size_t errlen);
/* May a request start now?  0: yes (counted), >0: seconds to wait, -1:
 * a quota is exhausted. */
double rx_push_rate_acquire(push_rate *r, double now);
/* No request before until (a Retry-After): shared through the budget. */
void rx_push_rate_pause(push_rate *r, double until);
/* A quota is known to be exhausted until "until" (or its window's end). */
void rx_push_rate_exhaust(push_rate *r, double until);
/* Adaptive pacing when no limit is known: a 429 halves the rate, each
 * success raises it a little. */
void rx_push_rate_throttled(push_rate *r, double now);
void rx_push_rate_succeeded(push_rate *r);
void rx_push_rate_close(push_rate *r);
/* Why a shared budget (--budget redis://...) cannot be drawn on, or NULL:
 * acquire then answers -1, and the run stops (never an unlimited send). */
const char *rx_push_rate_error(const push_rate *r);
/* Parse "100/10s", "250000/1d", "5/s".  0 or -1. */
int rx_push_rate_parse(const char *s, push_window *w);

/* ---- the run (main.c, engine.c) ---- */

typedef struct push_batch {
	char op[8];              /* every record's op */
	push_record **recs;      /* owned array of owned records */
	size_t n;
	struct push_batch *next; /* queue */
} push_batch;

enum rx_push_stop {
	PUSH_RUNNING = 0,
	PUSH_STOP_QUOTA,  /* a quota is exhausted: exit 75 */
	PUSH_STOP_DOWN,   /* the destination is unreachable or keeps throttling: 75 */
	PUSH_STOP_SIGNAL, /* SIGINT or SIGTERM: 75 */
	PUSH_STOP_AUTH,   /* 401 and no way to refresh: exit 1 */
	PUSH_STOP_FAIL,   /* another fatal error: exit 1 */
	PUSH_STOP_OUTPUT, /* cannot write acks (EPIPE): exit 74 */
};

#define PUSH_LATENCY_BUCKETS 400

typedef struct push_ctx {
	push_profile prof;        /* the destination */
	push_auth auth;           /* its credentials */
	push_rate *rate;          /* pacing and quotas */
	/* options */
	const char *url;          /* base URL (profile's, or --url) */
	long concurrency;         /* requests in flight at most */
	int max_attempts;         /* tries per request before giving up */
	int max_throttles;        /* 429s for one request before the run stops */
	double retry_base;        /* first back-off, seconds */
	double retry_max;         /* longest back-off, seconds */
	long connect_timeout_ms;
	long timeout_ms;
	double grace;             /* seconds to finish in-flight work after a signal */
	int insecure;             /* TLS verification off */
	int dry_run;              /* print requests, send nothing */
	unsigned long long limit; /* take at most this many records (0: all) */
	int progress;             /* draw a meter */
	FILE *tty;                /* where the meter goes */
	/* output */
	rx_writer out;            /* acks (stdout) */
	rx_buf scratch;           /* an ack or a dead letter being built */
	/* counters */
	unsigned long long taken, acked, dead, malformed, requests, retries, throttled;
	unsigned long long bytes_sent, bytes_received, dry;
	unsigned long long latency[PUSH_LATENCY_BUCKETS]; /* histogram of request latency */
	size_t held;              /* records read and not yet acked nor dead-lettered */
	double started;           /* wall clock at start */
	double last_progress;
	/* operating (report.c) */
	unsigned long long total;        /* changes announced by {"$rx":"changes"} (0: unknown) */
	char sync[128];                  /* the sync's name: --sync, the changes record's, or the profile's */
	int sync_given;                  /* --sync named it */
	unsigned long long by_op[4][2];  /* insert, update, upsert, delete x acked, dead-lettered */
	unsigned long long created, updated; /* upserts the reply said were new / existing */
	struct { char name[48]; unsigned long long n; } reasons[32]; /* dead letters by reason */
	size_t nreasons;
	double throttled_seconds;        /* time requests waited on rate limits and 429s */
	double throttle_mark;            /* since when something waits on them (0: nothing) */
	/* stopping */
	enum rx_push_stop stop;
	char stop_msg[512];
	/* input */
	rx_reader in;
	int in_eof;               /* nothing more will be read */
	push_batch *open;         /* single changes being gathered */
	push_batch *head, *tail;  /* batches ready to send */
	struct push_order *order; /* order.c */
} push_ctx;

extern volatile int rx_push_signalled;

/* Input (main.c).  Consume one line if one can be had (block: wait for
 * it); 1 if a line was consumed, 0 if none is ready, -1 at end of input. */
int rx_push_input_step(push_ctx *c, int block);
/* Close the batch of single changes being gathered. */
void rx_push_input_flush(push_ctx *c);
push_batch *rx_push_batch_pop(push_ctx *c);
void rx_push_batch_free(push_batch *b); /* the array only */
/* Outcomes (main.c): each frees the record. */
void rx_push_ack(push_ctx *c, push_record *r, jv id);
/* The same with the id as raw JSON text (empty: none given). */
void rx_push_ack_raw(push_ctx *c, push_record *r, rx_span id);
void rx_push_dead(push_ctx *c, push_record *r, int status, const char *message, const char *body, size_t bodylen,
	       int attempts);
void rx_push_record_free(push_ctx *c, push_record *r);
/* Give a record the id a lookup found (consumed): its text gains "id". */
void rx_push_record_set_id(push_record *r, jv id);
/* Flush the acks (after each request); on failure stop with exit 74. */
void rx_push_flush(push_ctx *c);
void rx_push_stop(push_ctx *c, enum rx_push_stop why, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
void rx_push_progress(push_ctx *c, int final, size_t inflight);
void rx_push_latency(push_ctx *c, double seconds);

/* Operating (report.c): the changes record, outcomes by op and reason,
 * the time throttled, the progress meter, --stats and --metrics. */
void rx_push_changes_record(push_ctx *c, const char *line, size_t n);
void rx_push_count_outcome(push_ctx *c, const push_record *r, int acked, int status, const char *reason);
/* A reply's result said "created": true or false. */
void rx_push_count_created(push_ctx *c, int created);
/* Something may not start for a rate limit or a 429 (held 1) or not (0). */
void rx_push_throttle_tick(push_ctx *c, int held, double now);
void rx_push_write_stats(push_ctx *c, const char *path);
void rx_push_write_metrics(push_ctx *c, const char *path, int success);
double rx_push_percentile(const push_ctx *c, double p);

/* Profile tooling (tools.c): an RX_EXIT_* status each. */
int rx_push_check_profile(const push_profile *p);
int rx_push_test_connection(push_ctx *c);

/* The order of a stream (order.c).  A record taken / gone (acked or
 * dead-lettered); may a request of these records start now (1), or must
 * it wait for an earlier change of one of their keys (0); a commit record
 * read (written among the acks once all before it have left). */
void rx_push_order_take(push_ctx *c, push_record *r);
void rx_push_order_left(push_ctx *c, push_record *r);
int rx_push_order_ready(push_ctx *c, push_record **recs, size_t n);
void rx_push_order_commit(push_ctx *c, const char *line, size_t n);
void rx_push_order_free(push_ctx *c);

/* The HTTP engine (engine.c). */
void rx_push_http_run(push_ctx *c);

/* ---- time ---- */

double rx_push_now(void);

#endif
