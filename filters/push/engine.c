/*
 * engine.c - the HTTP engine: libcurl's multi interface, the way curl's
 * own --parallel drives it (src/tool_operate.c): a bounded window of easy
 * handles, curl_multi_poll, curl_multi_info_read, CURLOPT_PRIVATE from a
 * transfer back to its request, a per-transfer CURLOPT_ERRORBUFFER.
 *
 * NOTES ON THE DESIGN
 *
 *  - The loop: take input while fewer than hold_max records are held,
 *    start ready requests while fewer than --concurrency are running and
 *    the rate limiter allows, wait (input, sockets, or the next due
 *    retry), then settle finished transfers.  stdin is one of the fds
 *    curl_multi_poll waits on, so input and replies interleave.
 *  - A request is a list of records of one op.  Its body is built when
 *    it first starts, split in two while it is larger than max_bytes.
 *  - Each reply is classified once: the profile's response program (if
 *    any) sees {status, headers, body, records} and answers per record or
 *    for the whole request; otherwise, or when it answers null, the
 *    status decides (2xx ack, throttle statuses, retry statuses, 401,
 *    other 4xx reject).
 *  - Acks are flushed after every settled request, so a downstream
 *    rx-diff --commit sees them promptly and a crash loses little.
 *  - Stopping (quota, destination down, 401, signal, EPIPE on stdout):
 *    no new request starts and no input is read; running transfers finish
 *    (after a signal, for at most --grace); records not settled stay held
 *    and are counted unacked by main.c.
 */
#include "engine.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define REPLY_MAX (16 << 20)   /* keep at most this much of a reply */
#define QUOTA_WAIT 900         /* a throttle asking to wait longer is a quota */

static unsigned long long next_seq;

request *rx_push_request_new(const char *op, push_record **recs, size_t n)
{
	request *r = calloc(1, sizeof *r);

	if (r == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	snprintf(r->op, sizeof r->op, "%s", op);
	r->recs = rx_xmalloc((n ? n : 1) * sizeof *r->recs);
	memcpy(r->recs, recs, n * sizeof *recs);
	r->n = n;
	r->seq = ++next_seq;
	r->records = jv_invalid();
	return r;
}

void rx_push_request_free(request *r)
{
	free(r->job);
	free(r->next_path);
	free(r->next_method);
	free(r->next_body);
	free(r->carry);
	curl_slist_free_all(r->headers);
	rx_buf_free(&r->body);
	rx_buf_free(&r->write_body);
	jv_free(r->records);
	rx_buf_free(&r->path);
	rx_buf_free(&r->reply);
	rx_buf_free(&r->reply_headers);
	free(r->recs);
	free(r);
}

/* Queue r in order of seq.  A new request has the highest seq and goes
 * last at once; a retry or a split keeps its seq and goes back among
 * the others.  So take_due stops at the first due and ready request,
 * where it used to check every request held (with one record a request,
 * hundreds of them for each one started). */
void rx_push_queue(engine *e, request *r)
{
	request **pp = &e->queue;

	if (e->queue_tail != NULL && e->queue_tail->seq <= r->seq)
		pp = &e->queue_tail->next;
	else
		while (*pp != NULL && (*pp)->seq <= r->seq)
			pp = &(*pp)->next;
	r->next = *pp;
	*pp = r;
	if (r->next == NULL)
		e->queue_tail = r;
}

/* ---- callbacks ---- */

static size_t on_body(char *data, size_t size, size_t n, void *user)
{
	request *r = user;
	size_t len = size * n;

	if (r->reply.len + len > REPLY_MAX)
		r->reply_truncated = 1;
	else
		rx_buf_put(&r->reply, data, len);
	return len;
}

static size_t on_header(char *data, size_t size, size_t n, void *user)
{
	request *r = user;
	size_t len = size * n;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		rx_buf_reset(&r->reply_headers); /* a new response (after a 100 or a redirect) */
	if (r->reply_headers.len < 65536)
		rx_buf_put(&r->reply_headers, data, len);
	return len;
}

/* ---- building a request ---- */

static void add_header(struct curl_slist **h, rx_buf *shown, const char *name, const char *value)
{
	rx_buf line = {0};

	rx_buf_printf(&line, "%s: %s", name, value);
	*h = curl_slist_append(*h, line.data);
	rx_buf_free(&line);
	if (shown != NULL) {
		if (shown->len > 1)
			rx_buf_putc(shown, ',');
		rx_json_put_string(shown, name, strlen(name));
		rx_buf_putc(shown, ':');
		rx_json_put_string(shown, value, strlen(value));
	}
}

static void add_headers(struct curl_slist **h, rx_buf *shown, jv obj)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return;
	jv_object_foreach(obj, k, v) {
		if (jv_get_kind(v) == JV_KIND_STRING)
			add_header(h, shown, jv_string_value(k), jv_string_value(v));
		jv_free(k);
		jv_free(v);
	}
}

static void add_query(rx_buf *url, jv obj, const push_profile *p, const request *r)
{
	if (jv_get_kind(obj) != JV_KIND_OBJECT)
		return;
	jv_object_foreach(obj, k, v) {
		if (jv_get_kind(v) == JV_KIND_STRING) {
			rx_buf_putc(url, strchr(url->data, '?') ? '&' : '?');
			rx_buf_puts(url, jv_string_value(k));
			rx_buf_putc(url, '=');
			rx_push_template_request(url, jv_string_value(v), p, r->op, r->recs, r->n, r->job, 1);
		} else if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) == 1) {
			/* ["{id}"]: the parameter once for each record of the request
			 * (Airtable's records[]=a&records[]=b) */
			jv t = jv_array_get(jv_copy(v), 0);
			for (size_t i = 0; i < r->n && jv_get_kind(t) == JV_KIND_STRING; i++) {
				rx_buf_putc(url, strchr(url->data, '?') ? '&' : '?');
				rx_buf_puts(url, jv_string_value(k));
				rx_buf_putc(url, '=');
				rx_push_template_request(url, jv_string_value(t), p, r->op, r->recs + i, 1, r->job, 1);
			}
			jv_free(t);
		}
		jv_free(k);
		jv_free(v);
	}
}

/* A GET has no body: its body program's object gives the query
 * parameters instead (a lookup by SOQL: {"q": "SELECT Id ... IN (...)"}). */
static void add_body_query(rx_buf *url, const rx_buf *body)
{
	jv obj;
	char err[128];

	if (rx_jv_parse(body->data, body->len, &obj, err, sizeof err) < 0)
		return;
	if (jv_get_kind(obj) == JV_KIND_OBJECT) {
		jv_object_foreach(obj, k, v) {
			rx_buf text = {0};
			if (jv_get_kind(v) == JV_KIND_STRING)
				rx_buf_puts(&text, jv_string_value(v));
			else
				rx_jv_put(&text, jv_copy(v));
			char *e = curl_easy_escape(NULL, text.data ? text.data : "", (int)text.len);
			char *ke = curl_easy_escape(NULL, jv_string_value(k), 0);
			rx_buf_printf(url, "%c%s=%s", strchr(url->data, '?') ? '&' : '?', ke ? ke : "", e ? e : "");
			curl_free(e);
			curl_free(ke);
			rx_buf_free(&text);
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(obj);
}

/* URL and headers of a request; shown (dry run) gets the headers as JSON
 * members, secrets redacted. */
static void build_target(engine *e, request *r, const push_op *op, rx_buf *url, struct curl_slist **h, rx_buf *shown)
{
	push_ctx *c = e->c;
	const push_profile *p = &c->prof;

	rx_buf_puts(url, c->url);
	if (r->next_path != NULL) {
		/* where the job's status program said to read next: a path under
		 * the base URL, never another host */
		rx_buf_puts(url, r->next_path);
	} else {
		if (op->has_path_program && r->path.len > 0)
			rx_buf_put(url, r->path.data, r->path.len); /* computed, encoded by the program */
		else
			rx_push_template_request(url, op->path, p, r->op, r->recs, r->n, r->job, 1);
		add_query(url, op->query, p, r);
		if (strcmp(op->method, "GET") == 0 && op->has_body && r->body.len > 0)
			add_body_query(url, &r->body);
	}
	rx_push_auth_apply(&c->auth, h, url, c->dry_run, shown);
	add_header(h, shown, "Content-Type", op->content_type ? op->content_type : p->content_type);
	add_headers(h, shown, p->headers);
	add_headers(h, shown, op->headers);
	if (p->idem_header != NULL) {
		char hex[65];
		if (r->n == 1) {
			add_header(h, shown, p->idem_header, rx_push_idem(r->recs[0]));
		} else {
			rx_buf all = {0};
			for (size_t i = 0; i < r->n; i++)
				rx_buf_puts(&all, rx_push_idem(r->recs[i]));
			rx_sha256_hex(all.data, all.len, hex);
			hex[32] = '\0';
			add_header(h, shown, p->idem_header, hex);
			rx_buf_free(&all);
		}
	}
	/* SigV4 signs the method, URL and body as they go */
	rx_push_auth_sign(&c->auth, r->next_path != NULL ? (r->next_method != NULL ? r->next_method : "GET") : op->method,
			  url->data, &r->body, h, c->dry_run, shown);
	if (!c->dry_run)
		*h = curl_slist_append(*h, "Expect:"); /* no 100-continue round trip */
}

/* Build the body; split while too large.  0 ready, -1 the request was
 * settled (dead letters) and freed. */
static int prepare_body(engine *e, request *r, const push_op *op)
{
	push_ctx *c = e->c;
	char err[1024];

	for (;;) {
		jv_free(r->records);
		int rc = rx_push_build_body(&c->prof, op, r->recs, r->n, &r->body, &r->records, err, sizeof err);
		if (rc == -2) {
			/* records the template refuses ("// !why": a raw e-mail
			 * where a hash goes) are dead letters; the others are
			 * sent without them, the body built again */
			size_t nref = rx_push_tmpl_nrefused(op->tmpl), kept = 0;
			unsigned char *gone = rx_xmalloc(r->n);
			memset(gone, 0, r->n);
			for (size_t k = 0; k < nref; k++) {
				size_t i = rx_push_tmpl_refused(op->tmpl, k, err, sizeof err);
				rx_push_dead(c, r->recs[i], 0, err, NULL, 0, r->attempts);
				gone[i] = 1;
			}
			for (size_t i = 0; i < r->n; i++)
				if (!gone[i])
					r->recs[kept++] = r->recs[i];
			free(gone);
			r->n = kept;
			if (r->n == 0) {
				rx_push_request_free(r);
				return -1;
			}
			continue;
		}
		if (rc < 0) {
			for (size_t i = 0; i < r->n; i++)
				rx_push_dead(c, r->recs[i], 0, err, NULL, 0, r->attempts);
			rx_push_request_free(r);
			return -1;
		}
		if (r->body.len <= c->prof.max_bytes)
			return 0;
		if (r->n == 1) {
			char msg[256];
			snprintf(msg, sizeof msg, "the request body is %zu bytes, over the profile's max_bytes of %zu",
				 r->body.len, c->prof.max_bytes);
			rx_push_dead(c, r->recs[0], 0, msg, NULL, 0, r->attempts);
			rx_push_request_free(r);
			return -1;
		}
		/* split: the second half waits in the queue */
		size_t half = r->n / 2;
		request *rest = rx_push_request_new(r->op, r->recs + half, r->n - half);
		rest->attempts = r->attempts;
		rest->seq = r->seq;
		rx_push_queue(e, rest);
		r->n = half;
	}
}

/* The method: the op's, or the one of the poll the status program sent
 * to another path (GET unless it named one). */
static const char *request_method(const request *r, const push_op *op)
{
	if (r->next_path != NULL)
		return r->next_method != NULL ? r->next_method : "GET";
	return op->method;
}

/* A dry run's line for request r, as it would be sent. */
static void show_request(engine *e, request *r, const push_op *op)
{
	push_ctx *c = e->c;
	rx_buf url = {0}, shown = {0};
	struct curl_slist *h = NULL;
	rx_buf *o = &c->out.buf;
	char err[64];

	rx_buf_putc(&shown, '{');
	build_target(e, r, op, &url, &h, &shown);
	rx_buf_putc(&shown, '}');
	/* a control record: a commit downstream skips it (control.c) */
	const char *method = request_method(r, op);
	rx_buf_puts(o, "{\"$rx\":\"request\",\"method\":");
	rx_json_put_string(o, method, strlen(method));
	rx_buf_puts(o, ",\"url\":");
	rx_json_put_string(o, url.data, url.len);
	rx_buf_puts(o, ",\"headers\":");
	rx_buf_put(o, shown.data, shown.len);
	rx_buf_puts(o, ",\"body\":");
	if (rx_json_validate(r->body.data, r->body.len, err, sizeof err) == 0)
		rx_json_put_compact(o, rx_span_of(r->body.data, r->body.len));
	else
		rx_json_put_string(o, r->body.data, r->body.len);
	rx_buf_printf(o, ",\"records\":%zu}\n", r->n);
	c->requests++;
	curl_slist_free_all(h);
	rx_buf_free(&url);
	rx_buf_free(&shown);
}

static void dry_run(engine *e, request *r, const push_op *op)
{
	push_ctx *c = e->c;

	show_request(e, r, op);
	if (r->kind == REQ_CREATE && r->write_body.len > 0) {
		/* and the write that would add the records to the job it makes
		 * (no job exists: its path shows {job}) */
		r->kind = REQ_WRITE;
		r->spec = r->job_of;
		r->job = rx_xstrdup("{job}");
		rx_buf t = r->body;
		r->body = r->write_body;
		r->write_body = t;
		show_request(e, r, r->spec);
	}
	c->dry += r->n;
	for (size_t i = 0; i < r->n; i++) {
		rx_push_order_left(c, r->recs[i]);
		free(r->recs[i]->text);
		free(r->recs[i]);
		c->held--;
	}
	rx_push_request_free(r);
	rx_push_flush(c);
}

static void start(engine *e, request *r)
{
	push_ctx *c = e->c;
	const push_op *op = r->spec ? r->spec : rx_push_profile_op(&c->prof, r->op);
	rx_buf url = {0};

	if (r->kind == REQ_WRITE && r->job == NULL && op != NULL && op->create != NULL) {
		/* the job is made first: this request becomes its create.  The
		 * write's body is built before it, so a batch the body refuses
		 * (Google's unhashed identifiers) makes no job, and one too
		 * large is split first; it is kept for the write. */
		if (op->has_body && r->body.len == 0 && prepare_body(e, r, op) < 0)
			return;
		rx_buf_free(&r->write_body);
		r->write_body = r->body;
		r->body = (rx_buf){0};
		r->kind = REQ_CREATE;
		r->spec = op->create;
		r->job_of = op;
		op = op->create;
	}
	if (op == NULL) {
		char msg[128];
		snprintf(msg, sizeof msg, "profile %s has no op \"%s\"", c->prof.name, r->op);
		for (size_t i = 0; i < r->n; i++)
			rx_push_dead(c, r->recs[i], 0, msg, NULL, 0, 0);
		rx_push_request_free(r);
		return;
	}
	const char *method = request_method(r, op);
	int get = strcmp(method, "GET") == 0;
	/* a poll has a body only when its spec has a program (Google's :run) */
	if ((r->kind != REQ_POLL || (op->has_body && r->next_path == NULL)) && (!get || op->has_body) && r->body.len == 0 &&
	    prepare_body(e, r, op) < 0)
		return;
	if (r->kind == REQ_POLL && r->next_path != NULL && r->next_body != NULL && r->body.len == 0)
		rx_buf_puts(&r->body, r->next_body); /* the body the status program gave its next poll */
	if (op->has_path_program && r->path.len == 0) {
		char err[1024];
		if (rx_push_build_path(&c->prof, op, r->recs, r->n, &r->path, err, sizeof err) < 0) {
			for (size_t i = 0; i < r->n; i++)
				rx_push_dead(c, r->recs[i], 0, err, NULL, 0, r->attempts);
			rx_push_request_free(r);
			return;
		}
	}
	if (r->kind == REQ_LOOKUP && r->body.len == 4 && memcmp(r->body.data, "null", 4) == 0) {
		/* the lookup's body program says there is nothing to look up
		 * (no match value): not found, and nothing sent */
		jv none = jv_array();
		for (size_t i = 0; i < r->n; i++)
			none = jv_array_append(none, jv_null());
		rx_push_lookup_results(e, r, none, 0);
		rx_push_request_free(r);
		return;
	}
	if (c->dry_run) {
		dry_run(e, r, op);
		return;
	}
	if (c->auth.can_refresh && c->auth.expires > 0 && rx_push_now() > c->auth.expires) {
		char err[512];
		if (rx_push_auth_refresh(&c->auth, &c->prof, c->insecure, err, sizeof err) < 0)
			rx_diag("%s", err);
	}
	curl_slist_free_all(r->headers);
	r->headers = NULL;
	build_target(e, r, op, &url, &r->headers, NULL);
	CURL *h = e->nidle > 0 ? e->idle[--e->nidle] : curl_easy_init();
	if (h == NULL)
		rx_die(RX_EXIT_FAIL, "cannot start a libcurl transfer");
	curl_easy_reset(h);
	r->easy = h;
	r->errbuf[0] = '\0';
	rx_buf_reset(&r->reply);
	rx_buf_reset(&r->reply_headers);
	r->reply_truncated = 0;
	curl_easy_setopt(h, CURLOPT_URL, url.data);
	curl_easy_setopt(h, CURLOPT_PRIVATE, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, r->errbuf);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, r->headers);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "rx-push/" RX_VERSION);
	curl_easy_setopt(h, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* the path as built (and as a dry run shows it) */
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	if (c->insecure) {
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	if (get) {
		curl_easy_setopt(h, CURLOPT_HTTPGET, 1L);
	} else {
		if (strcmp(method, "POST") != 0)
			curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, r->body.data ? r->body.data : "");
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body.len);
	}
	rx_buf_free(&url);
	r->attempts++;
	r->token_generation = c->auth.generation;
	r->started = rx_push_now();
	c->requests++;
	c->bytes_sent += r->body.len;
	curl_multi_add_handle(e->multi, h);
	rx_killpoint(r->kind == REQ_LOOKUP ? "lookup" : r->kind == REQ_POLL ? "poll" : r->kind == REQ_CREATE ? "create" : "sent");
	r->next = e->running;
	e->running = r;
	e->nrunning++;
}

/* ---- settling a reply ---- */

static double backoff(engine *e, int attempts)
{
	double d = e->c->retry_base * pow(2, attempts > 1 ? attempts - 1 : 0) * (0.5 + drand48());

	return d > e->c->retry_max ? e->c->retry_max : d;
}

static int in_list(const int *list, size_t n, int status)
{
	for (size_t i = 0; i < n; i++)
		if (list[i] == status)
			return 1;
	return 0;
}

enum outcome { ACK_ALL, REJECT_ALL, RETRY, THROTTLE, QUOTA, AUTH, PER_RECORD, WAIT };

static enum outcome classify_status(const push_profile *p, int status)
{
	if (in_list(p->throttle_statuses, p->nthrottle, status))
		return THROTTLE;
	if (status == 401)
		return AUTH;
	if (in_list(p->retry_statuses, p->nretry, status))
		return RETRY;
	if (status >= 200 && status < 300)
		return ACK_ALL;
	return REJECT_ALL;
}

/* Put records back to wait, or settle them when they may not wait. */
static void retry_records(engine *e, request *r, push_record **recs, size_t n, double delay, int status,
			  const char *message, int count_attempt)
{
	push_ctx *c = e->c;

	if (n == 0)
		return;
	if (count_attempt && r->attempts >= c->max_attempts) {
		char msg[700];
		snprintf(msg, sizeof msg, "gave up after %d attempts: %s", r->attempts, message);
		for (size_t i = 0; i < n; i++)
			rx_push_dead(c, recs[i], status, msg, r->reply.data, r->reply.len, r->attempts);
		return;
	}
	request *again = rx_push_request_new(r->op, recs, n);
	again->kind = r->kind;
	again->spec = r->spec;
	again->job = r->job ? rx_xstrdup(r->job) : NULL;
	again->job_of = r->job_of;
	again->job_started = r->job_started;
	again->job_interval = r->job_interval;
	again->next_path = r->next_path ? rx_xstrdup(r->next_path) : NULL;
	again->next_method = r->next_method ? rx_xstrdup(r->next_method) : NULL;
	again->next_body = r->next_body ? rx_xstrdup(r->next_body) : NULL;
	again->carry = r->carry ? rx_xstrdup(r->carry) : NULL;
	again->attempts = r->attempts;
	again->throttles = r->throttles;
	again->refreshed = r->refreshed;
	again->seq = r->seq;
	again->not_before = rx_push_now() + delay;
	if (n == r->n) {
		/* same records: keep the body built */
		again->body = r->body;
		memset(&r->body, 0, sizeof r->body);
		again->write_body = r->write_body; /* a create's */
		memset(&r->write_body, 0, sizeof r->write_body);
	}
	c->retries++;
	rx_push_queue(e, again);
}

/* A write's reply that its op's "success" knows as the success of every
 * record (success.c): each acked with the id its item gives.  0 when it
 * is not that: the response program reads it.  (A CSV reply is never
 * one: the program reads it as rows.) */
static int usual_reply(engine *e, request *r, const push_success *usual, long status, int to_job)
{
	push_ctx *c = e->c;
	char type[128];

	if (rx_push_reply_header(r, "content-type", type, sizeof type) && strncasecmp(type, "text/csv", 8) == 0)
		return 0;
	rx_span *ids = rx_xmalloc((r->n + 1) * sizeof *ids);
	signed char *made = rx_xmalloc(r->n + 1);
	int ok = rx_push_success_match(usual, status, r->reply.data, r->reply.len, r->recs, r->n, ids, made);
	if (ok) {
		if (r->token_generation == c->auth.generation)
			c->auth.generation_ok = 1;
		rx_push_rate_succeeded(c->rate);
		for (size_t i = 0; i < r->n; i++)
			if (made[i] >= 0)
				rx_push_count_created(c, made[i]);
		if (to_job) {
			/* added to a job made first: they wait for the job */
			rx_push_job_poll(e, r, r->recs, r->n);
			r->n = 0;
		}
		for (size_t i = 0; i < r->n; i++)
			rx_push_ack_raw(c, r->recs[i], ids[i]);
	}
	free(ids);
	free(made);
	return ok;
}

static void settle(engine *e, request *r, CURLcode cc)
{
	push_ctx *c = e->c;
	const push_profile *p = &c->prof;
	const push_op *op = r->spec ? r->spec : rx_push_profile_op(p, r->op);
	double now = rx_push_now();
	long status = 0;
	char msg[700];

	/* a crash here loses the reply after the destination applied it */
	rx_killpoint(r->kind == REQ_POLL ? "polled" : "replied");
	rx_push_latency(c, now - r->started);
	if (cc != CURLE_OK) {
		snprintf(msg, sizeof msg, "%s", r->errbuf[0] ? r->errbuf : curl_easy_strerror(cc));
		if (rx_push_permanent(cc)) {
			/* no retry, no later run, will change it: exit 1, not 75 */
			rx_push_stop(c, PUSH_STOP_FAIL, "%s (a permanent error: not retried)", msg);
			retry_records(e, r, r->recs, r->n, 0, 0, msg, 0); /* kept, unacked */
			return;
		}
		if (r->attempts >= c->max_attempts || c->stop != PUSH_RUNNING) {
			rx_push_stop(c, PUSH_STOP_DOWN, "destination unreachable after %d attempts: %s", r->attempts, msg);
			retry_records(e, r, r->recs, r->n, 0, 0, msg, 0); /* kept, unacked */
			return;
		}
		retry_records(e, r, r->recs, r->n, backoff(e, r->attempts), 0, msg, 1);
		return;
	}
	curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &status);
	c->bytes_received += r->reply.len;

	/* proactive pacing: no requests left in this window */
	if (p->remaining_header != NULL) {
		char v[64];
		if (rx_push_reply_header(r, p->remaining_header, v, sizeof v) && strtod(v, NULL) <= 0) {
			double w = rx_push_reply_wait(&e->c->prof, r, now);
			rx_push_rate_pause(c->rate, now + (w >= 0 ? w : 1));
		}
	}

	/* an asynchronous write: its reply names a job, and the records wait
	 * for the job's word */
	if (r->kind == REQ_WRITE && op != NULL && op->has_job && op->create == NULL && rx_push_job_named(e, r, (int)status))
		return;
	/* a job made first: its reply names it, and the write follows */
	if (r->kind == REQ_CREATE && rx_push_job_created(e, r, (int)status))
		return;
	/* a create's reply that names no job is read by the create's own
	 * response program, else by the write's (for throttles, auth...) */
	if (r->kind == REQ_CREATE && !op->has_response)
		op = r->job_of;

	enum outcome oc = classify_status(p, (int)status);
	jv results = jv_null();
	double wait = -1;
	int said_ack = 0;            /* the program answered {"action": "ack"} */
	char *next = NULL, *carry = NULL; /* a poll's: where to read next, what to carry */
	char *next_method = NULL, *next_body = NULL; /* and how, when it is not a GET */
	const char *next_wrong = NULL; /* a next rx-push refuses to follow, and why */
	int explained = 0; /* the response program said why (its "message") */
	snprintf(msg, sizeof msg, "HTTP %ld", status);
	/* a lookup and a poll are read by their own programs only */
	const rx_jq *prog = op && op->has_response                ? &op->response
			    : (r->kind == REQ_WRITE || r->kind == REQ_CREATE) && p->has_response ? &p->response
												 : NULL;
	int want_records = op && op->has_response ? op->response_records : p->response_records;
	/* the usual reply of a write, when the profile describes it: read in
	 * C, and every other reply by the program */
	/* a write adding records to a job made first: what it accepted waits
	 * for the job (its poll starts it) */
	const int to_job = r->kind == REQ_WRITE && r->job != NULL && op != NULL && op->create != NULL;
	/* the usual reply, when the profile describes it: a write's (not one
	 * naming a job), or a job's poll saying it is done; read in C, and
	 * every other reply by the program */
	const push_success *usual = r->kind == REQ_POLL                           ? (op ? op->success : NULL)
				    : r->kind != REQ_WRITE || (r->job != NULL && !to_job) ? NULL
				    : op && op->has_response                               ? op->success
									                   : p->success;
	if (usual != NULL && usual_reply(e, r, usual, status, to_job))
		return;
	if (prog != NULL) {
		jv in = jv_object(), out;
		char err[512];
		in = jv_object_set(in, jv_string("status"), jv_number((double)status));
		in = jv_object_set(in, jv_string("headers"), rx_push_reply_headers(r));
		in = jv_object_set(in, jv_string("body"), rx_push_reply_body(r));
		/* building the records costs a parse each: only for a program that reads them */
		/* built once: the body program's, when it read them whole */
		jv recs = !want_records                                   ? jv_array()
			  : p->response_rows && jv_is_valid(r->records) ? jv_copy(r->records)
									: rx_push_response_records(p, r->recs, r->n);
		in = jv_object_set(in, jv_string("records"), recs);
		/* how many the request carries, for a program that needs no more
		 * of them (a reply saying "no errors" over that many items) */
		in = jv_object_set(in, jv_string("count"), jv_number((double)r->n));
		if (r->kind == REQ_POLL) {
			/* a job's status program: which job, and what an earlier poll carried */
			jv carried = jv_null();
			if (r->carry != NULL && rx_jv_parse(r->carry, strlen(r->carry), &carried, err, sizeof err) < 0)
				carried = jv_null();
			in = jv_object_set(in, jv_string("job"), jv_string(r->job ? r->job : ""));
			in = jv_object_set(in, jv_string("carry"), carried);
		}
		int rc = rx_jq_run((rx_jq *)prog, in, &out, 1, err, sizeof err);
		if (rc < 0) {
			snprintf(msg, sizeof msg, "HTTP %ld; the response program failed: %s", status, err);
			oc = REJECT_ALL;
		} else if (rc == 1 && jv_get_kind(out) == JV_KIND_ARRAY) {
			oc = PER_RECORD;
			results = out;
		} else if (rc == 1 && jv_get_kind(out) == JV_KIND_OBJECT) {
			jv action = jv_object_get(jv_copy(out), jv_string("action"));
			jv w = jv_object_get(jv_copy(out), jv_string("wait"));
			jv res = jv_object_get(jv_copy(out), jv_string("results"));
			if (jv_get_kind(w) == JV_KIND_NUMBER)
				wait = jv_number_value(w);
			if (r->kind == REQ_POLL) {
				jv nx = jv_object_get(jv_copy(out), jv_string("next"));
				jv cy = jv_object_get(jv_copy(out), jv_string("carry"));
				if (jv_get_kind(nx) == JV_KIND_STRING) {
					next = rx_xstrdup(jv_string_value(nx));
				} else if (jv_get_kind(nx) == JV_KIND_OBJECT) {
					/* {path, method, body}: a poll that is a search (Google's
					 * googleAds:search, a POST) or changes the job's state
					 * (Salesforce's PATCH {"state": "UploadComplete"}) */
					jv np = jv_object_get(jv_copy(nx), jv_string("path"));
					jv nm = jv_object_get(jv_copy(nx), jv_string("method"));
					jv nb = jv_object_get(jv_copy(nx), jv_string("body"));
					next = rx_xstrdup(jv_get_kind(np) == JV_KIND_STRING ? jv_string_value(np) : "");
					if (jv_get_kind(nm) == JV_KIND_STRING && (strcmp(jv_string_value(nm), "POST") == 0 ||
										 strcmp(jv_string_value(nm), "PUT") == 0 ||
										 strcmp(jv_string_value(nm), "PATCH") == 0))
						next_method = rx_xstrdup(jv_string_value(nm));
					else if (jv_get_kind(nm) == JV_KIND_STRING && strcmp(jv_string_value(nm), "GET") != 0)
						next_wrong = "its method is not GET, POST, PUT or PATCH";
					else if (jv_get_kind(nm) != JV_KIND_STRING && jv_get_kind(nm) != JV_KIND_INVALID &&
						 jv_get_kind(nm) != JV_KIND_NULL)
						next_wrong = "its method is not a string";
					if (jv_get_kind(nb) != JV_KIND_INVALID && jv_get_kind(nb) != JV_KIND_NULL) {
						if (next_method == NULL) {
							next_wrong = "a GET has no body";
						} else {
							rx_buf t = {0};
							rx_jv_put(&t, jv_copy(nb));
							next_body = t.data;
						}
					}
					jv_free(np);
					jv_free(nm);
					jv_free(nb);
				} else if (jv_get_kind(nx) != JV_KIND_INVALID && jv_get_kind(nx) != JV_KIND_NULL) {
					next = rx_xstrdup("");
					next_wrong = "it is neither a path nor {path, method, body}";
				}
				if (jv_get_kind(cy) != JV_KIND_INVALID) {
					rx_buf t = {0};
					rx_jv_put(&t, jv_copy(cy));
					carry = t.data;
				}
				jv_free(nx);
				jv_free(cy);
			}
			jv m = jv_object_get(jv_copy(out), jv_string("message"));
			if (jv_get_kind(m) == JV_KIND_STRING) {
				snprintf(msg, sizeof msg, "HTTP %ld: %s", status, jv_string_value(m));
				explained = 1;
			}
			jv_free(m);
			if (jv_get_kind(res) == JV_KIND_ARRAY) {
				oc = PER_RECORD;
				results = jv_copy(res);
			} else if (jv_get_kind(res) != JV_KIND_NULL && jv_get_kind(res) != JV_KIND_INVALID) {
				/* a reply rx-push does not understand is never success */
				snprintf(msg, sizeof msg, "HTTP %ld: a reply rx-push does not understand (\"results\" is %s, not "
					 "an array)", status, jv_kind_name(jv_get_kind(res)));
				oc = REJECT_ALL;
				jv_free(action);
				action = jv_null();
			}
			if (jv_get_kind(action) == JV_KIND_STRING) {
				const char *a = jv_string_value(action);
				if (strcmp(a, "ack") == 0) oc = ACK_ALL, said_ack = 1;
				else if (strcmp(a, "reject") == 0) oc = REJECT_ALL;
				else if (strcmp(a, "retry") == 0) oc = RETRY;
				else if (strcmp(a, "throttle") == 0) oc = THROTTLE;
				else if (strcmp(a, "quota") == 0) oc = QUOTA;
				else if (strcmp(a, "auth") == 0) oc = AUTH;
				else if (strcmp(a, "wait") == 0 && r->kind == REQ_POLL) oc = WAIT;
			}
			jv_free(action);
			jv_free(w);
			jv_free(res);
			jv_free(out);
		} else if (rc == 1) {
			jv_free(out); /* null or anything else: the status decides */
		}
	}
	if (r->kind == REQ_CREATE && (oc == ACK_ALL || oc == PER_RECORD)) {
		/* a create makes a job: a reply that names none wrote nothing */
		snprintf(msg, sizeof msg, "HTTP %ld: the reply to the job's create names no job (its job.id program gave "
			 "none)", status);
		oc = REJECT_ALL;
	}
	if (r->kind != REQ_WRITE && r->kind != REQ_CREATE && oc == ACK_ALL && !(r->kind == REQ_POLL && said_ack)) {
		/* a lookup must name each record's id, a poll how each fared (or
		 * say, for a job with no per-record results, that it applied all) */
		snprintf(msg, sizeof msg, "HTTP %ld: a %s reply rx-push does not understand (its program gave no result)",
			 status, r->kind == REQ_LOOKUP ? "lookup" : "job status");
		oc = REJECT_ALL;
	}
	if (next != NULL && (next[0] != '/' || next_wrong != NULL || oc != WAIT)) {
		/* never another host: the base URL's credentials stay with it */
		if (next_wrong != NULL) {
			snprintf(msg, sizeof msg, "HTTP %ld: the job status program's \"next\" cannot be followed: %s", status,
				 next_wrong);
			oc = REJECT_ALL;
		} else if (next[0] != '/') {
			snprintf(msg, sizeof msg, "HTTP %ld: the job status program's \"next\" is not a path under the base URL "
				 "(it starts with \"/\")", status);
			oc = REJECT_ALL;
		}
		free(next);
		free(next_method);
		free(next_body);
		next = next_method = next_body = NULL;
	}
	if (oc != WAIT) {
		free(carry);
		carry = NULL;
	}
	if (oc == PER_RECORD && jv_array_length(jv_copy(results)) != (int)r->n) {
		snprintf(msg, sizeof msg, "HTTP %ld; the response program gave %d results for %zu records", status,
			 jv_array_length(jv_copy(results)), r->n);
		oc = REJECT_ALL;
	}
	if (oc == THROTTLE || oc == RETRY || oc == QUOTA) {
		double hw = rx_push_reply_wait(&e->c->prof, r, now);
		if (wait < 0)
			wait = hw;
	}
	/* told to wait a quarter of an hour or more: a quota, not a blip;
	 * stop rather than hold the records (and the pipeline) that long */
	if (oc == THROTTLE && wait > QUOTA_WAIT)
		oc = QUOTA;
	if (oc == PER_RECORD && r->kind == REQ_LOOKUP) {
		if (r->token_generation == c->auth.generation)
			c->auth.generation_ok = 1;
		rx_push_rate_succeeded(c->rate);
		rx_push_lookup_results(e, r, results, (int)status);
		return;
	}
	switch (oc) {
	case WAIT:
		rx_push_job_wait(e, r, wait, next, next_method, next_body, carry);
		break;
	case ACK_ALL:
		if (r->token_generation == c->auth.generation)
			c->auth.generation_ok = 1;
		if (to_job) {
			rx_push_job_poll(e, r, r->recs, r->n);
			r->n = 0;
		}
		for (size_t i = 0; i < r->n; i++)
			rx_push_ack(c, r->recs[i], jv_null());
		rx_push_rate_succeeded(c->rate);
		break;
	case REJECT_ALL:
		for (size_t i = 0; i < r->n; i++)
			rx_push_dead(c, r->recs[i], (int)status, msg, r->reply.data, r->reply.len, r->attempts);
		break;
	case RETRY:
		retry_records(e, r, r->recs, r->n, wait >= 0 ? wait : backoff(e, r->attempts), (int)status, msg, 1);
		break;
	case THROTTLE:
		c->throttled++;
		r->throttles++;
		if (wait >= 0)
			rx_push_rate_pause(c->rate, now + wait);
		else
			rx_push_rate_throttled(c->rate, now);
		if (r->throttles >= c->max_throttles) {
			rx_push_stop(c, PUSH_STOP_DOWN,
				     "the destination keeps answering %ld (%d times for one request: --max-throttles)", status,
				     r->throttles);
			retry_records(e, r, r->recs, r->n, 0, (int)status, msg, 0);
			break;
		}
		retry_records(e, r, r->recs, r->n, wait >= 0 ? wait : backoff(e, r->throttles), (int)status, msg, 0);
		break;
	case QUOTA:
		rx_push_rate_exhaust(c->rate, wait > 0 ? now + wait : 0);
		rx_push_stop(c, PUSH_STOP_QUOTA, "the destination's quota is exhausted (%s)", msg);
		retry_records(e, r, r->recs, r->n, 0, (int)status, msg, 0);
		break;
	case AUTH:
		if (c->auth.can_refresh && r->token_generation != c->auth.generation) {
			/* sent with a token replaced since: just send it again */
			r->attempts--;
			retry_records(e, r, r->recs, r->n, 0, (int)status, msg, 0);
			break;
		}
		/* refresh when the token worked before (it expired), or once */
		if (c->auth.can_refresh && (c->auth.generation_ok || !r->refreshed)) {
			char err[512];
			if (rx_push_auth_refresh(&c->auth, p, c->insecure, err, sizeof err) == 0) {
				r->refreshed = 1;
				r->attempts--; /* the refresh, not the records, was at fault */
				retry_records(e, r, r->recs, r->n, 0, (int)status, msg, 0);
				break;
			}
			rx_diag("%s", err);
		}
		char said[256];
		rx_push_reply_gist(r, said, sizeof said);
		/* the profile may know what the vendor means (which permission, which key): its message follows */
		const char *why = explained ? strstr(msg, ": ") : NULL;
		rx_push_stop(c, PUSH_STOP_AUTH, "HTTP %ld: the destination refused the credentials%s%s%s%s%s", status,
			     said[0] ? " (it says: " : "", said, said[0] ? ")" : "", why ? ": " : "", why ? why + 2 : "");
		retry_records(e, r, r->recs, r->n, 0, (int)status, msg, 0);
		break;
	case PER_RECORD: {
		if (r->token_generation == c->auth.generation)
			c->auth.generation_ok = 1;
		push_record **again = rx_xmalloc(r->n * sizeof *again), **queued = rx_xmalloc(r->n * sizeof *queued);
		size_t nagain = 0, nqueued = 0;
		rx_push_rate_succeeded(c->rate);
		for (size_t i = 0; i < r->n; i++) {
			jv res = jv_array_get(jv_copy(results), (int)i);
			jv ok = jv_get_kind(res) == JV_KIND_OBJECT ? jv_object_get(jv_copy(res), jv_string("ok")) : jv_copy(res);
			jv retry = jv_get_kind(res) == JV_KIND_OBJECT ? jv_object_get(jv_copy(res), jv_string("retry"))
								   : jv_false();
			char why[600];
			if (jv_get_kind(retry) == JV_KIND_TRUE) {
				again[nagain++] = r->recs[i];
			} else if (jv_get_kind(ok) == JV_KIND_TRUE) {
				jv id = jv_get_kind(res) == JV_KIND_OBJECT ? jv_object_get(jv_copy(res), jv_string("id"))
									   : jv_null();
				jv made = jv_get_kind(res) == JV_KIND_OBJECT ? jv_object_get(jv_copy(res), jv_string("created"))
									     : jv_null();
				if (jv_get_kind(made) == JV_KIND_TRUE || jv_get_kind(made) == JV_KIND_FALSE)
					rx_push_count_created(c, jv_get_kind(made) == JV_KIND_TRUE); /* HubSpot's "new" */
				jv_free(made);
				if (to_job) {
					queued[nqueued++] = r->recs[i];
					jv_free(id);
				} else {
					rx_push_ack(c, r->recs[i], id);
				}
			} else if (jv_get_kind(ok) != JV_KIND_FALSE) {
				/* neither ok nor rejected: not understood, never success */
				rx_push_dead(c, r->recs[i], (int)status,
					     "the reply's result for this record is not understood (neither ok nor rejected)",
					     r->reply.data, r->reply.len, r->attempts);
			} else {
				rx_push_dead(c, r->recs[i], (int)status, rx_push_result_message(res, why, sizeof why, "rejected"),
					  r->reply.data, r->reply.len, r->attempts);
			}
			jv_free(res);
			jv_free(ok);
			jv_free(retry);
		}
		if (r->kind == REQ_POLL) /* the job says: send these again */
			rx_push_queue_writes(e, r->op, again, nagain, now + backoff(e, r->attempts));
		else
			retry_records(e, r, again, nagain, backoff(e, r->attempts), (int)status, msg, 1);
		rx_push_job_poll(e, r, queued, nqueued);
		free(again);
		free(queued);
		break;
	}
	}
	jv_free(results);
}

/* ---- the loop ---- */

/* The due request that arrived first (retries keep their place), or NULL.
 * e->wake is set to the earliest time one of those before it becomes
 * due: all of them when none is due (when one is, the loop comes back). */
static request *take_due(engine *e, double now)
{
	request **pp, *prev = NULL;

	e->wake = 0;
	for (pp = &e->queue; *pp; prev = *pp, pp = &(*pp)->next) {
		if ((*pp)->not_before <= now) {
			/* (a request waiting for an earlier change of one of its keys
			 * is woken by that change's end: order.c) */
			if (rx_push_order_ready(e->c, (*pp)->recs, (*pp)->n))
				break;
		} else if (e->wake == 0 || (*pp)->not_before < e->wake) {
			e->wake = (*pp)->not_before;
		}
	}
	if (*pp == NULL)
		return NULL;
	request *r = *pp;
	*pp = r->next;
	if (e->queue_tail == r)
		e->queue_tail = prev;
	r->next = NULL;
	return r;
}

/* Is a request waiting out a 429's back-off?  (For the time throttled.) */
static int throttle_waiting(const engine *e, double now)
{
	for (const request *r = e->queue; r != NULL; r = r->next)
		if (r->throttles > 0 && r->not_before > now)
			return 1;
	return 0;
}

static void put_back(engine *e, request *r)
{
	rx_push_queue(e, r);
}

static void finish_transfers(engine *e)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(e->multi, &left)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *h = m->easy_handle;
		CURLcode cc = m->data.result;
		request *r = NULL;
		curl_easy_getinfo(h, CURLINFO_PRIVATE, (char **)&r);
		curl_multi_remove_handle(e->multi, h);
		for (request **pp = &e->running; *pp; pp = &(*pp)->next)
			if (*pp == r) {
				*pp = r->next;
				break;
			}
		e->nrunning--;
		settle(e, r, cc);
		r->easy = NULL;
		rx_push_request_free(r);
		e->idle = rx_xrealloc(e->idle, (e->nidle + 1) * sizeof *e->idle);
		e->idle[e->nidle++] = h;
		rx_push_flush(e->c);
	}
}

void rx_push_queue_writes(engine *e, const char *op, push_record **recs, size_t n, double not_before)
{
	const push_op *spec = rx_push_profile_op(&e->c->prof, op);
	size_t per = spec != NULL && spec->max_records > 0 ? spec->max_records : n;

	/* the queue is in order of seq: FIFO, each piece of a split batch
	 * after the one before it */
	for (size_t at = 0; at < n; at += per) {
		request *r = rx_push_request_new(op, recs + at, n - at < per ? n - at : per);
		r->not_before = not_before;
		rx_push_queue(e, r);
	}
}

static void batches_to_requests(engine *e)
{
	push_batch *b;

	while ((b = rx_push_batch_pop(e->c)) != NULL) {
		rx_push_identity_batch(e, b);
		rx_push_batch_free(b);
	}
}

/* Open (or close) the windows of a request spec's own rate_limits, on
 * top of the profile's: an op's (Klaviyo's deletions), the lookup's
 * (HubSpot's search, 5 a second), and its job's create and poll. */
static void spec_rate(push_op *s, int open)
{
	if (s == NULL)
		return;
	if (open && s->nwindows > 0 && s->rate == NULL) {
		char err[256];
		s->rate = rx_push_rate_open(s->windows, s->nwindows, NULL, err, sizeof err);
	} else if (!open && s->rate != NULL) {
		rx_push_rate_close(s->rate);
		s->rate = NULL;
	}
}

static void spec_rates(push_op *o, int open)
{
	spec_rate(o, open);
	spec_rate(o->create, open);
	spec_rate(o->poll, open);
}

void rx_push_http_run(push_ctx *c)
{
	engine eng = {0}, *e = &eng;
	double signal_at = 0;

	e->c = c;
	e->multi = curl_multi_init();
	if (e->multi == NULL) {
		rx_push_stop(c, PUSH_STOP_FAIL, "cannot start libcurl");
		return;
	}
	curl_multi_setopt(e->multi, CURLMOPT_MAX_HOST_CONNECTIONS, c->concurrency);
	for (size_t i = 0; i < c->prof.nops; i++)
		spec_rates(&c->prof.ops[i], 1);
	if (c->prof.has_lookup)
		spec_rates(&c->prof.lookup, 1);
	e->hold_max = (size_t)c->concurrency * c->prof.max_records * 2 + c->prof.max_records;
	for (;;) {
		double now = rx_push_now();
		if (rx_push_signalled && signal_at == 0) {
			signal_at = now;
			rx_push_stop(c, PUSH_STOP_SIGNAL, "interrupted");
		}
		/* input, while not holding too much */
		int input_waiting = 0;
		while (c->stop == PUSH_RUNNING && !c->in_eof && c->held < e->hold_max) {
			int rc = rx_push_input_step(c, 0);
			if (rc == 0) {
				input_waiting = 1;
				rx_push_input_flush(c); /* nothing more right now: send what we have */
				break;
			}
		}
		batches_to_requests(e);
		/* start what may start */
		int held = 0; /* a request ready, held back by a rate limit or a 429 */
		while (c->stop == PUSH_RUNNING && e->nrunning < (size_t)c->concurrency) {
			request *r = take_due(e, now);
			if (r == NULL)
				break;
			/* a dry run sends nothing: it shows every request at once */
			const push_op *rop = r->spec ? r->spec : rx_push_profile_op(&c->prof, r->op);
			double wait = 0;
			if (!c->dry_run && rop != NULL && rop->rate != NULL) {
				/* the request's own windows first (an op's, the
				 * lookup's, a job's poll's; a slot of them unused when
				 * the profile's then says wait: a little under, never
				 * over) */
				wait = rx_push_rate_acquire(rop->rate, now);
				if (wait < 0)
					wait = 1; /* an op's windows pace, they are no quota */
			}
			if (wait == 0)
				wait = c->dry_run ? 0 : rx_push_rate_acquire(c->rate, now);
			if (wait < 0) {
				put_back(e, r);
				if (rx_push_rate_error(c->rate) != NULL)
					rx_push_stop(c, PUSH_STOP_DOWN, "%s", rx_push_rate_error(c->rate));
				else
					rx_push_stop(c, PUSH_STOP_QUOTA, "the daily quota (a --rate or profile window) is used up");
				break;
			}
			if (wait > 0) {
				held = 1;
				put_back(e, r);
				if (e->wake == 0 || now + wait < e->wake)
					e->wake = now + wait;
				break;
			}
			start(e, r);
		}
		rx_push_throttle_tick(c, held || throttle_waiting(e, now), now);
		if (e->nrunning == 0) {
			if (c->stop != PUSH_RUNNING)
				break;
			if (c->in_eof && e->queue == NULL && c->head == NULL && c->open == NULL)
				break;
		}
		if (signal_at > 0 && now - signal_at > c->grace) {
			rx_diag("abandoning %zu request%s in flight", e->nrunning, e->nrunning == 1 ? "" : "s");
			break;
		}
		/* wait for a socket, input, or the next due time */
		long timeout = 200;
		if (e->wake > 0) {
			double ms = (e->wake - rx_push_now()) * 1000;
			if (ms < timeout)
				timeout = ms < 0 ? 0 : (long)ms + 1;
		}
		struct curl_waitfd wfd = {c->in.fd, CURL_WAIT_POLLIN, 0};
		int want_input = c->stop == PUSH_RUNNING && !c->in_eof && c->held < e->hold_max;
		if (want_input && !input_waiting)
			timeout = 0;
		int still;
		curl_multi_poll(e->multi, want_input ? &wfd : NULL, want_input ? 1 : 0, (int)timeout, NULL);
		curl_multi_perform(e->multi, &still);
		finish_transfers(e);
		rx_push_progress(c, 0, e->nrunning);
	}
	/* abandoned transfers: their records stay held (unacked) */
	while (e->running != NULL) {
		request *r = e->running;
		e->running = r->next;
		curl_multi_remove_handle(e->multi, r->easy);
		curl_easy_cleanup(r->easy);
		for (size_t i = 0; i < r->n; i++) {
			free(r->recs[i]->text);
			free(r->recs[i]);
		}
		rx_push_request_free(r);
	}
	while (e->queue != NULL) {
		request *r = e->queue;
		e->queue = r->next;
		if (e->queue == NULL)
			e->queue_tail = NULL;
		for (size_t i = 0; i < r->n; i++) {
			free(r->recs[i]->text);
			free(r->recs[i]);
		}
		rx_push_request_free(r);
	}
	for (size_t i = 0; i < c->prof.nops; i++)
		spec_rates(&c->prof.ops[i], 0);
	if (c->prof.has_lookup)
		spec_rates(&c->prof.lookup, 0);
	for (size_t i = 0; i < e->nidle; i++)
		curl_easy_cleanup(e->idle[i]);
	free(e->idle);
	curl_multi_cleanup(e->multi);
}
