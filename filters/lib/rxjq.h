/*
 * rxjq.h - running jq programs with libjq 1.6, and loading profiles.
 *
 * Ownership follows jq's rule: every jv_* function consumes its
 * arguments and returns a new reference, except jv_copy.  The functions
 * here consume the jv they are given as input, and hand the caller owned
 * values out.
 *
 * Programs are compiled once (rx_jq_compile) and run per record
 * (rx_jq_run).  rx's jq library, share/rx/jq/rx.jq, is included in every
 * program, so its functions (normalize_email, ...) need no import.
 */
#ifndef RX_JQ_H
#define RX_JQ_H

#include <jq.h>
#include <jv.h>

#include "rx.h"

typedef struct rx_jq_group rx_jq_group;

typedef struct rx_jq {
	jq_state *jq;  /* the compiled program, or NULL in a group */
	rx_buf errors; /* messages jq reported while compiling */
	rx_jq_group *group; /* compiled with others (rx_jq_group_begin) */
	int index;          /* its number in the group */
} rx_jq;

/* Compile program.  args: an object of named arguments ($name in the
 * program), or jv_invalid() for none (consumed).  what names the program
 * in messages ("mapping", "profile hubspot: body").  0, or -1 with err
 * holding jq's message and the program's text. */
int rx_jq_compile(rx_jq *q, const char *program, jv args, const char *what, char *err, size_t errlen);
/* The same, with jq modules included first (modules: NULL-terminated
 * names, looked for as NAME.jq in libdir, when not NULL, then in
 * share/rx/jq): a profile's programs call the functions of its module. */
int rx_jq_compile_with(rx_jq *q, const char *program, jv args, const char *libdir, const char *const *modules,
		       const char *what, char *err, size_t errlen);
/* Run the program on input (consumed).  Returns the number of outputs
 * (0 or 1), *out set on 1; with more than one output, only the first is
 * kept when first_only, else an array of them all is returned in *out.
 * -1 on a jq error, with jq's message in err. */
int rx_jq_run(rx_jq *q, jv input, jv *out, int first_only, char *err, size_t errlen);
void rx_jq_free(rx_jq *q);

/* Compile the programs of one profile together.  Between begin and end,
 * rx_jq_compile_with only notes each program (and answers 0); end then
 * compiles the programs that share a library path, modules and
 * arguments as one jq program, each a function chosen at run time (jq
 * 1.6 binds its builtins again for every compile, some 200M
 * instructions: a profile of six programs took 0.25 s to start).  ok 0
 * drops them all (the profile failed before end).  0, or -1 with the
 * message of the first program that does not compile, as
 * rx_jq_compile_with would have given it. */
void rx_jq_group_begin(void);
int rx_jq_group_end(int ok, char *err, size_t errlen);

/* Parse s[0..n) as one JSON value.  0 and *out, or -1 with err. */
int rx_jv_parse(const char *s, size_t n, jv *out, char *err, size_t errlen);
/* Append v (consumed) as compact JSON, byte for byte what jq 1.6's
 * jv_dump_string(v, 0) writes (its number format, its escapes, the
 * objects' order), without its per-character cost. */
void rx_jv_put(rx_buf *b, jv v);
/* The same, and each string value (not an object's key) is first offered
 * to hook(b, text, len, ctx), which writes something else in its place
 * and answers 1, or answers 0 for the string to be written as usual. */
typedef int (*rx_jv_string_hook)(rx_buf *b, const char *s, size_t n, void *ctx);
void rx_jv_put_with(rx_buf *b, jv v, rx_jv_string_hook hook, void *ctx);
/* s[0..n) holds one JSON value that a scanner of rx already accepted: the
 * jv jq 1.6's parser would make of it, built directly (no tokenizer); a
 * string with escapes, or anything unexpected, goes through jv_parse.
 * Never invalid for valid JSON; jv_null() if s is not. */
jv rx_jv_from_json(const char *s, size_t n);

/* Load a destination profile: name is a path (contains '/' or ends in
 * .json) or a name looked up as NAME.json in each directory of
 * $RX_PROFILE_PATH (':'-separated), then in share/rx/destinations/.
 * 0 with *out an object (and the file's path in path[pathlen]), or -1. */
int rx_profile_load(const char *name, jv *out, char *path, size_t pathlen, char *err, size_t errlen);

#endif
