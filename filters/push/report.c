/*
 * report.c - what rx-push tells the people who run it: the progress
 * meter, the --stats summary, the --metrics file, and the record of each
 * dead letter that goes downstream to the commit.
 *
 * NOTES ON THE DESIGN
 *
 *  - The total comes from rx-diff: {"$rx":"changes","count":N} (written
 *    with rx-diff --count-record, passed on by rx-batch) says how many
 *    changes follow.  Several of them (changes of several runs cat'ed
 *    together) add up.  Without one the meter shows no total and no ETA.
 *  - Every dead letter of a change that names its run also goes to
 *    stdout as {"$rx":"rejected","key":...,"hash":...,"run":...,"op":...,
 *    "reason":"http_422"}: the commit counts it as answered, by reason,
 *    and a run whose changes were all answered counts for freshness.
 *  - Reasons are labels, never messages: "http_NNN" for a status the
 *    destination answered, "rejected" for a record a 2xx reply refused,
 *    "unsendable" for one rx-push could not make a request of (a body
 *    over max_bytes, a body program that failed, an op the profile lacks),
 *    "malformed" for input that is not a change.
 *  - Throttled time is wall-clock time during which a request was ready
 *    but waited on a rate-limit window or a 429's back-off: the ticks of
 *    the engine's loop while one does, added up.
 *  - Nothing here prints a URL, a header or a row: secrets cannot leak
 *    through the meter, the stats or the metrics (rx_scrub all the same).
 */
#include "push.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const ops[4] = {"insert", "update", "upsert", "delete"};

static int op_index(const char *op)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(op, ops[i]) == 0)
			return i;
	return 2;
}

void rx_push_changes_record(push_ctx *c, const char *line, size_t n)
{
	long long count = rx_control_count(line, n);
	rx_members ms = {0};
	char err[128];

	if (count > 0)
		c->total += (unsigned long long)count;
	if (!c->sync_given && rx_json_scan_object(line, n, &ms, err, sizeof err) == 0) {
		long i = rx_json_find(&ms, "sync", 4);
		if (i >= 0 && rx_json_kind(ms.m[i].value) == 's') {
			rx_buf name = {0};
			rx_json_string_decode(ms.m[i].value, &name);
			snprintf(c->sync, sizeof c->sync, "%s", name.data ? name.data : "");
			rx_buf_free(&name);
		}
	}
	free(ms.m);
}

static void count_reason(push_ctx *c, const char *reason)
{
	for (size_t i = 0; i < c->nreasons; i++)
		if (strcmp(c->reasons[i].name, reason) == 0) {
			c->reasons[i].n++;
			return;
		}
	size_t i = c->nreasons < 32 ? c->nreasons++ : 31; /* the last one takes the rest */
	if (i == 31 && c->nreasons == 32 && strcmp(c->reasons[31].name, reason) != 0)
		snprintf(c->reasons[31].name, sizeof c->reasons[31].name, "other");
	else
		snprintf(c->reasons[i].name, sizeof c->reasons[i].name, "%s", reason);
	c->reasons[i].n++;
}

void rx_push_count_outcome(push_ctx *c, const push_record *r, int acked, int status, const char *reason)
{
	char why[48];

	c->by_op[op_index(r ? r->op : "upsert")][acked ? 0 : 1]++;
	if (acked)
		return;
	if (reason != NULL)
		snprintf(why, sizeof why, "%s", reason);
	else if (status >= 200 && status < 300)
		snprintf(why, sizeof why, "rejected");
	else if (status > 0)
		snprintf(why, sizeof why, "http_%d", status);
	else
		snprintf(why, sizeof why, "%s", c->prof.driver != NULL ? "rejected" : "unsendable");
	count_reason(c, why);
	/* the commit downstream learns that the destination answered it */
	if (r != NULL && r->key.n > 0 && r->hash.n > 0 && r->run.n > 0 && !c->dry_run) {
		rx_buf *b = &c->out.buf;
		rx_buf_puts(b, "{\"$rx\":\"rejected\",\"key\":");
		rx_json_put_compact(b, r->key);
		rx_buf_puts(b, ",\"hash\":");
		rx_json_put_compact(b, r->hash);
		rx_buf_puts(b, ",\"run\":");
		rx_json_put_compact(b, r->run);
		rx_buf_printf(b, ",\"op\":\"%s\",\"reason\":\"%s\"}\n", r->op, why);
	}
}

void rx_push_count_created(push_ctx *c, int created)
{
	if (created)
		c->created++;
	else
		c->updated++;
}

void rx_push_throttle_tick(push_ctx *c, int held, double now)
{
	if (c->throttle_mark > 0 && now > c->throttle_mark)
		c->throttled_seconds += now - c->throttle_mark;
	c->throttle_mark = held ? now : 0;
}

double rx_push_percentile(const push_ctx *c, double p)
{
	unsigned long long total = 0, seen = 0;

	for (int i = 0; i < PUSH_LATENCY_BUCKETS; i++)
		total += c->latency[i];
	if (total == 0)
		return 0;
	for (int i = 0; i < PUSH_LATENCY_BUCKETS; i++) {
		seen += c->latency[i];
		if ((double)seen >= p * (double)total)
			return i == 0 ? 0.1 : 0.1 * pow(1.05, i);
	}
	return 0;
}

/* "1:05", "12s", "2:03:10" */
static void clock_text(double s, char *out, size_t len)
{
	long t = (long)(s + 0.5);

	if (t < 60)
		snprintf(out, len, "%lds", t);
	else if (t < 3600)
		snprintf(out, len, "%ld:%02ld", t / 60, t % 60);
	else
		snprintf(out, len, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
}

void rx_push_progress(push_ctx *c, int final, size_t inflight)
{
	double now = rx_push_now();
	char line[256], eta[32] = "", waited[32];

	if (!c->progress || c->tty == NULL || (!final && now - c->last_progress < 0.25))
		return;
	c->last_progress = now;
	double secs = now - c->started;
	unsigned long long done = c->acked + c->dead;
	double rate = secs > 0 ? (double)done / secs : 0;
	int at = 0;
	if (c->total > 0) {
		at = snprintf(line, sizeof line, "%llu/%llu (%.0f%%)", done, c->total,
			      100.0 * (double)done / (double)(c->total > done ? c->total : done));
		if (!final && rate > 0 && c->total > done) {
			clock_text((double)(c->total - done) / rate, eta, sizeof eta);
			snprintf(eta + strlen(eta), sizeof eta - strlen(eta), " left");
		}
	} else {
		at = snprintf(line, sizeof line, "%llu done", done);
	}
	clock_text(c->throttled_seconds, waited, sizeof waited);
	snprintf(line + at, sizeof line - (size_t)at, ", %llu acked, %llu dead-lettered, %.0f/s%s%s, throttled %s, %zu in flight",
		 c->acked, c->dead, rate, eta[0] ? ", " : "", eta, waited, inflight);
	/* \r and the erase-to-end-of-line: a shorter line leaves nothing behind */
	fprintf(c->tty, "\r\033[Krx-push: %s%s", line, final ? "\n" : "");
	fflush(c->tty);
}

void rx_push_write_stats(push_ctx *c, const char *path)
{
	rx_buf b = {0}, tmp = {0};
	FILE *f;

	rx_buf_printf(&b,
		      "{\"acked\":%llu,\"dead_lettered\":%llu,\"unacked\":%zu,\"malformed\":%llu,\"requests\":%llu,"
		      "\"retries\":%llu,\"throttled\":%llu,\"throttled_seconds\":%.3f,\"bytes_sent\":%llu,"
		      "\"bytes_received\":%llu,\"latency_ms\":{\"p50\":%.1f,\"p99\":%.1f},\"seconds\":%.3f",
		      c->acked, c->dead, c->held, c->malformed, c->requests, c->retries, c->throttled,
		      c->throttled_seconds, c->bytes_sent, c->bytes_received, rx_push_percentile(c, 0.5),
		      rx_push_percentile(c, 0.99), rx_push_now() - c->started);
	rx_buf_puts(&b, ",\"total\":");
	if (c->total > 0)
		rx_buf_printf(&b, "%llu", c->total);
	else
		rx_buf_puts(&b, "null");
	rx_buf_puts(&b, ",\"by_op\":{");
	int first = 1;
	for (int i = 0; i < 4; i++) {
		if (c->by_op[i][0] + c->by_op[i][1] == 0)
			continue;
		rx_buf_printf(&b, "%s\"%s\":{\"acked\":%llu,\"dead_lettered\":%llu}", first ? "" : ",", ops[i],
			      c->by_op[i][0], c->by_op[i][1]);
		first = 0;
	}
	rx_buf_puts(&b, "},\"dead_letters_by_reason\":{");
	for (size_t i = 0; i < c->nreasons; i++)
		rx_buf_printf(&b, "%s\"%s\":%llu", i ? "," : "", c->reasons[i].name, c->reasons[i].n);
	rx_buf_putc(&b, '}');
	if (c->created + c->updated > 0)
		rx_buf_printf(&b, ",\"created\":%llu,\"updated\":%llu", c->created, c->updated);
	rx_buf_puts(&b, "}\n");
	rx_scrub(&b, 0);
	rx_buf_printf(&tmp, "%s.tmp%ld", path, (long)getpid());
	f = fopen(tmp.data, "w");
	if (f == NULL || fwrite(b.data, 1, b.len, f) != b.len || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		rx_diag("cannot write stats file '%s': %s", tmp.data, strerror(errno));
		if (f != NULL)
			fclose(f);
	} else if (fclose(f) != 0 || rename(tmp.data, path) != 0) {
		rx_diag("cannot write stats file '%s': %s", path, strerror(errno));
	}
	rx_buf_free(&b);
	rx_buf_free(&tmp);
}

void rx_push_write_metrics(push_ctx *c, const char *path, int success)
{
	rx_metrics m;
	char err[1024], reasons[64][48];
	const char *sync = c->sync[0] ? c->sync : c->prof.name;
	double now = rx_push_now();

	rx_metrics_open(&m, path);
	rx_metrics_family(&m, "rx_push_records_total", "counter", "Records taken in, by op and outcome.");
	for (int i = 0; i < 4; i++) {
		rx_metrics_counter(&m, "rx_push_records_total", (double)c->by_op[i][0], "sync", sync, "op", ops[i],
				   "outcome", "acked", RX_LABELS_END);
		rx_metrics_counter(&m, "rx_push_records_total", (double)c->by_op[i][1], "sync", sync, "op", ops[i],
				   "outcome", "dead_lettered", RX_LABELS_END);
	}
	rx_metrics_family(&m, "rx_push_dead_letters_total", "counter",
			  "Records dead-lettered, by reason (http_NNN, rejected, unsendable, malformed).");
	/* every reason seen before carries on, this run's added */
	char prefix[256];
	snprintf(prefix, sizeof prefix, "rx_push_dead_letters_total{sync=\"%s\",reason=\"", sync);
	size_t nr = rx_metrics_previous_labels(&m, prefix, reasons, 64);
	for (size_t i = 0; i < c->nreasons && nr < 64; i++) {
		size_t k;
		for (k = 0; k < nr && strcmp(reasons[k], c->reasons[i].name) != 0; k++)
			;
		if (k == nr)
			snprintf(reasons[nr++], sizeof reasons[0], "%s", c->reasons[i].name);
	}
	for (size_t k = 0; k < nr; k++) {
		unsigned long long add = 0;
		for (size_t i = 0; i < c->nreasons; i++)
			if (strcmp(reasons[k], c->reasons[i].name) == 0)
				add = c->reasons[i].n;
		rx_metrics_counter(&m, "rx_push_dead_letters_total", (double)add, "sync", sync, "reason", reasons[k], RX_LABELS_END);
	}
	rx_metrics_family(&m, "rx_push_upserts_total", "counter",
			  "Upserts the destination's reply said created a record or updated one.");
	rx_metrics_counter(&m, "rx_push_upserts_total", (double)c->created, "sync", sync, "result", "created", RX_LABELS_END);
	rx_metrics_counter(&m, "rx_push_upserts_total", (double)c->updated, "sync", sync, "result", "updated", RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_requests_total", "counter", "Requests sent (retries included).");
	rx_metrics_counter(&m, "rx_push_requests_total", (double)c->requests, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_retries_total", "counter", "Requests sent again after a failure.");
	rx_metrics_counter(&m, "rx_push_retries_total", (double)c->retries, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_throttled_total", "counter", "Replies that said slow down (429s).");
	rx_metrics_counter(&m, "rx_push_throttled_total", (double)c->throttled, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_throttled_seconds_total", "counter",
			  "Time requests waited on rate limits and 429s.");
	rx_metrics_counter(&m, "rx_push_throttled_seconds_total", c->throttled_seconds, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_sent_bytes_total", "counter", "Request bodies sent.");
	rx_metrics_counter(&m, "rx_push_sent_bytes_total", (double)c->bytes_sent, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_received_bytes_total", "counter", "Reply bodies received.");
	rx_metrics_counter(&m, "rx_push_received_bytes_total", (double)c->bytes_received, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_unacked_records", "gauge",
			  "Records of the last run left unacked (stopped early): sent again next run.");
	rx_metrics_sample(&m, "rx_push_unacked_records", (double)c->held, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_last_run_duration_seconds", "gauge", "How long the last run took.");
	rx_metrics_sample(&m, "rx_push_last_run_duration_seconds", now - c->started, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_last_run_timestamp_seconds", "gauge", "When the last run started.");
	rx_metrics_sample(&m, "rx_push_last_run_timestamp_seconds", c->started, "sync", sync, RX_LABELS_END);
	rx_metrics_family(&m, "rx_push_last_success_timestamp_seconds", "gauge",
			  "When a run last ended with every record answered (acked or dead-lettered).");
	rx_metrics_sample(&m, "rx_push_last_success_timestamp_seconds",
			  success ? now : rx_metrics_previous(&m, "rx_push_last_success_timestamp_seconds", "sync", sync, RX_LABELS_END),
			  "sync", sync, RX_LABELS_END);
	if (rx_metrics_write(&m, path, err, sizeof err) < 0)
		rx_diag("%s", err);
	rx_metrics_free(&m);
}
