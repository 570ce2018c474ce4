/*
 * reply.c - reading a destination's reply: its headers, the wait it asks
 * for, a one-line gist of what it said, the message of a per-record
 * result, and which transfer errors are permanent.  Nothing here decides
 * a record's fate; settle() in engine.c does, with these.
 */
#include "engine.h"

#include <csv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* Header value (case-insensitive name) from the raw header block. */
int rx_push_reply_header(const request *r, const char *name, char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = r->reply_headers.data;

	if (p == NULL)
		return 0;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		if (len > nlen && strncasecmp(p, name, nlen) == 0 && p[nlen] == ':') {
			const char *v = p + nlen + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vlen = (size_t)(p + len - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			snprintf(out, outlen, "%.*s", (int)vlen, v);
			return 1;
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return 0;
}

jv rx_push_reply_headers(const request *r)
{
	jv o = jv_object();
	const char *p = r->reply_headers.data;

	if (p == NULL)
		return o;
	while (*p) {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) : strlen(p);
		const char *colon = memchr(p, ':', len);
		if (colon != NULL && strncmp(p, "HTTP/", 5) != 0) {
			char name[256];
			size_t nl = (size_t)(colon - p) < sizeof name - 1 ? (size_t)(colon - p) : sizeof name - 1;
			for (size_t i = 0; i < nl; i++)
				name[i] = (char)(p[i] >= 'A' && p[i] <= 'Z' ? p[i] + 32 : p[i]);
			name[nl] = '\0';
			const char *v = colon + 1;
			while (*v == ' ' || *v == '\t')
				v++;
			size_t vlen = (size_t)(p + len - v);
			while (vlen > 0 && (v[vlen - 1] == '\r' || v[vlen - 1] == ' '))
				vlen--;
			o = jv_object_set(o, jv_string(name), jv_string_sized(v, (int)vlen));
		}
		if (eol == NULL)
			break;
		p = eol + 1;
	}
	return o;
}

double rx_push_reply_wait(const push_profile *p, const request *r, double now)
{
	char v[256];

	if (rx_push_reply_header(r, "Retry-After", v, sizeof v)) {
		char *end;
		double s = strtod(v, &end);
		if (end != v && *end == '\0')
			return s < 0 ? 0 : s;
		time_t t = curl_getdate(v, NULL);
		if (t > 0)
			return (double)t - now > 0 ? (double)t - now : 0;
	}
	if (p->reset_header != NULL && rx_push_reply_header(r, p->reset_header, v, sizeof v)) {
		double x = strtod(v, NULL);
		if (strcmp(p->reset_unit, "seconds") == 0)
			return x;
		if (strcmp(p->reset_unit, "ms") == 0)
			return x / 1000;
		return x - now > 0 ? x - now : 0;
	}
	return -1;
}

const char *rx_push_result_message(jv res, char *buf, size_t len, const char *fallback)
{
	jv m = jv_get_kind(res) == JV_KIND_OBJECT ? jv_object_get(jv_copy(res), jv_string("message")) : jv_copy(res);

	if (jv_get_kind(m) != JV_KIND_STRING && jv_get_kind(res) == JV_KIND_OBJECT) {
		/* a lookup's answer for a record is {"error": "..."} */
		jv_free(m);
		m = jv_object_get(jv_copy(res), jv_string("error"));
	}

	if (jv_get_kind(m) == JV_KIND_STRING) {
		snprintf(buf, len, "%s", jv_string_value(m));
	} else if (jv_get_kind(m) != JV_KIND_NULL && jv_is_valid(m) && jv_get_kind(m) != JV_KIND_FALSE) {
		jv s = jv_dump_string(jv_copy(m), 0);
		snprintf(buf, len, "%s", jv_string_value(s));
		jv_free(s);
	} else {
		snprintf(buf, len, "%s", fallback);
	}
	jv_free(m);
	return buf;
}

/* A transfer error that trying again cannot mend: a bad URL, a protocol
 * rx-push does not speak, a certificate that does not verify. */
int rx_push_permanent(CURLcode cc)
{
	switch (cc) {
	case CURLE_UNSUPPORTED_PROTOCOL:
	case CURLE_URL_MALFORMAT:
	case CURLE_NOT_BUILT_IN:
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_CERTPROBLEM:
	case CURLE_SSL_CIPHER:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
	case CURLE_SSL_INVALIDCERTSTATUS:
	case CURLE_SSL_CRL_BADFILE:
	case CURLE_TOO_MANY_REDIRECTS:
		return 1;
	default:
		return 0;
	}
}

/* A CSV reply, parsed: rows of fields, built as libcsv reads them. */
typedef struct csv_rows {
	jv rows, row;
} csv_rows;

static void csv_rows_field(void *s, size_t len, void *arg)
{
	csv_rows *c = arg;

	c->row = jv_array_append(c->row, jv_string_sized(s ? s : "", (int)len));
}

static void csv_rows_end(int ch, void *arg)
{
	csv_rows *c = arg;

	(void)ch;
	c->rows = jv_array_append(c->rows, c->row);
	c->row = jv_array();
}

static int csv_keep_spaces(unsigned char ch)
{
	(void)ch;
	return 0; /* a field's spaces are its own */
}

/* RFC 4180 by libcsv, strictly (a stray quote is an error); a reply too
 * large to keep whole (truncated) is not parsed: half a table would
 * miss records. */
static int parse_csv(const request *r, jv *out)
{
	struct csv_parser p;
	csv_rows c = {jv_array(), jv_array()};
	const char *s = r->reply.data;
	size_t n = r->reply.len;
	int rc = 0;

	if (r->reply_truncated || csv_init(&p, CSV_STRICT | CSV_STRICT_FINI) != 0)
		return -1;
	csv_set_space_func(&p, csv_keep_spaces);
	if (n >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
		s += 3, n -= 3; /* a UTF-8 byte order mark */
	if (csv_parse(&p, s, n, csv_rows_field, csv_rows_end, &c) != n ||
	    csv_fini(&p, csv_rows_field, csv_rows_end, &c) != 0)
		rc = -1;
	csv_free(&p);
	jv_free(c.row);
	if (rc < 0) {
		jv_free(c.rows);
		return -1;
	}
	*out = c.rows;
	return 0;
}

jv rx_push_reply_body(const request *r)
{
	jv body;
	char err[128], type[128];

	if (r->reply.len == 0)
		return jv_null();
	if (rx_push_reply_header(r, "content-type", type, sizeof type) && strncasecmp(type, "text/csv", 8) == 0 &&
	    (type[8] == '\0' || type[8] == ';' || type[8] == ' ') && parse_csv(r, &body) == 0)
		return body;
	if (rx_jv_parse(r->reply.data, r->reply.len, &body, err, sizeof err) == 0)
		return body;
	return jv_string_sized(r->reply.data, (int)r->reply.len);
}

/* One line of what the destination said, for a message: its "message"
 * (or "error", "error_description", "detail"), else the start of the
 * text. */
const char *rx_push_reply_gist(const request *r, char *out, size_t len)
{
	jv body;
	char err[64];

	out[0] = '\0';
	if (r->reply.len == 0)
		return out;
	if (rx_jv_parse(r->reply.data, r->reply.len, &body, err, sizeof err) == 0) {
		static const char *const names[] = {"message", "error_description", "error", "detail", "title"};
		for (size_t i = 0; i < sizeof names / sizeof *names && out[0] == '\0' &&
				   jv_get_kind(body) == JV_KIND_OBJECT; i++) {
			jv v = jv_object_get(jv_copy(body), jv_string(names[i]));
			if (jv_get_kind(v) == JV_KIND_OBJECT) {
				jv m = jv_object_get(v, jv_string("message"));
				v = m;
			}
			if (jv_get_kind(v) == JV_KIND_STRING)
				snprintf(out, len, "%.200s", jv_string_value(v));
			jv_free(v);
		}
		jv_free(body);
	}
	if (out[0] == '\0')
		snprintf(out, len, "%.*s", (int)(r->reply.len < 200 ? r->reply.len : 200), r->reply.data);
	char one[512];
	rx_one_line(out, one, sizeof one);
	size_t n = strlen(one) < len - 1 ? strlen(one) : len - 1;
	memcpy(out, one, n);
	out[n] = '\0';
	return out;
}

