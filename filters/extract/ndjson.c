/*
 * ndjson.c - rx-extract's NDJSON source.
 *
 * Each line must be one JSON object; it passes through byte for byte,
 * except that a top-level number a double cannot hold exactly becomes a
 * string (DESIGN.md "Numbers").  Blank lines are skipped.  A line that is
 * not an object stops the run with its line number (exit 65).
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
	int rc, status = RX_EXIT_OK;

	if (rx_reader_open(&in, o->source, o->max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	while ((rc = rx_reader_next(&in, &line, &len, err, sizeof err)) == 1) {
		if (len == 0 || strspn(line, " \t") == len)
			continue;
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
	free(ms.m);
	rx_reader_close(&in);
	return status;
}
