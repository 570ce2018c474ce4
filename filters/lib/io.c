/*
 * io.c - the buffered writer and the NDJSON line reader.
 *
 * The reader reads big blocks with read(2) and hands out lines in place,
 * so a line costs no copy and no allocation unless it is longer than the
 * buffer, which then doubles, up to max_line.  The writer collects whole
 * records and writes them in large blocks; a short or failed write is
 * retried or remembered (w->error), never ignored.
 */
#include "rx.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WRITER_THRESHOLD (64 * 1024)
#define READER_INITIAL (256 * 1024)

void rx_writer_init(rx_writer *w, int fd)
{
	memset(w, 0, sizeof *w);
	w->fd = fd;
	w->threshold = WRITER_THRESHOLD;
	rx_buf_reserve(&w->buf, WRITER_THRESHOLD + 4096);
}

int rx_writer_flush(rx_writer *w)
{
	size_t off = 0;

	while (off < w->buf.len && w->error == 0) {
		ssize_t n = write(w->fd, w->buf.data + off, w->buf.len - off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			w->error = errno;
			break;
		}
		off += (size_t)n;
	}
	rx_buf_reset(&w->buf);
	return w->error ? -1 : 0;
}

int rx_writer_finish(rx_writer *w, const char *what)
{
	rx_writer_flush(w);
	if (w->error) {
		rx_diag("cannot write %s: %s", what, strerror(w->error));
		return -1;
	}
	return 0;
}

int rx_reader_open(rx_reader *r, const char *path, size_t max_line, char *err, size_t errlen)
{
	memset(r, 0, sizeof *r);
	r->name = rx_input_name(path);
	r->max_line = max_line ? max_line : RX_MAX_LINE_DEFAULT;
	if (path == NULL || strcmp(path, "-") == 0) {
		r->fd = 0;
		r->is_stdin = 1;
	} else {
		r->fd = open(path, O_RDONLY | O_CLOEXEC);
		if (r->fd < 0) {
			snprintf(err, errlen, "cannot open '%s': %s", path, strerror(errno));
			return -1;
		}
	}
	r->cap = READER_INITIAL;
	r->data = rx_xmalloc(r->cap + 1);
	return 0;
}

/* Make room for more input: slide the unconsumed bytes to the front, or
 * grow the buffer when they fill it. */
static int make_room(rx_reader *r, char *err, size_t errlen)
{
	size_t pending = r->end - r->start;

	if (r->start > 0) {
		memmove(r->data, r->data + r->start, pending);
		r->start = 0;
		r->end = pending;
	}
	if (r->end < r->cap)
		return 0;
	if (r->cap > r->max_line) {
		snprintf(err, errlen, "line %llu: longer than the limit of %zu bytes (see --max-line)",
			 r->line + 1, r->max_line);
		r->too_long = 1;
		return -1;
	}
	size_t cap = r->cap * 2;
	if (cap > r->max_line + 1)
		cap = r->max_line + 1;
	r->data = rx_xrealloc(r->data, cap + 1);
	r->cap = cap;
	return 0;
}

int rx_reader_next(rx_reader *r, char **line, size_t *len, char *err, size_t errlen)
{
	size_t scanned = r->start;

	r->too_long = 0;
	for (;;) {
		char *nl = memchr(r->data + scanned, '\n', r->end - scanned);
		if (nl != NULL) {
			size_t n = (size_t)(nl - (r->data + r->start));
			if (n > r->max_line) {
				snprintf(err, errlen, "line %llu: longer than the limit of %zu bytes (see --max-line)",
					 r->line + 1, r->max_line);
				r->too_long = 1;
				return -1;
			}
			*line = r->data + r->start;
			r->start += n + 1;
			if (n > 0 && (*line)[n - 1] == '\r')
				n--;
			(*line)[n] = '\0';
			*len = n;
			r->line++;
			return 1;
		}
		if (r->eof) {
			if (r->end == r->start)
				return 0;
			/* a last line without its newline */
			size_t n = r->end - r->start;
			*line = r->data + r->start;
			r->start = r->end;
			if (n > 0 && (*line)[n - 1] == '\r')
				n--;
			(*line)[n] = '\0';
			*len = n;
			r->line++;
			return 1;
		}
		size_t done = scanned - r->start;
		if (make_room(r, err, errlen) < 0)
			return -1;
		scanned = r->start + done;
		ssize_t got;
		do
			got = read(r->fd, r->data + r->end, r->cap - r->end);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", r->name, strerror(errno));
			return -1;
		}
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
		scanned = r->end - (size_t)got;
	}
}

int rx_reader_skip(rx_reader *r, rx_buf *prefix, size_t keep, char *err, size_t errlen)
{
	int kept = 0;

	for (;;) {
		size_t have = r->end - r->start;
		char *nl = memchr(r->data + r->start, '\n', have);
		size_t upto = nl ? (size_t)(nl - (r->data + r->start)) : have;
		if (prefix != NULL && !kept) {
			rx_buf_put(prefix, r->data + r->start, upto < keep ? upto : keep);
			kept = 1;
		}
		if (nl != NULL || r->eof) {
			r->start = nl ? r->start + upto + 1 : r->end;
			r->line++;
			r->too_long = 0;
			return 0;
		}
		r->start = r->end = 0; /* the rest of the line goes unread */
		ssize_t got;
		do
			got = read(r->fd, r->data, r->cap);
		while (got < 0 && errno == EINTR);
		if (got < 0) {
			snprintf(err, errlen, "cannot read '%s': %s", r->name, strerror(errno));
			return -1;
		}
		if (got == 0)
			r->eof = 1;
		r->end = (size_t)got;
	}
}

void rx_reader_close(rx_reader *r)
{
	if (!r->is_stdin && r->fd >= 0)
		close(r->fd);
	free(r->data);
	r->data = NULL;
	r->fd = -1;
}
