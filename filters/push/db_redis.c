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
 *  - A batch is one command, one round trip: EVALSHA of WRITE_SCRIPT with
 *    the batch's keys and values.  Redis runs a script alone, so for each
 *    record the script reads the key's TYPE and writes in one step, with
 *    no other client in between: a key holding another type (a list, a
 *    set, a hash when the format is json) rejects its record and is never
 *    overwritten (WRONGTYPE is never met); insert needs the key absent,
 *    update needs it present; the same key twice in a batch is decided in
 *    order.  It answers one status per record.
 *  - All of the batch or none of it: a command that never arrived whole
 *    (the client killed or the connection lost while writing it) is never
 *    run, and a script refused at its start (out of memory, NOSCRIPT)
 *    changes nothing.  A connection lost after the command was written
 *    leaves the batch perhaps applied but reported failed (-1): its
 *    records stay unacked and are sent again next run (upserts:
 *    harmlessly).  The script checks before it writes, and its values
 *    were checked here, so it does not stop halfway.
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

/* Kinds of template part. */
enum { PART_TEXT, PART_KEY, PART_MEMBER };

typedef struct template_part {
	int kind;   /* PART_* */
	char *text; /* the literal text, or the member's name */
	size_t len;
} template_part;

struct rx_db {
	redisContext *ctx;      /* the connection, or NULL after a failure */
	rx_redis_target target; /* where */
	double timeout;         /* seconds: connecting, and each reply */
	int format;             /* FORMAT_* */
	long long ttl;          /* seconds, 0: none */
	char ttl_text[24];      /* the same, as the script's argument */
	char sha[48];           /* WRITE_SCRIPT's SHA1, once loaded */
	char *template_text;    /* the key template, for messages */
	template_part *parts;   /* the key template, compiled */
	size_t nparts;
	/* per batch, grown to the largest */
	size_t cap;
	size_t *key_off, *key_len; /* each record's key in keys */
	unsigned char *valid;    /* 1: the record has a key and goes to the script */
	rx_buf keys;             /* the batch's keys, back to back */
	rx_buf args;             /* the script's arguments after the keys (RESP) */
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
	free(d->valid);
	rx_buf_free(&d->keys);
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

static int load_script(rx_db *d, char *err, size_t errlen);

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
	d->ctx = rx_redis_connect(&d->target, d->timeout, err, errlen);
	if (d->ctx == NULL || load_script(d, err, errlen) < 0)
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

static void grow(rx_db *d, size_t n)
{
	if (n <= d->cap)
		return;
	d->cap = n;
	d->key_off = rx_xrealloc(d->key_off, n * sizeof *d->key_off);
	d->key_len = rx_xrealloc(d->key_len, n * sizeof *d->key_len);
	d->valid = rx_xrealloc(d->valid, n);
}

/* Load the script; 0, or -1 with err. */
static int load_script(rx_db *d, char *err, size_t errlen)
{
	redisReply *r = redisCommand(d->ctx, "SCRIPT LOAD %s", WRITE_SCRIPT);

	if (r == NULL || r->type != REDIS_REPLY_STRING) {
		snprintf(err, errlen, "Redis %s: cannot load the driver's script: %s", d->target.shown,
			 r && r->type == REDIS_REPLY_ERROR ? r->str : d->ctx->errstr);
		freeReplyObject(r);
		return -1;
	}
	snprintf(d->sha, sizeof d->sha, "%s", r->str);
	freeReplyObject(r);
	return 0;
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
static size_t put_values(rx_db *d, rx_span row, int is_delete)
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
	put_count_arg(&d->args, fields); /* 0: Redis has no empty hash, the key stays absent */
	for (size_t m = 0; m < d->ms.n; m++) {
		if (field_value(d, d->ms.m[m].value) < 0)
			continue;
		rx_span name = d->ms.m[m].name;
		if (d->ms.m[m].name_escaped) {
			rx_buf name_text = {0};
			rx_json_string_decode(name, &name_text);
			rx_redis_put_arg(&d->args, name_text.data ? name_text.data : "", name_text.len);
			rx_buf_free(&name_text);
		} else {
			rx_redis_put_arg(&d->args, name.p + 1, name.n - 2);
		}
		rx_redis_put_arg(&d->args, d->text.data ? d->text.data : "", d->text.len);
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
#define SHOWN(d, i) (int)((d)->key_len[i] > 200 ? 200 : (d)->key_len[i]), (d)->keys.data + (d)->key_off[i]

static int redis_apply(rx_db *d, const char *op, const rx_span *ids, const rx_span *rows, size_t n,
		       rx_db_result *results, char *err, size_t errlen)
{
	int is_delete = strcmp(op, "delete") == 0;
	char why[512];
	size_t nvalid = 0, nargs = 0;

	err[0] = '\0';
	if (!is_delete && strcmp(op, "insert") != 0 && strcmp(op, "update") != 0 && strcmp(op, "upsert") != 0) {
		snprintf(err, errlen, "unknown op '%s'", op);
		return -1;
	}
	if (d->ctx == NULL) {
		d->ctx = rx_redis_connect(&d->target, d->timeout, err, errlen);
		if (d->ctx == NULL)
			return -1;
	}
	if (d->sha[0] == '\0' && load_script(d, err, errlen) < 0)
		return d->ctx->err ? lost(d, err, errlen) : -1;
	grow(d, n);
	rx_buf_reset(&d->keys);
	rx_buf_reset(&d->args);
	for (size_t i = 0; i < n; i++) {
		int have_row = 0;
		results[i].ok = 0;
		results[i].message[0] = '\0';
		d->valid[i] = 0;
		if (rows[i].n > 0 && rx_json_members(rows[i].p, rows[i].n, &d->ms, why, sizeof why) == 0)
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
		nargs += put_values(d, rows[i], is_delete);
	}
	if (nvalid == 0)
		return 0;

	for (int attempt = 0; attempt < 2; attempt++) {
		rx_buf_reset(&d->out);
		rx_redis_put_count(&d->out, 3 + nvalid + 3 + nargs);
		rx_redis_put_arg(&d->out, "EVALSHA", 7);
		rx_redis_put_arg(&d->out, d->sha, strlen(d->sha));
		put_count_arg(&d->out, nvalid);
		for (size_t i = 0; i < n; i++)
			if (d->valid[i])
				rx_redis_put_arg(&d->out, d->keys.data + d->key_off[i], d->key_len[i]);
		rx_redis_put_arg(&d->out, op, strlen(op));
		rx_redis_put_arg(&d->out, d->format == FORMAT_JSON ? "json" : "hash", 4);
		rx_redis_put_arg(&d->out, d->ttl_text, strlen(d->ttl_text));
		rx_buf_put(&d->out, d->args.data, d->args.len);
		/* all but the last byte: a command the server never got whole is never run */
		if (send_bytes(d, 0, d->out.len - 1) < 0)
			return lost(d, err, errlen);
		rx_killpoint("queued");
		if (send_bytes(d, d->out.len - 1, 1) < 0)
			return lost(d, err, errlen);
		rx_killpoint("sent");
		void *reply = NULL;
		if (redisGetReply(d->ctx, &reply) != REDIS_OK)
			return lost(d, err, errlen);
		redisReply *r = reply;
		if (r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0 && attempt == 0) {
			freeReplyObject(r); /* the server restarted or was flushed: nothing ran */
			if (load_script(d, err, errlen) < 0)
				return d->ctx->err ? lost(d, err, errlen) : -1;
			continue;
		}
		if (r->type != REDIS_REPLY_ARRAY || r->elements != nvalid) {
			snprintf(err, errlen, "Redis %s: %s", d->target.shown,
				 r->type == REDIS_REPLY_ERROR ? r->str : "an unexpected reply to the batch");
			freeReplyObject(r);
			return -1;
		}
		size_t e = 0;
		for (size_t i = 0; i < n; i++) {
			if (!d->valid[i])
				continue;
			const redisReply *st = r->element[e++];
			const char *code = st->type == REDIS_REPLY_STRING || st->type == REDIS_REPLY_STATUS ? st->str : "?";
			if (strcmp(code, "ok") == 0)
				results[i].ok = 1;
			else if (code[0] == 'T')
				reject(&results[i], "WRONGTYPE: the key %.*s holds %s, not %s (does the key template name "
				       "another application's keys?)", SHOWN(d, i), type_name(code + 1),
				       d->format == FORMAT_JSON ? "a string" : "a hash");
			else if (code[0] == 'E')
				reject(&results[i], "the key %.*s exists", SHOWN(d, i));
			else if (code[0] == 'N')
				reject(&results[i], "no key %.*s", SHOWN(d, i));
			else
				reject(&results[i], "Redis: %s", st->type == REDIS_REPLY_ERROR ? st->str : "an unexpected reply");
		}
		freeReplyObject(r);
		return 0;
	}
	snprintf(err, errlen, "Redis %s: the driver's script keeps going missing", d->target.shown);
	return -1;
}

const rx_db_driver rx_db_redis = {"redis", 0, redis_open, redis_apply, redis_close};
