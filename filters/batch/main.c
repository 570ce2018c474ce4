/*
 * rx-batch - group changes into batches of one op:
 *   {"op":"upsert","records":[change,...]}
 *
 * Streams: one batch is held at a time, built in place in the output
 * buffer.  Each change is copied into "records" as the bytes it came as
 * (white space around the line aside): nothing is re-serialised, so
 * "key", "hash" and exact numbers pass untouched.
 *
 * Rules that hold:
 *  - a batch never mixes ops, and the open batch is closed whenever the
 *    op changes, so the changes leave in exactly the order they came
 *    (two changes for one key keep their order);
 *  - a batch never holds two changes of one key: a key already in the
 *    open batch closes it, so that a destination never sees one key twice
 *    in a request (many refuse it) and rx-push can keep the order of a
 *    key's changes, which it does across requests (a stream changes a
 *    key again while its last change is on its way);
 *  - a batch holds at most --size records and its line (without the
 *    newline) at most --max-bytes bytes; a change that alone would make
 *    a larger batch is a dead letter (stage "rx-batch"), and the run
 *    goes on (exit 3);
 *  - with --linger MS, a batch leaves at most MS milliseconds after its
 *    first record arrived, even if input is quiet (poll.c), and every
 *    batch (and control record) is flushed to the pipe as it closes.
 *  - a control record (control.c) is passed on in its place, between
 *    batches; a source position ({"$rx":"commit"}) that comes while a
 *    batch is open waits for that batch to close and follows it (the
 *    latest one only: it covers the earlier), so a stream's positions do
 *    not cut every batch short;
 *  - a line that is not a change is bad input: the open batch is written,
 *    then exit 65 naming the line.  A change is an object with an "op" of
 *    insert, update, upsert or delete and a "row" object; a delete may
 *    leave "row" out (or null).
 */
#include "rxpoll.h"
#include "rx.h"
#include "rxjq.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

static const char *const op_names[] = {"insert", "update", "upsert", "delete"};
enum { OP_DELETE = 3 };

typedef struct batcher {
	rx_writer *out;          /* batches are built in out->buf */
	size_t max_records;      /* --size */
	size_t max_bytes;        /* --max-bytes; 0: no limit */
	int linger;              /* --linger MS, or -1 */
	int op;                  /* op of the open batch, -1: none open */
	size_t count;            /* records in the open batch */
	size_t start;            /* where the open batch starts in out->buf */
	long long opened_ms;     /* when its first record arrived */
	unsigned long long dead; /* records dead-lettered */
	/* the keys of the open batch: XXH3 of their raw text, open addressing;
	 * a slot counts only when it carries the batch's generation */
	uint64_t *key_hash;
	uint32_t *key_gen;
	size_t key_cap, key_count;
	uint32_t gen;
	rx_buf mark;             /* a source position waiting for the open batch */
} batcher;

/* Is the key (raw JSON text) in the open batch already?  If not, note it. */
static int key_seen(batcher *b, rx_span key)
{
	uint64_t h = XXH3_64bits(key.p, key.n);

	if (b->key_count + 1 > b->key_cap / 2) {
		size_t cap = b->key_cap ? 2 * b->key_cap : 256;
		uint64_t *hs = calloc(cap, sizeof *hs);
		uint32_t *gs = calloc(cap, sizeof *gs);
		if (hs == NULL || gs == NULL)
			rx_die(RX_EXIT_FAIL, "out of memory");
		for (size_t i = 0; i < b->key_cap; i++) {
			if (b->key_gen[i] != b->gen)
				continue;
			size_t j = (size_t)b->key_hash[i] & (cap - 1);
			while (gs[j] == b->gen)
				j = (j + 1) & (cap - 1);
			hs[j] = b->key_hash[i];
			gs[j] = b->gen;
		}
		free(b->key_hash);
		free(b->key_gen);
		b->key_hash = hs;
		b->key_gen = gs;
		b->key_cap = cap;
	}
	size_t j = (size_t)h & (b->key_cap - 1);
	while (b->key_gen[j] == b->gen) {
		if (b->key_hash[j] == h)
			return 1;
		j = (j + 1) & (b->key_cap - 1);
	}
	b->key_hash[j] = h;
	b->key_gen[j] = b->gen;
	b->key_count++;
	return 0;
}

static void usage(void)
{
	printf("Usage: rx-batch [OPTION]... [FILE]...\n"
	       "Group changes into batches of one op: {\"op\":...,\"records\":[change,...]}.\n"
	       "Streams: one batch is held at a time.\n"
	       "\n"
	       "Options:\n"
	       "  -n, --size N             at most N records a batch (default 100)\n"
	       "  -b, --max-bytes BYTES    at most BYTES in a batch line (K, M, G suffixes); a\n"
	       "                           change too big for a batch of its own is dead-lettered\n"
	       "  -l, --linger MS          write a partial batch MS milliseconds after its first\n"
	       "                           record came, and flush every batch at once\n"
	       "      --profile NAME       take max_records and max_bytes from a destination\n"
	       "                           profile (the smaller limit wins when both are given)\n"
	       "      --max-line BYTES     longest line accepted (default 64M)\n"
	       "  -u, --unbuffered         flush every batch at once\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "Example:\n"
	       "  rx-diff --state s.db --key id <rows.ndjson | rx-batch --size 100 --linger 500\n"
	       "\n"
	       "See rx-batch(1).\n");
	exit(RX_EXIT_OK);
}

static size_t header_len(int op)
{
	/* {"op":"NAME","records":[ */
	return strlen("{\"op\":\"\",\"records\":[") + strlen(op_names[op]);
}

static void batch_close(batcher *b)
{
	if (b->op < 0)
		return;
	rx_buf_puts(&b->out->buf, "]}\n");
	if (b->mark.len > 0) {
		rx_buf_put(&b->out->buf, b->mark.data, b->mark.len);
		rx_buf_reset(&b->mark);
	}
	b->op = -1;
	b->count = 0;
	b->key_count = 0;
	if (++b->gen == 0) { /* wrapped: every slot is free again */
		if (b->key_gen != NULL)
			memset(b->key_gen, 0, b->key_cap * sizeof *b->key_gen);
		b->gen = 1;
	}
	rx_writer_record(b->out);
	if (b->linger >= 0)
		rx_writer_flush(b->out);
	rx_killpoint("batch");
}

static void batch_open(batcher *b, int op)
{
	b->op = op;
	b->count = 0;
	b->start = b->out->buf.len;
	b->opened_ms = b->linger >= 0 ? rx_now_ms() : 0;
	rx_buf_printf(&b->out->buf, "{\"op\":\"%s\",\"records\":[", op_names[op]);
}

/* Which op is the line, or -1 with why. */
static int change_op(const rx_members *ms, const char **why)
{
	long op = rx_json_find(ms, "op", 2);
	int k = -1;

	if (op < 0) {
		*why = "not a change: no \"op\"";
		return -1;
	}
	rx_span v = ms->m[op].value;
	for (int i = 0; i < 4; i++)
		if (v.n == strlen(op_names[i]) + 2 && memcmp(v.p + 1, op_names[i], v.n - 2) == 0 && v.p[0] == '"')
			k = i;
	if (k < 0) {
		*why = "not a change: \"op\" is not insert, update, upsert or delete";
		return -1;
	}
	long row = rx_json_find(ms, "row", 3);
	char kind = row < 0 ? 0 : rx_json_kind(ms->m[row].value);
	if (kind == 'o' || (k == OP_DELETE && (kind == 0 || kind == 'z')))
		return k;
	*why = row < 0 ? "not a change: no \"row\" object" : "not a change: \"row\" is not an object";
	return -1;
}

/* Add one change (the line's bytes p[0..n), its raw key) to the batches. */
static void batch_add(batcher *b, int op, const char *p, size_t n, rx_span key)
{
	if (b->max_bytes && header_len(op) + n + 2 > b->max_bytes) {
		char message[200];
		rx_deadletter d = {.stage = "rx-batch", .message = message};
		snprintf(message, sizeof message, "a batch of this change alone would be %zu bytes, more than the %zu of --max-bytes",
			 header_len(op) + n + 2, b->max_bytes);
		rx_deadletter_emit(p, n, &d);
		b->dead++;
		return;
	}
	if (b->op >= 0 && (b->op != op || b->count >= b->max_records ||
			   (b->max_bytes && (b->out->buf.len - b->start) + 1 + n + 2 > b->max_bytes)))
		batch_close(b);
	if (b->op >= 0 && key.p != NULL && key_seen(b, key))
		batch_close(b); /* that key is in this batch already */
	if (b->op < 0)
		batch_open(b, op);
	if (key.p != NULL && b->count == 0)
		key_seen(b, key);
	if (b->count > 0)
		rx_buf_putc(&b->out->buf, ',');
	rx_buf_put(&b->out->buf, p, n);
	b->count++;
	if (b->count >= b->max_records)
		batch_close(b);
}

static int batch_input(batcher *b, const char *path, size_t max_line)
{
	rx_reader r;
	rx_members ms = {0};
	char err[1024];
	char *line;
	size_t len;
	int rc = RX_EXIT_OK, got;

	if (rx_reader_open(&r, path, max_line, err, sizeof err) < 0) {
		rx_diag("%s", err);
		return RX_EXIT_FAIL;
	}
	for (;;) {
		if (b->linger >= 0 && b->op >= 0) {
			long long left = b->opened_ms + b->linger - rx_now_ms();
			int w = rx_reader_wait(&r, left > 0 ? (int)left : 0, err, sizeof err);
			if (w < 0) {
				rx_diag("%s", err);
				rc = RX_EXIT_FAIL;
				break;
			}
			if (w == 0) {
				batch_close(b);
				continue;
			}
		}
		got = rx_reader_next(&r, &line, &len, err, sizeof err);
		if (got == 0)
			break;
		if (got < 0) {
			rx_diag("%s", err); /* it names the line */
			rc = RX_EXIT_DATAERR;
			break;
		}
		size_t a = 0;
		while (a < len && (line[a] == ' ' || line[a] == '\t'))
			a++;
		while (len > a && (line[len - 1] == ' ' || line[len - 1] == '\t'))
			len--;
		if (a == len)
			continue; /* a blank line */
		const char *why = NULL;
		int op = -1;
		if (rx_control_is(line + a, len - a)) {
			char kind[16];
			if (b->op >= 0 &&
			    rx_control_parse(line + a, len - a, &ms, kind, sizeof kind, err, sizeof err) == 0 &&
			    strcmp(kind, "commit") == 0) {
				/* a position follows the open batch when it closes */
				rx_buf_reset(&b->mark);
				rx_buf_put(&b->mark, line + a, len - a);
				rx_buf_putc(&b->mark, '\n');
				continue;
			}
			/* a control record keeps its place in the stream */
			batch_close(b);
			rx_buf_put(&b->out->buf, line + a, len - a);
			rx_buf_putc(&b->out->buf, '\n');
			rx_writer_record(b->out);
			if (b->linger >= 0)
				rx_writer_flush(b->out); /* a stream's position waits for nothing */
			continue;
		}
		if (rx_json_scan_object(line + a, len - a, &ms, err, sizeof err) < 0) {
			rx_diag_at(r.name, r.line, "cannot parse JSON: %s", err);
			rc = RX_EXIT_DATAERR;
			break;
		}
		op = change_op(&ms, &why);
		if (op < 0) {
			rx_diag_at(r.name, r.line, "%s", why);
			rc = RX_EXIT_DATAERR;
			break;
		}
		long ki = rx_json_find(&ms, "key", 3);
		batch_add(b, op, line + a, len - a, ki >= 0 ? ms.m[ki].value : rx_span_of(NULL, 0));
	}
	free(ms.m);
	rx_reader_close(&r);
	return rc;
}

/* An integer member of the profile, or 0 when absent. */
static long long profile_limit(jv profile, const char *member, const char *path)
{
	jv v = jv_object_get(jv_copy(profile), jv_string(member));
	long long n = 0;

	if (jv_get_kind(v) == JV_KIND_NUMBER) {
		double d = jv_number_value(v);
		if (d < 1 || d > 1e15 || d != (double)(long long)d)
			rx_die(RX_EXIT_FAIL, "profile '%s': \"%s\" is not a positive integer", path, member);
		n = (long long)d;
	} else if (jv_get_kind(v) != JV_KIND_NULL && jv_get_kind(v) != JV_KIND_INVALID) {
		rx_die(RX_EXIT_FAIL, "profile '%s': \"%s\" is not a positive integer", path, member);
	}
	jv_free(v);
	return n;
}

int main(int argc, char **argv)
{
	enum { OPT_PROFILE = 256, OPT_MAXLINE };
	static const struct option longopts[] = {
		{"size", required_argument, NULL, 'n'},
		{"max-bytes", required_argument, NULL, 'b'},
		{"linger", required_argument, NULL, 'l'},
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"max-line", required_argument, NULL, OPT_MAXLINE},
		{"unbuffered", no_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	batcher b = {.op = -1, .linger = -1, .gen = 1};
	const char *profile = NULL;
	size_t max_line = 0, size = 0, max_bytes = 0;
	int c, status = RX_EXIT_OK;
	rx_writer out;

	rx_init("rx-batch");
	argv[0] = (char *)rx_progname; /* getopt's messages name the program, not its path */
	rx_writer_init(&out, 1);
	while ((c = getopt_long(argc, argv, "n:b:l:uhV", longopts, NULL)) != -1) {
		switch (c) {
		case 'n':
			size = (size_t)rx_parse_number("--size", optarg, 1, 100000000);
			break;
		case 'b':
			max_bytes = rx_parse_size("--max-bytes", optarg);
			if (max_bytes == 0)
				rx_usage_error("--max-bytes: must be at least 1");
			break;
		case 'l':
			b.linger = (int)rx_parse_number("--linger", optarg, 0, 86400000);
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_MAXLINE:
			max_line = rx_parse_size("--max-line", optarg);
			break;
		case 'u':
			out.unbuffered = 1;
			break;
		case 'h':
			usage();
			break;
		case 'V':
			rx_print_version(NULL);
			break;
		default:
			rx_usage_hint();
		}
	}
	if (profile != NULL) {
		char path[4096], err[1024];
		jv p;
		if (rx_profile_load(profile, &p, path, sizeof path, err, sizeof err) < 0)
			rx_die(RX_EXIT_FAIL, "%s", err);
		size_t records = (size_t)profile_limit(p, "max_records", path);
		size_t bytes = (size_t)profile_limit(p, "max_bytes", path);
		jv_free(p);
		if (records && (size == 0 || records < size))
			size = records;
		if (bytes && (max_bytes == 0 || bytes < max_bytes))
			max_bytes = bytes;
	}
	b.max_records = size ? size : 100;
	b.max_bytes = max_bytes;
	b.out = &out;

	if (optind >= argc) {
		status = batch_input(&b, "-", max_line);
	} else {
		for (int i = optind; i < argc && status == RX_EXIT_OK; i++)
			status = batch_input(&b, argv[i], max_line);
	}
	batch_close(&b);
	if (rx_writer_finish(&out, "the output") < 0)
		status = RX_EXIT_IOERR;
	else if (status == RX_EXIT_OK && b.dead > 0)
		status = RX_EXIT_DEADLETTER;
	rx_buf_free(&out.buf);
	free(b.key_hash);
	free(b.key_gen);
	rx_buf_free(&b.mark);
	return status;
}
