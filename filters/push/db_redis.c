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
 *  - A batch is one transaction, written in one go.  Hash upserts without
 *    a TTL (a model's rows) go as MULTI, EVAL of PREP_SCRIPT (the keys
 *    there counted; only when some are, each key's TYPE, a hash that was
 *    there deleted), one plain HSET per record,
 *    EXEC: Redis runs it alone; a key of another type is reported by the
 *    script and its HSET meets WRONGTYPE, which writes nothing.  Any
 *    other batch (insert, update, delete, json, a TTL, a key twice) is
 *    one EVAL of WRITE_SCRIPT with the batch's keys and values: for each
 *    record the script reads the key's TYPE and writes in one step: a key
 *    holding another type (a list, a set, a hash when the format is json)
 *    rejects its record and is never overwritten (WRONGTYPE is never
 *    met); insert needs the key absent, update needs it present; the same
 *    key twice in a batch is decided in order.  Either way: one status
 *    per record.  Why two forms: each value passed to a script is copied
 *    into Lua and back out for redis.call, which doubled the server's
 *    cost over plain HSETs (bench/75-load.sh).  EVAL (not EVALSHA): no
 *    script cache to miss, so no NOSCRIPT to handle mid-pipeline.
 *  - Pipelined (db.h send/finish): up to DEPTH batches are in flight on
 *    the one connection, replies read in order, so the client builds
 *    the next batch while the server runs this one.  The caller never has
 *    two batches with one key in flight; each reply acks only its own
 *    batch.  A batch is tied to the connection it went on (gen): after a
 *    reconnect, the batches of the old one fail (unacked, retried).
 *  - All of the batch or none of it: a command that never arrived whole
 *    (the client killed or the connection lost while writing it) is never
 *    run (EXEC is its last bytes), and a script or transaction refused at
 *    its start (out of memory, NOPERM while queued: EXECABORT) changes
 *    nothing.  A connection lost after the command was written
 *    leaves the batch perhaps applied but reported failed (-1): its
 *    records stay unacked and are sent again next run (upserts:
 *    harmlessly).  The scripts check before they write, and the values
 *    were checked here, so they do not stop halfway.
 *  - Why not WATCH ... MULTI/EXEC: the same guarantees cost two round
 *    trips, and Redis 7.0 checks each WATCHed key against the client's
 *    list of watched keys (quadratic: 3.6 ms for 500 keys, 0.6 s for
 *    5000), which took 40% of a first sync's time.
 *  - A hash that existed is DEL'd before its HSET, so a member that left
 *    the row does not linger.
 *  - The command is written in the protocol's own form (RESP) into one
 *    buffer; only the reply goes through hiredis' reader.  Buffers grow
 *    to the largest batch and are reused.
 *  - Crash points for the tests: "queued" (the command written but its
 *    last byte) and "sent" (written whole, its reply not read).
 */
#include "db.h"
#include "redis.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

enum {
	FORMAT_HASH,
	FORMAT_JSON,
};

/* The batch, applied.  KEYS: the records' keys.  ARGV[1] the op, [2] the
 * format, [3] the TTL (0: none), then per record: a count n and its
 * values (hash: n field-value pairs; json: n = 1, the JSON text; delete:
 * n = 0).  Answers per record "ok", "T<type>" (the key holds that type),
 * "E" (insert: the key exists) or "N" (update: no key). */
static const char WRITE_SCRIPT[] =
	"local op, fmt, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])\n"
	"local want = fmt == 'json' and 'string' or 'hash'\n"
	"local res, a = {}, 4\n"
	"for i, k in ipairs(KEYS) do\n"
	"  local n = tonumber(ARGV[a]); a = a + 1\n"
	"  local t = redis.call('TYPE', k).ok\n"
	"  if t ~= 'none' and t ~= want then res[i] = 'T' .. t\n"
	"  elseif op == 'insert' and t ~= 'none' then res[i] = 'E'\n"
	"  elseif op == 'update' and t == 'none' then res[i] = 'N'\n"
	"  elseif op == 'delete' then\n"
	"    if t ~= 'none' then redis.call('DEL', k) end\n"
	"    res[i] = 'ok'\n"
	"  elseif fmt == 'json' then\n"
	"    if ttl > 0 then redis.call('SET', k, ARGV[a], 'EX', ttl) else redis.call('SET', k, ARGV[a]) end\n"
	"    res[i] = 'ok'\n"
	"  else\n"
	"    if t ~= 'none' then redis.call('DEL', k) end\n"
	"    local last = a + 2 * n - 1\n"
	"    for j = a, last, 200 do redis.call('HSET', k, unpack(ARGV, j, math.min(j + 199, last))) end\n"
	"    if n > 0 and ttl > 0 then redis.call('EXPIRE', k, ttl) end\n"
	"    res[i] = 'ok'\n"
	"  end\n"
	"  if fmt == 'json' then a = a + n else a = a + 2 * n end\n"
	"end\n"
	"return res\n";

/* Before the HSETs of a batch of hash upserts (sent as MULTI, this, the
 * HSETs, EXEC): per key, its TYPE, and a hash that existed is deleted so
 * that a member that left the row does not linger.  Answers the keys of
 * another type only (usually none), as pairs: the key's place in KEYS
 * (from 1) and its type.  The keys are distinct (a batch with a key twice
 * goes through WRITE_SCRIPT), so EXISTS counts the keys there first, in
 * one call per 1000 keys (unpack's limit is Lua's stack): when none is
 * (a first sync), nothing more is read, and the walk stops once it has
 * seen them all.  Each redis.call from Lua costs the server about what a
 * small command does: one per key doubled what the script cost beside
 * the HSETs (bench/75-load.sh).  An ACL without EXISTS (pcall's error)
 * reads every key's TYPE, as before. */
static const char PREP_SCRIPT[] =
	"local res, left = {}, #KEYS\n"
	"if left > 1 then\n"
	"  left = 0\n"
	"  for j = 1, #KEYS, 1000 do\n"
	"    local c = redis.pcall('EXISTS', unpack(KEYS, j, math.min(j + 999, #KEYS)))\n"
	"    if type(c) ~= 'number' then left = #KEYS; break end\n"
	"    left = left + c\n"
	"  end\n"
	"end\n"
	"for i, k in ipairs(KEYS) do\n"
	"  if left == 0 then break end\n"
	"  local t = redis.call('TYPE', k).ok\n"
	"  if t ~= 'none' then left = left - 1 end\n"
	"  if t == 'hash' then redis.call('DEL', k)\n"
	"  elseif t ~= 'none' then res[#res + 1] = i; res[#res + 1] = t end\n"
	"end\n"
	"return res\n";

/* Batches sent and not finished, at most. */
#define DEPTH 3

/* One batch on its way. */
typedef struct redis_batch {
	size_t n, nvalid, hsets;
	size_t cap;
	size_t *key_off, *key_len; /* each record's key in keys */
	unsigned char *valid;      /* 1: the record goes to the server (2: with its HSET, multi) */
	rx_buf keys;               /* the batch's keys, back to back */
	rx_db_result *results;     /* the caller's */
	int multi;                 /* 1: MULTI, PREP_SCRIPT, HSETs, EXEC; 0: one EVAL of WRITE_SCRIPT */
	size_t replies;            /* replies to read (multi: MULTI's, each queued command's, EXEC's) */
	unsigned long gen;         /* the connection it went on */
} redis_batch;

/* Kinds of template part. */
enum { PART_TEXT, PART_KEY, PART_MEMBER };

typedef struct template_part {
	int kind;   /* PART_* */
	char *text; /* the literal text, or the member's name */
	size_t len;
} template_part;

struct rx_db {
	redisContext *ctx;      /* the connection, or NULL after a failure */
	unsigned long gen;      /* counts connections */
	rx_redis_target target; /* where */
	double timeout;         /* seconds: connecting, and each reply */
	int format;             /* FORMAT_* */
	long long ttl;          /* seconds, 0: none */
	char ttl_text[24];      /* the same, as the script's argument */
	char *template_text;    /* the key template, for messages */
	template_part *parts;   /* the key template, compiled */
	size_t nparts;
	redis_batch fly[DEPTH]; /* the batches in flight: a ring */
	size_t first, nfly;
	/* scratch, grown to the largest batch */
	size_t *seen;            /* duplicate keys: an open-addressed table of record indexes + 1 */
	size_t seen_cap;
	rx_buf args;             /* the arguments after the keys (RESP), or the HSETs (multi) */
	rx_buf out;              /* the whole command */
	rx_buf text;             /* scratch: one value */
	rx_members ms;           /* scratch: a row's members */
};

/* "a list" for TYPE's "list". */
static const char *type_name(const char *t)
{
	if (strcmp(t, "hash") == 0)
		return "a hash";
	if (strcmp(t, "string") == 0)
		return "a string";
	if (strcmp(t, "list") == 0)
		return "a list";
	if (strcmp(t, "set") == 0)
		return "a set";
	if (strcmp(t, "zset") == 0)
		return "a sorted set";
	if (strcmp(t, "stream") == 0)
		return "a stream";
	return "a value of another type";
}

/* Replies: hiredis' reader with object functions of our own, so that
 * the replies a batch of N records brings back by the hundred cost no
 * allocation: each queued command's +QUEUED, and each HSET's integer in
 * EXEC's array, become one shared object each (what they say is all
 * the driver reads of them).  Everything else is built as hiredis builds
 * it, and freed by free_reply (never freeReplyObject: it would free the
 * shared ones). */
static redisReply queued_reply = {.type = REDIS_REPLY_STATUS, .str = (char *)"QUEUED", .len = 6};
static redisReply exec_integer = {.type = REDIS_REPLY_INTEGER};

static void free_reply(void *p)
{
	redisReply *r = p;

	if (r == NULL || r == &queued_reply || r == &exec_integer)
		return;
	if (r->type == REDIS_REPLY_ARRAY && r->element != NULL) {
		for (size_t i = 0; i < r->elements; i++)
			free_reply(r->element[i]);
		free(r->element);
	}
	free(r->str);
	free(r);
}

static void *attach(const redisReadTask *task, redisReply *r)
{
	if (task->parent != NULL) {
		redisReply *parent = task->parent->obj;
		parent->element[task->idx] = r;
	}
	return r;
}

static redisReply *new_reply(int type)
{
	redisReply *r = calloc(1, sizeof *r);

	if (r != NULL)
		r->type = type;
	return r;
}

static void *create_string(const redisReadTask *task, char *str, size_t len)
{
	if (task->parent == NULL && task->type == REDIS_REPLY_STATUS && len == 6 && memcmp(str, "QUEUED", 6) == 0)
		return &queued_reply;
	redisReply *r = new_reply(task->type);
	if (r == NULL || (r->str = malloc(len + 1)) == NULL) {
		free(r);
		return NULL;
	}
	memcpy(r->str, str, len);
	r->str[len] = '\0';
	r->len = len;
	return attach(task, r);
}

static void *create_array(const redisReadTask *task, int elements)
{
	redisReply *r = new_reply(REDIS_REPLY_ARRAY);

	if (r == NULL)
		return NULL;
	if (elements > 0 && (r->element = calloc((size_t)elements, sizeof *r->element)) == NULL) {
		free(r);
		return NULL;
	}
	r->elements = (size_t)elements;
	return attach(task, r);
}

static void *create_integer(const redisReadTask *task, long long value)
{
	/* an element of a top-level array: an HSET's count in EXEC's reply
	 * (a script's answers are strings, or nested in the EVAL's array) */
	if (task->parent != NULL && task->parent->parent == NULL)
		return attach(task, &exec_integer);
	redisReply *r = new_reply(REDIS_REPLY_INTEGER);
	if (r == NULL)
		return NULL;
	r->integer = value;
	return attach(task, r);
}

static void *create_nil(const redisReadTask *task)
{
	redisReply *r = new_reply(REDIS_REPLY_NIL);

	return r == NULL ? NULL : attach(task, r);
}

static redisReplyObjectFunctions reply_functions = {create_string, create_array, create_integer, create_nil,
						    free_reply};

/* Connect, our reply functions on the connection's reader. */
static redisContext *connect_db(rx_db *d, char *err, size_t errlen)
{
	redisContext *ctx = rx_redis_connect(&d->target, d->timeout, err, errlen);

	if (ctx != NULL)
		ctx->reader->fn = &reply_functions;
	return ctx;
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
	for (size_t i = 0; i < DEPTH; i++) {
		free(d->fly[i].key_off);
		free(d->fly[i].key_len);
		free(d->fly[i].valid);
		rx_buf_free(&d->fly[i].keys);
	}
	free(d->seen);
	rx_buf_free(&d->args);
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
	snprintf(d->ttl_text, sizeof d->ttl_text, "%lld", d->ttl);
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
	d->ctx = connect_db(d, err, errlen);
	if (d->ctx == NULL)
		goto fail;
	d->gen++;
	return d;
fail:
	redis_close(d);
	return NULL;
}

/* Render record i's key into d->keys.  0, or -1 with why. */
static int render_key(rx_db *d, rx_buf *keys, rx_span id, int have_row, char *why, size_t whylen)
{
	for (size_t p = 0; p < d->nparts; p++) {
		const template_part *part = &d->parts[p];
		if (part->kind == PART_TEXT) {
			rx_buf_put(keys, part->text, part->len);
		} else if (part->kind == PART_KEY) {
			if (id.n == 0 || rx_json_kind(id) == 'z') {
				snprintf(why, whylen, "the change has no key");
				return -1;
			}
			rx_key_text(id, keys);
		} else {
			long m = have_row ? rx_json_find(&d->ms, part->text, part->len) : -1;
			if (m < 0 || rx_json_kind(d->ms.m[m].value) == 'z') {
				snprintf(why, whylen, "the key template's member \"%s\" is missing or null", part->text);
				return -1;
			}
			rx_key_text(d->ms.m[m].value, keys);
		}
	}
	return 0;
}

static void grow(redis_batch *q, size_t n)
{
	if (n <= q->cap)
		return;
	q->cap = n;
	q->key_off = rx_xrealloc(q->key_off, n * sizeof *q->key_off);
	q->key_len = rx_xrealloc(q->key_len, n * sizeof *q->key_len);
	q->valid = rx_xrealloc(q->valid, n);
}

/* Write n bytes of d->out from off.  0, or -1 (the connection failed). */
static int send_bytes(rx_db *d, size_t off, size_t n)
{
	int done = 0;

	if (redisAppendFormattedCommand(d->ctx, d->out.data + off, n) != REDIS_OK)
		return -1;
	while (!done)
		if (redisBufferWrite(d->ctx, &done) != REDIS_OK)
			return -1;
	return 0;
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

/* A batch whose connection is gone: -1. */
static int gone(rx_db *d, char *err, size_t errlen)
{
	snprintf(err, errlen, "Redis %s: the connection was lost before the batch's reply", d->target.shown);
	return -1;
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

static void put_count_arg(rx_buf *b, size_t n)
{
	char digits[24], *p = digits + sizeof digits;

	do
		*--p = (char)('0' + n % 10);
	while ((n /= 10) > 0);
	rx_redis_put_arg(b, p, (size_t)(digits + sizeof digits - p));
}

/* Record i's count and values, for the script, into d->args (its row
 * already scanned into d->ms when it has one).  Returns the arguments
 * appended. */
static size_t put_values(rx_db *d, rx_span row, int is_delete, const char *key, size_t key_len, int multi)
{
	if (is_delete) {
		rx_redis_put_arg(&d->args, "0", 1);
		return 1;
	}
	if (d->format == FORMAT_JSON) {
		rx_redis_put_arg(&d->args, "1", 1);
		rx_buf_reset(&d->text);
		rx_json_put_compact(&d->text, row);
		rx_redis_put_arg(&d->args, d->text.data, d->text.len);
		return 2;
	}
	size_t fields = 0;
	for (size_t m = 0; m < d->ms.n; m++)
		if (rx_json_kind(d->ms.m[m].value) != 'z')
			fields++;
	if (multi) { /* HSET key field value ...; none for no fields (the key stays absent) */
		if (fields == 0)
			return 0;
		rx_redis_put_count(&d->args, 2 + 2 * fields);
		rx_redis_put_arg(&d->args, "HSET", 4);
		rx_redis_put_arg(&d->args, key, key_len);
	} else {
		put_count_arg(&d->args, fields); /* 0: Redis has no empty hash, the key stays absent */
	}
	for (size_t m = 0; m < d->ms.n; m++) {
		rx_span v = d->ms.m[m].value;
		char kind = rx_json_kind(v);
		if (kind == 'z')
			continue;
		const char *vp;
		size_t vn;
		if (kind == 's' && !d->ms.m[m].value_escaped) { /* the text as it is: no copy */
			vp = v.p + 1;
			vn = v.n - 2;
		} else if (kind != 's' && kind != 'o' && kind != 'a') { /* a number, true, false */
			vp = v.p;
			vn = v.n;
		} else {
			field_value(d, v);
			vp = d->text.data ? d->text.data : "";
			vn = d->text.len;
		}
		rx_span name = d->ms.m[m].name;
		if (d->ms.m[m].name_escaped) {
			rx_buf name_text = {0};
			rx_json_string_decode(name, &name_text);
			rx_redis_put_arg(&d->args, name_text.data ? name_text.data : "", name_text.len);
			rx_buf_free(&name_text);
		} else {
			rx_redis_put_arg(&d->args, name.p + 1, name.n - 2);
		}
		rx_redis_put_arg(&d->args, vp, vn);
	}
	return 1 + fields * 2;
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
#define SHOWN(q, i) (int)((q)->key_len[i] > 200 ? 200 : (q)->key_len[i]), (q)->keys.data + (q)->key_off[i]

/* Is a key twice among the batch's records (multi form only: the script
 * decides a repeated key in order)? */
static int has_duplicate(rx_db *d, const redis_batch *q)
{
	size_t cap = 16;

	while (cap < 2 * q->n)
		cap *= 2;
	if (cap > d->seen_cap) {
		d->seen = rx_xrealloc(d->seen, cap * sizeof *d->seen);
		d->seen_cap = cap;
	}
	memset(d->seen, 0, cap * sizeof *d->seen);
	for (size_t i = 0; i < q->n; i++) {
		if (!q->valid[i])
			continue;
		const char *k = q->keys.data + q->key_off[i];
		size_t h = (size_t)XXH3_64bits(k, q->key_len[i]) & (cap - 1);
		for (; d->seen[h] != 0; h = (h + 1) & (cap - 1)) {
			size_t j = d->seen[h] - 1;
			if (q->key_len[j] == q->key_len[i] && memcmp(q->keys.data + q->key_off[j], k, q->key_len[i]) == 0)
				return 1;
		}
		d->seen[h] = i + 1;
	}
	return 0;
}

/* Scan the batch's rows into q (its keys, which records go) and its
 * values into d->args: HSET commands (multi) or the script's arguments.
 * Returns the script's arguments put. */
static size_t build(rx_db *d, redis_batch *q, int is_delete, const rx_span *ids, const rx_span *rows, int multi)
{
	char why[512];
	size_t nargs = 0;

	rx_buf_reset(&q->keys);
	rx_buf_reset(&d->args);
	q->nvalid = 0;
	q->hsets = 0;
	for (size_t i = 0; i < q->n; i++) {
		int have_row = 0;
		q->results[i].ok = 0;
		q->results[i].message[0] = '\0';
		q->valid[i] = 0;
		if (rows[i].n > 0 && rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why) == 0)
			have_row = 1;
		if (!have_row && !is_delete) {
			snprintf(q->results[i].message, sizeof q->results[i].message, "the change has no row object");
			continue;
		}
		q->key_off[i] = q->keys.len;
		if (render_key(d, &q->keys, ids[i], have_row, why, sizeof why) < 0) {
			snprintf(q->results[i].message, sizeof q->results[i].message, "%s", why);
			q->keys.len = q->key_off[i];
			continue;
		}
		q->key_len[i] = q->keys.len - q->key_off[i];
		q->valid[i] = 1;
		q->nvalid++;
		size_t k = put_values(d, rows[i], is_delete, q->keys.data + q->key_off[i], q->key_len[i], multi);
		if (multi && k > 0) {
			q->valid[i] = 2;
			q->hsets++;
		}
		nargs += k;
	}
	return nargs;
}

static int valid_op(const char *op)
{
	return strcmp(op, "delete") == 0 || strcmp(op, "insert") == 0 || strcmp(op, "update") == 0 ||
	       strcmp(op, "upsert") == 0;
}

static int redis_send(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		      rx_db_result *results, char *err, size_t errlen)
{
	int is_delete = strcmp(op, "delete") == 0;

	err[0] = '\0';
	if (!valid_op(op)) {
		snprintf(err, errlen, "unknown op '%s'", op);
		return -1;
	}
	if (d->nfly == DEPTH) {
		snprintf(err, errlen, "Redis %s: more than %d batches in flight", d->target.shown, DEPTH);
		return -1;
	}
	if (d->ctx == NULL) {
		d->ctx = connect_db(d, err, errlen);
		if (d->ctx == NULL)
			return -1;
		d->gen++;
	}
	redis_batch *q = &d->fly[(d->first + d->nfly) % DEPTH];
	grow(q, n);
	q->n = n;
	q->results = results;
	q->gen = d->gen;
	/* hash upserts without a TTL: plain HSETs in a transaction (a key of
	 * another type refuses its HSET with WRONGTYPE, untouched) */
	int multi = strcmp(op, "upsert") == 0 && d->format == FORMAT_HASH && d->ttl == 0;
	size_t nargs = build(d, q, is_delete, ids, rows, multi);
	if (multi && q->nvalid > 0 && has_duplicate(d, q)) {
		multi = 0;
		nargs = build(d, q, is_delete, ids, rows, 0);
	}
	q->multi = multi;
	if (q->nvalid == 0) {
		q->replies = 0;
		d->nfly++;
		return 0;
	}
	rx_buf_reset(&d->out);
	if (multi) {
		rx_redis_put_count(&d->out, 1);
		rx_redis_put_arg(&d->out, "MULTI", 5);
		rx_redis_put_count(&d->out, 3 + q->nvalid);
		rx_redis_put_arg(&d->out, "EVAL", 4);
		rx_redis_put_arg(&d->out, PREP_SCRIPT, sizeof PREP_SCRIPT - 1);
	} else {
		rx_redis_put_count(&d->out, 3 + q->nvalid + 3 + nargs);
		rx_redis_put_arg(&d->out, "EVAL", 4);
		rx_redis_put_arg(&d->out, WRITE_SCRIPT, sizeof WRITE_SCRIPT - 1);
	}
	put_count_arg(&d->out, q->nvalid);
	for (size_t i = 0; i < n; i++)
		if (q->valid[i])
			rx_redis_put_arg(&d->out, q->keys.data + q->key_off[i], q->key_len[i]);
	if (multi) {
		if (d->args.len > 0)
			rx_buf_put(&d->out, d->args.data, d->args.len);
		rx_redis_put_count(&d->out, 1);
		rx_redis_put_arg(&d->out, "EXEC", 4);
		q->replies = 3 + q->hsets;
	} else {
		rx_redis_put_arg(&d->out, op, strlen(op));
		rx_redis_put_arg(&d->out, d->format == FORMAT_JSON ? "json" : "hash", 4);
		rx_redis_put_arg(&d->out, d->ttl_text, strlen(d->ttl_text));
		if (d->args.len > 0)
			rx_buf_put(&d->out, d->args.data, d->args.len);
		q->replies = 1;
	}
	/* all but the last byte: a command (an EXEC) the server never got
	 * whole is never run */
	if (send_bytes(d, 0, d->out.len - 1) < 0)
		return lost(d, err, errlen);
	rx_killpoint("queued");
	if (send_bytes(d, d->out.len - 1, 1) < 0)
		return lost(d, err, errlen);
	rx_killpoint("sent");
	d->nfly++;
	return 0;
}

/* Record i of a script-run batch: its status. */
static void script_result(const rx_db *d, const redis_batch *q, size_t i, const redisReply *st)
{
	const char *code = st->type == REDIS_REPLY_STRING || st->type == REDIS_REPLY_STATUS ? st->str : "?";
	rx_db_result *res = &q->results[i];

	if (strcmp(code, "ok") == 0)
		res->ok = 1;
	else if (code[0] == 'T')
		reject(res, "WRONGTYPE: the key %.*s holds %s, not %s (does the key template name "
		       "another application's keys?)", SHOWN(q, i), type_name(code + 1),
		       d->format == FORMAT_JSON ? "a string" : "a hash");
	else if (code[0] == 'E')
		reject(res, "the key %.*s exists", SHOWN(q, i));
	else if (code[0] == 'N')
		reject(res, "no key %.*s", SHOWN(q, i));
	else
		reject(res, "Redis: %s", st->type == REDIS_REPLY_ERROR ? st->str : "an unexpected reply");
}

/* The oldest batch's replies: one per record (the script), or MULTI's,
 * each queued command's and EXEC's (multi). */
static int redis_finish(rx_db *d, char *err, size_t errlen)
{
	err[0] = '\0';
	if (d->nfly == 0) {
		snprintf(err, errlen, "Redis %s: no batch in flight", d->target.shown);
		return -1;
	}
	redis_batch *q = &d->fly[d->first];
	d->first = (d->first + 1) % DEPTH;
	d->nfly--;
	if (q->replies == 0)
		return 0;
	if (d->ctx == NULL || q->gen != d->gen)
		return gone(d, err, errlen);
	char why[512] = "";
	redisReply *r = NULL;
	for (size_t k = 0; k < q->replies; k++) {
		void *reply = NULL;
		if (redisGetReply(d->ctx, &reply) != REDIS_OK)
			return lost(d, err, errlen);
		if (k + 1 == q->replies) {
			r = reply;
			break;
		}
		/* a command refused when queued (NOPERM, OOM): EXEC then
		 * discards the whole transaction; say why */
		redisReply *queued = reply;
		if (queued->type == REDIS_REPLY_ERROR && why[0] == '\0')
			snprintf(why, sizeof why, "%s", queued->str);
		free_reply(queued);
	}
	if (!q->multi) {
		if (r->type != REDIS_REPLY_ARRAY || r->elements != q->nvalid) {
			snprintf(err, errlen, "Redis %s: %s", d->target.shown,
				 r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply to the batch");
			free_reply(r);
			return -1;
		}
		size_t e = 0;
		for (size_t i = 0; i < q->n; i++)
			if (q->valid[i])
				script_result(d, q, i, r->element[e++]);
		free_reply(r);
		return 0;
	}
	if (r->type != REDIS_REPLY_ARRAY || r->elements != 1 + q->hsets || r->element[0]->type != REDIS_REPLY_ARRAY ||
	    r->element[0]->elements % 2 != 0) {
		snprintf(err, errlen, "Redis %s: %s", d->target.shown,
			 why[0] ? why : r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply to the batch");
		free_reply(r);
		return -1;
	}
	/* the keys of another type, by their place among the valid records */
	const redisReply *other = r->element[0];
	size_t e = 0, h = 1, o = 0;
	for (size_t i = 0; i < q->n; i++) {
		if (!q->valid[i])
			continue;
		e++;
		const redisReply *hs = q->valid[i] == 2 ? r->element[h++] : NULL;
		const char *type = NULL;
		if (o < other->elements && other->element[o]->type == REDIS_REPLY_INTEGER &&
		    other->element[o]->integer == (long long)e) {
			const redisReply *t = other->element[o + 1];
			type = t->type == REDIS_REPLY_STRING || t->type == REDIS_REPLY_STATUS ? t->str : "?";
			o += 2;
		}
		if (type != NULL)
			reject(&q->results[i], "WRONGTYPE: the key %.*s holds %s, not a hash (does the key template "
			       "name another application's keys?)", SHOWN(q, i), type_name(type));
		else if (hs != NULL && hs->type == REDIS_REPLY_ERROR)
			reject(&q->results[i], "Redis: %s", hs->str);
		else
			q->results[i].ok = 1;
	}
	free_reply(r);
	return 0;
}

static int redis_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		       rx_db_result *results, char *err, size_t errlen)
{
	if (redis_send(d, op, ids, rows, n, results, err, errlen) < 0)
		return -1;
	return redis_finish(d, err, errlen);
}

const rx_db_driver rx_db_redis = {"redis", 0, redis_open, redis_apply, redis_close, DEPTH, redis_send, redis_finish};
