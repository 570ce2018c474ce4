/*
 * map.h - rx-map's parts: the shorthand shaping on raw spans (shape.c)
 * and the match-key normalisations behind --hash (normalize.c).
 *
 * The normalisations here are the C twins of share/rx/jq/rx.jq's
 * normalize_email, normalize_phone and normalize_phone_e164: the same
 * input gives the same bytes in both (t/3010 checks it), so a mapping
 * may normalise in jq and hash with --hash, or let --hash do both.
 */
#ifndef RX_MAP_H
#define RX_MAP_H

#include "rx.h"

/* How --hash normalises a value before hashing it. */
enum map_hash_kind {
	MAP_HASH_TEXT,  /* trim + lowercase (e-mail, names): the default */
	MAP_HASH_PHONE, /* E.164 digits without "+" (Meta PHONE) */
	MAP_HASH_E164,  /* E.164 with "+" (Google hashed_phone_number) */
	MAP_HASH_RAW,   /* the exact bytes, no normalisation, no guard */
};

typedef struct map_rename {
	char *src;        /* source column, plain UTF-8 */
	size_t srclen;
	char *dst;        /* destination name, plain UTF-8 */
	size_t dstlen;
	char *dst_json;   /* the same as a quoted JSON string */
	size_t dst_jsonlen;
} map_rename;

typedef struct map_set {
	char *name;       /* field, plain UTF-8 */
	size_t namelen;
	char *name_json;  /* the same, quoted */
	char *value_json; /* validated JSON text */
} map_set;

typedef struct map_hash {
	char *name;       /* field (after --rename), plain UTF-8 */
	size_t namelen;
	enum map_hash_kind kind;
} map_hash;

/* The shorthands, applied in this order: select, rename, set, hash,
 * drop-nulls. */
typedef struct map_shape {
	char **select;        /* columns kept (input names); none: keep all */
	size_t *selectlen;
	size_t nselect;
	map_rename *renames;
	size_t nrenames;
	map_set *sets;
	size_t nsets;
	map_hash *hashes;
	size_t nhashes;
	int drop_nulls;
	const char *country_code; /* for phone kinds; NULL: none */
	/* scratch, reused row after row */
	int *rename_of;       /* per member: rename index or -1 */
	size_t rename_cap;
	char *fired;          /* per rename: its source is in this row */
	char *set_used;       /* per set: already written */
	rx_buf text, norm;    /* hash scratch */
} map_shape;

/* Does any shorthand apply? */
int map_shape_active(const map_shape *s);
/* Append the shaped row (an object, no newline) to out.  skip_hashed
 * leaves hashed fields out instead of hashing them (the PII probe).
 * 0, or -1 with err (a value --hash cannot hash). */
int map_shape_row(map_shape *s, const rx_members *row, rx_buf *out, int skip_hashed, char *err,
		  size_t errlen);

/* Normalisations (normalize.c).  Each appends to out; a return of 0
 * means "nothing left" (the value becomes null), 1 a value. */
int map_normalize_text(const char *s, size_t n, rx_buf *out);
int map_normalize_phone(const char *s, size_t n, const char *country_code, int plus, rx_buf *out);

#endif
