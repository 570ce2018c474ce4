/*
 * pg.h - what rx-extract's PostgreSQL sources share (postgres.c, the
 * query; pgrepl.c, the replication stream; follow.c, polling): how a
 * column's text becomes JSON, so that a row reads byte for byte the same
 * whichever way it came (the snapshot's fingerprint of a row depends on
 * it).
 */
#ifndef RX_EXTRACT_PG_H
#define RX_EXTRACT_PG_H

#include "rx.h"

#include <libpq-fe.h>

/* How a column's text becomes JSON. */
typedef enum rx_pg_kind {
	K_STRING,      /* a JSON string of the text */
	K_INT,         /* the text as is (int2, int4, oid) */
	K_BIGINT,      /* a number, or a string beyond 2^53 (int8) */
	K_NUMERIC,     /* exact number or string; NaN, Infinity as strings */
	K_FLOAT,       /* the text; NaN, Infinity as strings */
	K_BOOL,        /* t/f */
	K_JSON,        /* embedded */
	K_BYTEA,       /* \x hex to base64 */
	K_TIMESTAMP,   /* ' ' to 'T' */
	K_TIMESTAMPTZ, /* ' ' to 'T', "+00" to "+00:00" */
	K_ARRAY,       /* a PostgreSQL array literal */
} rx_pg_kind;

typedef struct rx_pg_column {
	rx_buf name;       /* "\"name\":", escaped once */
	const char *plain; /* the name as described (owned by the describe result) */
	Oid oid;           /* the type as described */
	rx_pg_kind kind;   /* how its text is written */
	rx_pg_kind elem;   /* arrays: how an element's text is written */
	char delim;        /* arrays: the element delimiter */
	int pushable;      /* its ::text in SQL is the key text rx_shard_of hashes */
} rx_pg_column;

/* The session settings that make the text of values stable (DateStyle
 * ISO, TimeZone UTC, ...) and the notice processor. */
void rx_pg_session(PGconn *conn);
/* Each column's kind from its type OID: built-in types from a table,
 * others (domains, arrays of them) from pg_type, best effort. */
void rx_pg_resolve_types(PGconn *conn, rx_pg_column *cols, int ncols);
/* Append the JSON of one non-NULL value's text. */
void rx_pg_put_value(rx_buf *b, const rx_pg_column *c, const char *v, size_t n);

#endif
