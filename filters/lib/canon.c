/*
 * canon.c - the canonical form of a row, and its SHA-256.
 *
 * Two rows hash alike when they hold the same data, however written:
 * members are sorted by their decoded names, strings are decoded and
 * re-escaped one way, numbers are reduced to sign, significant digits and
 * a decimal exponent (1, 1.0, 1e0 and 10e-1 are one number, and digits are
 * never rounded through a double, so big integers stay distinct), and
 * nested objects are sorted too.  Each canonical value is self-delimiting:
 * strings are quoted, numbers end with ';', containers are bracketed.
 *
 * rx-diff hashes every row this way (the "hash" of a change); a dead
 * letter carries the hash of its row (deadletter.c), so that rx-push can
 * tell a re-driven record that was edited from one that was not.
 *
 * Works on spans from rx_json_scan_object; the only memory is a few
 * buffers per thread that grow to the largest row and are reused (rx-diff
 * hashes rows on several threads; each frees its own with rx_canon_free).
 */
#include "rx.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#define MAX_NEST 64

int rx_name_in(rx_span raw, char *const *cols, size_t ncols)
{
	for (size_t i = 0; i < ncols; i++)
		if (rx_json_name_eq(raw, cols[i], strlen(cols[i])))
			return 1;
	return 0;
}

static void canon_number(rx_buf *out, rx_span v)
{
	const char *p = v.p, *end = v.p + v.n;
	char digits[64];
	size_t nd = 0, total = 0;
	long long exp10 = 0, e = 0;
	int neg = 0, eneg = 0;

	if (p < end && *p == '-')
		neg = 1, p++;
	for (; p < end && *p >= '0' && *p <= '9'; p++) {
		if (nd == 0 && *p == '0')
			continue; /* leading zeros */
		if (nd < sizeof digits)
			digits[nd++] = *p;
		else
			exp10++; /* too long to keep: fall back to the raw text below */
		total++;
	}
	if (p < end && *p == '.') {
		for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
			exp10--;
			if (nd == 0 && *p == '0')
				continue;
			if (nd < sizeof digits)
				digits[nd++] = *p;
			total++;
		}
	}
	if (p < end && (*p == 'e' || *p == 'E')) {
		p++;
		if (p < end && (*p == '+' || *p == '-'))
			eneg = *p++ == '-';
		for (; p < end && *p >= '0' && *p <= '9'; p++) {
			if (e > 100000000000LL)
				break;
			e = e * 10 + (*p - '0');
		}
	}
	if (total > sizeof digits || p != end) {
		/* absurdly long: the raw text is still a faithful form */
		rx_buf_putc(out, 'N');
		rx_buf_put(out, v.p, v.n);
		rx_buf_putc(out, ';');
		return;
	}
	exp10 += eneg ? -e : e;
	while (nd > 0 && digits[nd - 1] == '0')
		nd--, exp10++;
	if (nd == 0) {
		rx_buf_put(out, "n0;", 3);
		return;
	}
	rx_buf_putc(out, 'n');
	if (neg)
		rx_buf_putc(out, '-');
	rx_buf_put(out, digits, nd);
	rx_buf_putc(out, 'e');
	rx_json_put_int(out, exp10); /* printf here cost 11% of a stage run */
	rx_buf_putc(out, ';');
}

typedef struct sorted_member {
	rx_span name;  /* decoded */
	rx_span value; /* raw */
	int plain;     /* the name had no escapes: its bytes are canonical */
	int escaped;   /* the value has an escape */
} sorted_member;

/* Per-depth scratch, reused from row to row.  The top level also keeps
 * the raw names of the last row and the order they sorted into: the rows
 * of a model nearly always repeat their names in the same order, and then
 * the sort is skipped. */
static _Thread_local struct level {
	rx_members ms;
	sorted_member *sm;
	size_t cap;
	rx_buf names;      /* decoded names with escapes */
	rx_buf seen;       /* top level: the last row's raw names, back to back */
	size_t *seen_len;  /* their lengths */
	size_t *order;     /* sorted position i holds member order[i] */
	size_t nseen, norder, cap_seen;
	int cached;        /* seen and order describe a row */
} levels[MAX_NEST + 1];

static void canon_value(rx_buf *out, rx_span v, int depth, int escaped);

/* Does the row have exactly the raw names of the last one? */
static int same_names(const struct level *lv, const rx_members *ms)
{
	if (!lv->cached || lv->nseen != ms->n)
		return 0;
	const char *p = lv->seen.data;
	for (size_t i = 0; i < ms->n; i++) {
		size_t n = lv->seen_len[i];
		if (ms->m[i].name.n != n || memcmp(ms->m[i].name.p, p, n) != 0)
			return 0;
		p += n;
	}
	return 1;
}

static void remember_names(struct level *lv, const rx_members *ms, size_t n)
{
	lv->cached = 0;
	for (size_t i = 0; i < ms->n; i++)
		if (ms->m[i].name_escaped)
			return; /* decoded names live in scratch: not worth caching */
	if (lv->cap_seen < ms->n) {
		lv->cap_seen = ms->n;
		lv->seen_len = rx_xrealloc(lv->seen_len, lv->cap_seen * sizeof *lv->seen_len);
		lv->order = rx_xrealloc(lv->order, lv->cap_seen * sizeof *lv->order);
	}
	rx_buf_reset(&lv->seen);
	for (size_t i = 0; i < ms->n; i++) {
		rx_buf_put(&lv->seen, ms->m[i].name.p, ms->m[i].name.n);
		lv->seen_len[i] = ms->m[i].name.n;
	}
	/* the position of each sorted member among the row's members */
	for (size_t j = 0; j < n; j++)
		for (size_t i = 0; i < ms->n; i++)
			if (lv->sm[j].name.p == ms->m[i].name.p + 1) {
				lv->order[j] = i;
				break;
			}
	lv->nseen = ms->n;
	lv->norder = n;
	lv->cached = 1;
}

/* Sort the members (minus the ignored ones at the top) by decoded name. */
static size_t sort_members(const rx_members *ms, struct level *lv, int top, char *const *skip, size_t nskip)
{
	size_t n = 0;

	if (lv->cap < ms->n) {
		lv->cap = ms->n;
		lv->sm = rx_xrealloc(lv->sm, lv->cap * sizeof *lv->sm);
	}
	if (top && same_names(lv, ms)) {
		for (size_t j = 0; j < lv->norder; j++) {
			const rx_member *m = &ms->m[lv->order[j]];
			lv->sm[j] = (sorted_member){rx_span_of(m->name.p + 1, m->name.n - 2), m->value, 1,
						    m->value_escaped};
		}
		return lv->norder;
	}
	rx_buf_reset(&lv->names);
	/* decoded names of escaped members live in lv->names: reserve first so
	 * spans into it stay valid */
	size_t need = 0;
	for (size_t i = 0; i < ms->n; i++)
		need += ms->m[i].name.n;
	rx_buf_reserve(&lv->names, need + 1);
	for (size_t i = 0; i < ms->n; i++) {
		rx_span raw = ms->m[i].name;
		if (nskip > 0 && rx_name_in(raw, skip, nskip))
			continue;
		rx_span name;
		int plain = !ms->m[i].name_escaped;
		if (plain) {
			name = rx_span_of(raw.p + 1, raw.n - 2);
		} else {
			size_t at = lv->names.len;
			rx_json_string_decode(raw, &lv->names);
			name = rx_span_of(lv->names.data + at, lv->names.len - at);
		}
		/* insertion sort: rows have tens of members */
		size_t j = n;
		while (j > 0 && rx_span_cmp(lv->sm[j - 1].name, name) > 0) {
			lv->sm[j] = lv->sm[j - 1];
			j--;
		}
		lv->sm[j] = (sorted_member){name, ms->m[i].value, plain, ms->m[i].value_escaped};
		n++;
	}
	if (top)
		remember_names(lv, ms, n);
	return n;
}

static void canon_object(rx_buf *out, const rx_members *ms, int depth, char *const *skip, size_t nskip)
{
	struct level *lv = &levels[depth];
	size_t n = sort_members(ms, lv, depth == 0, skip, nskip);

	rx_buf_putc(out, '{');
	for (size_t i = 0; i < n; i++) {
		if (lv->sm[i].plain) { /* a valid JSON string without escapes needs none */
			rx_buf_put(out, lv->sm[i].name.p - 1, lv->sm[i].name.n + 2);
		} else {
			rx_json_put_string(out, lv->sm[i].name.p, lv->sm[i].name.n);
		}
		canon_value(out, lv->sm[i].value, depth + 1, lv->sm[i].escaped);
	}
	rx_buf_putc(out, '}');
}

static void canon_array(rx_buf *out, rx_span v, int depth)
{
	/* walk the elements by scanning them as the values of a wrapper would
	 * be awkward; instead split on top-level commas, outside strings */
	const char *p = v.p + 1, *end = v.p + v.n - 1;
	int nest = 0, in_string = 0;
	const char *start = NULL;

	rx_buf_putc(out, '[');
	for (; p <= end; p++) {
		char c = p < end ? *p : ',';
		if (in_string) {
			if (c == '\\')
				p++;
			else if (c == '"')
				in_string = 0;
			continue;
		}
		if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
			continue;
		if (start == NULL && c != ',' && !(p == end))
			start = p;
		if (c == '"')
			in_string = 1;
		else if (c == '[' || c == '{')
			nest++;
		else if (c == ']' || c == '}')
			nest--;
		else if (c == ',' && nest == 0 && start != NULL) {
			const char *q = p;
			while (q > start && (q[-1] == ' ' || q[-1] == '\t' || q[-1] == '\n' || q[-1] == '\r'))
				q--;
			canon_value(out, rx_span_of(start, (size_t)(q - start)), depth + 1, -1);
			start = NULL;
		}
	}
	rx_buf_putc(out, ']');
}

static _Thread_local rx_buf scratch, canon;
static _Thread_local EVP_MD_CTX *md_ctx;
static _Thread_local EVP_MD *sha256;

void rx_canon_value(rx_buf *out, rx_span v, int depth)
{
	canon_value(out, v, depth, -1);
}

/* escaped: whether v has a backslash escape, -1 not known */
static void canon_value(rx_buf *out, rx_span v, int depth, int escaped)
{
	char err[128];

	switch (rx_json_kind(v)) {
	case 's':
		if (escaped == 0 || (escaped < 0 && memchr(v.p, '\\', v.n) == NULL)) {
			rx_buf_put(out, v.p, v.n);
		} else {
			rx_buf_reset(&scratch);
			rx_json_string_decode(v, &scratch);
			rx_json_put_string(out, scratch.data, scratch.len);
		}
		break;
	case 'n':
		canon_number(out, v);
		break;
	case 'o':
		if (depth < MAX_NEST && rx_json_scan_object(v.p, v.n, &levels[depth].ms, err, sizeof err) == 0) {
			canon_object(out, &levels[depth].ms, depth, NULL, 0);
			break;
		}
		rx_buf_putc(out, 'O');
		rx_json_put_compact(out, v);
		break;
	case 'a':
		if (depth < MAX_NEST) {
			canon_array(out, v, depth);
			break;
		}
		rx_buf_putc(out, 'A');
		rx_json_put_compact(out, v);
		break;
	default: /* t, f, z */
		rx_buf_putc(out, rx_json_kind(v));
		break;
	}
}

void rx_canon_row_hash(const rx_members *row, char *const *skip, size_t nskip, unsigned char hash[32])
{
	unsigned len = 0;

	if (md_ctx == NULL) {
		/* fetched once: the one-shot SHA256() looks the algorithm up on
		 * every call in OpenSSL 3, which costs more than hashing a row */
		md_ctx = EVP_MD_CTX_new();
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (md_ctx == NULL || sha256 == NULL)
			rx_die(RX_EXIT_FAIL, "cannot set up SHA-256");
	}
	rx_buf_reset(&canon);
	canon_object(&canon, row, 0, skip, nskip);
	if (EVP_DigestInit_ex(md_ctx, sha256, NULL) != 1 || EVP_DigestUpdate(md_ctx, canon.data, canon.len) != 1 ||
	    EVP_DigestFinal_ex(md_ctx, hash, &len) != 1)
		rx_die(RX_EXIT_FAIL, "SHA-256 failed");
}

void rx_canon_free(void)
{
	for (size_t i = 0; i <= MAX_NEST; i++) {
		free(levels[i].ms.m);
		free(levels[i].sm);
		rx_buf_free(&levels[i].names);
		rx_buf_free(&levels[i].seen);
		free(levels[i].seen_len);
		free(levels[i].order);
		memset(&levels[i], 0, sizeof levels[i]);
	}
	rx_buf_free(&scratch);
	rx_buf_free(&canon);
	EVP_MD_CTX_free(md_ctx);
	EVP_MD_free(sha256);
	md_ctx = NULL;
	sha256 = NULL;
}

