/*
 * metrics.c - a metrics file for Prometheus's textfile collector.
 *
 * The node exporter's textfile collector reads every *.prom file of a
 * directory each time it is scraped.  Its convention: a program writes
 * the whole file beside the old one under another name and renames it
 * into place, so that a scrape never reads half a file.  Here the
 * temporary name ends in ".tmp<pid>", which the collector ignores.
 *
 * The text format (version 0.0.4): for each family "# HELP" and
 * "# TYPE" lines, then its samples, name{label="value",...} value, all
 * the samples of one family together.  Counters end in _total, times in
 * _seconds, points in time are _timestamp_seconds (Unix time).
 *
 * Counters of a program that keeps no state of its own (rx-push) carry
 * on from the file they replace: rx_metrics_open() reads the previous
 * file, and rx_metrics_counter() adds this run's count to the sample of
 * the same name and labels found there.  A deleted file restarts them
 * from zero, which Prometheus takes as a counter reset.
 *
 * Nothing secret goes in: the labels are sync names, ops, stages and
 * reasons, never URLs, headers or rows (rx_scrub runs over the text all
 * the same).
 */
#include "rx.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

void rx_metrics_open(rx_metrics *m, const char *previous)
{
	memset(m, 0, sizeof *m);
	if (previous == NULL)
		return;
	int fd = open(previous, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	char chunk[8192];
	ssize_t n;
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		rx_buf_put(&m->previous, chunk, (size_t)n);
	close(fd);
}

void rx_metrics_family(rx_metrics *m, const char *name, const char *type, const char *help)
{
	rx_buf_printf(&m->text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1",...} from a NULL-terminated list of (label, value) pairs. */
static void series(rx_buf *b, const char *name, va_list ap)
{
	const char *label;
	int first = 1;

	rx_buf_puts(b, name);
	while ((label = va_arg(ap, const char *)) != NULL) {
		const char *value = va_arg(ap, const char *);
		rx_buf_puts(b, first ? "{" : ",");
		first = 0;
		rx_buf_printf(b, "%s=\"", label);
		for (const char *p = value ? value : ""; *p; p++) {
			if (*p == '\\' || *p == '"')
				rx_buf_putc(b, '\\');
			if (*p == '\n')
				rx_buf_puts(b, "\\n");
			else
				rx_buf_putc(b, *p);
		}
		rx_buf_putc(b, '"');
	}
	if (!first)
		rx_buf_putc(b, '}');
}

static void put_value(rx_buf *b, double v)
{
	if (isnan(v))
		rx_buf_puts(b, " NaN\n");
	else if (v == floor(v) && fabs(v) < 1e15)
		rx_buf_printf(b, " %.0f\n", v);
	else
		rx_buf_printf(b, fabs(v) < 1e15 ? " %.3f\n" : " %.17g\n", v);
}

/* The value of a series in the previous file, or 0. */
static double previous_value(const rx_metrics *m, const char *key, size_t n)
{
	const char *p = m->previous.data, *end = p ? p + m->previous.len : NULL;

	while (p != NULL && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > n && memcmp(p, key, n) == 0 && p[n] == ' ')
			return strtod(p + n + 1, NULL);
		p = eol + 1;
	}
	return 0;
}

void rx_metrics_sample(rx_metrics *m, const char *name, double value, ...)
{
	va_list ap;

	va_start(ap, value);
	series(&m->text, name, ap);
	va_end(ap);
	put_value(&m->text, value);
}

void rx_metrics_counter(rx_metrics *m, const char *name, double add, ...)
{
	rx_buf key = {0};
	va_list ap;

	va_start(ap, add);
	series(&key, name, ap);
	va_end(ap);
	double was = previous_value(m, key.data, key.len);
	rx_buf_put(&m->text, key.data, key.len);
	put_value(&m->text, (isfinite(was) && was > 0 ? was : 0) + add);
	rx_buf_free(&key);
}

double rx_metrics_previous(const rx_metrics *m, const char *name, ...)
{
	rx_buf key = {0};
	va_list ap;

	va_start(ap, name);
	series(&key, name, ap);
	va_end(ap);
	double v = previous_value(m, key.data, key.len);
	rx_buf_free(&key);
	return v;
}

size_t rx_metrics_previous_labels(const rx_metrics *m, const char *prefix, char (*out)[48], size_t max)
{
	const char *p = m->previous.data, *end = p ? p + m->previous.len : NULL;
	size_t n = 0, k = strlen(prefix);

	while (p != NULL && p < end && n < max) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		if (eol == NULL)
			eol = end;
		if ((size_t)(eol - p) > k && memcmp(p, prefix, k) == 0) {
			const char *q = memchr(p + k, '"', (size_t)(eol - p - (long)k));
			if (q != NULL && (size_t)(q - p - (long)k) < 48) {
				snprintf(out[n], 48, "%.*s", (int)(q - p - (long)k), p + k);
				n++;
			}
		}
		p = eol + 1;
	}
	return n;
}

int rx_metrics_write(rx_metrics *m, const char *path, char *err, size_t errlen)
{
	rx_buf tmp = {0};
	int fd, rc = -1;

	rx_scrub(&m->text, 0);
	rx_buf_printf(&tmp, "%s.tmp%ld", path, (long)getpid());
	fd = open(tmp.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "cannot write metrics file '%s': %s", tmp.data, strerror(errno));
		goto done;
	}
	for (size_t at = 0; at < m->text.len;) {
		ssize_t n = write(fd, m->text.data + at, m->text.len - at);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, errlen, "cannot write metrics file '%s': %s", tmp.data, strerror(errno));
			close(fd);
			unlink(tmp.data);
			goto done;
		}
		at += (size_t)n;
	}
	if (fsync(fd) < 0 || close(fd) < 0) {
		snprintf(err, errlen, "cannot write metrics file '%s': %s", tmp.data, strerror(errno));
		unlink(tmp.data);
		goto done;
	}
	if (rename(tmp.data, path) < 0) {
		snprintf(err, errlen, "cannot write metrics file '%s': %s", path, strerror(errno));
		unlink(tmp.data);
		goto done;
	}
	rc = 0;
done:
	rx_buf_free(&tmp);
	return rc;
}

void rx_metrics_free(rx_metrics *m)
{
	rx_buf_free(&m->text);
	rx_buf_free(&m->previous);
}

void rx_metrics_sync_name(const char *path, char *out, size_t len)
{
	const char *base = strrchr(path, '/');
	base = base ? base + 1 : path;
	snprintf(out, len, "%s", base);
	char *dot = strrchr(out, '.');
	if (dot != NULL && dot != out)
		*dot = '\0';
}

void rx_metrics_stage(const char *path, const char *sync, const char *program, const char *what, double rows,
		      double dead, double started, double ended, int ok)
{
	rx_metrics m;
	char name[128], help[256], err[1024], label[256];

	if (sync == NULL) {
		rx_metrics_sync_name(path, label, sizeof label);
		sync = label;
	}
	rx_metrics_open(&m, path);
	snprintf(name, sizeof name, "rx_%s_rows_total", program);
	snprintf(help, sizeof help, "Rows %s, and rows dead-lettered.", what);
	rx_metrics_family(&m, name, "counter", help);
	rx_metrics_counter(&m, name, rows, "sync", sync, "outcome", "written", RX_LABELS_END);
	rx_metrics_counter(&m, name, dead, "sync", sync, "outcome", "dead_lettered", RX_LABELS_END);
	snprintf(name, sizeof name, "rx_%s_runs_total", program);
	rx_metrics_family(&m, name, "counter", "Runs, by whether they ended normally.");
	rx_metrics_counter(&m, name, ok ? 1 : 0, "sync", sync, "outcome", "ok", RX_LABELS_END);
	rx_metrics_counter(&m, name, ok ? 0 : 1, "sync", sync, "outcome", "failed", RX_LABELS_END);
	snprintf(name, sizeof name, "rx_%s_last_run_duration_seconds", program);
	rx_metrics_family(&m, name, "gauge", "How long the last run took.");
	rx_metrics_sample(&m, name, ended - started, "sync", sync, RX_LABELS_END);
	snprintf(name, sizeof name, "rx_%s_last_run_timestamp_seconds", program);
	rx_metrics_family(&m, name, "gauge", "When the last run started.");
	rx_metrics_sample(&m, name, started, "sync", sync, RX_LABELS_END);
	snprintf(name, sizeof name, "rx_%s_last_success_timestamp_seconds", program);
	rx_metrics_family(&m, name, "gauge", "When a run last ended normally.");
	rx_metrics_sample(&m, name, ok ? ended : rx_metrics_previous(&m, name, "sync", sync, RX_LABELS_END), "sync", sync,
			  RX_LABELS_END);
	if (rx_metrics_write(&m, path, err, sizeof err) < 0)
		rx_diag("%s", err);
	rx_metrics_free(&m);
}

double rx_metrics_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}
