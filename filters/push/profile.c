/*
 * profile.c - a destination profile: what rx-push needs to know about an
 * API, read from a JSON file (docs/profiles.md describes the format).
 *
 * The profile is loaded and its jq programs compiled once, at start-up;
 * a variable taken from the environment ("vars": {"list_id": {"env":
 * "MAILCHIMP_LIST_ID"}}) is read then, and the base URL's {NAME}s are
 * filled in from the variables;
 * nothing here runs per record except building a request body, which
 * either copies the records' raw text (no body program: exact numbers,
 * no jq cost) or runs the op's body program on them.  With "raw_rows"
 * the program sees each row as a marker string it may only place: the
 * row's own text is written there (the raw path's cost and exactness).
 * A body program's object is form-encoded for a form content type.
 */
#include "push.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* "\x1erx-row NONCE ": the start of the string standing for a row in a
 * raw_rows body program, followed by the record's index; the nonce keeps
 * a row's own data from ever reading as one. */
static char row_marker[48];
static size_t row_marker_len;

static char *get_string(jv obj, const char *name, const char *fallback)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));
	char *s = NULL;

	if (jv_get_kind(v) == JV_KIND_STRING)
		s = rx_xstrdup(jv_string_value(v));
	else if (fallback != NULL)
		s = rx_xstrdup(fallback);
	jv_free(v);
	return s;
}

static double get_number(jv obj, const char *name, double fallback)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));
	double d = fallback;

	if (jv_get_kind(v) == JV_KIND_NUMBER)
		d = jv_number_value(v);
	jv_free(v);
	return d;
}

static jv get_member(jv obj, const char *name, jv_kind kind)
{
	jv v = jv_object_get(jv_copy(obj), jv_string(name));

	if (jv_get_kind(v) != kind) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

static size_t get_statuses(jv obj, const char *name, int *out, size_t cap, const int *fallback, size_t nfallback)
{
	jv a = get_member(obj, name, JV_KIND_ARRAY);
	size_t n = 0;

	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		memcpy(out, fallback, nfallback * sizeof *out);
		return nfallback;
	}
	jv_array_foreach(a, i, v) {
		if (jv_get_kind(v) == JV_KIND_NUMBER && n < cap)
			out[n++] = (int)jv_number_value(v);
		jv_free(v);
	}
	jv_free(a);
	return n;
}

/* Does a program read the records?  When its text names them, or a
 * function it calls does: one of the profile's modules (or a module they
 * include), followed through the functions that one calls.  A name is
 * followed to every definition of it, and a definition runs to the next
 * "def" (a nested one continues it), comments left out: the answer errs
 * towards building them, never the other way. */
#define RR_MAX_MODULES 32
typedef struct {
	const char *name, *body;
	size_t nlen, blen, module;
	int seen;
} rr_def;

static int rr_ident(int c)
{
	return isalnum(c) || c == '_';
}

/* NAME.jq beside the profile, else in share/rx/jq, comments blanked; NULL when neither */
static char *rr_module(const push_profile *p, const char *name)
{
	char file[8192];

	snprintf(file, sizeof file, "%s/%s.jq", p->dir, name);
	if (access(file, R_OK) != 0)
		snprintf(file, sizeof file, "%s/jq/%s.jq", rx_share_dir(), name);
	if (access(file, R_OK) != 0)
		return NULL;
	char *t = rx_read_file(file);
	int in_str = 0;
	for (char *c = t; *c; c++) {
		if (in_str) {
			if (*c == '\\' && c[1] != '\0')
				c++;
			else if (*c == '"')
				in_str = 0;
		} else if (*c == '"') {
			in_str = 1;
		} else if (*c == '#') {
			for (; *c && *c != '\n'; c++)
				*c = ' ';
			if (*c == '\0')
				break;
		}
	}
	return t;
}

/* 1 when text[0..len) names a definition not yet followed whose body
 * (or a function it calls) names the records */
static int rr_follow(const char *text, size_t len, rr_def *defs, size_t ndefs)
{
	for (size_t i = 0; i < len; i++) {
		if (!rr_ident((unsigned char)text[i]) || (i > 0 && rr_ident((unsigned char)text[i - 1])))
			continue;
		size_t n = 1;
		while (i + n < len && rr_ident((unsigned char)text[i + n]))
			n++;
		for (size_t d = 0; d < ndefs; d++) {
			if (defs[d].seen || defs[d].nlen != n || memcmp(defs[d].name, text + i, n) != 0)
				continue;
			defs[d].seen = 1;
			if (memmem(defs[d].body, defs[d].blen, "records", 7) != NULL ||
			    rr_follow(defs[d].body, defs[d].blen, defs, ndefs))
				return 1;
		}
		i += n - 1;
	}
	return 0;
}

static int reads_records(const push_profile *p, const char *prog)
{
	char *names[RR_MAX_MODULES], *texts[RR_MAX_MODULES];
	size_t nmod = 0, ntexts = 0, ndefs = 0, cap = 0;
	rr_def *defs = NULL;
	int found = strstr(prog, "records") != NULL;

	for (size_t i = 0; !found && p->modules != NULL && p->modules[i] != NULL && nmod < RR_MAX_MODULES; i++)
		names[nmod++] = rx_xstrdup(p->modules[i]);
	for (size_t m = 0; !found && m < nmod; m++) {
		texts[ntexts] = rr_module(p, names[m]);
		if (texts[ntexts] == NULL) {
			found = 1; /* not to be read: assume it does */
			break;
		}
		ntexts++;
		/* the modules it includes or imports */
		for (const char *c = texts[m]; (c = strstr(c, "\"")) != NULL; c++) {
			const char *q = c;
			while (q > texts[m] && isspace((unsigned char)q[-1]))
				q--;
			if (!((q - texts[m] >= 7 && memcmp(q - 7, "include", 7) == 0) ||
			      (q - texts[m] >= 6 && memcmp(q - 6, "import", 6) == 0)))
				continue;
			const char *end = strchr(c + 1, '"');
			if (end == NULL)
				break;
			char dep[256];
			snprintf(dep, sizeof dep, "%.*s", (int)(end - c - 1), c + 1);
			size_t k = 0;
			while (k < nmod && strcmp(names[k], dep) != 0)
				k++;
			if (k == nmod && nmod < RR_MAX_MODULES)
				names[nmod++] = rx_xstrdup(dep);
			c = end;
		}
		/* its definitions: from each "def NAME" to the next */
		for (const char *c = texts[m]; (c = strstr(c, "def")) != NULL; c += 3) {
			if ((c > texts[m] && rr_ident((unsigned char)c[-1])) || !isspace((unsigned char)c[3]))
				continue;
			const char *name = c + 3;
			while (isspace((unsigned char)*name))
				name++;
			size_t nlen = 0;
			while (rr_ident((unsigned char)name[nlen]))
				nlen++;
			if (ndefs == cap) {
				cap = cap ? cap * 2 : 64;
				defs = realloc(defs, cap * sizeof *defs);
				if (defs == NULL)
					rx_die(RX_EXIT_FAIL, "out of memory");
			}
			defs[ndefs++] = (rr_def){name, c, nlen, 0, m, 0};
		}
	}
	/* each definition's body ends where the next of its module begins */
	for (size_t d = 0; d < ndefs; d++) {
		const char *end = d + 1 < ndefs && defs[d + 1].module == defs[d].module ? defs[d + 1].body
											 : defs[d].body + strlen(defs[d].body);
		defs[d].blen = (size_t)(end - defs[d].body);
	}
	if (!found)
		found = rr_follow(prog, strlen(prog), defs, ndefs);
	free(defs);
	for (size_t m = 0; m < ntexts; m++)
		free(texts[m]);
	for (size_t m = 0; m < nmod; m++)
		free(names[m]);
	return found;
}

static int compile(rx_jq *q, jv spec, const char *member, const push_profile *p, int *has, int *mentions_records,
		   char *err, size_t errlen)
{
	jv prog = get_member(spec, member, JV_KIND_STRING);
	char what[256];
	int rc = 0;

	*has = 0;
	if (jv_get_kind(prog) == JV_KIND_STRING) {
		snprintf(what, sizeof what, "profile %s: %s program", p->name, member);
		jv args = jv_object_set(jv_object(), jv_string("vars"), jv_copy(p->vars));
		rc = rx_jq_compile_with(q, jv_string_value(prog), args, p->dir, (const char *const *)p->modules, what, err,
					errlen);
		if (rc == 0)
			*has = 1;
		if (mentions_records != NULL)
			*mentions_records = reads_records(p, jv_string_value(prog));
	}
	jv_free(prog);
	return rc;
}

/* "jq": "hubspot" or ["hubspot", "ads"]: modules (NAME.jq beside the
 * profile, or in share/rx/jq) that every program of the profile includes,
 * so its body and response programs live in a .jq file that reads as jq,
 * carries comments, and runs with jq itself on a recorded reply. */
static int load_modules(push_profile *p, char *err, size_t errlen)
{
	jv m = jv_object_get(jv_copy(p->json), jv_string("jq"));
	size_t n = 0;

	if (jv_get_kind(m) == JV_KIND_STRING)
		m = jv_array_append(jv_array(), m);
	if (jv_get_kind(m) == JV_KIND_NULL || jv_get_kind(m) == JV_KIND_INVALID) {
		jv_free(m);
		return 0;
	}
	if (jv_get_kind(m) != JV_KIND_ARRAY) {
		jv_free(m);
		snprintf(err, errlen, "profile %s: \"jq\" is not a module name or an array of them", p->name);
		return -1;
	}
	p->modules = calloc((size_t)jv_array_length(jv_copy(m)) + 1, sizeof *p->modules);
	if (p->modules == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	jv_array_foreach(m, i, v) {
		const char *name = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
		if (name[0] == '\0' || strspn(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-/") !=
						strlen(name)) {
			snprintf(err, errlen, "profile %s: jq[%d]: not a module name", p->name, i);
			jv_free(v);
			jv_free(m);
			return -1;
		}
		p->modules[n++] = rx_xstrdup(name);
		char file[8192];
		snprintf(file, sizeof file, "%s/%s.jq", p->dir, name);
		if (access(file, R_OK) != 0)
			snprintf(file, sizeof file, "%s/jq/%s.jq", rx_share_dir(), name);
		if (access(file, R_OK) != 0) {
			snprintf(err, errlen, "profile %s: no jq module '%s' (looked beside the profile and in %s/jq)",
				 p->name, name, rx_share_dir());
			jv_free(v);
			jv_free(m);
			return -1;
		}
		jv_free(v);
	}
	jv_free(m);
	return 0;
}

static int parse_windows(const push_profile *p, jv from, const char *what, push_window *windows, size_t max,
			 size_t *nwindows, char *err, size_t errlen);
/* A value the profile takes from outside it (docs/profiles.md "Values
 * from the environment"): {"env": "NAME"} or {"file": "PATH"} (its first
 * line), with an optional "default", and "secret": true to register it
 * as a secret (never shown).  *out is the string, or null when neither
 * is set and there is no default (missing then says what was looked
 * at).  -1 with err for a value that cannot be used. */
static int outside_value(const push_profile *p, const char *where, jv spec, jv *out, char *missing, size_t mlen,
			 char *err, size_t errlen)
{
	jv env = get_member(spec, "env", JV_KIND_STRING), file = get_member(spec, "file", JV_KIND_STRING);
	jv def = jv_object_get(jv_copy(spec), jv_string("default"));
	jv secret = jv_object_get(jv_copy(spec), jv_string("secret"));
	char *s = NULL;
	int rc = 0;

	*out = jv_null();
	missing[0] = '\0';
	if (jv_get_kind(env) != JV_KIND_STRING && jv_get_kind(file) != JV_KIND_STRING) {
		snprintf(err, errlen, "profile %s: %s: an object here names \"env\" or \"file\"", p->name, where);
		rc = -1;
		goto done;
	}
	if (jv_get_kind(env) == JV_KIND_STRING) {
		const char *e = getenv(jv_string_value(env));
		if (e != NULL && *e != '\0')
			s = rx_xstrdup(e);
		else
			snprintf(missing, mlen, "$%s is not set", jv_string_value(env));
	}
	if (s == NULL && jv_get_kind(file) == JV_KIND_STRING) {
		FILE *f = fopen(jv_string_value(file), "r");
		char line[8192];
		if (f == NULL) {
			snprintf(missing, mlen, "cannot read '%s': %s", jv_string_value(file), strerror(errno));
		} else {
			if (fgets(line, sizeof line, f) != NULL) {
				line[strcspn(line, "\r\n")] = '\0';
				s = rx_xstrdup(line);
				memset(line, 0, sizeof line);
			} else {
				snprintf(missing, mlen, "'%s' is empty", jv_string_value(file));
			}
			fclose(f);
		}
	}
	if (s != NULL) {
		if (strpbrk(s, "\r\n") != NULL) {
			snprintf(err, errlen, "profile %s: %s: the value contains a line break: refusing it", p->name, where);
			rc = -1;
		} else {
			if (jv_get_kind(secret) == JV_KIND_TRUE)
				rx_secret_add(s);
			*out = jv_string(s);
		}
		memset(s, 0, strlen(s));
		free(s);
	} else if (jv_get_kind(def) == JV_KIND_STRING || jv_get_kind(def) == JV_KIND_NUMBER) {
		*out = jv_copy(def);
		missing[0] = '\0';
	}
done:
	jv_free(env);
	jv_free(file);
	jv_free(def);
	jv_free(secret);
	return rc;
}

int rx_push_profile_checking;

/* "vars" whose values come from outside: each becomes a string, or the
 * profile cannot be used (a missing one is named). */
static int resolve_vars(push_profile *p, char *err, size_t errlen)
{
	jv keys = jv_keys(jv_copy(p->vars));
	int rc = 0;

	jv_array_foreach(keys, i, k) {
		jv spec = jv_object_get(jv_copy(p->vars), jv_copy(k));
		const char *name = jv_string_value(k);
		if (rc == 0 && (strcmp(name, "op") == 0 || strcmp(name, "key") == 0 || strcmp(name, "base") == 0 ||
				strncmp(name, "row.", 4) == 0)) {
			/* {base} would be the base URL, not the variable: say so */
			snprintf(err, errlen, "profile %s: vars.%s: a name templates keep for themselves ({op}, {key}, "
				 "{base}, {row.NAME}): rename it", p->name, name);
			rc = -1;
		}
		if (rc == 0 && jv_get_kind(spec) == JV_KIND_OBJECT) {
			char where[300], missing[512];
			jv v;
			snprintf(where, sizeof where, "vars.%s", jv_string_value(k));
			if (outside_value(p, where, spec, &v, missing, sizeof missing, err, errlen) < 0) {
				rc = -1;
			} else if (jv_get_kind(v) == JV_KIND_NULL && rx_push_profile_checking) {
				/* a stand-in, so the templates that use it still load */
				char finding[900];
				snprintf(finding, sizeof finding, "%s: %s here (a run needs it)", where, missing);
				p->unset_vars = jv_array_append(p->unset_vars, jv_string(finding));
				p->vars = jv_object_set(p->vars, jv_copy(k), jv_string_fmt("UNSET-%s", name));
			} else if (jv_get_kind(v) == JV_KIND_NULL) {
				snprintf(err, errlen, "%s (profile %s takes %s from it)", missing, p->name, where);
				rc = -1;
			} else {
				p->vars = jv_object_set(p->vars, jv_copy(k), v);
				v = jv_null();
			}
			jv_free(v);
		}
		jv_free(spec);
		jv_free(k);
	}
	jv_free(keys);
	return rc;
}

/* "url": a string, or a value from outside (a webhook URL is a secret:
 * {"env": "SLACK_WEBHOOK_URL", "secret": true}).  Unset, the profile has
 * no URL unless --url gives one; url_missing says where it was looked
 * for. */
static int resolve_url(push_profile *p, char *err, size_t errlen)
{
	jv u = jv_object_get(jv_copy(p->json), jv_string("url"));
	int rc = 0;

	if (jv_get_kind(u) == JV_KIND_STRING) {
		p->url = rx_xstrdup(jv_string_value(u));
	} else if (jv_get_kind(u) == JV_KIND_OBJECT) {
		char missing[512];
		jv v;
		rc = outside_value(p, "url", u, &v, missing, sizeof missing, err, errlen);
		if (rc == 0 && jv_get_kind(v) == JV_KIND_STRING)
			p->url = rx_xstrdup(jv_string_value(v));
		else if (rc == 0)
			p->url_missing = rx_xstrdup(missing);
		jv_free(v);
	}
	jv_free(u);
	return rc;
}

/* Header values may name variables ({"Notion-Version": "{notion_version}"},
 * a secret one included): expanded once here, as the variables are
 * fixed for the run.  Record values ({key}, {row.NAME}) are not for
 * headers. */
static jv expand_headers(const push_profile *p, jv headers, const char *op)
{
	jv out;

	if (jv_get_kind(headers) != JV_KIND_OBJECT)
		return headers;
	out = jv_object();
	jv_object_foreach(headers, k, v) {
		if (jv_get_kind(v) == JV_KIND_STRING && strchr(jv_string_value(v), '{') != NULL) {
			rx_buf b = {0};
			rx_push_template(&b, jv_string_value(v), p, op, NULL, 0);
			jv_free(v);
			v = jv_string(b.data ? b.data : "");
			rx_buf_free(&b);
		}
		out = jv_object_set(out, k, v);
	}
	jv_free(headers);
	return out;
}

static int load_windows(push_profile *p, char *err, size_t errlen)
{
	return parse_windows(p, p->json, "rate_limits", p->windows, sizeof p->windows / sizeof p->windows[0],
			     &p->nwindows, err, errlen);
}

/* A "rate_limits" array of from: what names it in messages. */
static int parse_windows(const push_profile *p, jv from, const char *what, push_window *windows, size_t max,
			 size_t *nwindows, char *err, size_t errlen)
{
	jv a = get_member(from, "rate_limits", JV_KIND_ARRAY);
	int rc = 0;

	if (jv_get_kind(a) != JV_KIND_ARRAY) {
		jv_free(a);
		return 0;
	}
	jv_array_foreach(a, i, v) {
		push_window w = {0};
		if (*nwindows >= max) {
			jv_free(v);
			continue;
		}
		if (jv_get_kind(v) == JV_KIND_STRING) {
			if (rx_push_rate_parse(jv_string_value(v), &w) < 0)
				rc = -1;
		} else if (jv_get_kind(v) == JV_KIND_OBJECT) {
			jv per = get_member(v, "per", JV_KIND_STRING);
			char spec[128];
			snprintf(spec, sizeof spec, "%g/%s", get_number(v, "requests", 0),
				 jv_get_kind(per) == JV_KIND_STRING ? jv_string_value(per) : "s");
			jv_free(per);
			if (rx_push_rate_parse(spec, &w) < 0)
				rc = -1;
			jv q = jv_object_get(jv_copy(v), jv_string("quota"));
			if (jv_get_kind(q) == JV_KIND_TRUE)
				w.quota = 1;
			jv_free(q);
		} else {
			rc = -1;
		}
		if (rc < 0) {
			snprintf(err, errlen, "profile %s: %s[%d]: expected \"N/WINDOW\" or {\"requests\":N,\"per\":\"10s\"}",
				 p->name, what, i);
			jv_free(v);
			break;
		}
		windows[(*nwindows)++] = w;
		jv_free(v);
	}
	jv_free(a);
	return rc;
}

/* Does a template name one record ({key}, {row.NAME})?  A request whose
 * URL does can only ever be about one record. */
static int names_record(const char *t)
{
	return t != NULL && (strstr(t, "{key}") != NULL || strstr(t, "{id}") != NULL || strstr(t, "{row.") != NULL);
}

static int query_names_record(jv query)
{
	int found = 0;

	if (jv_get_kind(query) != JV_KIND_OBJECT)
		return 0;
	/* (the macro evaluates its object more than once: no jv_copy in it) */
	jv_object_foreach(query, k, v) {
		if (jv_get_kind(v) == JV_KIND_STRING && names_record(jv_string_value(v)))
			found = 1;
		jv_free(k);
		jv_free(v);
	}
	return found;
}

/* One request spec: an op's, the lookup's, a job's poll.  what names it
 * in messages ("ops.delete", "identity.lookup"). */
/* A "success" (the usual reply of a write, read in C: success.c) beside
 * the response program that reads every other reply; o is the op it
 * belongs to, or NULL for the profile's. */
static int load_success(push_profile *p, jv spec, push_success **out, const push_op *o, const char *what,
			int has_response, char *err, size_t errlen)
{
	jv v = jv_object_get(jv_copy(spec), jv_string("success"));
	char swhat[80];
	int rc = 0;

	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	snprintf(swhat, sizeof swhat, "%s%ssuccess", what, what[0] ? "." : "");
	if (!has_response) {
		snprintf(err, errlen, "profile %s: %s: it reads the usual reply before the response program, which "
			 "reads every other: give %s a \"response\" program", p->name, swhat, what[0] ? what : "the profile");
		rc = -1;
	} else if (o != NULL && ((o->has_job && o->create == NULL) || strcmp(o->name, "poll") == 0 ||
				 strcmp(o->name, "create") == 0 || strcmp(o->name, "lookup") == 0)) {
		snprintf(err, errlen, "profile %s: %s: only a write's own reply can be read so (not a lookup's, nor "
			 "one naming a job: a job's poll has its own, \"job\": {\"success\": ...})", p->name, swhat);
		rc = -1;
	}
	if (rc < 0) {
		jv_free(v);
		return -1;
	}
	return rx_push_success_compile(out, v, p, swhat, err, errlen);
}

static int load_spec(push_profile *p, jv spec, push_op *o, const char *what, char *err, size_t errlen)
{
	int rc = 0;

	o->method = get_string(spec, "method", "POST");
	o->path = get_string(spec, "path", "");
	o->query = get_member(spec, "query", JV_KIND_OBJECT);
	o->headers = expand_headers(p, get_member(spec, "headers", JV_KIND_OBJECT), what);
	o->content_type = get_string(spec, "content_type", NULL);
	if (jv_get_kind(o->query) == JV_KIND_OBJECT) {
		int bad = 0;
		jv_object_foreach(o->query, k, v) {
			int one = jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) == 1;
			jv first = one ? jv_array_get(jv_copy(v), 0) : jv_null();
			if (!bad && jv_get_kind(v) != JV_KIND_STRING && !(one && jv_get_kind(first) == JV_KIND_STRING)) {
				snprintf(err, errlen, "profile %s: %s.query.%s: a template, or an array of one (the parameter "
					 "once for each record)", p->name, what, jv_string_value(k));
				bad = 1;
			}
			jv_free(first);
			jv_free(k);
			jv_free(v);
		}
		if (bad)
			return -1;
	}
	double max = get_number(spec, "max_records", 0);
	if (compile(&o->path_program, spec, "path_program", p, &o->has_path_program, NULL, err, errlen) < 0)
		return -1;
	if (names_record(o->path) || query_names_record(o->query) || o->has_path_program) {
		/* a batch would go out under its first record's URL, and every
		 * record of it be acked: one record a request, always */
		if (max > 1) {
			snprintf(err, errlen,
				 "profile %s: %s: its URL names one record (%s), so a request "
				 "carries one record, but its \"max_records\" is %g: remove it, or take the record out "
				 "of the URL",
				 p->name, what, o->has_path_program ? "a path_program" : "{key}, {id} or {row.NAME}", max);
			return -1;
		}
		o->max_records = 1;
	} else if (max >= 1) {
		o->max_records = (size_t)max;
	}
	char wwhat[80];
	snprintf(wwhat, sizeof wwhat, "%s.rate_limits", what);
	if (parse_windows(p, spec, wwhat, o->windows, sizeof o->windows / sizeof o->windows[0], &o->nwindows, err,
			  errlen) < 0)
		return -1;
	if (compile(&o->body, spec, "body", p, &o->has_body, NULL, err, errlen) < 0 ||
	    compile(&o->response, spec, "response", p, &o->has_response, &o->response_records, err, errlen) < 0)
		rc = -1;
	/* a body program reads the records unless it is a JSON constant
	 * (Google's :run body "{}"): a parse of each record spared.  (Not
	 * reads_records(): "." reads them without naming them.) */
	if (o->has_body) {
		jv prog = get_member(spec, "body", JV_KIND_STRING);
		jv constant = jv_get_kind(prog) == JV_KIND_STRING ? jv_parse(jv_string_value(prog)) : jv_invalid();
		o->body_records = !jv_is_valid(constant);
		jv_free(constant);
		jv_free(prog);
	}
	jv tmpl = jv_object_get(jv_copy(spec), jv_string("template"));
	if (rc == 0 && jv_is_valid(tmpl) && jv_get_kind(tmpl) != JV_KIND_NULL) {
		const char *ct = o->content_type ? o->content_type : p->content_type ? p->content_type : "application/json";
		char twhat[80];
		snprintf(twhat, sizeof twhat, "%s.template", what);
		if (o->has_body) {
			snprintf(err, errlen, "profile %s: %s: give a \"body\" program or a \"template\", not both", p->name,
				 what);
			rc = -1;
		} else if (strcmp(o->method, "GET") == 0) {
			snprintf(err, errlen, "profile %s: %s: a GET has no body: its query parameters are a body "
				 "program's (or \"query\")", p->name, twhat);
			rc = -1;
		} else if (strstr(ct, "json") == NULL && strncmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
			snprintf(err, errlen, "profile %s: %s: a template builds JSON (or NDJSON, or a form); a %s body needs "
				 "a body program", p->name, twhat, ct);
			rc = -1;
		} else if (rx_push_tmpl_compile(&o->tmpl, tmpl, p, twhat,
						strstr(ct, "ndjson") != NULL ? RX_TMPL_NDJSON
						: strstr(ct, "json") != NULL ? RX_TMPL_JSON
									     : RX_TMPL_FORM,
						err, errlen) < 0) {
			rc = -1;
		} else {
			o->has_body = 1;
		}
	}
	jv_free(tmpl);
	/* an asynchronous job: the write's reply names a job, polled until it
	 * says how each record fared */
	jv job = get_member(spec, "job", JV_KIND_OBJECT);
	if (rc == 0 && jv_get_kind(job) == JV_KIND_OBJECT) {
		char sub[64];
		snprintf(sub, sizeof sub, "%s.job.poll", what);
		jv poll = get_member(job, "poll", JV_KIND_OBJECT);
		o->poll = calloc(1, sizeof *o->poll);
		if (o->poll == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		snprintf(o->poll->name, sizeof o->poll->name, "poll");
		if (jv_get_kind(poll) != JV_KIND_OBJECT) {
			snprintf(err, errlen, "profile %s: %s.job: no \"poll\" request", p->name, what);
			rc = -1;
		} else {
			rc = load_spec(p, poll, o->poll, sub, err, errlen);
			free(o->poll->method);
			o->poll->method = get_string(poll, "method", "GET");
		}
		/* a job made first (Google Ads' offlineUserDataJobs:create): its
		 * reply names the job, the write adds the records to it, and the
		 * poll starts it and waits for it */
		jv create = get_member(job, "create", JV_KIND_OBJECT);
		if (rc == 0 && jv_get_kind(create) == JV_KIND_OBJECT) {
			snprintf(sub, sizeof sub, "%s.job.create", what);
			o->create = calloc(1, sizeof *o->create);
			if (o->create == NULL)
				rx_die(RX_EXIT_FAIL, "out of memory");
			snprintf(o->create->name, sizeof o->create->name, "create");
			rc = load_spec(p, create, o->create, sub, err, errlen);
			if (rc == 0 && (names_record(o->create->path) || query_names_record(o->create->query))) {
				snprintf(err, errlen, "profile %s: %s: a job is made for a batch: its URL cannot name one "
					 "record", p->name, sub);
				rc = -1;
			}
		}
		jv_free(create);
		if (rc == 0 && compile(&o->job_id, job, "id", p, &o->has_job, NULL, err, errlen) < 0)
			rc = -1;
		int has_status = 0;
		if (rc == 0 && compile(&o->poll->response, job, "status", p, &has_status, &o->poll->response_records, err,
				       errlen) < 0)
			rc = -1;
		o->poll->has_response = has_status;
		if (rc == 0 && (!o->has_job || !has_status)) {
			snprintf(err, errlen, "profile %s: %s.job: needs an \"id\" program (the job named by the reply) "
				 "and a \"status\" program (how its records fared)", p->name, what);
			rc = -1;
		}
		/* the poll's reply saying the job is done and every record went
		 * in, read in C before the status program (Zendesk's results) */
		snprintf(sub, sizeof sub, "%s.job", what);
		if (rc == 0)
			rc = load_success(p, job, &o->poll->success, NULL, sub, has_status, err, errlen);
		o->job_interval = get_number(job, "interval", 1);
		o->job_max_wait = get_number(job, "max_wait", 900);
		jv_free(poll);
	}
	jv_free(job);
	if (rc == 0)
		rc = load_success(p, spec, &o->success, o, what, o->has_response, err, errlen);
	return rc;
}

jv rx_push_choice_case(jv choice, const char *value, const char **as, char *cases, size_t len)
{
	jv pick = jv_object_get(jv_copy(choice), jv_string(value));
	*as = value;
	if (!jv_is_valid(pick) || strcmp(value, "?") == 0) {
		jv_free(pick);
		pick = jv_object_get(jv_copy(choice), jv_string("*"));
		*as = "*";
	}
	if (!jv_is_valid(pick)) {
		jv_free(pick);
		cases[0] = '\0';
		jv_object_foreach(jv_copy(choice), k, x) {
			size_t at = strlen(cases);
			if (strcmp(jv_string_value(k), "?") != 0 && at + strlen(jv_string_value(k)) + 5 < len)
				snprintf(cases + at, len - at, "%s\"%s\"", at ? ", " : "", jv_string_value(k));
			jv_free(k);
			jv_free(x);
		}
		return jv_invalid();
	}
	return pick;
}

/* "auth": {"?": "{NAME}", "basic": {...}, "aws_sigv4": {...}}: a choice
 * made when the profile loads, the case the variable NAME names (else
 * "*"), so one profile offers two ways in (OpenSearch's users, or IAM). */
static int choose_auth(push_profile *p, char *err, size_t errlen)
{
	if (jv_get_kind(p->auth) != JV_KIND_OBJECT)
		return 0;
	jv q = jv_object_get(jv_copy(p->auth), jv_string("?"));
	if (jv_get_kind(q) != JV_KIND_STRING) {
		jv_free(q);
		return 0;
	}
	rx_buf v = {0};
	rx_push_template(&v, jv_string_value(q), p, "auth", NULL, 0);
	jv_free(q);
	const char *as;
	char cases[256];
	jv pick = rx_push_choice_case(p->auth, v.data ? v.data : "", &as, cases, sizeof cases);
	int rc = 0;
	if (jv_get_kind(pick) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "profile %s: auth: \"%s\" is none of its cases (%s)", p->name, v.data ? v.data : "",
			 cases);
		jv_free(pick);
		rc = -1;
	} else {
		jv_free(p->auth);
		p->auth = pick;
	}
	rx_buf_free(&v);
	return rc;
}

static int load_ops(push_profile *p, char *err, size_t errlen)
{
	jv ops = get_member(p->json, "ops", JV_KIND_OBJECT);
	int rc = 0;

	if (jv_get_kind(ops) != JV_KIND_OBJECT) {
		jv_free(ops);
		ops = jv_object_set(jv_object(), jv_string("*"), jv_object());
	}
	p->ops = rx_xmalloc(sizeof *p->ops * (size_t)(jv_object_length(jv_copy(ops)) + 1));
	jv_object_foreach(ops, name, spec) {
		push_op *o = &p->ops[p->nops];
		char what[64];
		memset(o, 0, sizeof *o);
		snprintf(o->name, sizeof o->name, "%s", jv_string_value(name));
		snprintf(what, sizeof what, "ops.%s", o->name);
		jv_free(name);
		if (jv_get_kind(spec) != JV_KIND_OBJECT) {
			snprintf(err, errlen, "profile %s: ops.%s: not an object", p->name, o->name);
			jv_free(spec);
			rc = -1;
			continue;
		}
		p->nops++;
		jv raw = jv_object_get(jv_copy(spec), jv_string("raw_rows"));
		if (jv_get_kind(raw) != JV_KIND_TRUE && jv_get_kind(raw) != JV_KIND_FALSE) {
			jv_free(raw);
			raw = jv_object_get(jv_copy(p->json), jv_string("raw_rows"));
		}
		o->raw_rows = jv_get_kind(raw) == JV_KIND_TRUE;
		jv_free(raw);
		if (rc == 0 && load_spec(p, spec, o, what, err, errlen) < 0)
			rc = -1;
		jv_free(spec);
	}
	jv_free(ops);
	return rc;
}

static int op_index(const char *op)
{
	static const char *const ops[] = {"insert", "update", "upsert", "delete"};
	for (int i = 0; i < 4; i++)
		if (strcmp(op, ops[i]) == 0)
			return i;
	return -1;
}

/* "identity": which ops address a record by the destination's id, how a
 * record without one is looked up, and what a record not found becomes. */
static int load_identity(push_profile *p, char *err, size_t errlen)
{
	jv id = get_member(p->json, "identity", JV_KIND_OBJECT);
	int rc = 0;

	/* the defaults of issue 12: created, refused, already gone */
	snprintf(p->not_found[0], sizeof p->not_found[0], "reject");
	snprintf(p->not_found[1], sizeof p->not_found[1], "reject");
	snprintf(p->not_found[2], sizeof p->not_found[2], "insert");
	snprintf(p->not_found[3], sizeof p->not_found[3], "ack");
	if (jv_get_kind(id) != JV_KIND_OBJECT) {
		jv_free(id);
		return 0;
	}
	jv ops = get_member(id, "ops", JV_KIND_ARRAY);
	jv_array_foreach(ops, i, v) {
		int k = jv_get_kind(v) == JV_KIND_STRING ? op_index(jv_string_value(v)) : -1;
		if (k < 0 && rc == 0) {
			snprintf(err, errlen, "profile %s: identity.ops[%d]: not insert, update, upsert or delete", p->name, i);
			rc = -1;
		} else if (k >= 0) {
			p->needs_id[k] = 1;
		}
		jv_free(v);
	}
	jv_free(ops);
	jv nf = get_member(id, "not_found", JV_KIND_OBJECT);
	if (jv_get_kind(nf) == JV_KIND_OBJECT) {
		jv_object_foreach(nf, k, v) {
			int i = op_index(jv_string_value(k));
			const char *a = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : "";
			if (rc == 0 && (i < 0 || (strcmp(a, "insert") != 0 && strcmp(a, "reject") != 0 && strcmp(a, "ack") != 0))) {
				snprintf(err, errlen, "profile %s: identity.not_found: give an op and insert, reject or ack", p->name);
				rc = -1;
			} else if (i >= 0) {
				snprintf(p->not_found[i], sizeof p->not_found[i], "%s", a);
			}
			jv_free(k);
			jv_free(v);
		}
	}
	jv_free(nf);
	jv lookup = get_member(id, "lookup", JV_KIND_OBJECT);
	if (rc == 0 && jv_get_kind(lookup) == JV_KIND_OBJECT) {
		snprintf(p->lookup.name, sizeof p->lookup.name, "lookup");
		p->has_lookup = 1;
		rc = load_spec(p, lookup, &p->lookup, "identity.lookup", err, errlen);
		if (rc == 0 && !p->lookup.has_response) {
			snprintf(err, errlen, "profile %s: identity.lookup: no \"response\" program (the id of each record, "
				 "or null)", p->name);
			rc = -1;
		}
	}
	jv_free(lookup);
	jv_free(id);
	return rc;
}

int rx_push_needs_id(const push_profile *p, const char *op)
{
	int k = op_index(op);
	return k >= 0 && p->needs_id[k];
}

const char *rx_push_not_found(const push_profile *p, const char *op)
{
	int k = op_index(op);
	return k >= 0 ? p->not_found[k] : "reject";
}

int rx_push_profile_load(push_profile *p, const char *name, char *err, size_t errlen)
{
	if (row_marker_len == 0) {
		snprintf(row_marker, sizeof row_marker, "\x1erx-row %lx%lx ", (unsigned long)getpid(),
			 (unsigned long)time(NULL) ^ (unsigned long)(size_t)&row_marker);
		row_marker_len = strlen(row_marker);
	}
	static const int retry_default[] = {408, 425, 429, 500, 502, 503, 504};
	static const int throttle_default[] = {429};
	const char *slash = strrchr(name, '/');

	memset(p, 0, sizeof *p);
	p->json = jv_null();
	p->headers = jv_null();
	p->vars = jv_null();
	p->response_names = jv_null();
	p->unset_vars = jv_array();
	p->auth = jv_null();
	if (rx_profile_load(name, &p->json, p->path, sizeof p->path, err, errlen) < 0)
		return -1;
	p->name = rx_xstrdup(slash ? slash + 1 : name);
	char *cut = strrchr(p->path, '/');
	p->dir = cut ? strndup(p->path, (size_t)(cut - p->path)) : rx_xstrdup(".");
	if (p->dir == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	if (load_modules(p, err, errlen) < 0)
		return -1;
	p->driver = get_string(p->json, "driver", NULL);
	if (resolve_url(p, err, errlen) < 0)
		return -1;
	p->table = get_string(p->json, "table", NULL);
	p->key = get_string(p->json, "key", NULL);
	p->max_records = (size_t)get_number(p->json, "max_records", p->driver ? 500 : 100);
	p->max_bytes = (size_t)get_number(p->json, "max_bytes", 5 << 20);
	if (p->max_records < 1)
		p->max_records = 1;
	p->content_type = get_string(p->json, "content_type", "application/json");
	p->vars = get_member(p->json, "vars", JV_KIND_OBJECT);
	if (jv_get_kind(p->vars) != JV_KIND_OBJECT) {
		jv_free(p->vars);
		p->vars = jv_object();
	}
	if (resolve_vars(p, err, errlen) < 0)
		return -1;
	if (p->url != NULL && strchr(p->url, '{') != NULL) {
		/* "url": "https://{dc}.api.mailchimp.com/3.0" */
		rx_buf b = {0};
		char *tmpl = p->url;
		p->url = NULL; /* {base} inside the base URL is nothing */
		rx_push_template(&b, tmpl, p, "", NULL, 0);
		free(tmpl);
		p->url = b.data ? b.data : rx_xstrdup("");
	}
	p->max_concurrency = (long)get_number(p->json, "max_concurrency", 0);
	jv rr = jv_object_get(jv_copy(p->json), jv_string("response_rows"));
	p->response_rows = jv_get_kind(rr) != JV_KIND_FALSE;
	if (jv_get_kind(rr) == JV_KIND_ARRAY) {
		/* the members the response programs read: a row of those only
		 * costs a fraction of the whole row's parse into jq values */
		int n = jv_array_length(jv_copy(rr));
		int bad = -1;
		p->response_names = jv_array();
		p->response_members = rx_xmalloc(sizeof *p->response_members * ((size_t)n + 1));
		jv_array_foreach(rr, i, v) {
			if (jv_get_kind(v) != JV_KIND_STRING) {
				if (bad < 0)
					bad = i;
			} else {
				/* "{match}": a name from vars, so that a profile whose match
				 * member changes reads the new one */
				rx_buf name = {0};
				rx_push_template(&name, jv_string_value(v), p, "", NULL, 0);
				p->response_members[p->nresponse_members++] = name.data ? name.data : rx_xstrdup("");
				p->response_names = jv_array_append(p->response_names,
								    jv_string(p->response_members[p->nresponse_members - 1]));
			}
			jv_free(v);
		}
		if (bad >= 0 || n == 0) {
			snprintf(err, errlen, "profile %s: response_rows: true, false, or the row members the response "
				 "programs read (strings)%s", p->name, n == 0 ? ": [] would be false" : "");
			jv_free(rr);
			return -1;
		}
	}
	jv_free(rr);
	p->headers = expand_headers(p, get_member(p->json, "headers", JV_KIND_OBJECT), "");
	p->auth = get_member(p->json, "auth", JV_KIND_OBJECT);
	if (choose_auth(p, err, errlen) < 0)
		return -1;
	p->idem_header = get_string(p->json, "idempotency_header", NULL);
	p->nretry = get_statuses(p->json, "retry_statuses", p->retry_statuses, 32, retry_default, 7);
	p->nthrottle = get_statuses(p->json, "throttle_statuses", p->throttle_statuses, 8, throttle_default, 1);
	jv rh = get_member(p->json, "rate_limit_headers", JV_KIND_OBJECT);
	if (jv_get_kind(rh) == JV_KIND_OBJECT) {
		p->reset_header = get_string(rh, "reset", NULL);
		p->reset_unit = get_string(rh, "reset_unit", "epoch");
		p->remaining_header = get_string(rh, "remaining", NULL);
	}
	jv_free(rh);
	if (load_windows(p, err, errlen) < 0)
		return -1;
	if (p->driver != NULL)
		return 0;
	/* the profile's programs compiled as one (rxjq.h): a start-up 4x faster */
	rx_jq_group_begin();
	int rc = compile(&p->response, p->json, "response", p, &p->has_response, &p->response_records, err, errlen);
	if (rc == 0)
		rc = load_success(p, p->json, &p->success, NULL, "", p->has_response, err, errlen);
	if (rc == 0)
		rc = load_ops(p, err, errlen);
	if (rc == 0)
		rc = load_identity(p, err, errlen);
	if (rx_jq_group_end(rc == 0, err, errlen) < 0)
		rc = -1;
	return rc;
}

const push_op *rx_push_profile_op(const push_profile *p, const char *op)
{
	const push_op *any = NULL;

	for (size_t i = 0; i < p->nops; i++) {
		if (strcmp(p->ops[i].name, op) == 0)
			return &p->ops[i];
		if (strcmp(p->ops[i].name, "*") == 0)
			any = &p->ops[i];
	}
	return any;
}

static void spec_free(push_op *o)
{
	free(o->method);
	free(o->path);
	jv_free(o->query);
	jv_free(o->headers);
	free(o->content_type);
	if (o->tmpl != NULL)
		rx_push_tmpl_free(o->tmpl);
	else if (o->has_body)
		rx_jq_free(&o->body);
	if (o->has_path_program)
		rx_jq_free(&o->path_program);
	if (o->has_response)
		rx_jq_free(&o->response);
	rx_push_success_free(o->success);
	if (o->has_job)
		rx_jq_free(&o->job_id);
	if (o->poll != NULL) {
		spec_free(o->poll);
		free(o->poll);
	}
	if (o->create != NULL) {
		spec_free(o->create);
		free(o->create);
	}
}

void rx_push_profile_free(push_profile *p)
{
	for (size_t i = 0; i < p->nops; i++)
		spec_free(&p->ops[i]);
	free(p->ops);
	if (p->has_lookup)
		spec_free(&p->lookup);
	if (p->has_response)
		rx_jq_free(&p->response);
	rx_push_success_free(p->success);
	jv_free(p->json);
	jv_free(p->headers);
	jv_free(p->vars);
	jv_free(p->unset_vars);
	jv_free(p->auth);
	free(p->name);
	free(p->driver);
	free(p->url);
	free(p->url_missing);
	free(p->table);
	free(p->key);
	free(p->content_type);
	free(p->reset_header);
	free(p->reset_unit);
	free(p->remaining_header);
	free(p->idem_header);
	for (size_t i = 0; p->modules != NULL && p->modules[i] != NULL; i++)
		free(p->modules[i]);
	free(p->modules);
	free(p->dir);
	for (size_t i = 0; i < p->nresponse_members; i++)
		free(p->response_members[i]);
	free(p->response_members);
	jv_free(p->response_names);
	memset(p, 0, sizeof *p);
}

static void put_encoded(rx_buf *out, const char *s, size_t n, int encode)
{
	if (encode)
		rx_url_encode(out, s, n, 0);
	else
		rx_buf_put(out, s, n);
}

/* A value "." or ".." would be a dot segment: /contacts/.. is / to every
 * URL parser on the way. */
static void put_segment(rx_buf *out, const char *s, size_t n)
{
	if ((n == 1 && s[0] == '.') || (n == 2 && memcmp(s, "..", 2) == 0))
		rx_buf_puts(out, n == 1 ? "%2E" : "%2E%2E");
	else
		rx_url_encode(out, s, n, 0);
}

/* A path of segments: each one encoded (a dot segment too), the "/"
 * between them kept. */
static void put_segments(rx_buf *out, const char *s, size_t n)
{
	for (;;) {
		const char *slash = memchr(s, '/', n);
		size_t k = slash != NULL ? (size_t)(slash - s) : n;
		put_segment(out, s, k);
		if (slash == NULL)
			break;
		rx_buf_putc(out, '/');
		s += k + 1;
		n -= k + 1;
	}
}

void rx_push_template(rx_buf *out, const char *tmpl, const push_profile *p, const char *op,
		   const push_record *first, int encode)
{
	push_record *one = (push_record *)first;
	rx_push_template_request(out, tmpl, p, op, first ? &one : NULL, first ? 1 : 0, NULL, encode);
}

void rx_push_template_request(rx_buf *out, const char *tmpl, const push_profile *p, const char *op,
			      push_record *const *recs, size_t n, const char *job, int encode)
{
	const push_record *first = recs != NULL && n > 0 ? recs[0] : NULL;
	rx_buf tmp = {0};

	for (const char *s = tmpl; *s; s++) {
		const char *end;
		if (*s != '{' || (end = strchr(s, '}')) == NULL) {
			rx_buf_putc(out, *s);
			continue;
		}
		char name[256];
		snprintf(name, sizeof name, "%.*s", (int)(end - s - 1), s + 1);
		rx_buf_reset(&tmp);
		if (strcmp(name, "op") == 0) {
			rx_buf_puts(&tmp, op);
		} else if (strcmp(name, "base") == 0) {
			rx_buf_puts(&tmp, p->url ? p->url : "");
			rx_buf_puts(out, tmp.data);
			s = end;
			continue;
		} else if (strcmp(name, "key") == 0 && first != NULL) {
			rx_key_text(first->key, &tmp);
		} else if (strcmp(name, "id") == 0 && first != NULL && first->id.n > 0) {
			rx_key_text(first->id, &tmp); /* the destination's id */
		} else if (strcmp(name, "job") == 0 && job != NULL) {
			rx_buf_puts(&tmp, job);
		} else if (strcmp(name, "keys") == 0 || strcmp(name, "ids") == 0) {
			/* every record of the request, comma-separated, each encoded:
			 * APIs that delete a batch by ?ids=a,b,c */
			for (size_t i = 0; i < n; i++) {
				rx_buf one = {0};
				rx_span v = name[0] == 'k' ? recs[i]->key : recs[i]->id;
				if (v.n == 0)
					continue;
				rx_key_text(v, &one);
				if (i > 0)
					rx_buf_putc(out, ',');
				put_encoded(out, one.data ? one.data : "", one.len, encode);
				rx_buf_free(&one);
			}
			s = end;
			continue;
		} else if (strncmp(name, "row.", 4) == 0 && first != NULL && first->row.n > 0) {
			rx_members ms = {0};
			char err[128];
			if (rx_json_scan_object(first->row.p, first->row.n, &ms, err, sizeof err) == 0) {
				long i = rx_json_find(&ms, name + 4, strlen(name + 4));
				if (i >= 0)
					rx_key_text(ms.m[i].value, &tmp);
			}
			free(ms.m);
		} else {
			/* {+NAME}: a variable that is a path of segments (RFC 6570's
			 * reserved expansion, as Google's discovery documents write
			 * a multi-segment {+parent}): each segment encoded, its "/"
			 * kept.  Firestore reads a collection id as one segment and
			 * decodes a %2F in it: users%2Fu1%2Forders is the id
			 * "users/u1/orders", which it refuses, where
			 * users/u1/orders is the subcollection. */
			int path = name[0] == '+';
			jv v = jv_object_get(jv_copy(p->vars), jv_string(name + path));
			if (jv_get_kind(v) == JV_KIND_STRING)
				rx_buf_puts(&tmp, jv_string_value(v));
			else if (jv_get_kind(v) == JV_KIND_NUMBER)
				rx_buf_printf(&tmp, "%g", jv_number_value(v));
			jv_free(v);
			if (path && encode) {
				put_segments(out, tmp.data ? tmp.data : "", tmp.len);
				s = end;
				continue;
			}
		}
		if (encode)
			put_segment(out, tmp.data ? tmp.data : "", tmp.len);
		else
			rx_buf_put(out, tmp.data ? tmp.data : "", tmp.len);
		s = end;
	}
	rx_buf_free(&tmp);
}

/* The record's members, the error member dropped, plus its idem. */
static void put_record(rx_buf *b, const push_record *r)
{
	rx_members ms = {0};
	char err[128];
	int first = 1;

	rx_buf_putc(b, '{');
	if (rx_json_members(r->text, r->len, &ms, err, sizeof err) == 0) {
		for (size_t i = 0; i < ms.n; i++) {
			if (rx_json_name_eq(ms.m[i].name, "error", 5) || rx_json_name_eq(ms.m[i].name, "idem", 4) ||
			    rx_json_name_eq(ms.m[i].name, "op", 2))
				continue;
			if (!first)
				rx_buf_putc(b, ',');
			first = 0;
			rx_buf_put(b, ms.m[i].name.p, ms.m[i].name.n);
			rx_buf_putc(b, ':');
			rx_json_put_compact(b, ms.m[i].value);
		}
	}
	free(ms.m);
	if (!first)
		rx_buf_putc(b, ',');
	rx_buf_printf(b, "\"op\":\"%s\",\"idem\":\"%s\"}", r->op, rx_push_idem(r));
}

/* The jv strings a record's jv is built of again and again (its member
 * names, its op), each made once and copied (a reference count): a jv
 * string costs a malloc and a UTF-8 check, and a record has a dozen. */
static jv known_name(rx_span name)
{
	static const char *const names[] = {"key", "hash", "run", "row", "id", "changed", "op", "idem"};
	static jv made[sizeof names / sizeof *names];
	static int ready;

	if (!ready) {
		for (size_t i = 0; i < sizeof names / sizeof *names; i++)
			made[i] = jv_string(names[i]);
		ready = 1;
	}
	/* the raw name, quotes and all: an escaped one is looked up as any other */
	for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
		size_t len = strlen(names[i]);
		if (name.n == len + 2 && memcmp(name.p + 1, names[i], len) == 0)
			return jv_copy(made[i]);
	}
	return rx_jv_from_json(name.p, name.n);
}

static jv op_jv(const char *op)
{
	static const char *const ops[] = {"insert", "update", "upsert", "delete"};
	static jv made[4];
	static int ready;

	if (!ready) {
		for (size_t i = 0; i < 4; i++)
			made[i] = jv_string(ops[i]);
		ready = 1;
	}
	for (size_t i = 0; i < 4; i++)
		if (strcmp(op, ops[i]) == 0)
			return jv_copy(made[i]);
	return jv_string(op);
}

/* The last "run" value seen: a batch's records share one. */
static jv run_jv(rx_span v)
{
	static char last[128];
	static size_t last_n;
	static jv made;

	if (v.n > 0 && v.n == last_n && memcmp(v.p, last, v.n) == 0)
		return jv_copy(made);
	jv r = rx_jv_from_json(v.p, v.n);
	if (v.n <= sizeof last) {
		if (last_n > 0)
			jv_free(made);
		memcpy(last, v.p, v.n);
		last_n = v.n;
		made = jv_copy(r);
	}
	return r;
}

/* The record as put_record writes it, built as a jv member by member from
 * the spans of its text (rx_jv_from_json: no printing and parsing again);
 * with raw >= 0 its row is the marker of record number raw. */
static jv record_jv(const push_record *r, rx_members *ms, long raw)
{
	char err[128];
	jv o = jv_object();

	if (r->plain) {
		/* its members' spans are known: no second scan of its text */
		static const char *const names[] = {"", "\"key\"", "\"hash\"", "\"run\"", "\"row\"", "\"id\""};
		for (unsigned k = 0; k < r->norder; k++) {
			int code = r->order[k];
			jv name = known_name(rx_span_of(names[code], strlen(names[code]))), v;
			switch (code) {
			case RX_MEMBER_KEY: v = rx_jv_from_json(r->key.p, r->key.n); break;
			case RX_MEMBER_HASH: v = rx_jv_from_json(r->hash.p, r->hash.n); break;
			case RX_MEMBER_RUN: v = run_jv(r->run); break;
			case RX_MEMBER_ROW:
				if (raw == -2)
					continue;
				if (raw >= 0) {
					char m[80];
					snprintf(m, sizeof m, "%s%ld", row_marker, raw);
					v = jv_string(m);
				} else {
					v = rx_jv_from_json(r->row.p, r->row.n);
				}
				break;
			default: v = rx_jv_from_json(r->id.p, r->id.n); break;
			}
			o = jv_object_set(o, name, v);
		}
		o = jv_object_set(o, known_name(rx_span_of("\"op\"", 4)), op_jv(r->op));
		return jv_object_set(o, known_name(rx_span_of("\"idem\"", 6)), jv_string(rx_push_idem(r)));
	}
	if (rx_json_members(r->text, r->len, ms, err, sizeof err) < 0) {
		jv_free(o);
		return jv_null();
	}
	for (size_t i = 0; i < ms->n; i++) {
		if (rx_json_name_eq(ms->m[i].name, "error", 5) || rx_json_name_eq(ms->m[i].name, "idem", 4) ||
		    rx_json_name_eq(ms->m[i].name, "op", 2))
			continue;
		jv k = known_name(ms->m[i].name);
		if (jv_get_kind(k) != JV_KIND_STRING) {
			jv_free(k);
			continue;
		}
		if (raw == -2 && rx_json_name_eq(ms->m[i].name, "row", 3))
			continue;
		if (raw >= 0 && rx_json_name_eq(ms->m[i].name, "row", 3)) {
			char m[80];
			snprintf(m, sizeof m, "%s%ld", row_marker, raw);
			o = jv_object_set(o, k, jv_string(m));
			continue;
		}
		if (rx_json_name_eq(ms->m[i].name, "run", 3))
			o = jv_object_set(o, k, run_jv(ms->m[i].value));
		else
			o = jv_object_set(o, k, rx_jv_from_json(ms->m[i].value.p, ms->m[i].value.n));
	}
	o = jv_object_set(o, known_name(rx_span_of("\"op\"", 4)), op_jv(r->op));
	return jv_object_set(o, known_name(rx_span_of("\"idem\"", 6)), jv_string(rx_push_idem(r)));
}

static jv records_jv(push_record **recs, size_t n, int raw_rows)
{
	jv a = jv_array();
	rx_members ms = {0};

	for (size_t i = 0; i < n; i++)
		a = jv_array_append(a, record_jv(recs[i], &ms, raw_rows ? (long)i : -1));
	free(ms.m);
	return a;
}

jv rx_push_records_jv(push_record **recs, size_t n)
{
	return records_jv(recs, n, 0);
}

/* For a response program: without their rows when the profile says its
 * response programs never read them ("response_rows": false): building a
 * row costs more than the rest of the record. */
/* A record whose row has only the members the profile's "response_rows"
 * names (those it has). */
static jv record_projected(const push_profile *p, const push_record *r, rx_members *ms, rx_members *rowms)
{
	char err[128];
	jv o = record_jv(r, ms, -2), row;

	if (r->row.n == 0 || rx_json_kind(r->row) != 'o' ||
	    rx_json_members(r->row.p, r->row.n, rowms, err, sizeof err) < 0) {
		row = r->row.n > 0 ? rx_jv_from_json(r->row.p, r->row.n) : jv_null();
	} else {
		row = jv_object();
		for (size_t i = 0; i < p->nresponse_members; i++) {
			const char *name = p->response_members[i];
			long at = rx_json_find(rowms, name, strlen(name));
			if (at >= 0)
				row = jv_object_set(row, jv_array_get(jv_copy(p->response_names), (int)i),
						    rx_jv_from_json(rowms->m[at].value.p, rowms->m[at].value.n));
		}
	}
	return jv_object_set(o, known_name(rx_span_of("\"row\"", 5)), row);
}

jv rx_push_response_records(const push_profile *p, push_record **recs, size_t n)
{
	if (p->nresponse_members > 0) {
		jv a = jv_array();
		rx_members ms = {0}, rowms = {0};
		for (size_t i = 0; i < n; i++)
			a = jv_array_append(a, record_projected(p, recs[i], &ms, &rowms));
		free(ms.m);
		free(rowms.m);
		return a;
	}
	if (p->response_rows)
		return records_jv(recs, n, 0);
	jv a = jv_array();
	for (size_t i = 0; i < n; i++) {
		jv o = jv_object_set(jv_object(), known_name(rx_span_of("\"key\"", 5)),
				     rx_jv_from_json(recs[i]->key.p, recs[i]->key.n));
		o = jv_object_set(o, known_name(rx_span_of("\"op\"", 4)), op_jv(recs[i]->op));
		a = jv_array_append(a, jv_object_set(o, known_name(rx_span_of("\"idem\"", 6)), jv_string(rx_push_idem(recs[i]))));
	}
	return a;
}

typedef struct splice {
	push_record **recs;
	size_t n;
} splice;

/* A row marker is written as the row's own text. */
static int splice_row(rx_buf *b, const char *s, size_t len, void *ctx)
{
	const splice *sp = ctx;

	if (len <= row_marker_len || memcmp(s, row_marker, row_marker_len) != 0)
		return 0;
	char digits[24];
	size_t dn = len - row_marker_len;
	if (dn >= sizeof digits)
		return 0;
	memcpy(digits, s + row_marker_len, dn);
	digits[dn] = '\0';
	char *end;
	unsigned long i = strtoul(digits, &end, 10);
	if (*end != '\0' || i >= sp->n)
		return 0;
	if (sp->recs[i]->row.n > 0)
		rx_json_put_compact(b, sp->recs[i]->row);
	else
		rx_buf_puts(b, "null");
	return 1;
}

/* {"api_key": "k", "identification": [...]} as api_key=k&identification=%5B...:
 * a string member as its text, anything else as its JSON, URL-encoded. */
static void put_form(rx_buf *body, jv obj, splice *sp)
{
	rx_buf json = {0};
	int first = 1;

	for (int i = jv_object_iter(obj); jv_object_iter_valid(obj, i); i = jv_object_iter_next(obj, i)) {
		jv k = jv_object_iter_key(obj, i), v = jv_object_iter_value(obj, i);
		if (!first)
			rx_buf_putc(body, '&');
		first = 0;
		rx_url_encode(body, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)), 0);
		rx_buf_putc(body, '=');
		if (jv_get_kind(v) == JV_KIND_STRING) {
			rx_url_encode(body, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)), 0);
			jv_free(v);
		} else {
			rx_buf_reset(&json);
			rx_jv_put_with(&json, v, sp != NULL ? splice_row : NULL, sp);
			rx_url_encode(body, json.data ? json.data : "", json.len, 0);
		}
		jv_free(k);
	}
	rx_buf_free(&json);
	jv_free(obj);
}

int rx_push_build_path(const push_profile *p, const push_op *op, push_record **recs, size_t n, rx_buf *out,
		       char *err, size_t errlen)
{
	jv in = jv_object(), path;

	in = jv_object_set(in, jv_string("op"), jv_string(recs[0]->op));
	in = jv_object_set(in, jv_string("records"), rx_push_records_jv(recs, n));
	int rc = rx_jq_run((rx_jq *)&op->path_program, in, &path, 1, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 0 || jv_get_kind(path) != JV_KIND_STRING) {
		snprintf(err, errlen, "profile %s: the path program of ops.%s gave %s, not a string", p->name, op->name,
			 rc == 0 ? "no output" : jv_kind_name(jv_get_kind(path)));
		if (rc == 1)
			jv_free(path);
		return -1;
	}
	rx_buf_reset(out);
	rx_buf_put(out, jv_string_value(path), (size_t)jv_string_length_bytes(jv_copy(path)));
	jv_free(path);
	return 0;
}

int rx_push_build_body(const push_profile *p, const push_op *op, push_record **recs, size_t n, rx_buf *body,
		       jv *records, char *err, size_t errlen)
{
	if (records != NULL)
		*records = jv_invalid();
	rx_buf_reset(body);
	if (!op->has_body) {
		rx_buf_printf(body, "{\"op\":\"%s\",\"records\":[", recs[0]->op);
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				rx_buf_putc(body, ',');
			put_record(body, recs[i]);
		}
		rx_buf_puts(body, "]}");
		return 0;
	}
	if (op->tmpl != NULL)
		return rx_push_tmpl_build(op->tmpl, recs[0]->op, recs, n, body, err, errlen);
	jv in = jv_object();
	jv out;
	in = jv_object_set(in, jv_string("op"), jv_string(recs[0]->op));
	/* a parse of each record: only for a program that reads them */
	jv built = op->body_records ? records_jv(recs, n, op->raw_rows) : jv_array();
	if (records != NULL && !op->raw_rows && op->body_records)
		*records = jv_copy(built);
	in = jv_object_set(in, jv_string("records"), built);
	int rc = rx_jq_run((rx_jq *)&op->body, in, &out, 1, err, errlen);
	if (rc < 0)
		return -1;
	if (rc == 0) {
		snprintf(err, errlen, "profile %s: the body program gave no output", p->name);
		return -1;
	}
	splice sp = {recs, n};
	if (jv_get_kind(out) == JV_KIND_STRING) {
		size_t len = (size_t)jv_string_length_bytes(jv_copy(out));
		if (op->raw_rows && memmem(jv_string_value(out), len, row_marker, row_marker_len) != NULL) {
			snprintf(err, errlen, "profile %s: raw_rows: a row can be placed in a JSON body, not inside a "
				 "string the body program builds", p->name);
			jv_free(out);
			return -1;
		}
		rx_buf_put(body, jv_string_value(out), len);
		jv_free(out);
	} else if (jv_get_kind(out) == JV_KIND_OBJECT && strncmp(op->content_type ? op->content_type : p->content_type,
												      "application/x-www-form-urlencoded", 33) == 0) {
		put_form(body, out, op->raw_rows ? &sp : NULL);
	} else if (op->raw_rows) {
		rx_jv_put_with(body, out, splice_row, &sp);
	} else {
		rx_jv_put(body, out);
	}
	if (op->raw_rows) {
		/* a marker that is not a whole string (tostring, a key, "\(.row)") was not replaced */
		char esc[64];
		int en = snprintf(esc, sizeof esc, "\\u001erx-row %s", row_marker + 8);
		if (memmem(body->data, body->len, esc, (size_t)en - 1) != NULL) {
			snprintf(err, errlen, "profile %s: raw_rows: the body program used a row other than by placing "
				 "it whole (it may not read, change or quote a row)", p->name);
			return -1;
		}
	}
	return 0;
}
