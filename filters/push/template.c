/*
 * template.c - body templates: a request body written as the JSON it is,
 * with placeholders, and built in C from the records' own text
 * (docs/profiles.md, "Body templates").
 *
 *     "template": {"users": [{"email": "{row.email|text}",
 *                             "userId": "{row.userId|text|optional}",
 *                             "dataFields": "{row|without:email,userId}"}]}
 *
 * A one-element array whose element names a record is that element once
 * for each record of the request; an NDJSON template is the lines of one
 * record, written for each.  Values are copied from the change's
 * text, so numbers stay exact and strings keep their escapes; a body
 * costs about what copying the records costs, against a body program's
 * parse into jq values, run and print (several times more).
 *
 * NOTES
 *  - The template is compiled once, at load, into a tree of nodes: a
 *    literal part is kept as its JSON text, a variable ({NAME} from
 *    "vars") is expanded then, and whatever cannot work (a name that is
 *    no placeholder, a record named outside the repeated array, a
 *    modifier where it means nothing) is refused then, naming where.
 *  - A record's row is scanned for its members at most once, and only
 *    when a placeholder reads a member of it.
 *  - A placeholder may hold alternatives ({row.uid|text // key|text}):
 *    a chain of nodes, the first with a value wins.  match: uses
 *    Oniguruma (jq's own regular expressions, linked already: its
 *    POSIX regcomp would shadow glibc's).
 *  - A choice ({"?": "{identifier}", "id": ..., "email": ...}) is made
 *    at compile time: only the chosen case becomes nodes.
 *  - A form body is the root object's members, each built as JSON and
 *    then written as a form field.
 *  - The request's columns ({columns:A,B}: those of the list any row
 *    has) are found once a request, before it is built, each row's
 *    members scanned; the template's list is found before it is
 *    compiled (an element repeated for each column may come first), and
 *    that element is compiled once for each column of the list, {column}
 *    a variable: building it costs what a record's element costs.
 */
#include "push.h"

#include <math.h>
#include <oniguruma.h>
#include <stdlib.h>
#include <string.h>

enum { N_LIT, N_ARRAY, N_EACH, N_OBJECT, N_REF, N_INTERP, N_LINES, N_COLS };
enum { S_OP, S_KEY, S_ROW, S_MEMBER, S_IDEM, S_ID, S_HASH, S_LIT, S_ERR, S_COUNT, S_COLUMNS };
enum {
	M_TEXT = 1, M_STRINGS = 2, M_OPTIONAL = 4, M_NONNULL = 8, M_NULLS = 16, M_CELLS = 32, M_FIRESTORE = 64,
	M_TEXTS = 128, M_LOWER = 256, M_ARRAY = 512, M_UPPER = 1024
};

/* A list of member names (without:, only:), asked of every member of an
 * object a record gives: each name's length kept, and a table of them by
 * a hash of their bytes (a name is one hash and at most a compare or two,
 * whatever the list's length: Klaviyo's properties leave out 22). */
typedef struct nameset {
	char **names;      /* as written, plain text */
	size_t *lens;
	size_t n;
	unsigned *slots;   /* the table: an index into names plus 1, 0 empty */
	size_t mask;       /* its size less 1 (a power of two, at least twice n) */
} nameset;

typedef struct tnode tnode;
struct tnode {
	int kind;
	rx_buf lit;        /* N_LIT: JSON text; an N_INTERP segment: plain text */
	tnode **kids;      /* N_ARRAY elements, N_OBJECT values, N_INTERP segments, N_EACH: one */
	size_t nkids;
	rx_buf *qnames;    /* N_OBJECT: each member's name as JSON text ("..." spreads: empty) */
	char **names;      /* N_OBJECT: each member's name, plain (NULL: a spread) */
	int src, mods;     /* N_REF (and N_INTERP segments that are not literal) */
	char *member;      /* S_MEMBER: the row member's name */
	nameset without;   /* names left out of an object */
	nameset only;      /* only: the names kept of an object */
	char *drop_empty;  /* N_OBJECT: a "?NAME" member, left out when it comes out empty */
	tnode **guards;    /* N_OBJECT: "??": the values it needs, or NULL */
	size_t nguards;
	/* a spread's scratch while its object is built */
	rx_members cache;
	const rx_members *sms; /* its object's members, or NULL (none: not an object) */
	char *nulls;       /* M_NULLS: the text each null member becomes */
	OnigRegex re;      /* match: the value's text must match it (jq's regular expressions) */
	struct span_re *fast; /* the same expression read without Oniguruma, when it is one class
	                       * repeated over the whole text (a hex digest), or NULL */
	tnode *alt;        /* N_REF: the alternative after "//", or NULL */
	int first;         /* N_REF: a record's placeholder read from the request's first record */
	int has_dflt;      /* default:JSON: a missing or null value is dflt */
	rx_buf dflt;
	int hex;           /* hex:N: the text's first N hex digits as a number */
	char *as;          /* as:TEXT: a match:'s value rewritten as TEXT, \1 its first group */
	tnode *orelse;     /* N_OBJECT: "??else", what stands when its guard fails, or NULL */
};

struct push_tmpl {
	tnode *root;
	int form;          /* the root object's members form-encoded */
	/* scratch, reused from request to request */
	const char *op;
	const push_record *rec;
	rx_members row;    /* rec's row members, when row_state is 1 */
	int row_state;     /* 0 not scanned, 1 scanned, -1 not an object */
	size_t rec_i;      /* rec's place in the request */
	const tnode *failed; /* the request's own "// !MESSAGE" the body reached first, or NULL */
	/* the records that reached one, each with the first it reached */
	struct refused { size_t i; const tnode *n; } *refused;
	size_t nrefused, refused_cap;
	rx_members other;  /* an object value's members (not the row) */
	rx_buf text, conv, seg, acc, quoted, mtext, fval;
	/* the request's columns: of the list, those any record's row has */
	char **cols;       /* the template's list ({columns:A,B}), or NULL */
	size_t ncols;
	unsigned char *present; /* for each of cols: does any row of the request have it? */
	size_t npresent;
	rx_buf colstext;   /* the present ones as a JSON array */
	push_record **recs; /* the request's records (for {count}, {first.NAME}) */
	size_t nrec;
	rx_members first_row; /* the first record's row members, for {first.row.NAME} */
	rx_buf hexbuf;
	rx_buf names;      /* a member's name decoded, for a list of names */
	OnigRegion *region; /* a match:'s groups, for an as: */
	rx_buf asbuf, astext; /* an as:'s value, and its text */
};

static void nameset_free(nameset *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->names[i]);
	free(s->names);
	free(s->lens);
	free(s->slots);
}

/* A hash of a name cheap to compute (its length and three of its bytes:
 * the names of one list rarely share all four, and those that do are
 * told apart by the compare). */
static unsigned name_hash(const char *p, size_t n)
{
	if (n == 0)
		return 0;
	return ((unsigned)n * 2654435761u) ^ ((unsigned char)p[0] * 31u) ^ ((unsigned char)p[n / 2] * 131u) ^
	       ((unsigned char)p[n - 1] * 1031u);
}

/* Add a name (the table is built again: lists are short, made once). */
static void nameset_add(nameset *s, const char *name)
{
	s->names = rx_xrealloc(s->names, sizeof *s->names * (s->n + 1));
	s->lens = rx_xrealloc(s->lens, sizeof *s->lens * (s->n + 1));
	s->names[s->n] = rx_xstrdup(name);
	s->lens[s->n] = strlen(name);
	s->n++;
	size_t size = 4;
	while (size < 2 * s->n)
		size *= 2;
	free(s->slots);
	s->slots = calloc(size, sizeof *s->slots);
	if (s->slots == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	s->mask = size - 1;
	for (size_t i = 0; i < s->n; i++) {
		size_t at = name_hash(s->names[i], s->lens[i]) & s->mask;
		while (s->slots[at] != 0)
			at = (at + 1) & s->mask;
		s->slots[at] = (unsigned)i + 1;
	}
}

static inline int nameset_has_text(const nameset *s, const char *p, size_t n)
{
	for (size_t at = name_hash(p, n) & s->mask; s->slots[at] != 0; at = (at + 1) & s->mask) {
		size_t i = s->slots[at] - 1;
		if (s->lens[i] == n && memcmp(s->names[i], p, n) == 0)
			return 1;
	}
	return 0;
}

/* Is a member's name (raw, quoted) in the list?  A name with an escape is
 * decoded first (into scratch). */
static int nameset_has(const nameset *s, const rx_member *m, rx_buf *scratch)
{
	if (!m->name_escaped)
		return nameset_has_text(s, m->name.p + 1, m->name.n - 2);
	rx_buf_reset(scratch);
	rx_json_string_decode(m->name, scratch);
	return nameset_has_text(s, scratch->data ? scratch->data : "", scratch->len);
}

static void node_free(tnode *n)
{
	if (n == NULL)
		return;
	for (size_t i = 0; i < n->nkids; i++) {
		node_free(n->kids[i]);
		if (n->qnames != NULL)
			rx_buf_free(&n->qnames[i]);
		if (n->names != NULL)
			free(n->names[i]);
	}
	free(n->kids);
	free(n->qnames);
	free(n->names);
	nameset_free(&n->without);
	nameset_free(&n->only);
	free(n->drop_empty);
	for (size_t i = 0; i < n->nguards; i++)
		node_free(n->guards[i]);
	free(n->guards);
	free(n->cache.m);
	free(n->member);
	free(n->nulls);
	free(n->as);
	if (n->re != NULL)
		onig_free(n->re);
	free(n->fast);
	node_free(n->alt);
	node_free(n->orelse);
	rx_buf_free(&n->dflt);
	rx_buf_free(&n->lit);
	free(n);
}

void rx_push_tmpl_free(push_tmpl *t)
{
	if (t == NULL)
		return;
	node_free(t->root);
	free(t->refused);
	free(t->row.m);
	free(t->other.m);
	rx_buf_free(&t->text);
	rx_buf_free(&t->conv);
	rx_buf_free(&t->seg);
	rx_buf_free(&t->acc);
	rx_buf_free(&t->quoted);
	rx_buf_free(&t->mtext);
	rx_buf_free(&t->fval);
	for (size_t i = 0; i < t->ncols; i++)
		free(t->cols[i]);
	free(t->cols);
	free(t->present);
	rx_buf_free(&t->colstext);
	free(t->first_row.m);
	rx_buf_free(&t->hexbuf);
	rx_buf_free(&t->names);
	if (t->region != NULL)
		onig_region_free(t->region, 1);
	rx_buf_free(&t->asbuf);
	rx_buf_free(&t->astext);
	free(t);
}

static tnode *node_new(int kind)
{
	tnode *n = calloc(1, sizeof *n);
	if (n == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	n->kind = kind;
	return n;
}

static void add_kid(tnode *n, tnode *kid)
{
	n->kids = realloc(n->kids, sizeof *n->kids * (n->nkids + 1));
	if (n->kids == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	n->kids[n->nkids++] = kid;
}

/* ---- compiling ---- */

typedef struct tcomp {
	const push_profile *p;
	const char *what;  /* "ops.upsert.template" */
	char at[256];      /* where in it: "users[0].email" */
	char *err;
	size_t errlen;
	char **cols;       /* the template's list of columns ({columns:A,B}), or NULL */
	size_t ncols;
	char *colslist;    /* as written: "A,B" */
	const char *column; /* compiling the element repeated for this column, or NULL */
} tcomp;

static int fail(tcomp *c, const char *fmt, const char *arg)
{
	char msg[512];
	snprintf(msg, sizeof msg, fmt, arg);
	snprintf(c->err, c->errlen, "profile %s: %s%s%s: %s", c->p->name, c->what, c->at[0] ? " at " : "", c->at, msg);
	return -1;
}

/* A match: that is one ASCII character class repeated over the whole
 * text, \A[0-9a-f]{64}\z or \A(?:[0-9a-f]{64})?\z (the hex digests of
 * the ad audiences): tested byte by byte, a table lookup a byte, instead
 * of by Oniguruma's machine (4k instructions a digest).  The text is
 * UTF-8 and the class ASCII only, so a byte is a character. */
struct span_re {
	unsigned char in[256]; /* the class's bytes */
	size_t min, max;       /* how many of them */
	int empty;             /* (?:...)? around it: the empty text too */
};

/* The class and count of such an expression, or NULL for any other
 * (Oniguruma then reads it). */
static struct span_re *span_re_of(const char *re)
{
	struct span_re r = {{0}, 1, 1, 0};
	const char *p = re;

	if (strncmp(p, "\\A", 2) != 0)
		return NULL;
	p += 2;
	if (strncmp(p, "(?:", 3) == 0) {
		r.empty = 1;
		p += 3;
	}
	if (*p++ != '[' || *p == '^' || *p == ']')
		return NULL;
	while (*p != ']') {
		unsigned char a = (unsigned char)*p, b = a;
		if (a == '\0' || a == '\\' || a == '[' || a < 0x20 || a >= 0x7f || (a == '&' && p[1] == '&'))
			return NULL; /* an escape, a nested class, an intersection: Oniguruma's */
		if (p[1] == '-' && p[2] != ']') {
			b = (unsigned char)p[2];
			if (b == '\\' || b == '[' || b < a || b >= 0x7f)
				return NULL;
			p += 3;
		} else {
			p++;
		}
		for (unsigned x = a; x <= b; x++)
			r.in[x] = 1;
	}
	p++;
	if (*p == '*' || *p == '+') {
		r.min = *p == '+';
		r.max = (size_t)-1;
		p++;
	} else if (*p == '{') {
		char *end;
		unsigned long lo = strtoul(p + 1, &end, 10), hi = lo;
		if (end == p + 1 || (*end != '}' && *end != ','))
			return NULL;
		if (*end == ',') {
			const char *h = end + 1;
			hi = strtoul(h, &end, 10);
			if (end == h || hi < lo)
				return NULL;
		}
		if (*end != '}' || hi > 100000)
			return NULL;
		r.min = lo;
		r.max = hi;
		p = end + 1;
	}
	if (r.empty && strncmp(p, ")?", 2) != 0)
		return NULL;
	if (r.empty)
		p += 2;
	if (strcmp(p, "\\z") != 0)
		return NULL;
	struct span_re *out = rx_xmalloc(sizeof *out);
	*out = r;
	return out;
}

static int span_re_match(const struct span_re *r, const char *s, size_t n)
{
	if (n == 0 && r->empty)
		return 1;
	if (n < r->min || n > r->max)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!r->in[(unsigned char)s[i]])
			return 0;
	return 1;
}

static int is_record_source(int src)
{
	return src != S_OP && src != S_LIT && src != S_ERR && src != S_COUNT && src != S_COLUMNS;
}

/* A placeholder of one record (not the request's, nor {first.NAME}). */
static int is_record_ref(const tnode *a)
{
	return is_record_source(a->src) && !a->first;
}

/* A variable's value: one of "vars", or {column} while the element
 * repeated for a column is compiled (the profile's vars and the
 * template's list outlive the compilation).  NULL: none. */
static const char *var_of(const tcomp *c, const char *name)
{
	if (strcmp(name, "column") == 0)
		return c->column;
	jv v = jv_object_get(jv_copy(c->p->vars), jv_string(name));
	const char *s = jv_get_kind(v) == JV_KIND_STRING ? jv_string_value(v) : NULL;
	jv_free(v);
	return s;
}

static const char column_outside[] = "{column} is the column of an element repeated for each of the request's "
				     "columns (a one-element array inside a record's part, with the list in a "
				     "{columns:A,B} placeholder)";

/* Where the first match of a jq regular expression (Oniguruma, with the
 * syntax and options jq's match takes) is in s: 1 and its bounds, or 0. */
static int jq_first_match(const char *re, const char *s, size_t n, size_t *beg, size_t *end)
{
	OnigRegex rx;
	OnigErrorInfo einfo;
	OnigRegion *region = onig_region_new();
	int found = 0;

	if (region == NULL || onig_new(&rx, (const UChar *)re, (const UChar *)re + strlen(re), ONIG_OPTION_CAPTURE_GROUP,
				       ONIG_ENCODING_UTF8, ONIG_SYNTAX_PERL_NG, &einfo) != ONIG_NORMAL)
		rx_die(RX_EXIT_FAIL, "cannot compile a regular expression");
	const UChar *p = (const UChar *)s, *e = p + n;
	if (onig_search(rx, p, e, p, e, region, ONIG_OPTION_NONE) >= 0) {
		*beg = (size_t)region->beg[0];
		*end = (size_t)region->end[0];
		found = 1;
	}
	onig_region_free(region, 1);
	onig_free(rx);
	return found;
}

/* A variable's part, split: made, as a JSON string; trimmed, its white
 * space at either end removed as jq's sub("^\\s+"; "") | sub("\\s+$";
 * "") does (airtable.jq's merge fields did), by the same expressions. */
static void put_part(rx_buf *b, const char *s, size_t n, int trim)
{
	rx_buf part = {0}, rest = {0};
	size_t beg, end;

	rx_buf_put(&part, s, n);
	if (trim && jq_first_match("^\\s+", part.data ? part.data : "", part.len, &beg, &end)) {
		rx_buf_put(&rest, part.data, beg);
		rx_buf_put(&rest, part.data + end, part.len - end);
		rx_buf_reset(&part);
		rx_buf_put(&part, rest.data ? rest.data : "", rest.len);
		rx_buf_reset(&rest);
	}
	if (trim && jq_first_match("\\s+$", part.data ? part.data : "", part.len, &beg, &end)) {
		rx_buf_put(&rest, part.data, beg);
		rx_buf_put(&rest, part.data + end, part.len - end);
		rx_buf_reset(&part);
		rx_buf_put(&part, rest.data ? rest.data : "", rest.len);
	}
	rx_json_put_string(b, part.data ? part.data : "", part.len);
	rx_buf_free(&part);
	rx_buf_free(&rest);
}

/* One alternative of a placeholder: NAME, then |MODIFIERs (buf is
 * changed).  A variable's value goes to var (the caller makes it literal
 * text). */
static int parse_one(tcomp *c, char *buf, tnode *ref, const char **var)
{
	if (strncmp(buf, "first.", 6) == 0) {
		/* a record's placeholder, of the request's first record */
		ref->first = 1;
		memmove(buf, buf + 6, strlen(buf + 6) + 1);
	}
	char *bar = strchr(buf, '|');
	if (bar != NULL)
		*bar = '\0';
	*var = NULL;
	if (strcmp(buf, "op") == 0)
		ref->src = S_OP;
	else if (strcmp(buf, "count") == 0)
		ref->src = S_COUNT;
	else if (strncmp(buf, "columns:", 8) == 0) {
		/* the list's columns that any record's row has */
		ref->src = S_COLUMNS;
		if (c->colslist == NULL || strcmp(buf + 8, c->colslist) != 0)
			return fail(c, "{columns:%s}: a template has one list of columns (write it the same each time)",
				    buf + 8);
	}
	else if (strcmp(buf, "key") == 0)
		ref->src = S_KEY;
	else if (strcmp(buf, "row") == 0)
		ref->src = S_ROW;
	else if (strcmp(buf, "idem") == 0)
		ref->src = S_IDEM;
	else if (strcmp(buf, "id") == 0)
		ref->src = S_ID;
	else if (strcmp(buf, "hash") == 0)
		ref->src = S_HASH;
	else if (strncmp(buf, "row.", 4) == 0 && buf[4] != '\0') {
		ref->src = S_MEMBER;
		ref->member = rx_xstrdup(buf + 4);
	} else {
		if (ref->first)
			return fail(c, "{first.%s}: first. takes a record's placeholder (key, row, row.NAME, idem, id, "
				    "hash)", buf);
		*var = var_of(c, buf);
		if (*var == NULL && strcmp(buf, "column") == 0)
			return fail(c, "%s", column_outside);
		if (*var == NULL) {
			char name[520];
			snprintf(name, sizeof name, "{%s}", buf);
			return fail(c, "%s is not a placeholder: {op}, {key}, {row}, {row.NAME}, {idem}, {id}, {hash}, "
				    "{count}, {columns:A,B}, {first.NAME}, or a name from \"vars\" (write {{ for a literal "
				    "brace)", name);
		}
		if (bar != NULL && strncmp(bar + 1, "split:", 6) == 0 && bar[7] != '\0') {
			/* {list_ids|split:,}: the variable's parts, an array made
			 * now ("" is []); |trim after it: each part's white space
			 * at either end removed */
			char *sep = bar + 7;
			const char *at = *var;
			size_t sn = strlen(sep);
			int trim = 0;
			if (sn > 5 && strcmp(sep + sn - 5, "|trim") == 0) {
				trim = 1;
				sn -= 5;
				sep[sn] = '\0';
			}
			rx_buf_putc(&ref->lit, '[');
			for (int k = 0; *at != '\0'; k++) {
				const char *e = strstr(at, sep);
				size_t len = e != NULL ? (size_t)(e - at) : strlen(at);
				if (k > 0)
					rx_buf_putc(&ref->lit, ',');
				put_part(&ref->lit, at, len, trim);
				if (e == NULL)
					break;
				at = e + sn;
				if (*at == '\0') {
					rx_buf_puts(&ref->lit, ",\"\"");
					break;
				}
			}
			rx_buf_putc(&ref->lit, ']');
			ref->src = S_LIT;
			*var = NULL;
			return 0;
		}
		if (bar != NULL)
			return fail(c, "{%s|...}: a variable takes no modifier but split:SEP (and trim after it)", buf);
		return 0;
	}
	for (char *m = bar ? bar + 1 : NULL; m != NULL;) {
		if (strncmp(m, "match:", 6) == 0) {
			/* the rest is the expression, | and all: Oniguruma's
			 * Perl syntax, as jq's test() */
			OnigErrorInfo einfo;
			const UChar *re = (const UChar *)m + 6;
			int rc = onig_new(&ref->re, re, re + strlen(m + 6), ONIG_OPTION_CAPTURE_GROUP, ONIG_ENCODING_UTF8,
					  ONIG_SYNTAX_PERL_NG, &einfo);
			if (rc != ONIG_NORMAL) {
				UChar why[ONIG_MAX_ERROR_MESSAGE_LEN];
				onig_error_code_to_str(why, rc, &einfo);
				ref->re = NULL;
				return fail(c, "match: not a regular expression: %s", (const char *)why);
			}
			ref->fast = span_re_of(m + 6);
			break;
		}
		char *next = strchr(m, '|');
		if (next != NULL)
			*next++ = '\0';
		if (strcmp(m, "text") == 0) {
			ref->mods |= M_TEXT;
		} else if (strcmp(m, "strings") == 0) {
			ref->mods |= M_STRINGS;
		} else if (strcmp(m, "optional") == 0) {
			ref->mods |= M_OPTIONAL;
		} else if (strcmp(m, "lower") == 0) {
			ref->mods |= M_LOWER;
		} else if (strcmp(m, "upper") == 0) {
			ref->mods |= M_UPPER;
		} else if (strcmp(m, "array") == 0) {
			ref->mods |= M_ARRAY;
		} else if (strcmp(m, "texts") == 0) {
			ref->mods |= M_TEXTS;
		} else if (strncmp(m, "only:", 5) == 0 && m[5] != '\0') {
			for (char *w = m + 5; w != NULL;) {
				char *comma = strchr(w, ',');
				if (comma != NULL)
					*comma++ = '\0';
				if (*w == '\0')
					return fail(c, "%s: an empty name in only:", buf);
				nameset_add(&ref->only, w);
				w = comma;
			}
		} else if (strncmp(m, "default:", 8) == 0) {
			/* a missing or null value is this JSON instead (before a
			 * match: after it) */
			jv d = jv_parse(m + 8);
			if (!jv_is_valid(d)) {
				jv_free(d);
				return fail(c, "default:%s: not a JSON value", m + 8);
			}
			jv text = jv_dump_string(d, 0);
			rx_buf_reset(&ref->dflt);
			rx_buf_puts(&ref->dflt, jv_string_value(text));
			jv_free(text);
			ref->has_dflt = 1;
		} else if (strncmp(m, "hex:", 4) == 0) {
			char *end;
			long h = strtol(m + 4, &end, 10);
			if (end == m + 4 || *end != '\0' || h < 1 || h > 13)
				return fail(c, "hex:%s: the number of hex digits read, 1 to 13 (13 are 52 bits: exact in a "
					    "double)", m + 4);
			ref->hex = (int)h;
		} else if (strncmp(m, "as:", 3) == 0) {
			/* the value a match: passes, rewritten: \0 the text it
			 * matched, \1 to \9 its groups, \\ a backslash */
			for (const char *q = m + 3; *q != '\0'; q++)
				if (*q == '\\' && !((q[1] >= '0' && q[1] <= '9') || q[1] == '\\'))
					return fail(c, "as:%s: a backslash is a group (\\0 to \\9) or itself (\\\\)", m + 3);
				else if (*q == '\\')
					q++;
			free(ref->as);
			ref->as = rx_xstrdup(m + 3);
		} else if (strcmp(m, "firestore") == 0) {
			ref->mods |= M_FIRESTORE;
		} else if (strcmp(m, "cells") == 0) {
			ref->mods |= M_CELLS;
		} else if (strcmp(m, "nonnull") == 0) {
			ref->mods |= M_NONNULL;
		} else if (strncmp(m, "nulls:", 6) == 0) {
			ref->mods |= M_NULLS;
			free(ref->nulls);
			ref->nulls = rx_xstrdup(m + 6);
		} else if (strncmp(m, "without:", 8) == 0 && m[8] != '\0') {
			for (char *w = m + 8; w != NULL;) {
				char *comma = strchr(w, ',');
				if (comma != NULL)
					*comma++ = '\0';
				if (*w == '\0')
					return fail(c, "%s: an empty name in without:", buf);
				nameset_add(&ref->without, w);
				w = comma;
			}
		} else {
			return fail(c, "\"%s\" is not a modifier: text, texts, strings, lower, upper, array, optional, "
				    "without:NAME,NAME, only:NAME,NAME, nonnull, nulls:TEXT, cells, firestore, default:JSON, "
				    "hex:N, as:TEXT or match:REGEX", m);
		}
		m = next;
	}
	if (ref->as != NULL) {
		if (ref->re == NULL)
			return fail(c, "{%s|...}: as: rewrites what a match: passes: write match:REGEX after it", buf);
		if (ref->mods & ~M_OPTIONAL || ref->hex || ref->nulls != NULL || ref->without.n > 0 || ref->only.n > 0)
			return fail(c, "{%s|...}: as: makes a string of a match:'s groups: default: and optional are the "
				    "only other modifiers beside it", buf);
		int groups = onig_number_of_captures(ref->re);
		for (const char *q = ref->as; *q != '\0'; q++)
			if (*q == '\\' && q[1] != '\\' && q[1] - '0' > groups) {
				char msg[80];
				snprintf(msg, sizeof msg, "\\%c, and the expression has %d", q[1], groups);
				return fail(c, "as: names a group the match: does not have: %s", msg);
			} else if (*q == '\\') {
				q++;
			}
		/* the groups are Oniguruma's to find */
		free(ref->fast);
		ref->fast = NULL;
	}
	if (ref->first && !is_record_source(ref->src))
		return fail(c, "{first.%s}: first. takes a record's placeholder (key, row, row.NAME, idem, id, hash)",
			    buf);
	if ((ref->mods & M_STRINGS) && (ref->mods & M_TEXT))
		return fail(c, "{%s|...}: strings and text together mean nothing (strings already makes text of each "
			    "member)", buf);
	if ((ref->mods & M_LOWER) && !(ref->mods & M_TEXT))
		return fail(c, "{%s|...}: lower lowercases text: write text before it (text|lower)", buf);
	if ((ref->mods & M_UPPER) && !(ref->mods & M_TEXT))
		return fail(c, "{%s|...}: upper uppercases text: write text before it (text|upper)", buf);
	if ((ref->mods & M_UPPER) && (ref->mods & M_LOWER))
		return fail(c, "{%s|...}: lower and upper together: choose one", buf);
	if ((ref->mods & M_ARRAY) && (ref->mods & (M_TEXT | M_STRINGS | M_NULLS | M_CELLS | M_FIRESTORE | M_NONNULL)))
		return fail(c, "{%s|...}: array makes an array of a value that is not one: with texts, or alone", buf);
	if ((ref->mods & M_TEXTS) && (ref->mods & (M_TEXT | M_STRINGS | M_NULLS | M_CELLS | M_FIRESTORE)))
		return fail(c, "{%s|...}: texts makes text of each member or element: text, strings, nulls:, cells or "
			    "firestore beside it mean nothing", buf);
	if ((ref->mods & M_FIRESTORE) && (ref->mods & (M_TEXT | M_STRINGS | M_NULLS | M_CELLS)))
		return fail(c, "{%s|...}: firestore makes Firestore values of the members as they are: text, strings, "
			    "nulls: or cells beside it mean nothing", buf);
	if ((ref->mods & M_CELLS) && (ref->mods & (M_TEXT | M_STRINGS | M_NULLS)))
		return fail(c, "{%s|...}: cells makes an array of the values as they are (null as \"\"): text, strings "
			    "or nulls: beside it mean nothing", buf);
	if ((ref->mods & M_NULLS) && (ref->mods & (M_NONNULL | M_STRINGS)))
		return fail(c, "{%s|...}: nulls: keeps the null members only, each as its text: nonnull or strings "
			    "beside it mean nothing", buf);
	return 0;
}

/* A literal alternative: a JSON value (the last resort of a "//"). */
static int literal_alt(const char *s)
{
	return strchr("{[\"-0123456789", *s) != NULL || strcmp(s, "true") == 0 || strcmp(s, "false") == 0 ||
	       strcmp(s, "null") == 0;
}

/* One placeholder's text, between its braces: alternatives separated by
 * "//", each NAME|MODIFIERs or (the last) a JSON literal.  A variable's
 * value (a placeholder that is one variable) goes to var. */
static int parse_ref(tcomp *c, const char *s, size_t n, tnode *ref, const char **var)
{
	char buf[512];
	size_t len = 0;
	/* a variable inside it, {row.{external_id}} or without:{match}, is
	 * its value; other braces ({1,36} in a match:) stay as they are */
	for (size_t i = 0; i < n; i++) {
		const char *close = s[i] == '{' ? memchr(s + i, '}', n - i) : NULL;
		const char *value = NULL;
		if (close != NULL && close - s - i - 1 > 0 && close - s - i - 1 < 128) {
			char name[128];
			memcpy(name, s + i + 1, (size_t)(close - s - i - 1));
			name[close - s - i - 1] = '\0';
			value = var_of(c, name);
			if (value == NULL && strcmp(name, "column") == 0)
				return fail(c, "%s", column_outside);
		}
		size_t add = value != NULL ? strlen(value) : 1;
		if (len + add >= sizeof buf)
			return fail(c, "a placeholder of %s bytes is too long", "over 500");
		memcpy(buf + len, value != NULL ? value : s + i, add);
		len += add;
		if (value != NULL)
			i = (size_t)(close - s);
	}
	buf[len] = '\0';
	if (strstr(buf, "//") == NULL)
		return parse_one(c, buf, ref, var);
	*var = NULL;
	tnode *at = ref;
	for (char *alt = buf; alt != NULL;) {
		char *next = strstr(alt, "//");
		if (next != NULL) {
			*next = '\0';
			next += 2;
		}
		while (*alt == ' ')
			alt++;
		for (size_t e = strlen(alt); e > 0 && alt[e - 1] == ' ';)
			alt[--e] = '\0';
		if (at == NULL) {
			at = node_new(N_REF);
			tnode *last = ref;
			while (last->alt != NULL)
				last = last->alt;
			last->alt = at;
		}
		if (*alt == '\0')
			return fail(c, "%s: an empty alternative beside //", "a placeholder");
		if (*alt == '!') {
			/* a refusal: the body cannot be built, the batch is dead-lettered */
			if (alt[1] == '\0')
				return fail(c, "%s: a refusal (\"// !\") says why", "a placeholder");
			at->src = S_ERR;
			rx_buf_puts(&at->lit, alt + 1);
			if (next != NULL)
				return fail(c, "%s: a refusal is the last alternative of //", alt);
		} else if (literal_alt(alt)) {
			jv v = jv_parse(alt);
			if (!jv_is_valid(v)) {
				jv_free(v);
				return fail(c, "%s: not a JSON value (a literal alternative of //)", alt);
			}
			jv text = jv_dump_string(v, 0);
			at->src = S_LIT;
			rx_buf_puts(&at->lit, jv_string_value(text));
			jv_free(text);
			if (next != NULL)
				return fail(c, "%s: a literal is the last alternative of // (it always has a value)", alt);
		} else {
			const char *v;
			if (parse_one(c, alt, at, &v) < 0)
				return -1;
			if (v != NULL) {
				/* a variable among alternatives: its text, a literal */
				at->src = S_LIT;
				rx_json_put_string(&at->lit, v, strlen(v));
			}
		}
		if (at->mods & M_OPTIONAL)
			ref->mods |= M_OPTIONAL;
		at = NULL;
		alt = next;
	}
	return 0;
}

/* A string of the template: a literal, one placeholder (its value, any
 * type), or text with placeholders in it (a string).  names: a member
 * name, which may use variables only. */
static tnode *compile_string(tcomp *c, const char *s, size_t n, int name, int *uses_record)
{
	tnode *interp = node_new(N_INTERP), *seg;
	rx_buf text = {0};
	int refs = 0;

	for (size_t i = 0; i < n; i++) {
		if ((s[i] == '{' || s[i] == '}') && i + 1 < n && s[i + 1] == s[i]) {
			rx_buf_putc(&text, s[i++]);
			continue;
		}
		if (s[i] != '{') {
			rx_buf_putc(&text, s[i]);
			continue;
		}
		/* the } that closes it: braces inside (a literal {}, a
		 * match:'s {1,36}) are balanced */
		const char *end = NULL;
		for (size_t j = i + 1, depth = 1; j < n; j++)
			if (s[j] == '{') {
				depth++;
			} else if (s[j] == '}' && --depth == 0) {
				end = s + j;
				break;
			}
		if (end == NULL) {
			fail(c, "%s: a { with no } (write {{ for a literal brace)", "a string");
			goto bad;
		}
		tnode *ref = node_new(N_REF);
		const char *var;
		if (parse_ref(c, s + i + 1, (size_t)(end - s - i - 1), ref, &var) < 0) {
			node_free(ref);
			goto bad;
		}
		i = (size_t)(end - s);
		if (var != NULL) {
			rx_buf_puts(&text, var);
			node_free(ref);
			continue;
		}
		if (name) {
			node_free(ref);
			fail(c, "%s: a member name may use variables only", "a name");
			goto bad;
		}
		if (text.len > 0) {
			seg = node_new(N_LIT);
			rx_buf_put(&seg->lit, text.data, text.len);
			add_kid(interp, seg);
			rx_buf_reset(&text);
		}
		for (const tnode *a = ref; a != NULL; a = a->alt)
			if (is_record_ref(a))
				*uses_record = 1;
		add_kid(interp, ref);
		refs++;
	}
	if (text.len > 0 || interp->nkids == 0) {
		seg = node_new(N_LIT);
		rx_buf_put(&seg->lit, text.data ? text.data : "", text.len);
		add_kid(interp, seg);
	}
	rx_buf_free(&text);
	if (interp->nkids == 1 && interp->kids[0]->kind == N_REF) {
		/* the whole string is one placeholder: its value, as it is */
		tnode *ref = interp->kids[0];
		interp->nkids = 0;
		node_free(interp);
		return ref;
	}
	if (refs == 0 || name) {
		/* literal: kept as JSON text (a member name too, plain beside it) */
		tnode *lit = node_new(N_LIT);
		rx_buf plain = {0};
		for (size_t k = 0; k < interp->nkids; k++)
			rx_buf_put(&plain, interp->kids[k]->lit.data, interp->kids[k]->lit.len);
		rx_json_put_string(&lit->lit, plain.data ? plain.data : "", plain.len);
		node_free(interp);
		lit->member = rx_xstrdup(plain.data ? plain.data : "");
		rx_buf_free(&plain);
		return lit;
	}
	for (size_t k = 0; k < interp->nkids; k++)
		if (interp->kids[k]->kind == N_REF && (interp->kids[k]->mods & M_OPTIONAL)) {
			fail(c, "%s: optional is for a member's whole value", "a string");
			node_free(interp);
			return NULL;
		}
	return interp;
bad:
	rx_buf_free(&text);
	node_free(interp);
	return NULL;
}

static void at_push(tcomp *c, size_t *mark, const char *fmt, const char *s, int i)
{
	*mark = strlen(c->at);
	size_t room = sizeof c->at - *mark;
	if (s != NULL)
		snprintf(c->at + *mark, room, fmt, s);
	else
		snprintf(c->at + *mark, room, fmt, i);
}

/* Does a template value mention {column} (in a string, or a member's
 * name)? */
static int mentions_column(jv v)
{
	int found = 0;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING:
		return strstr(jv_string_value(v), "{column}") != NULL;
	case JV_KIND_ARRAY:
		jv_array_foreach(v, i, e) {
			found = found || mentions_column(e);
			jv_free(e);
		}
		return found;
	case JV_KIND_OBJECT:
		jv_object_foreach(v, k, e) {
			found = found || strstr(jv_string_value(k), "{column}") != NULL || mentions_column(e);
			jv_free(k);
			jv_free(e);
		}
		return found;
	default:
		return 0;
	}
}

/* The template's list of columns, from its first {columns:A,B}
 * placeholder (found before anything is compiled: an element repeated
 * for each column may come before it).  0, or -1 with the error. */
static int find_columns(tcomp *c, jv v)
{
	int rc = 0;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING: {
		const char *at = c->colslist == NULL ? strstr(jv_string_value(v), "{columns:") : NULL;
		if (at == NULL)
			return 0;
		at += 9;
		size_t len = strcspn(at, "|}/ ");
		if (len == 0 || at[len] == '\0' || memchr(at, '{', len) != NULL)
			return fail(c, "%s: {columns:A,B} names the columns, written out, comma-separated", "a string");
		c->colslist = rx_xmalloc(len + 1);
		memcpy(c->colslist, at, len);
		c->colslist[len] = '\0';
		for (const char *w = c->colslist; rc == 0;) {
			size_t wl = strcspn(w, ",");
			if (wl == 0)
				return fail(c, "{columns:%s}: an empty name in the list", c->colslist);
			c->cols = rx_xrealloc(c->cols, sizeof *c->cols * (c->ncols + 1));
			c->cols[c->ncols] = rx_xmalloc(wl + 1);
			memcpy(c->cols[c->ncols], w, wl);
			c->cols[c->ncols][wl] = '\0';
			for (size_t j = 0; j < c->ncols && rc == 0; j++)
				if (strcmp(c->cols[j], c->cols[c->ncols]) == 0) {
					char msg[300];
					snprintf(msg, sizeof msg, "{columns:%.200s}: the column %.60s is named twice", c->colslist,
						 c->cols[j]);
					rc = fail(c, "%s", msg);
				}
			c->ncols++;
			if (w[wl] == '\0')
				break;
			w += wl + 1;
		}
		return rc;
	}
	case JV_KIND_ARRAY:
		jv_array_foreach(v, i, e) {
			if (rc == 0)
				rc = find_columns(c, e);
			jv_free(e);
		}
		return rc;
	case JV_KIND_OBJECT:
		jv_object_foreach(v, k, e) {
			if (rc == 0)
				rc = find_columns(c, e);
			jv_free(k);
			jv_free(e);
		}
		return rc;
	default:
		return 0;
	}
}

static tnode *compile_node(tcomp *c, jv v, int in_record, int *uses_record);

/* A one-element array inside a record's part whose element mentions
 * {column}: the element once for each of the request's columns, compiled
 * once for each column of the list ({column} its name, {row.{column}}
 * its value, a choice on it made now). */
static tnode *compile_columns(tcomp *c, jv e, int *uses_record)
{
	size_t mark;

	if (c->ncols == 0) {
		fail(c, "%s needs the template's list of columns: a {columns:A,B} placeholder (the request's columns "
		     "are those of the list any record's row has)", "an element naming {column}");
		return NULL;
	}
	tnode *n = node_new(N_COLS);
	at_push(c, &mark, "[%d]", NULL, 0);
	for (size_t j = 0; j < c->ncols; j++) {
		c->column = c->cols[j];
		tnode *kid = compile_node(c, e, 1, uses_record);
		if (kid != NULL && kid->kind == N_OBJECT && kid->nguards > 0 && kid->orelse == NULL) {
			fail(c, "%s cannot be left out (the cells are read by position): give the guard a \"??else\", "
			     "what stands instead ({}, \"\", null)", "the element repeated for each column");
			node_free(kid);
			kid = NULL;
		}
		if (kid == NULL) {
			c->column = NULL;
			c->at[mark] = '\0';
			node_free(n);
			return NULL;
		}
		add_kid(n, kid);
	}
	c->column = NULL;
	c->at[mark] = '\0';
	return n;
}

static tnode *compile_node(tcomp *c, jv v, int in_record, int *uses_record)
{
	size_t mark;
	tnode *n;

	switch (jv_get_kind(v)) {
	case JV_KIND_STRING: {
		int uses = 0;
		n = compile_string(c, jv_string_value(v), (size_t)jv_string_length_bytes(jv_copy(v)), 0, &uses);
		if (n != NULL && uses && !in_record) {
			fail(c, "%s names a record outside the array that repeats for each record (a one-element array "
			     "around the record's part)", jv_string_value(v));
			node_free(n);
			return NULL;
		}
		if (n != NULL && n->kind == N_REF && (n->mods & M_OPTIONAL) && c->at[0] != '\0' &&
		    c->at[strlen(c->at) - 1] == ']') {
			fail(c, "%s: optional is for a member's value, not an array element", jv_string_value(v));
			node_free(n);
			return NULL;
		}
		*uses_record |= uses;
		return n;
	}
	case JV_KIND_ARRAY: {
		int len = jv_array_length(jv_copy(v));
		if (len == 1 && in_record && c->column == NULL) {
			jv e = jv_array_get(jv_copy(v), 0);
			if (mentions_column(e)) {
				n = compile_columns(c, e, uses_record);
				jv_free(e);
				return n;
			}
			jv_free(e);
		}
		if (len == 1 && !in_record) {
			int uses = 0;
			at_push(c, &mark, "[%d]", NULL, 0);
			jv e = jv_array_get(jv_copy(v), 0);
			tnode *kid = compile_node(c, e, 1, &uses);
			jv_free(e);
			if (kid != NULL && uses && kid->kind == N_OBJECT && kid->nguards > 0 && kid->orelse == NULL) {
				fail(c, "%s cannot be left out (a guard, \"??\", is for what is inside it, or give it a "
				     "\"??else\": the replies are read by position)", "the element repeated for each record");
				node_free(kid);
				kid = NULL;
			}
			c->at[mark] = '\0';
			if (kid == NULL)
				return NULL;
			n = node_new(uses ? N_EACH : N_ARRAY);
			add_kid(n, kid);
			return n;
		}
		n = node_new(N_ARRAY);
		for (int i = 0; i < len; i++) {
			at_push(c, &mark, "[%d]", NULL, i);
			jv e = jv_array_get(jv_copy(v), i);
			tnode *kid = compile_node(c, e, in_record, uses_record);
			jv_free(e);
			c->at[mark] = '\0';
			if (kid == NULL) {
				node_free(n);
				return NULL;
			}
			add_kid(n, kid);
		}
		return n;
	}
	case JV_KIND_OBJECT: {
		jv q = jv_object_get(jv_copy(v), jv_string("?"));
		if (jv_is_valid(q)) {
			/* a choice, made when the profile loads: the case its
			 * variable names, else "*" */
			if (jv_get_kind(q) != JV_KIND_STRING) {
				jv_free(q);
				fail(c, "a choice's \"?\" is a string naming a variable: %s", "\"{NAME}\"");
				return NULL;
			}
			int dummy = 0;
			tnode *name = compile_string(c, jv_string_value(q), (size_t)jv_string_length_bytes(jv_copy(q)), 1,
						     &dummy);
			jv_free(q);
			if (name == NULL)
				return NULL;
			const char *as;
			char cases[256];
			jv pick = rx_push_choice_case(v, name->member, &as, cases, sizeof cases);
			if (!jv_is_valid(pick)) {
				char msg[400];
				snprintf(msg, sizeof msg, "\"%s\" is no case of this choice (%s) and it has no \"*\"", name->member,
					 cases);
				node_free(name);
				fail(c, "%s", msg);
				return NULL;
			}
			jv why = jv_get_kind(pick) == JV_KIND_OBJECT && jv_object_length(jv_copy(pick)) == 1
					 ? jv_object_get(jv_copy(pick), jv_string("!"))
					 : jv_invalid();
			if (jv_get_kind(why) == JV_KIND_STRING) {
				/* a case that refuses: the profile cannot work with
				 * these variables, and says why before anything is
				 * sent (Notion's data sources without an id) */
				rx_buf msg = {0};
				rx_push_template(&msg, jv_string_value(why), c->p, c->what, NULL, 0);
				snprintf(c->err, c->errlen, "profile %s: %s", c->p->name, msg.data ? msg.data : "");
				rx_buf_free(&msg);
				jv_free(why);
				node_free(name);
				jv_free(pick);
				return NULL;
			}
			jv_free(why);
			at_push(c, &mark, c->at[0] ? ".%s" : "%s", as, 0);
			n = compile_node(c, pick, in_record, uses_record);
			c->at[mark] = '\0';
			node_free(name);
			jv_free(pick);
			return n;
		}
		jv_free(q);
		n = node_new(N_OBJECT);
		int len = jv_object_length(jv_copy(v));
		n->qnames = calloc((size_t)len + 1, sizeof *n->qnames);
		n->names = calloc((size_t)len + 1, sizeof *n->names);
		if (n->qnames == NULL || n->names == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		int bad = 0;
		jv_object_foreach(v, k, val) {
			if (bad) {
				jv_free(k);
				jv_free(val);
				continue;
			}
			const char *ks = jv_string_value(k);
			at_push(c, &mark, c->at[0] ? ".%s" : "%s", ks, 0);
			size_t i = n->nkids;
			if (strcmp(ks, "??") == 0) {
				/* a guard: the object only when these values are there */
				int one = jv_get_kind(val) == JV_KIND_STRING;
				int cnt = one ? 1 : jv_get_kind(val) == JV_KIND_ARRAY ? jv_array_length(jv_copy(val)) : 0;
				for (int g = 0; g < cnt && !bad; g++) {
					jv e = one ? jv_copy(val) : jv_array_get(jv_copy(val), g);
					tnode *gn = NULL;
					if (jv_get_kind(e) == JV_KIND_STRING)
						gn = compile_node(c, e, in_record, uses_record);
					jv_free(e);
					if (gn == NULL) {
						bad = 1;
						break;
					}
					if (gn->kind != N_REF || !is_record_source(gn->src)) {
						fail(c, "%s: a guard (\"??\") names a record's values, \"{row.NAME}\" or an array "
						     "of them", "the value");
						node_free(gn);
						bad = 1;
						break;
					}
					n->guards = realloc(n->guards, sizeof *n->guards * (n->nguards + 1));
					if (n->guards == NULL)
						rx_die(RX_EXIT_FAIL, "out of memory");
					n->guards[n->nguards++] = gn;
				}
				if (!bad && cnt == 0) {
					fail(c, "%s: a guard (\"??\") names a record's values, \"{row.NAME}\" or an array of them",
					     "the value");
					bad = 1;
				}
				c->at[mark] = '\0';
				jv_free(k);
				jv_free(val);
				continue;
			}
			if (strcmp(ks, "??else") == 0) {
				/* what stands instead of the object when its guard fails */
				n->orelse = compile_node(c, val, in_record, uses_record);
				if (n->orelse == NULL)
					bad = 1;
				c->at[mark] = '\0';
				jv_free(k);
				jv_free(val);
				continue;
			}
			tnode *kid = compile_node(c, val, in_record, uses_record);
			if (kid == NULL) {
				bad = 1;
			} else if (strncmp(ks, "...", 3) == 0) {
				if (kid->kind != N_REF || (kid->src != S_ROW && kid->src != S_MEMBER) ||
				    (kid->mods & (M_TEXT | M_OPTIONAL | M_CELLS | M_FIRESTORE)) || kid->alt != NULL ||
				    kid->re != NULL || kid->has_dflt || kid->hex || kid->first) {
					fail(c, "%s: a spread (\"...\") takes {row} or {row.NAME}, with without:, only:, "
					     "strings, texts, nonnull or nulls:", "the value");
					bad = 1;
				}
				add_kid(n, kid);
			} else {
				int dummy = 0;
				size_t kn = (size_t)jv_string_length_bytes(jv_copy(k));
				if (ks[0] == '?' && kn > 1) {
					/* "?NAME": left out when it comes out null, "", {} or [] */
					if (n->drop_empty == NULL && (n->drop_empty = calloc((size_t)len + 1, 1)) == NULL)
						rx_die(RX_EXIT_FAIL, "out of memory");
					n->drop_empty[i] = 1;
					ks++;
					kn--;
				}
				tnode *name = compile_string(c, ks, kn, 1, &dummy);
				if (name == NULL) {
					bad = 1;
				} else {
					for (size_t j = 0; j < i; j++)
						if (n->names[j] != NULL && strcmp(n->names[j], name->member) == 0) {
							fail(c, "the member \"%s\" is named twice (a variable may make it so)",
							     name->member);
							bad = 1;
						}
					rx_buf_put(&n->qnames[i], name->lit.data, name->lit.len);
					n->names[i] = name->member;
					name->member = NULL;
					node_free(name);
				}
				add_kid(n, kid);
			}
			c->at[mark] = '\0';
			jv_free(k);
			jv_free(val);
		}
		if (!bad && n->orelse != NULL && n->nguards == 0) {
			fail(c, "%s stands when the object's guard fails: it needs a guard (\"??\")", "\"??else\"");
			bad = 1;
		}
		if (bad) {
			node_free(n);
			return NULL;
		}
		return n;
	}
	default:
		n = node_new(N_LIT);
		jv text = jv_dump_string(jv_copy(v), 0);
		rx_buf_puts(&n->lit, jv_string_value(text));
		jv_free(text);
		return n;
	}
}

int rx_push_tmpl_compile(push_tmpl **out, jv spec, const push_profile *p, const char *what, int mode, char *err,
			 size_t errlen)
{
	int ndjson = mode == RX_TMPL_NDJSON;
	tcomp c = {.p = p, .what = what, .err = err, .errlen = errlen};
	int uses = 0;
	tnode *root;

	*out = NULL;
	if (find_columns(&c, spec) < 0) {
		root = NULL;
	} else if (ndjson) {
		/* NDJSON (Elasticsearch's _bulk): the lines of one record, each
		 * written on its own line for each record of the request */
		if (jv_get_kind(spec) != JV_KIND_ARRAY || jv_array_length(jv_copy(spec)) == 0) {
			snprintf(err, errlen, "profile %s: %s: an NDJSON template is an array: the lines of one record",
				 p->name, what);
			return -1;
		}
		root = node_new(N_LINES);
		jv_array_foreach(spec, i, e) {
			size_t mark;
			at_push(&c, &mark, "[%d]", NULL, i);
			tnode *kid = root != NULL ? compile_node(&c, e, 1, &uses) : NULL;
			if (kid != NULL && kid->kind == N_OBJECT && kid->nguards > 0 && kid->orelse == NULL) {
				fail(&c, "%s cannot be left out (a guard, \"??\", is for what is inside it, or give it a "
				     "\"??else\": the replies are read by position)", "a line");
				node_free(kid);
				kid = NULL;
			}
			c.at[mark] = '\0';
			jv_free(e);
			if (root == NULL)
				continue;
			if (kid == NULL) {
				node_free(root);
				root = NULL;
			} else {
				add_kid(root, kid);
			}
		}
	} else {
		root = compile_node(&c, spec, 0, &uses);
	}
	free(c.colslist);
	if (root == NULL) {
		for (size_t i = 0; i < c.ncols; i++)
			free(c.cols[i]);
		free(c.cols);
		return -1;
	}
	if (mode == RX_TMPL_FORM) {
		/* form fields: a string as its text, anything else its JSON
		 * (no spread: one takes a record, and the root is no record's) */
		if (root->kind != N_OBJECT) {
			snprintf(err, errlen, "profile %s: %s: a form template is an object: its members are the fields",
				 p->name, what);
			node_free(root);
			for (size_t i = 0; i < c.ncols; i++)
				free(c.cols[i]);
			free(c.cols);
			return -1;
		}
	}
	push_tmpl *t = calloc(1, sizeof *t);
	if (t == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	t->root = root;
	t->form = mode == RX_TMPL_FORM;
	t->cols = c.cols;
	t->ncols = c.ncols;
	if (t->ncols > 0)
		t->present = rx_xmalloc(t->ncols);
	*out = t;
	return 0;
}

/* ---- building ---- */

/* The row's members (scanned once for the record).  0, or -1: the row is
 * not an object. */
static int row_members(push_tmpl *t)
{
	char err[128];

	if (t->row_state == 0)
		t->row_state = t->rec->row.n > 0 && rx_json_kind(t->rec->row) == 'o' &&
					       rx_json_members(t->rec->row.p, t->rec->row.n, &t->row, err, sizeof err) == 0
				       ? 1
				       : -1;
	return t->row_state > 0 ? 0 : -1;
}

static int source_of(push_tmpl *t, const tnode *n, rx_span *v);

/* The raw JSON of a placeholder's source: 1, or 0 when it has none (a
 * member the row lacks, a record without an id). */
static int source(push_tmpl *t, const tnode *n, rx_span *v)
{
	if (!n->first)
		return source_of(t, n, v);
	/* {first.NAME}: the request's first record's */
	if (t->nrec == 0)
		return 0;
	const push_record *r = t->recs[0];
	if (n->src == S_MEMBER) {
		char err[128];
		if (r->row.n == 0 || rx_json_kind(r->row) != 'o' ||
		    rx_json_members(r->row.p, r->row.n, &t->first_row, err, sizeof err) < 0)
			return 0;
		long i = rx_json_find(&t->first_row, n->member, strlen(n->member));
		if (i < 0)
			return 0;
		*v = t->first_row.m[i].value;
		return 1;
	}
	const push_record *was = t->rec;
	size_t was_i = t->rec_i;
	t->rec = r;
	t->rec_i = 0;
	int rc = source_of(t, n, v);
	t->rec = was;
	t->rec_i = was_i;
	return rc;
}

static int source_of(push_tmpl *t, const tnode *n, rx_span *v)
{
	switch (n->src) {
	case S_COUNT:
		rx_buf_reset(&t->quoted);
		rx_buf_printf(&t->quoted, "%zu", t->nrec);
		*v = rx_span_of(t->quoted.data, t->quoted.len);
		return 1;
	case S_COLUMNS:
		/* none of the list in any row: missing (a "// !why" refuses) */
		*v = rx_span_of(t->colstext.data, t->colstext.len);
		return t->npresent > 0;
	case S_OP:
		rx_buf_reset(&t->quoted);
		rx_json_put_string(&t->quoted, t->op, strlen(t->op));
		*v = rx_span_of(t->quoted.data, t->quoted.len);
		return 1;
	case S_KEY:
		*v = t->rec->key;
		return 1;
	case S_ROW:
		*v = t->rec->row;
		return v->n > 0;
	case S_MEMBER: {
		if (row_members(t) < 0)
			return 0;
		long i = rx_json_find(&t->row, n->member, strlen(n->member));
		if (i < 0)
			return 0;
		*v = t->row.m[i].value;
		return 1;
	}
	case S_IDEM:
		rx_buf_reset(&t->quoted);
		rx_buf_putc(&t->quoted, '"');
		rx_buf_puts(&t->quoted, rx_push_idem(t->rec));
		rx_buf_putc(&t->quoted, '"');
		*v = rx_span_of(t->quoted.data, t->quoted.len);
		return 1;
	case S_ID:
		*v = t->rec->id;
		return v->n > 0;
	case S_LIT:
		*v = rx_span_of(n->lit.data, n->lit.len);
		return 1;
	case S_ERR:
		if (t->rec == NULL) {
			if (t->failed == NULL)
				t->failed = n;
		} else if (t->nrefused == 0 || t->refused[t->nrefused - 1].i != t->rec_i) {
			/* a record's: it alone is refused (the first of its reasons) */
			if (t->nrefused == t->refused_cap) {
				t->refused_cap = 2 * t->refused_cap + 8;
				t->refused = rx_xrealloc(t->refused, t->refused_cap * sizeof *t->refused);
			}
			t->refused[t->nrefused].i = t->rec_i;
			t->refused[t->nrefused++].n = n;
		}
		return 0;
	default:
		*v = t->rec->hash;
		return v->n > 0;
	}
}

/* A value as text: a string as it is, null as null (or "" with
 * null_empty), anything else its JSON text as a string. */
static void put_as_text(push_tmpl *t, rx_buf *b, rx_span v, int null_empty)
{
	char k = rx_json_kind(v);
	if (k == 's') {
		rx_buf_put(b, v.p, v.n);
	} else if (k == 'z') {
		rx_buf_puts(b, null_empty ? "\"\"" : "null");
	} else {
		rx_buf_reset(&t->conv);
		rx_json_put_compact(&t->conv, v);
		rx_json_put_string(b, t->conv.data, t->conv.len);
	}
}

/* An object's members: the row's scanned once a record, another's into
 * the scratch.  NULL: not an object. */
static const rx_members *members_of(push_tmpl *t, rx_span v)
{
	char err[128];

	if (t->rec != NULL && v.p == t->rec->row.p && v.n == t->rec->row.n)
		return row_members(t) < 0 ? NULL : &t->row;
	return rx_json_members(v.p, v.n, &t->other, err, sizeof err) < 0 ? NULL : &t->other;
}

/* Whether a member of an object survives n's without:, nonnull, nulls:. */
static int keep_member(push_tmpl *t, const tnode *n, const rx_member *m)
{
	if (n->without.n > 0 && nameset_has(&n->without, m, &t->names))
		return 0;
	if (n->only.n > 0 && !nameset_has(&n->only, m, &t->names))
		return 0;
	if (n->mods & (M_NONNULL | M_NULLS)) {
		int null = rx_json_kind(m->value) == 'z';
		if ((n->mods & M_NONNULL) ? null : !null)
			return 0;
	}
	return 1;
}

/* nulls: whether object v has a null member to give (else it is null). */
static int has_nulls(push_tmpl *t, const tnode *n, rx_span v)
{
	const rx_members *ms = members_of(t, v);
	for (size_t i = 0; ms != NULL && i < ms->n; i++)
		if (keep_member(t, n, &ms->m[i]))
			return 1;
	return 0;
}

/* Whether a placeholder's value, its modifiers applied, is null. */
static int value_null(push_tmpl *t, const tnode *n, rx_span v)
{
	char k = rx_json_kind(v);
	return k == 'z' || (k == 'o' && (n->mods & M_NULLS) && !has_nulls(t, n, v));
}

/* match: the value's text (a string's characters, else its JSON) matches. */
static int matches(push_tmpl *t, const tnode *n, rx_span v)
{
	if (n->fast != NULL && rx_json_kind(v) == 's' && memchr(v.p, '\\', v.n) == NULL)
		/* a string without escapes is its characters between the quotes */
		return span_re_match(n->fast, v.p + 1, v.n - 2);
	rx_buf_reset(&t->mtext);
	if (rx_json_kind(v) == 's')
		rx_json_string_decode(v, &t->mtext);
	else
		rx_json_put_compact(&t->mtext, v);
	const UChar *p = (const UChar *)(t->mtext.data ? t->mtext.data : ""), *end = p + t->mtext.len;
	if (n->fast != NULL)
		return span_re_match(n->fast, (const char *)p, t->mtext.len);
	return onig_search(n->re, p, end, p, end, NULL, ONIG_OPTION_NONE) >= 0;
}

/* The alternative of a placeholder that gives its value, and the value:
 * the first with one (not missing, not null, matching its match:); the
 * last as it is, null and all.  NULL: none (missing). */
/* hex:N: the first N hex digits of the value's text as a number (into
 * t->hexbuf); 0 when the text does not begin with N of them. */
static int hex_number(push_tmpl *t, const tnode *a, rx_span *v)
{
	rx_buf_reset(&t->mtext);
	if (rx_json_kind(*v) == 's')
		rx_json_string_decode(*v, &t->mtext);
	else
		rx_json_put_compact(&t->mtext, *v);
	if (t->mtext.len < (size_t)a->hex)
		return 0;
	unsigned long long x = 0;
	for (int i = 0; i < a->hex; i++) {
		int ch = (unsigned char)t->mtext.data[i], d;
		if (ch >= '0' && ch <= '9')
			d = ch - '0';
		else if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'f')
			d = (ch | 0x20) - 'a' + 10;
		else
			return 0;
		x = x * 16 + (unsigned long long)d;
	}
	rx_buf_reset(&t->hexbuf);
	rx_buf_printf(&t->hexbuf, "%llu", x);
	*v = rx_span_of(t->hexbuf.data, t->hexbuf.len);
	return 1;
}

/* as:TEXT: when the value's text matches a's expression, the value is
 * TEXT with the match's groups in it, a string (into t->asbuf).  0 when
 * it does not match. */
static int rewrite(push_tmpl *t, const tnode *a, rx_span *v)
{
	rx_buf_reset(&t->mtext);
	if (rx_json_kind(*v) == 's')
		rx_json_string_decode(*v, &t->mtext);
	else
		rx_json_put_compact(&t->mtext, *v);
	if (t->region == NULL && (t->region = onig_region_new()) == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	const UChar *p = (const UChar *)(t->mtext.data ? t->mtext.data : ""), *end = p + t->mtext.len;
	if (onig_search(a->re, p, end, p, end, t->region, ONIG_OPTION_NONE) < 0)
		return 0;
	rx_buf_reset(&t->astext);
	for (const char *q = a->as; *q != '\0'; q++) {
		if (*q != '\\') {
			rx_buf_putc(&t->astext, *q);
			continue;
		}
		q++;
		if (*q == '\\') {
			rx_buf_putc(&t->astext, '\\');
			continue;
		}
		int g = *q - '0';
		if (g < t->region->num_regs && t->region->beg[g] >= 0)
			rx_buf_put(&t->astext, (const char *)p + t->region->beg[g],
				   (size_t)(t->region->end[g] - t->region->beg[g]));
	}
	rx_buf_reset(&t->asbuf);
	rx_json_put_string(&t->asbuf, t->astext.data ? t->astext.data : "", t->astext.len);
	*v = rx_span_of(t->asbuf.data, t->asbuf.len);
	return 1;
}

static const tnode *pick(push_tmpl *t, const tnode *n, rx_span *v)
{
	for (const tnode *a = n; a != NULL; a = a->alt) {
		int has = source(t, a, v);
		if (a->has_dflt && (!has || rx_json_kind(*v) == 'z')) {
			/* default:JSON, before a match: */
			*v = rx_span_of(a->dflt.data, a->dflt.len);
			has = 1;
		}
		if (!has || (a->hex && !hex_number(t, a, v)))
			continue;
		if (a->re != NULL && (rx_json_kind(*v) == 'z' || !(a->as != NULL ? rewrite(t, a, v) : matches(t, a, *v))))
			continue;
		if (a->alt != NULL && value_null(t, a, *v))
			continue;
		return a;
	}
	return NULL;
}

/* Member m of an object n spreads or lists, as n's modifiers make it:
 * the nulls: text, each member as text (texts, strings), else as it
 * came; first tracks the comma. */
static void put_member(push_tmpl *t, rx_buf *b, const tnode *n, const rx_member *m, int *first)
{
	if (!*first)
		rx_buf_putc(b, ',');
	*first = 0;
	rx_buf_put(b, m->name.p, m->name.n);
	rx_buf_putc(b, ':');
	if (n->mods & M_NULLS)
		rx_json_put_string(b, n->nulls, strlen(n->nulls));
	else if (n->mods & M_TEXTS)
		put_as_text(t, b, m->value, 0);
	else if (n->mods & M_STRINGS)
		put_as_text(t, b, m->value, 1);
	else
		rx_json_put_compact(b, m->value);
}

/* The members of object v that n keeps (without:, nonnull, nulls:), less
 * those of skip (an object's own members, when spread into it), each as
 * text with strings, as the nulls: text with nulls:; first tracks the
 * comma. */
static void put_members(push_tmpl *t, rx_buf *b, const tnode *n, rx_span v, const tnode *skip, int *first)
{
	const rx_members *ms = members_of(t, v);

	for (size_t i = 0; ms != NULL && i < ms->n; i++) {
		const rx_member *m = &ms->m[i];
		if (!keep_member(t, n, m))
			continue;
		if (skip != NULL) {
			size_t j;
			for (j = 0; j < skip->nkids; j++)
				if (skip->names[j] != NULL && rx_json_name_eq(m->name, skip->names[j], strlen(skip->names[j])))
					break;
			if (j < skip->nkids)
				continue;
		}
		put_member(t, b, n, m, first);
	}
}

/* text|lower, text|upper: the value as text, its ASCII letters
 * lowercased or uppercased (jq's ascii_downcase, ascii_upcase).  A JSON
 * string without escapes is cased as it is; otherwise (an escape may hide
 * a letter, \u0041, and an uppercased escape is no escape: \N) the text is
 * decoded, cased and quoted again. */
static void put_case(push_tmpl *t, rx_buf *b, rx_span v, int upper)
{
	const char from = upper ? 'a' : 'A', to = upper ? 'z' : 'Z';
	const int by = upper ? 'A' - 'a' : 'a' - 'A';
	char k = rx_json_kind(v);
	size_t at = b->len;

	if (k == 'z') {
		rx_buf_puts(b, "null");
		return;
	}
	if (k == 's' && memchr(v.p, '\\', v.n) == NULL) {
		rx_buf_put(b, v.p, v.n);
	} else if (k == 's' || upper) {
		rx_buf_reset(&t->conv);
		if (k == 's')
			rx_json_string_decode(v, &t->conv);
		else
			rx_json_put_compact(&t->conv, v);
		for (size_t i = 0; i < t->conv.len; i++)
			if (t->conv.data[i] >= from && t->conv.data[i] <= to)
				t->conv.data[i] = (char)(t->conv.data[i] + by);
		rx_json_put_string(b, t->conv.data ? t->conv.data : "", t->conv.len);
		return;
	} else {
		put_as_text(t, b, v, 0); /* its escapes are lowercase already */
	}
	for (size_t i = at; i < b->len; i++)
		if (b->data[i] >= from && b->data[i] <= to)
			b->data[i] = (char)(b->data[i] + by);
}

/* cells: the values of object v that n keeps, in order, as an array of
 * spreadsheet cells: null as "", an object or array as its JSON text,
 * anything else as it is. */
static void put_cells(push_tmpl *t, rx_buf *b, const tnode *n, rx_span v)
{
	const rx_members *ms = members_of(t, v);
	int first = 1;

	rx_buf_putc(b, '[');
	for (size_t i = 0; ms != NULL && i < ms->n; i++) {
		const rx_member *m = &ms->m[i];
		if (!keep_member(t, n, m))
			continue;
		if (!first)
			rx_buf_putc(b, ',');
		first = 0;
		char k = rx_json_kind(m->value);
		if (k == 'z') {
			rx_buf_puts(b, "\"\"");
		} else if (k == 'o' || k == 'a') {
			rx_buf_reset(&t->conv);
			rx_json_put_compact(&t->conv, m->value);
			rx_json_put_string(b, t->conv.data, t->conv.len);
		} else {
			rx_json_put_compact(b, m->value);
		}
	}
	rx_buf_putc(b, ']');
}

/* A JSON value as a Firestore Value (firestore.jq's fs_value did it in
 * jq): an integer a double holds exactly is an integerValue (its decimal
 * text), any other number a doubleValue (its text), a string a
 * stringValue, and so on down arrays and objects. */
static void put_fs_value(rx_buf *b, rx_span v);

static void put_fs_members(push_tmpl *t, rx_buf *b, const rx_members *ms, const tnode *n)
{
	int first = 1;

	rx_buf_putc(b, '{');
	for (size_t i = 0; ms != NULL && i < ms->n; i++) {
		if (n != NULL && !keep_member(t, n, &ms->m[i]))
			continue;
		if (!first)
			rx_buf_putc(b, ',');
		first = 0;
		rx_buf_put(b, ms->m[i].name.p, ms->m[i].name.n);
		rx_buf_putc(b, ':');
		put_fs_value(b, ms->m[i].value);
	}
	rx_buf_putc(b, '}');
}

/* A nested object's fields (its members scanned into its own storage: a
 * value's members are inside its parent's). */
static void put_fs_fields(rx_buf *b, rx_span v)
{
	rx_members ms = {0};
	char err[128];

	put_fs_members(NULL, b, rx_json_members(v.p, v.n, &ms, err, sizeof err) == 0 ? &ms : NULL, NULL);
	free(ms.m);
}

static void put_fs_number(rx_buf *b, rx_span v)
{
	char text[64];
	int integer = memchr(v.p, '.', v.n) == NULL && memchr(v.p, 'e', v.n) == NULL && memchr(v.p, 'E', v.n) == NULL;

	if (integer && (v.n <= 15 || (v.n == 16 && v.p[0] == '-'))) {
		/* at most 15 digits and a sign: within 2^53, its text is its value */
		rx_buf_puts(b, "{\"integerValue\":\"");
		rx_buf_put(b, v.p, v.n);
		rx_buf_puts(b, "\"}");
		return;
	}
	double d = 0;
	if (v.n < sizeof text) {
		memcpy(text, v.p, v.n);
		text[v.n] = '\0';
		d = strtod(text, NULL);
	}
	if (v.n < sizeof text && d < 9007199254740992.0 && d > -9007199254740992.0 && d == floor(d)) {
		/* 1.0, 1e3, 9007199254740991: what jq's . == floor found */
		rx_buf_puts(b, "{\"integerValue\":\"");
		rx_buf_printf(b, "%.0f", d);
		rx_buf_puts(b, "\"}");
	} else {
		rx_buf_puts(b, "{\"doubleValue\":");
		rx_buf_put(b, v.p, v.n);
		rx_buf_putc(b, '}');
	}
}

static void put_fs_value(rx_buf *b, rx_span v)
{
	switch (rx_json_kind(v)) {
	case 's':
		rx_buf_puts(b, "{\"stringValue\":");
		rx_buf_put(b, v.p, v.n);
		rx_buf_putc(b, '}');
		break;
	case 'n':
		put_fs_number(b, v);
		break;
	case 't':
	case 'f':
		rx_buf_puts(b, "{\"booleanValue\":");
		rx_buf_puts(b, rx_json_kind(v) == 't' ? "true" : "false");
		rx_buf_putc(b, '}');
		break;
	case 'a': {
		size_t n = rx_json_array_split(v, NULL, 0);
		rx_span one[16], *es = n <= 16 ? one : rx_xmalloc(n * sizeof *es);
		rx_json_array_split(v, es, n);
		rx_buf_puts(b, "{\"arrayValue\":{\"values\":[");
		for (size_t i = 0; i < n; i++) {
			if (i > 0)
				rx_buf_putc(b, ',');
			put_fs_value(b, es[i]);
		}
		rx_buf_puts(b, "]}}");
		if (es != one)
			free(es);
		break;
	}
	case 'o':
		rx_buf_puts(b, "{\"mapValue\":{\"fields\":");
		put_fs_fields(b, v);
		rx_buf_puts(b, "}}");
		break;
	default:
		rx_buf_puts(b, "{\"nullValue\":null}");
		break;
	}
}

/* A placeholder's value, its modifiers applied. */
static void put_ref(push_tmpl *t, rx_buf *b, const tnode *n, rx_span v)
{
	int shaped = (n->without.n > 0 || n->only.n > 0 ||
		      (n->mods & (M_STRINGS | M_TEXTS | M_NONNULL | M_NULLS | M_CELLS | M_FIRESTORE))) &&
		     rx_json_kind(v) == 'o';

	if ((n->mods & M_ARRAY) && rx_json_kind(v) != 'a' && rx_json_kind(v) != 'z') {
		/* a value that is not an array: an array of it */
		rx_buf_putc(b, '[');
		if (n->mods & M_TEXTS)
			put_as_text(t, b, v, 0);
		else
			rx_json_put_compact(b, v);
		rx_buf_putc(b, ']');
		return;
	}
	if ((n->mods & M_TEXTS) && !shaped) {
		/* an array: each element as text; anything else: as text */
		if (rx_json_kind(v) == 'a') {
			size_t ne = rx_json_array_split(v, NULL, 0);
			rx_span one[16], *es = ne <= 16 ? one : rx_xmalloc(ne * sizeof *es);
			rx_json_array_split(v, es, ne);
			rx_buf_putc(b, '[');
			for (size_t i = 0; i < ne; i++) {
				if (i > 0)
					rx_buf_putc(b, ',');
				put_as_text(t, b, es[i], 0);
			}
			rx_buf_putc(b, ']');
			if (es != one)
				free(es);
		} else {
			put_as_text(t, b, v, 0);
		}
		return;
	}

	if (shaped && (n->mods & M_CELLS)) {
		put_cells(t, b, n, v);
		return;
	}
	if (n->mods & M_FIRESTORE) {
		/* an object: its members as Firestore fields; anything else a Value */
		if (rx_json_kind(v) == 'o')
			put_fs_members(t, b, members_of(t, v), n);
		else
			put_fs_value(b, v);
		return;
	}

	if (shaped && (n->mods & M_NULLS) && !has_nulls(t, n, v)) {
		rx_buf_puts(b, "null");
		return;
	}
	if (n->mods & M_TEXT) {
		if (!shaped && (n->mods & (M_LOWER | M_UPPER))) {
			put_case(t, b, v, (n->mods & M_UPPER) != 0);
			return;
		}
		if (!shaped) {
			put_as_text(t, b, v, 0);
			return;
		}
		rx_buf_reset(&t->text);
		int first = 1;
		rx_buf_putc(&t->text, '{');
		put_members(t, &t->text, n, v, NULL, &first);
		rx_buf_putc(&t->text, '}');
		rx_json_put_string(b, t->text.data, t->text.len);
		return;
	}
	if (shaped) {
		int first = 1;
		rx_buf_putc(b, '{');
		put_members(t, b, n, v, NULL, &first);
		rx_buf_putc(b, '}');
	} else {
		rx_json_put_compact(b, v);
	}
}

static void put_node(push_tmpl *t, rx_buf *b, const tnode *n, push_record **recs, size_t nrec);

/* An object's members into a spread's own scratch (the row's are the
 * record's, scanned once).  NULL: not an object. */
static const rx_members *members_in(push_tmpl *t, rx_span v, rx_members *cache)
{
	char err[128];

	if (t->rec != NULL && v.p == t->rec->row.p && v.n == t->rec->row.n)
		return row_members(t) < 0 ? NULL : &t->row;
	return rx_json_members(v.p, v.n, cache, err, sizeof err) < 0 ? NULL : cache;
}

/* Do two raw member names name the same member? */
static int same_name(rx_span a, rx_span b)
{
	if (a.n == b.n && memcmp(a.p, b.p, a.n) == 0)
		return 1;
	if (memchr(a.p, '\\', a.n) == NULL && memchr(b.p, '\\', b.n) == NULL)
		return 0;
	rx_buf da = {0}, db = {0};
	rx_json_string_decode(a, &da);
	rx_json_string_decode(b, &db);
	int eq = da.len == db.len && (da.len == 0 || memcmp(da.data, db.data, da.len) == 0);
	rx_buf_free(&da);
	rx_buf_free(&db);
	return eq;
}

/* Spread i of object n: its object's members that its modifiers keep,
 * less those n names itself and those a later spread of n gives (jq's
 * a + b: b wins), each as its modifiers make it. */
static void put_spread(push_tmpl *t, rx_buf *b, const tnode *n, size_t i, int *first)
{
	const tnode *k = n->kids[i];
	const rx_members *ms = k->sms;

	for (size_t x = 0; x < ms->n; x++) {
		const rx_member *m = &ms->m[x];
		if (!keep_member(t, k, m))
			continue;
		int skip = 0;
		for (size_t j = 0; j < n->nkids && !skip; j++) {
			if (n->names[j] != NULL) {
				skip = rx_json_name_eq(m->name, n->names[j], strlen(n->names[j]));
			} else if (j > i && n->kids[j]->sms != NULL) {
				const rx_members *later = n->kids[j]->sms;
				for (size_t y = 0; y < later->n && !skip; y++)
					skip = same_name(m->name, later->m[y].name) && keep_member(t, n->kids[j], &later->m[y]);
			}
		}
		if (skip)
			continue;
		put_member(t, b, k, m, first);
	}
}

/* An object's guard ("??"): are its values all there (not missing, null
 * or false, as jq's if)?  With text, false is there: its text is "false"
 * (jq's != null). */
static int guard_holds(push_tmpl *t, const tnode *n)
{
	for (size_t i = 0; i < n->nguards; i++) {
		rx_span v;
		const tnode *a = pick(t, n->guards[i], &v);
		if (a == NULL || value_null(t, a, v) || (rx_json_kind(v) == 'f' && !(a->mods & M_TEXT)))
			return 0;
	}
	return 1;
}

/* Is this node an object whose guard fails (left out where it stands)?
 * (One with a "??else" is never: it stands as that instead.) */
static int guarded_out(push_tmpl *t, const tnode *n)
{
	return n->kind == N_OBJECT && n->nguards > 0 && n->orelse == NULL && !guard_holds(t, n);
}

/* A "?NAME" member's value that leaves it out: null, "", {} or []. */
static int empty_value(const char *s, size_t n)
{
	return (n == 4 && memcmp(s, "null", 4) == 0) ||
	       (n == 2 && (memcmp(s, "\"\"", 2) == 0 || memcmp(s, "{}", 2) == 0 || memcmp(s, "[]", 2) == 0));
}

/* Text with placeholders in it: each as text (a string's characters, null
 * as nothing, anything else its JSON), the whole a JSON string. */
static void put_interp(push_tmpl *t, rx_buf *b, const tnode *n)
{
	rx_buf_reset(&t->acc);
	for (size_t i = 0; i < n->nkids; i++) {
		const tnode *k = n->kids[i];
		rx_span v;
		if (k->kind == N_LIT) {
			rx_buf_put(&t->acc, k->lit.data, k->lit.len);
			continue;
		}
		const tnode *a = pick(t, k, &v);
		if (a == NULL)
			continue;
		rx_buf_reset(&t->seg);
		put_ref(t, &t->seg, a, v);
		rx_span s = rx_span_of(t->seg.data, t->seg.len);
		char kind = rx_json_kind(s);
		if (kind == 's')
			rx_json_string_decode(s, &t->acc);
		else if (kind != 'z')
			rx_buf_put(&t->acc, s.p, s.n);
	}
	rx_json_put_string(b, t->acc.data ? t->acc.data : "", t->acc.len);
}

static void put_node(push_tmpl *t, rx_buf *b, const tnode *n, push_record **recs, size_t nrec)
{
	rx_span v;

	switch (n->kind) {
	case N_LIT:
		rx_buf_put(b, n->lit.data, n->lit.len);
		break;
	case N_ARRAY: {
		int first = 1;
		rx_buf_putc(b, '[');
		for (size_t i = 0; i < n->nkids; i++) {
			if (guarded_out(t, n->kids[i]))
				continue;
			if (!first)
				rx_buf_putc(b, ',');
			first = 0;
			put_node(t, b, n->kids[i], recs, nrec);
		}
		rx_buf_putc(b, ']');
		break;
	}
	case N_EACH:
		rx_buf_putc(b, '[');
		for (size_t i = 0; i < nrec; i++) {
			if (i > 0)
				rx_buf_putc(b, ',');
			t->rec = recs[i];
			t->rec_i = i;
			t->row_state = 0;
			put_node(t, b, n->kids[0], recs, nrec);
		}
		t->rec = NULL;
		rx_buf_putc(b, ']');
		break;
	case N_COLS: {
		/* the element for each of the request's columns, in the list's order */
		int first = 1;
		rx_buf_putc(b, '[');
		for (size_t i = 0; i < n->nkids; i++) {
			if (!t->present[i])
				continue;
			if (!first)
				rx_buf_putc(b, ',');
			first = 0;
			put_node(t, b, n->kids[i], recs, nrec);
		}
		rx_buf_putc(b, ']');
		break;
	}
	case N_OBJECT: {
		int first = 1;
		if (n->orelse != NULL && !guard_holds(t, n)) {
			put_node(t, b, n->orelse, recs, nrec);
			break;
		}
		for (size_t i = 0; i < n->nkids; i++)
			if (n->names[i] == NULL) {
				/* a spread's object, found before any is written: a
				 * later spread's members win over an earlier's */
				tnode *k = n->kids[i];
				k->sms = NULL;
				if (source(t, k, &v) && rx_json_kind(v) == 'o')
					k->sms = members_in(t, v, &k->cache);
			}
		rx_buf_putc(b, '{');
		for (size_t i = 0; i < n->nkids; i++) {
			const tnode *k = n->kids[i];
			if (n->names[i] == NULL) {
				if (k->sms != NULL)
					put_spread(t, b, n, i, &first);
				continue;
			}
			const tnode *a = k;
			int drop = n->drop_empty != NULL && n->drop_empty[i];
			if (guarded_out(t, k))
				continue;
			if (k->kind == N_REF && (a = pick(t, k, &v)) == NULL) {
				if ((k->mods & M_OPTIONAL) || drop)
					continue;
				v = rx_span_of("null", 4);
				a = k;
			} else if (k->kind == N_REF && (k->mods & M_OPTIONAL) && value_null(t, a, v)) {
				continue;
			}
			size_t mark = b->len;
			int was_first = first;
			if (!first)
				rx_buf_putc(b, ',');
			first = 0;
			rx_buf_put(b, n->qnames[i].data, n->qnames[i].len);
			rx_buf_putc(b, ':');
			size_t at = b->len;
			if (k->kind == N_REF)
				put_ref(t, b, a, v);
			else
				put_node(t, b, k, recs, nrec);
			if (drop && empty_value(b->data + at, b->len - at)) {
				b->len = mark;
				b->data[mark] = '\0';
				first = was_first;
			}
		}
		rx_buf_putc(b, '}');
		break;
	}
	case N_LINES:
		for (size_t i = 0; i < nrec; i++) {
			t->rec = recs[i];
			t->rec_i = i;
			t->row_state = 0;
			for (size_t k = 0; k < n->nkids; k++) {
				put_node(t, b, n->kids[k], recs, nrec);
				rx_buf_putc(b, '\n');
			}
		}
		t->rec = NULL;
		break;
	case N_REF: {
		const tnode *a = pick(t, n, &v);
		if (a == NULL) {
			v = rx_span_of("null", 4);
			a = n;
		}
		put_ref(t, b, a, v);
		break;
	}
	default:
		put_interp(t, b, n);
		break;
	}
}

/* A form: each member of the root object name=value, URL-encoded, a
 * string value as its text, anything else as its JSON (as rx-push
 * encodes a body program's object). */
static void put_form(push_tmpl *t, rx_buf *b, const tnode *n, push_record **recs, size_t nrec)
{
	int first = 1;
	for (size_t i = 0; i < n->nkids; i++) {
		const tnode *k = n->kids[i], *a = k;
		rx_span v;
		rx_buf_reset(&t->fval);
		if (k->kind == N_REF) {
			if ((a = pick(t, k, &v)) == NULL) {
				if (k->mods & M_OPTIONAL)
					continue;
				v = rx_span_of("null", 4);
				a = k;
			} else if ((k->mods & M_OPTIONAL) && value_null(t, a, v)) {
				continue;
			}
			put_ref(t, &t->fval, a, v);
		} else {
			put_node(t, &t->fval, k, recs, nrec);
		}
		if (!first)
			rx_buf_putc(b, '&');
		first = 0;
		rx_url_encode(b, n->names[i], strlen(n->names[i]), 0);
		rx_buf_putc(b, '=');
		rx_span s = rx_span_of(t->fval.data ? t->fval.data : "", t->fval.len);
		if (rx_json_kind(s) == 's') {
			rx_buf_reset(&t->acc);
			rx_json_string_decode(s, &t->acc);
			rx_url_encode(b, t->acc.data ? t->acc.data : "", t->acc.len, 0);
		} else {
			rx_url_encode(b, s.p, s.n, 0);
		}
	}
}

/* The request's columns: those of the template's list that any record's
 * row has (a member of that name, whatever its value), in the list's
 * order, as a JSON array in t->colstext. */
static void find_present(push_tmpl *t, push_record **recs, size_t n)
{
	char err[128];

	memset(t->present, 0, t->ncols);
	t->npresent = 0;
	for (size_t r = 0; r < n && t->npresent < t->ncols; r++) {
		rx_span row = recs[r]->row;
		if (row.n == 0 || rx_json_kind(row) != 'o' || rx_json_members(row.p, row.n, &t->row, err, sizeof err) < 0)
			continue;
		for (size_t m = 0; m < t->row.n; m++)
			for (size_t j = 0; j < t->ncols; j++)
				if (!t->present[j] && rx_json_name_eq(t->row.m[m].name, t->cols[j], strlen(t->cols[j]))) {
					t->present[j] = 1;
					t->npresent++;
					break;
				}
	}
	rx_buf_reset(&t->colstext);
	rx_buf_putc(&t->colstext, '[');
	for (size_t j = 0, k = 0; j < t->ncols; j++)
		if (t->present[j]) {
			if (k++ > 0)
				rx_buf_putc(&t->colstext, ',');
			rx_json_put_string(&t->colstext, t->cols[j], strlen(t->cols[j]));
		}
	rx_buf_putc(&t->colstext, ']');
}

/* A refusal's message, and why ("the key \"a/b\" cannot be a Firestore
 * document id"); a message naming {key} (its JSON) or {id} (its text, as
 * jq's tostring) says where they go itself.  rec NULL: the request's own
 * ("{columns:A,B // !why}"), as it is. */
static void refusal_message(const tnode *n, const push_record *r, char *err, size_t errlen)
{
	rx_buf key = {0}, msg = {0};
	if (r != NULL)
		rx_json_put_compact(&key, r->key);
	else
		rx_buf_puts(&key, "(none)");
	const char *at = n->lit.data;
	int named = 0;
	while (*at != '\0') {
		if (strncmp(at, "{key}", 5) == 0) {
			rx_buf_put(&msg, key.data, key.len);
			at += 5;
			named = 1;
		} else if (strncmp(at, "{id}", 4) == 0) {
			if (r == NULL || r->id.n == 0)
				rx_buf_puts(&msg, "null");
			else if (rx_json_kind(r->id) == 's')
				rx_json_string_decode(r->id, &msg);
			else
				rx_json_put_compact(&msg, r->id);
			at += 4;
			named = 1;
		} else {
			rx_buf_putc(&msg, *at++);
		}
	}
	if (r == NULL || named)
		snprintf(err, errlen, "%s", msg.data ? msg.data : "");
	else
		snprintf(err, errlen, "the key %.*s %s", (int)key.len, key.data ? key.data : "", msg.data ? msg.data : "");
	rx_buf_free(&msg);
	rx_buf_free(&key);
}

int rx_push_tmpl_build(push_tmpl *t, const char *op, push_record **recs, size_t n, rx_buf *body, char *err,
		       size_t errlen)
{
	t->op = op;
	t->rec = NULL;
	t->failed = NULL;
	t->nrefused = 0;
	t->recs = recs;
	t->nrec = n;
	t->row_state = 0;
	if (t->ncols > 0)
		find_present(t, recs, n);
	if (t->form)
		put_form(t, body, t->root, recs, n);
	else
		put_node(t, body, t->root, recs, n);
	if (t->failed != NULL) {
		/* the request's own refusal: every record of it */
		refusal_message(t->failed, NULL, err, errlen);
		return -1;
	}
	if (t->nrefused > 0) {
		refusal_message(t->refused[0].n, recs[t->refused[0].i], err, errlen);
		return -2;
	}
	return 0;
}

size_t rx_push_tmpl_refused(const push_tmpl *t, size_t k, char *err, size_t errlen)
{
	refusal_message(t->refused[k].n, t->recs[t->refused[k].i], err, errlen);
	return t->refused[k].i;
}

size_t rx_push_tmpl_nrefused(const push_tmpl *t)
{
	return t->nrefused;
}
