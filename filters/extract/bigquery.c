/*
 * bigquery.c - rx-extract's BigQuery source, over the REST API v2
 * (jobs.query, then getQueryResults with page tokens).
 *
 * NOTES ON THE DESIGN
 *
 *  - Credentials, the first found: --credentials FILE, an access token in
 *    $GOOGLE_OAUTH_ACCESS_TOKEN (used as it is, never refreshed),
 *    $GOOGLE_APPLICATION_CREDENTIALS, then gcloud's application default
 *    credentials file.  A key file is a service account (a JWT bearer
 *    grant: RS256, kid, iss the client_email, aud Google's token URI,
 *    posted to the file's token_uri) or an authorized user (a refresh
 *    token grant).  The access token is fetched again before it expires,
 *    and once when a request is refused with 401.
 *  - The query runs with useLegacySql false (the server's default is
 *    legacy SQL) and formatOptions.useInt64Timestamp, under a requestId.
 *    jobComplete false is polled with getQueryResults (which itself waits
 *    up to timeoutMs on the server); then pages follow pageToken until
 *    none is given, the next page downloading while the current one is
 *    written (two pages in memory at most).  The rows counted
 *    must equal totalRows, or the result is an error.
 *  - Retries: reason rateLimitExceeded (which comes as HTTP 403) and 429
 *    are throttling; backendError, internalError, badGateway and 5xx are
 *    transient.  quotaExceeded is not retried and exits 75; every other
 *    error (invalidQuery, accessDenied, notFound) exits 1.
 *  - Rows are the f/v format, mapped by the schema: a RECORD becomes an
 *    object, a REPEATED field an array, recursively.  Scalars are strings:
 *      INTEGER/INT64, NUMERIC, BIGNUMERIC   exact number, or a string
 *      FLOAT/FLOAT64                        number; NaN, Infinity as strings
 *      BOOLEAN                              true/false
 *      TIMESTAMP                            int64 microseconds (or, despite
 *                                           the format option, float
 *                                           seconds) -> "...+00:00"
 *      JSON                                 embedded (numbers exact)
 *      STRING, BYTES (base64), DATE, DATETIME, TIME, GEOGRAPHY (WKT),
 *      INTERVAL, RANGE and others           strings as BigQuery sends them
 *  - --shard with one STRING or INT64 key is pushed into the query after
 *    a LIMIT 0 query has told the key's type: MD5 of its STRING cast, the
 *    first 8 hex digits read by CAST('0x...' AS INT64).
 */
#include "http.h"
#include "rxjwt.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static const char google_token_uri[] = "https://oauth2.googleapis.com/token";

enum {
	TOKEN_MARGIN_S = 300, /* fetch a new token this long before expiry */
	QUERY_WAIT_MS = 10000, /* timeoutMs: how long a call waits on the server */
	POLL_MAX_MS = 1000,
};

typedef enum kind {
	K_STRING, K_NUMBER, K_FLOAT, K_BOOL, K_TIMESTAMP, K_JSON, K_RECORD,
} kind;

typedef struct field {
	rx_buf name;          /* "\"name\":", escaped once */
	char *plain;          /* as the schema gives it */
	char type[24];        /* the schema's type, upper case */
	kind kind;
	int repeated;         /* mode REPEATED: an array */
	struct field *sub;    /* RECORD: its fields */
	size_t nsub;
} field;

typedef struct bigquery {
	const extract_options *o;
	rx_http http;         /* the current reply */
	rx_http next;         /* the next page, downloading meanwhile */
	rx_http auth;         /* the token endpoint's, apart: a refresh keeps the page */
	rx_buf base;          /* https://bigquery.googleapis.com/bigquery/v2 */
	/* credentials */
	const char *static_token; /* $GOOGLE_OAUTH_ACCESS_TOKEN */
	char *credentials_path;   /* the key file, for messages */
	EVP_PKEY *key;            /* service account */
	char *client_email, *key_id, *token_uri;
	char *client_id, *client_secret, *refresh_token; /* authorized user */
	rx_buf access_token;
	time_t expires;           /* when access_token expires */
	long lifetime;            /* its expires_in, seconds */
	struct curl_slist *headers;
	/* the job */
	char *project;            /* jobReference.projectId */
	char *job_id, *location;
	int running;              /* the job may still run: cancel it if we stop */
	field *fields;
	size_t nfields;
	long long rows;
	rx_buf url, body, scratch, msg, form;
	rx_members top;       /* the current reply's top-level members */
} bigquery;

/* ---- credentials ---- */

static void free_fields(field *f, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		rx_buf_free(&f[i].name);
		free(f[i].plain);
		free_fields(f[i].sub, f[i].nsub);
	}
	free(f);
}

/* The reason of an API error body, {"error":{"errors":[{"reason"}]}},
 * into reason ("" when there is none). */
static void error_reason(const rx_buf *body, char *reason, size_t len)
{
	rx_span doc = rx_span_of(body->data ? body->data : "", body->len), err, list, first;
	char e[64];
	rx_walk w;

	reason[0] = '\0';
	if (doc.n == 0 || rx_json_validate(doc.p, doc.n, e, sizeof e) < 0)
		return;
	while (doc.n > 0 && doc.p[0] != '{')
		doc.p++, doc.n--;
	if (rx_walk_get(doc, "error", &err) && rx_json_kind(err) == 'o' && rx_walk_get(err, "errors", &list) &&
	    rx_json_kind(list) == 'a' && rx_walk_start(&w, list) == 0 && rx_walk_next(&w, &first)) {
		char *r = rx_walk_strdup(first, "reason");
		if (r != NULL)
			snprintf(reason, len, "%s", r);
		free(r);
	}
}

/* The error in h's reply (the token endpoint's or the API's), as one
 * message, or NULL. */
static const char *reply_message(bigquery *q, const rx_http *h)
{
	rx_span body = rx_span_of(h->body.data ? h->body.data : "", h->body.len), err, v;
	char e[64], reason[64];

	rx_buf_reset(&q->msg);
	if (body.n == 0 || rx_json_validate(body.p, body.n, e, sizeof e) < 0)
		return NULL;
	while (body.n > 0 && body.p[0] != '{')
		body.p++, body.n--;
	if (rx_walk_get(body, "error", &err) && rx_json_kind(err) == 'o') {
		/* the API: {"error":{"code","message","errors":[{"reason"}],"status"}} */
		if (rx_walk_get(err, "message", &v) && rx_json_kind(v) == 's')
			rx_json_string_decode(v, &q->msg);
		error_reason(&h->body, reason, sizeof reason);
		if (reason[0])
			rx_buf_printf(&q->msg, " (reason %s)", reason);
	} else if (rx_walk_get(body, "error", &err) && rx_json_kind(err) == 's') {
		/* the token endpoint: {"error":"invalid_grant","error_description"} */
		rx_json_string_decode(err, &q->msg);
		if (rx_walk_get(body, "error_description", &v) && rx_json_kind(v) == 's') {
			rx_buf_puts(&q->msg, ": ");
			rx_json_string_decode(v, &q->msg);
		}
	}
	return q->msg.len ? q->msg.data : NULL;
}

static int classify(const rx_http *h)
{
	char reason[64];

	if (h->status >= 200 && h->status < 300)
		return RX_HTTP_FINAL;
	error_reason(&h->body, reason, sizeof reason);
	if (strcmp(reason, "rateLimitExceeded") == 0)
		return RX_HTTP_THROTTLED;
	if (strcmp(reason, "backendError") == 0 || strcmp(reason, "internalError") == 0 ||
	    strcmp(reason, "badGateway") == 0)
		return RX_HTTP_TRANSIENT;
	if (reason[0] != '\0')
		return RX_HTTP_FINAL;
	if (h->status == 429)
		return RX_HTTP_THROTTLED;
	if (h->status >= 500)
		return RX_HTTP_TRANSIENT;
	return RX_HTTP_FINAL;
}

/* A member of the key file, as a copy; NULL and a message if missing. */
static char *key_member(bigquery *q, rx_span doc, const char *name)
{
	char *v = rx_walk_strdup(doc, name);

	if (v == NULL || v[0] == '\0') {
		rx_diag("BigQuery: the credentials file '%s' has no \"%s\"", q->credentials_path, name);
		free(v);
		return NULL;
	}
	return v;
}

static int load_credentials(bigquery *q, const char *path)
{
	char err[1024];
	char *text;
	rx_span doc;
	int rc = -1;

	q->credentials_path = rx_xstrdup(path);
	text = rx_read_file(path);
	size_t n = strlen(text);
	if (rx_json_validate(text, n, err, sizeof err) < 0) {
		rx_diag("BigQuery: the credentials file '%s' is not JSON: %s", path, err);
		goto done;
	}
	doc = rx_span_of(text, n);
	while (doc.n > 0 && doc.p[0] != '{')
		doc.p++, doc.n--;
	char *type = rx_walk_strdup(doc, "type");
	if (type != NULL && strcmp(type, "service_account") == 0) {
		char *pem;
		q->client_email = key_member(q, doc, "client_email");
		q->key_id = key_member(q, doc, "private_key_id");
		pem = key_member(q, doc, "private_key");
		q->token_uri = rx_walk_strdup(doc, "token_uri");
		if (q->client_email && q->key_id && pem) {
			char what[600];
			snprintf(what, sizeof what, "the private_key of '%.*s'", 500, path);
			q->key = rx_jwt_key_from_pem(pem, strlen(pem), NULL, what, err, sizeof err);
			if (q->key == NULL)
				rx_diag("BigQuery: %s", err);
			else
				rc = 0;
		}
		if (pem) {
			memset(pem, 0, strlen(pem));
			free(pem);
		}
	} else if (type != NULL && strcmp(type, "authorized_user") == 0) {
		q->client_id = key_member(q, doc, "client_id");
		q->client_secret = q->client_id ? key_member(q, doc, "client_secret") : NULL;
		q->refresh_token = q->client_secret ? key_member(q, doc, "refresh_token") : NULL;
		q->token_uri = rx_walk_strdup(doc, "token_uri");
		if (q->refresh_token)
			rc = 0;
	} else {
		rx_diag("BigQuery: the credentials file '%s' is of type '%s': rx-extract reads service_account "
			"and authorized_user keys", path, type ? type : "(none)");
	}
	free(type);
	if (rc == 0) {
		if (q->token_uri == NULL)
			q->token_uri = rx_xstrdup(google_token_uri);
		if (rx_http_check_url(q->token_uri, err, sizeof err) < 0) {
			rx_diag("BigQuery: token_uri in '%s': %s", path, err);
			rc = -1;
		}
	}
done:
	memset(text, 0, n);
	free(text);
	return rc;
}

static int setup_credentials(bigquery *q)
{
	const char *path = q->o->credentials;
	static char adc[4096];

	if (path == NULL) {
		q->static_token = getenv("GOOGLE_OAUTH_ACCESS_TOKEN");
		if (q->static_token != NULL && q->static_token[0] != '\0')
			return 0;
		q->static_token = NULL;
		path = getenv("GOOGLE_APPLICATION_CREDENTIALS");
		if (path != NULL && path[0] == '\0')
			path = NULL;
	}
	if (path == NULL && getenv("HOME") != NULL) {
		snprintf(adc, sizeof adc, "%s/.config/gcloud/application_default_credentials.json", getenv("HOME"));
		FILE *f = fopen(adc, "r");
		if (f != NULL) {
			fclose(f);
			path = adc;
		}
	}
	if (path == NULL) {
		rx_diag("BigQuery: no credentials: give --credentials FILE, or set GOOGLE_APPLICATION_CREDENTIALS "
			"(a key file) or GOOGLE_OAUTH_ACCESS_TOKEN");
		return -1;
	}
	return load_credentials(q, path);
}

/* An access token from the token endpoint: 0, or an exit status. */
static int fetch_token(bigquery *q)
{
	rx_buf jwt = {0}, claims = {0}, header = {0};
	char err[512];
	time_t now = time(NULL);
	int status = RX_EXIT_FAIL;

	rx_buf_reset(&q->form);
	if (q->key != NULL) {
		rx_buf_puts(&header, "{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":");
		rx_json_put_string(&header, q->key_id, strlen(q->key_id));
		rx_buf_putc(&header, '}');
		rx_buf_puts(&claims, "{\"iss\":");
		rx_json_put_string(&claims, q->client_email, strlen(q->client_email));
		rx_buf_printf(&claims, ",\"scope\":\"https://www.googleapis.com/auth/bigquery\",\"aud\":\"%s\","
			      "\"iat\":%lld,\"exp\":%lld}", google_token_uri, (long long)now, (long long)now + 3600);
		if (rx_jwt_sign(q->key, header.data, claims.data, &jwt, err, sizeof err) < 0) {
			rx_diag("BigQuery: %s", err);
			goto done;
		}
		rx_buf_puts(&q->form, "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer&assertion=");
		rx_buf_put(&q->form, jwt.data, jwt.len);
	} else {
		rx_buf_puts(&q->form, "grant_type=refresh_token&client_id=");
		rx_http_put_escaped(&q->form, q->client_id);
		rx_buf_puts(&q->form, "&client_secret=");
		rx_http_put_escaped(&q->form, q->client_secret);
		rx_buf_puts(&q->form, "&refresh_token=");
		rx_http_put_escaped(&q->form, q->refresh_token);
	}
	struct curl_slist *h = rx_http_headers("Content-Type: application/x-www-form-urlencoded",
					       "Accept: application/json", (char *)NULL);
	int rc = rx_http_request(&q->auth, "POST", q->token_uri, h, q->form.data, q->form.len);
	curl_slist_free_all(h);
	if (rc < 0 || q->auth.status != 200) {
		char what[600];
		snprintf(what, sizeof what, "getting an access token for %s from %s",
			 q->client_email ? q->client_email : "the authorized user", q->token_uri);
		status = rx_http_fail(&q->auth, what, q->auth.status ? reply_message(q, &q->auth) : NULL);
		goto done;
	}
	rx_span doc = rx_span_of(q->auth.body.data ? q->auth.body.data : "", q->auth.body.len);
	char *token = NULL;
	long long expires_in = 3600;
	if (rx_json_validate(doc.p, doc.n, err, sizeof err) == 0) {
		while (doc.n > 0 && doc.p[0] != '{')
			doc.p++, doc.n--;
		token = rx_walk_strdup(doc, "access_token");
		rx_walk_int(doc, "expires_in", &expires_in);
	}
	if (token == NULL) {
		rx_diag("BigQuery: the token endpoint %s answered without an access_token", q->token_uri);
		goto done;
	}
	rx_buf_reset(&q->access_token);
	rx_buf_puts(&q->access_token, token);
	memset(token, 0, strlen(token));
	free(token);
	if (expires_in < 1)
		expires_in = 1;
	q->expires = now + (time_t)expires_in;
	q->lifetime = (long)expires_in;
	curl_slist_free_all(q->headers);
	q->headers = NULL;
	status = RX_EXIT_OK;
done:
	if (q->form.data)
		memset(q->form.data, 0, q->form.cap);
	if (jwt.data)
		memset(jwt.data, 0, jwt.cap);
	rx_buf_free(&jwt);
	rx_buf_free(&claims);
	rx_buf_free(&header);
	return status;
}

/* The headers of an API request, with a token that is not about to expire. */
static int headers(bigquery *q, int renew)
{
	if (q->static_token == NULL) {
		/* a new token once less than a quarter of its life, at most
		 * TOKEN_MARGIN_S, is left */
		time_t now = time(NULL);
		long margin = q->lifetime / 4 < TOKEN_MARGIN_S ? q->lifetime / 4 : TOKEN_MARGIN_S;
		if (renew || q->access_token.len == 0 || now >= q->expires - margin) {
			int status = fetch_token(q);
			if (status != RX_EXIT_OK)
				return status;
		}
	}
	if (q->headers == NULL) {
		rx_buf auth = {0};
		rx_buf_puts(&auth, "Authorization: Bearer ");
		rx_buf_puts(&auth, q->static_token ? q->static_token : q->access_token.data);
		q->headers = rx_http_headers(auth.data, "Content-Type: application/json", "Accept: application/json",
					     (char *)NULL);
		memset(auth.data, 0, auth.cap);
		rx_buf_free(&auth);
	}
	return RX_EXIT_OK;
}

/* An API request; a 401 gets a new token once.  0, -1 (no reply), or
 * an exit status > 0 from the token endpoint. */
static int call(bigquery *q, const char *method, const char *url, const char *body, size_t n)
{
	int status = headers(q, 0);

	if (status != RX_EXIT_OK)
		return status;
	int rc = rx_http_request(&q->http, method, url, q->headers, body, n);
	if (rc == 0 && q->http.status == 401 && q->static_token == NULL) {
		curl_slist_free_all(q->headers);
		q->headers = NULL;
		status = headers(q, 1);
		if (status != RX_EXIT_OK)
			return status;
		rc = rx_http_request(&q->http, method, url, q->headers, body, n);
	}
	return rc;
}

/* Report a failed API request: the exit status. */
static int failure(bigquery *q, const char *what)
{
	char reason[64] = "";
	const char *msg = q->http.status ? reply_message(q, &q->http) : NULL;
	char line[1024];

	error_reason(&q->http.body, reason, sizeof reason);
	if (q->http.status == 401) {
		if (q->static_token != NULL)
			rx_diag("BigQuery: %s: the token in GOOGLE_OAUTH_ACCESS_TOKEN was refused (HTTP 401)%s%s", what,
				msg ? ": " : "", msg ? rx_one_line(msg, line, sizeof line) : "");
		else
			rx_diag("BigQuery: %s: the access token of %s was refused (HTTP 401)%s%s", what,
				q->client_email ? q->client_email : q->credentials_path, msg ? ": " : "",
				msg ? rx_one_line(msg, line, sizeof line) : "");
		return RX_EXIT_FAIL;
	}
	if (strcmp(reason, "quotaExceeded") == 0) {
		rx_diag("BigQuery: %s: quota exceeded (HTTP %ld), try again later: %s", what, q->http.status,
			rx_one_line(msg, line, sizeof line));
		return RX_EXIT_TEMPFAIL;
	}
	return rx_http_fail(&q->http, what, msg);
}

static int top_true(bigquery *q, const char *name)
{
	rx_span v;

	return rx_walk_member(&q->top, name, &v) && v.n == 4 && memcmp(v.p, "true", 4) == 0;
}

static void cancel(bigquery *q)
{
	if (q->job_id == NULL || !q->running)
		return;
	rx_buf_reset(&q->url);
	rx_buf_printf(&q->url, "%s/projects/", q->base.data);
	rx_http_put_escaped(&q->url, q->project);
	rx_buf_puts(&q->url, "/jobs/");
	rx_http_put_escaped(&q->url, q->job_id);
	rx_buf_puts(&q->url, "/cancel");
	if (q->location) {
		rx_buf_puts(&q->url, "?location=");
		rx_http_put_escaped(&q->url, q->location);
	}
	int retries = q->http.retries;
	q->http.no_interrupt = 1;
	q->http.retries = 0;
	if (call(q, "POST", q->url.data, "", 0) == 0 && q->http.status == 200)
		rx_diag("BigQuery: the job %s was cancelled", q->job_id);
	else
		rx_diag("BigQuery: could not cancel the job %s", q->job_id);
	q->http.no_interrupt = 0;
	q->http.retries = retries;
}

/* ---- the schema and the rows ---- */

static kind kind_of(const char *t)
{
	if (strcmp(t, "INTEGER") == 0 || strcmp(t, "INT64") == 0 || strcmp(t, "NUMERIC") == 0 ||
	    strcmp(t, "BIGNUMERIC") == 0 || strcmp(t, "DECIMAL") == 0 || strcmp(t, "BIGDECIMAL") == 0)
		return K_NUMBER;
	if (strcmp(t, "FLOAT") == 0 || strcmp(t, "FLOAT64") == 0)
		return K_FLOAT;
	if (strcmp(t, "BOOLEAN") == 0 || strcmp(t, "BOOL") == 0)
		return K_BOOL;
	if (strcmp(t, "TIMESTAMP") == 0)
		return K_TIMESTAMP;
	if (strcmp(t, "JSON") == 0)
		return K_JSON;
	if (strcmp(t, "RECORD") == 0 || strcmp(t, "STRUCT") == 0)
		return K_RECORD;
	return K_STRING;
}

/* Read schema.fields into f[]: 0 or -1. */
static int read_fields(rx_span list, field **out, size_t *nout, int depth)
{
	rx_walk w;
	rx_span item, sub;
	long n = rx_walk_count(list);

	*out = NULL;
	*nout = 0;
	if (n <= 0 || depth > 15)
		return -1;
	field *f = calloc((size_t)n, sizeof *f);
	if (f == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	*out = f;
	rx_walk_start(&w, list);
	while (rx_walk_next(&w, &item)) {
		field *c = &f[(*nout)++];
		char *type = rx_walk_strdup(item, "type"), *mode = rx_walk_strdup(item, "mode");
		c->plain = rx_walk_strdup(item, "name");
		if (c->plain == NULL)
			c->plain = rx_xstrdup("");
		snprintf(c->type, sizeof c->type, "%s", type ? type : "STRING");
		for (char *p = c->type; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
		c->kind = kind_of(c->type);
		c->repeated = mode != NULL && strcasecmp(mode, "REPEATED") == 0;
		free(type);
		free(mode);
		rx_json_put_string(&c->name, c->plain, strlen(c->plain));
		rx_buf_putc(&c->name, ':');
		if (c->kind == K_RECORD &&
		    (!rx_walk_get(item, "fields", &sub) || read_fields(sub, &c->sub, &c->nsub, depth + 1) < 0))
			return -1;
	}
	return 0;
}

static int read_schema(bigquery *q)
{
	rx_span schema, list;

	free_fields(q->fields, q->nfields);
	q->fields = NULL;
	q->nfields = 0;
	if (!rx_walk_member(&q->top, "schema", &schema) || !rx_walk_get(schema, "fields", &list) ||
	    read_fields(list, &q->fields, &q->nfields, 0) < 0) {
		rx_diag("BigQuery: the result has no schema (the statement returns no rows?)");
		return RX_EXIT_FAIL;
	}
	const char **names = rx_xmalloc(q->nfields * sizeof *names);
	for (size_t i = 0; i < q->nfields; i++)
		names[i] = q->fields[i].plain;
	int bad = rx_extract_check_columns("BigQuery", names, q->nfields);
	free(names);
	return bad < 0 ? RX_EXIT_DATAERR : RX_EXIT_OK;
}

/* The rows are walked in one pass, each container as it is entered:
 * a row {"f":[cell,...]}, a cell {"v":X}, X a scalar, null, a record
 * {"f":[...]} or (REPEATED) an array of cells. */

static int put_record_in(bigquery *q, rx_buf *b, const field *f, size_t n, rx_walk *obj);

/* X of a non-repeated field, with w on it; consumes it. */
static int put_one_at(bigquery *q, rx_buf *b, const field *f, rx_walk *w)
{
	rx_walk inner;
	rx_span v;

	if (f->kind == K_RECORD) {
		int r = rx_walk_enter(w, &inner);
		if (r > 0) {
			if (inner.p[-1] != '{' || put_record_in(q, b, f->sub, f->nsub, &inner) < 0)
				return -1;
			rx_walk_leave(w, &inner);
			return 0;
		}
		if (r < 0 && rx_walk_next(w, &v) && rx_json_kind(v) == 'z') {
			rx_buf_put(b, "null", 4);
			return 0;
		}
		return -1;
	}
	if (!rx_walk_next(w, &v))
		return -1;
	if (rx_json_kind(v) == 'z') {
		rx_buf_put(b, "null", 4);
		return 0;
	}
	if (f->kind == K_STRING && rx_json_kind(v) == 's') {
		rx_buf_put(b, v.p, v.n);
		return 0;
	}
	if (rx_json_kind(v) == 'o' || rx_json_kind(v) == 'a')
		return -1;
	rx_span t = rx_walk_text(v, &q->scratch);
	switch (f->kind) {
	case K_NUMBER: rx_cell_number(b, t.p, t.n); break;
	case K_FLOAT: rx_cell_float(b, t.p, t.n); break;
	case K_BOOL: rx_cell_bool(b, t.p, t.n); break;
	case K_TIMESTAMP: rx_cell_epoch(b, t.p, t.n, 6, 'u', 0); break;
	case K_JSON: rx_cell_json(b, t.p, t.n); break;
	default: rx_json_put_string(b, t.p, t.n); break;
	}
	return 0;
}

/* Inside a cell {"v":X}: X, an array of cells when the field repeats. */
static int put_cell_in(bigquery *q, rx_buf *b, const field *f, int repeated, rx_walk *cell)
{
	rx_span name;
	rx_walk arr, elem;
	int first = 1, r;

	if (!rx_walk_next_name(cell, &name) || !rx_json_name_eq(name, "v", 1))
		return -1;
	if (!repeated) {
		if (put_one_at(q, b, f, cell) < 0)
			return -1;
	} else {
		r = rx_walk_enter(cell, &arr);
		if (r < 0) { /* null */
			rx_span v;
			if (!rx_walk_next(cell, &v) || rx_json_kind(v) != 'z')
				return -1;
			rx_buf_put(b, "null", 4);
		} else {
			if (r == 0 || arr.p[-1] != '[')
				return -1;
			rx_buf_putc(b, '[');
			while ((r = rx_walk_enter(&arr, &elem)) > 0) {
				if (!first)
					rx_buf_putc(b, ',');
				first = 0;
				if (put_cell_in(q, b, f, 0, &elem) < 0)
					return -1;
				rx_walk_leave(&arr, &elem);
			}
			if (r < 0)
				return -1;
			rx_buf_putc(b, ']');
			rx_walk_leave(cell, &arr);
		}
	}
	rx_walk_finish(cell); /* past '}' (and any other member) */
	return 0;
}

/* Inside {"f":[cells]}: an object of these fields. */
static int put_record_in(bigquery *q, rx_buf *b, const field *f, size_t n, rx_walk *obj)
{
	rx_span name;
	rx_walk cells, cell;
	size_t i = 0;
	int r;

	if (!rx_walk_next_name(obj, &name) || !rx_json_name_eq(name, "f", 1) || rx_walk_enter(obj, &cells) <= 0 ||
	    cells.p[-1] != '[')
		return -1;
	rx_buf_putc(b, '{');
	while ((r = rx_walk_enter(&cells, &cell)) > 0) {
		if (i >= n || cell.p[-1] != '{')
			return -1;
		if (i > 0)
			rx_buf_putc(b, ',');
		rx_buf_put(b, f[i].name.data, f[i].name.len);
		if (put_cell_in(q, b, &f[i], f[i].repeated, &cell) < 0)
			return -1;
		rx_walk_leave(&cells, &cell);
		i++;
	}
	if (r < 0 || i != n)
		return -1;
	rx_walk_leave(obj, &cells);
	rx_walk_finish(obj);
	rx_buf_putc(b, '}');
	return 0;
}

static int write_rows(bigquery *q, rx_writer *out)
{
	rx_span rows;
	rx_walk w, row;
	int r;

	if (!rx_walk_member(&q->top, "rows", &rows))
		return RX_EXIT_OK; /* absent for no rows */
	if (rows.p[0] != '[' || rx_walk_start(&w, rows) < 0) {
		rx_diag("BigQuery: the page's rows are not an array");
		return RX_EXIT_FAIL;
	}
	while ((r = rx_walk_enter(&w, &row)) != 0) {
		size_t start = out->buf.len;
		if (r < 0 || row.p[-1] != '{' || put_record_in(q, &out->buf, q->fields, q->nfields, &row) < 0) {
			out->buf.len = start;
			out->buf.data[start] = '\0';
			rx_diag("BigQuery: row %lld does not match the schema (the output is incomplete)", q->rows + 1);
			return RX_EXIT_FAIL;
		}
		rx_walk_leave(&w, &row);
		rx_extract_row(out, start, q->o);
		if (out->error)
			return RX_EXIT_IOERR;
		q->rows++;
		if (rx_http_interrupted())
			return rx_http_fail(&q->http, "reading the result", NULL);
	}
	return RX_EXIT_OK;
}

/* ---- running a query ---- */

/* getQueryResults' URL, with a page token or none. */
static void results_url(bigquery *q, const char *page_token)
{
	rx_buf_reset(&q->url);
	rx_buf_printf(&q->url, "%s/projects/", q->base.data);
	rx_http_put_escaped(&q->url, q->project);
	rx_buf_puts(&q->url, "/queries/");
	rx_http_put_escaped(&q->url, q->job_id);
	rx_buf_printf(&q->url, "?formatOptions.useInt64Timestamp=true&timeoutMs=%d", QUERY_WAIT_MS);
	if (q->location) {
		rx_buf_puts(&q->url, "&location=");
		rx_http_put_escaped(&q->url, q->location);
	}
	if (page_token) {
		rx_buf_puts(&q->url, "&pageToken=");
		rx_http_put_escaped(&q->url, page_token);
	}
}

/* Run sql until its first page is the current reply (q->top). */
static int run(bigquery *q, const char *sql, const char *what)
{
	rx_buf_reset(&q->body);
	rx_buf_puts(&q->body, "{\"query\":");
	rx_json_put_string(&q->body, sql, strlen(sql));
	rx_buf_printf(&q->body, ",\"useLegacySql\":false,\"formatOptions\":{\"useInt64Timestamp\":true},"
		      "\"timeoutMs\":%d,\"requestId\":\"", QUERY_WAIT_MS);
	rx_http_put_uuid(&q->body);
	rx_buf_putc(&q->body, '"');
	if (q->o->location) {
		rx_buf_puts(&q->body, ",\"location\":");
		rx_json_put_string(&q->body, q->o->location, strlen(q->o->location));
	}
	rx_buf_puts(&q->body, ",\"labels\":{\"rx\":\"extract\"}}");
	rx_buf_reset(&q->url);
	rx_buf_printf(&q->url, "%s/projects/", q->base.data);
	rx_http_put_escaped(&q->url, q->o->source);
	rx_buf_puts(&q->url, "/queries");
	int rc = call(q, "POST", q->url.data, q->body.data, q->body.len);
	if (rc > 0)
		return rc;
	if (rc < 0 || q->http.status != 200)
		return failure(q, what);
	time_t started = time(NULL);
	long pause = 100;
	int quick = 0; /* the last poll came back at once: pause before the next */
	for (;;) {
		rx_span ref;
		if (rx_http_reply_object(&q->http, &q->top, what) < 0)
			return RX_EXIT_FAIL;
		if (rx_walk_member(&q->top, "jobReference", &ref)) {
			char *project = rx_walk_strdup(ref, "projectId"), *job = rx_walk_strdup(ref, "jobId");
			char *location = rx_walk_strdup(ref, "location");
			if (job != NULL) {
				free(q->project), free(q->job_id), free(q->location);
				q->project = project ? project : rx_xstrdup(q->o->source);
				q->job_id = job;
				q->location = location ? location : (q->o->location ? rx_xstrdup(q->o->location) : NULL);
			} else {
				free(project), free(location);
			}
		}
		if (top_true(q, "jobComplete")) {
			q->running = 0;
			return RX_EXIT_OK;
		}
		if (q->job_id == NULL) {
			rx_diag("BigQuery: %s: an incomplete job without a jobReference", what);
			return RX_EXIT_FAIL;
		}
		q->running = 1;
		if (q->o->timeout > 0 && time(NULL) - started > q->o->timeout) {
			rx_diag("BigQuery: %s: the job ran longer than --timeout %ld seconds", what, q->o->timeout);
			return RX_EXIT_FAIL;
		}
		if (quick) {
			if (rx_http_sleep(pause) < 0)
				return rx_http_fail(&q->http, what, NULL);
			pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
		}
		time_t before = time(NULL);
		results_url(q, NULL);
		rc = call(q, "GET", q->url.data, NULL, 0);
		if (rc > 0)
			return rc;
		if (rc < 0 || q->http.status != 200) {
			/* a failed job is an error reply: it has ended */
			q->running = rc < 0 || q->http.status == 401;
			return failure(q, what);
		}
		/* getQueryResults waits on the server; a quick answer gets a pause */
		quick = time(NULL) - before < 1;
	}
}

/* Describe the model (LIMIT 0) and push the shard filter into sql. */
static int push_shard(bigquery *q, rx_buf *sql)
{
	const char *key = rx_http_shard_key(q->o);
	rx_buf probe = {0}, tail = {0}, ident = {0};
	int status;

	if (key == NULL)
		return RX_EXIT_OK;
	rx_http_wrap_sql(&probe, sql->data, " LIMIT 0");
	status = run(q, probe.data, "describing the query");
	if (status == RX_EXIT_OK)
		status = read_schema(q);
	if (status != RX_EXIT_OK)
		goto done;
	for (size_t i = 0; i < q->nfields; i++) {
		const field *f = &q->fields[i];
		if (strcmp(f->plain, key) != 0)
			continue;
		if (f->repeated || !(strcmp(f->type, "STRING") == 0 || strcmp(f->type, "INTEGER") == 0 ||
				     strcmp(f->type, "INT64") == 0))
			break;
		rx_buf_putc(&ident, '`');
		for (const char *p = key; *p; p++) {
			if (*p == '`' || *p == '\\')
				rx_buf_putc(&ident, '\\');
			rx_buf_putc(&ident, *p);
		}
		rx_buf_putc(&ident, '`');
		rx_buf_printf(&tail, " WHERE MOD(CAST(CONCAT('0x', SUBSTR(TO_HEX(MD5(CAST(rx_q.%s AS STRING))), 1, 8)) AS INT64), %u) + 1 = %u",
			      ident.data, q->o->nshards, q->o->shard);
		if (q->o->shard == 1)
			rx_buf_printf(&tail, " OR rx_q.%s IS NULL", ident.data);
		rx_buf_reset(&probe);
		rx_http_wrap_sql(&probe, sql->data, tail.data);
		rx_buf_reset(sql);
		rx_buf_put(sql, probe.data, probe.len);
		break;
	}
	free(q->job_id);
	q->job_id = NULL;
done:
	rx_buf_free(&probe);
	rx_buf_free(&tail);
	rx_buf_free(&ident);
	return status;
}

int rx_extract_bigquery(const extract_options *o, rx_writer *out)
{
	bigquery q = {0};
	rx_buf sql = {0};
	long long total = -1;
	long pages = 1;
	int status = RX_EXIT_FAIL;
	char err[512];

	q.o = o;
	rx_http_init(&q.http, "BigQuery", o->retries);
	q.http.classify = classify;
	rx_http_init(&q.next, "BigQuery", o->retries);
	q.next.classify = classify;
	rx_http_init(&q.auth, "BigQuery", o->retries); /* the default classify: 429 and 5xx */
	rx_buf_puts(&q.base, o->base_url ? o->base_url : "https://bigquery.googleapis.com/bigquery/v2");
	while (q.base.len > 0 && q.base.data[q.base.len - 1] == '/')
		q.base.data[--q.base.len] = '\0';
	if (rx_http_check_url(q.base.data, err, sizeof err) < 0) {
		rx_diag("BigQuery: %s", err);
		goto done;
	}
	if (o->source[0] == '\0') {
		rx_diag("BigQuery: no project: give --bigquery PROJECT");
		goto done;
	}
	if (setup_credentials(&q) < 0 || rx_http_model_sql(o, RX_TABLE_PATH, &sql) < 0)
		goto done;
	status = push_shard(&q, &sql);
	if (status != RX_EXIT_OK)
		goto done;
	status = run(&q, sql.data, "query failed");
	if (status != RX_EXIT_OK)
		goto done;
	status = read_schema(&q);
	if (status != RX_EXIT_OK)
		goto done;
	for (;;) {
		char *rows_text = rx_walk_member_strdup(&q.top, "totalRows", &q.scratch), *end;
		if (rows_text != NULL) {
			long long t = strtoll(rows_text, &end, 10);
			if (end != rows_text && *end == '\0')
				total = t;
			free(rows_text);
		}
		char *token = rx_walk_member_strdup(&q.top, "pageToken", &q.scratch);
		int more = token != NULL;
		if (more) {
			if (q.job_id == NULL) {
				free(token);
				rx_diag("BigQuery: a page token without a job (the output is incomplete)");
				status = RX_EXIT_FAIL;
				goto done;
			}
			/* the next page downloads while this one is written; a token
			 * about to expire is fetched again first (on q.auth) */
			status = headers(&q, 0);
			if (status != RX_EXIT_OK) {
				free(token);
				goto done;
			}
			results_url(&q, token);
			free(token);
			rx_http_start(&q.next, "GET", q.url.data, q.headers);
		}
		status = write_rows(&q, out);
		if (status != RX_EXIT_OK)
			goto done;
		if (!more)
			break;
		pages++;
		int rc = rx_http_finish(&q.next);
		rx_http_swap(&q.http, &q.next);
		if (rc == 0 && q.http.status == 401 && q.static_token == NULL)
			rc = call(&q, "GET", q.url.data, NULL, 0); /* a new token, then again */
		if (rc > 0) {
			status = rc;
			goto done;
		}
		if (rc < 0 || q.http.status != 200) {
			char what[160];
			snprintf(what, sizeof what, "page %ld, after %lld rows (the output is incomplete)", pages, q.rows);
			status = failure(&q, what);
			goto done;
		}
		if (rx_http_reply_object(&q.http, &q.top, "reading the result") < 0) {
			status = RX_EXIT_FAIL;
			goto done;
		}
	}
	if (total >= 0 && q.rows != total) {
		rx_diag("BigQuery: the result has %lld rows, totalRows said %lld (the output is incomplete)", q.rows, total);
		status = RX_EXIT_FAIL;
		goto done;
	}
	status = RX_EXIT_OK;
done:
	rx_http_free(&q.next); /* a prefetch no one will read is abandoned */
	if (status != RX_EXIT_OK)
		cancel(&q);
	free_fields(q.fields, q.nfields);
	free(q.project), free(q.job_id), free(q.location);
	free(q.credentials_path), free(q.client_email), free(q.key_id), free(q.token_uri);
	if (q.client_secret)
		memset(q.client_secret, 0, strlen(q.client_secret));
	if (q.refresh_token)
		memset(q.refresh_token, 0, strlen(q.refresh_token));
	free(q.client_id), free(q.client_secret), free(q.refresh_token);
	if (q.access_token.data)
		memset(q.access_token.data, 0, q.access_token.cap);
	rx_jwt_key_free(q.key);
	curl_slist_free_all(q.headers);
	rx_http_free(&q.http);
	rx_http_free(&q.auth);
	free(q.top.m);
	rx_buf_free(&sql);
	rx_buf_free(&q.base);
	rx_buf_free(&q.access_token);
	rx_buf_free(&q.url);
	rx_buf_free(&q.body);
	rx_buf_free(&q.scratch);
	rx_buf_free(&q.msg);
	rx_buf_free(&q.form);
	return status;
}
