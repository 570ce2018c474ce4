/*
 * rxjwt.h - JSON Web Tokens signed with RS256 (jwt.c), for the services
 * that take a signed assertion instead of a password: Snowflake's key-pair
 * authentication, Google's service-account grant.
 *
 * The key is OpenSSL's (libcrypto, already linked for SHA-256).  Nothing
 * here prints a key, a passphrase or a token; errors name the file and
 * what OpenSSL said.
 */
#ifndef RX_JWT_H
#define RX_JWT_H

#include "rx.h"

#include <openssl/evp.h>

/* An RSA private key from PEM text (PKCS#8, encrypted PKCS#8 with
 * passphrase, or PKCS#1), or NULL with err.  what names the key's origin
 * in err ("the file 'k.pem'", "the key file's private_key"). */
EVP_PKEY *rx_jwt_key_from_pem(const char *pem, size_t n, const char *passphrase, const char *what,
			      char *err, size_t errlen);
/* The same from a file. */
EVP_PKEY *rx_jwt_key_from_file(const char *path, const char *passphrase, char *err, size_t errlen);
void rx_jwt_key_free(EVP_PKEY *key);

/* Append "SHA256:" and the standard base64 of the SHA-256 of the key's
 * public half as DER SubjectPublicKeyInfo (Snowflake's
 * RSA_PUBLIC_KEY_FP).  0 or -1. */
int rx_jwt_fingerprint(EVP_PKEY *key, rx_buf *out);

/* Append base64url of data, without padding (RFC 7515). */
void rx_base64url_put(rx_buf *b, const unsigned char *data, size_t n);

/* Append a signed token: base64url(header) "." base64url(claims) "."
 * base64url(RS256 signature).  header and claims are JSON texts.  0, or -1
 * with err. */
int rx_jwt_sign(EVP_PKEY *key, const char *header, const char *claims, rx_buf *out, char *err, size_t errlen);

#endif
