/*
 * rx-map - reshape rows (or the rows inside changes) into a destination's
 * fields: a jq program, and/or the shorthands --select, --rename, --set,
 * --hash, --drop-nulls.
 *
 * Streams: one line in memory at a time.  A line that is a change (an
 * object whose "op" is insert, update, upsert or delete and whose "row"
 * is an object) has only its "row" value replaced; every other byte of
 * the line ("op", "key", "hash", anything else) is copied as it came.  A
 * delete with no "row" (or a null one) has nothing to map and passes
 * through.  Any other object is a row, rewritten whole (--rows: always).
 *
 * Without a program no jq value is built: rows are shaped on the spans
 * of rx_json_scan_object (shape.c).  With one, the row is parsed into a
 * jv, run, and each output object dumped; the shorthands then apply to
 * that output.  A row the program fails on is a dead letter (stage
 * "rx-map") and the run goes on: exit 3 at the end.
 *
 * A model's end record (control.c) is passed on as the last line, with
 * "rows" counting the rows rx-map wrote and "rejected" adding the rows it
 * dead-lettered to those dead-lettered upstream: rx-diff then knows the
 * model is whole, or that rows are missing from it.  When any input
 * lacks one, none is written.
 *
 * Exit: 0 done, 1 failed (PII refusal, unreadable file), 2 usage or a
 * program that does not compile, 3 some rows dead-lettered, 65 a line
 * that is not a JSON object, 74 output.
 */
#include "map.h"
#include "rxjq.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct pii_tag {
	char *column; /* source column */
	char *tag;    /* "email", "phone", ... */
} pii_tag;

typedef struct mapper {
	const char *program;   /* jq text, or NULL */
	rx_jq jq;              /* compiled when program != NULL */
	map_shape shape;       /* the shorthands */
	int rows_only;         /* --rows */
	rx_members row;        /* members of the row being mapped */
	rx_buf dumped;         /* a program output, before the shorthands */
	rx_buf scratch;        /* a change's new row */
	rx_buf decoded;        /* a string with escapes, decoded */
	unsigned long long dead; /* rows dead-lettered */
	/* the end of the model (control.c), passed on with rx-map's counts */
	long long rows_in, rows_out; /* rows read, rows written */
	long long upstream_rejected; /* from the inputs' end records */
	int inputs, ended;           /* inputs read, and how many had an end record */
} mapper;

static void usage(void)
{
	printf("Usage: rx-map [OPTION]... [FILE]...\n"
	       "Reshape rows, or the rows inside changes, into a destination's fields.\n"
	       "Streams: one line is held at a time.\n"
	       "\n"
	       "The mapping (a program, shorthands, or both; shorthands apply after the program):\n"
	       "  -e, --expr PROGRAM       a jq program: the row in, the new row (an object) out\n"
	       "  -f, --from-file FILE     read the jq program from FILE\n"
	       "      --select COL,...     keep only these columns\n"
	       "      --rename SRC=DST,... rename columns (after --select)\n"
	       "      --set FIELD=VALUE    set a field: VALUE as JSON if it parses, else a string\n"
	       "      --hash FIELD[:KIND],...  replace by the hex SHA-256 of the normalised value;\n"
	       "                           KIND text (trim, lowercase: the default), phone (E.164\n"
	       "                           digits, Meta), e164 (with '+', Google), raw (as is)\n"
	       "      --country-code CC    the code a national phone number gets (phone, e164)\n"
	       "      --drop-nulls         leave out null fields\n"
	       "      --rows               treat every line as a row, even one that looks like a change\n"
	       "\n"
	       "PII policy:\n"
	       "      --pii COL=TAG,...    tag source columns (email, phone, ...)\n"
	       "      --pii-file FILE      read COL=TAG lines from FILE\n"
	       "      --profile NAME       refuse to start if the mapping sends a tag NAME blocks\n"
	       "\n"
	       "Other options:\n"
	       "      --max-line BYTES     longest line accepted (default 64M)\n"
	       "  -u, --unbuffered         write each line at once\n"
	       "      --metrics FILE       write the run's metrics for Prometheus's textfile collector\n"
	       "      --sync NAME          the sync label of the metrics (default: FILE's name)\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "jq functions from share/rx/jq/rx.jq need no import: trim, lowercase,\n"
	       "normalize_email, normalize_phone, normalize_phone(CC), normalize_phone_e164, ...\n"
	       "\n"
	       "Example:\n"
	       "  rx-map --rename score=lead_score__c --hash email --drop-nulls rows.ndjson\n"
	       "\n"
	       "See rx-map(1).\n");
	exit(RX_EXIT_OK);
}

static char *quoted(const char *s)
{
	rx_buf b = {0};
	rx_json_put_string(&b, s, strlen(s));
	return b.data;
}

/* Call fn for each comma-separated item of arg. */
static void each_item(const char *arg, const char *option, void (*fn)(mapper *, char *, const char *), mapper *m)
{
	char *copy = rx_xstrdup(arg), *save = NULL;
	int any = 0;

	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		fn(m, item, option);
		any = 1;
	}
	if (!any)
		rx_usage_error("%s: nothing named", option);
	free(copy);
}

static void add_select(mapper *m, char *item, const char *option)
{
	map_shape *s = &m->shape;
	(void)option;
	s->select = rx_xrealloc(s->select, (s->nselect + 1) * sizeof *s->select);
	s->selectlen = rx_xrealloc(s->selectlen, (s->nselect + 1) * sizeof *s->selectlen);
	s->select[s->nselect] = rx_xstrdup(item);
	s->selectlen[s->nselect++] = strlen(item);
}

static void add_rename(mapper *m, char *item, const char *option)
{
	map_shape *s = &m->shape;
	char *eq = strchr(item, '=');
	if (eq == NULL || eq == item || eq[1] == '\0')
		rx_usage_error("%s: '%s' is not SRC=DST", option, item);
	*eq = '\0';
	for (size_t i = 0; i < s->nrenames; i++)
		if (strcmp(s->renames[i].src, item) == 0)
			rx_usage_error("%s: column '%s' renamed twice", option, item);
	s->renames = rx_xrealloc(s->renames, (s->nrenames + 1) * sizeof *s->renames);
	map_rename *r = &s->renames[s->nrenames++];
	r->src = rx_xstrdup(item);
	r->srclen = strlen(item);
	r->dst = rx_xstrdup(eq + 1);
	r->dstlen = strlen(eq + 1);
	r->dst_json = quoted(eq + 1);
	r->dst_jsonlen = strlen(r->dst_json);
	s->fired = rx_xrealloc(s->fired, s->nrenames);
}

static void add_set(mapper *m, const char *arg)
{
	map_shape *s = &m->shape;
	const char *eq = strchr(arg, '=');
	char err[256];

	if (eq == NULL || eq == arg)
		rx_usage_error("--set: '%s' is not FIELD=VALUE", arg);
	s->sets = rx_xrealloc(s->sets, (s->nsets + 1) * sizeof *s->sets);
	map_set *set = &s->sets[s->nsets++];
	set->name = rx_xstrdup(arg);
	set->name[eq - arg] = '\0';
	set->namelen = strlen(set->name);
	set->name_json = quoted(set->name);
	const char *v = eq + 1;
	if (*v != '\0' && rx_json_validate(v, strlen(v), err, sizeof err) == 0) {
		rx_buf b = {0};
		rx_json_put_compact(&b, rx_span_of(v, strlen(v)));
		/* trim the white space around it */
		size_t a = 0, z = b.len;
		while (a < z && (b.data[a] == ' ' || b.data[a] == '\t' || b.data[a] == '\n' || b.data[a] == '\r'))
			a++;
		while (z > a && (b.data[z - 1] == ' ' || b.data[z - 1] == '\t' || b.data[z - 1] == '\n' ||
				 b.data[z - 1] == '\r'))
			z--;
		set->value_json = rx_xmalloc(z - a + 1);
		memcpy(set->value_json, b.data + a, z - a);
		set->value_json[z - a] = '\0';
		rx_buf_free(&b);
	} else {
		set->value_json = quoted(v);
	}
	s->set_used = rx_xrealloc(s->set_used, s->nsets);
}

static void add_hash(mapper *m, char *item, const char *option)
{
	map_shape *s = &m->shape;
	enum map_hash_kind kind = MAP_HASH_TEXT;
	char *colon = strrchr(item, ':');

	if (colon != NULL) {
		const char *k = colon + 1;
		if (strcmp(k, "text") == 0 || strcmp(k, "email") == 0)
			kind = MAP_HASH_TEXT;
		else if (strcmp(k, "phone") == 0)
			kind = MAP_HASH_PHONE;
		else if (strcmp(k, "e164") == 0)
			kind = MAP_HASH_E164;
		else if (strcmp(k, "raw") == 0)
			kind = MAP_HASH_RAW;
		else
			rx_usage_error("%s: unknown kind '%s' (text, email, phone, e164, raw)", option, k);
		*colon = '\0';
	}
	if (*item == '\0')
		rx_usage_error("%s: no field named", option);
	s->hashes = rx_xrealloc(s->hashes, (s->nhashes + 1) * sizeof *s->hashes);
	s->hashes[s->nhashes].name = rx_xstrdup(item);
	s->hashes[s->nhashes].namelen = strlen(item);
	s->hashes[s->nhashes++].kind = kind;
}

static pii_tag *tags;
static size_t ntags;

static void add_tag(mapper *m, char *item, const char *option)
{
	char *eq = strchr(item, '=');
	(void)m;
	if (eq == NULL || eq == item || eq[1] == '\0')
		rx_usage_error("%s: '%s' is not COL=TAG", option, item);
	*eq = '\0';
	tags = rx_xrealloc(tags, (ntags + 1) * sizeof *tags);
	tags[ntags].column = rx_xstrdup(item);
	tags[ntags++].tag = rx_xstrdup(eq + 1);
}

static void read_tag_file(mapper *m, const char *path)
{
	char *text = rx_read_file(path), *save = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *p = line;
		while (*p == ' ' || *p == '\t')
			p++;
		size_t n = strlen(p);
		while (n > 0 && (p[n - 1] == ' ' || p[n - 1] == '\t' || p[n - 1] == '\r'))
			p[--n] = '\0';
		if (*p == '\0' || *p == '#')
			continue;
		each_item(p, "--pii-file", add_tag, m);
	}
	free(text);
}

/* ---- mapping one row ---- */

/* Shape the object text s[0..n) with the shorthands into out. */
static int shape_text(mapper *m, const char *s, size_t n, rx_buf *out, int skip_hashed, char *err, size_t errlen)
{
	if (rx_json_scan_object(s, n, &m->row, err, errlen) < 0)
		return -1;
	return map_shape_row(&m->shape, &m->row, out, skip_hashed, err, errlen);
}

/* A jv from a raw span the scanner has validated: scalars directly,
 * nested values through jq's parser. */
static jv jv_of_span(mapper *m, rx_span v)
{
	char num[64], err[256];
	jv out;

	switch (rx_json_kind(v)) {
	case 's':
		if (memchr(v.p, '\\', v.n) == NULL)
			return jv_string_sized(v.p + 1, (int)v.n - 2);
		rx_buf_reset(&m->decoded);
		rx_json_string_decode(v, &m->decoded);
		return jv_string_sized(m->decoded.data ? m->decoded.data : "", (int)m->decoded.len);
	case 'n':
		if (v.n < sizeof num) {
			memcpy(num, v.p, v.n);
			num[v.n] = '\0';
			return jv_number(strtod(num, NULL));
		}
		break;
	case 't':
		return jv_true();
	case 'f':
		return jv_false();
	case 'z':
		return jv_null();
	}
	if (rx_jv_parse(v.p, v.n, &out, err, sizeof err) < 0)
		return jv_null(); /* cannot happen: the scanner validated it */
	return out;
}

/* The row as a jq object, built from its members (jq's parser only for
 * nested values: the line was validated once already). */
static jv jv_of_row(mapper *m, const rx_members *row)
{
	jv o = jv_object();

	for (size_t i = 0; i < row->n; i++)
		o = jv_object_set(o, jv_of_span(m, row->m[i].name), jv_of_span(m, row->m[i].value));
	return o;
}

/* Run the program on the row; append each output row plus "\n". */
static int run_program(mapper *m, const char *s, size_t n, const rx_members *scanned, rx_buf *out, size_t *nrows,
		       int skip_hashed, char *err, size_t errlen)
{
	jv in, v;

	if (scanned == NULL && rx_json_scan_object(s, n, &m->row, err, errlen) < 0)
		return -1;
	in = jv_of_row(m, scanned ? scanned : &m->row);
	jq_start(m->jq.jq, in, 0);
	for (;;) {
		v = jq_next(m->jq.jq);
		if (!jv_is_valid(v))
			break;
		if (jv_get_kind(v) != JV_KIND_OBJECT) {
			const char *kind = jv_kind_name(jv_get_kind(v));
			snprintf(err, errlen, "the mapping's output is %s %s, not an object",
				 strchr("aeiou", kind[0]) ? "an" : "a", kind);
			jv_free(v);
			return -1;
		}
		if (map_shape_active(&m->shape)) {
			rx_buf_reset(&m->dumped);
			rx_jv_put(&m->dumped, v);
			if (shape_text(m, m->dumped.data, m->dumped.len, out, skip_hashed, err, errlen) < 0)
				return -1;
		} else {
			rx_jv_put(out, v);
		}
		rx_buf_putc(out, '\n');
		(*nrows)++;
	}
	if (jv_invalid_has_msg(jv_copy(v))) {
		jv msg = jv_invalid_get_msg(v);
		if (jv_get_kind(msg) == JV_KIND_STRING) {
			snprintf(err, errlen, "%s", jv_string_value(msg));
		} else {
			jv text = jv_dump_string(msg, 0);
			snprintf(err, errlen, "%s (not a string)", jv_string_value(text));
			msg = text;
		}
		jv_free(msg);
		return -1;
	}
	jv_free(v);
	return 0;
}

/* Map the row s[0..n) (its members in scanned, or NULL: not scanned) into
 * out: each resulting row plus "\n".  0 with *nrows, or -1 with err (out
 * is then back where it was). */
static int map_row(mapper *m, const char *s, size_t n, const rx_members *scanned, rx_buf *out, size_t *nrows,
		   int skip_hashed, char *err, size_t errlen)
{
	size_t start = out->len;
	int rc;

	*nrows = 0;
	if (m->program != NULL) {
		rc = run_program(m, s, n, scanned, out, nrows, skip_hashed, err, errlen);
	} else {
		if (scanned == NULL && rx_json_scan_object(s, n, &m->row, err, errlen) < 0)
			rc = -1;
		else
			rc = map_shape_row(&m->shape, scanned ? scanned : &m->row, out, skip_hashed, err, errlen);
		if (rc == 0) {
			rx_buf_putc(out, '\n');
			*nrows = 1;
		}
	}
	if (rc < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	return rc;
}

/* ---- PII policy ---- */

/* Would the mapping send column?  It runs on two probe rows that differ
 * only in that column; outputs that differ (hashed fields aside) mean the
 * column reaches the destination.  A program that fails on the probe is
 * judged by its text: mentioning the column counts as sending it. */
static int sends_column(mapper *m, const char *column, const char *tag)
{
	const char *a = "rx-probe-a@example.com", *b = "rx-probe-b@example.org";
	rx_buf row = {0}, outa = {0}, outb = {0};
	size_t na, nb;
	char err[512];
	int sends;

	if (strstr(tag, "phone") != NULL) {
		a = "+1 650 555 0100";
		b = "+44 20 7946 0999";
	}
	rx_buf_putc(&row, '{');
	rx_json_put_string(&row, column, strlen(column));
	rx_buf_putc(&row, ':');
	size_t mark = row.len;
	rx_json_put_string(&row, a, strlen(a));
	rx_buf_putc(&row, '}');
	int ra = map_row(m, row.data, row.len, NULL, &outa, &na, 1, err, sizeof err);
	row.len = mark;
	rx_json_put_string(&row, b, strlen(b));
	rx_buf_putc(&row, '}');
	int rb = map_row(m, row.data, row.len, NULL, &outb, &nb, 1, err, sizeof err);
	if (ra == 0 && rb == 0)
		sends = na != nb || outa.len != outb.len || (outa.len && memcmp(outa.data, outb.data, outa.len) != 0);
	else
		sends = m->program != NULL && strstr(m->program, column) != NULL;
	rx_buf_free(&row);
	rx_buf_free(&outa);
	rx_buf_free(&outb);
	return sends;
}

static void check_pii(mapper *m, const char *profile_name)
{
	char path[4096], err[1024], refusal[2048] = "";
	jv profile, blocked, name;
	int bad_profile = 0;

	if (rx_profile_load(profile_name, &profile, path, sizeof path, err, sizeof err) < 0)
		rx_die(RX_EXIT_FAIL, "%s", err);
	name = jv_object_get(jv_copy(profile), jv_string("name"));
	blocked = jv_object_get(jv_copy(profile), jv_string("blocked_pii"));
	jv_kind kind = jv_get_kind(blocked);
	if (kind == JV_KIND_ARRAY) {
		int n = jv_array_length(jv_copy(blocked));
		for (int i = 0; i < n && !bad_profile && refusal[0] == '\0'; i++) {
			jv t = jv_array_get(jv_copy(blocked), i);
			if (jv_get_kind(t) != JV_KIND_STRING)
				bad_profile = 1;
			for (size_t k = 0; k < ntags && !bad_profile && refusal[0] == '\0'; k++)
				if (strcmp(tags[k].tag, jv_string_value(t)) == 0 &&
				    sends_column(m, tags[k].column, tags[k].tag))
					snprintf(refusal, sizeof refusal,
						 "refusing to start: column '%s' is tagged '%s', which destination '%s' "
						 "blocks, and the mapping would send it (hash it with --hash or leave it out)",
						 tags[k].column, tags[k].tag,
						 jv_get_kind(name) == JV_KIND_STRING ? jv_string_value(name) : profile_name);
			jv_free(t);
		}
	} else if (kind != JV_KIND_NULL && kind != JV_KIND_INVALID) {
		bad_profile = 1;
	}
	jv_free(blocked);
	jv_free(name);
	jv_free(profile);
	/* everything freed first (jq's stack is not visible to a leak
	 * checker while it runs): a clean exit */
	if ((bad_profile || refusal[0] != '\0') && m->program != NULL)
		rx_jq_free(&m->jq);
	if (bad_profile)
		rx_die(RX_EXIT_FAIL, "profile '%s': \"blocked_pii\" is not an array of tags", path);
	if (refusal[0] != '\0')
		rx_die(RX_EXIT_FAIL, "%s", refusal);
}

/* ---- the stream ---- */

static int is_op(rx_span v)
{
	static const char *const ops[] = {"\"insert\"", "\"update\"", "\"upsert\"", "\"delete\""};
	if (v.n != 8)
		return 0;
	for (int i = 0; i < 4; i++)
		if (memcmp(v.p, ops[i], 8) == 0)
			return 1;
	return 0;
}

/* A change's "row" member index, -1 for a change with no row to map, or
 * -2 when the line is a row. */
static long change_row(const rx_members *ms)
{
	long op = rx_json_find(ms, "op", 2);
	if (op < 0 || !is_op(ms->m[op].value))
		return -2;
	long row = rx_json_find(ms, "row", 3);
	if (row < 0)
		return memcmp(ms->m[op].value.p, "\"delete\"", 8) == 0 ? -1 : -2;
	char kind = rx_json_kind(ms->m[row].value);
	if (kind == 'o')
		return row;
	if (kind == 'z' && memcmp(ms->m[op].value.p, "\"delete\"", 8) == 0)
		return -1;
	return -2;
}

static void dead_letter(mapper *m, const char *line, size_t n, const char *message)
{
	rx_deadletter d = {.stage = "rx-map", .message = message};
	rx_deadletter_emit(line, n, &d);
	m->dead++;
}

/* Map one input; 0, or RX_EXIT_DATAERR / RX_EXIT_FAIL after a message. */
static int map_input(mapper *m, const char *path, size_t max_line, rx_writer *w)
{
	rx_reader r;
	rx_members line_members = {0};
	char err[1024];
	char *line;
	size_t len, nrows;
	int rc = 0, got;

	long long rows_before = m->rows_in;
	int ended = 0;

	if (rx_reader_open(&r, path, max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	m->inputs++;
	while ((got = rx_reader_next(&r, &line, &len, err, sizeof err)) == 1) {
		size_t i = 0;
		while (i < len && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (i == len)
			continue; /* a blank line */
		if (ended) {
			rx_diag_at(r.name, r.line, "a line after the end record");
			rc = RX_EXIT_DATAERR;
			goto done;
		}
		if (rx_control_is(line, len) && rx_control_kind_is(line, len, "changes")) {
			/* rx-diff's count of the changes that follow: passed on */
			rx_buf_put(&w->buf, line, len);
			rx_buf_putc(&w->buf, '\n');
			rx_writer_record(w);
			continue;
		}
		if (rx_control_is(line, len)) {
			rx_end end;
			if (rx_control_end(line, len, &end, err, sizeof err) < 0) {
				rx_diag_at(r.name, r.line, "%s", err);
				rc = RX_EXIT_DATAERR;
				goto done;
			}
			if (end.rows >= 0 && end.rows != m->rows_in - rows_before) {
				rx_diag_at(r.name, r.line, "the end record counts %lld rows, but %lld came before it",
					   end.rows, m->rows_in - rows_before);
				rc = RX_EXIT_DATAERR;
				goto done;
			}
			m->upstream_rejected += end.rejected;
			m->ended++;
			ended = 1;
			continue;
		}
		if (rx_json_scan_object(line, len, &line_members, err, sizeof err) < 0) {
			rx_diag_at(r.name, r.line, "cannot parse JSON: %s", err);
			rc = RX_EXIT_DATAERR;
			goto done;
		}
		long ri = m->rows_only ? -2 : change_row(&line_members);
		if (ri == -1) {
			rx_buf_put(&w->buf, line, len);
			rx_buf_putc(&w->buf, '\n');
		} else if (ri == -2) {
			/* a row: straight into the output */
			m->rows_in++;
			if (map_row(m, line, len, &line_members, &w->buf, &nrows, 0, err, sizeof err) < 0)
				dead_letter(m, line, len, err);
			else
				m->rows_out += (long long)nrows;
		} else {
			rx_span v = line_members.m[ri].value;
			rx_buf_reset(&m->scratch);
			int ok = map_row(m, v.p, v.n, NULL, &m->scratch, &nrows, 0, err, sizeof err);
			if (ok == 0 && nrows != 1) {
				snprintf(err, sizeof err, "the mapping gave %zu rows for one change; a change needs one",
					 nrows);
				ok = -1;
			}
			if (ok < 0) {
				dead_letter(m, line, len, err);
			} else {
				rx_buf_put(&w->buf, line, (size_t)(v.p - line));
				rx_buf_put(&w->buf, m->scratch.data, m->scratch.len - 1);
				rx_buf_put(&w->buf, v.p + v.n, len - (size_t)(v.p + v.n - line));
				rx_buf_putc(&w->buf, '\n');
			}
		}
		rx_writer_record(w);
		rx_killpoint("row");
	}
	if (got < 0) {
		rx_diag("%s", err); /* it names the line */
		rc = RX_EXIT_DATAERR;
	}
done:
	free(line_members.m);
	rx_reader_close(&r);
	return rc;
}

int main(int argc, char **argv)
{
	enum { OPT_SELECT = 256, OPT_RENAME, OPT_SET, OPT_HASH, OPT_DROPNULLS, OPT_ROWS, OPT_PII, OPT_PIIFILE,
	       OPT_PROFILE, OPT_MAXLINE, OPT_COUNTRY, OPT_METRICS, OPT_SYNC };
	static const struct option longopts[] = {
		{"expr", required_argument, NULL, 'e'},
		{"from-file", required_argument, NULL, 'f'},
		{"select", required_argument, NULL, OPT_SELECT},
		{"rename", required_argument, NULL, OPT_RENAME},
		{"set", required_argument, NULL, OPT_SET},
		{"hash", required_argument, NULL, OPT_HASH},
		{"country-code", required_argument, NULL, OPT_COUNTRY},
		{"drop-nulls", no_argument, NULL, OPT_DROPNULLS},
		{"rows", no_argument, NULL, OPT_ROWS},
		{"pii", required_argument, NULL, OPT_PII},
		{"pii-file", required_argument, NULL, OPT_PIIFILE},
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"max-line", required_argument, NULL, OPT_MAXLINE},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"sync", required_argument, NULL, OPT_SYNC},
		{"unbuffered", no_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	static mapper m;
	const char *profile = NULL, *program_file = NULL;
	size_t max_line = 0;
	int c, unbuffered = 0, status = RX_EXIT_OK;
	const char *metrics = NULL, *sync = NULL;
	double started = rx_metrics_now();
	rx_writer out;
	char err[8192];

	rx_init("rx-map");
	argv[0] = (char *)rx_progname; /* getopt's messages name the program, not its path */
	while ((c = getopt_long(argc, argv, "e:f:uhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'e':
			if (m.program != NULL)
				rx_usage_error("give one program (-e or -f)");
			m.program = optarg;
			break;
		case 'f':
			if (m.program != NULL)
				rx_usage_error("give one program (-e or -f)");
			program_file = optarg;
			m.program = rx_read_file(optarg);
			break;
		case OPT_SELECT:
			each_item(optarg, "--select", add_select, &m);
			break;
		case OPT_RENAME:
			each_item(optarg, "--rename", add_rename, &m);
			break;
		case OPT_SET:
			add_set(&m, optarg);
			break;
		case OPT_HASH:
			each_item(optarg, "--hash", add_hash, &m);
			break;
		case OPT_COUNTRY: {
			const char *p = optarg + (optarg[0] == '+');
			size_t n = strlen(p);
			if (n == 0 || n > 3 || strspn(p, "0123456789") != n || p[0] == '0')
				rx_usage_error("--country-code: '%s' is not a country calling code (1 to 3 digits)",
					       optarg);
			m.shape.country_code = p;
			break;
		}
		case OPT_DROPNULLS:
			m.shape.drop_nulls = 1;
			break;
		case OPT_ROWS:
			m.rows_only = 1;
			break;
		case OPT_PII:
			each_item(optarg, "--pii", add_tag, &m);
			break;
		case OPT_PIIFILE:
			read_tag_file(&m, optarg);
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_METRICS:
			metrics = optarg;
			break;
		case OPT_SYNC:
			sync = optarg;
			break;
		case OPT_MAXLINE:
			max_line = rx_parse_size("--max-line", optarg);
			break;
		case 'u':
			unbuffered = 1;
			break;
		case 'h':
			usage();
			break;
		case 'V':
			rx_print_version(NULL);
			break;
		default:
			rx_usage_hint();
		}
	}
	if (m.program != NULL) {
		char what[4200];
		snprintf(what, sizeof what, "%s%s%s", program_file ? "mapping '" : "mapping",
			 program_file ? program_file : "", program_file ? "'" : "");
		if (rx_jq_compile(&m.jq, m.program, jv_invalid(), what, err, sizeof err) < 0) {
			rx_jq_free(&m.jq);
			rx_die(RX_EXIT_USAGE, "%s", err);
		}
	}
	if (profile != NULL)
		check_pii(&m, profile);

	rx_writer_init(&out, 1);
	out.unbuffered = unbuffered;
	if (optind >= argc) {
		status = map_input(&m, "-", max_line, &out);
	} else {
		for (int i = optind; i < argc && status == RX_EXIT_OK; i++)
			status = map_input(&m, argv[i], max_line, &out);
	}
	if (status == RX_EXIT_OK && m.inputs > 0 && m.ended == m.inputs) {
		rx_control_put_end(&out.buf, m.rows_out, m.upstream_rejected + (long long)m.dead);
		rx_writer_record(&out);
	}
	if (rx_writer_finish(&out, "the output") < 0)
		status = RX_EXIT_IOERR;
	else if (status == RX_EXIT_OK && m.dead > 0)
		status = RX_EXIT_DEADLETTER;
	if (metrics != NULL)
		rx_metrics_stage(metrics, sync, "map", "mapped and written", (double)m.rows_out, (double)m.dead, started,
				 rx_metrics_now(), status == RX_EXIT_OK || status == RX_EXIT_DEADLETTER);

	/* tidy up, so leak checkers see a clean exit */
	if (m.program != NULL)
		rx_jq_free(&m.jq);
	if (program_file != NULL)
		free((char *)m.program);
	rx_buf_free(&out.buf);
	rx_buf_free(&m.dumped);
	rx_buf_free(&m.scratch);
	rx_buf_free(&m.decoded);
	free(m.row.m);
	map_shape *s = &m.shape;
	for (size_t i = 0; i < s->nselect; i++)
		free(s->select[i]);
	free(s->select);
	free(s->selectlen);
	for (size_t i = 0; i < s->nrenames; i++) {
		free(s->renames[i].src);
		free(s->renames[i].dst);
		free(s->renames[i].dst_json);
	}
	free(s->renames);
	for (size_t i = 0; i < s->nsets; i++) {
		free(s->sets[i].name);
		free(s->sets[i].name_json);
		free(s->sets[i].value_json);
	}
	free(s->sets);
	for (size_t i = 0; i < s->nhashes; i++)
		free(s->hashes[i].name);
	free(s->hashes);
	free(s->rename_of);
	free(s->fired);
	free(s->set_used);
	rx_buf_free(&s->text);
	rx_buf_free(&s->norm);
	for (size_t i = 0; i < ntags; i++) {
		free(tags[i].column);
		free(tags[i].tag);
	}
	free(tags);
	return status;
}
