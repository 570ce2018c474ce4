/*
 * deadletter.c - the dead-letter record of DESIGN.md.
 *
 * A dead letter is the record exactly as it was received plus an "error"
 * member.  An "error" member already present (a dead-letter file being
 * re-driven) is replaced, never nested, so a record can go round the loop
 * any number of times and still look the same.  Each dead letter leaves
 * in a single write(2) so that lines from concurrent writers on one
 * stderr never interleave.
 *
 * The error of a change carries "row_hash", the SHA-256 of the canonical
 * form of its row (canon.c) as it was rejected, or as it was first
 * rejected when the record comes round again: rx-push refuses to re-drive
 * a dead letter whose row no longer matches it, since an edited row would
 * be acked under its old key and hash and the snapshot would then hold
 * what the destination does not.
 */
#include "rx.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The row hash a dead letter of this record carries: its first one when
 * it was dead-lettered before, else that of its row; "" when it has no
 * row object. */
static void row_hash(const rx_members *ms, char hex[65])
{
	char err[128];
	long e = rx_json_find(ms, "error", 5), r = rx_json_find(ms, "row", 3);

	hex[0] = '\0';
	if (e >= 0 && rx_json_kind(ms->m[e].value) == 'o') {
		rx_members em = {0};
		if (rx_json_scan_object(ms->m[e].value.p, ms->m[e].value.n, &em, err, sizeof err) == 0) {
			long h = rx_json_find(&em, "row_hash", 8);
			if (h >= 0 && em.m[h].value.n == 66)
				snprintf(hex, 65, "%.64s", em.m[h].value.p + 1);
		}
		free(em.m);
		if (hex[0])
			return;
	}
	if (r >= 0 && rx_json_kind(ms->m[r].value) == 'o') {
		rx_members rm = {0};
		unsigned char h[32];
		if (rx_json_scan_object(ms->m[r].value.p, ms->m[r].value.n, &rm, err, sizeof err) == 0) {
			rx_canon_row_hash(&rm, NULL, 0, h);
			for (int i = 0; i < 32; i++)
				snprintf(hex + 2 * i, 3, "%02x", h[i]);
		}
		free(rm.m);
	}
}

void rx_deadletter_format(rx_buf *out, const char *line, size_t n, const rx_deadletter *d)
{
	rx_members ms = {0};
	char err[256], at[32], hash[65] = "";
	int first = 1;
	size_t start = out->len;

	rx_buf_putc(out, '{');
	if (rx_json_scan_object(line, n, &ms, err, sizeof err) == 0) {
		row_hash(&ms, hash);
		for (size_t i = 0; i < ms.n; i++) {
			if (rx_json_name_eq(ms.m[i].name, "error", 5))
				continue;
			if (!first)
				rx_buf_putc(out, ',');
			first = 0;
			rx_buf_put(out, ms.m[i].name.p, ms.m[i].name.n);
			rx_buf_putc(out, ':');
			rx_json_put_compact(out, ms.m[i].value);
		}
	} else {
		/* not an object: keep the text itself, so nothing is lost */
		rx_buf_puts(out, "\"record\":");
		rx_json_put_text(out, line, n);
		first = 0;
	}
	free(ms.m);
	if (!first)
		rx_buf_putc(out, ',');
	rx_buf_puts(out, "\"error\":{\"stage\":");
	rx_json_put_string(out, d->stage, strlen(d->stage));
	rx_buf_puts(out, ",\"status\":");
	if (d->status > 0)
		rx_buf_printf(out, "%d", d->status);
	else
		rx_buf_puts(out, "null");
	rx_buf_puts(out, ",\"message\":");
	rx_json_put_text(out, d->message ? d->message : "", d->message ? strlen(d->message) : 0);
	if (d->body.p != NULL && d->body.n > 0) {
		rx_buf_puts(out, ",\"body\":");
		rx_json_put_compact(out, d->body);
	}
	if (d->attempts > 0)
		rx_buf_printf(out, ",\"attempts\":%d", d->attempts);
	rx_iso_time(at);
	rx_buf_printf(out, ",\"at\":\"%s\"", at);
	if (hash[0])
		rx_buf_printf(out, ",\"row_hash\":\"%s\"", hash);
	rx_buf_puts(out, "}}\n");
	rx_scrub(out, start); /* a reply that echoes the request's headers */
}

void rx_deadletter_emit(const char *line, size_t n, const rx_deadletter *d)
{
	rx_buf out = {0};
	size_t off = 0;

	rx_deadletter_format(&out, line, n, d);
	while (off < out.len) {
		ssize_t w = write(2, out.data + off, out.len - off);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		off += (size_t)w;
	}
	rx_buf_free(&out);
}
