/*
 * secret.c - secrets never leave in what rx writes.
 *
 * A program registers each secret it reads (a token, a password, an
 * OAuth access token it was given) with rx_secret_add, in every form it
 * may come back in: as is, JSON-escaped, URL-encoded, and, for basic
 * auth, base64 of "user:password" (a server that echoes the request's
 * headers in an error body echoes that).  rx_scrub then replaces each
 * occurrence with *** in a buffer about to be written: diagnostics
 * (diag.c), dead letters (deadletter.c), dry runs, acks and stats.
 *
 * The list is small and fixed for the run; a scrub is a memmem per form,
 * paid only by programs that hold secrets.  Secrets under 4 bytes are not
 * registered: scrubbing them would mangle every message.
 */
#include "rx.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

#define SECRETS_MAX 64
#define SECRET_MIN 4

static char *forms[SECRETS_MAX];
static size_t nforms;

static void add_form(const char *s, size_t n)
{
	if (n < SECRET_MIN || nforms == SECRETS_MAX)
		return;
	for (size_t i = 0; i < nforms; i++)
		if (strlen(forms[i]) == n && memcmp(forms[i], s, n) == 0)
			return;
	forms[nforms] = rx_xmalloc(n + 1);
	memcpy(forms[nforms], s, n);
	forms[nforms][n] = '\0';
	nforms++;
}

void rx_secret_add(const char *s)
{
	rx_buf b = {0};
	size_t n;

	if (s == NULL || (n = strlen(s)) < SECRET_MIN)
		return;
	add_form(s, n);
	rx_json_put_string(&b, s, n); /* inside a JSON body, escaped */
	add_form(b.data + 1, b.len - 2);
	rx_buf_reset(&b);
	rx_url_encode(&b, s, n, 0); /* in a URL or a form */
	add_form(b.data, b.len);
	rx_buf_reset(&b);
	rx_base64_put(&b, (const unsigned char *)s, n); /* basic auth, or any header */
	add_form(b.data, b.len);
	rx_buf_free(&b);
}

int rx_secret_count(void)
{
	return (int)nforms;
}

void rx_scrub(rx_buf *b, size_t from)
{
	for (size_t i = 0; i < nforms && b->len > from; i++) {
		size_t n = strlen(forms[i]);
		char *p = b->data + from;
		while ((p = memmem(p, (size_t)(b->data + b->len - p), forms[i], n)) != NULL) {
			/* same length or shorter: replace in place, close the gap */
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, (size_t)(b->data + b->len - (p + n)) + 1);
			b->len -= n - 3;
			p += 3;
		}
	}
}

void rx_scrub_string(char *s)
{
	rx_buf b = {0};

	if (nforms == 0)
		return;
	rx_buf_puts(&b, s);
	rx_scrub(&b, 0);
	memcpy(s, b.data, b.len + 1);
	rx_buf_free(&b);
}

void rx_secret_free(void)
{
	for (size_t i = 0; i < nforms; i++) {
		memset(forms[i], 0, strlen(forms[i]));
		free(forms[i]);
	}
	nforms = 0;
}

void rx_no_core_dumps(void)
{
	struct rlimit none = {0, 0};

	setrlimit(RLIMIT_CORE, &none);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
