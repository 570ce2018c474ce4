/*
 * deadletter.c - the dead-letter record of DESIGN.md.
 *
 * A dead letter is the record exactly as it was received plus an "error"
 * member.  An "error" member already present (a dead-letter file being
 * re-driven) is replaced, never nested, so a record can go round the loop
 * any number of times and still look the same.  Each dead letter leaves
 * in a single write(2) so that lines from concurrent writers on one
 * stderr never interleave.
 */
#include "rx.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void rx_deadletter_format(rx_buf *out, const char *line, size_t n, const rx_deadletter *d)
{
	rx_members ms = {0};
	char err[256], at[32];
	int first = 1;

	rx_buf_putc(out, '{');
	if (rx_json_scan_object(line, n, &ms, err, sizeof err) == 0) {
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
		rx_json_put_string(out, line, n);
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
	rx_json_put_string(out, d->message ? d->message : "", d->message ? strlen(d->message) : 0);
	if (d->body.p != NULL && d->body.n > 0) {
		rx_buf_puts(out, ",\"body\":");
		rx_json_put_compact(out, d->body);
	}
	if (d->attempts > 0)
		rx_buf_printf(out, ",\"attempts\":%d", d->attempts);
	rx_iso_time(at);
	rx_buf_printf(out, ",\"at\":\"%s\"}}\n", at);
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
