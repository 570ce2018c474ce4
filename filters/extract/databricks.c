/*
 * databricks.c - rx-extract's Databricks source, over the SQL Statement
 * Execution API 2.0 (POST /api/2.0/sql/statements, chunks).
 *
 * NOTES ON THE DESIGN
 *
 *  - Authentication: a personal access token from $DATABRICKS_TOKEN, or a
 *    service principal's OAuth (M2M) token fetched with
 *    $DATABRICKS_CLIENT_ID and $DATABRICKS_CLIENT_SECRET from the
 *    workspace's /oidc/v1/token.
 *  - The statement is submitted with wait_timeout 0s, so its id is known
 *    at once and a signal can always cancel it, then polled (PENDING,
 *    RUNNING) until SUCCEEDED, FAILED, CANCELED or CLOSED.  A failed
 *    statement is an HTTP 200 with state FAILED: the state decides.
 *  - manifest.truncated true (a row_limit or byte_limit cut the result)
 *    is refused before any row: passing it on would delete the missing
 *    rows downstream.
 *  - Chunks: INLINE (JSON_ARRAY) chunks follow next_chunk_internal_link
 *    on the workspace; EXTERNAL_LINKS (the default: INLINE fails above
 *    25 MiB) are presigned URLs fetched WITHOUT the Authorization header,
 *    with the link's own http_headers.  A link refused as expired is asked
 *    for again once (GET .../result/chunks/N).  The next chunk downloads
 *    while the current one is written (two in memory at most); each
 *    chunk's row count is checked, and the total against
 *    manifest.total_row_count.
 *  - Types from manifest.schema.columns[].type_name; cells are strings:
 *      BYTE, SHORT, INT, LONG, DECIMAL   exact number, or a string
 *      FLOAT, DOUBLE                     number; NaN, Infinity as strings
 *      BOOLEAN                           true/false
 *      ARRAY, MAP, STRUCT                embedded when the text is JSON
 *                                        (numbers exact), else a string
 *      DATE, TIMESTAMP, STRING, BINARY (hex), INTERVAL and others: the
 *      text Databricks sends, as a string
 *  - --shard with one key of an integer or string type is pushed into the
 *    statement after a LIMIT 0 statement has told its type: md5 of its
 *    STRING cast, the first 8 hex digits read by conv(..., 16, 10).
 */
#include "http.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
	POLL_FIRST_MS = 100,
	POLL_MAX_MS = 2000,
};

typedef enum kind {
	K_STRING, K_NUMBER, K_FLOAT, K_BOOL, K_JSON,
} kind;

typedef struct column {
	rx_buf name;     /* "\"name\":", escaped once */
	char *plain;
	char type[24];   /* type_name, upper case */
	kind kind;
} column;

typedef struct databricks {
	const extract_options *o;
	rx_http http;           /* the current reply */
	rx_http next;           /* the next chunk, downloading meanwhile */
	rx_http meta;           /* the small ResultData that names the next link */
	rx_buf base;            /* https://HOST */
	rx_buf token;           /* the bearer token */
	int oauth;              /* it came from /oidc/v1/token */
	struct curl_slist *headers;
	char *statement_id;
	int running;            /* it may still run: cancel it if we stop */
	column *cols;
	size_t ncols;
	long long rows;
	rx_buf url, body, scratch, msg, link;
	rx_members top;         /* the last reply's top-level members, when an object */
} databricks;

/* ---- requests ---- */

/* The message of an error reply ({"error_code","message"}), or NULL. */
static const char *reply_message(databricks *d)
{
	rx_span body = rx_span_of(d->http.body.data ? d->http.body.data : "", d->http.body.len), v;
	char e[64];

	rx_buf_reset(&d->msg);
	if (body.n == 0 || rx_json_validate(body.p, body.n, e, sizeof e) < 0) {
		/* an object store's refusal is XML: its first line says enough */
		if (body.n > 0 && body.p[0] == '<')
			rx_buf_put(&d->msg, body.p, body.n > 300 ? 300 : body.n);
		return d->msg.len ? d->msg.data : NULL;
	}
	while (body.n > 0 && body.p[0] != '{')
		body.p++, body.n--;
	if (rx_walk_get(body, "message", &v) && rx_json_kind(v) == 's')
		rx_json_string_decode(v, &d->msg);
	if (rx_walk_get(body, "error_code", &v) && rx_json_kind(v) == 's') {
		rx_buf_puts(&d->msg, " (error_code ");
		rx_json_string_decode(v, &d->msg);
		rx_buf_putc(&d->msg, ')');
	}
	return d->msg.len ? d->msg.data : NULL;
}

static int classify(const rx_http *h)
{
	if (h->status == 429)
		return RX_HTTP_THROTTLED;
	if (h->status == 502 || h->status == 503 || h->status == 504)
		return RX_HTTP_TRANSIENT;
	if (h->status >= 500 && h->body.data && strstr(h->body.data, "TEMPORARILY_UNAVAILABLE"))
		return RX_HTTP_TRANSIENT;
	return RX_HTTP_FINAL;
}

static int fetch_oauth_token(databricks *d, const char *id, const char *secret)
{
	rx_buf basic = {0}, cred = {0}, url = {0};
	char err[256];
	int status = RX_EXIT_FAIL;

	rx_buf_printf(&cred, "%s:%s", id, secret);
	rx_buf_puts(&basic, "Authorization: Basic ");
	rx_base64_put(&basic, (const unsigned char *)cred.data, cred.len);
	rx_buf_printf(&url, "%s/oidc/v1/token", d->base.data);
	struct curl_slist *h = rx_http_headers(basic.data, "Content-Type: application/x-www-form-urlencoded",
					       "Accept: application/json", (char *)NULL);
	static const char form[] = "grant_type=client_credentials&scope=all-apis";
	if (rx_http_request(&d->http, "POST", url.data, h, form, sizeof form - 1) < 0 || d->http.status != 200) {
		char what[300];
		snprintf(what, sizeof what, "getting an OAuth token for the service principal %s", id);
		status = rx_http_fail(&d->http, what, d->http.status ? reply_message(d) : NULL);
		goto done;
	}
	rx_span doc = rx_span_of(d->http.body.data ? d->http.body.data : "", d->http.body.len);
	char *token = NULL;
	if (rx_json_validate(doc.p, doc.n, err, sizeof err) == 0) {
		while (doc.n > 0 && doc.p[0] != '{')
			doc.p++, doc.n--;
		token = rx_walk_strdup(doc, "access_token");
	}
	if (token == NULL) {
		rx_diag("Databricks: %s answered without an access_token", url.data);
		goto done;
	}
	rx_buf_puts(&d->token, token);
	memset(token, 0, strlen(token));
	free(token);
	d->oauth = 1;
	status = RX_EXIT_OK;
done:
	curl_slist_free_all(h);
	memset(cred.data, 0, cred.cap);
	memset(basic.data, 0, basic.cap);
	rx_buf_free(&cred);
	rx_buf_free(&basic);
	rx_buf_free(&url);
	return status;
}

static int setup(databricks *d)
{
	const char *host = d->o->source;
	char err[512];

	if (host[0] == '\0')
		host = getenv("DATABRICKS_HOST") ? getenv("DATABRICKS_HOST") : "";
	if (d->o->base_url != NULL)
		rx_buf_puts(&d->base, d->o->base_url);
	else if (strncasecmp(host, "https://", 8) == 0 || strncasecmp(host, "http://", 7) == 0)
		rx_buf_puts(&d->base, host);
	else if (host[0] != '\0')
		rx_buf_printf(&d->base, "https://%s", host);
	if (d->base.len == 0) {
		rx_diag("Databricks: no workspace: give --databricks HOST (or set DATABRICKS_HOST)");
		return RX_EXIT_FAIL;
	}
	while (d->base.len > 0 && d->base.data[d->base.len - 1] == '/')
		d->base.data[--d->base.len] = '\0';
	if (rx_http_check_url(d->base.data, err, sizeof err) < 0) {
		rx_diag("Databricks: %s", err);
		return RX_EXIT_FAIL;
	}
	const char *token = getenv("DATABRICKS_TOKEN");
	if (token != NULL && token[0] != '\0') {
		rx_buf_puts(&d->token, token);
	} else {
		const char *id = getenv("DATABRICKS_CLIENT_ID"), *secret = getenv("DATABRICKS_CLIENT_SECRET");
		if (id == NULL || id[0] == '\0' || secret == NULL || secret[0] == '\0') {
			rx_diag("Databricks: no credentials: set DATABRICKS_TOKEN (a personal access token), or "
				"DATABRICKS_CLIENT_ID and DATABRICKS_CLIENT_SECRET (a service principal)");
			return RX_EXIT_FAIL;
		}
		int status = fetch_oauth_token(d, id, secret);
		if (status != RX_EXIT_OK)
			return status;
	}
	rx_buf auth = {0};
	rx_buf_printf(&auth, "Authorization: Bearer %s", d->token.data);
	d->headers = rx_http_headers(auth.data, "Content-Type: application/json", "Accept: application/json",
				     (char *)NULL);
	memset(auth.data, 0, auth.cap);
	rx_buf_free(&auth);
	return RX_EXIT_OK;
}

static int call(databricks *d, const char *method, const char *url, const char *body, size_t n)
{
	return rx_http_request(&d->http, method, url, d->headers, body, n);
}

static int failure(databricks *d, const char *what)
{
	const char *msg = d->http.status ? reply_message(d) : NULL;
	char line[1024];

	if (d->http.status == 401 || d->http.status == 403) {
		rx_diag("Databricks: %s: the %s was refused (HTTP %ld)%s%s", what,
			d->oauth ? "service principal's OAuth token" : "token in DATABRICKS_TOKEN", d->http.status,
			msg ? ": " : "", msg ? rx_one_line(msg, line, sizeof line) : "");
		return RX_EXIT_FAIL;
	}
	return rx_http_fail(&d->http, what, msg);
}

/* The last reply, validated in one pass: an object (its members then in
 * d->top) or an array (a presigned link's rows).  0, or -1. */
static int reply_object(databricks *d, const char *what, rx_span *obj)
{
	char err[256];
	const char *p = d->http.body.data ? d->http.body.data : "";
	size_t n = d->http.body.len;

	while (n > 0 && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
		p++, n--;
	if (n > 0 && *p == '{') {
		if (rx_json_scan_object(p, n, &d->top, err, sizeof err) < 0) {
			rx_diag("Databricks: %s: the reply is not JSON: %s", what, err);
			return -1;
		}
	} else {
		d->top.n = 0;
		if (rx_json_validate(p, n, err, sizeof err) < 0) {
			rx_diag("Databricks: %s: the reply is not JSON: %s", what, err);
			return -1;
		}
	}
	while (n > 0 && p[n - 1] != '}' && p[n - 1] != ']')
		n--;
	if (n == 0) {
		rx_diag("Databricks: %s: an empty reply", what);
		return -1;
	}
	*obj = rx_span_of(p, n);
	return 0;
}

static void statement_url(databricks *d, const char *tail)
{
	rx_buf_reset(&d->url);
	rx_buf_printf(&d->url, "%s/api/2.0/sql/statements/", d->base.data);
	rx_http_put_escaped(&d->url, d->statement_id);
	rx_buf_puts(&d->url, tail);
}

static void cancel(databricks *d)
{
	if (d->statement_id == NULL || !d->running)
		return;
	statement_url(d, "/cancel");
	int retries = d->http.retries;
	d->http.no_interrupt = 1;
	d->http.retries = 0;
	if (call(d, "POST", d->url.data, "{}", 2) == 0 && d->http.status == 200)
		rx_diag("Databricks: the statement %s was cancelled", d->statement_id);
	else
		rx_diag("Databricks: could not cancel the statement %s", d->statement_id);
	d->http.no_interrupt = 0;
	d->http.retries = retries;
}

/* Run one statement until it succeeded (the reply, with the manifest and
 * the first chunk, in d->http.body as obj). */
static int run(databricks *d, const char *sql, const char *disposition, const char *what, rx_span *obj)
{
	rx_buf_reset(&d->body);
	rx_buf_puts(&d->body, "{\"statement\":");
	rx_json_put_string(&d->body, sql, strlen(sql));
	rx_buf_puts(&d->body, ",\"warehouse_id\":");
	rx_json_put_string(&d->body, d->o->warehouse, strlen(d->o->warehouse));
	if (d->o->catalog) {
		rx_buf_puts(&d->body, ",\"catalog\":");
		rx_json_put_string(&d->body, d->o->catalog, strlen(d->o->catalog));
	}
	if (d->o->schema) {
		rx_buf_puts(&d->body, ",\"schema\":");
		rx_json_put_string(&d->body, d->o->schema, strlen(d->o->schema));
	}
	rx_buf_printf(&d->body, ",\"wait_timeout\":\"0s\",\"disposition\":\"%s\",\"format\":\"JSON_ARRAY\"}", disposition);
	rx_buf_reset(&d->url);
	rx_buf_printf(&d->url, "%s/api/2.0/sql/statements", d->base.data);
	if (call(d, "POST", d->url.data, d->body.data, d->body.len) < 0 || d->http.status != 200)
		return failure(d, what);

	time_t started = time(NULL);
	long pause = POLL_FIRST_MS;
	for (;;) {
		rx_span status, v;
		char state[32] = "";
		if (reply_object(d, what, obj) < 0)
			return RX_EXIT_FAIL;
		char *id = rx_walk_strdup(*obj, "statement_id");
		if (id != NULL) {
			free(d->statement_id);
			d->statement_id = id;
		}
		if (rx_walk_get(*obj, "status", &status) && rx_walk_get(status, "state", &v) && rx_json_kind(v) == 's') {
			rx_span t = rx_walk_text(v, &d->scratch);
			snprintf(state, sizeof state, "%.*s", (int)t.n, t.p);
		}
		if (strcmp(state, "SUCCEEDED") == 0) {
			d->running = 0;
			return RX_EXIT_OK;
		}
		if (strcmp(state, "FAILED") == 0 || strcmp(state, "CANCELED") == 0 || strcmp(state, "CLOSED") == 0) {
			rx_span error;
			char line[1024];
			d->running = 0;
			rx_buf_reset(&d->msg);
			if (rx_walk_get(status, "error", &error)) {
				if (rx_walk_get(error, "message", &v) && rx_json_kind(v) == 's')
					rx_json_string_decode(v, &d->msg);
				if (rx_walk_get(error, "error_code", &v) && rx_json_kind(v) == 's') {
					rx_buf_puts(&d->msg, " (error_code ");
					rx_json_string_decode(v, &d->msg);
					if (rx_walk_get(status, "sql_state", &v) && rx_json_kind(v) == 's') {
						rx_buf_puts(&d->msg, ", SQL state ");
						rx_json_string_decode(v, &d->msg);
					}
					rx_buf_putc(&d->msg, ')');
				}
			}
			if (strcmp(state, "FAILED") == 0)
				rx_diag("Databricks: %s: %s", what,
					d->msg.len ? rx_one_line(d->msg.data, line, sizeof line) : "the statement failed");
			else
				rx_diag("Databricks: %s: the statement was %s%s%s", what,
					state[1] == 'A' ? "cancelled" : "closed (its result is gone)", d->msg.len ? ": " : "",
					d->msg.len ? rx_one_line(d->msg.data, line, sizeof line) : "");
			return RX_EXIT_FAIL;
		}
		if (strcmp(state, "PENDING") != 0 && strcmp(state, "RUNNING") != 0) {
			rx_diag("Databricks: %s: the statement is in state '%s'", what, state[0] ? state : "(none)");
			return RX_EXIT_FAIL;
		}
		if (d->statement_id == NULL) {
			rx_diag("Databricks: %s: a %s statement without a statement_id", what, state);
			return RX_EXIT_FAIL;
		}
		d->running = 1;
		if (d->o->timeout > 0 && time(NULL) - started > d->o->timeout) {
			rx_diag("Databricks: %s: the statement ran longer than --timeout %ld seconds", what, d->o->timeout);
			return RX_EXIT_FAIL;
		}
		if (rx_http_sleep(pause) < 0)
			return rx_http_fail(&d->http, what, NULL);
		pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
		statement_url(d, "");
		if (call(d, "GET", d->url.data, NULL, 0) < 0 || d->http.status != 200)
			return failure(d, what);
	}
}

/* ---- the result ---- */

static kind kind_of(const char *t)
{
	if (strcmp(t, "BYTE") == 0 || strcmp(t, "SHORT") == 0 || strcmp(t, "INT") == 0 || strcmp(t, "LONG") == 0 ||
	    strcmp(t, "DECIMAL") == 0)
		return K_NUMBER;
	if (strcmp(t, "FLOAT") == 0 || strcmp(t, "DOUBLE") == 0)
		return K_FLOAT;
	if (strcmp(t, "BOOLEAN") == 0)
		return K_BOOL;
	if (strcmp(t, "ARRAY") == 0 || strcmp(t, "MAP") == 0 || strcmp(t, "STRUCT") == 0)
		return K_JSON;
	return K_STRING;
}

static void free_columns(databricks *d)
{
	for (size_t i = 0; i < d->ncols; i++) {
		rx_buf_free(&d->cols[i].name);
		free(d->cols[i].plain);
	}
	free(d->cols);
	d->cols = NULL;
	d->ncols = 0;
}

static int read_columns(databricks *d, rx_span manifest)
{
	rx_span schema, columns, col;
	rx_walk w;
	long n;

	free_columns(d);
	if (!rx_walk_get(manifest, "schema", &schema) || !rx_walk_get(schema, "columns", &columns) ||
	    (n = rx_walk_count(columns)) <= 0) {
		rx_diag("Databricks: the result has no columns (the statement returns no rows?)");
		return RX_EXIT_FAIL;
	}
	d->cols = calloc((size_t)n, sizeof *d->cols);
	if (d->cols == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	rx_walk_start(&w, columns);
	while (rx_walk_next(&w, &col)) {
		column *c = &d->cols[d->ncols++];
		char *type = rx_walk_strdup(col, "type_name");
		c->plain = rx_walk_strdup(col, "name");
		if (c->plain == NULL)
			c->plain = rx_xstrdup("");
		snprintf(c->type, sizeof c->type, "%s", type ? type : "STRING");
		for (char *p = c->type; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		free(type);
		c->kind = kind_of(c->type);
		rx_json_put_string(&c->name, c->plain, strlen(c->plain));
		rx_buf_putc(&c->name, ':');
	}
	const char **names = rx_xmalloc(d->ncols * sizeof *names);
	for (size_t i = 0; i < d->ncols; i++)
		names[i] = d->cols[i].plain;
	int bad = rx_extract_check_columns("Databricks", names, d->ncols);
	free(names);
	return bad < 0 ? RX_EXIT_DATAERR : RX_EXIT_OK;
}

static void put_cell(databricks *d, rx_buf *b, const column *c, rx_span v)
{
	if (rx_json_kind(v) == 'z') {
		rx_buf_put(b, "null", 4);
		return;
	}
	if (c->kind == K_STRING && rx_json_kind(v) == 's') {
		rx_buf_put(b, v.p, v.n);
		return;
	}
	rx_span t = rx_walk_text(v, &d->scratch);
	switch (c->kind) {
	case K_NUMBER: rx_cell_number(b, t.p, t.n); break;
	case K_FLOAT: rx_cell_float(b, t.p, t.n); break;
	case K_BOOL: rx_cell_bool(b, t.p, t.n); break;
	case K_JSON: rx_cell_json(b, t.p, t.n); break;
	case K_STRING: rx_json_put_string(b, t.p, t.n); break;
	}
}

static void put_field(void *ctx, rx_buf *b, size_t i, rx_span cell)
{
	databricks *d = ctx;

	rx_buf_put(b, d->cols[i].name.data, d->cols[i].name.len);
	put_cell(d, b, &d->cols[i], cell);
}

/* Write the rows of a data array ([[cell,...],...]). */
static int write_rows(databricks *d, rx_span data, long long *count, rx_writer *out)
{
	return rx_http_write_rows(&d->http, data, d->ncols, put_field, d, d->rows, count, d->o, out);
}

/* The URL and headers of a presigned link: no Authorization (the link is
 * its own credential), the link's http_headers.  0, or -1 with a message. */
static int link_request(databricks *d, rx_span link, long long chunk, char **url, struct curl_slist **h)
{
	rx_span headers, name, value;
	rx_walk w;
	char err[512];

	*h = NULL;
	*url = rx_walk_strdup(link, "external_link");
	if (*url == NULL) {
		rx_diag("Databricks: chunk %lld: an external link without a URL", chunk);
		return -1;
	}
	if (rx_http_check_url(*url, err, sizeof err) < 0) {
		rx_diag("Databricks: chunk %lld: %s", chunk, err);
		free(*url);
		*url = NULL;
		return -1;
	}
	*h = curl_slist_append(*h, "Authorization:"); /* curl: send none */
	if (rx_walk_get(link, "http_headers", &headers) && headers.p[0] == '{' && rx_walk_start(&w, headers) == 0) {
		while (rx_walk_next_member(&w, &name, &value)) {
			rx_buf_reset(&d->link);
			rx_json_string_decode(name, &d->link);
			rx_buf_puts(&d->link, ": ");
			if (rx_json_kind(value) == 's')
				rx_json_string_decode(value, &d->link);
			*h = curl_slist_append(*h, d->link.data);
		}
	}
	return 0;
}

static void forget_url(char *url)
{
	if (url != NULL) {
		memset(url, 0, strlen(url)); /* it holds the link's signature */
		free(url);
	}
}

/* The links of a ResultData, appended to the queue (a JSON array's
 * elements, each a copy ending in '\0'). */
static void queue_links(rx_span result, rx_buf *queue)
{
	rx_span arr, link;
	rx_walk w;

	if (!rx_walk_get(result, "external_links", &arr) || arr.p[0] != '[' || rx_walk_start(&w, arr) < 0)
		return;
	while (rx_walk_next(&w, &link)) {
		rx_buf_put(queue, link.p, link.n);
		rx_buf_putc(queue, '\0');
	}
}

/* The rows of one chunk (its data array, in d->http's reply) against the
 * count its link or ResultData gives, or the manifest's. */
static int write_counted(databricks *d, rx_span rows, rx_span about, long long index, const long long *chunk_rows,
			 size_t nchunks, rx_writer *out)
{
	long long got, want = -1;
	int status = write_rows(d, rows, &got, out);

	if (status != RX_EXIT_OK)
		return status;
	d->rows += got;
	rx_walk_int(about, "row_count", &want);
	if (want < 0 && index >= 0 && (size_t)index < nchunks)
		want = chunk_rows[index];
	if (want >= 0 && got != want) {
		rx_diag("Databricks: chunk %lld has %lld rows, the manifest said %lld (the output is incomplete)", index + 1,
			got, want);
		return RX_EXIT_FAIL;
	}
	return RX_EXIT_OK;
}

/* EXTERNAL_LINKS: each chunk's link is downloaded (d->next, in a thread)
 * while the chunk before it is written; the small ResultData that names
 * the next link is fetched first, on d->meta. */
static int read_links(databricks *d, rx_span first, const long long *chunk_rows, size_t nchunks, rx_writer *out)
{
	rx_buf queue = {0}, cur = {0};
	size_t at = 0;
	char *url = NULL, what[160];
	struct curl_slist *next_headers = NULL;
	int status = RX_EXIT_FAIL, rc;
	long long index;

	queue_links(first, &queue);
	if (queue.len == 0) {
		rx_diag("Databricks: the result has neither rows nor links");
		goto done;
	}
	/* start the first download */
	if (link_request(d, rx_span_of(queue.data, strlen(queue.data)), 1, &url, &next_headers) < 0)
		goto done;
	rx_http_start(&d->next, "GET", url, next_headers);
	forget_url(url);
	url = NULL;
	for (;;) {
		/* the current link: the one whose download was started */
		rx_buf_reset(&cur);
		rx_buf_puts(&cur, queue.data + at);
		at += strlen(queue.data + at) + 1;
		rx_span link = rx_span_of(cur.data, cur.len);
		index = -1;
		rx_walk_int(link, "chunk_index", &index);
		snprintf(what, sizeof what, "chunk %lld of %zu, after %lld rows (the output is incomplete)", index + 1, nchunks,
			 d->rows);
		rc = rx_http_finish(&d->next);
		rx_http_swap(&d->http, &d->next);
		curl_slist_free_all(next_headers);
		next_headers = NULL;
		if (rc == 0 && (d->http.status == 403 || d->http.status == 404 || d->http.status == 410) && index >= 0) {
			/* expired: ask for the chunk's link again, once */
			char tail[64];
			rx_span fresh, links, one;
			rx_walk lw;
			struct curl_slist *h = NULL;
			snprintf(tail, sizeof tail, "/result/chunks/%lld", index);
			statement_url(d, tail);
			if (call(d, "GET", d->url.data, NULL, 0) < 0 || d->http.status != 200) {
				status = failure(d, what);
				goto done;
			}
			if (reply_object(d, what, &fresh) < 0 || !rx_walk_get(fresh, "external_links", &links) ||
			    links.p[0] != '[' || rx_walk_start(&lw, links) < 0 || !rx_walk_next(&lw, &one)) {
				rx_diag("Databricks: %s: no fresh link for an expired one", what);
				goto done;
			}
			rx_buf_reset(&cur);
			rx_buf_put(&cur, one.p, one.n);
			link = rx_span_of(cur.data, cur.len);
			if (link_request(d, link, index + 1, &url, &h) < 0)
				goto done;
			rc = rx_http_request(&d->http, "GET", url, h, NULL, 0);
			curl_slist_free_all(h);
			forget_url(url);
			url = NULL;
		}
		if (rc < 0 || d->http.status != 200) {
			status = rx_http_fail(&d->http, what, d->http.status ? reply_message(d) : NULL);
			goto done;
		}
		rx_span rows;
		if (reply_object(d, what, &rows) < 0)
			goto done;
		/* the next link: another of this ResultData's, or the next one's */
		if (at >= queue.len) {
			char *path = rx_walk_strdup(link, "next_chunk_internal_link");
			rx_buf_reset(&queue);
			at = 0;
			if (path != NULL) {
				if (path[0] != '/') {
					rx_diag("Databricks: next_chunk_internal_link '%.100s' is not a path", path);
					free(path);
					goto done;
				}
				rx_buf_reset(&d->url);
				rx_buf_printf(&d->url, "%s%s", d->base.data, path);
				free(path);
				rc = rx_http_request(&d->meta, "GET", d->url.data, d->headers, NULL, 0);
				if (rc < 0 || d->meta.status != 200) {
					rx_http_swap(&d->http, &d->meta); /* for the message */
					snprintf(what, sizeof what, "the next chunk, after %lld rows (the output is incomplete)",
						 d->rows);
					status = failure(d, what);
					goto done;
				}
				char err[256];
				if (rx_json_validate(d->meta.body.data, d->meta.body.len, err, sizeof err) < 0) {
					rx_diag("Databricks: the next chunk: the reply is not JSON: %s", err);
					goto done;
				}
				rx_span meta = rx_span_of(d->meta.body.data, d->meta.body.len);
				while (meta.n > 0 && meta.p[0] != '{')
					meta.p++, meta.n--;
				queue_links(meta, &queue);
				if (queue.len == 0) {
					rx_diag("Databricks: the next chunk has no link (the output is incomplete)");
					goto done;
				}
			}
		}
		if (at < queue.len) {
			rx_span n = rx_span_of(queue.data + at, strlen(queue.data + at));
			long long ni = -1;
			rx_walk_int(n, "chunk_index", &ni);
			if (link_request(d, n, ni + 1, &url, &next_headers) < 0)
				goto done;
			rx_http_start(&d->next, "GET", url, next_headers);
			forget_url(url);
			url = NULL;
		}
		status = write_counted(d, rows, link, index, chunk_rows, nchunks, out);
		if (status != RX_EXIT_OK)
			goto done;
		status = RX_EXIT_FAIL;
		if (at >= queue.len)
			break;
	}
	status = RX_EXIT_OK;
done:
	/* headers a download in flight still reads: stop it before freeing */
	d->next.abandon = 1;
	rx_http_finish(&d->next);
	curl_slist_free_all(next_headers);
	forget_url(url);
	rx_buf_free(&queue);
	rx_buf_free(&cur);
	return status;
}

/* INLINE: each chunk is a ResultData; the next one downloads (d->next)
 * while this one is written. */
static int read_inline(databricks *d, rx_span result, int is_top, const long long *chunk_rows, size_t nchunks,
		       rx_writer *out)
{
	rx_span arr;
	long long index;
	int status;

	for (;;) {
		index = -1;
		rx_walk_int(result, "chunk_index", &index);
		/* a chunk that is the reply has its data_array found by the scan
		 * already; in the statement's reply it is found by walking */
		if (!(is_top ? rx_walk_member(&d->top, "data_array", &arr) : rx_walk_get(result, "data_array", &arr)))
			arr = rx_span_of("[]", 2); /* a chunk of no rows */
		char *path = rx_walk_strdup(result, "next_chunk_internal_link");
		int more = path != NULL;
		if (more) {
			if (path[0] != '/') {
				rx_diag("Databricks: next_chunk_internal_link '%.100s' is not a path", path);
				free(path);
				return RX_EXIT_FAIL;
			}
			rx_buf_reset(&d->url);
			rx_buf_printf(&d->url, "%s%s", d->base.data, path);
			free(path);
			rx_http_start(&d->next, "GET", d->url.data, d->headers);
		}
		status = write_counted(d, arr, result, index, chunk_rows, nchunks, out);
		if (status != RX_EXIT_OK)
			return status; /* a download in flight is abandoned by the caller */
		if (!more)
			return RX_EXIT_OK;
		int rc = rx_http_finish(&d->next);
		rx_http_swap(&d->http, &d->next);
		if (rc < 0 || d->http.status != 200) {
			char what[160];
			snprintf(what, sizeof what, "the next chunk, after %lld rows (the output is incomplete)", d->rows);
			return failure(d, what);
		}
		if (reply_object(d, "reading a chunk", &result) < 0)
			return RX_EXIT_FAIL;
		is_top = 1;
	}
}

/* Describe the model (LIMIT 0) and push the shard filter into sql. */
static int push_shard(databricks *d, rx_buf *sql)
{
	const char *key = rx_http_shard_key(d->o);
	rx_buf probe = {0}, tail = {0}, ident = {0};
	rx_span obj, manifest;
	int status;

	if (key == NULL)
		return RX_EXIT_OK;
	rx_http_wrap_sql(&probe, sql->data, " LIMIT 0");
	status = run(d, probe.data, "INLINE", "describing the query", &obj);
	if (status != RX_EXIT_OK)
		goto done;
	if (!rx_walk_get(obj, "manifest", &manifest)) {
		rx_diag("Databricks: describing the query: no manifest");
		status = RX_EXIT_FAIL;
		goto done;
	}
	status = read_columns(d, manifest);
	if (status != RX_EXIT_OK)
		goto done;
	for (size_t i = 0; i < d->ncols; i++) {
		const column *c = &d->cols[i];
		if (strcmp(c->plain, key) != 0)
			continue;
		if (!(strcmp(c->type, "STRING") == 0 || strcmp(c->type, "BYTE") == 0 || strcmp(c->type, "SHORT") == 0 ||
		      strcmp(c->type, "INT") == 0 || strcmp(c->type, "LONG") == 0))
			break;
		rx_buf_putc(&ident, '`');
		for (const char *p = key; *p; p++) {
			if (*p == '`')
				rx_buf_putc(&ident, '`');
			rx_buf_putc(&ident, *p);
		}
		rx_buf_putc(&ident, '`');
		rx_buf_printf(&tail, " WHERE pmod(CAST(conv(substr(md5(CAST(rx_q.%s AS STRING)), 1, 8), 16, 10) AS BIGINT), %u) + 1 = %u",
			      ident.data, d->o->nshards, d->o->shard);
		if (d->o->shard == 1)
			rx_buf_printf(&tail, " OR rx_q.%s IS NULL", ident.data);
		rx_buf_reset(&probe);
		rx_http_wrap_sql(&probe, sql->data, tail.data);
		rx_buf_reset(sql);
		rx_buf_put(sql, probe.data, probe.len);
		break;
	}
done:
	free(d->statement_id);
	d->statement_id = NULL;
	rx_buf_free(&probe);
	rx_buf_free(&tail);
	rx_buf_free(&ident);
	return status;
}

int rx_extract_databricks(const extract_options *o, rx_writer *out)
{
	databricks d = {0};
	rx_buf sql = {0};
	rx_span obj, manifest, result, v;
	long long *chunk_rows = NULL, total = -1;
	size_t nchunks = 0;
	int status;

	d.o = o;
	rx_http_init(&d.http, "Databricks", o->retries);
	d.http.classify = classify;
	rx_http_init(&d.next, "Databricks", o->retries);
	d.next.classify = classify;
	rx_http_init(&d.meta, "Databricks", o->retries);
	d.meta.classify = classify;
	status = setup(&d);
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	if (rx_http_model_sql(o, RX_TABLE_PARTS, &sql) < 0)
		goto done;
	status = push_shard(&d, &sql);
	if (status != RX_EXIT_OK)
		goto done;
	status = run(&d, sql.data, o->disposition ? o->disposition : "EXTERNAL_LINKS", "query failed", &obj);
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	if (!rx_walk_get(obj, "manifest", &manifest)) {
		rx_diag("Databricks: the result has no manifest");
		goto done;
	}
	if (rx_walk_true(manifest, "truncated")) {
		rx_diag("Databricks: the result was truncated (manifest.truncated: a row or byte limit cut it): "
			"refusing a partial model, which would delete the missing rows downstream");
		goto done;
	}
	status = read_columns(&d, manifest);
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	rx_walk_int(manifest, "total_row_count", &total);
	if (rx_walk_get(manifest, "chunks", &v) && rx_json_kind(v) == 'a') {
		rx_walk w;
		rx_span c;
		long n = rx_walk_count(v);
		chunk_rows = rx_xmalloc((size_t)(n > 0 ? n : 1) * sizeof *chunk_rows);
		rx_walk_start(&w, v);
		while (rx_walk_next(&w, &c)) {
			long long rc = -1;
			rx_walk_int(c, "row_count", &rc);
			chunk_rows[nchunks++] = rc;
		}
	}
	long long declared;
	if (rx_walk_int(manifest, "total_chunk_count", &declared) && declared > (long long)nchunks && declared < 1000000) {
		/* chunks not all listed: their counts are the links' own */
		chunk_rows = rx_xrealloc(chunk_rows, (size_t)declared * sizeof *chunk_rows);
		while (nchunks < (size_t)declared)
			chunk_rows[nchunks++] = -1;
	}
	if (!rx_walk_member(&d.top, "result", &result)) {
		if (total > 0) {
			rx_diag("Databricks: the result has no data, the manifest says %lld rows", total);
			goto done;
		}
		result = rx_span_of("{}", 2);
	}
	rx_span links;
	if (rx_walk_get(result, "external_links", &links))
		status = read_links(&d, result, chunk_rows, nchunks, out);
	else
		status = read_inline(&d, result, 0, chunk_rows, nchunks, out);
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	if (total >= 0 && d.rows != total) {
		rx_diag("Databricks: the result has %lld rows, the manifest said %lld (the output is incomplete)", d.rows,
			total);
		goto done;
	}
	status = RX_EXIT_OK;
done:
	rx_http_free(&d.next); /* a prefetch no one will read is abandoned */
	rx_http_free(&d.meta);
	if (status != RX_EXIT_OK)
		cancel(&d);
	free(chunk_rows);
	free(d.statement_id);
	free_columns(&d);
	curl_slist_free_all(d.headers);
	if (d.token.data)
		memset(d.token.data, 0, d.token.cap);
	rx_http_free(&d.http);
	rx_buf_free(&sql);
	rx_buf_free(&d.base);
	rx_buf_free(&d.token);
	rx_buf_free(&d.url);
	rx_buf_free(&d.body);
	rx_buf_free(&d.scratch);
	rx_buf_free(&d.msg);
	rx_buf_free(&d.link);
	free(d.top.m);
	return status;
}
