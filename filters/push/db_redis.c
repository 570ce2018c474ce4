/*
 * db_redis.c - rx-push's Redis destination (the db.h interface), and the
 * list of database drivers.
 *
 * Each record is one Redis key, named by a key template from the change
 * ("customer:{key}", "acct:{row.org}:{row.id}"), holding the row either
 * as a hash (format "hash": one field per member, the value a string's
 * decoded text or any other value's JSON text, null members left out) or
 * as one JSON string (format "json": the row's JSON text, numbers exact).
 * A write replaces the record whole, so a member that left the row does
 * not linger; an optional TTL is set with each write; a delete removes
 * the key.  docs/redis.md is the user's guide.
 *
 * NOTES ON THE DESIGN
 *
 *  - A batch costs two round trips, each one pipelined write and its
 *    replies.  The first WATCHes the batch's keys and asks each one's
 *    TYPE.  From those types the driver decides every record: a key that
 *    holds another type (a list, a set, a hash when the format is json)
 *    rejects its record (WRONGTYPE is never met inside the transaction,
 *    and another application's key is never overwritten); insert needs
 *    the key absent, update needs it present.  The second round sends the
 *    decided commands inside MULTI ... EXEC.
 *  - EXEC runs every queued command or, when a watched key changed since
 *    the WATCH (another client, an expiry, an eviction), none: then the
 *    batch is decided again, a few times at most.  A command refused
 *    while queuing (out of memory) makes EXEC refuse the whole batch.  A
 *    connection lost before EXEC leaves nothing applied; lost after it,
 *    the batch may be applied but is reported failed (-1), so its records
 *    stay unacked and are sent again next run (upserts: harmlessly).
 *  - The same key twice in a batch is decided in order: a table of the
 *    batch's keys carries the type each record leaves behind.
 *  - A hash whose key was absent is written with HSET alone; one that
 *    existed is DEL'd first, in the same transaction.
 *  - Commands are written in the protocol's own form (RESP) into one
 *    buffer per round; only the replies go through hiredis' reader.
 *    Buffers and tables grow to the largest batch and are reused.
 *  - Crash points for the tests: "queued" (the transaction's commands
 *    written, EXEC not yet) and "sent" (EXEC written, its reply not read).
 */
#include "db.h"
#include "redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	FORMAT_HASH,
	FORMAT_JSON,
	WATCH_TRIES = 5, /* decide a batch again at most this often */
	SEND_CHUNK = 64 << 10, /* bytes of a transaction written while the rest is built */
};

/* Kinds of template part. */
enum { PART_TEXT, PART_KEY, PART_MEMBER };

typedef struct template_part {
	int kind;   /* PART_* */
	char *text; /* the literal text, or the member's name */
	size_t len;
} template_part;

/* What a record does once decided. */
enum { ACT_NONE, ACT_WRITE, ACT_DELETE };

/* Types of a key, from TYPE ('o': a module's type). */
enum { T_NONE = 'n', T_HASH = 'h', T_STRING = 's', T_LIST = 'l', T_SET = 'S', T_ZSET = 'z', T_STREAM = 'x',
       T_OTHER = 'o' };

struct rx_db {
	redisContext *ctx;      /* the connection, or NULL after a failure */
	rx_redis_target target; /* where */
	double timeout;         /* seconds: connecting, and each reply */
	int format;             /* FORMAT_* */
	long long ttl;          /* seconds, 0: none */
	char *template_text;    /* the key template, for messages */
	template_part *parts;   /* the key template, compiled */
	size_t nparts;
	/* per batch, grown to the largest */
	size_t cap;
	size_t *key_off, *key_len; /* each record's key in keys */
	char *type;              /* the key's type before the batch (TYPE) */
	unsigned char *valid;    /* 1: the record has a key and can be decided */
	unsigned char *act;      /* ACT_* */
	unsigned char *ncmds;    /* commands the record queued */
	size_t *slot;            /* duplicate keys: an open-addressing table of record indexes + 1 */
	size_t nslots;
	char *left;              /* per record: the type it leaves its key with */
	rx_buf keys;             /* the batch's keys, back to back */
	rx_buf out;              /* the commands of one round */
	rx_buf text;             /* scratch: one value */
	rx_members ms;           /* scratch: a row's members */
};

static const char *type_name(char t)
{
	switch (t) {
	case T_NONE: return "nothing";
	case T_HASH: return "a hash";
	case T_STRING: return "a string";
	case T_LIST: return "a list";
	case T_SET: return "a set";
	case T_ZSET: return "a sorted set";
	case T_STREAM: return "a stream";
	default: return "a value of another type";
	}
}

static void redis_close(rx_db *d)
{
	if (d == NULL)
		return;
	if (d->ctx != NULL)
		redisFree(d->ctx);
	for (size_t i = 0; i < d->nparts; i++)
		free(d->parts[i].text);
	free(d->parts);
	free(d->template_text);
	free(d->key_off);
	free(d->key_len);
	free(d->type);
	free(d->valid);
	free(d->act);
	free(d->ncmds);
	free(d->slot);
	free(d->left);
	rx_buf_free(&d->keys);
	rx_buf_free(&d->out);
	rx_buf_free(&d->text);
	free(d->ms.m);
	free(d);
}

/* Compile "customer:{key}", "{row.org}:{row.id}".  0 or -1 with err. */
static int compile_template(rx_db *d, const char *t, char *err, size_t errlen)
{
	const char *s = t;

	d->template_text = rx_xstrdup(t);
	d->parts = rx_xmalloc((strlen(t) + 1) * sizeof *d->parts);
	while (*s) {
		template_part *p = &d->parts[d->nparts];
		const char *open = strchr(s, '{');
		if (open != s) {
			size_t len = open ? (size_t)(open - s) : strlen(s);
			p->kind = PART_TEXT;
			p->text = rx_xmalloc(len + 1);
			memcpy(p->text, s, len);
			p->text[len] = '\0';
			p->len = len;
			d->nparts++;
			s += len;
			continue;
		}
		const char *close = strchr(s, '}');
		if (close == NULL) {
			snprintf(err, errlen, "the key template '%s' has a '{' without its '}'", t);
			return -1;
		}
		size_t len = (size_t)(close - s - 1);
		if (len == 3 && strncmp(s + 1, "key", 3) == 0) {
			p->kind = PART_KEY;
			p->text = NULL;
			p->len = 0;
		} else if (len > 4 && strncmp(s + 1, "row.", 4) == 0) {
			p->kind = PART_MEMBER;
			p->len = len - 4;
			p->text = rx_xmalloc(p->len + 1);
			memcpy(p->text, s + 5, p->len);
			p->text[p->len] = '\0';
		} else {
			snprintf(err, errlen, "the key template '%s': unknown '{%.*s}' (use {key} or {row.NAME})", t,
				 (int)len, s + 1);
			return -1;
		}
		d->nparts++;
		s = close + 1;
	}
	if (d->nparts == 0) {
		snprintf(err, errlen, "the key template is empty");
		return -1;
	}
	return 0;
}

static int member_string(jv profile, const char *name, char *out, size_t outlen)
{
	jv v = jv_object_get(jv_copy(profile), jv_string(name));
	int found = jv_get_kind(v) == JV_KIND_STRING;

	if (found)
		snprintf(out, outlen, "%s", jv_string_value(v));
	jv_free(v);
	return found;
}

static rx_db *redis_open(const char *target, const char *table, char *const *keys, size_t nkeys, jv profile,
			 char *err, size_t errlen)
{
	rx_db *d = calloc(1, sizeof *d);
	char s[1024];

	(void)keys, (void)nkeys; /* a record is named by its key template */
	if (d == NULL)
		rx_die(RX_EXIT_FAIL, "out of memory");
	d->timeout = 30;
	d->format = FORMAT_HASH;
	if (jv_get_kind(profile) == JV_KIND_OBJECT) {
		if (member_string(profile, "format", s, sizeof s)) {
			if (strcmp(s, "hash") == 0) {
				d->format = FORMAT_HASH;
			} else if (strcmp(s, "json") == 0) {
				d->format = FORMAT_JSON;
			} else {
				snprintf(err, errlen, "the redis profile's \"format\" is \"%s\": \"hash\" or \"json\"", s);
				goto fail;
			}
		}
		jv v = jv_object_get(jv_copy(profile), jv_string("ttl"));
		if (jv_get_kind(v) == JV_KIND_NUMBER) {
			double ttl = jv_number_value(v);
			if (!(ttl >= 0 && ttl <= 1e12) || ttl != (double)(long long)ttl) {
				snprintf(err, errlen, "the redis profile's \"ttl\" must be whole seconds, 0 for none");
				jv_free(v);
				goto fail;
			}
			d->ttl = (long long)ttl;
		}
		jv_free(v);
		v = jv_object_get(jv_copy(profile), jv_string("timeout_ms"));
		if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) > 0)
			d->timeout = jv_number_value(v) / 1000;
		jv_free(v);
	}
	if (table == NULL && (jv_get_kind(profile) != JV_KIND_OBJECT ||
			      !member_string(profile, "key_template", s, sizeof s)))
		snprintf(s, sizeof s, "{key}");
	if (compile_template(d, table ? table : s, err, errlen) < 0)
		goto fail;
	if (target == NULL) {
		snprintf(err, errlen, "no Redis server named (--url redis://HOST:PORT/DB or a socket path)");
		goto fail;
	}
	if (rx_redis_parse(target, 1, &d->target, err, errlen) < 0)
		goto fail;
	d->ctx = rx_redis_connect(&d->target, d->timeout, err, errlen);
	if (d->ctx == NULL)
		goto fail;
	return d;
fail:
	redis_close(d);
	return NULL;
}

/* Render record i's key into d->keys.  0, or -1 with why. */
static int render_key(rx_db *d, rx_span id, int have_row, char *why, size_t whylen)
{
	for (size_t p = 0; p < d->nparts; p++) {
		const template_part *part = &d->parts[p];
		if (part->kind == PART_TEXT) {
			rx_buf_put(&d->keys, part->text, part->len);
		} else if (part->kind == PART_KEY) {
			if (id.n == 0 || rx_json_kind(id) == 'z') {
				snprintf(why, whylen, "the change has no key");
				return -1;
			}
			rx_key_text(id, &d->keys);
		} else {
			long m = have_row ? rx_json_find(&d->ms, part->text, part->len) : -1;
			if (m < 0 || rx_json_kind(d->ms.m[m].value) == 'z') {
				snprintf(why, whylen, "the key template's member \"%s\" is missing or null", part->text);
				return -1;
			}
			rx_key_text(d->ms.m[m].value, &d->keys);
		}
	}
	return 0;
}

static size_t hash_bytes(const char *s, size_t n)
{
	size_t h = 1469598103934665603ull;

	for (size_t i = 0; i < n; i++)
		h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
	return h;
}

/* The earlier record of this batch with the same key as record i, or -1;
 * records i in the table. */
static long same_key_before(rx_db *d, size_t i)
{
	const char *k = d->keys.data + d->key_off[i];
	size_t n = d->key_len[i], mask = d->nslots - 1;

	for (size_t s = hash_bytes(k, n) & mask;; s = (s + 1) & mask) {
		size_t j = d->slot[s];
		if (j == 0) {
			d->slot[s] = i + 1;
			return -1;
		}
		j--;
		if (d->key_len[j] == n && memcmp(d->keys.data + d->key_off[j], k, n) == 0) {
			d->slot[s] = i + 1; /* the latest record of that key */
			return (long)j;
		}
	}
}

static void grow(rx_db *d, size_t n)
{
	if (n <= d->cap)
		return;
	d->cap = n;
	d->key_off = rx_xrealloc(d->key_off, n * sizeof *d->key_off);
	d->key_len = rx_xrealloc(d->key_len, n * sizeof *d->key_len);
	d->type = rx_xrealloc(d->type, n);
	d->valid = rx_xrealloc(d->valid, n);
	d->act = rx_xrealloc(d->act, n);
	d->ncmds = rx_xrealloc(d->ncmds, n);
	d->left = rx_xrealloc(d->left, n);
	free(d->slot);
	for (d->nslots = 16; d->nslots < n * 2; d->nslots *= 2)
		;
	d->slot = rx_xmalloc(d->nslots * sizeof *d->slot);
}

/* Write d->out to the server.  0, or -1 (the connection failed). */
static int send_out(rx_db *d)
{
	int done = 0;

	if (redisAppendFormattedCommand(d->ctx, d->out.data, d->out.len) != REDIS_OK)
		return -1;
	while (!done)
		if (redisBufferWrite(d->ctx, &done) != REDIS_OK)
			return -1;
	return 0;
}

static redisReply *next_reply(rx_db *d)
{
	void *r = NULL;

	if (redisGetReply(d->ctx, &r) != REDIS_OK)
		return NULL;
	return r;
}

/* The connection failed: say why, and start again on the next batch. */
static int lost(rx_db *d, char *err, size_t errlen)
{
	const char *why = d->ctx->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK)
				  ? "no reply in time"
				  : d->ctx->errstr[0] ? d->ctx->errstr : "the connection failed";
	snprintf(err, errlen, "Redis %s: %s", d->target.shown, why);
	redisFree(d->ctx);
	d->ctx = NULL;
	return -1;
}

static void put_key(rx_db *d, size_t i)
{
	rx_redis_put_arg(&d->out, d->keys.data + d->key_off[i], d->key_len[i]);
}

/* One value of a hash field: a string's text, null left out (-1), any
 * other value's JSON text. */
static int field_value(rx_db *d, rx_span v)
{
	char kind = rx_json_kind(v);

	rx_buf_reset(&d->text);
	if (kind == 'z')
		return -1;
	if (kind == 's')
		rx_json_string_decode(v, &d->text);
	else if (kind == 'o' || kind == 'a')
		rx_json_put_compact(&d->text, v);
	else
		rx_buf_put(&d->text, v.p, v.n);
	return 0;
}

static void put_ttl_args(rx_db *d)
{
	char n[32];
	int len = snprintf(n, sizeof n, "%lld", d->ttl);

	rx_redis_put_arg(&d->out, n, (size_t)len);
}

/* Queue record i's write; returns the commands queued. */
static unsigned char queue_write(rx_db *d, size_t i, rx_span row, char before)
{
	unsigned char cmds = 0;
	char why[64];

	if (d->format == FORMAT_JSON) {
		rx_redis_put_count(&d->out, d->ttl ? 5 : 3);
		rx_redis_put_arg(&d->out, "SET", 3);
		put_key(d, i);
		rx_buf_reset(&d->text);
		rx_json_put_compact(&d->text, row);
		rx_redis_put_arg(&d->out, d->text.data, d->text.len);
		if (d->ttl) {
			rx_redis_put_arg(&d->out, "EX", 2);
			put_ttl_args(d);
		}
		return 1;
	}
	if (before != T_NONE) {
		rx_redis_put_count(&d->out, 2);
		rx_redis_put_arg(&d->out, "DEL", 3);
		put_key(d, i);
		cmds++;
	}
	rx_json_scan_object(row.p, row.n, &d->ms, why, sizeof why);
	size_t fields = 0;
	for (size_t m = 0; m < d->ms.n; m++)
		if (rx_json_kind(d->ms.m[m].value) != 'z')
			fields++;
	if (fields == 0) /* Redis has no empty hash: the key stays absent */
		return cmds;
	rx_redis_put_count(&d->out, 2 + fields * 2);
	rx_redis_put_arg(&d->out, "HSET", 4);
	put_key(d, i);
	for (size_t m = 0; m < d->ms.n; m++) {
		if (field_value(d, d->ms.m[m].value) < 0)
			continue;
		rx_span name = d->ms.m[m].name;
		if (d->ms.m[m].name_escaped) {
			rx_buf name_text = {0};
			rx_json_string_decode(name, &name_text);
			rx_redis_put_arg(&d->out, name_text.data ? name_text.data : "", name_text.len);
			rx_buf_free(&name_text);
		} else {
			rx_redis_put_arg(&d->out, name.p + 1, name.n - 2);
		}
		rx_redis_put_arg(&d->out, d->text.data ? d->text.data : "", d->text.len);
	}
	cmds++;
	if (d->ttl) {
		rx_redis_put_count(&d->out, 3);
		rx_redis_put_arg(&d->out, "EXPIRE", 6);
		put_key(d, i);
		put_ttl_args(d);
		cmds++;
	}
	return cmds;
}

static char type_of(const redisReply *r)
{
	if (r->type != REDIS_REPLY_STATUS)
		return T_OTHER;
	if (strcmp(r->str, "none") == 0)
		return T_NONE;
	if (strcmp(r->str, "hash") == 0)
		return T_HASH;
	if (strcmp(r->str, "string") == 0)
		return T_STRING;
	if (strcmp(r->str, "list") == 0)
		return T_LIST;
	if (strcmp(r->str, "set") == 0)
		return T_SET;
	if (strcmp(r->str, "zset") == 0)
		return T_ZSET;
	if (strcmp(r->str, "stream") == 0)
		return T_STREAM;
	return T_OTHER;
}

static void reject(rx_db_result *res, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void reject(rx_db_result *res, const char *fmt, ...)
{
	va_list ap;

	res->ok = 0;
	va_start(ap, fmt);
	vsnprintf(res->message, sizeof res->message, fmt, ap);
	va_end(ap);
}

/* A key in a message: at most 200 bytes of it. */
#define SHOWN(d, i) (int)((d)->key_len[i] > 200 ? 200 : (d)->key_len[i]), (d)->keys.data + (d)->key_off[i]

static int redis_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		       rx_db_result *results, char *err, size_t errlen)
{
	int is_delete = strcmp(op, "delete") == 0, is_insert = strcmp(op, "insert") == 0,
	    is_update = strcmp(op, "update") == 0;
	char want = d->format == FORMAT_HASH ? T_HASH : T_STRING;
	char why[512];
	size_t nvalid = 0;

	err[0] = '\0';
	if (!is_delete && !is_insert && !is_update && strcmp(op, "upsert") != 0) {
		snprintf(err, errlen, "unknown op '%s'", op);
		return -1;
	}
	if (d->ctx == NULL) {
		d->ctx = rx_redis_connect(&d->target, d->timeout, err, errlen);
		if (d->ctx == NULL)
			return -1;
	}
	grow(d, n);
	rx_buf_reset(&d->keys);
	for (size_t i = 0; i < n; i++) {
		int have_row = 0;
		results[i].ok = 0;
		results[i].message[0] = '\0';
		d->valid[i] = 0;
		if (rows[i].n > 0 && rx_json_scan_object(rows[i].p, rows[i].n, &d->ms, why, sizeof why) == 0)
			have_row = 1;
		if (!have_row && !is_delete) {
			snprintf(results[i].message, sizeof results[i].message, "the change has no row object");
			continue;
		}
		d->key_off[i] = d->keys.len;
		if (render_key(d, ids[i], have_row, why, sizeof why) < 0) {
			snprintf(results[i].message, sizeof results[i].message, "%s", why);
			d->keys.len = d->key_off[i];
			continue;
		}
		d->key_len[i] = d->keys.len - d->key_off[i];
		d->valid[i] = 1;
		nvalid++;
	}
	if (nvalid == 0)
		return 0;

	for (int attempt = 1; attempt <= WATCH_TRIES; attempt++) {
		/* round 1: WATCH the keys, and the type of each */
		rx_buf_reset(&d->out);
		rx_redis_put_count(&d->out, 1 + nvalid);
		rx_redis_put_arg(&d->out, "WATCH", 5);
		for (size_t i = 0; i < n; i++)
			if (d->valid[i])
				put_key(d, i);
		for (size_t i = 0; i < n; i++) {
			if (!d->valid[i])
				continue;
			rx_redis_put_count(&d->out, 2);
			rx_redis_put_arg(&d->out, "TYPE", 4);
			put_key(d, i);
		}
		if (send_out(d) < 0)
			return lost(d, err, errlen);
		char failed[400] = "";
		for (size_t i = 0; i <= n; i++) {
			if (i > 0 && !d->valid[i - 1])
				continue;
			redisReply *r = next_reply(d);
			if (r == NULL)
				return lost(d, err, errlen);
			if (r->type == REDIS_REPLY_ERROR && failed[0] == '\0')
				snprintf(failed, sizeof failed, "%s: %s", i == 0 ? "WATCH" : "TYPE", r->str);
			if (i > 0)
				d->type[i - 1] = type_of(r);
			freeReplyObject(r);
		}
		if (failed[0]) {
			snprintf(err, errlen, "Redis %s: %s", d->target.shown, failed);
			redisReply *r = redisCommand(d->ctx, "UNWATCH");
			if (r == NULL)
				return lost(d, err, errlen);
			freeReplyObject(r);
			return -1;
		}

		/* decide each record, in order */
		memset(d->slot, 0, d->nslots * sizeof *d->slot);
		size_t nact = 0;
		for (size_t i = 0; i < n; i++) {
			d->act[i] = ACT_NONE;
			if (!d->valid[i])
				continue;
			long before = same_key_before(d, i);
			char cur = before >= 0 ? d->left[before] : d->type[i];
			d->left[i] = cur;
			d->type[i] = cur; /* what the record finds */
			if (cur != T_NONE && cur != want) {
				reject(&results[i], "WRONGTYPE: the key %.*s holds %s, not %s (does the key template name "
				       "another application's keys?)", SHOWN(d, i), type_name(cur), type_name(want));
				continue;
			}
			if (is_insert && cur != T_NONE) {
				reject(&results[i], "the key %.*s exists", SHOWN(d, i));
				continue;
			}
			if (is_update && cur == T_NONE) {
				reject(&results[i], "no key %.*s", SHOWN(d, i));
				continue;
			}
			if (is_delete) {
				d->act[i] = cur == T_NONE ? ACT_NONE : ACT_DELETE;
				d->left[i] = T_NONE;
				results[i].ok = 1; /* a key already gone is deleted */
			} else {
				d->act[i] = ACT_WRITE;
				d->left[i] = want;
			}
			if (d->act[i] != ACT_NONE)
				nact++;
		}
		if (nact == 0) {
			redisReply *r = redisCommand(d->ctx, "UNWATCH");
			if (r == NULL)
				return lost(d, err, errlen);
			freeReplyObject(r);
			return 0;
		}

		/* round 2: the transaction */
		rx_buf_reset(&d->out);
		rx_redis_put_count(&d->out, 1);
		rx_redis_put_arg(&d->out, "MULTI", 5);
		size_t ncmd = 0;
		for (size_t i = 0; i < n; i++) {
			d->ncmds[i] = 0;
			if (d->act[i] == ACT_DELETE) {
				rx_redis_put_count(&d->out, 2);
				rx_redis_put_arg(&d->out, "DEL", 3);
				put_key(d, i);
				d->ncmds[i] = 1;
			} else if (d->act[i] == ACT_WRITE) {
				d->ncmds[i] = queue_write(d, i, rows[i], d->type[i]);
			}
			ncmd += d->ncmds[i];
			/* the server queues these while the rest is built */
			if (d->out.len >= SEND_CHUNK) {
				if (send_out(d) < 0)
					return lost(d, err, errlen);
				rx_buf_reset(&d->out);
			}
		}
		if (send_out(d) < 0)
			return lost(d, err, errlen);
		rx_killpoint("queued");
		rx_buf_reset(&d->out);
		rx_redis_put_count(&d->out, 1);
		rx_redis_put_arg(&d->out, "EXEC", 4);
		if (send_out(d) < 0)
			return lost(d, err, errlen);
		rx_killpoint("sent");
		char refused[400] = "";
		for (size_t k = 0; k < 1 + ncmd; k++) {
			redisReply *r = next_reply(d);
			if (r == NULL)
				return lost(d, err, errlen);
			if (r->type == REDIS_REPLY_ERROR && refused[0] == '\0')
				snprintf(refused, sizeof refused, "%s", r->str);
			freeReplyObject(r);
		}
		redisReply *exec = next_reply(d);
		if (exec == NULL)
			return lost(d, err, errlen);
		if (exec->type == REDIS_REPLY_NIL) {
			/* a watched key changed: nothing was applied; decide again */
			freeReplyObject(exec);
			for (size_t i = 0; i < n; i++)
				if (d->valid[i]) {
					results[i].ok = 0;
					results[i].message[0] = '\0';
				}
			continue;
		}
		if (exec->type != REDIS_REPLY_ARRAY || exec->elements != ncmd) {
			snprintf(err, errlen, "Redis %s: EXEC: %s", d->target.shown,
				 refused[0] ? refused : exec->type == REDIS_REPLY_ERROR ? exec->str : "an unexpected reply");
			freeReplyObject(exec);
			return -1;
		}
		size_t e = 0;
		for (size_t i = 0; i < n; i++) {
			if (d->act[i] == ACT_NONE)
				continue;
			results[i].ok = 1;
			for (unsigned c = 0; c < d->ncmds[i]; c++, e++) {
				const redisReply *r = exec->element[e];
				if (r->type == REDIS_REPLY_ERROR && results[i].ok) {
					results[i].ok = 0;
					snprintf(results[i].message, sizeof results[i].message, "%s", r->str);
				}
			}
		}
		freeReplyObject(exec);
		return 0;
	}
	snprintf(err, errlen, "Redis %s: the batch's keys kept changing while it was written (%d tries)",
		 d->target.shown, WATCH_TRIES);
	return -1;
}

const rx_db_driver rx_db_redis = {"redis", 0, redis_open, redis_apply, redis_close};

const rx_db_driver *rx_db_find(const char *name)
{
	static const rx_db_driver *const drivers[] = {&rx_db_sqlite, &rx_db_postgres, &rx_db_redis};

	for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++)
		if (name != NULL && strcmp(drivers[i]->name, name) == 0)
			return drivers[i];
	return NULL;
}
