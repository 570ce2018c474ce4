/*
 * rx-push - deliver changes to a destination: acks out, dead letters on
 * stderr.
 *
 * Streams: records are held only while in flight; input is read only
 * while fewer than a bound of records are held (a few batches per
 * concurrent request), so memory is flat in the number of records.
 *
 * This file: options, input (batches from rx-batch or single changes,
 * dead letters fed back), acks and dead letters, the database
 * destinations' loop, the stats file and the exit status.  The HTTP
 * engine is engine.c.  Every record that is taken in leaves through
 * rx_push_ack() or rx_push_dead(), or is still held when the run stops, and is
 * then counted in the final "left unacked" line.
 */
#include "push.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

volatile int rx_push_signalled;

static void usage(void)
{
	printf("Usage: rx-push --profile NAME [OPTION]...\n"
	       "Deliver changes (batches or single changes) to a destination; write one ack per\n"
	       "delivered record on stdout and one dead letter per rejected record on stderr.\n"
	       "Streams: only the records in flight are held.\n"
	       "\n"
	       "Destination:\n"
	       "  -p, --profile NAME       a profile: NAME.json in $RX_PROFILE_PATH or\n"
	       "                           share/rx/destinations, or a path\n"
	       "      --url URL            the base URL (or database: a file, a conninfo,\n"
	       "                           redis://HOST:PORT/DB or a socket path)\n"
	       "      --table NAME         database destinations: the table (redis: the key\n"
	       "                           template, like customer:{key})\n"
	       "      --key COL[,COL]      database destinations: the key columns\n"
	       "      --insecure           do not verify TLS certificates\n"
	       "\n"
	       "Sending:\n"
	       "  -c, --concurrency N      requests in flight at most (default 8; never above the\n"
	       "                           profile's max_concurrency)\n"
	       "      --rate N/WINDOW      at most N requests per window (10s, 1m, 1d); repeatable;\n"
	       "                           replaces the profile's limits\n"
	       "      --budget FILE        share the rate budget with every rx-push naming FILE\n"
	       "                           (or redis://HOST:PORT/NAME: with every host)\n"
	       "      --max-records N      records per request at most (below the profile's)\n"
	       "      --max-attempts N     tries per request (default 6)\n"
	       "      --max-throttles N    429s (or throttle replies) for one request before the run\n"
	       "                           stops with exit 75 (default 50; they are waits, not tries)\n"
	       "      --retry-base MS      first retry delay, doubled each time (default 500)\n"
	       "      --retry-max MS       longest retry delay (default 60000)\n"
	       "      --connect-timeout MS (default 10000)\n"
	       "      --timeout MS         whole request (default 60000)\n"
	       "      --grace MS           after SIGINT/SIGTERM, time to finish requests (default 3000)\n"
	       "\n"
	       "Before a sync:\n"
	       "      --check-profile      load the profile, report what in it cannot work\n"
	       "                           (\"error:\"/\"warning:\" lines); exit 1 on an error\n"
	       "      --test-connection    send the profile's \"test\" request (a cheap read): do\n"
	       "                           the URL and credentials work? 0 yes, 1 refused, 75 unreachable\n"
	       "\n"
	       "Seeing what happens:\n"
	       "  -n, --dry-run            print each request as JSON (secrets as ***); send nothing\n"
	       "      --limit N            take only the first N records\n"
	       "      --stats FILE         write a JSON summary to FILE at the end\n"
	       "      --progress           draw a meter on the terminal: done/total (the total from\n"
	       "                           rx-diff --count-record), rate, time left, time throttled\n"
	       "      --metrics FILE       write the run's metrics for Prometheus's textfile collector\n"
	       "                           (counters carry on from the FILE it replaces)\n"
	       "      --sync NAME          the sync's name in the metrics (default: rx-diff's, or\n"
	       "                           the profile's)\n"
	       "      --max-line BYTES     longest input line (default 64M)\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "Exit: 0 all delivered, 1 failed, 2 usage, 3 some dead-lettered, 65 bad input,\n"
	       "74 cannot write acks, 75 stopped early (quota, destination down, signal).\n"
	       "\n"
	       "Example:\n"
	       "  rx-batch --size 100 <changes.ndjson | rx-push --profile webhook \\\n"
	       "      --url https://hooks.example.com/rx 2>>dead-letters.ndjson\n"
	       "\n"
	       "See rx-push(1).\n");
	exit(RX_EXIT_OK);
}

/* ---- stopping ---- */

void rx_push_stop(push_ctx *c, enum rx_push_stop why, const char *fmt, ...)
{
	va_list ap;

	if (c->stop != PUSH_RUNNING)
		return;
	c->stop = why;
	va_start(ap, fmt);
	vsnprintf(c->stop_msg, sizeof c->stop_msg, fmt, ap);
	va_end(ap);
}

/* ---- records in and out ---- */

void rx_push_record_free(push_ctx *c, push_record *r)
{
	if (r == NULL)
		return;
	free(r->text);
	free(r);
	c->held--;
}

void rx_push_batch_free(push_batch *b)
{
	if (b == NULL)
		return;
	free(b->recs);
	free(b);
}

/* The ack of r, with the id the reply gave (a jq value, or raw JSON when
 * raw is not empty), else the one it was sent with. */
static void ack(push_ctx *c, push_record *r, jv id, rx_span raw)
{
	rx_buf *b = &c->out.buf;

	rx_buf_puts(b, "{\"key\":");
	rx_json_put_compact(b, r->key);
	if (r->hash.n > 0) {
		rx_buf_puts(b, ",\"hash\":");
		rx_json_put_compact(b, r->hash);
	}
	if (r->run.n > 0) {
		rx_buf_puts(b, ",\"run\":");
		rx_json_put_compact(b, r->run);
	}
	rx_buf_puts(b, ",\"op\":\"");
	rx_buf_puts(b, r->op);
	rx_buf_putc(b, '"');
	if (raw.n > 0) {
		jv_free(id);
		rx_buf_puts(b, ",\"id\":");
		rx_json_put_compact(b, raw);
	} else if (jv_is_valid(id) && jv_get_kind(id) != JV_KIND_NULL) {
		rx_buf_puts(b, ",\"id\":");
		rx_jv_put(b, id);
	} else {
		jv_free(id);
		if (r->id.n > 0) { /* the id it was sent with, or a lookup found */
			rx_buf_puts(b, ",\"id\":");
			rx_json_put_compact(b, r->id);
		}
	}
	rx_buf_puts(b, "}\n");
	c->acked++;
	rx_push_count_outcome(c, r, 1, 0, NULL);
	rx_push_order_left(c, r);
	rx_push_record_free(c, r);
}

void rx_push_ack(push_ctx *c, push_record *r, jv id)
{
	ack(c, r, id, rx_span_of(NULL, 0));
}

void rx_push_ack_raw(push_ctx *c, push_record *r, rx_span id)
{
	ack(c, r, jv_null(), id);
}

void rx_push_record_set_id(push_record *r, jv id)
{
	rx_buf text = {0}, value = {0};
	rx_members ms = {0};
	char err[128];

	rx_jv_put(&value, id);
	/* the record's text with "id" first and any old one left out: the
	 * body programs see it like the id of a change */
	rx_buf_puts(&text, "{\"id\":");
	rx_buf_put(&text, value.data, value.len);
	if (rx_json_scan_object(r->text, r->len, &ms, err, sizeof err) == 0)
		for (size_t i = 0; i < ms.n; i++) {
			if (rx_json_name_eq(ms.m[i].name, "id", 2))
				continue;
			rx_buf_putc(&text, ',');
			rx_buf_put(&text, ms.m[i].name.p, ms.m[i].name.n);
			rx_buf_putc(&text, ':');
			rx_buf_put(&text, ms.m[i].value.p, ms.m[i].value.n);
		}
	rx_buf_putc(&text, '}');
	free(ms.m);
	ms = (rx_members){0};
	rx_json_scan_object(text.data, text.len, &ms, err, sizeof err);
	free(r->text);
	r->text = text.data;
	r->len = text.len;
	r->key = r->hash = r->row = r->run = r->id = (rx_span){NULL, 0};
	r->plain = 0; /* its members in another order now: record_jv scans it */
	for (size_t i = 0; i < ms.n; i++) {
		rx_span v = ms.m[i].value;
		if (rx_json_name_eq(ms.m[i].name, "key", 3))
			r->key = v;
		else if (rx_json_name_eq(ms.m[i].name, "hash", 4))
			r->hash = v;
		else if (rx_json_name_eq(ms.m[i].name, "row", 3) && rx_json_kind(v) == 'o')
			r->row = v;
		else if (rx_json_name_eq(ms.m[i].name, "run", 3))
			r->run = v;
		else if (rx_json_name_eq(ms.m[i].name, "id", 2))
			r->id = v;
	}
	free(ms.m);
	rx_buf_free(&value);
}

void rx_push_dead(push_ctx *c, push_record *r, int status, const char *message, const char *body, size_t bodylen,
	       int attempts)
{
	rx_deadletter d = {"rx-push", status, message, {NULL, 0}, attempts};
	rx_buf shown = {0};
	char err[64];

	if (body != NULL && bodylen > 0) {
		/* the reply, as JSON when it is JSON and short, else as a string cut to 2 KiB */
		if (bodylen <= 4096 && rx_json_validate(body, bodylen, err, sizeof err) == 0) {
			rx_json_put_compact(&shown, rx_span_of(body, bodylen));
		} else {
			size_t n = bodylen > 2048 ? 2048 : bodylen;
			while (n > 0 && n < bodylen && ((unsigned char)body[n] & 0xC0) == 0x80)
				n--; /* don't cut a UTF-8 character */
			rx_json_put_text(&shown, body, n);
		}
		d.body = rx_span_of(shown.data, shown.len);
	}
	rx_deadletter_emit(r->text, r->len, &d);
	rx_buf_free(&shown);
	c->dead++;
	rx_push_count_outcome(c, r, 0, status, NULL); /* by op and reason; the commit is told */
	rx_push_order_left(c, r);
	rx_push_record_free(c, r);
}

void rx_push_flush(push_ctx *c)
{
	if (c->out.buf.len == 0)
		return;
	rx_scrub(&c->out.buf, 0); /* an id or a dry run echoing a secret */
	if (rx_writer_flush(&c->out) < 0)
		rx_push_stop(c, PUSH_STOP_OUTPUT, "cannot write acks: %s", strerror(c->out.error));
	rx_killpoint("flushed");
}

/* ---- input ---- */

static void enqueue(push_ctx *c, push_batch *b)
{
	b->next = NULL;
	if (c->tail != NULL)
		c->tail->next = b;
	else
		c->head = b;
	c->tail = b;
}

push_batch *rx_push_batch_pop(push_ctx *c)
{
	push_batch *b = c->head;

	if (b != NULL) {
		c->head = b->next;
		if (c->head == NULL)
			c->tail = NULL;
		b->next = NULL;
	}
	return b;
}

static push_batch *batch_new(const char *op, size_t cap)
{
	push_batch *b = calloc(1, sizeof *b);

	if (b == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	snprintf(b->op, sizeof b->op, "%s", op);
	b->recs = rx_xmalloc((cap ? cap : 1) * sizeof *b->recs);
	return b;
}

void rx_push_input_flush(push_ctx *c)
{
	if (c->open != NULL) {
		enqueue(c, c->open);
		c->open = NULL;
	}
}

static int valid_op(const char *op)
{
	return strcmp(op, "insert") == 0 || strcmp(op, "update") == 0 || strcmp(op, "upsert") == 0 ||
	       strcmp(op, "delete") == 0;
}

/* A malformed record: reported, dead-lettered, and the exit status is 65. */
static void malformed(push_ctx *c, const char *text, size_t n, const char *why)
{
	rx_deadletter d = {"rx-push", 0, why, {NULL, 0}, 0};

	rx_diag_at(c->in.name, c->in.line, "%s", why);
	rx_deadletter_emit(text, n, &d);
	c->malformed++;
	c->dead++;
	rx_push_count_outcome(c, NULL, 0, 0, "malformed");
}

/* A dead letter fed back (it has an "error") whose row no longer hashes to
 * the row_hash it was rejected with: sent, it would be acked under its
 * old key and hash, and the snapshot would hold a row the destination
 * does not have. */
static int edited_dead_letter(const rx_members *ms)
{
	static rx_members em, rm;
	char err[128], hex[65];
	unsigned char h[32];
	long e = rx_json_find(ms, "error", 5), r = rx_json_find(ms, "row", 3);

	if (e < 0 || rx_json_kind(ms->m[e].value) != 'o' ||
	    rx_json_scan_object(ms->m[e].value.p, ms->m[e].value.n, &em, err, sizeof err) < 0)
		return 0;
	long i = rx_json_find(&em, "row_hash", 8);
	if (i < 0 || em.m[i].value.n != 66)
		return 0;
	if (r < 0 || rx_json_kind(ms->m[r].value) != 'o' ||
	    rx_json_scan_object(ms->m[r].value.p, ms->m[r].value.n, &rm, err, sizeof err) < 0)
		return 1;
	rx_canon_row_hash(&rm, NULL, 0, h);
	for (int k = 0; k < 32; k++)
		snprintf(hex + 2 * k, 3, "%02x", h[k]);
	return memcmp(hex, em.m[i].value.p + 1, 64) != 0;
}

/* Make a record of one change; batch_op when it has none of its own.
 * pre: its members, when the scan of its line found them (validated, no
 * name twice), else NULL. */
static push_record *make_record(push_ctx *c, const char *text, size_t n, const char *batch_op,
				const rx_members *pre)
{
	static rx_members own; /* kept: no allocation a record */
	char err[256], op[16] = "";
	push_record *r = NULL;
	long i;

	/* take_line validated the line: without pre, split the change again
	 * without validating; the scanner says what is wrong with an element
	 * that is not an object */
	if (pre == NULL && rx_json_members(text, n, &own, err, sizeof err) < 0 &&
	    rx_json_scan_object(text, n, &own, err, sizeof err) < 0) {
		char why[320];
		snprintf(why, sizeof why, "cannot parse JSON: %s", err);
		malformed(c, text, n, why);
		goto done;
	}
	const rx_members ms = pre != NULL ? *pre : own;
	i = rx_json_find(&ms, "op", 2);
	if (i >= 0 && rx_json_kind(ms.m[i].value) == 's' && ms.m[i].value.n < sizeof op)
		snprintf(op, sizeof op, "%.*s", (int)ms.m[i].value.n - 2, ms.m[i].value.p + 1);
	else if (batch_op != NULL)
		snprintf(op, sizeof op, "%s", batch_op);
	if (!valid_op(op)) {
		malformed(c, text, n, op[0] ? "unknown op (insert, update, upsert or delete)" : "a change without \"op\"");
		goto done;
	}
	i = rx_json_find(&ms, "key", 3);
	if (i < 0 || rx_json_kind(ms.m[i].value) == 'z') {
		malformed(c, text, n, "a change without \"key\"");
		goto done;
	}
	long hi = rx_json_find(&ms, "hash", 4);
	if (hi < 0 || rx_json_kind(ms.m[hi].value) != 's') {
		/* an ack without it could never find its way back to the snapshot */
		malformed(c, text, n, "a change without a \"hash\" string (rx-diff gives every change one; a "
				      "hand-written change may make one up)");
		goto done;
	}
	if (edited_dead_letter(&ms)) {
		malformed(c, text, n,
			  "a dead letter whose row was edited after it was rejected (it no longer matches its "
			  "error.row_hash): a re-drive sends records as they were; to send other values, fix the model or "
			  "the mapping and run the sync");
		goto done;
	}
	r = calloc(1, sizeof *r);
	if (r == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	r->text = rx_xmalloc(n + 1);
	memcpy(r->text, text, n);
	r->text[n] = '\0';
	r->len = n;
	r->line = c->in.line;
	memcpy(r->op, op, strlen(op) + 1); /* a valid op: at most 6 bytes */
#define SPAN_OF(v) rx_span_of(r->text + ((v).p - text), (v).n)
	r->key = SPAN_OF(ms.m[i].value);
	i = rx_json_find(&ms, "hash", 4);
	if (i >= 0)
		r->hash = SPAN_OF(ms.m[i].value);
	i = rx_json_find(&ms, "row", 3);
	if (i >= 0 && rx_json_kind(ms.m[i].value) == 'o')
		r->row = SPAN_OF(ms.m[i].value);
	i = rx_json_find(&ms, "run", 3);
	if (i >= 0 && rx_json_kind(ms.m[i].value) == 's')
		r->run = SPAN_OF(ms.m[i].value);
	i = rx_json_find(&ms, "id", 2);
	if (i >= 0 && rx_json_kind(ms.m[i].value) != 'z')
		r->id = SPAN_OF(ms.m[i].value);
#undef SPAN_OF
	r->plain = 1;
	for (size_t k = 0; k < ms.n && r->plain; k++) {
		rx_span nm = ms.m[k].name;
		int code = 0;
		if (rx_json_name_eq(nm, "op", 2) || rx_json_name_eq(nm, "error", 5) || rx_json_name_eq(nm, "idem", 4))
			continue;
		if (rx_json_name_eq(nm, "key", 3))
			code = RX_MEMBER_KEY;
		else if (rx_json_name_eq(nm, "hash", 4))
			code = RX_MEMBER_HASH;
		else if (rx_json_name_eq(nm, "run", 3) && r->run.n > 0)
			code = RX_MEMBER_RUN;
		else if (rx_json_name_eq(nm, "row", 3) && r->row.n > 0)
			code = RX_MEMBER_ROW;
		else if (rx_json_name_eq(nm, "id", 2) && r->id.n > 0)
			code = RX_MEMBER_ID;
		if (code == 0 || r->norder == sizeof r->order)
			r->plain = 0;
		else
			r->order[r->norder++] = (unsigned char)code;
	}
	c->held++;
	c->taken++;
	rx_push_order_take(c, r);
done:
	return r;
}

const char *rx_push_idem(const push_record *r)
{
	if (r->idem[0] == '\0') {
		static rx_buf key;
		char hex[65];
		rx_buf_reset(&key);
		rx_key_text(r->key, &key);
		rx_buf_putc(&key, '\n');
		rx_buf_put(&key, r->hash.p, r->hash.n);
		rx_sha256_hex(key.data, key.len, hex);
		/* a cache of the record's own: the record is never const itself */
		memcpy(((push_record *)r)->idem, hex, 32);
	}
	return r->idem;
}

static int limit_reached(push_ctx *c)
{
	return c->limit > 0 && c->taken >= c->limit;
}

static void take_line(push_ctx *c, const char *line, size_t n)
{
	static rx_members ms;
	static rx_batch_scan bs; /* a batch's records, found as the line is validated */
	char err[256];
	long ri;

	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	if (n == 0)
		return;
	if (rx_control_is(line, n)) {
		char kind[16];
		/* a stream's source position goes on among the acks, after what it
		 * covers (order.c); the changes record counts what follows; any
		 * other (a model's end record, passed on by rx-batch) is not a change */
		if (rx_control_kind_is(line, n, "changes"))
			rx_push_changes_record(c, line, n); /* how many follow: the meter's total */
		else if (rx_control_parse(line, n, &ms, kind, sizeof kind, err, sizeof err) == 0 && strcmp(kind, "commit") == 0)
			rx_push_order_commit(c, line, n);
		return;
	}
	if (rx_json_scan_batch(line, n, &ms, &bs, err, sizeof err) < 0) {
		char why[320];
		snprintf(why, sizeof why, "cannot parse JSON: %s", err);
		malformed(c, line, n, why);
		return;
	}
	ri = rx_json_find(&ms, "records", 7);
	if (ri < 0) {
		/* a single change: gathered with its neighbours of the same op
		 * (its members are the line's, just scanned) */
		push_record *r = make_record(c, line, n, NULL, &ms);
		if (r == NULL)
			return;
		if (c->open != NULL && (strcmp(c->open->op, r->op) != 0 || c->open->n >= c->prof.max_records))
			rx_push_input_flush(c);
		if (c->open == NULL)
			c->open = batch_new(r->op, c->prof.max_records);
		c->open->recs[c->open->n++] = r;
		if (c->open->n >= c->prof.max_records)
			rx_push_input_flush(c);
		return;
	}
	rx_span arr = ms.m[ri].value;
	if (rx_json_kind(arr) != 'a') {
		malformed(c, line, n, "\"records\" is not an array");
		return;
	}
	char op[16] = "";
	long oi = rx_json_find(&ms, "op", 2);
	if (oi >= 0 && rx_json_kind(ms.m[oi].value) == 's' && ms.m[oi].value.n < sizeof op)
		snprintf(op, sizeof op, "%.*s", (int)ms.m[oi].value.n - 2, ms.m[oi].value.p + 1);
	/* "records" is the array the scan kept: the one member of that name
	 * (a name twice refuses the line) */
	rx_push_input_flush(c);
	push_batch *b = NULL;
	for (size_t i = 0; i < bs.n; i++) {
		if (limit_reached(c))
			break;
		rx_members one = {bs.members.m + bs.first[i], bs.first[i + 1] - bs.first[i], 0};
		push_record *r = make_record(c, bs.elems[i].p, bs.elems[i].n, op[0] ? op : NULL, bs.own[i] ? NULL : &one);
		if (r == NULL)
			continue;
		/* one op per request: a record whose own op differs starts a new one */
		if (b != NULL && (b->n >= c->prof.max_records || strcmp(b->op, r->op) != 0)) {
			enqueue(c, b);
			b = NULL;
		}
		if (b == NULL)
			b = batch_new(r->op, c->prof.max_records);
		b->recs[b->n++] = r;
	}
	if (b != NULL)
		enqueue(c, b);
}

/* After a stop that leaves the input unread (quota, destination down,
 * 401), read it to the end and count its records, so the final message
 * counts every record left unacked and the stage upstream finishes
 * normally instead of meeting a closed pipe. */
static size_t drain_count(push_ctx *c)
{
	static rx_members ms;
	char *line, err[512];
	size_t n, count = 0;

	for (;;) {
		int rc = rx_reader_next(&c->in, &line, &n, err, sizeof err);
		if (rc < 0 && c->in.too_long && rx_reader_skip(&c->in, NULL, 0, err, sizeof err) == 0) {
			count++;
			continue;
		}
		if (rc <= 0)
			break;
		if (n == 0 || rx_control_is(line, n))
			continue;
		if (rx_json_scan_object(line, n, &ms, err, sizeof err) == 0) {
			long ri = rx_json_find(&ms, "records", 7);
			if (ri >= 0 && rx_json_kind(ms.m[ri].value) == 'a') {
				count += rx_json_array_split(ms.m[ri].value, NULL, 0);
				continue;
			}
		}
		count++;
	}
	c->in_eof = 1;
	return count;
}

static int line_ready(push_ctx *c)
{
	struct pollfd pfd = {c->in.fd, POLLIN, 0};

	if (c->in.eof || memchr(c->in.data + c->in.start, '\n', rx_reader_buffered(&c->in)) != NULL)
		return 1;
	return poll(&pfd, 1, 0) > 0;
}

int rx_push_input_step(push_ctx *c, int block)
{
	char *line, err[512];
	size_t n;
	int rc;

	if (c->in_eof)
		return -1;
	if (limit_reached(c) || c->stop != PUSH_RUNNING) {
		c->in_eof = 1;
		rx_push_input_flush(c);
		return -1;
	}
	if (!block && !line_ready(c))
		return 0;
	rc = rx_reader_next(&c->in, &line, &n, err, sizeof err);
	if (rc < 0 && c->in.too_long) {
		/* that line is dead-lettered (its start kept), the rest delivered */
		rx_buf start = {0};
		rx_deadletter d = {"rx-push", 0, err, {NULL, 0}, 0};
		if (rx_reader_skip(&c->in, &start, 1024, err, sizeof err) == 0) {
			rx_diag("%s", d.message);
			rx_deadletter_emit(start.data ? start.data : "", start.len, &d);
			c->malformed++;
			c->dead++;
			rx_buf_free(&start);
			return 1;
		}
		rx_buf_free(&start);
	}
	if (rc < 0) {
		rx_diag("%s", err);
		rx_push_stop(c, PUSH_STOP_FAIL, "cannot read input");
		c->in_eof = 1;
		rx_push_input_flush(c);
		return -1;
	}
	if (rc == 0) {
		c->in_eof = 1;
		rx_push_input_flush(c);
		return -1;
	}
	take_line(c, line, n);
	return 1;
}

/* ---- seeing what happens ---- */

void rx_push_latency(push_ctx *c, double seconds)
{
	/* buckets of 5% width from 0.1 ms */
	double ms = seconds * 1000;
	int b = ms <= 0.1 ? 0 : (int)(log(ms / 0.1) / log(1.05)) + 1;

	if (b >= PUSH_LATENCY_BUCKETS)
		b = PUSH_LATENCY_BUCKETS - 1;
	c->latency[b]++;
}

/* ---- database destinations ---- */

static char **split_keys(const char *s, size_t *n)
{
	char *copy = rx_xstrdup(s), *save = NULL;
	char **keys = NULL;

	*n = 0;
	for (char *k = strtok_r(copy, ",", &save); k; k = strtok_r(NULL, ",", &save)) {
		keys = rx_xrealloc(keys, (*n + 1) * sizeof *keys);
		keys[(*n)++] = rx_xstrdup(k);
	}
	free(copy);
	return keys;
}

static void db_dry_run(push_ctx *c, push_batch *b)
{
	rx_buf *o = &c->out.buf;

	rx_buf_printf(o, "{\"$rx\":\"request\",\"driver\":\"%s\",\"table\":", c->prof.driver);
	if (c->prof.table != NULL)
		rx_json_put_string(o, c->prof.table, strlen(c->prof.table));
	else
		rx_buf_puts(o, "null");
	rx_buf_printf(o, ",\"op\":\"%s\",\"rows\":[", b->op);
	for (size_t i = 0; i < b->n; i++) {
		if (i > 0)
			rx_buf_putc(o, ',');
		if (b->recs[i]->row.n > 0)
			rx_json_put_compact(o, b->recs[i]->row);
		else
			rx_buf_puts(o, "null");
		c->dry++;
	}
	rx_buf_puts(o, "]}\n");
	for (size_t i = 0; i < b->n; i++) {
		rx_push_order_left(c, b->recs[i]);
		rx_push_record_free(c, b->recs[i]);
	}
}

/* A batch on its way to a database (db_run): its arrays stay put until it
 * is finished. */
typedef struct db_flight {
	push_batch *b;
	rx_span *rows, *ids;
	rx_db_result *results;
	size_t cap;
	int attempt;
	double t0;
} db_flight;

#define DB_DEPTH_MAX 4

typedef struct db_loop {
	push_ctx *c;
	const rx_db_driver *drv;
	rx_db *db;
	size_t depth;            /* batches in flight at most */
	db_flight fly[DB_DEPTH_MAX];
	size_t first, nfly;      /* the ring of batches in flight */
	int down;                /* a batch failed for good: send nothing more */
	char err[1024];
} db_loop;

/* Start batch f->b: 0, or -1 with l->err (nothing of it in flight). */
static int db_send(db_loop *l, db_flight *f)
{
	push_batch *b = f->b;

	if (b->n > f->cap) {
		f->cap = b->n;
		f->rows = rx_xrealloc(f->rows, f->cap * sizeof *f->rows);
		f->ids = rx_xrealloc(f->ids, f->cap * sizeof *f->ids);
		f->results = rx_xrealloc(f->results, f->cap * sizeof *f->results);
	}
	for (size_t i = 0; i < b->n; i++) {
		f->rows[i] = b->recs[i]->row;
		f->ids[i] = b->recs[i]->key;
		f->results[i].ok = 0;
		f->results[i].message[0] = '\0';
	}
	f->attempt++;
	l->c->requests++;
	if (l->drv->send == NULL)
		return 0; /* applied whole by db_finish */
	return l->drv->send(l->db, b->op, f->ids, f->rows, b->n, f->results, l->err, sizeof l->err);
}

static int db_finish(db_loop *l, db_flight *f)
{
	if (l->drv->send == NULL)
		return l->drv->apply(l->db, f->b->op, f->ids, f->rows, f->b->n, f->results, l->err, sizeof l->err);
	return l->drv->finish(l->db, l->err, sizeof l->err);
}

static void db_settle_all(db_loop *l);

/* Batch f is done (rc as apply's; the driver no longer holds it): ack and
 * dead-letter its records, or retry it alone, or give it back. */
static void db_done(db_loop *l, db_flight *f, int rc)
{
	push_ctx *c = l->c;
	push_batch *b = f->b;

	while (rc < 0 && !l->down && f->attempt < c->max_attempts && !rx_push_signalled) {
		/* the batches sent after it go first: none has a key of it */
		db_settle_all(l);
		c->retries++;
		double delay = c->retry_base * pow(2, f->attempt - 1) * (0.5 + drand48());
		usleep((useconds_t)((delay > c->retry_max ? c->retry_max : delay) * 1e6));
		rc = db_send(l, f);
		if (rc == 0)
			rc = db_finish(l, f);
	}
	rx_push_latency(c, rx_push_now() - f->t0);
	f->b = NULL;
	if (rc < 0) {
		enqueue(c, b); /* still held: counted unacked */
		if (!l->down)
			rx_push_stop(c, PUSH_STOP_DOWN, "%s: %s", c->prof.driver, l->err);
		l->down = 1;
		return;
	}
	for (size_t i = 0; i < b->n; i++) {
		if (f->results[i].ok)
			rx_push_ack(c, b->recs[i], jv_null());
		else
			rx_push_dead(c, b->recs[i], 0, f->results[i].message, NULL, 0, f->attempt);
	}
	rx_push_batch_free(b);
	rx_push_flush(c);
	rx_push_progress(c, 0, 0);
	if (rx_push_signalled)
		rx_push_stop(c, PUSH_STOP_SIGNAL, "interrupted");
}

/* Finish the oldest batch in flight. */
static void db_settle(db_loop *l)
{
	db_flight *f = &l->fly[l->first];

	l->first = (l->first + 1) % l->depth;
	l->nfly--;
	db_done(l, f, db_finish(l, f));
}

static void db_settle_all(db_loop *l)
{
	while (l->nfly > 0)
		db_settle(l);
}

/* Send batch b: with a driver that pipelines, while up to depth - 1
 * batches before it are still running (none sharing a key with it). */
static void db_start(db_loop *l, push_batch *b)
{
	if (l->nfly > 0 && !rx_push_order_ready(l->c, b->recs, b->n))
		db_settle_all(l);
	if (l->nfly == l->depth)
		db_settle(l);
	if (l->down) {
		enqueue(l->c, b);
		return;
	}
	db_flight *f = &l->fly[(l->first + l->nfly) % l->depth];
	f->b = b;
	f->attempt = 0;
	f->t0 = rx_push_now();
	if (db_send(l, f) < 0) {
		db_done(l, f, -1);
		return;
	}
	l->nfly++;
	if (l->drv->send == NULL)
		db_settle(l);
}

static void db_run(push_ctx *c)
{
	const rx_db_driver *drv = rx_db_find(c->prof.driver);
	size_t nkeys = 0;
	char **keys = NULL;
	db_loop loop = {0}, *l = &loop;

	if (drv == NULL) {
		rx_push_stop(c, PUSH_STOP_FAIL, "profile %s: no database driver \"%s\" (sqlite, postgres, redis)",
			     c->prof.name, c->prof.driver);
		return;
	}
	if (drv->needs_table && (c->prof.table == NULL || c->prof.key == NULL)) {
		rx_push_stop(c, PUSH_STOP_FAIL, "profile %s: a database destination needs a table and key columns "
			  "(--table, --key, or \"table\" and \"key\" in the profile)", c->prof.name);
		return;
	}
	if (c->url == NULL) {
		rx_push_stop(c, PUSH_STOP_FAIL, "profile %s: no database named (--url FILE or CONNINFO)", c->prof.name);
		return;
	}
	l->c = c;
	l->drv = drv;
	l->depth = drv->send == NULL || drv->depth < 1 ? 1 : drv->depth > DB_DEPTH_MAX ? DB_DEPTH_MAX : drv->depth;
	keys = c->prof.key ? split_keys(c->prof.key, &nkeys) : NULL;
	if (!c->dry_run) {
		l->db = drv->open(c->url, c->prof.table, keys, nkeys, c->prof.json, l->err, sizeof l->err);
		if (l->db == NULL) {
			rx_push_stop(c, PUSH_STOP_FAIL, "%s", l->err);
			goto cleanup;
		}
	}
	while (!l->down) {
		push_batch *b = rx_push_batch_pop(c);
		if (b == NULL) {
			int rc = -1;
			if (c->stop == PUSH_RUNNING && !rx_push_signalled)
				rc = rx_push_input_step(c, 0);
			if (rc < 0 && c->head == NULL) {
				if (l->nfly == 0)
					break;
				db_settle(l);
			} else if (rc == 0) {
				/* nothing more right now: finish what is in flight,
				 * write what was gathered, then wait for input,
				 * noticing a signal within 200 ms */
				if (l->nfly > 0) {
					db_settle(l);
					continue;
				}
				rx_push_input_flush(c);
				if (c->head == NULL) {
					struct pollfd pfd = {c->in.fd, POLLIN, 0};
					poll(&pfd, 1, 200);
				}
			}
			continue;
		}
		if (c->dry_run) {
			db_dry_run(c, b);
			rx_push_batch_free(b);
			rx_push_flush(c);
			continue;
		}
		db_start(l, b);
	}
	db_settle_all(l); /* after a failure: the batches sent after it */
cleanup:
	if (l->db != NULL)
		drv->close(l->db);
	for (size_t i = 0; i < nkeys; i++)
		free(keys[i]);
	free(keys);
	for (size_t i = 0; i < DB_DEPTH_MAX; i++) {
		free(l->fly[i].rows);
		free(l->fly[i].ids);
		free(l->fly[i].results);
	}
}

/* ---- main ---- */

/* Only http and https, and a URL libcurl can parse: anything else is
 * permanent (exit 1), never "try again later". */
static void check_url(const char *url)
{
	CURLU *u = curl_url();
	char *scheme = NULL;
	CURLUcode rc = u ? curl_url_set(u, CURLUPART_URL, url, 0) : CURLUE_OUT_OF_MEMORY;

	if (rc == CURLUE_OK)
		rc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
	if (rc != CURLUE_OK) {
		curl_url_cleanup(u);
		rx_die(RX_EXIT_FAIL, "the URL '%s' is malformed: %s", url, curl_url_strerror(rc));
	}
	int ok = strcasecmp(scheme, "http") == 0 || strcasecmp(scheme, "https") == 0;
	curl_free(scheme);
	curl_url_cleanup(u);
	if (!ok)
		rx_die(RX_EXIT_FAIL, "the URL '%s' is not http or https: rx-push sends to web APIs only", url);
}

static void on_signal(int sig)
{
	(void)sig;
	rx_push_signalled = 1;
}

static double parse_ms(const char *option, const char *arg)
{
	return (double)rx_parse_number(option, arg, 0, 86400000) / 1000.0;
}

int main(int argc, char **argv)
{
	enum { OPT_URL = 256, OPT_TABLE, OPT_KEY, OPT_INSECURE, OPT_RATE, OPT_BUDGET, OPT_MAXREC, OPT_ATTEMPTS,
	       OPT_RBASE, OPT_RMAX, OPT_CTIMEOUT, OPT_TIMEOUT, OPT_GRACE, OPT_LIMIT, OPT_STATS, OPT_PROGRESS,
	       OPT_MAXLINE, OPT_THROTTLES, OPT_CHECK_PROFILE, OPT_TEST_CONNECTION, OPT_METRICS, OPT_SYNC };
	static const struct option longopts[] = {
		{"profile", required_argument, NULL, 'p'},
		{"url", required_argument, NULL, OPT_URL},
		{"table", required_argument, NULL, OPT_TABLE},
		{"key", required_argument, NULL, OPT_KEY},
		{"insecure", no_argument, NULL, OPT_INSECURE},
		{"concurrency", required_argument, NULL, 'c'},
		{"rate", required_argument, NULL, OPT_RATE},
		{"budget", required_argument, NULL, OPT_BUDGET},
		{"max-records", required_argument, NULL, OPT_MAXREC},
		{"max-attempts", required_argument, NULL, OPT_ATTEMPTS},
		{"max-throttles", required_argument, NULL, OPT_THROTTLES},
		{"check-profile", no_argument, NULL, OPT_CHECK_PROFILE},
		{"test-connection", no_argument, NULL, OPT_TEST_CONNECTION},
		{"retry-base", required_argument, NULL, OPT_RBASE},
		{"retry-max", required_argument, NULL, OPT_RMAX},
		{"connect-timeout", required_argument, NULL, OPT_CTIMEOUT},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"grace", required_argument, NULL, OPT_GRACE},
		{"dry-run", no_argument, NULL, 'n'},
		{"limit", required_argument, NULL, OPT_LIMIT},
		{"stats", required_argument, NULL, OPT_STATS},
		{"progress", no_argument, NULL, OPT_PROGRESS},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"sync", required_argument, NULL, OPT_SYNC},
		{"max-line", required_argument, NULL, OPT_MAXLINE},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static push_ctx ctx;
	push_ctx *c = &ctx;
	const char *profile = NULL, *url = NULL, *table = NULL, *key = NULL, *budget = NULL, *stats = NULL,
		   *metrics = NULL;
	push_window rates[8];
	size_t nrates = 0, max_records = 0, max_line = 0;
	char err[2048];
	int opt, status;
	int check_profile = 0, test_connection = 0;

	rx_init("rx-push");
	argv[0] = (char *)rx_progname; /* getopt's messages name the program, not its path */
	signal(SIGPIPE, SIG_IGN);
	rx_no_core_dumps(); /* it holds tokens */
	c->concurrency = 8;
	c->max_attempts = 6;
	c->max_throttles = 50;
	c->retry_base = 0.5;
	c->retry_max = 60;
	c->connect_timeout_ms = 10000;
	c->timeout_ms = 60000;
	c->grace = 3;
	while ((opt = getopt_long(argc, argv, "p:c:nhV", longopts, NULL)) != -1) {
		switch (opt) {
		case 'p': profile = optarg; break;
		case OPT_URL: url = optarg; break;
		case OPT_TABLE: table = optarg; break;
		case OPT_KEY: key = optarg; break;
		case OPT_INSECURE: c->insecure = 1; break;
		case 'c': c->concurrency = (long)rx_parse_number("--concurrency", optarg, 1, 1000); break;
		case OPT_RATE:
			if (nrates >= 8 || rx_push_rate_parse(optarg, &rates[nrates]) < 0)
				rx_usage_error("--rate: '%s' is not N/WINDOW (like 100/10s, 5/s, 250000/1d)", optarg);
			nrates++;
			break;
		case OPT_BUDGET: budget = optarg; break;
		case OPT_MAXREC: max_records = (size_t)rx_parse_number("--max-records", optarg, 1, 1000000); break;
		case OPT_ATTEMPTS: c->max_attempts = (int)rx_parse_number("--max-attempts", optarg, 1, 1000); break;
		case OPT_THROTTLES: c->max_throttles = (int)rx_parse_number("--max-throttles", optarg, 1, 100000); break;
		case OPT_CHECK_PROFILE: check_profile = 1; break;
		case OPT_TEST_CONNECTION: test_connection = 1; break;
		case OPT_RBASE: c->retry_base = parse_ms("--retry-base", optarg); break;
		case OPT_RMAX: c->retry_max = parse_ms("--retry-max", optarg); break;
		case OPT_CTIMEOUT: c->connect_timeout_ms = (long)rx_parse_number("--connect-timeout", optarg, 1, 86400000); break;
		case OPT_TIMEOUT: c->timeout_ms = (long)rx_parse_number("--timeout", optarg, 1, 86400000); break;
		case OPT_GRACE: c->grace = parse_ms("--grace", optarg); break;
		case 'n': c->dry_run = 1; break;
		case OPT_LIMIT: c->limit = (unsigned long long)rx_parse_number("--limit", optarg, 1, (long long)1 << 62); break;
		case OPT_STATS: stats = optarg; break;
		case OPT_PROGRESS: c->progress = 1; break;
		case OPT_METRICS: metrics = optarg; break;
		case OPT_SYNC:
			snprintf(c->sync, sizeof c->sync, "%s", optarg);
			c->sync_given = 1;
			break;
		case OPT_MAXLINE: max_line = rx_parse_size("--max-line", optarg); break;
		case 'h': usage(); break;
		case 'V': rx_print_version(curl_version());
		default: rx_usage_hint();
		}
	}
	if (optind < argc)
		rx_usage_error("unexpected argument '%s' (input comes from stdin)", argv[optind]);
	if (profile == NULL)
		rx_usage_error("no destination: give --profile NAME");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		rx_die(RX_EXIT_FAIL, "cannot start libcurl");
	rx_push_profile_checking = check_profile;
	if (rx_push_profile_load(&c->prof, profile, err, sizeof err) < 0) {
		if (check_profile) { /* the finding, in the same shape as the others */
			printf("profile %s\nerror: %s\n1 error, 0 warnings\n", profile, err);
			exit(RX_EXIT_FAIL);
		}
		rx_die(RX_EXIT_FAIL, "%s", err);
	}
	if (check_profile) {
		status = rx_push_check_profile(&c->prof);
		rx_push_profile_free(&c->prof);
		curl_global_cleanup();
		return fflush(stdout) == 0 && !ferror(stdout) ? status : RX_EXIT_IOERR;
	}
	if (url != NULL) {
		free(c->prof.url);
		c->prof.url = rx_xstrdup(url);
	}
	if (table != NULL) {
		free(c->prof.table);
		c->prof.table = rx_xstrdup(table);
	}
	if (key != NULL) {
		free(c->prof.key);
		c->prof.key = rx_xstrdup(key);
	}
	if (max_records > 0 && max_records < c->prof.max_records)
		c->prof.max_records = max_records;
	if (c->prof.max_concurrency > 0 && c->concurrency > c->prof.max_concurrency)
		c->concurrency = c->prof.max_concurrency; /* the destination refuses more (Mailchimp, Marketo: 10) */
	c->url = c->prof.url;
	if (c->url == NULL && c->prof.driver == NULL)
		rx_die(RX_EXIT_FAIL, "profile %s: no base URL: %s%s", c->prof.name,
		       c->prof.url_missing ? c->prof.url_missing : "give --url", c->prof.url_missing ? " (or give --url)" : "");
	if (c->prof.driver == NULL)
		check_url(c->url);
	if (c->insecure)
		rx_diag("warning: --insecure: TLS certificates are not verified; anyone on the path can read the "
			"requests and the secrets in them");
	if (nrates > 0) {
		memcpy(c->prof.windows, rates, nrates * sizeof *rates);
		c->prof.nwindows = nrates;
	}
	c->rate = rx_push_rate_open(c->prof.windows, c->prof.nwindows, budget, err, sizeof err);
	if (c->rate == NULL)
		rx_die(RX_EXIT_FAIL, "%s", err);
	if (c->prof.driver == NULL && !c->dry_run && rx_push_auth_init(&c->auth, &c->prof, c->url, c->insecure, err, sizeof err) < 0)
		rx_die(RX_EXIT_FAIL, "%s", err);
	if (c->prof.driver == NULL && c->dry_run && jv_get_kind(c->prof.auth) == JV_KIND_OBJECT) {
		/* a dry run shows where the secret goes, never the secret, and
		 * fetches no OAuth token */
		jv t = jv_object_get(jv_copy(c->prof.auth), jv_string("type"));
		int oauth = jv_get_kind(t) == JV_KIND_STRING && strcmp(jv_string_value(t), "oauth2") == 0;
		jv_free(t);
		if (oauth) {
			c->auth.type = rx_xstrdup("oauth2");
			c->auth.secret = rx_xstrdup("***");
		} else if (rx_push_auth_init(&c->auth, &c->prof, c->url, c->insecure, err, sizeof err) < 0) {
			rx_die(RX_EXIT_FAIL, "%s", err);
		}
	}
	if (test_connection) {
		status = rx_push_test_connection(c);
		rx_push_auth_free(&c->auth);
		rx_push_rate_close(c->rate);
		rx_push_profile_free(&c->prof);
		rx_secret_free();
		curl_global_cleanup();
		return status;
	}
	if (rx_reader_open(&c->in, "-", max_line, err, sizeof err) < 0)
		rx_die(RX_EXIT_FAIL, "%s", err);
	rx_writer_init(&c->out, 1);
	if (c->progress) {
		c->tty = fopen("/dev/tty", "w");
		if (c->tty == NULL && isatty(2))
			c->tty = stderr;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	srand48((long)getpid() ^ (long)rx_push_now());
	c->started = rx_push_now();

	if (c->prof.driver != NULL)
		db_run(c);
	else
		rx_push_http_run(c);

	rx_push_flush(c);
	if (c->stop == PUSH_RUNNING && rx_push_signalled)
		rx_push_stop(c, PUSH_STOP_SIGNAL, "interrupted");
	/* whatever is still held stays unacked: freed, and counted */
	size_t unacked = c->held;
	if (c->stop == PUSH_STOP_QUOTA || c->stop == PUSH_STOP_DOWN || c->stop == PUSH_STOP_AUTH)
		unacked += drain_count(c);
	else if (c->stop == PUSH_RUNNING && limit_reached(c) && !(c->in.eof && rx_reader_buffered(&c->in) == 0)) {
		/* the rest is read, not taken: the stages upstream end normally
		 * (a pipeline under pipefail would otherwise fail on SIGPIPE) */
		size_t rest = drain_count(c);
		if (rest > 0)
			rx_diag("--limit %llu: %zu more record%s not taken", c->limit, rest, rest == 1 ? "" : "s");
	}
	c->held = unacked; /* for the stats */
	rx_push_input_flush(c);
	for (push_batch *b = rx_push_batch_pop(c); b != NULL; b = rx_push_batch_pop(c)) {
		for (size_t i = 0; i < b->n; i++) {
			free(b->recs[i]->text);
			free(b->recs[i]);
		}
		rx_push_batch_free(b);
	}
	rx_push_progress(c, 1, 0);
	if (c->stop == PUSH_STOP_FAIL && unacked == 0 && c->taken == 0)
		rx_diag("%s", c->stop_msg); /* nothing was taken in: nothing to report but the cause */
	else if (c->stop != PUSH_RUNNING)
		rx_diag("stopped: %s; %zu record%s left unacked%s (they are sent again next run)", c->stop_msg, unacked,
			unacked == 1 ? "" : "s",
			c->in.eof && rx_reader_buffered(&c->in) == 0 ? "" : ", and the rest of the input unread");
	if (stats != NULL)
		rx_push_write_stats(c, stats);
	if (metrics != NULL && !c->dry_run)
		rx_push_write_metrics(c, metrics, c->stop == PUSH_RUNNING && unacked == 0);
	if (c->tty != NULL && c->tty != stderr)
		fclose(c->tty);
	int out_failed = rx_writer_finish(&c->out, "acks") < 0;
	switch (c->stop) {
	case PUSH_STOP_OUTPUT: status = RX_EXIT_IOERR; break;
	case PUSH_STOP_QUOTA: case PUSH_STOP_DOWN: case PUSH_STOP_SIGNAL: status = RX_EXIT_TEMPFAIL; break;
	case PUSH_STOP_AUTH: case PUSH_STOP_FAIL: status = RX_EXIT_FAIL; break;
	default:
		status = out_failed ? RX_EXIT_IOERR
			 : c->malformed ? RX_EXIT_DATAERR
			 : c->dead ? RX_EXIT_DEADLETTER
				   : RX_EXIT_OK;
	}
	if (out_failed && status != RX_EXIT_IOERR && status != RX_EXIT_FAIL)
		status = RX_EXIT_IOERR;
	free(c->out.buf.data);
	rx_buf_free(&c->scratch);
	rx_reader_close(&c->in);
	rx_push_rate_close(c->rate);
	rx_push_auth_free(&c->auth);
	rx_push_profile_free(&c->prof);
	rx_push_order_free(c);
	rx_canon_free();
	rx_secret_free();
	curl_global_cleanup();
	return status;
}
