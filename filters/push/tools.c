/*
 * tools.c - rx-push for the people who write profiles and the people who
 * set up syncs: --check-profile and --test-connection.
 *
 * --check-profile loads a profile the way a run does (so every jq program
 * is compiled and every member read), then looks for what cannot work:
 * each finding is one line, "error:" (a run would send wrong requests or
 * none) or "warning:" (it works, but probably not as meant), and the exit
 * status is 1 when there is an error.
 *
 * --test-connection sends the profile's "test" request (one cheap,
 * authenticated read, such as GET /crm/v3/objects/contacts?limit=1), so a
 * wrong token or missing scope shows before a sync: exit 0 on a 2xx (one
 * that is the test's "success", when it has one: Slack and TikTok refuse
 * inside a 200), 1 when the destination refuses the credentials or the
 * request, or the profile has no test, 75 when it cannot be reached.  The
 * request is the writes' in all but its body: the same auth (SigV4
 * signed), the profile's headers with the test's replacing theirs.
 */
#include "push.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int errors, warnings;

static void finding(int error, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void finding(int error, const char *fmt, ...)
{
	va_list ap;

	printf("%s: ", error ? "error" : "warning");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (error)
		errors++;
	else
		warnings++;
}

/* The text of a program member (a string), for looking at what it reads. */
static const char *program_text(jv spec, const char *member, char *buf, size_t len)
{
	jv v = jv_object_get(jv_copy(spec), jv_string(member));

	buf[0] = '\0';
	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(buf, len, "%s", jv_string_value(v));
	jv_free(v);
	return buf;
}

/* The secrets the auth object names, and whether each is set. */
static void check_auth(const push_profile *p)
{
	if (jv_get_kind(p->auth) != JV_KIND_OBJECT) {
		finding(0, "no \"auth\": requests go without credentials");
		return;
	}
	jv auth = jv_copy(p->auth);
	jv_object_foreach(auth, k, v) {
		const char *name = jv_string_value(k);
		size_t n = strlen(name);
		if (jv_get_kind(v) == JV_KIND_STRING && n > 4 && strcmp(name + n - 4, "_env") == 0 &&
		    getenv(jv_string_value(v)) == NULL)
			finding(0, "auth.%s: $%s is not set here (a run needs it)", name, jv_string_value(v));
		jv_free(k);
		jv_free(v);
	}
	jv_free(auth);
}

/* The vars a run would take from outside and cannot find here. */
static void check_vars(const push_profile *p)
{
	jv_array_foreach(p->unset_vars, i, v) {
		finding(0, "%s", jv_string_value(v));
		jv_free(v);
	}
}

/* Does the op's body template name the destination's id ({id}, {id|text})? */
static int template_uses_id(jv spec)
{
	jv t = jv_get_kind(spec) == JV_KIND_OBJECT ? jv_object_get(jv_copy(spec), jv_string("template")) : jv_null();
	int uses = 0;

	if (jv_get_kind(t) != JV_KIND_NULL && jv_is_valid(t)) {
		jv text = jv_dump_string(jv_copy(t), 0);
		const char *s = jv_string_value(text);
		uses = strstr(s, "{id}") != NULL || strstr(s, "{id|") != NULL;
		jv_free(text);
	}
	jv_free(t);
	return uses;
}

int rx_push_check_profile(const push_profile *p)
{
	static const char *const ops[] = {"insert", "update", "upsert", "delete"};
	char text[8192];

	errors = warnings = 0;
	printf("profile %s (%s)\n", p->name, p->path);
	if (p->driver != NULL) {
		printf("a database destination (driver %s): nothing more to check here\n0 errors, 0 warnings\n",
		       p->driver);
		return RX_EXIT_OK;
	}
	jv jops = jv_object_get(jv_copy(p->json), jv_string("ops"));
	for (int i = 0; i < 4; i++) {
		const push_op *op = rx_push_profile_op(p, ops[i]);
		jv spec = jv_get_kind(jops) == JV_KIND_OBJECT ? jv_object_get(jv_copy(jops), jv_string(op ? op->name : ops[i]))
							      : jv_null();
		if (op == NULL) {
			if (strcmp(ops[i], "insert") == 0 && (rx_push_needs_id(p, "upsert") &&
							      strcmp(rx_push_not_found(p, "upsert"), "insert") == 0))
				finding(1, "an upsert whose record the lookup does not find is sent as an insert, and the "
					"profile has no insert op to create it");
			jv_free(spec);
			continue;
		}
		if (strcmp(op->method, "DELETE") == 0 && !op->has_body)
			finding(1, "ops.%s: a DELETE with no body program sends the batch as its body (most APIs "
				"refuse a DELETE with a body): give \"body\": \"\\\"\\\"\" for none", op->name);
		if (strcmp(op->method, "GET") != 0 && strcmp(op->method, "DELETE") != 0 && !op->has_body &&
		    strcmp(op->name, "*") != 0)
			finding(0, "ops.%s: no body program: the request body is the batch as rx-batch made it "
				"({\"op\",\"records\":[...]}), which only rx's webhook contract reads", op->name);
		if (!op->has_response && !p->has_response && !op->has_job)
			finding(0, "ops.%s: no response program: any 2xx acks every record of the request, "
				"whatever the reply says", op->name);
		/* a request that addresses records by the destination's id */
		int uses_id = strstr(op->path, "{id}") != NULL || strstr(op->path, "{ids}") != NULL ||
			      strstr(program_text(spec, "body", text, sizeof text), ".id") != NULL ||
			      template_uses_id(spec);
		if (uses_id && !rx_push_needs_id(p, ops[i]))
			finding(1, "ops.%s: its request uses the destination's id, but identity.ops does not name "
				"%s: a record without one would be sent with a null id", op->name, ops[i]);
		if (strstr(op->path, "{job}") != NULL && op->create == NULL)
			finding(1, "ops.%s: its path names {job}, but no job is made before it (job.create): it would go "
				"out with an empty job id", op->name);
		if (op->has_job && op->job_max_wait <= 0)
			finding(1, "ops.%s.job: max_wait must be positive", op->name);
		jv_free(spec);
	}
	jv_free(jops);
	int needs = 0;
	for (int i = 0; i < 4; i++)
		needs |= rx_push_needs_id(p, ops[i]);
	if (needs && !p->has_lookup)
		finding(0, "identity.ops names ops that need an id, and there is no identity.lookup: a record whose "
			"id rx has not learnt from an earlier ack is dead-lettered, not found");
	if (p->has_lookup && p->lookup.max_records == 0 && p->max_records > 100)
		finding(0, "identity.lookup: no max_records: lookups take the profile's %zu records a request",
			p->max_records);
	if (p->nwindows == 0)
		finding(0, "no \"rate_limits\": rx-push paces itself only by the 429s it gets (write the vendor's "
			"documented limits)");
	check_auth(p);
	check_vars(p);
	jv t = jv_object_get(jv_copy(p->json), jv_string("test"));
	if (jv_get_kind(t) != JV_KIND_OBJECT)
		finding(0, "no \"test\" request: --test-connection cannot check the credentials");
	jv_free(t);
	printf("%d error%s, %d warning%s\n", errors, errors == 1 ? "" : "s", warnings, warnings == 1 ? "" : "s");
	return errors > 0 ? RX_EXIT_FAIL : RX_EXIT_OK;
}

static size_t collect(char *data, size_t size, size_t n, void *user)
{
	rx_buf *b = user;
	if (b->len < 65536)
		rx_buf_put(b, data, size * n);
	return size * n;
}

/* What a refusal says, in the shapes vendors use: "message" (HubSpot,
 * TikTok, LinkedIn), "error" as a string (Slack's "invalid_auth"), an
 * "error" object's "message" (Google, Meta) or "reason" (Elasticsearch),
 * or the first of "errors" with its "code" (Marketo's 603 inside a 200).
 * Consumes body. */
static void reply_gist(jv body, char *gist, size_t n)
{
	jv msg = jv_null();
	jv errs = jv_get_kind(body) == JV_KIND_OBJECT ? jv_object_get(jv_copy(body), jv_string("errors")) : jv_null();
	if (jv_get_kind(errs) == JV_KIND_ARRAY && jv_array_length(jv_copy(errs)) > 0) {
		jv e = jv_array_get(jv_copy(errs), 0);
		jv m = jv_get_kind(e) == JV_KIND_OBJECT ? jv_object_get(jv_copy(e), jv_string("message")) : jv_null();
		jv code = jv_get_kind(e) == JV_KIND_OBJECT ? jv_object_get(jv_copy(e), jv_string("code")) : jv_null();
		if (jv_get_kind(m) == JV_KIND_STRING && jv_get_kind(code) == JV_KIND_STRING)
			snprintf(gist, n, "%.40s %.300s", jv_string_value(code), jv_string_value(m));
		else if (jv_get_kind(m) == JV_KIND_STRING)
			snprintf(gist, n, "%.300s", jv_string_value(m));
		jv_free(m);
		jv_free(code);
		jv_free(e);
	}
	jv_free(errs);
	if (gist[0] != '\0') {
		jv_free(body);
		return;
	}
	if (jv_get_kind(body) == JV_KIND_OBJECT) {
		msg = jv_object_get(jv_copy(body), jv_string("message"));
		if (jv_get_kind(msg) != JV_KIND_STRING) {
			jv_free(msg);
			msg = jv_object_get(jv_copy(body), jv_string("error"));
		}
		if (jv_get_kind(msg) == JV_KIND_OBJECT) {
			jv o = msg;
			msg = jv_object_get(jv_copy(o), jv_string("message"));
			if (jv_get_kind(msg) != JV_KIND_STRING) {
				jv_free(msg);
				msg = jv_object_get(jv_copy(o), jv_string("reason"));
			}
			jv_free(o);
		}
	}
	if (jv_get_kind(msg) == JV_KIND_STRING)
		snprintf(gist, n, "%.300s", jv_string_value(msg));
	jv_free(msg);
	jv_free(body);
}

/* 1 when the object of headers has one named name (in any case) */
static int has_header(jv headers, const char *name)
{
	int found = 0;
	jv_object_foreach(headers, k, v) {
		found |= strcasecmp(jv_string_value(k), name) == 0;
		jv_free(k);
		jv_free(v);
	}
	return found;
}

int rx_push_test_connection(push_ctx *c)
{
	const push_profile *p = &c->prof;
	jv t = jv_object_get(jv_copy(p->json), jv_string("test"));
	rx_buf url = {0}, reply = {0};
	struct curl_slist *h = NULL;
	char errbuf[CURL_ERROR_SIZE] = "", gist[512] = "";
	long status = 0;
	int rc = RX_EXIT_FAIL;

	if (jv_get_kind(t) != JV_KIND_OBJECT) {
		rx_diag("profile %s has no \"test\" request (a cheap authenticated read) to send", p->name);
		jv_free(t);
		return RX_EXIT_FAIL;
	}
	jv m = jv_object_get(jv_copy(t), jv_string("method")), path = jv_object_get(jv_copy(t), jv_string("path"));
	const char *method = jv_get_kind(m) == JV_KIND_STRING ? jv_string_value(m) : "GET";
	rx_buf_puts(&url, c->url);
	if (jv_get_kind(path) == JV_KIND_STRING)
		rx_push_template(&url, jv_string_value(path), p, "test", NULL, 1);
	rx_push_auth_apply(&c->auth, &h, &url, 0, NULL);
	/* the profile's headers (a version header: Klaviyo's revision,
	 * Intercom-Version), then the test's own, which replace the
	 * profile's of the same name: LinkedIn's writes say X-RestLi-Method:
	 * BATCH_CREATE, and Rest.li refuses a GET that says so */
	jv th = jv_object_get(jv_copy(t), jv_string("headers"));
	if (jv_get_kind(th) != JV_KIND_OBJECT) {
		jv_free(th);
		th = jv_object();
	}
	jv all[2] = {jv_copy(p->headers), jv_copy(th)};
	for (int i = 0; i < 2; i++) {
		if (jv_get_kind(all[i]) == JV_KIND_OBJECT) {
			jv_object_foreach(all[i], k, v) {
				if ((i == 1 || !has_header(th, jv_string_value(k))) && jv_get_kind(v) == JV_KIND_STRING) {
					rx_buf line = {0};
					rx_buf_printf(&line, "%s: %s", jv_string_value(k), jv_string_value(v));
					h = curl_slist_append(h, line.data);
					rx_buf_free(&line);
				}
				jv_free(k);
				jv_free(v);
			}
		}
		jv_free(all[i]);
	}
	jv_free(th);
	/* SigV4 signs the request as it goes (no body: the hash of "") */
	rx_push_auth_sign(&c->auth, method, url.data, NULL, &h, 0, NULL);
	/* a test whose destination answers 200 to a refused credential
	 * (Slack's {"ok": false}, TikTok's code) says what its success is */
	push_success *want = NULL;
	jv ts = jv_object_get(jv_copy(t), jv_string("success"));
	if (jv_is_valid(ts) && jv_get_kind(ts) != JV_KIND_NULL) {
		char serr[512];
		jv items = jv_get_kind(ts) == JV_KIND_OBJECT ? jv_object_get(jv_copy(ts), jv_string("items")) : jv_null();
		jv match = jv_get_kind(ts) == JV_KIND_OBJECT ? jv_object_get(jv_copy(ts), jv_string("match")) : jv_null();
		int per_record = (jv_is_valid(items) && jv_get_kind(items) != JV_KIND_NULL) ||
				 (jv_is_valid(match) && jv_get_kind(match) != JV_KIND_NULL);
		jv_free(items);
		jv_free(match);
		if (per_record)
			rx_die(RX_EXIT_FAIL, "profile %s: test.success: a status and the body's members (equal, empty, in), "
			       "no items: a test writes no records", p->name);
		if (rx_push_success_compile(&want, ts, p, "test.success", serr, sizeof serr) < 0)
			rx_die(RX_EXIT_FAIL, "%s", serr);
	} else {
		jv_free(ts);
	}
	CURL *e = curl_easy_init();
	if (e == NULL)
		rx_die(RX_EXIT_FAIL, "cannot start libcurl");
	curl_easy_setopt(e, CURLOPT_URL, url.data);
	curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, &reply);
	curl_easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, c->timeout_ms);
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, c->connect_timeout_ms);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(e, CURLOPT_USERAGENT, "rx-push/" RX_VERSION);
	if (c->insecure) {
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	double t0 = rx_push_now();
	CURLcode cc = curl_easy_perform(e);
	double secs = rx_push_now() - t0;
	if (cc != CURLE_OK) {
		rx_diag("test: %s %s: %s", method, p->name, errbuf[0] ? errbuf : curl_easy_strerror(cc));
		rc = RX_EXIT_TEMPFAIL;
		goto done;
	}
	curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
	/* what the destination said, for a refusal */
	jv body;
	char err[128];
	if (reply.len > 0 && rx_jv_parse(reply.data, reply.len, &body, err, sizeof err) == 0) {
		reply_gist(body, gist, sizeof gist);
	} else if (reply.len > 0) {
		snprintf(gist, sizeof gist, "%.200s", reply.data);
	}
	char one[600];
	rx_one_line(gist, one, sizeof one);
	int fits = 1;
	if (want != NULL && status >= 200 && status < 300) {
		push_record *none = NULL;
		rx_span id;
		signed char created;
		fits = rx_push_success_match(want, status, reply.data ? reply.data : "", reply.len, &none, 1, &id, &created);
	}
	if (status >= 200 && status < 300 && fits) {
		printf("ok: %s %s answered HTTP %ld in %.2f s: the credentials work\n", method, p->name, status, secs);
		rc = RX_EXIT_OK;
	} else if (status >= 200 && status < 300) {
		rx_diag("test: HTTP %ld, but not the reply of a success: the destination refuses the credentials or the "
			"request%s%s%s (check the token, its scopes and the ids: docs/destinations/%s.md)",
			status, one[0] ? " (it says: " : "", one, one[0] ? ")" : "", p->name);
	} else if (status == 401 || status == 403) {
		rx_diag("test: HTTP %ld: the destination refuses the credentials%s%s%s (check the token and its scopes: "
			"docs/destinations/%s.md)",
			status, one[0] ? " (it says: " : "", one, one[0] ? ")" : "", p->name);
	} else if (status == 429 || status >= 500) {
		rx_diag("test: HTTP %ld: try again later%s%s%s", status, one[0] ? " (it says: " : "", one, one[0] ? ")" : "");
		rc = RX_EXIT_TEMPFAIL;
	} else {
		rx_diag("test: HTTP %ld%s%s%s", status, one[0] ? " (it says: " : "", one, one[0] ? ")" : "");
	}
done:
	curl_easy_cleanup(e);
	curl_slist_free_all(h);
	rx_buf_free(&url);
	rx_buf_free(&reply);
	if (want != NULL)
		rx_push_success_free(want);
	jv_free(m);
	jv_free(path);
	jv_free(t);
	return rc;
}
