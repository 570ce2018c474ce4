/*
 * mysql.c - MySQL and MariaDB connections (rxmysql.h): the conninfo,
 * TLS, the password's sources, the session's settings.
 *
 * NOTES ON THE DESIGN
 *
 *  - The conninfo is parsed here, not by libmariadb (which has no such
 *    string): each key maps to one mysql_optionsv() or to an argument of
 *    mysql_real_connect().  An unknown key is an error, not ignored: a
 *    misspelt ssl-mode must not quietly connect in clear.
 *  - "password" is refused with a message naming where a password goes
 *    (MYSQL_PWD, an option file).  libmariadb reads MYSQL_PWD itself
 *    when no password is passed, and the option files' groups [client],
 *    [client-server], [client-mariadb] and [rx].
 *  - The option files are read inside mysql_real_connect(), after the
 *    options set here, so they could change the character set: the
 *    session's settings are therefore applied after the connection, by
 *    statements, where nothing overrides them.
 *  - mysql_init() ignores SIGPIPE for the whole process; the caller's
 *    disposition is put back (rx-extract dies quietly when its reader
 *    goes away; rx-push ignores SIGPIPE itself).
 *  - Messages carry the server's (or the library's) text and error
 *    number, never the conninfo (it may name files, not secrets, but the
 *    rule is simpler kept whole).
 */
#include "rxmysql.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct conninfo {
	char *host, *socket, *user, *database, *defaults_file;
	unsigned port;
	int ssl_mode; /* 0 unset, 1 disabled, 2 required, 3 verify-identity */
	char *ssl_ca, *ssl_capath, *ssl_cert, *ssl_key, *ssl_crl, *ssl_cipher, *tls_version;
	unsigned connect_timeout, read_timeout, write_timeout;
} conninfo;

static void conninfo_free(conninfo *c)
{
	char **strings[] = {&c->host, &c->socket, &c->user, &c->database, &c->defaults_file, &c->ssl_ca,
			    &c->ssl_capath, &c->ssl_cert, &c->ssl_key, &c->ssl_crl, &c->ssl_cipher, &c->tls_version};
	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		free(*strings[i]);
		*strings[i] = NULL;
	}
}

/* A number of seconds or a port; -1 when it is not one. */
static long parse_uint(const char *s, long max)
{
	char *end;
	long v;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v > max)
		return -1;
	return v;
}

/* Set one key; 0, or -1 with err. */
static int conninfo_set(conninfo *c, const char *key, const char *value, char *err, size_t errlen)
{
	static const struct {
		const char *key;
		size_t offset;
	} strings[] = {
		{"host", offsetof(conninfo, host)},
		{"socket", offsetof(conninfo, socket)},
		{"user", offsetof(conninfo, user)},
		{"database", offsetof(conninfo, database)},
		{"defaults-file", offsetof(conninfo, defaults_file)},
		{"ssl-ca", offsetof(conninfo, ssl_ca)},
		{"ssl-capath", offsetof(conninfo, ssl_capath)},
		{"ssl-cert", offsetof(conninfo, ssl_cert)},
		{"ssl-key", offsetof(conninfo, ssl_key)},
		{"ssl-crl", offsetof(conninfo, ssl_crl)},
		{"ssl-cipher", offsetof(conninfo, ssl_cipher)},
		{"tls-version", offsetof(conninfo, tls_version)},
	};
	static const struct {
		const char *key;
		size_t offset;
	} seconds[] = {
		{"connect-timeout", offsetof(conninfo, connect_timeout)},
		{"read-timeout", offsetof(conninfo, read_timeout)},
		{"write-timeout", offsetof(conninfo, write_timeout)},
	};

	for (size_t i = 0; i < sizeof strings / sizeof strings[0]; i++) {
		if (strcmp(key, strings[i].key) != 0)
			continue;
		char **slot = (char **)((char *)c + strings[i].offset);
		free(*slot);
		*slot = rx_xstrdup(value);
		return 0;
	}
	for (size_t i = 0; i < sizeof seconds / sizeof seconds[0]; i++) {
		if (strcmp(key, seconds[i].key) != 0)
			continue;
		long v = parse_uint(value, 86400 * 7);
		if (v < 0) {
			snprintf(err, errlen, "conninfo: %s: '%s' is not a number of seconds", key, value);
			return -1;
		}
		*(unsigned *)((char *)c + seconds[i].offset) = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "port") == 0) {
		long v = parse_uint(value, 65535);
		if (v < 0) {
			snprintf(err, errlen, "conninfo: port: '%s' is not a port number", value);
			return -1;
		}
		c->port = (unsigned)v;
		return 0;
	}
	if (strcmp(key, "ssl-mode") == 0) {
		if (strcasecmp(value, "disabled") == 0)
			c->ssl_mode = 1;
		else if (strcasecmp(value, "required") == 0)
			c->ssl_mode = 2;
		else if (strcasecmp(value, "verify-identity") == 0 || strcasecmp(value, "verify_identity") == 0)
			c->ssl_mode = 3;
		else {
			snprintf(err, errlen, "conninfo: ssl-mode: '%s' is not disabled, required or verify-identity",
				 value);
			return -1;
		}
		return 0;
	}
	if (strcmp(key, "password") == 0) {
		snprintf(err, errlen, "conninfo: no password here (it would be on a command line): set MYSQL_PWD, "
				      "or put it in an option file named by defaults-file=FILE");
		return -1;
	}
	snprintf(err, errlen,
		 "conninfo: unknown key '%s' (host, port, socket, user, database, defaults-file, ssl-mode, ssl-ca, "
		 "ssl-capath, ssl-cert, ssl-key, ssl-crl, ssl-cipher, tls-version, connect-timeout, read-timeout, "
		 "write-timeout)",
		 key);
	return -1;
}

/* Parse "key=value key='a value' ..." into c; 0 or -1 with err. */
static int conninfo_parse(conninfo *c, const char *s, char *err, size_t errlen)
{
	rx_buf key = {0}, value = {0};
	int rc = -1;

	memset(c, 0, sizeof *c);
	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r')
			s++;
		if (*s == '\0')
			break;
		rx_buf_reset(&key);
		rx_buf_reset(&value);
		while (*s != '\0' && *s != '=' && *s != ' ' && *s != '\t' && *s != '\n')
			rx_buf_putc(&key, *s++);
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s != '=') {
			snprintf(err, errlen, "conninfo: '%s' is not key=value", key.data ? key.data : "");
			goto done;
		}
		s++;
		while (*s == ' ' || *s == '\t')
			s++;
		if (*s == '\'') {
			for (s++; *s != '\''; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				if (*s == '\0') {
					snprintf(err, errlen, "conninfo: %s: unterminated quoted value", key.data);
					goto done;
				}
				rx_buf_putc(&value, *s);
			}
			s++;
		} else {
			while (*s != '\0' && *s != ' ' && *s != '\t' && *s != '\n' && *s != '\r') {
				if (*s == '\\' && s[1] != '\0')
					s++;
				rx_buf_putc(&value, *s++);
			}
		}
		if (conninfo_set(c, key.data, value.data ? value.data : "", err, errlen) < 0)
			goto done;
	}
	rc = 0;
done:
	rx_buf_free(&key);
	rx_buf_free(&value);
	return rc;
}

const char *rx_mysql_error(MYSQL *m, char *out, size_t outlen)
{
	char text[1024];
	const char *state = mysql_sqlstate(m);

	if (state != NULL && state[0] != '\0' && strcmp(state, "HY000") != 0 && strcmp(state, "00000") != 0)
		snprintf(text, sizeof text, "%s (error %u, SQLSTATE %s)", mysql_error(m), mysql_errno(m), state);
	else
		snprintf(text, sizeof text, "%s (error %u)", mysql_error(m), mysql_errno(m));
	return rx_one_line(text, out, outlen);
}

void rx_mysql_put_ident(rx_buf *b, const char *s, size_t n)
{
	rx_buf_putc(b, '`');
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '`')
			rx_buf_putc(b, '`');
		rx_buf_putc(b, s[i]);
	}
	rx_buf_putc(b, '`');
}

void rx_mysql_put_table(rx_buf *b, const char *t)
{
	const char *dot = strchr(t, '.');

	if (dot != NULL && strchr(dot + 1, '.') == NULL && dot > t && dot[1] != '\0') {
		rx_mysql_put_ident(b, t, (size_t)(dot - t));
		rx_buf_putc(b, '.');
		t = dot + 1;
	}
	rx_mysql_put_ident(b, t, strlen(t));
}

static int set_string(MYSQL *m, enum mysql_option option, const char *value)
{
	if (value == NULL)
		return 0;
	return mysql_optionsv(m, option, value);
}

MYSQL *rx_mysql_connect(const char *text, unsigned long flags, char *err, size_t errlen)
{
	conninfo c;
	MYSQL *m = NULL;
	char msg[768];
	int bad = 0;

	if (conninfo_parse(&c, text ? text : "", err, errlen) < 0)
		goto fail;
	if (c.defaults_file != NULL && access(c.defaults_file, R_OK) != 0) {
		snprintf(err, errlen, "cannot read option file '%s': %s", c.defaults_file, strerror(errno));
		goto fail;
	}
	/* mysql_init() sets SIGPIPE to be ignored, for the whole process: a
	 * pure filter keeps its own disposition (its writes to the server
	 * use MSG_NOSIGNAL) */
	struct sigaction sigpipe;
	sigaction(SIGPIPE, NULL, &sigpipe);
	m = mysql_init(NULL);
	sigaction(SIGPIPE, &sigpipe, NULL);
	if (m == NULL) {
		snprintf(err, errlen, "cannot connect to MySQL: out of memory");
		goto fail;
	}
	/* the option files: the named one only, else the usual ones */
	if (c.defaults_file != NULL)
		bad |= mysql_optionsv(m, MYSQL_READ_DEFAULT_FILE, c.defaults_file);
	bad |= mysql_optionsv(m, MYSQL_READ_DEFAULT_GROUP, "rx");
	bad |= mysql_optionsv(m, MYSQL_SET_CHARSET_NAME, "utf8mb4");
	if (c.connect_timeout)
		bad |= mysql_optionsv(m, MYSQL_OPT_CONNECT_TIMEOUT, &c.connect_timeout);
	if (c.read_timeout)
		bad |= mysql_optionsv(m, MYSQL_OPT_READ_TIMEOUT, &c.read_timeout);
	if (c.write_timeout)
		bad |= mysql_optionsv(m, MYSQL_OPT_WRITE_TIMEOUT, &c.write_timeout);
	bad |= set_string(m, MYSQL_OPT_SSL_CA, c.ssl_ca);
	bad |= set_string(m, MYSQL_OPT_SSL_CAPATH, c.ssl_capath);
	bad |= set_string(m, MYSQL_OPT_SSL_CERT, c.ssl_cert);
	bad |= set_string(m, MYSQL_OPT_SSL_KEY, c.ssl_key);
	bad |= set_string(m, MYSQL_OPT_SSL_CRL, c.ssl_crl);
	bad |= set_string(m, MYSQL_OPT_SSL_CIPHER, c.ssl_cipher);
	bad |= set_string(m, MARIADB_OPT_TLS_VERSION, c.tls_version);
	/* a CA named means its certificates are to be checked */
	if (c.ssl_mode == 0 && (c.ssl_ca != NULL || c.ssl_capath != NULL))
		c.ssl_mode = 3;
	if (c.ssl_mode >= 2) {
		my_bool yes = 1, verify = c.ssl_mode == 3;
		bad |= mysql_optionsv(m, MYSQL_OPT_SSL_ENFORCE, &yes);
		bad |= mysql_optionsv(m, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
	}
	if (bad) {
		snprintf(err, errlen, "cannot connect to MySQL: %s", rx_mysql_error(m, msg, sizeof msg));
		goto fail;
	}
	if (mysql_real_connect(m, c.host, c.user, NULL, c.database, c.port, c.socket, flags) == NULL) {
		snprintf(err, errlen, "cannot connect to MySQL: %s", rx_mysql_error(m, msg, sizeof msg));
		goto fail;
	}
	/* after the option files: utf8mb4 and UTC whatever they said */
	if (mysql_set_character_set(m, "utf8mb4") != 0 || mysql_query(m, "SET time_zone = '+00:00'") != 0) {
		snprintf(err, errlen, "cannot set up the MySQL session: %s", rx_mysql_error(m, msg, sizeof msg));
		goto fail;
	}
	conninfo_free(&c);
	return m;
fail:
	if (m != NULL)
		mysql_close(m);
	conninfo_free(&c);
	return NULL;
}
