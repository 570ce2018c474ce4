/*
 * csv.c - rx-extract's CSV source, on libcsv.
 *
 * The input is fed to libcsv one physical line at a time so that every
 * message can name the line where a record ends.  The first record is
 * the header: its fields, escaped once, are the member names.  A record
 * with more or fewer fields than the header stops the run (exit 65):
 * guessing which field is missing would corrupt a row.  Values are
 * strings unless --infer or --types says otherwise; an unquoted empty
 * field is null under --infer, a quoted one ("") stays "".
 */
#include "extract.h"

#include <csv.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct csv_state {
	const extract_options *o;
	rx_writer *out;
	const char *name;         /* input name for messages */
	unsigned long long line;  /* physical line being fed */
	unsigned long long record_line; /* where the record being read began */
	rx_buf *names;            /* escaped "name": per column */
	char *kinds;              /* per column: 0 (default) or a --types kind */
	char **plain;             /* plain column names */
	size_t ncols;             /* columns in the header */
	size_t field;             /* fields seen in the current record */
	size_t start;             /* where the current row starts in out->buf */
	int in_row;               /* a row is half-written in out->buf */
	int header_done;
	int status;               /* RX_EXIT_OK until something fails */
} csv_state;

/* Is s a JSON number in canonical form ("007" and "+1" are not)? */
static int is_number(const char *s, size_t n, int *integer)
{
	size_t i = 0;

	*integer = 1;
	if (i < n && s[i] == '-')
		i++;
	if (i >= n || s[i] < '0' || s[i] > '9')
		return 0;
	if (s[i] == '0')
		i++;
	else
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	if (i < n && s[i] == '.') {
		*integer = 0;
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		*integer = 0;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return 0;
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	return i == n;
}

static void bad_value(csv_state *st, const char *what)
{
	rx_diag_at(st->name, st->line, "column '%s': %s", st->plain[st->field], what);
	st->status = RX_EXIT_DATAERR;
}

static void put_value(csv_state *st, const char *s, size_t n)
{
	rx_buf *b = &st->out->buf;
	char kind = st->kinds[st->field];
	int integer;

	if (s == NULL && (st->o->infer || kind != 0)) {
		rx_buf_put(b, "null", 4);
		return;
	}
	if (s == NULL) {
		rx_buf_put(b, "\"\"", 2);
		return;
	}
	switch (kind) {
	case 'i':
		if (!is_number(s, n, &integer) || !integer)
			return bad_value(st, "not an integer (--types says int)");
		rx_extract_put_number(b, s, n);
		return;
	case 'f':
		if (!is_number(s, n, &integer))
			return bad_value(st, "not a number (--types says float)");
		rx_extract_put_number(b, s, n);
		return;
	case 'b':
		if (n == 4 && memcmp(s, "true", 4) == 0)
			rx_buf_put(b, "true", 4);
		else if (n == 5 && memcmp(s, "false", 5) == 0)
			rx_buf_put(b, "false", 5);
		else
			return bad_value(st, "not true or false (--types says bool)");
		return;
	case 'j': {
		char err[256];
		if (rx_json_validate(s, n, err, sizeof err) < 0)
			return bad_value(st, "not JSON (--types says json)");
		rx_json_put_compact(b, rx_span_of(s, n));
		return;
	}
	case 's':
		break;
	default:
		if (!st->o->infer)
			break;
		if (is_number(s, n, &integer)) {
			rx_extract_put_number(b, s, n);
			return;
		}
		if (n == 4 && memcmp(s, "true", 4) == 0) {
			rx_buf_put(b, "true", 4);
			return;
		}
		if (n == 5 && memcmp(s, "false", 5) == 0) {
			rx_buf_put(b, "false", 5);
			return;
		}
	}
	rx_json_put_string(b, s, n);
}

static void on_field(void *data, size_t n, void *arg)
{
	csv_state *st = arg;
	const char *s = data;

	if (st->status != RX_EXIT_OK)
		return;
	if (s != NULL && !rx_utf8_valid(s, n)) {
		rx_diag_at(st->name, st->line, "field %zu: invalid UTF-8", st->field + 1);
		st->status = RX_EXIT_DATAERR;
		return;
	}
	if (!st->header_done) {
		if (s == NULL || n == 0) {
			rx_diag_at(st->name, st->line, "header: column %zu has no name", st->ncols + 1);
			st->status = RX_EXIT_DATAERR;
			return;
		}
		for (size_t i = 0; i < st->ncols; i++)
			if (strlen(st->plain[i]) == n && memcmp(st->plain[i], s, n) == 0) {
				rx_diag_at(st->name, st->line, "header: column '%.*s' appears twice", (int)n, s);
				st->status = RX_EXIT_DATAERR;
				return;
			}
		if (n == 3 && memcmp(s, "$rx", 3) == 0) {
			rx_diag_at(st->name, st->line, "header: column %zu is named '$rx', which rx keeps for its control "
				   "records: rename it", st->ncols + 1);
			st->status = RX_EXIT_DATAERR;
			return;
		}
		st->names = rx_xrealloc(st->names, (st->ncols + 1) * sizeof *st->names);
		st->plain = rx_xrealloc(st->plain, (st->ncols + 1) * sizeof *st->plain);
		memset(&st->names[st->ncols], 0, sizeof *st->names);
		rx_json_put_string(&st->names[st->ncols], s, n);
		rx_buf_putc(&st->names[st->ncols], ':');
		st->plain[st->ncols] = memcpy(rx_xmalloc(n + 1), s, n);
		st->plain[st->ncols][n] = '\0';
		st->ncols++;
		return;
	}
	if (st->field >= st->ncols) {
		rx_diag_at(st->name, st->line, "ragged row: more than the header's %zu fields", st->ncols);
		st->status = RX_EXIT_DATAERR;
		return;
	}
	rx_buf *b = &st->out->buf;
	if (st->field == 0) {
		st->start = b->len;
		st->in_row = 1;
		rx_buf_putc(b, '{');
	} else {
		rx_buf_putc(b, ',');
	}
	rx_buf_put(b, st->names[st->field].data, st->names[st->field].len);
	put_value(st, s, n);
	st->field++;
}

static void on_record(int c, void *arg)
{
	csv_state *st = arg;

	(void)c;
	if (st->status != RX_EXIT_OK)
		return;
	if (!st->header_done) {
		st->header_done = 1;
		st->record_line = st->line + 1;
		st->kinds = calloc(st->ncols ? st->ncols : 1, 1);
		for (size_t t = 0; t < st->o->ntypes; t++) {
			size_t i;
			for (i = 0; i < st->ncols; i++)
				if (strcmp(st->plain[i], st->o->type_cols[t]) == 0)
					break;
			if (i == st->ncols) {
				rx_diag("%s: --types: no column '%s' in the header", st->name, st->o->type_cols[t]);
				st->status = RX_EXIT_USAGE;
				return;
			}
			st->kinds[i] = st->o->type_kinds[t];
		}
		return;
	}
	if (st->field != st->ncols) {
		rx_diag_at(st->name, st->line, "ragged row: %zu fields where the header has %zu", st->field,
			   st->ncols);
		st->status = RX_EXIT_DATAERR;
		return;
	}
	rx_buf_putc(&st->out->buf, '}');
	st->field = 0;
	st->in_row = 0;
	st->record_line = st->line + 1; /* records end with the line that ends them */
	rx_extract_row(st->out, st->start, st->o);
	if (st->out->error)
		st->status = RX_EXIT_IOERR;
}

static int keep_spaces(unsigned char c)
{
	(void)c;
	return 0;
}

int rx_extract_csv(const extract_options *o, rx_writer *out)
{
	struct csv_parser p;
	csv_state st = {0};
	char chunk[1 << 16];
	int fd, first = 1;
	ssize_t got;

	st.o = o;
	st.out = out;
	st.name = rx_input_name(o->source);
	st.line = 1;
	st.record_line = 1;
	st.status = RX_EXIT_OK;
	if (strcmp(st.name, "<stdin>") == 0) {
		fd = 0;
	} else if ((fd = open(o->source, O_RDONLY | O_CLOEXEC)) < 0) {
		rx_diag("cannot open '%s': %s", o->source, strerror(errno));
		return RX_EXIT_FAIL;
	}
	if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_EMPTY_IS_NULL) != 0)
		rx_die(RX_EXIT_FAIL, "out of memory");
	csv_set_delim(&p, (unsigned char)o->delimiter);
	csv_set_space_func(&p, keep_spaces);
	while (st.status == RX_EXIT_OK && (got = read(fd, chunk, sizeof chunk)) != 0) {
		if (got < 0) {
			if (errno == EINTR)
				continue;
			rx_diag("cannot read '%s': %s", st.name, strerror(errno));
			st.status = RX_EXIT_FAIL;
			break;
		}
		const char *s = chunk, *end = chunk + got;
		if (first) {
			first = 0;
			if (got >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
				s += 3; /* a UTF-8 byte order mark */
		}
		while (s < end && st.status == RX_EXIT_OK) {
			const char *nl = memchr(s, '\n', (size_t)(end - s));
			size_t n = nl ? (size_t)(nl - s) + 1 : (size_t)(end - s);
			if (csv_parse(&p, s, n, on_field, on_record, &st) != n) {
				rx_diag_at(st.name, st.line, "malformed CSV: %s", csv_strerror(csv_error(&p)));
				st.status = RX_EXIT_DATAERR;
				break;
			}
			s += n;
			if (nl)
				st.line++;
		}
	}
	if (st.status == RX_EXIT_OK && csv_fini(&p, on_field, on_record, &st) != 0) {
		/* the quote swallowed every line to the end: name where it began */
		rx_diag_at(st.name, st.record_line,
			   "malformed CSV: %s: the record that starts here has a quoted field that is never closed",
			   csv_strerror(csv_error(&p)));
		st.status = RX_EXIT_DATAERR;
	}
	if (st.status != RX_EXIT_OK && st.in_row) {
		out->buf.len = st.start; /* never pass off half a row */
		out->buf.data[st.start] = '\0';
	}
	if (st.status == RX_EXIT_OK && !st.header_done) {
		rx_diag("%s: no header row (the file is empty)", st.name);
		st.status = RX_EXIT_DATAERR;
	}
	csv_free(&p);
	if (fd != 0)
		close(fd);
	for (size_t i = 0; i < st.ncols; i++) {
		rx_buf_free(&st.names[i]);
		free(st.plain[i]);
	}
	free(st.names);
	free(st.plain);
	free(st.kinds);
	return st.status;
}
