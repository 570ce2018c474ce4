/*
 * rxjq.c - libjq 1.6 driven the way jq's own main.c drives it, plus the
 * profile loader.
 *
 * jq 1.6 has no jq_set_stderr_cb; compile errors arrive through the error
 * callback, which collects them into q->errors.  A run ends when jq_next
 * returns an invalid value: with a message it is an error, without one
 * it is the end of the outputs.
 *
 * Values in and out of jq are the costly part of a profile's programs
 * (jq 1.6's parser and printer work a character at a time): rx_jv_from_json
 * builds a jv from JSON rx already scanned, and rx_jv_put prints one, both
 * byte for byte as jq would (t/unit/lib.c compares them with jq's own on
 * many values).
 */
#include "rxjq.h"

#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Append s with its newlines folded, so a diagnostic stays one line. */
static void put_one_line(rx_buf *b, const char *s)
{
	if (b->len > 0)
		rx_buf_puts(b, "; ");
	for (; *s; s++)
		rx_buf_putc(b, *s == '\n' ? ' ' : *s);
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

static void collect_error(void *data, jv msg)
{
	rx_buf *b = data;

	if (jv_get_kind(msg) != JV_KIND_STRING)
		msg = jq_format_error(msg);
	if (jv_get_kind(msg) == JV_KIND_STRING)
		put_one_line(b, jv_string_value(msg));
	jv_free(msg);
}

int rx_jq_compile(rx_jq *q, const char *program, jv args, const char *what, char *err, size_t errlen)
{
	return rx_jq_compile_with(q, program, args, NULL, NULL, what, err, errlen);
}

/*
 * Programs compiled, by their text, library path and arguments: a profile
 * names one function for several ops (HubSpot's insert, upsert and update
 * answer with one response program), and jq 1.6 spends some 200M
 * instructions compiling each (it binds its builtins again every time),
 * so an identical program shares its jq_state.  A state runs one program
 * to its end at a time (rx_jq_run), so sharing it is safe; the last
 * rx_jq_free tears it down.
 */
typedef struct shared_jq {
	jq_state *jq;
	char *key;
	int refs;
	rx_buf errors; /* what jq reports after the compile */
	struct shared_jq *next;
} shared_jq;

static shared_jq *compiled;

/*
 * A group: the programs of one profile that share a library path,
 * modules and arguments, compiled as one jq program,
 *
 *     include "rx"; include "braze";
 *     def __rx_p0: braze_delete_response
 *     ;
 *     def __rx_p1: braze_response
 *     ;
 *     .[0] as $__rx_i | .[1] | if $__rx_i == 0 then __rx_p0 elif ... end
 *
 * run on [index, input].  A program's own defs, comments and variables
 * read the same inside a def; one that includes or imports a module
 * itself (only at a program's top) is compiled alone.  Should the whole
 * not compile while each part does, each part gets its own state.
 */
struct rx_jq_group {
	char *key;      /* libdir, dir, arguments and includes */
	char *libdir;   /* or NULL */
	char *prefix;   /* the includes */
	jv args;
	char **texts, **whats;
	size_t n, cap;
	jq_state *jq;   /* the programs as one, or NULL */
	jq_state **jqs; /* else one each (or none: not compiled) */
	rx_buf errors;
	int refs;
	struct rx_jq_group *next;
};

static int grouping;
static rx_jq_group *groups;

/* The includes every program starts with, into prefix; dir: share/rx/jq. */
static void put_prefix(rx_buf *prefix, const char *const *modules, char *dir, size_t dirlen)
{
	char libfile[4200];

	snprintf(dir, dirlen, "%s/jq", rx_share_dir());
	/* on the program's first line, so jq's line numbers stay right */
	snprintf(libfile, sizeof libfile, "%s/rx.jq", dir);
	if (access(libfile, R_OK) == 0)
		rx_buf_puts(prefix, "include \"rx\"; ");
	for (size_t i = 0; modules != NULL && modules[i] != NULL; i++)
		rx_buf_printf(prefix, "include \"%s\"; ", modules[i]);
}

/* A jq state reading modules from libdir, then dir (share/rx/jq). */
static jq_state *new_state(const char *libdir, const char *dir, rx_buf *errors)
{
	jv path = jv_array();
	jq_state *jq = jq_init();

	if (jq == NULL)
		rx_die(RX_EXIT_FAIL, "cannot start jq: out of memory");
	jq_set_error_cb(jq, collect_error, errors);
	if (libdir != NULL)
		path = jv_array_append(path, jv_string(libdir)); /* modules beside the profile first */
	path = jv_array_append(path, jv_string(dir));
	jq_set_attr(jq, jv_string("JQ_LIBRARY_PATH"), path);
	return jq;
}

void rx_jq_group_begin(void)
{
	grouping = 1;
}

/* Note program in its group (made on first use). */
static void group_add(rx_jq *q, const char *program, jv args, const char *libdir, const char *const *modules,
		      const char *what)
{
	char dir[4096];
	rx_buf key = {0}, prefix = {0};

	put_prefix(&prefix, modules, dir, sizeof dir);
	jv dumped = jv_dump_string(jv_copy(args), JV_PRINT_SORTED);
	rx_buf_printf(&key, "%s\n%s\n%s\n%s", libdir ? libdir : "", dir, jv_string_value(dumped), prefix.data ? prefix.data : "");
	jv_free(dumped);
	rx_jq_group *g = groups;
	while (g != NULL && (g->jq != NULL || g->jqs != NULL || strcmp(g->key, key.data) != 0))
		g = g->next;
	if (g == NULL) {
		g = calloc(1, sizeof *g);
		if (g == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		g->key = key.data;
		key.data = NULL;
		g->libdir = libdir ? rx_xstrdup(libdir) : NULL;
		g->prefix = prefix.data ? prefix.data : rx_xstrdup("");
		prefix.data = NULL;
		g->args = jv_copy(args);
		g->next = groups;
		groups = g;
	}
	rx_buf_free(&key);
	rx_buf_free(&prefix);
	jv_free(args);
	size_t i = 0;
	while (i < g->n && strcmp(g->texts[i], program) != 0)
		i++;
	if (i == g->n) {
		if (g->n == g->cap) {
			g->cap = g->cap ? 2 * g->cap : 8;
			g->texts = rx_xrealloc(g->texts, g->cap * sizeof *g->texts);
			g->whats = rx_xrealloc(g->whats, g->cap * sizeof *g->whats);
		}
		g->texts[g->n] = rx_xstrdup(program);
		g->whats[g->n] = rx_xstrdup(what);
		g->n++;
	}
	q->group = g;
	q->index = (int)i;
	g->refs++;
}

static jq_state *compile_text(const rx_jq_group *g, const char *program, rx_buf *errors)
{
	char dir[4096];
	rx_buf text = {0};

	snprintf(dir, sizeof dir, "%s/jq", rx_share_dir());
	jq_state *jq = new_state(g->libdir, dir, errors);
	rx_buf_puts(&text, g->prefix);
	rx_buf_puts(&text, program);
	int ok = jq_compile_args(jq, text.data, jv_copy(g->args));
	rx_buf_free(&text);
	if (!ok)
		jq_teardown(&jq);
	return jq;
}

static int group_compile(rx_jq_group *g, char *err, size_t errlen)
{
	if (g->n > 1) {
		rx_buf all = {0};
		for (size_t i = 0; i < g->n; i++)
			rx_buf_printf(&all, "def __rx_p%zu: %s\n;\n", i, g->texts[i]);
		rx_buf_puts(&all, ".[0] as $__rx_i | .[1] | ");
		for (size_t i = 0; i < g->n; i++)
			rx_buf_printf(&all, "%s $__rx_i == %zu then __rx_p%zu ", i ? "elif" : "if", i, i);
		rx_buf_puts(&all, "else error(\"rx: no such program\") end");
		g->jq = compile_text(g, all.data, &g->errors);
		rx_buf_free(&all);
		if (g->jq != NULL)
			return 0;
		rx_buf_reset(&g->errors);
	}
	/* one state each: the first that does not compile is the message */
	g->jqs = calloc(g->n, sizeof *g->jqs);
	if (g->jqs == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	for (size_t i = 0; i < g->n; i++) {
		rx_buf errors = {0};
		g->jqs[i] = compile_text(g, g->texts[i], &errors);
		if (g->jqs[i] == NULL) {
			snprintf(err, errlen, "%s does not compile: %s; the program: %s", g->whats[i],
				 errors.len ? errors.data : "unknown error", g->texts[i]);
			rx_buf_free(&errors);
			return -1;
		}
		/* later messages (jq's warnings at run time) go to the group */
		jq_set_error_cb(g->jqs[i], collect_error, &g->errors);
		rx_buf_free(&errors);
	}
	return 0;
}

int rx_jq_group_end(int ok, char *err, size_t errlen)
{
	int rc = 0;

	grouping = 0;
	for (rx_jq_group *g = groups; g != NULL; g = g->next) {
		if (g->jq != NULL || g->jqs != NULL)
			continue;
		if (!ok || rc < 0) {
			g->jqs = calloc(g->n ? g->n : 1, sizeof *g->jqs); /* none compiled */
			if (g->jqs == NULL)
				rx_die(RX_EXIT_FAIL, "out of memory");
			continue;
		}
		if (group_compile(g, err, errlen) < 0)
			rc = -1;
	}
	return rc;
}

static void group_free(rx_jq_group *g)
{
	for (rx_jq_group **at = &groups; *at != NULL; at = &(*at)->next) {
		if (*at != g)
			continue;
		*at = g->next;
		break;
	}
	if (g->jq != NULL)
		jq_teardown(&g->jq);
	for (size_t i = 0; g->jqs != NULL && i < g->n; i++)
		if (g->jqs[i] != NULL)
			jq_teardown(&g->jqs[i]);
	free(g->jqs);
	for (size_t i = 0; i < g->n; i++) {
		free(g->texts[i]);
		free(g->whats[i]);
	}
	free(g->texts);
	free(g->whats);
	free(g->key);
	free(g->libdir);
	free(g->prefix);
	jv_free(g->args);
	rx_buf_free(&g->errors);
	free(g);
}

/* Does program hold the directive word ("include" or "import") followed by
 * a module's path in quotes?  (mixpanel_import_body is a name, not one.) */
static int has_directive(const char *program, const char *word)
{
	size_t n = strlen(word);

	for (const char *at = strstr(program, word); at != NULL; at = strstr(at + 1, word)) {
		if (at > program && (isalnum((unsigned char)at[-1]) || at[-1] == '_'))
			continue;
		const char *q = at + n;
		while (*q == ' ' || *q == '\t' || *q == '\n' || *q == '\r')
			q++;
		if (*q == '"')
			return 1;
	}
	return 0;
}

int rx_jq_compile_with(rx_jq *q, const char *program, jv args, const char *libdir, const char *const *modules,
		       const char *what, char *err, size_t errlen)
{
	char dir[4096];
	rx_buf text = {0};
	int ok;

	memset(q, 0, sizeof *q);
	if (jv_get_kind(args) != JV_KIND_OBJECT) {
		jv_free(args);
		args = jv_object();
	}
	if (grouping && !has_directive(program, "include") && !has_directive(program, "import")) {
		group_add(q, program, args, libdir, modules, what);
		return 0;
	}
	put_prefix(&text, modules, dir, sizeof dir);
	q->jq = new_state(libdir, dir, &q->errors);
	rx_buf_puts(&text, program);
	/* the key: the library path, the program as compiled and its arguments */
	rx_buf key = {0};
	jv dumped = jv_dump_string(jv_copy(args), JV_PRINT_SORTED);
	rx_buf_printf(&key, "%s\n%s\n%s\n", libdir ? libdir : "", dir, jv_string_value(dumped));
	jv_free(dumped);
	rx_buf_puts(&key, text.data);
	for (shared_jq *s = compiled; s != NULL; s = s->next) {
		if (strcmp(s->key, key.data) == 0) {
			jq_teardown(&q->jq);
			jv_free(args);
			q->jq = s->jq;
			s->refs++;
			rx_buf_free(&text);
			rx_buf_free(&key);
			return 0;
		}
	}
	ok = jq_compile_args(q->jq, text.data, args);
	rx_buf_free(&text);
	if (!ok) {
		rx_buf_free(&key);
		snprintf(err, errlen, "%s does not compile: %s; the program: %s", what,
			 q->errors.len ? q->errors.data : "unknown error", program);
		return -1;
	}
	shared_jq *s = calloc(1, sizeof *s);
	if (s == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	s->jq = q->jq;
	s->key = key.data; /* kept */
	s->refs = 1;
	s->next = compiled;
	compiled = s;
	jq_set_error_cb(q->jq, collect_error, &s->errors); /* outlives this rx_jq */
	return 0;
}

int rx_jq_run(rx_jq *q, jv input, jv *out, int first_only, char *err, size_t errlen)
{
	jv result, all = jv_invalid();
	int count = 0;
	jq_state *jq = q->jq;

	if (q->group != NULL) {
		if (q->group->jq != NULL) {
			jq = q->group->jq;
			input = jv_array_append(jv_array_append(jv_array(), jv_number(q->index)), input);
		} else {
			jq = q->group->jqs != NULL ? q->group->jqs[q->index] : NULL;
		}
	}
	if (jq == NULL) {
		jv_free(input);
		snprintf(err, errlen, "the program was never compiled");
		return -1;
	}
	jq_start(jq, input, 0);
	for (;;) {
		result = jq_next(jq);
		if (!jv_is_valid(result))
			break;
		if (count == 0) {
			*out = result;
		} else if (first_only) {
			jv_free(result);
		} else {
			if (count == 1)
				all = jv_array_append(jv_array(), *out);
			all = jv_array_append(all, result);
		}
		count++;
	}
	if (jv_invalid_has_msg(jv_copy(result))) {
		jv msg = jv_invalid_get_msg(result);
		if (jv_get_kind(msg) == JV_KIND_STRING) {
			snprintf(err, errlen, "%s", jv_string_value(msg));
		} else {
			jv s = jv_dump_string(msg, 0);
			snprintf(err, errlen, "%s (not a string)", jv_string_value(s));
			msg = s;
		}
		jv_free(msg);
		if (count > 0)
			jv_free(*out);
		jv_free(all);
		return -1;
	}
	jv_free(result);
	if (count > 1 && !first_only) {
		*out = all;
		return 1;
	}
	return count > 0 ? 1 : 0;
}

void rx_jq_free(rx_jq *q)
{
	if (q->group != NULL) {
		if (--q->group->refs == 0)
			group_free(q->group);
		q->group = NULL;
		rx_buf_free(&q->errors);
		return;
	}
	for (shared_jq **at = &compiled; q->jq != NULL && *at != NULL; at = &(*at)->next) {
		shared_jq *s = *at;
		if (s->jq != q->jq)
			continue;
		q->jq = NULL;
		if (--s->refs > 0)
			break;
		*at = s->next;
		jq_teardown(&s->jq);
		rx_buf_free(&s->errors);
		free(s->key);
		free(s);
		break;
	}
	if (q->jq != NULL)
		jq_teardown(&q->jq);
	rx_buf_free(&q->errors);
}

static jv from_json(const char **pp, const char *end, int depth);
static const char *skip_ws(const char *p, const char *end);

int rx_jv_parse(const char *s, size_t n, jv *out, char *err, size_t errlen)
{
	/* a reply is most often plain JSON: built as rx_jv_from_json builds it
	 * (as jq's parser would, several times cheaper); anything else, and
	 * every error message, is jq's parser's */
	const char *p = s, *end = s + n;
	jv v = from_json(&p, end, 0);

	if (jv_is_valid(v) && skip_ws(p, end) == end) {
		*out = v;
		return 0;
	}
	jv_free(v);
	v = jv_parse_sized(s, (int)n);
	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		snprintf(err, errlen, "cannot parse JSON: %s",
			 jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "invalid");
		jv_free(msg);
		return -1;
	}
	*out = v;
	return 0;
}

/* ---- JSON to jv ---- */

static const char *skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* Are the escapes of the string body [p, end) all ones rx_json_string_decode
 * decodes as jq's parser does: a valid one, and no \u of a UTF-16
 * surrogate (jq pairs those its own way)? */
static int plain_escapes(const char *p, const char *end)
{
	for (; p < end; p++) {
		if (*p != '\\')
			continue;
		if (++p >= end)
			return 0;
		switch (*p) {
		case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
			break;
		case 'u':
			if (end - p < 5 || rx_hexval(p[1]) < 0 || rx_hexval(p[2]) < 0 || rx_hexval(p[3]) < 0 ||
			    rx_hexval(p[4]) < 0 || (rx_hexval(p[1]) == 0xD && rx_hexval(p[2]) >= 8))
				return 0;
			p += 4;
			break;
		default:
			return 0;
		}
	}
	return 1;
}

/* One value at *pp (advanced past it), or jv_invalid() when what is there
 * is not the JSON expected. */
static jv from_json(const char **pp, const char *end, int depth)
{
	const char *p = skip_ws(*pp, end);
	jv v = jv_invalid();

	if (p >= end || depth > 256)
		return v;
	switch (*p) {
	case '{': {
		v = jv_object();
		p = skip_ws(p + 1, end);
		if (p < end && *p == '}') {
			p++;
			break;
		}
		for (;;) {
			const char *q = p;
			jv k = from_json(&q, end, depth + 1);
			if (jv_get_kind(k) != JV_KIND_STRING) {
				jv_free(k);
				jv_free(v);
				return jv_invalid();
			}
			q = skip_ws(q, end);
			if (q >= end || *q != ':') {
				jv_free(k);
				jv_free(v);
				return jv_invalid();
			}
			q++;
			jv x = from_json(&q, end, depth + 1);
			if (!jv_is_valid(x)) {
				jv_free(k);
				jv_free(v);
				return x;
			}
			v = jv_object_set(v, k, x);
			p = skip_ws(q, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			if (p < end && *p == '}') {
				p++;
				break;
			}
			jv_free(v);
			return jv_invalid();
		}
		break;
	}
	case '[': {
		v = jv_array();
		p = skip_ws(p + 1, end);
		if (p < end && *p == ']') {
			p++;
			break;
		}
		for (;;) {
			jv x = from_json(&p, end, depth + 1);
			if (!jv_is_valid(x)) {
				jv_free(v);
				return x;
			}
			v = jv_array_append(v, x);
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p++;
				continue;
			}
			if (p < end && *p == ']') {
				p++;
				break;
			}
			jv_free(v);
			return jv_invalid();
		}
		break;
	}
	case '"': {
		const char *q = p + 1;
		int escaped = 0;
		while (q < end && *q != '"') {
			if (*q == '\\') {
				escaped = 1;
				q++;
			} else if ((unsigned char)*q < 0x20) {
				return jv_invalid();
			}
			q++;
		}
		if (q >= end)
			return jv_invalid();
		if (escaped && plain_escapes(p + 1, q)) {
			/* "\u00fc" (Python's replies), "\n": decoded here; a surrogate
			 * escape, or a bad one, is left to jq's parser */
			static _Thread_local rx_buf text;
			rx_buf_reset(&text);
			rx_json_string_decode(rx_span_of(p, (size_t)(q + 1 - p)), &text);
			v = jv_string_sized(text.data ? text.data : "", (int)text.len);
		} else if (escaped) {
			/* rare: jq's own parser unescapes it, as jq would */
			v = jv_parse_sized(p, (int)(q + 1 - p));
			if (jv_get_kind(v) != JV_KIND_STRING) {
				jv_free(v);
				return jv_invalid();
			}
		} else {
			v = jv_string_sized(p + 1, (int)(q - p - 1)); /* checks the UTF-8 as the parser does */
		}
		p = q + 1;
		break;
	}
	case 't':
		if (end - p < 4 || memcmp(p, "true", 4) != 0)
			return v;
		v = jv_true();
		p += 4;
		break;
	case 'f':
		if (end - p < 5 || memcmp(p, "false", 5) != 0)
			return v;
		v = jv_false();
		p += 5;
		break;
	case 'n':
		if (end - p < 4 || memcmp(p, "null", 4) != 0)
			return v;
		v = jv_null();
		p += 4;
		break;
	default: {
		char num[64];
		const char *q = p;
		while (q < end && ((*q >= '0' && *q <= '9') || *q == '-' || *q == '+' || *q == '.' || *q == 'e' ||
				   *q == 'E'))
			q++;
		if (q == p || (size_t)(q - p) >= sizeof num) {
			/* a number of 64 characters or more: jq's own parser */
			if (q == p)
				return v;
			v = jv_parse_sized(p, (int)(q - p));
			if (jv_get_kind(v) != JV_KIND_NUMBER) {
				jv_free(v);
				return jv_invalid();
			}
			p = q;
			break;
		}
		memcpy(num, p, (size_t)(q - p));
		num[q - p] = '\0';
		char *stop;
		double d = strtod(num, &stop); /* correctly rounded, as jq's jvp_strtod */
		if (*stop != '\0')
			return v;
		v = jv_number(d);
		p = q;
		break;
	}
	}
	*pp = p;
	return v;
}

jv rx_jv_from_json(const char *s, size_t n)
{
	const char *p = s, *end = s + n;
	jv v = from_json(&p, end, 0);

	if (jv_is_valid(v) && skip_ws(p, end) == end)
		return v;
	jv_free(v);
	/* not what rx's scanners pass on: jq's parser has the last word */
	v = jv_parse_sized(s, (int)n);
	if (!jv_is_valid(v)) {
		jv_free(v);
		return jv_null();
	}
	return v;
}

/* ---- jv to JSON, as jq 1.6 prints it ---- */

/* jq's strings: valid UTF-8 (jv guarantees it); ", \ and the control
 * characters escaped (\b \t \r \n \f by name, the others and DEL as
 * \u00xx, lowercase), everything else as its bytes. */
static void put_jq_string(rx_buf *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t i = 0;

	rx_buf_reserve(b, n + 2);
	rx_buf_putc(b, '"');
	while (i < n) {
		size_t j = i;
		while (j < n) {
			unsigned char c = (unsigned char)s[j];
			if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f)
				break;
			j++;
		}
		rx_buf_put(b, s + i, j - i);
		if (j >= n)
			break;
		unsigned char c = (unsigned char)s[j];
		switch (c) {
		case '"': rx_buf_puts(b, "\\\""); break;
		case '\\': rx_buf_puts(b, "\\\\"); break;
		case '\b': rx_buf_puts(b, "\\b"); break;
		case '\t': rx_buf_puts(b, "\\t"); break;
		case '\r': rx_buf_puts(b, "\\r"); break;
		case '\n': rx_buf_puts(b, "\\n"); break;
		case '\f': rx_buf_puts(b, "\\f"); break;
		default: {
			char u[7] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15], 0};
			rx_buf_put(b, u, 6);
		}
		}
		i = j + 1;
	}
	rx_buf_putc(b, '"');
}

/* The shortest digits that read back as d (|d| > 0, finite), as jq's
 * dtoa mode 0 finds them, and the decimal point's place: d = 0.DIGITS x
 * 10^decpt.  Correct rounding to 15, 16 and 17 digits: a value that 15
 * digits can name is named by the rounding to 15 digits, less its
 * trailing zeros (a double holds 15.9 digits; a subnormal fewer). */
static int shortest_digits(double d, char *digits, int *decpt)
{
	char buf[40];
	int n = 0;

	/* a subnormal has fewer digits of precision: search from one digit */
	for (int prec = fabs(d) < DBL_MIN ? 1 : 15; prec <= 17; prec++) {
		snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
		if (strtod(buf, NULL) == d || prec == 17)
			break;
	}
	/* buf: [-]D.DDDDe[+-]XX */
	const char *p = buf + (buf[0] == '-');
	const char *e = strchr(p, 'e');
	for (const char *q = p; q < e; q++)
		if (*q != '.')
			digits[n++] = *q;
	while (n > 1 && digits[n - 1] == '0')
		n--;
	digits[n] = '\0';
	*decpt = atoi(e + 1) + 1;
	return n;
}

/* The digits of a decimal of at most 6 places and 15 digits, what data
 * mostly holds (prices, rates), found without shortest_digits' printing
 * and parsing: d is M / 10^k for the least k when that division, rounded
 * correctly as a parse of the decimal would be, gives d back; and a value
 * of at most 15 digits is named by them (see above).  0 when it is not
 * such a decimal. */
static int decimal_digits(double d, char *digits, int *decpt)
{
	static const double p10[] = {1, 10, 100, 1e3, 1e4, 1e5, 1e6};

	if (!(fabs(d) < 1e9))
		return 0;
	for (int k = 1; k <= 6; k++) {
		double m = nearbyint(d * p10[k]);
		if (m / p10[k] == d && m != 0) {
			int n = snprintf(digits, 24, "%lld", llabs((long long)m));
			*decpt = n - k;
			return n;
		}
	}
	return 0;
}

/* jq 1.6's jvp_dtoa_fmt (a g_fmt): an exponent when decpt <= -4 or when
 * it is more than 15 past the digits, else plain. */
static void put_jq_number(rx_buf *b, double d)
{
	char digits[24], out[64];
	int decpt, n, i = 0;

	if (d != d) {
		rx_buf_puts(b, "null");
		return;
	}
	if (d > DBL_MAX)
		d = DBL_MAX;
	if (d < -DBL_MAX)
		d = -DBL_MAX;
	if (d == 0) {
		rx_buf_puts(b, signbit(d) ? "-0" : "0");
		return;
	}
	if (d == floor(d) && fabs(d) < 1e15) {
		rx_buf_printf(b, "%lld", (long long)d); /* under 16 digits: always plain */
		return;
	}
	n = decimal_digits(d, digits, &decpt);
	if (n == 0)
		n = shortest_digits(d, digits, &decpt);
	if (d < 0)
		out[i++] = '-';
	if (decpt <= -4 || decpt > n + 15) {
		out[i++] = digits[0];
		if (n > 1) {
			out[i++] = '.';
			memcpy(out + i, digits + 1, (size_t)n - 1);
			i += n - 1;
		}
		int x = decpt - 1;
		i += snprintf(out + i, sizeof out - (size_t)i, "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
	} else if (decpt <= 0) {
		out[i++] = '0';
		out[i++] = '.';
		for (; decpt < 0; decpt++)
			out[i++] = '0';
		memcpy(out + i, digits, (size_t)n);
		i += n;
	} else {
		for (int k = 0; k < n; k++) {
			out[i++] = digits[k];
			if (k + 1 == decpt && k + 1 < n)
				out[i++] = '.';
		}
		for (; decpt > n; decpt--)
			out[i++] = '0';
	}
	rx_buf_put(b, out, (size_t)i);
}

static void put_jv(rx_buf *b, jv v, int depth, rx_jv_string_hook hook, void *ctx)
{
	switch (jv_get_kind(v)) {
	case JV_KIND_NULL: rx_buf_puts(b, "null"); break;
	case JV_KIND_TRUE: rx_buf_puts(b, "true"); break;
	case JV_KIND_FALSE: rx_buf_puts(b, "false"); break;
	case JV_KIND_NUMBER: put_jq_number(b, jv_number_value(v)); break;
	case JV_KIND_STRING: {
		size_t n = (size_t)jv_string_length_bytes(jv_copy(v));
		if (hook == NULL || !hook(b, jv_string_value(v), n, ctx))
			put_jq_string(b, jv_string_value(v), n);
		break;
	}
	case JV_KIND_ARRAY: {
		if (depth > 256) {
			rx_buf_puts(b, "<skipped: too deep>"); /* jq's MAX_PRINT_DEPTH */
			break;
		}
		rx_buf_putc(b, '[');
		int n = jv_array_length(jv_copy(v));
		for (int i = 0; i < n; i++) {
			if (i > 0)
				rx_buf_putc(b, ',');
			put_jv(b, jv_array_get(jv_copy(v), i), depth + 1, hook, ctx);
		}
		rx_buf_putc(b, ']');
		break;
	}
	case JV_KIND_OBJECT: {
		if (depth > 256) {
			rx_buf_puts(b, "<skipped: too deep>");
			break;
		}
		int first = 1;
		rx_buf_putc(b, '{');
		for (int i = jv_object_iter(v); jv_object_iter_valid(v, i); i = jv_object_iter_next(v, i)) {
			jv k = jv_object_iter_key(v, i);
			if (!first)
				rx_buf_putc(b, ',');
			first = 0;
			put_jq_string(b, jv_string_value(k), (size_t)jv_string_length_bytes(jv_copy(k)));
			jv_free(k);
			rx_buf_putc(b, ':');
			put_jv(b, jv_object_iter_value(v, i), depth + 1, hook, ctx);
		}
		rx_buf_putc(b, '}');
		break;
	}
	default: {
		/* an invalid value: what jq would make of it */
		jv s = jv_dump_string(jv_copy(v), 0);
		rx_buf_put(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
		jv_free(s);
	}
	}
	jv_free(v);
}

void rx_jv_put(rx_buf *b, jv v)
{
	put_jv(b, v, 0, NULL, NULL);
}

void rx_jv_put_with(rx_buf *b, jv v, rx_jv_string_hook hook, void *ctx)
{
	put_jv(b, v, 0, hook, ctx);
}

static int try_profile(const char *file, jv *out, char *path, size_t pathlen, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	rx_buf text = {0};
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return 1; /* not here */
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rx_buf_put(&text, chunk, n);
	fclose(f);
	snprintf(path, pathlen, "%s", file);
	if (rx_jv_parse(text.data ? text.data : "", text.len, out, err, errlen) < 0) {
		char why[512];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "profile '%s': %s", file, why);
		rx_buf_free(&text);
		return -1;
	}
	rx_buf_free(&text);
	if (jv_get_kind(*out) != JV_KIND_OBJECT) {
		jv_free(*out);
		snprintf(err, errlen, "profile '%s': not a JSON object", file);
		return -1;
	}
	return 0;
}

int rx_profile_load(const char *name, jv *out, char *path, size_t pathlen, char *err, size_t errlen)
{
	char file[4096];
	size_t len = strlen(name);
	int rc;

	if (strchr(name, '/') != NULL || (len > 5 && strcmp(name + len - 5, ".json") == 0)) {
		rc = try_profile(name, out, path, pathlen, err, errlen);
		if (rc == 1)
			snprintf(err, errlen, "cannot open profile '%s': %s", name, strerror(errno));
		return rc == 0 ? 0 : -1;
	}
	const char *env = getenv("RX_PROFILE_PATH");
	if (env != NULL) {
		char *dirs = rx_xstrdup(env), *save = NULL;
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(file, sizeof file, "%s/%s.json", d, name);
			rc = try_profile(file, out, path, pathlen, err, errlen);
			if (rc != 1) {
				free(dirs);
				return rc;
			}
		}
		free(dirs);
	}
	snprintf(file, sizeof file, "%s/destinations/%s.json", rx_share_dir(), name);
	rc = try_profile(file, out, path, pathlen, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "no profile '%s' (looked in $RX_PROFILE_PATH and %s/destinations)", name,
			 rx_share_dir());
	return rc == 0 ? 0 : -1;
}
