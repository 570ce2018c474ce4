/*
 * redis.h - reaching a Redis server, for the redis destination
 * (db_redis.c) and the shared rate budget (ratelimit.c).
 *
 * A server is named by a URL:
 *
 *   redis://[USER@]HOST[:PORT][/PATH][?db=N&name=NAME]
 *   unix://[USER@]/PATH/TO/SOCKET[?db=N&name=NAME]
 *   /PATH/TO/SOCKET or ./SOCKET (a socket path alone)
 *
 * For the destination, PATH is the database number; for a budget it is
 * the budget's name.  The password never comes from the URL (argv is
 * visible to every user of the machine): it is $RX_REDIS_PASSWORD, else
 * the first line of the file $RX_REDIS_PASSWORD_FILE, else $REDISCLI_AUTH
 * (redis-cli's own variable); the ACL user is the URL's or
 * $RX_REDIS_USER.  Debian 12's hiredis (0.14) has no TLS: rediss:// is
 * refused with a message that says how to tunnel.
 */
#ifndef RX_PUSH_REDIS_H
#define RX_PUSH_REDIS_H

#include <hiredis/hiredis.h>

#include "rx.h"

typedef struct rx_redis_target {
	char host[256];  /* TCP host, or "" for a Unix socket */
	int port;        /* TCP port (6379) */
	char path[1024]; /* the Unix socket */
	char user[128];  /* ACL user, or "" (the default user) */
	int db;          /* SELECT this database (0: none) */
	char name[256];  /* a budget's name (URL path or ?name=) */
	char shown[1400]; /* for messages: the URL without anything secret */
} rx_redis_target;

/* Parse a URL.  path_is_db: the URL's path is the database number (the
 * destination), else the budget name.  0, or -1 with err. */
int rx_redis_parse(const char *url, int path_is_db, rx_redis_target *t, char *err, size_t errlen);
/* Connect, AUTH (password from the environment, see above) and SELECT.
 * timeout: seconds for the connection and for each reply.  The context,
 * or NULL with err (which names t->shown, never the password). */
redisContext *rx_redis_connect(const rx_redis_target *t, double timeout, char *err, size_t errlen);
/* After a lost connection: connect again (AUTH, SELECT).  0 or -1. */
int rx_redis_reconnect(redisContext *c, const rx_redis_target *t, char *err, size_t errlen);
/* Append one command in the protocol's own form (RESP) to b. */
void rx_redis_put_command(rx_buf *b, int argc, const char *const *argv, const size_t *argvlen);
/* Append "*N\r\n", then each argument with rx_redis_put_arg. */
void rx_redis_put_count(rx_buf *b, size_t argc);
void rx_redis_put_arg(rx_buf *b, const char *s, size_t n);

#endif
