/*
 * snowflake.c - rx-extract's Snowflake source, over the SQL API v2
 * (POST /api/v2/statements, GET .../{handle}?partition=N).
 *
 * NOTES ON THE DESIGN
 *
 *  - Authentication: a key-pair JWT (RS256; iss ACCOUNT.USER.SHA256:fp,
 *    sub ACCOUNT.USER, upper case, the account without its region), made
 *    again before a request once it is a minute old; or an OAuth or
 *    programmatic access token from $SNOWFLAKE_TOKEN, sent as it is.
 *  - The statement is submitted with async=true, so its handle is known
 *    at once and a signal can always cancel it; a 200 on the submit is
 *    taken too.  202 replies are polled, with a growing pause, until the
 *    result (200) or the failure (422, 408) comes.  The submit carries a
 *    requestId, and a resubmission the same id with retry=true, so that
 *    Snowflake never runs the statement twice.
 *  - The result comes in partitions: partition 0 with the metadata, the
 *    others by GET ?partition=N (gzip, decoded by libcurl), the next one
 *    downloading while the current one is written: two partitions in
 *    memory at most.  Each partition's row count is
 *    checked against partitionInfo, and the total against numRows, before
 *    the source reports success: a short result is an error.
 *  - Types come from resultSetMetaData.rowType (type names compared in
 *    any case); the jsonv2 cells are strings:
 *      fixed, decfloat       exact number, or a string (DESIGN.md "Numbers")
 *      real                  number; NaN and infinities as strings
 *      boolean               true/false
 *      date                  days since 1970-01-01 -> "YYYY-MM-DD"
 *      time                  seconds since midnight -> "HH:MM:SS[.f]"
 *      timestamp_ntz         epoch seconds -> "YYYY-MM-DDTHH:MM:SS[.f]"
 *      timestamp_ltz         the same with "+00:00" (the instant in UTC)
 *      timestamp_tz          "secs offset" (offset minutes + 1440) -> local
 *                            time with its "+HH:MM"
 *      variant/object/array  embedded JSON (numbers exact), or a string
 *      binary                the hex text; text and all others: strings
 *  - --shard with one key column of type fixed (scale 0) or text is
 *    pushed into the statement, after a LIMIT 0 statement has told the
 *    column's type: MD5 of its TO_VARCHAR text, the first 8 hex digits
 *    read by TO_NUMBER(..., 'XXXXXXXX'), the same shard as rx_shard_of().
 *    rx_extract_row() filters again, so other keys still shard correctly.
 */
#include "http.h"
#include "rxjwt.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

enum {
	JWT_LIFETIME_S = 300, /* exp - iat */
	JWT_RENEW_S = 60,     /* make a new one before a request after this */
	POLL_FIRST_MS = 100,
	POLL_MAX_MS = 2000,
};

typedef enum kind {
	K_STRING, K_NUMBER, K_FLOAT, K_BOOL, K_DATE, K_TIME, K_NTZ, K_LTZ, K_TZ, K_JSON,
} kind;

typedef struct column {
	rx_buf name;  /* "\"NAME\":", escaped once */
	char *plain;  /* the name as Snowflake gave it */
	kind kind;
	char type[32]; /* rowType.type, lower case */
	long scale;
} column;

typedef struct snowflake {
	const extract_options *o;
	rx_http http;       /* the current reply */
	rx_http next;       /* the next partition, downloading meanwhile */
	rx_buf base;        /* https://ACCOUNT.snowflakecomputing.com, no final / */
	rx_buf jwt_account; /* XY12345: the account as the JWT names it */
	rx_buf user;        /* upper case */
	EVP_PKEY *key;      /* key-pair authentication, or NULL */
	rx_buf fingerprint; /* SHA256:... of the key */
	const char *token;  /* or a token ($SNOWFLAKE_TOKEN) */
	const char *token_type;
	time_t jwt_made;    /* when the headers' JWT was made */
	struct curl_slist *headers;
	rx_buf url, retry_url, body, scratch, msg;
	rx_members top;     /* the last reply's top-level members */
	char *handle;       /* the statement's handle, or NULL */
	int running;        /* it may still run: cancel it if we stop */
	column *cols;
	size_t ncols;
	long long rows;     /* rows read from the result so far */
} snowflake;

/* ---- authentication ---- */

static void upper(rx_buf *b, const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		rx_buf_putc(b, (char)toupper((unsigned char)s[i]));
}

/* The headers of every request: a fresh JWT when the last is old. */
static int headers(snowflake *s)
{
	rx_buf auth = {0}, claims = {0};
	char err[512];
	time_t now = time(NULL);

	if (s->headers != NULL && (s->key == NULL || now - s->jwt_made < JWT_RENEW_S))
		return 0;
	curl_slist_free_all(s->headers);
	s->headers = NULL;
	rx_buf_puts(&auth, "Authorization: Bearer ");
	if (s->key != NULL) {
		rx_buf sub = {0};
		rx_buf_printf(&sub, "%s.%s", s->jwt_account.data, s->user.data);
		rx_buf_puts(&claims, "{\"iss\":");
		rx_buf iss = {0};
		rx_buf_printf(&iss, "%s.%s", sub.data, s->fingerprint.data);
		rx_json_put_string(&claims, iss.data, iss.len);
		rx_buf_puts(&claims, ",\"sub\":");
		rx_json_put_string(&claims, sub.data, sub.len);
		rx_buf_printf(&claims, ",\"iat\":%lld,\"exp\":%lld}", (long long)now, (long long)now + JWT_LIFETIME_S);
		rx_buf_free(&sub);
		rx_buf_free(&iss);
		if (rx_jwt_sign(s->key, "{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims.data, &auth, err, sizeof err) < 0) {
			rx_diag("Snowflake: %s", err);
			rx_buf_free(&auth);
			rx_buf_free(&claims);
			return -1;
		}
		s->jwt_made = now;
	} else {
		rx_buf_puts(&auth, s->token);
	}
	rx_buf type = {0};
	rx_buf_printf(&type, "X-Snowflake-Authorization-Token-Type: %s", s->key ? "KEYPAIR_JWT" : s->token_type);
	s->headers = rx_http_headers(auth.data, type.data, "Content-Type: application/json",
				     "Accept: application/json", (char *)NULL);
	rx_buf_free(&type);
	if (auth.data)
		memset(auth.data, 0, auth.cap);
	rx_buf_free(&auth);
	rx_buf_free(&claims);
	return 0;
}

static int setup_auth(snowflake *s)
{
	const char *keyfile = getenv("SNOWFLAKE_PRIVATE_KEY_FILE");
	char err[1024];

	s->token = getenv("SNOWFLAKE_TOKEN");
	if (s->token != NULL && s->token[0] != '\0') {
		s->token_type = getenv("SNOWFLAKE_TOKEN_TYPE");
		if (s->token_type == NULL || s->token_type[0] == '\0')
			s->token_type = "OAUTH";
		return 0;
	}
	s->token = NULL;
	if (keyfile == NULL || keyfile[0] == '\0') {
		rx_diag("Snowflake: no credentials: set SNOWFLAKE_PRIVATE_KEY_FILE (key-pair authentication) "
			"or SNOWFLAKE_TOKEN (an OAuth or programmatic access token)");
		return -1;
	}
	const char *user = s->o->user ? s->o->user : getenv("SNOWFLAKE_USER");
	if (user == NULL || user[0] == '\0') {
		rx_diag("Snowflake: key-pair authentication needs the user: give --user or set SNOWFLAKE_USER");
		return -1;
	}
	upper(&s->user, user, strlen(user));
	const char *pass = getenv("SNOWFLAKE_PRIVATE_KEY_PASSPHRASE");
	s->key = rx_jwt_key_from_file(keyfile, pass && pass[0] ? pass : NULL, err, sizeof err);
	if (s->key == NULL) {
		rx_diag("Snowflake: SNOWFLAKE_PRIVATE_KEY_FILE: %s", err);
		return -1;
	}
	if (rx_jwt_fingerprint(s->key, &s->fingerprint) < 0) {
		rx_diag("Snowflake: cannot compute the public key's fingerprint");
		return -1;
	}
	return 0;
}

/* The base URL and the account of the JWT, from --snowflake ACCOUNT|URL. */
static int setup_account(snowflake *s)
{
	const char *a = s->o->source, *host = a;
	static const char domain[] = ".snowflakecomputing.com";
	char err[512];
	size_t n;

	if (strncasecmp(a, "https://", 8) == 0 || strncasecmp(a, "http://", 7) == 0) {
		host = strstr(a, "://") + 3;
		rx_buf_puts(&s->base, a);
	}
	n = strcspn(host, ":/");
	if (n == 0) {
		rx_diag("Snowflake: '%s' is not an account identifier or URL", a);
		return -1;
	}
	/* the account without the domain */
	size_t an = n;
	if (an > sizeof domain - 1 && strncasecmp(host + an - (sizeof domain - 1), domain, sizeof domain - 1) == 0)
		an -= sizeof domain - 1;
	if (s->base.len == 0)
		rx_buf_printf(&s->base, "https://%.*s%s", (int)an, host, domain);
	if (s->o->base_url != NULL) {
		rx_buf_reset(&s->base);
		rx_buf_puts(&s->base, s->o->base_url);
	}
	while (s->base.len > 0 && s->base.data[s->base.len - 1] == '/')
		s->base.data[--s->base.len] = '\0';
	if (rx_http_check_url(s->base.data, err, sizeof err) < 0) {
		rx_diag("Snowflake: %s", err);
		return -1;
	}
	/* the JWT's account: before the first '.' (a locator's region goes);
	 * a ".global" account before its first '-' */
	size_t jn = strcspn(host, ".");
	if (jn > an)
		jn = an;
	if (memmem(host, an, ".global", 7) != NULL) {
		size_t dash = strcspn(host, "-");
		if (dash < jn)
			jn = dash;
	}
	upper(&s->jwt_account, host, jn);
	return 0;
}

/* ---- requests ---- */

/* The engine's message of the last reply, or NULL. */
static const char *reply_message(snowflake *s)
{
	rx_span body = rx_span_of(s->http.body.data ? s->http.body.data : "", s->http.body.len);
	char err[64];
	rx_span v;

	rx_buf_reset(&s->msg);
	if (body.n == 0 || rx_json_validate(body.p, body.n, err, sizeof err) < 0)
		return NULL;
	while (body.n > 0 && body.p[0] != '{')
		body.p++, body.n--;
	if (rx_walk_get(body, "message", &v) && rx_json_kind(v) == 's')
		rx_json_string_decode(v, &s->msg);
	if (rx_walk_get(body, "code", &v) && rx_json_kind(v) == 's') {
		rx_buf_puts(&s->msg, " (code ");
		rx_json_string_decode(v, &s->msg);
		if (rx_walk_get(body, "sqlState", &v) && rx_json_kind(v) == 's') {
			rx_buf_puts(&s->msg, ", SQL state ");
			rx_json_string_decode(v, &s->msg);
		}
		rx_buf_putc(&s->msg, ')');
	}
	return s->msg.len ? s->msg.data : NULL;
}

static int call(snowflake *s, const char *method, const char *url, const char *body, size_t n)
{
	if (headers(s) < 0)
		return -1;
	return rx_http_request(&s->http, method, url, s->headers, body, n);
}

/* Report a reply that is not a result: the exit status. */
static int failure(snowflake *s, const char *what)
{
	const char *msg = s->http.status ? reply_message(s) : NULL;
	long st = s->http.status;
	char line[1024];

	if (st == 401 || st == 403) {
		if (s->key != NULL)
			rx_diag("Snowflake: %s: the credentials were refused (HTTP %ld): user %s, account %s, key %s%s%s",
				what, st, s->user.data, s->jwt_account.data, s->fingerprint.data, msg ? ": " : "",
				msg ? rx_one_line(msg, line, sizeof line) : "");
		else
			rx_diag("Snowflake: %s: the token in SNOWFLAKE_TOKEN was refused (HTTP %ld)%s%s", what, st,
				msg ? ": " : "", msg ? rx_one_line(msg, line, sizeof line) : "");
		return RX_EXIT_FAIL;
	}
	if (st == 408) {
		rx_diag("Snowflake: %s: the statement timed out and was cancelled%s%s", what, msg ? ": " : "",
			msg ? rx_one_line(msg, line, sizeof line) : "");
		return RX_EXIT_FAIL;
	}
	if (st == 422) {
		rx_diag("Snowflake: %s: %s", what, msg ? rx_one_line(msg, line, sizeof line) : "the statement failed");
		return RX_EXIT_FAIL;
	}
	return rx_http_fail(&s->http, what, msg);
}

static int classify(const rx_http *h)
{
	/* 429: slow down; 503, 504: "may retry with backoff" (SF-spec); 500
	 * is documented as unrecoverable */
	if (h->status == 429)
		return RX_HTTP_THROTTLED;
	if (h->status == 502 || h->status == 503 || h->status == 504)
		return RX_HTTP_TRANSIENT;
	return RX_HTTP_FINAL;
}

/* Cancel the running statement, best effort, however we are stopping. */
static void cancel(snowflake *s)
{
	if (s->handle == NULL || !s->running)
		return;
	rx_buf_reset(&s->url);
	rx_buf_printf(&s->url, "%s/api/v2/statements/", s->base.data);
	rx_http_put_escaped(&s->url, s->handle);
	rx_buf_puts(&s->url, "/cancel");
	int retries = s->http.retries;
	s->http.no_interrupt = 1;
	s->http.retries = 0;
	s->http.retry_url = NULL;
	if (call(s, "POST", s->url.data, "{}", 2) == 0 && s->http.status == 200)
		rx_diag("Snowflake: the statement %s was cancelled", s->handle);
	else
		rx_diag("Snowflake: could not cancel the statement %s", s->handle);
	s->http.no_interrupt = 0;
	s->http.retries = retries;
}

/* Run one statement until its first partition is in s->http.body.
 * RX_EXIT_OK, or an exit status after a message. */
static int run(snowflake *s, const char *sql, const char *what)
{
	rx_buf_reset(&s->body);
	rx_buf_puts(&s->body, "{\"statement\":");
	rx_json_put_string(&s->body, sql, strlen(sql));
	if (s->o->timeout > 0)
		rx_buf_printf(&s->body, ",\"timeout\":%ld", s->o->timeout);
	const char *ctx[][2] = {{"warehouse", s->o->warehouse}, {"database", s->o->database},
				{"schema", s->o->schema}, {"role", s->o->role}};
	for (size_t i = 0; i < sizeof ctx / sizeof ctx[0]; i++)
		if (ctx[i][1] != NULL) {
			rx_buf_printf(&s->body, ",\"%s\":", ctx[i][0]);
			rx_json_put_string(&s->body, ctx[i][1], strlen(ctx[i][1]));
		}
	rx_buf_puts(&s->body, ",\"parameters\":{\"QUERY_TAG\":\"rx-extract\"}}");

	rx_buf_reset(&s->url);
	rx_buf_printf(&s->url, "%s/api/v2/statements?async=true&requestId=", s->base.data);
	rx_http_put_uuid(&s->url);
	rx_buf_reset(&s->retry_url);
	rx_buf_printf(&s->retry_url, "%s&retry=true", s->url.data);
	s->http.retry_url = s->retry_url.data;
	int rc = call(s, "POST", s->url.data, s->body.data, s->body.len);
	s->http.retry_url = NULL;
	if (rc < 0 || (s->http.status != 200 && s->http.status != 202))
		return failure(s, what);

	long pause = POLL_FIRST_MS;
	for (;;) {
		if (rx_http_reply_object(&s->http, &s->top, what) < 0)
			return RX_EXIT_FAIL;
		free(s->handle);
		s->handle = rx_walk_member_strdup(&s->top, "statementHandle", &s->scratch);
		s->running = s->http.status == 202;
		if (s->http.status == 200)
			return RX_EXIT_OK;
		/* 202: running; the status URL is a path on the same host */
		char *status_url = rx_walk_member_strdup(&s->top, "statementStatusUrl", &s->scratch);
		if (status_url == NULL && s->handle == NULL) {
			rx_diag("Snowflake: %s: a 202 reply without a statement handle", what);
			return RX_EXIT_FAIL;
		}
		rx_buf_reset(&s->url);
		rx_buf_puts(&s->url, s->base.data);
		if (status_url != NULL && status_url[0] == '/') {
			rx_buf_puts(&s->url, status_url);
		} else {
			rx_buf_puts(&s->url, "/api/v2/statements/");
			rx_http_put_escaped(&s->url, s->handle);
		}
		free(status_url);
		if (rx_http_sleep(pause) < 0)
			return rx_http_fail(&s->http, what, NULL);
		pause = pause * 2 > POLL_MAX_MS ? POLL_MAX_MS : pause * 2;
		if (call(s, "GET", s->url.data, NULL, 0) < 0)
			return failure(s, what);
		if (s->http.status != 200 && s->http.status != 202) {
			/* 422, 408: it ended; a refusal of ours (401) leaves it running */
			s->running = s->http.status != 422 && s->http.status != 408;
			return failure(s, what);
		}
	}
}

/* ---- the result ---- */

static kind kind_of(const char *type, long scale)
{
	(void)scale;
	if (strcmp(type, "fixed") == 0 || strcmp(type, "decfloat") == 0)
		return K_NUMBER;
	if (strcmp(type, "real") == 0 || strcmp(type, "float") == 0)
		return K_FLOAT;
	if (strcmp(type, "boolean") == 0)
		return K_BOOL;
	if (strcmp(type, "date") == 0)
		return K_DATE;
	if (strcmp(type, "time") == 0)
		return K_TIME;
	if (strcmp(type, "timestamp_ntz") == 0)
		return K_NTZ;
	if (strcmp(type, "timestamp_ltz") == 0)
		return K_LTZ;
	if (strcmp(type, "timestamp_tz") == 0)
		return K_TZ;
	if (strcmp(type, "variant") == 0 || strcmp(type, "object") == 0 || strcmp(type, "array") == 0)
		return K_JSON;
	return K_STRING; /* text, binary (hex), geography, geometry, vector, ... */
}

static void free_columns(snowflake *s)
{
	for (size_t i = 0; i < s->ncols; i++) {
		rx_buf_free(&s->cols[i].name);
		free(s->cols[i].plain);
	}
	free(s->cols);
	s->cols = NULL;
	s->ncols = 0;
}

/* The columns of the result in meta (resultSetMetaData): 0, or an exit status. */
static int read_columns(snowflake *s, rx_span meta)
{
	rx_span rowtype, col;
	rx_walk w;
	long n;

	free_columns(s);
	if (!rx_walk_get(meta, "rowType", &rowtype) || (n = rx_walk_count(rowtype)) <= 0) {
		rx_diag("Snowflake: the result has no rowType (the statement returns no rows?)");
		return RX_EXIT_FAIL;
	}
	s->cols = calloc((size_t)n, sizeof *s->cols);
	if (s->cols == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	rx_walk_start(&w, rowtype);
	while (rx_walk_next(&w, &col)) {
		column *c = &s->cols[s->ncols++];
		char *type = rx_walk_strdup(col, "type");
		long long scale = 0;
		c->plain = rx_walk_strdup(col, "name");
		if (c->plain == NULL)
			c->plain = rx_xstrdup("");
		rx_walk_int(col, "scale", &scale);
		snprintf(c->type, sizeof c->type, "%s", type ? type : "text");
		for (char *p = c->type; *p; p++)
			*p = (char)tolower((unsigned char)*p);
		free(type);
		c->scale = (long)scale;
		c->kind = kind_of(c->type, c->scale);
		rx_json_put_string(&c->name, c->plain, strlen(c->plain));
		rx_buf_putc(&c->name, ':');
	}
	const char **names = rx_xmalloc(s->ncols * sizeof *names);
	for (size_t i = 0; i < s->ncols; i++)
		names[i] = s->cols[i].plain;
	int bad = rx_extract_check_columns("Snowflake", names, s->ncols);
	free(names);
	return bad < 0 ? RX_EXIT_DATAERR : RX_EXIT_OK;
}

static void put_cell(snowflake *s, rx_buf *b, const column *c, rx_span v)
{
	if (rx_json_kind(v) == 'z') {
		rx_buf_put(b, "null", 4);
		return;
	}
	if (c->kind == K_STRING && rx_json_kind(v) == 's') {
		rx_buf_put(b, v.p, v.n); /* already a JSON string */
		return;
	}
	rx_span t = rx_walk_text(v, &s->scratch);
	switch (c->kind) {
	case K_NUMBER: rx_cell_number(b, t.p, t.n); break;
	case K_FLOAT: rx_cell_float(b, t.p, t.n); break;
	case K_BOOL: rx_cell_bool(b, t.p, t.n); break;
	case K_DATE: rx_cell_days(b, t.p, t.n); break;
	case K_TIME: rx_cell_time_of_day(b, t.p, t.n); break;
	case K_NTZ: rx_cell_epoch(b, t.p, t.n, 0, 'n', 0); break;
	case K_LTZ: rx_cell_epoch(b, t.p, t.n, 0, 'u', 0); break;
	case K_TZ: {
		/* "1616173619.000000000 960": minutes + 1440 */
		const char *sp = memchr(t.p, ' ', t.n);
		char tmp[16], *end;
		size_t on = sp ? t.n - (size_t)(sp - t.p) - 1 : 0;
		if (sp != NULL && on > 0 && on < sizeof tmp) {
			memcpy(tmp, sp + 1, on);
			tmp[on] = '\0';
			long off = strtol(tmp, &end, 10);
			if (*end == '\0' && off >= 0 && off <= 2880) {
				rx_cell_epoch(b, t.p, (size_t)(sp - t.p), 0, 'o', off - 1440);
				break;
			}
		}
		rx_json_put_string(b, t.p, t.n);
		break;
	}
	case K_JSON: rx_cell_json(b, t.p, t.n); break;
	case K_STRING: rx_json_put_string(b, t.p, t.n); break;
	}
}

static void put_field(void *ctx, rx_buf *b, size_t i, rx_span cell)
{
	snowflake *s = ctx;

	rx_buf_put(b, s->cols[i].name.data, s->cols[i].name.len);
	put_cell(s, b, &s->cols[i], cell);
}

/* Write the rows of one partition's data array: RX_EXIT_OK, or a status. */
static int write_rows(snowflake *s, rx_span data, long long *count, rx_writer *out)
{
	return rx_http_write_rows(&s->http, data, s->ncols, put_field, s, s->rows, count, s->o, out);
}

/* Describe the model (LIMIT 0) and push the shard filter into sql when
 * the key column's type allows it. */
static int push_shard(snowflake *s, rx_buf *sql)
{
	const char *key = rx_http_shard_key(s->o);
	rx_buf probe = {0}, ident = {0}, tail = {0};
	rx_span meta;
	int status = RX_EXIT_OK;

	if (key == NULL)
		return RX_EXIT_OK;
	rx_http_wrap_sql(&probe, sql->data, " LIMIT 0");
	status = run(s, probe.data, "describing the query");
	if (status != RX_EXIT_OK)
		goto done;
	if (!rx_walk_member(&s->top, "resultSetMetaData", &meta)) {
		status = RX_EXIT_FAIL;
		goto done;
	}
	status = read_columns(s, meta);
	if (status != RX_EXIT_OK)
		goto done;
	free(s->handle);
	s->handle = NULL;
	for (size_t i = 0; i < s->ncols; i++) {
		const column *c = &s->cols[i];
		if (strcmp(c->plain, key) != 0)
			continue;
		if (!(strcmp(c->type, "text") == 0 || (strcmp(c->type, "fixed") == 0 && c->scale == 0)))
			break;
		rx_sql_put_ident(&ident, key, strlen(key));
		rx_buf_printf(&tail, " WHERE MOD(TO_NUMBER(SUBSTR(MD5(TO_VARCHAR(rx_q.%s)), 1, 8), 'XXXXXXXX'), %u) + 1 = %u",
			      ident.data, s->o->nshards, s->o->shard);
		if (s->o->shard == 1)
			rx_buf_printf(&tail, " OR rx_q.%s IS NULL", ident.data);
		rx_buf_reset(&probe);
		rx_http_wrap_sql(&probe, sql->data, tail.data);
		rx_buf_reset(sql);
		rx_buf_put(sql, probe.data, probe.len);
		break;
	}
done:
	rx_buf_free(&probe);
	rx_buf_free(&ident);
	rx_buf_free(&tail);
	return status;
}

int rx_extract_snowflake(const extract_options *o, rx_writer *out)
{
	snowflake s = {0};
	rx_buf sql = {0};
	long long *part_rows = NULL, num_rows = -1, got;
	size_t nparts = 0;
	int status = RX_EXIT_FAIL;
	rx_span meta, data, v;
	char what[96];

	s.o = o;
	rx_http_init(&s.http, "Snowflake", o->retries);
	s.http.classify = classify;
	rx_http_init(&s.next, "Snowflake", o->retries);
	s.next.classify = classify;
	if (setup_account(&s) < 0 || setup_auth(&s) < 0 || rx_http_model_sql(o, RX_TABLE_IDENTIFIER, &sql) < 0)
		goto done;
	status = push_shard(&s, &sql);
	if (status != RX_EXIT_OK)
		goto done;
	status = run(&s, sql.data, "query failed");
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	if (!rx_walk_member(&s.top, "resultSetMetaData", &meta)) {
		rx_diag("Snowflake: the reply has no resultSetMetaData (several statements? give one query)");
		goto done;
	}
	status = read_columns(&s, meta);
	if (status != RX_EXIT_OK)
		goto done;
	status = RX_EXIT_FAIL;
	rx_walk_int(meta, "numRows", &num_rows);
	if (rx_walk_get(meta, "partitionInfo", &v) && rx_json_kind(v) == 'a') {
		rx_walk w;
		rx_span p;
		long count = rx_walk_count(v);
		part_rows = rx_xmalloc((size_t)(count > 0 ? count : 1) * sizeof *part_rows);
		rx_walk_start(&w, v);
		while (rx_walk_next(&w, &p)) {
			long long rc = -1;
			rx_walk_int(p, "rowCount", &rc);
			part_rows[nparts++] = rc;
		}
	}
	if (nparts == 0) {
		part_rows = rx_xrealloc(part_rows, sizeof *part_rows);
		part_rows[0] = num_rows;
		nparts = 1;
	}
	for (size_t p = 0; p < nparts; p++) {
		snprintf(what, sizeof what, "partition %zu of %zu", p + 1, nparts);
		if (p > 0) {
			int rc = rx_http_finish(&s.next);
			rx_http_swap(&s.http, &s.next);
			if (rc < 0 || s.http.status != 200) {
				char whatn[160];
				snprintf(whatn, sizeof whatn, "%s, after %lld rows (the output is incomplete)", what, s.rows);
				status = failure(&s, whatn);
				goto done;
			}
			if (rx_http_reply_object(&s.http, &s.top, what) < 0)
				goto done;
		}
		if (!rx_walk_member(&s.top, "data", &data)) {
			rx_diag("Snowflake: %s has no data", what);
			goto done;
		}
		if (p + 1 < nparts) {
			/* the next partition downloads while this one is written */
			if (headers(&s) < 0)
				goto done;
			rx_buf_reset(&s.url);
			rx_buf_printf(&s.url, "%s/api/v2/statements/", s.base.data);
			rx_http_put_escaped(&s.url, s.handle);
			rx_buf_printf(&s.url, "?partition=%zu", p + 1);
			rx_http_start(&s.next, "GET", s.url.data, s.headers);
		}
		status = write_rows(&s, data, &got, out);
		if (status != RX_EXIT_OK)
			goto done;
		status = RX_EXIT_FAIL;
		s.rows += got;
		if (part_rows[p] >= 0 && got != part_rows[p]) {
			rx_diag("Snowflake: %s has %lld rows, partitionInfo said %lld (the output is incomplete)", what, got,
				part_rows[p]);
			goto done;
		}
	}
	if (num_rows >= 0 && s.rows != num_rows) {
		rx_diag("Snowflake: the result has %lld rows, numRows said %lld (the output is incomplete)", s.rows, num_rows);
		goto done;
	}
	status = RX_EXIT_OK;
done:
	rx_http_free(&s.next); /* a prefetch no one will read is abandoned */
	if (status != RX_EXIT_OK)
		cancel(&s);
	free(part_rows);
	free(s.handle);
	free_columns(&s);
	curl_slist_free_all(s.headers);
	rx_jwt_key_free(s.key);
	rx_http_free(&s.http);
	rx_buf_free(&sql);
	rx_buf_free(&s.base);
	rx_buf_free(&s.jwt_account);
	rx_buf_free(&s.user);
	rx_buf_free(&s.fingerprint);
	rx_buf_free(&s.url);
	rx_buf_free(&s.retry_url);
	rx_buf_free(&s.body);
	rx_buf_free(&s.scratch);
	rx_buf_free(&s.msg);
	free(s.top.m);
	return status;
}
