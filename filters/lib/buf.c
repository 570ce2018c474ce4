/*
 * buf.c - a growable byte buffer, allocation that never returns NULL,
 * whole files read into a buffer, and quoted SQL identifiers.
 *
 * An rx_buf owns its bytes and keeps them NUL-terminated, so its data can
 * be handed to C string functions.  Out of memory is fatal (exit 1): a
 * filter that cannot hold one record cannot do its job.
 */
#include "rx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void *rx_xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (p == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory (%zu bytes)", n);
	return p;
}

void *rx_xrealloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);

	if (q == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory (%zu bytes)", n);
	return q;
}

char *rx_xstrdup(const char *s)
{
	size_t n = strlen(s) + 1;

	return memcpy(rx_xmalloc(n), s, n);
}

void rx_buf_reserve(rx_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1, cap = b->cap ? b->cap : 256;

	if (need <= b->cap)
		return;
	while (cap < need)
		cap *= 2;
	b->data = rx_xrealloc(b->data, cap);
	b->cap = cap;
}

void rx_buf_puts(rx_buf *b, const char *s)
{
	rx_buf_put(b, s, strlen(s));
}

void rx_buf_printf(rx_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(b->data ? b->data + b->len : NULL, b->data ? b->cap - b->len : 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if (b->data == NULL || b->len + (size_t)n + 1 > b->cap) {
		rx_buf_reserve(b, (size_t)n);
		va_start(ap, fmt);
		vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
	}
	b->len += (size_t)n;
}

char *rx_read_file(const char *path)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
	rx_buf b = {0};
	char chunk[65536];
	size_t n;

	if (f == NULL)
		rx_die(RX_EXIT_FAIL, "cannot open '%s': %m", path);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rx_buf_put(&b, chunk, n);
	if (ferror(f))
		rx_die(RX_EXIT_FAIL, "cannot read '%s': %m", path);
	if (f != stdin)
		fclose(f);
	rx_buf_reserve(&b, 0); /* an empty file is "" */
	return b.data;
}

void rx_sql_put_ident(rx_buf *b, const char *s, size_t n)
{
	rx_buf_putc(b, '"');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '"')
			rx_buf_putc(b, '"');
		rx_buf_putc(b, s[i]);
	}
	rx_buf_putc(b, '"');
}

void rx_buf_free(rx_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
