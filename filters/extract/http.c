/*
 * http.c - the blocking HTTP client of rx-extract's warehouse sources
 * (see http.h).
 *
 * NOTES ON THE DESIGN
 *
 *  - One easy handle per source, reused, so connections are kept alive
 *    from page to page.  A request is all or nothing: its body is held in
 *    h->body (capped at max_body) and handed over only when complete.
 *  - Retries: a transport failure (refused, reset, timed out, a body cut
 *    short) and a reply the engine classifies transient or throttled are
 *    tried again, after the server's Retry-After when it gave one (up to
 *    MAX_WAIT_MS; a longer wait gives up at once), else after
 *    BACKOFF_FIRST_MS doubling to BACKOFF_MAX_MS, with jitter.  A name
 *    that does not resolve and a certificate that does not verify are not
 *    retried: waiting will not fix them.
 *  - Signals: SIGINT and SIGTERM set a flag.  The progress callback stops
 *    the transfer in flight, and rx_http_sleep() returns early, so a
 *    source notices within about a second, cancels its statement (a
 *    request marked no_interrupt) and returns.
 *  - Messages never hold a header or a URL's query (presigned links carry
 *    credentials there); they name the operation.
 */
#include "http.h"

#include <errno.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum {
	BACKOFF_FIRST_MS = 500,
	BACKOFF_MAX_MS = 30000,
	MAX_WAIT_MS = 300000, /* a Retry-After beyond this is not waited for */
	CONNECT_TIMEOUT_S = 30,
};

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

int rx_http_interrupted(void)
{
	return stop_signal;
}

int rx_http_sleep(long ms)
{
	struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};

	while (!stop_signal && nanosleep(&t, &t) < 0 && errno == EINTR)
		;
	return stop_signal ? -1 : 0;
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
	rx_http *h = arg;
	size_t len = size * n;

	if (h->body.len + len > h->max_body)
		return 0; /* curl fails the transfer: CURLE_WRITE_ERROR */
	rx_buf_put(&h->body, p, len);
	return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
	rx_http *h = arg;
	size_t len = size * n;
	static const char name[] = "retry-after:";

	if (len > sizeof name - 1 && strncasecmp(p, name, sizeof name - 1) == 0) {
		char v[128];
		size_t vn = len - (sizeof name - 1);
		if (vn >= sizeof v)
			vn = sizeof v - 1;
		memcpy(v, p + sizeof name - 1, vn);
		v[vn] = '\0';
		char *s = v, *end;
		while (*s == ' ' || *s == '\t')
			s++;
		double secs = strtod(s, &end);
		if (end != s && secs >= 0) {
			h->retry_after = secs;
		} else {
			time_t when = curl_getdate(s, NULL);
			if (when > 0)
				h->retry_after = difftime(when, time(NULL)) > 0 ? difftime(when, time(NULL)) : 0;
		}
	}
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	const rx_http *h = arg;

	(void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
	return (stop_signal && !h->no_interrupt) || h->abandon;
}

void rx_http_init(rx_http *h, const char *engine, int retries)
{
	static int curl_ready;
	struct sigaction sa;

	memset(h, 0, sizeof *h);
	if (!curl_ready) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			rx_die(RX_EXIT_FAIL, "cannot initialise libcurl");
		curl_ready = 1;
		srand((unsigned)time(NULL) ^ (unsigned)getpid());
	}
	h->curl = curl_easy_init();
	if (h->curl == NULL)
		rx_die(RX_EXIT_FAIL, "cannot initialise libcurl");
	h->engine = engine;
	h->retries = retries;
	h->stall_seconds = 300;
	h->max_body = (size_t)1 << 30;
	h->retry_after = -1;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
}

static void *run_async(void *arg)
{
	rx_http *h = arg;

	h->async_rc = rx_http_request(h, h->async_method, h->async_url, h->async_headers, NULL, 0);
	return NULL;
}

void rx_http_start(rx_http *h, const char *method, const char *url, const struct curl_slist *headers)
{
	free(h->async_url);
	h->async_url = rx_xstrdup(url);
	h->async_method = method;
	h->async_headers = headers;
	if (pthread_create(&h->thread, NULL, run_async, h) != 0) {
		/* no thread: do it now, the caller waits in rx_http_finish anyway */
		run_async(h);
		h->in_flight = 0;
		return;
	}
	h->in_flight = 1;
}

int rx_http_finish(rx_http *h)
{
	if (h->in_flight) {
		pthread_join(h->thread, NULL);
		h->in_flight = 0;
	}
	h->abandon = 0;
	return h->async_rc;
}

void rx_http_swap(rx_http *a, rx_http *b)
{
	rx_http t = *a;

	*a = *b;
	*b = t;
}

void rx_http_free(rx_http *h)
{
	h->abandon = 1;
	rx_http_finish(h);
	free(h->async_url);
	h->async_url = NULL;
	if (h->curl)
		curl_easy_cleanup(h->curl);
	h->curl = NULL;
	rx_buf_free(&h->body);
}

static int default_classify(const rx_http *h)
{
	if (h->status == 429)
		return RX_HTTP_THROTTLED;
	if (h->status == 502 || h->status == 503 || h->status == 504)
		return RX_HTTP_TRANSIENT;
	return RX_HTTP_FINAL;
}

/* Worth another attempt? */
static int transport_retryable(CURLcode cc)
{
	switch (cc) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_FILESIZE_EXCEEDED:
		return 0;
	case CURLE_WRITE_ERROR: /* the body was over max_body */
		return 0;
	default:
		return 1;
	}
}

/* The URL without its query, for messages (a presigned link's query
 * holds its signature). */
static void url_for_message(const char *url, char *out, size_t outlen)
{
	size_t n = strcspn(url, "?#");

	snprintf(out, outlen, "%.*s", (int)(n < 200 ? n : 200), url);
}

int rx_http_request(rx_http *h, const char *method, const char *url, const struct curl_slist *headers,
		    const char *body, size_t n)
{
	char errbuf[CURL_ERROR_SIZE];
	long backoff = BACKOFF_FIRST_MS;
	CURL *c = h->curl;

	h->gave_up = 0;
	h->attempts = 0;
	for (;;) {
		CURLcode cc;
		int kind;

		h->attempts++;
		h->status = 0;
		h->retry_after = -1;
		h->error[0] = '\0';
		errbuf[0] = '\0';
		rx_buf_reset(&h->body);
		if (stop_signal && !h->no_interrupt) {
			snprintf(h->error, sizeof h->error, "interrupted");
			return -1;
		}
		curl_easy_reset(c);
		curl_easy_setopt(c, CURLOPT_URL, h->attempts > 1 && h->retry_url ? h->retry_url : url);
		curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
		curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
		curl_easy_setopt(c, CURLOPT_WRITEDATA, h);
		curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
		curl_easy_setopt(c, CURLOPT_HEADERDATA, h);
		curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
		curl_easy_setopt(c, CURLOPT_XFERINFODATA, h);
		curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
		curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
		curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
		curl_easy_setopt(c, CURLOPT_ACCEPT_ENCODING, "");
		curl_easy_setopt(c, CURLOPT_USERAGENT, "rx-extract/" RX_VERSION);
		curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)CONNECT_TIMEOUT_S);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_LIMIT, 1L);
		curl_easy_setopt(c, CURLOPT_LOW_SPEED_TIME, h->no_interrupt ? 10L : h->stall_seconds);
		if (h->no_interrupt)
			curl_easy_setopt(c, CURLOPT_TIMEOUT, 10L);
		curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
		/* as the curl tool does: another CA bundle (a proxy that inspects TLS) */
		const char *ca = getenv("CURL_CA_BUNDLE");
		if (ca != NULL && ca[0] != '\0')
			curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		if (strcmp(method, "POST") == 0) {
			curl_easy_setopt(c, CURLOPT_POST, 1L);
			curl_easy_setopt(c, CURLOPT_POSTFIELDS, body ? body : "");
			curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? n : 0));
		} else if (strcmp(method, "GET") != 0) {
			curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
		}
		cc = curl_easy_perform(c);
		if (cc == CURLE_OK) {
			curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &h->status);
			kind = h->classify ? h->classify(h) : default_classify(h);
			if (kind == RX_HTTP_FINAL)
				return 0;
		} else {
			char where[256];
			url_for_message(url, where, sizeof where);
			if (cc == CURLE_ABORTED_BY_CALLBACK)
				snprintf(h->error, sizeof h->error, "interrupted");
			else if (cc == CURLE_WRITE_ERROR && h->body.len + CURL_MAX_WRITE_SIZE > h->max_body)
				snprintf(h->error, sizeof h->error, "the reply from %s is larger than %zu bytes", where,
					 h->max_body);
			else
				snprintf(h->error, sizeof h->error, "%s", errbuf[0] ? errbuf : curl_easy_strerror(cc));
			if (!transport_retryable(cc))
				return -1;
			kind = RX_HTTP_TRANSIENT;
		}
		if (h->attempts > h->retries) {
			h->gave_up = kind;
			return h->status ? 0 : -1;
		}
		long wait = backoff / 2 + (long)(rand() % (backoff / 2 + 1));
		if (h->retry_after >= 0) {
			if (h->retry_after * 1000 > MAX_WAIT_MS) {
				h->gave_up = kind;
				return h->status ? 0 : -1;
			}
			wait = (long)(h->retry_after * 1000);
		}
		/* in slices, so that a signal or an abandoned prefetch stops the wait */
		for (long left = wait; left > 0 && !h->abandon; left -= 100)
			if (rx_http_sleep(left < 100 ? left : 100) < 0 && !h->no_interrupt) {
				snprintf(h->error, sizeof h->error, "interrupted");
				return -1;
			}
		if (h->abandon) {
			snprintf(h->error, sizeof h->error, "abandoned");
			return -1;
		}
		backoff = backoff * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff * 2;
	}
}

int rx_http_check_url(const char *url, char *err, size_t errlen)
{
	if (strncasecmp(url, "https://", 8) == 0)
		return 0;
	if (strncasecmp(url, "http://", 7) == 0) {
		const char *host = url + 7;
		size_t n = strcspn(host, ":/?#");
		if ((n == 9 && strncmp(host, "127.0.0.1", 9) == 0) ||
		    (n == 9 && strncasecmp(host, "localhost", 9) == 0) || strncmp(host, "[::1]", 5) == 0)
			return 0;
		snprintf(err, errlen, "refusing plain http to '%.*s': credentials would cross the network "
			 "in clear (use https; http is for a loopback test server)", (int)n, host);
		return -1;
	}
	snprintf(err, errlen, "'%.200s' is not an https URL", url);
	return -1;
}

int rx_http_fail(const rx_http *h, const char *what, const char *msg)
{
	char attempts[64] = "";
	char line[1024];

	if (h->attempts > 1)
		snprintf(attempts, sizeof attempts, " (after %d attempts)", h->attempts);
	if (rx_http_interrupted() && !h->no_interrupt) {
		rx_diag("%s: %s: interrupted by a signal", h->engine, what);
		return RX_EXIT_TEMPFAIL;
	}
	if (h->status == 0) {
		rx_diag("%s: %s: no reply%s: %s", h->engine, what, attempts, h->error);
		return h->gave_up ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
	}
	const char *kind = h->gave_up == RX_HTTP_THROTTLED ? "throttled, " : "";
	if (msg != NULL && msg[0] != '\0')
		rx_diag("%s: %s: %sHTTP %ld%s: %s", h->engine, what, kind, h->status, attempts,
			rx_one_line(msg, line, sizeof line));
	else
		rx_diag("%s: %s: %sHTTP %ld%s", h->engine, what, kind, h->status, attempts);
	return h->gave_up ? RX_EXIT_TEMPFAIL : RX_EXIT_FAIL;
}

void rx_http_put_uuid(rx_buf *b)
{
	unsigned char r[16];
	static const char hex[] = "0123456789abcdef";

	if (RAND_bytes(r, sizeof r) != 1)
		for (size_t i = 0; i < sizeof r; i++)
			r[i] = (unsigned char)rand();
	r[6] = (unsigned char)((r[6] & 0x0f) | 0x40);
	r[8] = (unsigned char)((r[8] & 0x3f) | 0x80);
	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			rx_buf_putc(b, '-');
		rx_buf_putc(b, hex[r[i] >> 4]);
		rx_buf_putc(b, hex[r[i] & 15]);
	}
}

void rx_http_put_escaped(rx_buf *b, const char *s)
{
	rx_url_encode(b, s, strlen(s), 0);
}

struct curl_slist *rx_http_headers(const char *first, ...)
{
	struct curl_slist *list = NULL;
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s != NULL; s = va_arg(ap, const char *)) {
		struct curl_slist *next = curl_slist_append(list, s);
		if (next == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		list = next;
	}
	va_end(ap);
	return list;
}

int rx_http_model_sql(const extract_options *o, int table_style, rx_buf *sql)
{
	if (o->table != NULL) {
		const char *t = o->table;
		rx_buf_puts(sql, "SELECT * FROM ");
		if (table_style == RX_TABLE_IDENTIFIER) {
			rx_buf_puts(sql, "IDENTIFIER('");
			for (; *t; t++) {
				if (*t == '\'' || *t == '\\')
					rx_buf_putc(sql, '\\');
				rx_buf_putc(sql, *t);
			}
			rx_buf_puts(sql, "')");
		} else {
			rx_buf_putc(sql, '`');
			for (; *t; t++) {
				if (table_style == RX_TABLE_PARTS && *t == '.') {
					rx_buf_puts(sql, "`.`");
					continue;
				}
				if (*t == '`')
					rx_buf_putc(sql, table_style == RX_TABLE_PATH ? '\\' : '`');
				rx_buf_putc(sql, *t);
			}
			rx_buf_putc(sql, '`');
		}
		return 0;
	}
	size_t n = strlen(o->query);
	while (n > 0 && strchr(" \t\r\n;", o->query[n - 1]) != NULL)
		n--;
	if (n == 0) {
		rx_diag("the query is empty");
		return -1;
	}
	rx_buf_put(sql, o->query, n);
	return 0;
}

const char *rx_http_shard_key(const extract_options *o)
{
	if (o->nshards == 0 || o->key == NULL || strchr(o->key, ',') != NULL)
		return NULL;
	return o->key;
}

void rx_http_wrap_sql(rx_buf *out, const char *sql, const char *tail)
{
	rx_buf_puts(out, "SELECT * FROM (\n");
	rx_buf_puts(out, sql);
	rx_buf_puts(out, "\n) AS rx_q");
	rx_buf_puts(out, tail);
}

int rx_http_reply_object(const rx_http *h, rx_members *top, const char *what)
{
	char err[256];

	if (rx_json_scan_object(h->body.data ? h->body.data : "", h->body.len, top, err, sizeof err) < 0) {
		rx_diag("%s: %s: the reply is not a JSON object: %s", h->engine, what, err);
		return -1;
	}
	return 0;
}

int rx_http_write_rows(rx_http *h, rx_span data, size_t ncols, rx_http_put_field *put, void *ctx,
		       long long before, long long *count, const extract_options *o, rx_writer *out)
{
	rx_walk rows, cells;
	rx_span cell;
	int r;

	*count = 0;
	if (data.p[0] != '[' || rx_walk_start(&rows, data) < 0) {
		rx_diag("%s: the result's data is not an array", h->engine);
		return RX_EXIT_FAIL;
	}
	while ((r = rx_walk_enter(&rows, &cells)) != 0) {
		rx_buf *b = &out->buf;
		size_t start = b->len, i = 0;
		if (r < 0 || cells.p[-1] != '[') {
			rx_diag("%s: row %lld of the result is not an array", h->engine, before + *count + 1);
			return RX_EXIT_FAIL;
		}
		rx_buf_putc(b, '{');
		while (i < ncols && rx_walk_next(&cells, &cell)) {
			if (i > 0)
				rx_buf_putc(b, ',');
			put(ctx, b, i, cell);
			i++;
		}
		if (i != ncols || rx_walk_next(&cells, &cell)) {
			b->len = start;
			b->data[start] = '\0';
			rx_diag("%s: row %lld of the result has not %zu cells, one per column", h->engine,
				before + *count + 1, ncols);
			return RX_EXIT_FAIL;
		}
		rx_walk_leave(&rows, &cells);
		rx_buf_putc(b, '}');
		rx_extract_row(out, start, o);
		if (out->error)
			return RX_EXIT_IOERR;
		(*count)++;
		if (rx_http_interrupted())
			return rx_http_fail(h, "reading the result", NULL);
	}
	return RX_EXIT_OK;
}
