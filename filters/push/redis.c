/*
 * redis.c - reaching a Redis server: URLs, AUTH from the environment,
 * SELECT, timeouts, and commands written in the protocol's own form
 * (redis.h says what a URL may hold and where the password comes from).
 *
 * Nothing here keeps state: a context belongs to its caller, who frees it
 * with redisFree().  A password is read from the environment each time a
 * connection is made and is never copied into a message.
 */
#include "redis.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

/* The value of query parameter name in q ("db=1&name=x"), into out. */
static int query_param(const char *q, const char *name, char *out, size_t outlen)
{
	size_t n = strlen(name);

	while (q != NULL && *q) {
		const char *amp = strchr(q, '&');
		size_t len = amp ? (size_t)(amp - q) : strlen(q);
		if (len > n && strncmp(q, name, n) == 0 && q[n] == '=') {
			snprintf(out, outlen, "%.*s", (int)(len - n - 1), q + n + 1);
			return 1;
		}
		q = amp ? amp + 1 : NULL;
	}
	return 0;
}

/* Copy s into a field of cap bytes; 0, or -1 (err) when it does not fit. */
static int copy_field(char *dst, size_t cap, const char *s, const char *what, char *err, size_t errlen)
{
	size_t n = strlen(s);

	if (n >= cap) {
		snprintf(err, errlen, "the Redis URL's %s is too long", what);
		return -1;
	}
	memcpy(dst, s, n + 1);
	return 0;
}

static int parse_db(const char *s, int *db, char *err, size_t errlen)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < 0 || v > 100000) {
		snprintf(err, errlen, "the Redis database '%s' is not a number", s);
		return -1;
	}
	*db = (int)v;
	return 0;
}

int rx_redis_parse(const char *url, int path_is_db, rx_redis_target *t, char *err, size_t errlen)
{
	char rest[2048], *query, *path;
	const char *s = url;

	memset(t, 0, sizeof *t);
	t->port = 6379;
	if (strncmp(url, "rediss://", 9) == 0) {
		snprintf(err, errlen, "rediss:// (TLS) is not supported: Debian 12's hiredis 0.14 has no TLS; reach the "
			 "server through a local TLS tunnel (stunnel, spiped) and name the tunnel's end with redis://");
		return -1;
	}
	if (url[0] == '/' || url[0] == '.') {
		snprintf(rest, sizeof rest, "%s", url);
		query = strchr(rest, '?');
		if (query != NULL)
			*query++ = '\0';
		if (copy_field(t->path, sizeof t->path, rest, "socket path", err, errlen) < 0)
			return -1;
		goto params;
	}
	if (strncmp(url, "redis://", 8) == 0)
		s = url + 8;
	else if (strncmp(url, "unix://", 7) == 0)
		s = url + 7;
	else {
		snprintf(err, errlen, "'%s' is not a Redis URL (redis://HOST:PORT/DB, unix:///PATH, or a socket path)", url);
		return -1;
	}
	if (strlen(s) >= sizeof rest) {
		snprintf(err, errlen, "the Redis URL is too long");
		return -1;
	}
	snprintf(rest, sizeof rest, "%s", s);
	query = strchr(rest, '?');
	if (query != NULL)
		*query++ = '\0';
	char *hostpart = rest;
	char *at = strrchr(hostpart, '@');
	if (at != NULL) {
		*at = '\0';
		if (strchr(hostpart, ':') != NULL) {
			snprintf(err, errlen, "a password in the Redis URL is refused (argv is visible to every user): "
				 "put it in RX_REDIS_PASSWORD or a file named by RX_REDIS_PASSWORD_FILE");
			return -1;
		}
		if (copy_field(t->user, sizeof t->user, hostpart, "user", err, errlen) < 0)
			return -1;
		hostpart = at + 1;
	}
	if (url[0] == 'u') { /* unix://[user@]/path */
		if (copy_field(t->path, sizeof t->path, hostpart, "socket path", err, errlen) < 0)
			return -1;
		if (t->path[0] != '/') {
			snprintf(err, errlen, "unix:// needs an absolute socket path (unix:///run/redis.sock)");
			return -1;
		}
		goto params;
	}
	path = strchr(hostpart, '/');
	if (path != NULL)
		*path++ = '\0';
	char *colon = strrchr(hostpart, ':');
	if (colon != NULL && strchr(hostpart, ']') < colon) {
		char *end;
		long port = strtol(colon + 1, &end, 10);
		if (*end != '\0' || port < 1 || port > 65535) {
			snprintf(err, errlen, "the port of '%s' is not a number from 1 to 65535", url);
			return -1;
		}
		t->port = (int)port;
		*colon = '\0';
	}
	if (hostpart[0] == '[') { /* [::1] */
		hostpart++;
		char *close = strchr(hostpart, ']');
		if (close != NULL)
			*close = '\0';
	}
	if (copy_field(t->host, sizeof t->host, hostpart[0] ? hostpart : "127.0.0.1", "host", err, errlen) < 0)
		return -1;
	if (path != NULL && *path) {
		if (path_is_db) {
			if (parse_db(path, &t->db, err, errlen) < 0)
				return -1;
		} else {
			if (copy_field(t->name, sizeof t->name, path, "name", err, errlen) < 0)
				return -1;
		}
	}
params:;
	char v[256];
	if (query_param(query, "db", v, sizeof v) && parse_db(v, &t->db, err, errlen) < 0)
		return -1;
	if (query_param(query, "name", v, sizeof v))
		snprintf(t->name, sizeof t->name, "%s", v);
	if (t->user[0] == '\0' && getenv("RX_REDIS_USER") != NULL)
		snprintf(t->user, sizeof t->user, "%s", getenv("RX_REDIS_USER"));
	if (t->path[0])
		snprintf(t->shown, sizeof t->shown, "unix://%s", t->path);
	else
		snprintf(t->shown, sizeof t->shown, "redis://%s:%d", t->host, t->port);
	return 0;
}

/* The password, from the environment; "" for none. */
static void password(char *out, size_t outlen)
{
	const char *e = getenv("RX_REDIS_PASSWORD");
	const char *file = getenv("RX_REDIS_PASSWORD_FILE");

	out[0] = '\0';
	if (e != NULL && *e) {
		snprintf(out, outlen, "%s", e);
		return;
	}
	if (file != NULL && *file) {
		FILE *f = fopen(file, "r");
		if (f != NULL) {
			if (fgets(out, (int)outlen, f) == NULL)
				out[0] = '\0';
			out[strcspn(out, "\r\n")] = '\0';
			fclose(f);
		}
		return;
	}
	e = getenv("REDISCLI_AUTH");
	if (e != NULL)
		snprintf(out, outlen, "%s", e);
}

/* AUTH and SELECT on a fresh connection.  0 or -1 with err. */
static int handshake(redisContext *c, const rx_redis_target *t, char *err, size_t errlen)
{
	char secret[1024];
	redisReply *r;

	password(secret, sizeof secret);
	if (secret[0] == '\0' && getenv("RX_REDIS_PASSWORD_FILE") != NULL && *getenv("RX_REDIS_PASSWORD_FILE")) {
		snprintf(err, errlen, "cannot read a password from RX_REDIS_PASSWORD_FILE");
		return -1;
	}
	if (secret[0]) {
		if (t->user[0]) {
			const char *argv[3] = {"AUTH", t->user, secret};
			r = redisCommandArgv(c, 3, argv, NULL);
		} else {
			const char *argv[2] = {"AUTH", secret};
			r = redisCommandArgv(c, 2, argv, NULL);
		}
		memset(secret, 0, sizeof secret);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis %s: AUTH failed: %s", t->shown, r ? r->str : c->errstr);
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	if (t->db != 0) {
		r = redisCommand(c, "SELECT %d", t->db);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			snprintf(err, errlen, "Redis %s: SELECT %d failed: %s", t->shown, t->db, r ? r->str : c->errstr);
			freeReplyObject(r);
			return -1;
		}
		freeReplyObject(r);
	}
	/* a command that needs no rights: a server that wants a password
	 * says so now, not on the first batch */
	r = redisCommand(c, "PING");
	if (r == NULL || r->type == REDIS_REPLY_ERROR) {
		snprintf(err, errlen, "Redis %s: %s", t->shown, r ? r->str : c->errstr);
		if (r != NULL && strncmp(r->str, "NOAUTH", 6) == 0)
			snprintf(err, errlen, "Redis %s wants a password: set RX_REDIS_PASSWORD (and RX_REDIS_USER "
				 "for an ACL user)", t->shown);
		freeReplyObject(r);
		return -1;
	}
	freeReplyObject(r);
	return 0;
}

redisContext *rx_redis_connect(const rx_redis_target *t, double timeout, char *err, size_t errlen)
{
	struct timeval tv = {(time_t)timeout, (suseconds_t)((timeout - (double)(time_t)timeout) * 1e6)};
	redisContext *c = t->path[0] ? redisConnectUnixWithTimeout(t->path, tv)
				     : redisConnectWithTimeout(t->host, t->port, tv);

	if (c == NULL) {
		snprintf(err, errlen, "cannot connect to Redis %s: out of memory", t->shown);
		return NULL;
	}
	if (c->err) {
		snprintf(err, errlen, "cannot connect to Redis %s: %s", t->shown, c->errstr);
		redisFree(c);
		return NULL;
	}
	if (redisSetTimeout(c, tv) != REDIS_OK || handshake(c, t, err, errlen) < 0) {
		if (err[0] == '\0')
			snprintf(err, errlen, "Redis %s: %s", t->shown, c->errstr);
		redisFree(c);
		return NULL;
	}
	return c;
}

int rx_redis_reconnect(redisContext *c, const rx_redis_target *t, char *err, size_t errlen)
{
	if (redisReconnect(c) != REDIS_OK) {
		snprintf(err, errlen, "cannot connect to Redis %s: %s", t->shown, c->errstr);
		return -1;
	}
	if (c->timeout != NULL && redisSetTimeout(c, *c->timeout) != REDIS_OK) {
		snprintf(err, errlen, "Redis %s: %s", t->shown, c->errstr);
		return -1;
	}
	return handshake(c, t, err, errlen);
}

/* "<c>N\r\n" (a count or a length) without printf: this runs for every
 * argument of every record. */
static void put_header(rx_buf *b, char c, size_t n)
{
	char digits[24], *p = digits + sizeof digits;

	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	rx_buf_reserve(b, (size_t)(digits + sizeof digits - p) + 3);
	b->data[b->len++] = c;
	memcpy(b->data + b->len, p, (size_t)(digits + sizeof digits - p));
	b->len += (size_t)(digits + sizeof digits - p);
	b->data[b->len++] = '\r';
	b->data[b->len++] = '\n';
	b->data[b->len] = '\0';
}

void rx_redis_put_count(rx_buf *b, size_t argc)
{
	put_header(b, '*', argc);
}

void rx_redis_put_arg(rx_buf *b, const char *s, size_t n)
{
	/* written in place, one reservation: a batch's command has a few
	 * dozen of these a record */
	if (b->len + n + 32 > b->cap)
		rx_buf_reserve(b, n + 32);
	char *p = b->data + b->len;
	*p++ = '$';
	if (n < 10) {
		*p++ = (char)('0' + n);
	} else if (n < 100) {
		*p++ = (char)('0' + n / 10);
		*p++ = (char)('0' + n % 10);
	} else {
		char digits[24], *d = digits + sizeof digits;
		size_t m = n;
		do
			*--d = (char)('0' + m % 10);
		while ((m /= 10) > 0);
		memcpy(p, d, (size_t)(digits + sizeof digits - d));
		p += digits + sizeof digits - d;
	}
	*p++ = '\r';
	*p++ = '\n';
	if (n > 0)
		memcpy(p, s, n);
	p += n;
	*p++ = '\r';
	*p++ = '\n';
	*p = '\0';
	b->len = (size_t)(p - b->data);
}

void rx_redis_put_command(rx_buf *b, int argc, const char *const *argv, const size_t *argvlen)
{
	rx_redis_put_count(b, (size_t)argc);
	for (int i = 0; i < argc; i++)
		rx_redis_put_arg(b, argv[i], argvlen ? argvlen[i] : strlen(argv[i]));
}
