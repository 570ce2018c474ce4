/*
 * rxmysql.h - a MySQL or MariaDB connection (mysql.c), for rx-extract's
 * --mysql source and rx-push's mysql driver, through MariaDB Connector/C
 * (libmariadb).
 *
 * A conninfo is a list of key=value settings separated by white space,
 * a value in single quotes when it holds spaces ('a b', with \' and \\):
 *
 *   host=db.internal port=3306 user=rx database=app ssl-mode=verify-identity
 *
 * Keys: host, port, socket, user, database, defaults-file, ssl-mode
 * (disabled, required, verify-identity), ssl-ca, ssl-capath, ssl-cert,
 * ssl-key, ssl-crl, ssl-cipher, tls-version, connect-timeout,
 * read-timeout, write-timeout (seconds).  A password is never taken
 * from the conninfo (it would be on a command line): it comes from
 * MYSQL_PWD or an option file ("password=" in [client] or [rx] of
 * defaults-file=FILE, or of the usual my.cnf files and ~/.my.cnf when no
 * defaults-file is named), as for the mariadb client.
 *
 * The session is set once connected: utf8mb4 for everything the
 * connection sends and receives, and time_zone '+00:00' (TIMESTAMP
 * values are read and written in UTC; a named zone would need the time
 * zone tables).  Set after the option files were read, so that none of
 * them can change either.
 */
#ifndef RX_MYSQL_H
#define RX_MYSQL_H

#include "rx.h"

#include <mysql.h>

/* Connect as conninfo says and set the session.  flags: the client flags
 * of mysql_real_connect (CLIENT_FOUND_ROWS...).  NULL with err filled
 * ("cannot connect to MySQL: ...", never a password). */
MYSQL *rx_mysql_connect(const char *conninfo, unsigned long flags, char *err, size_t errlen);

/* The connection's last error on one line: "MESSAGE (error N, SQLSTATE
 * S)".  Returns out. */
const char *rx_mysql_error(MYSQL *m, char *out, size_t outlen);

/* Append an identifier quoted for MySQL: `na``me` (any sql_mode). */
void rx_mysql_put_ident(rx_buf *b, const char *s, size_t n);

/* Append a table name: `table`, or `schema`.`table` for "schema.table". */
void rx_mysql_put_table(rx_buf *b, const char *name);

#endif
