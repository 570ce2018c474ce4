/*
 * rxjq.c - libjq 1.6 driven the way jq's own main.c drives it, plus the
 * profile loader.
 *
 * jq 1.6 has no jq_set_stderr_cb; compile errors arrive through the error
 * callback, which collects them into q->errors.  A run ends when jq_next
 * returns an invalid value: with a message it is an error, without one
 * it is the end of the outputs.
 */
#include "rxjq.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Append s with its newlines folded, so a diagnostic stays one line. */
static void put_one_line(rx_buf *b, const char *s)
{
	if (b->len > 0)
		rx_buf_puts(b, "; ");
	for (; *s; s++)
		rx_buf_putc(b, *s == '\n' ? ' ' : *s);
	while (b->len > 0 && b->data[b->len - 1] == ' ')
		b->data[--b->len] = '\0';
}

static void collect_error(void *data, jv msg)
{
	rx_buf *b = data;

	if (jv_get_kind(msg) != JV_KIND_STRING)
		msg = jq_format_error(msg);
	if (jv_get_kind(msg) == JV_KIND_STRING)
		put_one_line(b, jv_string_value(msg));
	jv_free(msg);
}

int rx_jq_compile(rx_jq *q, const char *program, jv args, const char *what, char *err, size_t errlen)
{
	return rx_jq_compile_with(q, program, args, NULL, NULL, what, err, errlen);
}

int rx_jq_compile_with(rx_jq *q, const char *program, jv args, const char *libdir, const char *const *modules,
		       const char *what, char *err, size_t errlen)
{
	char libfile[4200], dir[4096];
	rx_buf text = {0};
	jv path = jv_array();
	int ok;

	memset(q, 0, sizeof *q);
	q->jq = jq_init();
	if (q->jq == NULL)
		rx_die(RX_EXIT_FAIL, "cannot start jq: out of memory");
	jq_set_error_cb(q->jq, collect_error, &q->errors);
	if (libdir != NULL)
		path = jv_array_append(path, jv_string(libdir)); /* modules beside the profile first */
	snprintf(dir, sizeof dir, "%s/jq", rx_share_dir());
	path = jv_array_append(path, jv_string(dir));
	jq_set_attr(q->jq, jv_string("JQ_LIBRARY_PATH"), path);
	/* on the program's first line, so jq's line numbers stay right */
	snprintf(libfile, sizeof libfile, "%s/rx.jq", dir);
	if (access(libfile, R_OK) == 0)
		rx_buf_puts(&text, "include \"rx\"; ");
	for (size_t i = 0; modules != NULL && modules[i] != NULL; i++)
		rx_buf_printf(&text, "include \"%s\"; ", modules[i]);
	rx_buf_puts(&text, program);
	if (jv_get_kind(args) != JV_KIND_OBJECT) {
		jv_free(args);
		args = jv_object();
	}
	ok = jq_compile_args(q->jq, text.data, args);
	rx_buf_free(&text);
	if (!ok) {
		snprintf(err, errlen, "%s does not compile: %s; the program: %s", what,
			 q->errors.len ? q->errors.data : "unknown error", program);
		return -1;
	}
	return 0;
}

int rx_jq_run(rx_jq *q, jv input, jv *out, int first_only, char *err, size_t errlen)
{
	jv result, all = jv_invalid();
	int count = 0;

	jq_start(q->jq, input, 0);
	for (;;) {
		result = jq_next(q->jq);
		if (!jv_is_valid(result))
			break;
		if (count == 0) {
			*out = result;
		} else if (first_only) {
			jv_free(result);
		} else {
			if (count == 1)
				all = jv_array_append(jv_array(), *out);
			all = jv_array_append(all, result);
		}
		count++;
	}
	if (jv_invalid_has_msg(jv_copy(result))) {
		jv msg = jv_invalid_get_msg(result);
		if (jv_get_kind(msg) == JV_KIND_STRING) {
			snprintf(err, errlen, "%s", jv_string_value(msg));
		} else {
			jv s = jv_dump_string(msg, 0);
			snprintf(err, errlen, "%s (not a string)", jv_string_value(s));
			msg = s;
		}
		jv_free(msg);
		if (count > 0)
			jv_free(*out);
		jv_free(all);
		return -1;
	}
	jv_free(result);
	if (count > 1 && !first_only) {
		*out = all;
		return 1;
	}
	return count > 0 ? 1 : 0;
}

void rx_jq_free(rx_jq *q)
{
	if (q->jq != NULL)
		jq_teardown(&q->jq);
	rx_buf_free(&q->errors);
}

int rx_jv_parse(const char *s, size_t n, jv *out, char *err, size_t errlen)
{
	jv v = jv_parse_sized(s, (int)n);

	if (!jv_is_valid(v)) {
		jv msg = jv_invalid_get_msg(v);
		snprintf(err, errlen, "cannot parse JSON: %s",
			 jv_get_kind(msg) == JV_KIND_STRING ? jv_string_value(msg) : "invalid");
		jv_free(msg);
		return -1;
	}
	*out = v;
	return 0;
}

void rx_jv_put(rx_buf *b, jv v)
{
	jv s = jv_dump_string(v, 0);

	rx_buf_put(b, jv_string_value(s), (size_t)jv_string_length_bytes(jv_copy(s)));
	jv_free(s);
}

static int try_profile(const char *file, jv *out, char *path, size_t pathlen, char *err, size_t errlen)
{
	FILE *f = fopen(file, "r");
	rx_buf text = {0};
	char chunk[8192];
	size_t n;

	if (f == NULL)
		return 1; /* not here */
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		rx_buf_put(&text, chunk, n);
	fclose(f);
	snprintf(path, pathlen, "%s", file);
	if (rx_jv_parse(text.data ? text.data : "", text.len, out, err, errlen) < 0) {
		char why[512];
		snprintf(why, sizeof why, "%s", err);
		snprintf(err, errlen, "profile '%s': %s", file, why);
		rx_buf_free(&text);
		return -1;
	}
	rx_buf_free(&text);
	if (jv_get_kind(*out) != JV_KIND_OBJECT) {
		jv_free(*out);
		snprintf(err, errlen, "profile '%s': not a JSON object", file);
		return -1;
	}
	return 0;
}

int rx_profile_load(const char *name, jv *out, char *path, size_t pathlen, char *err, size_t errlen)
{
	char file[4096];
	size_t len = strlen(name);
	int rc;

	if (strchr(name, '/') != NULL || (len > 5 && strcmp(name + len - 5, ".json") == 0)) {
		rc = try_profile(name, out, path, pathlen, err, errlen);
		if (rc == 1)
			snprintf(err, errlen, "cannot open profile '%s': %s", name, strerror(errno));
		return rc == 0 ? 0 : -1;
	}
	const char *env = getenv("RX_PROFILE_PATH");
	if (env != NULL) {
		char *dirs = rx_xstrdup(env), *save = NULL;
		for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
			snprintf(file, sizeof file, "%s/%s.json", d, name);
			rc = try_profile(file, out, path, pathlen, err, errlen);
			if (rc != 1) {
				free(dirs);
				return rc;
			}
		}
		free(dirs);
	}
	snprintf(file, sizeof file, "%s/destinations/%s.json", rx_share_dir(), name);
	rc = try_profile(file, out, path, pathlen, err, errlen);
	if (rc == 1)
		snprintf(err, errlen, "no profile '%s' (looked in $RX_PROFILE_PATH and %s/destinations)", name,
			 rx_share_dir());
	return rc == 0 ? 0 : -1;
}
