/*
 * jwt.c - RS256 JSON Web Tokens with OpenSSL's libcrypto (see rxjwt.h).
 *
 * A PEM key is read through a memory BIO with a passphrase callback that
 * never prompts: an encrypted key without a passphrase is an error, not a
 * question on the terminal.  Buffers that held key material are
 * cleansed before they are freed.
 */
#include "rxjwt.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* OpenSSL's last error, as text, into err after a prefix. */
static void openssl_error(char *err, size_t errlen, const char *prefix)
{
	unsigned long e = ERR_peek_last_error();
	char why[256] = "unknown error";

	if (e != 0)
		ERR_error_string_n(e, why, sizeof why);
	ERR_clear_error();
	snprintf(err, errlen, "%s: %s", prefix, why);
}

/* The passphrase, or none: never a prompt. */
static int passphrase_cb(char *buf, int size, int rwflag, void *arg)
{
	const char *pass = arg;
	size_t n;

	(void)rwflag;
	if (pass == NULL)
		return 0;
	n = strlen(pass);
	if (n > (size_t)size)
		return 0;
	memcpy(buf, pass, n);
	return (int)n;
}

EVP_PKEY *rx_jwt_key_from_pem(const char *pem, size_t n, const char *passphrase, const char *what,
			      char *err, size_t errlen)
{
	BIO *bio = BIO_new_mem_buf(pem, (int)n);
	EVP_PKEY *key = NULL;
	char prefix[512];

	if (bio == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	if (passphrase == NULL && (memmem(pem, n, "ENCRYPTED", 9) != NULL)) {
		/* OpenSSL would try an empty passphrase and fail obscurely */
		BIO_free(bio);
		snprintf(err, errlen, "%s is encrypted and no passphrase was given", what);
		return NULL;
	}
	ERR_clear_error();
	key = PEM_read_bio_PrivateKey(bio, NULL, passphrase_cb, (void *)passphrase);
	BIO_free(bio);
	if (key == NULL) {
		unsigned long e = ERR_peek_last_error();
		if (ERR_GET_REASON(e) == PEM_R_NO_START_LINE) {
			ERR_clear_error();
			snprintf(err, errlen, "%s holds no PEM private key", what);
		} else {
			snprintf(prefix, sizeof prefix, "cannot read the private key in %s%s", what,
				 passphrase ? " (a wrong passphrase?)" : "");
			openssl_error(err, errlen, prefix);
		}
		return NULL;
	}
	if (EVP_PKEY_base_id(key) != EVP_PKEY_RSA) {
		snprintf(err, errlen, "the private key in %s is not an RSA key (RS256 needs one)", what);
		EVP_PKEY_free(key);
		return NULL;
	}
	return key;
}

EVP_PKEY *rx_jwt_key_from_file(const char *path, const char *passphrase, char *err, size_t errlen)
{
	FILE *f = fopen(path, "r");
	rx_buf pem = {0};
	char chunk[4096], what[512];
	size_t n;

	if (f == NULL) {
		snprintf(err, errlen, "cannot open the private key file '%s': %m", path);
		return NULL;
	}
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rx_buf_put(&pem, chunk, n);
	int bad = ferror(f);
	fclose(f);
	OPENSSL_cleanse(chunk, sizeof chunk);
	if (bad) {
		snprintf(err, errlen, "cannot read the private key file '%s'", path);
		rx_buf_free(&pem);
		return NULL;
	}
	snprintf(what, sizeof what, "the file '%s'", path);
	EVP_PKEY *key = rx_jwt_key_from_pem(pem.data ? pem.data : "", pem.len, passphrase, what, err, errlen);
	if (pem.data)
		OPENSSL_cleanse(pem.data, pem.cap);
	rx_buf_free(&pem);
	return key;
}

void rx_jwt_key_free(EVP_PKEY *key)
{
	EVP_PKEY_free(key);
}

int rx_jwt_fingerprint(EVP_PKEY *key, rx_buf *out)
{
	unsigned char *der = NULL, md[SHA256_DIGEST_LENGTH];
	int n = i2d_PUBKEY(key, &der);

	if (n <= 0)
		return -1;
	SHA256(der, (size_t)n, md);
	OPENSSL_free(der);
	rx_buf_puts(out, "SHA256:");
	rx_base64_put(out, md, sizeof md);
	return 0;
}

void rx_base64url_put(rx_buf *b, const unsigned char *data, size_t n)
{
	size_t start = b->len;

	rx_base64_put(b, data, n);
	while (b->len > start && b->data[b->len - 1] == '=')
		b->len--;
	b->data[b->len] = '\0';
	for (size_t i = start; i < b->len; i++) {
		if (b->data[i] == '+')
			b->data[i] = '-';
		else if (b->data[i] == '/')
			b->data[i] = '_';
	}
}

int rx_jwt_sign(EVP_PKEY *key, const char *header, const char *claims, rx_buf *out, char *err, size_t errlen)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char *sig = NULL;
	size_t start = out->len, siglen = 0;
	int rc = -1;

	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rx_base64url_put(out, (const unsigned char *)header, strlen(header));
	rx_buf_putc(out, '.');
	rx_base64url_put(out, (const unsigned char *)claims, strlen(claims));
	size_t signed_len = out->len - start;
	ERR_clear_error();
	if (EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, key) != 1 ||
	    EVP_DigestSign(ctx, NULL, &siglen, (const unsigned char *)out->data + start, signed_len) != 1) {
		openssl_error(err, errlen, "cannot sign the token");
		goto done;
	}
	sig = rx_xmalloc(siglen);
	if (EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)out->data + start, signed_len) != 1) {
		openssl_error(err, errlen, "cannot sign the token");
		goto done;
	}
	rx_buf_putc(out, '.');
	rx_base64url_put(out, sig, siglen);
	rc = 0;
done:
	if (rc < 0) {
		out->len = start;
		if (out->data)
			out->data[start] = '\0';
	}
	free(sig);
	EVP_MD_CTX_free(ctx);
	return rc;
}
