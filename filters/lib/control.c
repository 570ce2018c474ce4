/*
 * control.c - control records: the lines of a stream that are not data.
 *
 * A control record is a JSON object whose first member is named "$rx";
 * its value says which record it is.  One is defined (DESIGN.md "The end
 * of a model"):
 *
 *   {"$rx":"end","rows":10000}              the model ended normally
 *   {"$rx":"end","rows":9990,"rejected":10} ... but a stage upstream
 *                                           dead-lettered 10 of its rows
 *
 * rx-extract writes it as its last line, and only when the whole source
 * was read; rx-map passes it on with its own counts; rx-diff requires it
 * before it emits a delete.  "rows" (the rows on the stream before it)
 * and "rejected" may be left out by a producer that does not count.
 *
 * rx-push --dry-run writes each request it would send as one, so that a
 * commit downstream of a dry run reads no ack from it:
 *
 *   {"$rx":"request","method":"POST","url":...,"headers":...,"body":...}
 *
 * rx-diff writes, as the first line of a run's changes, how many follow,
 * so that rx-push can show done/total; rx-batch passes it on and
 * rx-push and the commit read no change from it:
 *
 *   {"$rx":"changes","count":6,"sync":"app","run":"5d2a9c0e7b1f4a36.12"}
 *
 * rx-push writes, beside the acks on stdout, one for each record it
 * dead-letters, so that the commit knows the destination answered it
 * (the run counts as one that happened) and why, by reason:
 *
 *   {"$rx":"rejected","key":"C1","hash":"<hex>","run":"...","op":"upsert",
 *    "reason":"http_422"}
 *
 * A row whose first member is "$rx" is therefore not a row; no model
 * column is ever named that in practice, and rx-extract refuses one.
 */
#include "rx.h"

#include <stdio.h>
#include <stdlib.h>

int rx_control_is(const char *s, size_t n)
{
	size_t i = 0;

	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i == n || s[i] != '{')
		return 0;
	i++;
	while (i < n && (s[i] == ' ' || s[i] == '\t'))
		i++;
	return n - i >= 5 && memcmp(s + i, "\"$rx\"", 5) == 0;
}

/* A member that is a whole number from 0 up, or absent (-1). */
static int count_member(const rx_members *ms, const char *name, long long *out, char *err, size_t errlen)
{
	long i = rx_json_find(ms, name, strlen(name));

	*out = -1;
	if (i < 0)
		return 0;
	rx_span v = ms->m[i].value;
	char text[32];
	if (rx_json_kind(v) != 'n' || v.n >= sizeof text)
		goto bad;
	memcpy(text, v.p, v.n);
	text[v.n] = '\0';
	char *end;
	long long n = strtoll(text, &end, 10);
	if (*end != '\0' || n < 0)
		goto bad;
	*out = n;
	return 0;
bad:
	snprintf(err, errlen, "the end record's \"%s\" is not a count", name);
	return -1;
}

int rx_control_end(const char *s, size_t n, rx_end *end, char *err, size_t errlen)
{
	rx_members ms = {0};
	int rc = -1;

	if (rx_json_scan_object(s, n, &ms, err, errlen) < 0)
		goto done;
	if (ms.n == 0 || !rx_json_name_eq(ms.m[0].name, "$rx", 3)) {
		snprintf(err, errlen, "not a control record (its first member is not \"$rx\")");
		goto done;
	}
	rx_span v = ms.m[0].value;
	if (!(v.n == 5 && memcmp(v.p, "\"end\"", 5) == 0)) {
		snprintf(err, errlen, "unknown control record %.*s (rx knows {\"$rx\":\"end\"})", (int)(v.n > 40 ? 40 : v.n),
			 v.p);
		goto done;
	}
	if (count_member(&ms, "rows", &end->rows, err, errlen) < 0 ||
	    count_member(&ms, "rejected", &end->rejected, err, errlen) < 0)
		goto done;
	if (end->rejected < 0)
		end->rejected = 0;
	rc = 0;
done:
	free(ms.m);
	return rc;
}

void rx_control_put_end(rx_buf *b, long long rows, long long rejected)
{
	rx_buf_printf(b, "{\"$rx\":\"end\",\"rows\":%lld", rows);
	if (rejected > 0)
		rx_buf_printf(b, ",\"rejected\":%lld", rejected);
	rx_buf_puts(b, "}\n");
}

int rx_control_kind_is(const char *s, size_t n, const char *kind)
{
	size_t i = 0, k = strlen(kind);

	if (!rx_control_is(s, n))
		return 0;
	while (i < n && s[i] != '"')
		i++;
	i += 5; /* "$rx" */
	while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == ':'))
		i++;
	return n - i >= k + 2 && s[i] == '"' && memcmp(s + i + 1, kind, k) == 0 && s[i + 1 + k] == '"';
}

long long rx_control_count(const char *s, size_t n)
{
	rx_members ms = {0};
	long long count = -1;
	char err[128];

	if (rx_json_scan_object(s, n, &ms, err, sizeof err) == 0 && count_member(&ms, "count", &count, err, sizeof err) < 0)
		count = -1;
	free(ms.m);
	return count;
}
