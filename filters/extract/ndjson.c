/*
 * ndjson.c - rx-extract's NDJSON source.
 *
 * Each line must be one JSON object; it passes through byte for byte,
 * except that a top-level number a double cannot hold exactly becomes a
 * string (DESIGN.md "Numbers").  Blank lines are skipped.  A line that is
 * not an object stops the run with its line number (exit 65).
 *
 * The input's end record (control.c), if it has one, ends it: its counts
 * are checked and its "rejected" carried into the end record rx-extract
 * writes.  An input without one may have been cut short, so rx-extract
 * writes none either: EOF alone never proves a model complete.
 */
#include "extract.h"

#include <stdlib.h>
#include <string.h>

int rx_extract_ndjson(const extract_options *o, rx_writer *out)
{
	rx_reader in;
	rx_members ms = {0};
	char err[512];
	char *line;
	size_t len;
	int rc, status = RX_EXIT_OK, ended = 0;
	unsigned long long rows = 0;
	rx_end end = {-1, 0};

	if (rx_reader_open(&in, o->source, o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	while ((rc = rx_reader_next(&in, &line, &len, err, sizeof err)) == 1) {
		if (len == 0 || strspn(line, " \t") == len)
			continue;
		if (ended) {
			rx_diag_at(in.name, in.line, "a line after the end record");
			status = RX_EXIT_DATAERR;
			break;
		}
		if (rx_control_is(line, len)) {
			if (rx_control_end(line, len, &end, err, sizeof err) < 0) {
				rx_diag_at(in.name, in.line, "%s", err);
				status = RX_EXIT_DATAERR;
				break;
			}
			if (end.rows >= 0 && (unsigned long long)end.rows != rows) {
				rx_diag_at(in.name, in.line, "the end record counts %lld rows, but %llu came before it",
					   end.rows, rows);
				status = RX_EXIT_DATAERR;
				break;
			}
			ended = 1;
			continue;
		}
		rows++;
		if (rx_json_scan_object(line, len, &ms, err, sizeof err) < 0) {
			rx_diag_at(in.name, in.line, "%s", err);
			status = RX_EXIT_DATAERR;
			break;
		}
		rx_buf *b = &out->buf;
		size_t start = b->len;
		int inexact = 0;
		for (size_t i = 0; i < ms.n && !inexact; i++)
			if (rx_json_kind(ms.m[i].value) == 'n' && !rx_json_number_exact(ms.m[i].value.p, ms.m[i].value.n))
				inexact = 1;
		if (!inexact) {
			rx_buf_put(b, line, len);
		} else {
			rx_buf_putc(b, '{');
			for (size_t i = 0; i < ms.n; i++) {
				if (i > 0)
					rx_buf_putc(b, ',');
				rx_buf_put(b, ms.m[i].name.p, ms.m[i].name.n);
				rx_buf_putc(b, ':');
				if (rx_json_kind(ms.m[i].value) == 'n')
					rx_extract_put_number(b, ms.m[i].value.p, ms.m[i].value.n);
				else
					rx_buf_put(b, ms.m[i].value.p, ms.m[i].value.n);
			}
			rx_buf_putc(b, '}');
		}
		rx_extract_row(out, start, o);
		if (out->error) {
			status = RX_EXIT_IOERR;
			break;
		}
	}
	if (rc < 0) {
		rx_diag("%s: %s", in.name, err);
		status = RX_EXIT_DATAERR;
	}
	rx_extract_upstream(end.rejected, ended);
	free(ms.m);
	rx_reader_close(&in);
	return status;
}
