/*
 * hash.c - SHA-256 (from OpenSSL's libcrypto, already present as
 * libcurl's TLS library), base64, key texts and shards.
 */
#include "rx.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/* The algorithm fetched once: SHA256() looks it up in the provider
 * tables at every call (in OpenSSL 3, half its cost for a short text). */
static EVP_MD *sha256;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;

static void sha256_fetch(void)
{
	sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
}

void rx_hex(const unsigned char *md, size_t n, char *out)
{
	static const char hex[] = "0123456789abcdef";

	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hex[md[i] >> 4];
		out[2 * i + 1] = hex[md[i] & 15];
	}
	out[2 * n] = '\0';
}

void rx_sha256_hex(const void *data, size_t n, char out[65])
{
	unsigned char md[SHA256_DIGEST_LENGTH];

	pthread_once(&sha256_once, sha256_fetch);
	if (sha256 == NULL || !EVP_Digest(data, n, md, NULL, sha256, NULL))
		SHA256(data, n, md);
	rx_hex(md, SHA256_DIGEST_LENGTH, out);
}

void rx_hmac_sha256_hex(const char *key, const void *data, size_t n, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	if (HMAC(EVP_sha256(), key, (int)strlen(key), data, n, md, &len) == NULL || len != SHA256_DIGEST_LENGTH)
		rx_die(RX_EXIT_FAIL, "HMAC-SHA256 failed (libcrypto)");
	rx_hex(md, len, out);
	OPENSSL_cleanse(md, sizeof md);
}

void rx_hmac_sha256(const void *key, size_t klen, const void *data, size_t n, unsigned char out[32])
{
	unsigned len = 0;

	if (HMAC(EVP_sha256(), key, (int)klen, data, n, out, &len) == NULL || len != SHA256_DIGEST_LENGTH)
		rx_die(RX_EXIT_FAIL, "HMAC-SHA256 failed (libcrypto)");
}

void rx_url_encode(rx_buf *b, const char *s, size_t n, int slash)
{
	static const char hex[] = "0123456789ABCDEF";

	/* written straight into the buffer: a form body is mostly a batch's JSON */
	rx_buf_reserve(b, 3 * n + 1);
	char *o = b->data + b->len;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if ((unsigned)((c | 0x20) - 'a') < 26 || (unsigned)(c - '0') < 10 || c == '-' || c == '_' || c == '.' ||
		    c == '~' || (slash && c == '/')) {
			*o++ = (char)c;
		} else {
			o[0] = '%';
			o[1] = hex[c >> 4];
			o[2] = hex[c & 15];
			o += 3;
		}
	}
	b->len = (size_t)(o - b->data);
	b->data[b->len] = '\0';
}

void rx_base64_put(rx_buf *b, const unsigned char *data, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t i;

	rx_buf_reserve(b, (n + 2) / 3 * 4);
	for (i = 0; i + 2 < n; i += 3) {
		unsigned v = (unsigned)data[i] << 16 | (unsigned)data[i + 1] << 8 | data[i + 2];
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], tab[(v >> 6) & 63], tab[v & 63]};
		rx_buf_put(b, q, 4);
	}
	if (i < n) {
		unsigned v = (unsigned)data[i] << 16 | (i + 1 < n ? (unsigned)data[i + 1] << 8 : 0);
		char q[4] = {tab[v >> 18], tab[(v >> 12) & 63], i + 1 < n ? tab[(v >> 6) & 63] : '=', '='};
		rx_buf_put(b, q, 4);
	}
}

void rx_key_text(rx_span value, rx_buf *out)
{
	if (rx_json_kind(value) == 's')
		rx_json_string_decode(value, out);
	else
		rx_buf_put(out, value.p, value.n);
}

static _Thread_local rx_buf part; /* a composite key's part; reused from row to row */

void rx_key_scratch_free(void)
{
	rx_buf_free(&part);
}

int rx_key_of(const rx_members *row, char *const *cols, size_t ncols, rx_buf *out)
{
	int rc = 0;

	if (ncols > 1)
		rx_buf_putc(out, '[');
	for (size_t i = 0; i < ncols; i++) {
		long at = rx_json_find(row, cols[i], strlen(cols[i]));
		if (at < 0 || rx_json_kind(row->m[at].value) == 'z') {
			rc = -1;
			break;
		}
		if (ncols == 1) {
			rx_key_text(row->m[at].value, out);
			break;
		}
		if (i > 0)
			rx_buf_putc(out, ',');
		rx_buf_reset(&part);
		rx_key_text(row->m[at].value, &part);
		rx_json_put_string(out, part.data, part.len);
	}
	if (ncols > 1 && rc == 0)
		rx_buf_putc(out, ']');
	return rc;
}

void rx_parse_shard(const char *arg, unsigned *i, unsigned *n)
{
	unsigned long a, b;
	char *end;

	a = strtoul(arg, &end, 10);
	if (end == arg || *end != '/')
		rx_usage_error("--shard: '%s' is not I/N (shard I of N, 1 <= I <= N)", arg);
	const char *q = end + 1;
	b = strtoul(q, &end, 10);
	if (end == q || *end != '\0' || b < 1 || b > 65536 || a < 1 || a > b)
		rx_usage_error("--shard: '%s' is not I/N (shard I of N, 1 <= I <= N)", arg);
	*i = (unsigned)a;
	*n = (unsigned)b;
}

unsigned rx_shard_of(const char *key, size_t n, unsigned nshards)
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned len = 0;

	EVP_Digest(key, n, md, &len, EVP_md5(), NULL);
	uint32_t v = (uint32_t)md[0] << 24 | (uint32_t)md[1] << 16 | (uint32_t)md[2] << 8 | md[3];
	return v % nshards + 1;
}
