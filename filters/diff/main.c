/*
 * rx-diff - the snapshot engine: emit only the rows that changed since the
 * last delivery, and advance the snapshot from the destination's acks.
 *
 * Holds its input: a stage run reads the whole model before it emits
 * anything (into temporary files and the state, never the heap: memory is
 * bounded whatever the model's size).  See stage.c for how, commit.c for
 * --commit, state.c for the state file and the lock.
 * Exit: 0 done, 1 failed, 2 usage, 3 rows dead-lettered (bad keys),
 * 65 bad input or a guard rail tripped (nothing emitted), 74 output,
 * 75 the state is locked by another run.
 */
#include "diff.h"
#include "rxjq.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	printf("Usage: rx-diff --state FILE --key COL[,COL...] [OPTION]...\n"
	       "  or:  rx-diff --state FILE --commit\n"
	       "  or:  rx-diff --state FILE --status\n"
	       "  or:  rx-diff --status [--json] STATE|DIR...\n"
	       "  or:  rx-diff --health [--max-age AGE] [--max-error-rate R] STATE|DIR...\n"
	       "Compare rows with the snapshot of what the destination holds and emit the changes;\n"
	       "with --commit, advance the snapshot from the destination's acks.\n"
	       "Holds its input: every row is read (to disk, not memory) before any change is emitted.\n"
	       "\n"
	       "Options:\n"
	       "  -s, --state FILE           the sync's state file (created on the first run)\n"
	       "  -k, --key COL[,COL...]     the key column(s) of a row\n"
	       "  -m, --mode MODE            insert, update, upsert (default), mirror or delete\n"
	       "      --ignore COL[,COL...]  leave these columns out of the comparison\n"
	       "      --changed-only         updates carry only the changed fields and the key\n"
	       "      --max-invalid N        abort (exit 65) when more than N rows have a bad key\n"
	       "                             (default 0: no limit)\n"
	       "      --max-changes N        abort (exit 65) when a run has more than N changes\n"
	       "      --max-delete-ratio R   mirror: abort (exit 65) when a run would delete R or\n"
	       "                             more of the synced rows (default 0.5; 1 for no limit)\n"
	       "      --accept-schema-change go on although the columns differ from the last\n"
	       "                             delivered run\n"
	       "      --assume-complete      mirror: take the end of input as the end of the model\n"
	       "                             when it lacks rx's end record ({\"$rx\":\"end\"})\n"
	       "      --profile NAME         the destination's profile: its max_delete_ratio is\n"
	       "                             the default of --max-delete-ratio\n"
	       "      --full-resync          treat the snapshot as empty (the destination was wiped)\n"
	       "      --preview              print the changes a run would emit; open no run and\n"
	       "                             write nothing to the state (try a sync)\n"
	       "      --shard I/N            keep only the keys in shard I of N\n"
	       "      --max-line BYTES       longest line accepted (default 64M)\n"
	       "      --threads N            threads that hash rows (default: one per processor,\n"
	       "                             at most 8)\n"
	       "      --commit               read acks and advance the snapshot\n"
	       "      --commit-every N       acks per transaction with --commit (default 10000)\n"
	       "      --status               print the history and freshness as JSON lines; given\n"
	       "                             states or folders of them: one line a sync (a table,\n"
	       "                             or JSON with --json)\n"
	       "      --health               is each sync healthy? exit 0 if all are, 1 if not\n"
	       "      --max-age AGE          --health: unhealthy when the last success is older\n"
	       "                             (90s, 15m, 2h, 1d)\n"
	       "      --max-error-rate R     --health: unhealthy when more than R (0 to 1) of the\n"
	       "                             last run's rows or changes were dead-lettered\n"
	       "      --json                 --status, --health: JSON lines\n"
	       "      --sync NAME            the sync's name in summaries, views and metrics\n"
	       "                             (default: the state's file name)\n"
	       "      --keep-runs N          runs kept in the history (default 1000; 0: all)\n"
	       "      --metrics FILE         write the sync's metrics for Prometheus's textfile\n"
	       "                             collector (atomically) at the end\n"
	       "      --count-record         write {\"$rx\":\"changes\",\"count\":N} before the changes\n"
	       "                             (rx-push --progress shows done/total from it)\n"
	       "  -h, --help                 show this help and exit\n"
	       "  -V, --version              show the version and exit\n"
	       "\n"
	       "Example:\n"
	       "  rx-extract --sqlite dw.db --table customers | rx-diff --state s.db --key id \\\n"
	       "    | rx-batch | rx-push --profile hubspot-contacts | rx-diff --state s.db --commit\n"
	       "\n"
	       "See rx-diff(1).\n");
	exit(RX_EXIT_OK);
}

/* One thread per processor, up to 8: hashing rows scales about that far
 * before reading the input becomes the limit. */
static int default_threads(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > 8 ? 8 : (int)n;
}

static void split_columns(const char *option, const char *arg, char ***cols, size_t *n)
{
	char *copy = rx_xstrdup(arg), *save = NULL;

	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		*cols = rx_xrealloc(*cols, (*n + 1) * sizeof **cols);
		(*cols)[(*n)++] = rx_xstrdup(item);
	}
	free(copy);
	if (*n == 0)
		rx_usage_error("%s: no column named", option);
}

/* The destination's own limit on deletes ("max_delete_ratio" in its
 * profile: stricter for tools whose deletes cannot be undone), or the
 * default when it names none. */
static double profile_delete_ratio(const char *name, double fallback)
{
	char path[4096], err[1024];
	jv p, v;
	double r = fallback;

	if (rx_profile_load(name, &p, path, sizeof path, err, sizeof err) < 0)
		rx_die(RX_EXIT_FAIL, "%s", err);
	v = jv_object_get(p, jv_string("max_delete_ratio"));
	if (jv_get_kind(v) == JV_KIND_NUMBER && jv_number_value(v) >= 0 && jv_number_value(v) <= 1)
		r = jv_number_value(v);
	else if (jv_get_kind(v) != JV_KIND_NULL && jv_get_kind(v) != JV_KIND_INVALID) /* invalid: not there */
		rx_die(RX_EXIT_FAIL, "profile '%s': \"max_delete_ratio\" is not a number from 0 to 1", path);
	jv_free(v);
	return r;
}

static void free_columns(char **cols, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(cols[i]);
	free(cols);
}

int main(int argc, char **argv)
{
	enum { OPT_IGNORE = 256, OPT_CHANGED_ONLY, OPT_MAX_INVALID, OPT_MAX_CHANGES, OPT_MAX_DELETE_RATIO,
	       OPT_ACCEPT_SCHEMA, OPT_FULL_RESYNC, OPT_SHARD, OPT_MAXLINE, OPT_COMMIT, OPT_COMMIT_EVERY,
	       OPT_STATUS, OPT_THREADS, OPT_ASSUME_COMPLETE, OPT_PROFILE, OPT_PREVIEW, OPT_HEALTH, OPT_MAX_AGE,
	       OPT_MAX_ERROR_RATE, OPT_JSON, OPT_SYNC, OPT_KEEP_RUNS, OPT_METRICS, OPT_COUNT_RECORD };
	static const struct option longopts[] = {
		{"state", required_argument, NULL, 's'},
		{"key", required_argument, NULL, 'k'},
		{"mode", required_argument, NULL, 'm'},
		{"ignore", required_argument, NULL, OPT_IGNORE},
		{"changed-only", no_argument, NULL, OPT_CHANGED_ONLY},
		{"max-invalid", required_argument, NULL, OPT_MAX_INVALID},
		{"max-changes", required_argument, NULL, OPT_MAX_CHANGES},
		{"max-delete-ratio", required_argument, NULL, OPT_MAX_DELETE_RATIO},
		{"accept-schema-change", no_argument, NULL, OPT_ACCEPT_SCHEMA},
		{"assume-complete", no_argument, NULL, OPT_ASSUME_COMPLETE},
		{"profile", required_argument, NULL, OPT_PROFILE},
		{"preview", no_argument, NULL, OPT_PREVIEW},
		{"full-resync", no_argument, NULL, OPT_FULL_RESYNC},
		{"shard", required_argument, NULL, OPT_SHARD},
		{"max-line", required_argument, NULL, OPT_MAXLINE},
		{"threads", required_argument, NULL, OPT_THREADS},
		{"commit", no_argument, NULL, OPT_COMMIT},
		{"commit-every", required_argument, NULL, OPT_COMMIT_EVERY},
		{"status", no_argument, NULL, OPT_STATUS},
		{"health", no_argument, NULL, OPT_HEALTH},
		{"max-age", required_argument, NULL, OPT_MAX_AGE},
		{"max-error-rate", required_argument, NULL, OPT_MAX_ERROR_RATE},
		{"json", no_argument, NULL, OPT_JSON},
		{"sync", required_argument, NULL, OPT_SYNC},
		{"keep-runs", required_argument, NULL, OPT_KEEP_RUNS},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"count-record", no_argument, NULL, OPT_COUNT_RECORD},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	diff_options o;
	const char *profile = NULL;
	int c, commit = 0, status_mode = 0, status, ratio_given = 0, health_mode = 0;
	diff_health health = {0, NULL, -1, 0};

	rx_init("rx-diff");
	/* no global count of SQLite's memory: it takes a mutex on every
	 * allocation, and the threads each have their own connection */
	sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
	argv[0] = (char *)rx_progname; /* getopt's messages name the program, not its path */
	memset(&o, 0, sizeof o);
	o.mode = MODE_UPSERT;
	o.max_changes = -1;
	o.max_delete_ratio = 0.5;
	o.max_line = RX_MAX_LINE_DEFAULT;
	o.commit_every = 10000;
	o.threads = default_threads();
	o.keep_runs = 1000;
	while ((c = getopt_long(argc, argv, "s:k:m:hV", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			o.state = optarg;
			break;
		case 'k':
			split_columns("--key", optarg, &o.key_cols, &o.nkey_cols);
			break;
		case 'm': {
			static const char *const modes[] = {"insert", "update", "upsert", "mirror", "delete"};
			size_t i;
			for (i = 0; i < 5; i++)
				if (strcmp(optarg, modes[i]) == 0)
					break;
			if (i == 5)
				rx_usage_error("--mode: '%s' is not insert, update, upsert, mirror or delete", optarg);
			o.mode = (enum diff_mode)i;
			break;
		}
		case OPT_IGNORE:
			split_columns("--ignore", optarg, &o.ignore_cols, &o.nignore_cols);
			break;
		case OPT_CHANGED_ONLY:
			o.changed_only = 1;
			break;
		case OPT_MAX_INVALID:
			o.max_invalid = rx_parse_number("--max-invalid", optarg, 0, (long long)1 << 62);
			break;
		case OPT_MAX_CHANGES:
			o.max_changes = rx_parse_number("--max-changes", optarg, 0, (long long)1 << 62);
			break;
		case OPT_MAX_DELETE_RATIO: {
			char *end;
			o.max_delete_ratio = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(o.max_delete_ratio >= 0 && o.max_delete_ratio <= 1))
				rx_usage_error("--max-delete-ratio: '%s' is not a number from 0 to 1", optarg);
			ratio_given = 1;
			break;
		}
		case OPT_ACCEPT_SCHEMA:
			o.accept_schema_change = 1;
			break;
		case OPT_ASSUME_COMPLETE:
			o.assume_complete = 1;
			break;
		case OPT_PROFILE:
			profile = optarg;
			break;
		case OPT_PREVIEW:
			o.preview = 1;
			break;
		case OPT_FULL_RESYNC:
			o.full_resync = 1;
			break;
		case OPT_SHARD:
			rx_parse_shard(optarg, &o.shard, &o.nshards);
			break;
		case OPT_MAXLINE:
			o.max_line = rx_parse_size("--max-line", optarg);
			break;
		case OPT_THREADS:
			o.threads = (int)rx_parse_number("--threads", optarg, 1, 64);
			break;
		case OPT_COMMIT:
			commit = 1;
			break;
		case OPT_COMMIT_EVERY:
			o.commit_every = rx_parse_number("--commit-every", optarg, 1, (long long)1 << 62);
			break;
		case OPT_STATUS:
			status_mode = 1;
			break;
		case OPT_HEALTH:
			health_mode = 1;
			break;
		case OPT_MAX_AGE:
			health.max_age = rx_diff_parse_age("--max-age", optarg);
			health.max_age_text = optarg;
			break;
		case OPT_MAX_ERROR_RATE: {
			char *end;
			health.max_error_rate = strtod(optarg, &end);
			if (end == optarg || *end != '\0' || !(health.max_error_rate >= 0 && health.max_error_rate <= 1))
				rx_usage_error("--max-error-rate: '%s' is not a number from 0 to 1", optarg);
			break;
		}
		case OPT_JSON:
			health.json = 1;
			break;
		case OPT_SYNC:
			o.sync = optarg;
			break;
		case OPT_KEEP_RUNS:
			o.keep_runs = rx_parse_number("--keep-runs", optarg, 0, (long long)1 << 62);
			break;
		case OPT_METRICS:
			o.metrics = optarg;
			break;
		case OPT_COUNT_RECORD:
			o.count_record = 1;
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
	if (health_mode || (status_mode && (optind < argc || o.state == NULL))) {
		/* the views over many syncs: states, folders of them, patterns */
		if (commit || (health_mode && status_mode))
			rx_usage_error("give one of --commit, --status and --health");
		if (o.state != NULL)
			argv[--optind] = (char *)o.state;
		if (optind >= argc)
			rx_usage_error("no state: give state files or folders of them");
		status = health_mode ? rx_diff_health(argv + optind, argc - optind, &health)
				     : rx_diff_status_many(argv + optind, argc - optind, health.json);
		free_columns(o.key_cols, o.nkey_cols);
		free_columns(o.ignore_cols, o.nignore_cols);
		return status;
	}
	if (health.json)
		rx_usage_error("--json goes with --status STATE|DIR... or --health");
	if (optind < argc)
		rx_usage_error("unexpected argument '%s'", argv[optind]);
	if (o.state == NULL)
		rx_usage_error("no state: give --state FILE");
	if (commit && status_mode)
		rx_usage_error("give one of --commit and --status");
	if (commit || status_mode) {
		if (o.nkey_cols > 0 || o.nignore_cols > 0 || o.nshards > 0 || o.changed_only || o.full_resync ||
		    o.preview)
			rx_usage_error("--key, --ignore, --shard, --changed-only, --full-resync and --preview go with a "
				       "stage run");
	} else if (o.nkey_cols == 0) {
		rx_usage_error("no key: give --key COL[,COL...]");
	}

	if (profile != NULL && !ratio_given)
		o.max_delete_ratio = profile_delete_ratio(profile, o.max_delete_ratio);
	o.destination = profile;

	if (status_mode) {
		sqlite3 *db = NULL;
		rx_writer w;
		char err[1024];
		status = RX_EXIT_OK;
		if (rx_diff_state_open(o.state, 0, &db, err, sizeof err) < 0) {
			rx_diag("%s", err);
			return RX_EXIT_FAIL;
		}
		rx_writer_init(&w, 1);
		if (rx_diff_status(db, &w, err, sizeof err) < 0) {
			rx_diag("%s", err);
			status = RX_EXIT_FAIL;
		}
		if (rx_writer_finish(&w, "output") < 0 && status == RX_EXIT_OK)
			status = RX_EXIT_IOERR;
		rx_buf_free(&w.buf);
		sqlite3_close(db);
	} else if (commit) {
		status = rx_diff_commit(&o);
	} else {
		status = rx_diff_stage(&o);
	}
	if (o.metrics != NULL && !o.preview && access(o.state, F_OK) == 0) {
		/* the sync's metrics, from its state, whatever the run did */
		char err[1024];
		if (rx_diff_metrics(o.state, o.metrics, err, sizeof err) < 0) {
			rx_diag("%s", err);
			if (status == RX_EXIT_OK)
				status = RX_EXIT_IOERR;
		}
	}
	free_columns(o.key_cols, o.nkey_cols);
	free_columns(o.ignore_cols, o.nignore_cols);
	return status;
}
