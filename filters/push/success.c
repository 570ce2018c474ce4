/*
 * success.c - the usual reply of a write, read in C: a profile's
 * "success" describes the reply in which the destination accepted every
 * record (docs/profiles.md, "The usual reply, read in C").
 *
 *     "success": {"status": [200], "equal": {"success": true},
 *                 "items": "result", "match": "position",
 *                 "where": {"status": ["created", "updated"]}, "id": "id"}
 *
 * A reply that fits it acks every record of the request, each with the
 * id its item gives; any other reply goes to the response program,
 * which stays the authority (a "success" needs one beside it).  So the
 * description only has to recognise success for certain, never to
 * explain a failure: whatever it cannot place (an item too few or too
 * many, a record named twice, a value it does not know) is not
 * success, and the program reads it.
 *
 * NOTES
 *  - The reply is validated and scanned with json.c, not parsed into
 *    jq values: a batch of 300 costs about what copying it costs,
 *    against a parse, the records' jv and a jq run (several times more).
 *  - Values are compared as text: a string by its decoded characters,
 *    anything else by its compact JSON text.  The ack's id is the
 *    item's value as it came (a number stays exact).
 */
#include "push.h"

#include <stdlib.h>
#include <string.h>

enum { BY_POSITION, BY_IDEM, BY_KEY, BY_ID, BY_ROW, BY_FIELDS };

typedef struct cond {
	char *name;      /* member of the body, or of each item */
	rx_buf *values;  /* what it may be: texts (see text_of), */
	char *kinds;     /* and the kind of each ('s' a string, else the JSON kind) */
	size_t nvalues;
} cond;

struct push_success {
	int statuses[8];
	size_t nstatus;
	char *in;        /* the body's member (an object) the others are read in, or NULL */
	cond *equal;     /* members of the body and what each must be */
	size_t nequal;
	char **empty;    /* members of the body that must be absent, null, [] or {} */
	size_t nempty;
	char **count;    /* members of the body that must be the number of records of the request */
	size_t ncount;
	char **items;    /* members of the body holding the items; none: the body is the array */
	size_t nitems;
	int whole;       /* no items: the status and body members say all went in */
	int by;          /* how an item names its record */
	char *by_member; /* the item's member naming it (not BY_POSITION) */
	char *row_member;/* BY_ROW: the row's member it equals */
	char **fields;   /* BY_FIELDS: the members of the item's object and the row that must be alike */
	size_t nfields;
	cond *where;     /* members every item must have, with their values */
	size_t nwhere;
	char **id;       /* the item's member giving the record's id (a path: members within members), */
	size_t nid;      /* its length; 0: none */
	char *created;   /* the item's member saying true when it made the record, or NULL */
};

static void *zalloc(size_t n, size_t size)
{
	void *p = rx_xmalloc(n * size);
	memset(p, 0, n * size);
	return p;
}

static void cond_free(cond *c)
{
	free(c->name);
	for (size_t i = 0; i < c->nvalues; i++)
		free(c->values[i].data);
	free(c->values);
	free(c->kinds);
}

void rx_push_success_free(push_success *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->nequal; i++)
		cond_free(&s->equal[i]);
	free(s->equal);
	for (size_t i = 0; i < s->nwhere; i++)
		cond_free(&s->where[i]);
	free(s->where);
	for (size_t i = 0; i < s->nempty; i++)
		free(s->empty[i]);
	free(s->empty);
	for (size_t i = 0; i < s->ncount; i++)
		free(s->count[i]);
	free(s->count);
	for (size_t i = 0; i < s->nitems; i++)
		free(s->items[i]);
	free(s->items);
	free(s->in);
	free(s->by_member);
	free(s->row_member);
	for (size_t i = 0; i < s->nfields; i++)
		free(s->fields[i]);
	free(s->fields);
	for (size_t i = 0; i < s->nid; i++)
		free(s->id[i]);
	free(s->id);
	free(s->created);
	free(s);
}

/* A value's text for comparing: a string's decoded characters, else its
 * compact JSON; its kind ('s', or rx_json_kind's) in *kind. */
static void text_of(rx_span v, rx_buf *out, char *kind)
{
	rx_buf_reset(out);
	*kind = rx_json_kind(v);
	if (*kind == 's') {
		if (memchr(v.p, '\\', v.n) == NULL)
			rx_buf_put(out, v.p + 1, v.n - 2);
		else
			rx_json_string_decode(v, out);
	} else {
		rx_json_put_compact(out, v);
	}
	rx_buf_putc(out, '\0');
	out->len--;
}

/* A name in the spec, with the profile's vars expanded ("{match}"). */
static char *spec_name(const push_profile *p, const char *s)
{
	rx_buf b = {0};
	rx_push_template(&b, s, p, "", NULL, 0);
	return b.data ? b.data : rx_xstrdup("");
}

static int fail(char *err, size_t errlen, const push_profile *p, const char *what, const char *member,
		const char *why)
{
	snprintf(err, errlen, "profile %s: %s.%s: %s", p->name, what, member, why);
	return -1;
}

/* The spec's member {"NAME": value or [values]} into conds (none when
 * it is absent); values are strings, numbers, booleans or null. */
static int load_conds(jv spec, const push_profile *p, const char *what, const char *member, cond **out,
		      size_t *nout, char *err, size_t errlen)
{
	jv obj = jv_object_get(jv_copy(spec), jv_string(member));
	if (!jv_is_valid(obj) || jv_get_kind(obj) == JV_KIND_NULL) {
		jv_free(obj);
		return 0;
	}
	if (jv_get_kind(obj) != JV_KIND_OBJECT) {
		jv_free(obj);
		return fail(err, errlen, p, what, member, "an object of member names and the values they must have");
	}
	int n = jv_object_length(jv_copy(obj)), rc = 0;
	*out = zalloc((size_t)n + 1, sizeof **out);
	jv_object_foreach(obj, name, val) {
		cond *c = &(*out)[(*nout)++];
		c->name = spec_name(p, jv_string_value(name));
		jv list = jv_get_kind(val) == JV_KIND_ARRAY ? jv_copy(val) : jv_array_append(jv_array(), jv_copy(val));
		int m = jv_array_length(jv_copy(list));
		if (m == 0 && rc == 0)
			rc = fail(err, errlen, p, what, member, "a member with no value it may have ([]) is never matched");
		c->values = zalloc((size_t)m + 1, sizeof *c->values);
		c->kinds = zalloc((size_t)m + 1, 1);
		jv_array_foreach(list, i, v) {
			jv_kind k = jv_get_kind(v);
			if (k == JV_KIND_OBJECT || k == JV_KIND_ARRAY) {
				if (rc == 0)
					rc = fail(err, errlen, p, what, member,
						  "values are strings, numbers, true, false or null (not objects or arrays)");
			} else {
				rx_buf t = {0};
				rx_jv_put(&t, jv_copy(v));
				text_of(rx_span_of(t.data, t.len), &c->values[c->nvalues], &c->kinds[c->nvalues]);
				c->nvalues++;
				free(t.data);
			}
			jv_free(v);
		}
		jv_free(list);
		jv_free(name);
		jv_free(val);
	}
	jv_free(obj);
	return rc;
}

/* The spec's member: a name or a list of names (none when it is absent). */
static int load_names(jv spec, const push_profile *p, const char *what, const char *member, char ***out,
		      size_t *nout, char *err, size_t errlen)
{
	jv v = jv_object_get(jv_copy(spec), jv_string(member));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		jv_free(v);
		return 0;
	}
	jv list = jv_get_kind(v) == JV_KIND_STRING ? jv_array_append(jv_array(), jv_copy(v)) : jv_copy(v);
	int rc = 0;
	if (jv_get_kind(list) != JV_KIND_ARRAY) {
		rc = fail(err, errlen, p, what, member, "a member name, or a list of them");
	} else {
		*out = zalloc((size_t)jv_array_length(jv_copy(list)) + 1, sizeof **out);
		jv_array_foreach(list, i, x) {
			if (jv_get_kind(x) != JV_KIND_STRING) {
				if (rc == 0)
					rc = fail(err, errlen, p, what, member, "member names are strings");
			} else {
				(*out)[(*nout)++] = spec_name(p, jv_string_value(x));
			}
			jv_free(x);
		}
	}
	jv_free(list);
	jv_free(v);
	return rc;
}

static char *load_member(jv spec, const push_profile *p, const char *what, const char *member, int *rc, char *err,
			 size_t errlen)
{
	jv v = jv_object_get(jv_copy(spec), jv_string(member));
	char *s = NULL;
	if (jv_get_kind(v) == JV_KIND_STRING)
		s = spec_name(p, jv_string_value(v));
	else if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL && *rc == 0)
		*rc = fail(err, errlen, p, what, member, "the name of an item's member");
	jv_free(v);
	return s;
}

/* A member's name, or a list of them: a path of members within members
 * (Pipedrive's ["data", "id"]). */
static char **load_path(jv spec, const push_profile *p, const char *what, const char *member, size_t *n, int *rc,
			char *err, size_t errlen)
{
	jv v = jv_object_get(jv_copy(spec), jv_string(member));
	char **path = NULL;
	*n = 0;
	if (jv_get_kind(v) == JV_KIND_STRING) {
		path = zalloc(1, sizeof *path);
		path[(*n)++] = spec_name(p, jv_string_value(v));
	} else if (jv_get_kind(v) == JV_KIND_ARRAY && jv_array_length(jv_copy(v)) > 0) {
		int len = jv_array_length(jv_copy(v));
		path = zalloc((size_t)len, sizeof *path);
		jv_array_foreach(v, i, name) {
			if (jv_get_kind(name) == JV_KIND_STRING)
				path[(*n)++] = spec_name(p, jv_string_value(name));
			else if (*rc == 0)
				*rc = fail(err, errlen, p, what, member, "a path of members' names ([\"data\", \"id\"])");
			jv_free(name);
		}
	} else if (jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL && *rc == 0) {
		*rc = fail(err, errlen, p, what, member, "the name of an item's member, or a path of them ([\"data\", \"id\"])");
	}
	jv_free(v);
	return path;
}

int rx_push_success_compile(push_success **out, jv spec, const push_profile *p, const char *what, char *err,
			    size_t errlen)
{
	push_success *s = zalloc(1, sizeof *s);
	int rc = 0;

	*out = NULL;
	if (jv_get_kind(spec) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "profile %s: %s: an object (docs/profiles.md, \"The usual reply, read in C\")",
			 p->name, what);
		jv_free(spec);
		free(s);
		return -1;
	}
	static const char *const known[] = {"status", "in", "equal", "empty", "count", "items", "match", "where", "id",
					    "created"};
	jv_object_foreach(spec, name, val) {
		size_t i = 0;
		while (i < sizeof known / sizeof *known && strcmp(known[i], jv_string_value(name)) != 0)
			i++;
		if (i == sizeof known / sizeof *known && rc == 0) {
			snprintf(err, errlen, "profile %s: %s: \"%s\" is none of status, in, equal, empty, count, items, "
				 "match, where, id, created", p->name, what, jv_string_value(name));
			rc = -1;
		}
		jv_free(name);
		jv_free(val);
	}
	jv st = jv_object_get(jv_copy(spec), jv_string("status"));
	jv stl = jv_get_kind(st) == JV_KIND_NUMBER ? jv_array_append(jv_array(), jv_copy(st)) : jv_copy(st);
	if (jv_get_kind(stl) != JV_KIND_ARRAY || jv_array_length(jv_copy(stl)) == 0 ||
	    jv_array_length(jv_copy(stl)) > (int)(sizeof s->statuses / sizeof *s->statuses)) {
		if (rc == 0)
			rc = fail(err, errlen, p, what, "status", "the 2xx statuses of the reply (a number, or up to 8)");
	} else {
		jv_array_foreach(stl, i, v) {
			double d = jv_get_kind(v) == JV_KIND_NUMBER ? jv_number_value(v) : 0;
			if ((d < 200 || d > 299 || d != (int)d) && rc == 0)
				rc = fail(err, errlen, p, what, "status", "a success is a 2xx status");
			s->statuses[s->nstatus++] = (int)d;
			jv_free(v);
		}
	}
	jv_free(st);
	jv_free(stl);
	jv in = jv_object_get(jv_copy(spec), jv_string("in"));
	if (jv_get_kind(in) == JV_KIND_STRING && jv_string_length_bytes(jv_copy(in)) > 0)
		s->in = spec_name(p, jv_string_value(in));
	else if (jv_is_valid(in) && jv_get_kind(in) != JV_KIND_NULL && rc == 0)
		rc = fail(err, errlen, p, what, "in", "the name of the body's member (an object) in which the others "
			  "are read (Zendesk's \"job_status\")");
	jv_free(in);
	if (rc == 0 && load_conds(spec, p, what, "equal", &s->equal, &s->nequal, err, errlen) < 0)
		rc = -1;
	if (rc == 0 && load_conds(spec, p, what, "where", &s->where, &s->nwhere, err, errlen) < 0)
		rc = -1;
	if (rc == 0 && load_names(spec, p, what, "empty", &s->empty, &s->nempty, err, errlen) < 0)
		rc = -1;
	if (rc == 0 && load_names(spec, p, what, "count", &s->count, &s->ncount, err, errlen) < 0)
		rc = -1;
	jv v = jv_object_get(jv_copy(spec), jv_string("items"));
	int has_items = jv_is_valid(v) && jv_get_kind(v) != JV_KIND_NULL;
	jv_free(v);
	if (has_items) {
		if (rc == 0 && load_names(spec, p, what, "items", &s->items, &s->nitems, err, errlen) < 0)
			rc = -1;
		if (rc == 0 && s->nitems == 0)
			rc = fail(err, errlen, p, what, "items", "[] names no items: leave \"items\" out when the body "
				  "is the array of them");
	}
	v = jv_object_get(jv_copy(spec), jv_string("match"));
	if (!jv_is_valid(v) || jv_get_kind(v) == JV_KIND_NULL) {
		/* no items: the status (and the body's members) say that every
		 * record went in, as a program's {"action": "ack"} */
		s->whole = 1;
		if (rc == 0 && s->nitems > 0)
			rc = fail(err, errlen, p, what, "match", "how an item names its record: \"position\", or "
				  "{\"MEMBER\": \"{idem}\"} ({idem}, {key}, {id}, {row.NAME})");
		if (rc == 0 && s->nwhere > 0)
			rc = fail(err, errlen, p, what, "where", "tests items: name them (\"items\", \"match\")");
	} else if (s->nitems == 0 && (s->nequal > 0 || s->nempty > 0 || s->ncount > 0 || s->in != NULL) && rc == 0) {
		rc = fail(err, errlen, p, what, "items", "\"in\", \"equal\", \"empty\" and \"count\" test the body's "
			  "members, and the body is the array of items when \"items\" is left out: name the members "
			  "holding them");
	} else if (jv_get_kind(v) == JV_KIND_STRING && strcmp(jv_string_value(v), "position") == 0) {
		s->by = BY_POSITION;
	} else if (jv_get_kind(v) == JV_KIND_OBJECT && jv_object_length(jv_copy(v)) == 1) {
		jv_object_foreach(v, name, val) {
			s->by_member = spec_name(p, jv_string_value(name));
			const char *r = jv_get_kind(val) == JV_KIND_STRING ? jv_string_value(val) : "";
			if (strcmp(r, "{idem}") == 0)
				s->by = BY_IDEM;
			else if (strcmp(r, "{key}") == 0)
				s->by = BY_KEY;
			else if (strcmp(r, "{id}") == 0)
				s->by = BY_ID;
			else if (strncmp(r, "{row|only:", 10) == 0 && strlen(r) > 11 && r[strlen(r) - 1] == '}') {
				/* the item's object alike the row in these members, each
				 * value and kind (Airtable's fields by the merge fields:
				 * "{row|only:{merge_on}}", a list with spaces trimmed) */
				s->by = BY_FIELDS;
				char *list = rx_xstrdup(r + 10);
				list[strlen(list) - 1] = '\0';
				char *names = spec_name(p, list);
				free(list);
				s->fields = zalloc(strlen(names) / 2 + 2, sizeof *s->fields);
				for (char *w = names; w != NULL;) {
					char *comma = strchr(w, ',');
					if (comma != NULL)
						*comma++ = '\0';
					while (*w == ' ' || *w == '\t' || *w == '\n' || *w == '\r')
						w++;
					size_t n = strlen(w);
					while (n > 0 && (w[n - 1] == ' ' || w[n - 1] == '\t' || w[n - 1] == '\n' || w[n - 1] == '\r'))
						w[--n] = '\0';
					if (n > 0)
						s->fields[s->nfields++] = rx_xstrdup(w);
					w = comma;
				}
				free(names);
				if (s->nfields == 0 && rc == 0)
					rc = fail(err, errlen, p, what, "match", "{row|only:...} names no member");
			} else if (strncmp(r, "{row.", 5) == 0 && strlen(r) > 6 && r[strlen(r) - 1] == '}') {
				s->by = BY_ROW;
				s->row_member = rx_xstrdup(r + 5);
				s->row_member[strlen(s->row_member) - 1] = '\0';
				char *x = spec_name(p, s->row_member); /* "{row.{match}}" */
				free(s->row_member);
				s->row_member = x;
			} else if (rc == 0) {
				rc = fail(err, errlen, p, what, "match", "an item's member names its record by {idem}, {key}, "
					  "{id}, {row.NAME} or {row|only:A,B}");
			}
			jv_free(name);
			jv_free(val);
		}
	} else if (rc == 0) {
		rc = fail(err, errlen, p, what, "match", "\"position\" (the items in the records' order) or "
			  "{\"MEMBER\": \"{idem}\"} (an item's member naming its record: {idem}, {key}, {id}, {row.NAME})");
	}
	jv_free(v);
	s->id = load_path(spec, p, what, "id", &s->nid, &rc, err, errlen);
	s->created = load_member(spec, p, what, "created", &rc, err, errlen);
	jv_free(spec);
	if (rc < 0) {
		rx_push_success_free(s);
		return -1;
	}
	*out = s;
	return 0;
}

/* ---- a reply ---- */

typedef struct scratch {
	rx_members body, item, row, fields, path;
	rx_span *elems;     /* the items */
	size_t nelems, cap;
	rx_buf text, other, one; /* values' texts */
	rx_buf names;       /* the records' match texts, NUL-separated */
	struct pick { size_t off, len, rec; } *picks;
	size_t pcap;
} scratch;

static scratch sc; /* reused from reply to reply (one engine a process) */

/* Is the value one of the cond's?  (An absent member is null.) */
static int cond_holds(const cond *c, const rx_members *ms)
{
	long at = rx_json_find(ms, c->name, strlen(c->name));
	char kind = 'z';

	if (at < 0)
		rx_buf_reset(&sc.text), rx_buf_puts(&sc.text, "null");
	else
		text_of(ms->m[at].value, &sc.text, &kind);
	for (size_t i = 0; i < c->nvalues; i++)
		if (c->kinds[i] == kind && c->values[i].len == sc.text.len &&
		    memcmp(c->values[i].data, sc.text.data, sc.text.len) == 0)
			return 1;
	return 0;
}

static int empty_value(rx_span v)
{
	char k = rx_json_kind(v);
	if (k == 'z')
		return 1;
	if (k != 'a' && k != 'o')
		return 0;
	for (size_t i = 1; i + 1 < v.n; i++)
		if (v.p[i] != ' ' && v.p[i] != '\t' && v.p[i] != '\n' && v.p[i] != '\r')
			return 0;
	return 1;
}

/* Is the body an object meeting every "equal", "empty" and "count" (n
 * records)?  (Its members in sc.body.) */
static int body_holds(const push_success *s, const char *reply, size_t len, size_t n)
{
	char err[64], want[32];

	if (len == 0 || rx_json_scan_object(reply, len, &sc.body, err, sizeof err) < 0)
		return 0;
	if (s->in != NULL) {
		/* the members are read in that object (the reply is valid JSON already) */
		long at = rx_json_find(&sc.body, s->in, strlen(s->in));
		if (at < 0 || rx_json_kind(sc.body.m[at].value) != 'o')
			return 0;
		rx_span o = sc.body.m[at].value;
		if (rx_json_members(o.p, o.n, &sc.body, err, sizeof err) < 0)
			return 0;
	}
	for (size_t i = 0; i < s->nequal; i++)
		if (!cond_holds(&s->equal[i], &sc.body))
			return 0;
	for (size_t i = 0; i < s->nempty; i++) {
		long at = rx_json_find(&sc.body, s->empty[i], strlen(s->empty[i]));
		if (at >= 0 && !empty_value(sc.body.m[at].value))
			return 0;
	}
	/* a number written as the count is (3, not 3.0 or "3": those go to
	 * the program) */
	int wn = snprintf(want, sizeof want, "%zu", n);
	for (size_t i = 0; i < s->ncount; i++) {
		long at = rx_json_find(&sc.body, s->count[i], strlen(s->count[i]));
		if (at < 0)
			return 0;
		rx_span v = sc.body.m[at].value;
		if (rx_json_kind(v) != 'n' || v.n != (size_t)wn || memcmp(v.p, want, v.n) != 0)
			return 0;
	}
	return 1;
}

/* The id the members ms (an item's, or a one-record body's) give by the
 * path s->id: 0 when a step is missing, not an object, or the id null. */
static int id_of(const push_success *s, const rx_members *ms, rx_span *out)
{
	char err[64];
	long at = rx_json_find(ms, s->id[0], strlen(s->id[0]));
	if (at < 0)
		return 0;
	rx_span v = ms->m[at].value;
	for (size_t i = 1; i < s->nid; i++) {
		if (rx_json_kind(v) != 'o' || rx_json_members(v.p, v.n, &sc.path, err, sizeof err) < 0)
			return 0;
		at = rx_json_find(&sc.path, s->id[i], strlen(s->id[i]));
		if (at < 0)
			return 0;
		v = sc.path.m[at].value;
	}
	if (rx_json_kind(v) == 'z')
		return 0;
	*out = v;
	return 1;
}

/* Whether the members ms say the record was made (s->created true: 1,
 * false: 0), or -1: no such member, or not a boolean. */
static signed char created_of(const push_success *s, const rx_members *ms)
{
	long at = s->created != NULL ? rx_json_find(ms, s->created, strlen(s->created)) : -1;
	char k = at >= 0 ? rx_json_kind(ms->m[at].value) : 0;
	return k == 't' ? 1 : k == 'f' ? 0 : -1;
}

static void add_elems(rx_span a)
{
	/* one pass into the room there is; a second only when it was short */
	size_t n = rx_json_array_split(a, sc.elems != NULL ? sc.elems + sc.nelems : NULL, sc.cap - sc.nelems);
	if (sc.nelems + n > sc.cap) {
		sc.cap = (sc.nelems + n) * 2;
		sc.elems = rx_xrealloc(sc.elems, sc.cap * sizeof *sc.elems);
		n = rx_json_array_split(a, sc.elems + sc.nelems, n);
	}
	sc.nelems += n;
}

static int pick_cmp(const void *a, const void *b)
{
	const struct pick *x = a, *y = b;
	rx_span s = rx_span_of(sc.names.data + x->off, x->len), t = rx_span_of(sc.names.data + y->off, y->len);
	return rx_span_cmp(s, t);
}

/* BY_FIELDS: the texts of the members s->fields of ms, each after its
 * kind and ended by a NUL, into out (reset first); -1 when one is absent. */
static int fields_text(const push_success *s, const rx_members *ms, rx_buf *out)
{
	char kind;

	rx_buf_reset(out);
	for (size_t i = 0; i < s->nfields; i++) {
		long at = rx_json_find(ms, s->fields[i], strlen(s->fields[i]));
		if (at < 0)
			return -1;
		text_of(ms->m[at].value, &sc.one, &kind);
		rx_buf_putc(out, kind);
		rx_buf_put(out, sc.one.data, sc.one.len);
		rx_buf_putc(out, '\0');
	}
	return 0;
}

/* The record's value its item names, as text into sc.names; 0, or -1
 * when it has none (then the reply is not read here). */
static int record_text(const push_success *s, const push_record *r, size_t i)
{
	rx_span v = {0};
	char kind;

	switch (s->by) {
	case BY_IDEM:
		v = rx_span_of(rx_push_idem(r), 32);
		rx_buf_reset(&sc.text);
		rx_buf_put(&sc.text, v.p, v.n);
		break;
	case BY_KEY:
		v = r->key;
		break;
	case BY_ID:
		v = r->id;
		break;
	case BY_ROW: {
		char err[64];
		if (r->row.n == 0 || rx_json_kind(r->row) != 'o' ||
		    rx_json_members(r->row.p, r->row.n, &sc.row, err, sizeof err) < 0)
			return -1;
		long at = rx_json_find(&sc.row, s->row_member, strlen(s->row_member));
		if (at < 0)
			return -1;
		v = sc.row.m[at].value;
		break;
	}
	case BY_FIELDS: {
		char err[64];
		if (r->row.n == 0 || rx_json_kind(r->row) != 'o' ||
		    rx_json_members(r->row.p, r->row.n, &sc.row, err, sizeof err) < 0 ||
		    fields_text(s, &sc.row, &sc.text) < 0)
			return -1;
		break;
	}
	}
	if (s->by != BY_IDEM && s->by != BY_FIELDS) {
		if (v.n == 0 || rx_json_kind(v) == 'z')
			return -1;
		text_of(v, &sc.text, &kind);
	}
	if (i >= sc.pcap) {
		sc.pcap = 2 * i + 16;
		sc.picks = rx_xrealloc(sc.picks, sc.pcap * sizeof *sc.picks);
	}
	sc.picks[i].off = sc.names.len;
	sc.picks[i].len = sc.text.len;
	sc.picks[i].rec = i;
	rx_buf_put(&sc.names, sc.text.data, sc.text.len);
	return 0;
}

int rx_push_success_match(const push_success *s, long status, const char *reply, size_t len, push_record **recs,
			  size_t n, rx_span *ids, signed char *created)
{
	char err[64];
	size_t i;

	for (i = 0; i < s->nstatus && s->statuses[i] != status; i++)
		;
	if (i == s->nstatus || n == 0)
		return 0;
	for (i = 0; i < n; i++)
		ids[i] = rx_span_of(NULL, 0), created[i] = -1;
	if (s->whole) {
		int ided = s->nid > 0 || s->created != NULL;
		/* the status says it (whatever the body), or with the body's members */
		if (s->nequal == 0 && s->nempty == 0 && s->ncount == 0 && s->in == NULL && !ided)
			return 1;
		if (!body_holds(s, reply, len, n))
			return 0;
		if (!ided)
			return 1;
		/* the reply of a request of one record: the body (its "in") is
		 * the record's item; several records' is the program's */
		if (n != 1)
			return 0;
		if (s->nid > 0 && !id_of(s, &sc.body, &ids[0]))
			return 0;
		created[0] = created_of(s, &sc.body);
		return 1;
	}
	sc.nelems = 0;
	if (s->nitems == 0) {
		/* the body is the array of items */
		size_t a = 0;
		while (a < len && (reply[a] == ' ' || reply[a] == '\t' || reply[a] == '\n' || reply[a] == '\r'))
			a++;
		if (a == len || reply[a] != '[' || rx_json_validate(reply, len, err, sizeof err) < 0)
			return 0;
		rx_span body = rx_span_of(reply + a, len - a);
		while (body.n > 0 && body.p[body.n - 1] != ']')
			body.n--;
		add_elems(body);
	} else {
		if (!body_holds(s, reply, len, n))
			return 0;
		int found = 0;
		for (i = 0; i < s->nitems; i++) {
			long at = rx_json_find(&sc.body, s->items[i], strlen(s->items[i]));
			if (at < 0 || rx_json_kind(sc.body.m[at].value) == 'z')
				continue;
			if (rx_json_kind(sc.body.m[at].value) != 'a')
				return 0;
			found = 1;
			add_elems(sc.body.m[at].value);
		}
		if (!found)
			return 0;
	}
	/* one item for each record, no more, no fewer */
	if (sc.nelems != n)
		return 0;
	if (s->by != BY_POSITION) {
		rx_buf_reset(&sc.names);
		for (i = 0; i < n; i++)
			if (record_text(s, recs[i], i) < 0)
				return 0;
		qsort(sc.picks, n, sizeof *sc.picks, pick_cmp);
		for (i = 1; i < n; i++)
			if (pick_cmp(&sc.picks[i - 1], &sc.picks[i]) == 0)
				return 0; /* two records of one value: which item is whose? */
	}
	unsigned char *seen = s->by != BY_POSITION ? zalloc(n, 1) : NULL;
	int ok = 1;
	for (size_t e = 0; e < n && ok; e++) {
		rx_span it = sc.elems[e];
		if (rx_json_kind(it) != 'o' || rx_json_members(it.p, it.n, &sc.item, err, sizeof err) < 0) {
			ok = 0;
			break;
		}
		for (i = 0; i < s->nwhere && ok; i++)
			ok = cond_holds(&s->where[i], &sc.item);
		if (!ok)
			break;
		size_t rec = e;
		if (s->by != BY_POSITION) {
			long at = rx_json_find(&sc.item, s->by_member, strlen(s->by_member));
			char kind;
			if (at < 0 || rx_json_kind(sc.item.m[at].value) == 'z') {
				ok = 0;
				break;
			}
			if (s->by == BY_FIELDS) {
				rx_span o = sc.item.m[at].value;
				if (rx_json_kind(o) != 'o' || rx_json_members(o.p, o.n, &sc.fields, err, sizeof err) < 0 ||
				    fields_text(s, &sc.fields, &sc.other) < 0) {
					ok = 0;
					break;
				}
			} else {
				text_of(sc.item.m[at].value, &sc.other, &kind);
			}
			/* binary search of the records' texts */
			size_t lo = 0, hi = n;
			rx_span want = rx_span_of(sc.other.data, sc.other.len);
			while (lo < hi) {
				size_t mid = (lo + hi) / 2;
				int c = rx_span_cmp(rx_span_of(sc.names.data + sc.picks[mid].off, sc.picks[mid].len), want);
				if (c == 0) {
					lo = mid;
					break;
				}
				if (c < 0)
					lo = mid + 1;
				else
					hi = mid;
			}
			if (lo >= n || rx_span_cmp(rx_span_of(sc.names.data + sc.picks[lo].off, sc.picks[lo].len),
						   want) != 0 || seen[sc.picks[lo].rec]) {
				ok = 0;
				break;
			}
			rec = sc.picks[lo].rec;
			seen[rec] = 1;
		}
		/* an item that names no id is not the usual reply: the program
		 * says what it means */
		if (s->nid > 0 && !id_of(s, &sc.item, &ids[rec])) {
			ok = 0;
			break;
		}
		created[rec] = created_of(s, &sc.item);
	}
	free(seen);
	return ok;
}
