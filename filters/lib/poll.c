/*
 * poll.c - rx_reader_wait (declared in rxpoll.h: a "poll.h" here would
 * hide <poll.h>): poll(2) in front of the NDJSON reader.
 *
 * The reader of io.c blocks in read(2) until a line is complete.  A stage
 * that holds a partial batch must not block past its deadline, so this
 * fills the same buffer itself: poll with the time left, then one read of
 * whatever is there.  It keeps the reader's invariants (unconsumed bytes
 * in data[start..end), cap + 1 bytes allocated, cap never beyond
 * max_line + 1) and leaves over-long lines for rx_reader_next to report.
 */
#include "rxpoll.h"

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

long long rx_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int rx_reader_wait(rx_reader *r, int timeout_ms, char *err, size_t errlen)
{
	long long deadline = rx_now_ms() + (timeout_ms > 0 ? timeout_ms : 0);

	for (;;) {
		if (r->eof || memchr(r->data + r->start, '\n', r->end - r->start) != NULL)
			return 1;
		long long left = deadline - rx_now_ms();
		if (left < 0)
			left = 0;
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		int n = poll(&p, 1, (int)left);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "cannot wait for '%s': %s", r->name, strerror(errno));
			return -1;
		}
		if (n == 0)
			return 0;
		if (r->start > 0) {
			memmove(r->data, r->data + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
		}
		if (r->end == r->cap) {
			if (r->cap > r->max_line)
				return 1; /* too long: rx_reader_next says so */
			size_t cap = r->cap * 2;
			if (cap > r->max_line + 1)
				cap = r->max_line + 1;
			r->data = rx_xrealloc(r->data, cap + 1);
			r->cap = cap;
		}
		ssize_t got = read(r->fd, r->data + r->end, r->cap - r->end);
		if (got < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			snprintf(err, errlen, "cannot read '%s': %s", r->name, strerror(errno));
			return -1;
		}
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
	}
}
