/*
 * engine.h - what the HTTP engine's parts share: a request, the engine,
 * and the functions between engine.c (the loop, starting and settling
 * requests), reply.c (reading a reply: headers, waits, messages) and
 * identity.c (lookups of the destination's ids, asynchronous jobs).
 *
 * A request is a list of records of one op and one kind: a write (the
 * op's own request), a lookup (the profile's identity.lookup, to find
 * the records' ids), a poll (of the job a write's reply named), or a
 * create (job.create: the job made before its write).  It
 * owns the array of its records; a retry, a lookup's follow-up write and
 * a job's poll move the records still undecided into a new request.
 */
#ifndef RX_PUSH_ENGINE_H
#define RX_PUSH_ENGINE_H

#include "push.h"

enum request_kind { REQ_WRITE, REQ_LOOKUP, REQ_POLL, REQ_CREATE };

typedef struct request {
	char op[8];                  /* the records' op */
	enum request_kind kind;
	const push_op *spec;         /* what is sent: the op's, or the lookup's or the poll's */
	push_record **recs;          /* owned array */
	size_t n;
	int attempts;                /* sends so far */
	int throttles;               /* 429s so far */
	int refreshed;               /* a 401 already led to a token refresh */
	unsigned token_generation;   /* of the token it was sent with */
	unsigned long long seq;      /* order of arrival; retries keep it */
	double not_before;           /* earliest start (back-off) */
	/* a poll: the job, and since when it runs */
	char *job;                   /* owned */
	const push_op *job_of;       /* the op whose write started it */
	double job_started, job_interval;
	char *next_path;             /* owned: the path the status program said to read next, or NULL */
	char *next_method;           /* owned: its method (a search is a POST), NULL for GET */
	char *next_body;             /* owned: its body (JSON text), or NULL */
	char *carry;                 /* owned: what it carries to the next poll (JSON text), or NULL */
	/* while running */
	CURL *easy;
	struct curl_slist *headers;
	rx_buf body;                 /* the request body */
	rx_buf write_body;           /* a job's create: the write's body, built first */
	jv records;                  /* the records' jv its body program read, or invalid */
	rx_buf path;                 /* the path an op's path_program computed (empty: the template) */
	rx_buf reply;                /* the reply body */
	rx_buf reply_headers;        /* raw header lines of the final reply */
	int reply_truncated;
	char errbuf[CURL_ERROR_SIZE];
	double started;
	struct request *next;
} request;

typedef struct engine {
	push_ctx *c;
	CURLM *multi;
	request *queue;              /* waiting to start, in order of seq (ties: as queued) */
	request *queue_tail;         /* its last: a new request is queued in O(1) */
	request *running;            /* in flight */
	size_t nrunning;
	size_t hold_max;             /* read no input while this many records are held */
	CURL **idle;                 /* easy handles kept for reuse */
	size_t nidle;
	double wake;                 /* earliest time something waits for */
} engine;

/* engine.c */
request *rx_push_request_new(const char *op, push_record **recs, size_t n);
void rx_push_request_free(request *r);
void rx_push_queue(engine *e, request *r);
/* Queue writes of op for recs[0..n), split by the op's max_records. */
void rx_push_queue_writes(engine *e, const char *op, push_record **recs, size_t n, double not_before);

/* reply.c */
/* A header of the reply (case-insensitive name): 1 and out, or 0. */
int rx_push_reply_header(const request *r, const char *name, char *out, size_t outlen);
/* The reply's headers as an object, names lowercased. */
jv rx_push_reply_headers(const request *r);
/* The reply's body for a program: a text/csv reply as an array of rows
 * (arrays of strings, the header first), else its JSON, else its text
 * (a CSV that does not parse too), null when empty. */
jv rx_push_reply_body(const request *r);
/* Seconds to wait the reply asks for (Retry-After, the profile's reset
 * header), or -1. */
double rx_push_reply_wait(const push_profile *p, const request *r, double now);
/* A transfer error that trying again cannot mend. */
int rx_push_permanent(CURLcode cc);
/* One line of what the destination said (its "message", "error"...). */
const char *rx_push_reply_gist(const request *r, char *out, size_t len);
/* The message of a per-record result, or fallback. */
const char *rx_push_result_message(jv res, char *buf, size_t len, const char *fallback);

/* identity.c */
/* Requests for a batch: where its op needs the destination's id, records
 * with one are written, records without are looked up first (or
 * dead-lettered when the profile has no lookup).  Takes the batch's
 * records. */
void rx_push_identity_batch(engine *e, push_batch *b);
/* A lookup's per-record results (one id, or null, a record): found ones
 * are written with their id, the others as the profile's not_found
 * says. */
void rx_push_lookup_results(engine *e, request *r, jv results, int status);
/* After a write's reply: does it name a job (the op's job.id program)?
 * Then a poll is queued for its records and 1 returned (r's records are
 * the poll's now); else 0. */
int rx_push_job_named(engine *e, request *r, int status);
/* A poll says the job is not done: poll again later (next: another path
 * to read, with next_method and next_body when it is not a GET; carry:
 * what to give the next poll's program; all taken, may be NULL), or stop
 * the run when it has run longer than its max_wait. */
void rx_push_job_wait(engine *e, request *r, double wait, char *next, char *next_method, char *next_body,
		      char *carry);
/* After a job.create's reply: does it name the job?  Then the write is
 * queued with it and 1 returned (r's records are the write's now); else 0. */
int rx_push_job_created(engine *e, request *r, int status);
/* Records a write added to a job made first (job.create): they wait for
 * the job's poll, which takes them. */
void rx_push_job_poll(engine *e, request *r, push_record **recs, size_t n);

#endif
