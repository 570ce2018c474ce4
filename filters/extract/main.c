/*
 * rx-extract - read a source and write its rows as NDJSON.
 *
 * Streams: one row in memory at a time, whatever the source.  Numbers a
 * double cannot hold exactly leave as strings (DESIGN.md "Numbers").
 * Exit: 0 done, 1 source error, 2 usage, 65 bad input data, 74 output.
 */
#include "extract.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void usage(void)
{
	printf("Usage: rx-extract SOURCE [OPTION]...\n"
	       "Read rows from a source and write them as JSON objects, one a line.\n"
	       "Streams: one row is held at a time.\n"
	       "\n"
	       "Sources (one):\n"
	       "      --sqlite FILE        a SQLite database; with --query or --table\n"
	       "      --postgres CONNINFO  a PostgreSQL server (libpq conninfo or URI; '' uses\n"
	       "                           $PGHOST, $PGDATABASE...); with --query or --table\n"
	       "      --mysql CONNINFO     a MySQL or MariaDB server (key=value settings: host,\n"
	       "                           port, socket, user, database...; the password from\n"
	       "                           $MYSQL_PWD or an option file); with --query or --table\n"
	       "      --clickhouse URL     a ClickHouse server's HTTP interface (http://host:8123;\n"
	       "                           $CLICKHOUSE_USER, $CLICKHOUSE_PASSWORD); with --query or --table\n"
	       "      --csv FILE           a CSV file with a header row ('-' for stdin)\n"
	       "      --ndjson FILE        JSON objects, one a line, validated ('-' for stdin)\n"
	       "      --snowflake ACCOUNT  Snowflake: an account identifier (myorg-myacct,\n"
	       "                           xy12345.us-east-1) or URL; a key pair from\n"
	       "                           $SNOWFLAKE_PRIVATE_KEY_FILE, or $SNOWFLAKE_TOKEN\n"
	       "      --bigquery PROJECT   BigQuery: the project that runs the query; credentials\n"
	       "                           from --credentials FILE, $GOOGLE_OAUTH_ACCESS_TOKEN\n"
	       "                           or $GOOGLE_APPLICATION_CREDENTIALS\n"
	       "      --databricks HOST    a Databricks workspace, with --warehouse ID;\n"
	       "                           $DATABRICKS_TOKEN\n"
	       "\n"
	       "Options:\n"
	       "  -q, --query SQL          the model's query\n"
	       "      --query-file FILE    read the query from FILE\n"
	       "  -t, --table NAME         every row of a table\n"
	       "      --dbt-model NAME     every row of a dbt model's relation, from the manifest\n"
	       "      --dbt-project DIR    the dbt project (default .): DIR/target/manifest.json\n"
	       "      --dbt-manifest FILE  the manifest itself\n"
	       "  -d, --delimiter C        CSV field delimiter (default ',', 'tab' for a tab)\n"
	       "      --infer              CSV: integers, decimals, true/false as JSON; empty as null\n"
	       "      --types COL=TYPE,... CSV: int, float, bool, string or json for these columns\n"
	       "      --shard I/N          keep only rows whose --key falls in shard I of N\n"
	       "      --key COL[,COL...]   the key columns, for --shard\n"
	       "      --max-line BYTES     longest NDJSON line or ClickHouse row accepted (default 64M)\n"
	       "\n"
	       "Warehouse options (--snowflake, --bigquery, --databricks):\n"
	       "      --user NAME          Snowflake: the user (default $SNOWFLAKE_USER)\n"
	       "      --warehouse NAME     Snowflake: the warehouse; Databricks: its id\n"
	       "      --role NAME          Snowflake: the role\n"
	       "      --database NAME      Snowflake: the database\n"
	       "      --catalog NAME       Databricks: the catalog\n"
	       "      --schema NAME        Snowflake, Databricks: the schema\n"
	       "      --location LOC       BigQuery: where the job runs (EU, US, europe-west1)\n"
	       "      --credentials FILE   BigQuery: a service account's or user's key file\n"
	       "      --disposition D      Databricks: external-links (default) or inline\n"
	       "      --timeout SECONDS    cancel the query if it runs longer\n"
	       "      --retries N          retries of a throttled or failed request (default 5)\n"
	       "      --base-url URL       the service's address (a proxy, a test server)\n"
	       "  -u, --unbuffered         write each row at once\n"
	       "      --metrics FILE       write the run's metrics for Prometheus's textfile collector\n"
	       "      --sync NAME          the sync label of the metrics (default: FILE's name)\n"
	       "  -h, --help               show this help and exit\n"
	       "  -V, --version            show the version and exit\n"
	       "\n"
	       "Example:\n"
	       "  rx-extract --sqlite warehouse.db --query 'select * from customers'\n"
	       "\n"
	       "See rx-extract(1).\n");
	exit(RX_EXIT_OK);
}

static void parse_types(extract_options *o, const char *arg)
{
	char *copy = rx_xstrdup(arg), *save = NULL;

	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');
		char kind;
		if (eq == NULL || eq == item)
			rx_usage_error("--types: '%s' is not COL=TYPE", item);
		*eq = '\0';
		const char *t = eq + 1;
		if (strcmp(t, "int") == 0 || strcmp(t, "integer") == 0)
			kind = 'i';
		else if (strcmp(t, "float") == 0 || strcmp(t, "number") == 0 || strcmp(t, "decimal") == 0)
			kind = 'f';
		else if (strcmp(t, "bool") == 0 || strcmp(t, "boolean") == 0)
			kind = 'b';
		else if (strcmp(t, "string") == 0 || strcmp(t, "text") == 0)
			kind = 's';
		else if (strcmp(t, "json") == 0)
			kind = 'j';
		else
			rx_usage_error("--types: unknown type '%s' for column '%s' (int, float, bool, string, json)", t, item);
		o->type_cols = rx_xrealloc(o->type_cols, (o->ntypes + 1) * sizeof *o->type_cols);
		o->type_kinds = rx_xrealloc(o->type_kinds, o->ntypes + 1);
		o->type_cols[o->ntypes] = rx_xstrdup(item);
		o->type_kinds[o->ntypes] = kind;
		o->ntypes++;
	}
	free(copy);
}

static char **key_columns;
static size_t nkey_columns;

static void parse_key(const char *arg)
{
	char *copy = rx_xstrdup(arg), *save = NULL;

	for (char *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		key_columns = rx_xrealloc(key_columns, (nkey_columns + 1) * sizeof *key_columns);
		key_columns[nkey_columns++] = rx_xstrdup(item);
	}
	free(copy);
	if (nkey_columns == 0)
		rx_usage_error("--key: no column named");
}

/* What the end record says */
static long long rows_written, upstream_rejected;
static int upstream_incomplete;

void rx_extract_upstream(long long rejected, int complete)
{
	upstream_rejected = rejected;
	upstream_incomplete = !complete;
}

int rx_extract_check_columns(const char *source, const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (strcmp(names[i], "$rx") == 0) {
			rx_diag("%s: column %zu is named '$rx', which rx keeps for its control records: rename it",
				source, i + 1);
			return -1;
		}
		for (size_t j = 0; j < i; j++)
			if (strcmp(names[i], names[j]) == 0) {
				rx_diag("%s: columns %zu and %zu are both named '%s' (a join's select *?): a row cannot "
					"hold both; name them apart with AS",
					source, j + 1, i + 1, names[i]);
				return -1;
			}
	}
	return 0;
}

void rx_extract_row(rx_writer *out, size_t start, const extract_options *o)
{
	if (o->nshards > 0) {
		static rx_members ms;
		static rx_buf key;
		char err[256];
		const char *row = out->buf.data + start;
		size_t n = out->buf.len - start;
		rx_buf_reset(&key);
		if (rx_json_scan_object(row, n, &ms, err, sizeof err) < 0 ||
		    rx_key_of(&ms, key_columns, nkey_columns, &key) < 0) {
			/* no key: not this stage's call to drop it; shard 1 keeps it so
			 * that rx-diff reports it exactly once */
			if (o->shard != 1)
				out->buf.len = start;
		} else if (rx_shard_of(key.data, key.len, o->nshards) != o->shard) {
			out->buf.len = start;
		}
		if (out->buf.len == start) {
			out->buf.data[start] = '\0';
			return;
		}
	}
	rx_buf_putc(&out->buf, '\n');
	rows_written++;
	rx_writer_record(out);
	rx_killpoint("row");
}

void rx_extract_put_int(rx_buf *b, long long v)
{
	const long long limit = 9007199254740992LL; /* 2^53 */

	if (v > limit || v < -limit) {
		rx_buf_putc(b, '"');
		rx_json_put_int(b, v);
		rx_buf_putc(b, '"');
	} else {
		rx_json_put_int(b, v);
	}
}

void rx_extract_put_number(rx_buf *b, const char *s, size_t n)
{
	if (rx_json_number_exact(s, n)) {
		rx_buf_put(b, s, n);
	} else {
		rx_buf_putc(b, '"');
		rx_buf_put(b, s, n);
		rx_buf_putc(b, '"');
	}
}

int main(int argc, char **argv)
{
	enum { OPT_SQLITE = 256, OPT_CSV, OPT_NDJSON, OPT_POSTGRES, OPT_INFER, OPT_TYPES,
	       OPT_MAXLINE, OPT_QUERYFILE, OPT_SHARD, OPT_KEY,
	       OPT_SNOWFLAKE, OPT_BIGQUERY, OPT_DATABRICKS, OPT_USER, OPT_WAREHOUSE, OPT_ROLE, OPT_DATABASE,
	       OPT_CATALOG, OPT_SCHEMA, OPT_LOCATION, OPT_CREDENTIALS, OPT_DISPOSITION, OPT_TIMEOUT,
	       OPT_RETRIES, OPT_BASEURL, OPT_CLICKHOUSE, OPT_MYSQL, OPT_DBT_MODEL, OPT_DBT_PROJECT, OPT_DBT_MANIFEST,
	       OPT_METRICS, OPT_SYNC };
	static const struct option longopts[] = {
		{"sqlite", required_argument, NULL, OPT_SQLITE},
		{"csv", required_argument, NULL, OPT_CSV},
		{"ndjson", required_argument, NULL, OPT_NDJSON},
		{"postgres", required_argument, NULL, OPT_POSTGRES},
		{"mysql", required_argument, NULL, OPT_MYSQL},
		{"mariadb", required_argument, NULL, OPT_MYSQL},
		{"clickhouse", required_argument, NULL, OPT_CLICKHOUSE},
		{"query", required_argument, NULL, 'q'},
		{"query-file", required_argument, NULL, OPT_QUERYFILE},
		{"table", required_argument, NULL, 't'},
		{"dbt-model", required_argument, NULL, OPT_DBT_MODEL},
		{"dbt-project", required_argument, NULL, OPT_DBT_PROJECT},
		{"dbt-manifest", required_argument, NULL, OPT_DBT_MANIFEST},
		{"metrics", required_argument, NULL, OPT_METRICS},
		{"sync", required_argument, NULL, OPT_SYNC},
		{"delimiter", required_argument, NULL, 'd'},
		{"infer", no_argument, NULL, OPT_INFER},
		{"types", required_argument, NULL, OPT_TYPES},
		{"shard", required_argument, NULL, OPT_SHARD},
		{"key", required_argument, NULL, OPT_KEY},
		{"max-line", required_argument, NULL, OPT_MAXLINE},
		{"snowflake", required_argument, NULL, OPT_SNOWFLAKE},
		{"bigquery", required_argument, NULL, OPT_BIGQUERY},
		{"databricks", required_argument, NULL, OPT_DATABRICKS},
		{"user", required_argument, NULL, OPT_USER},
		{"warehouse", required_argument, NULL, OPT_WAREHOUSE},
		{"role", required_argument, NULL, OPT_ROLE},
		{"database", required_argument, NULL, OPT_DATABASE},
		{"catalog", required_argument, NULL, OPT_CATALOG},
		{"schema", required_argument, NULL, OPT_SCHEMA},
		{"location", required_argument, NULL, OPT_LOCATION},
		{"credentials", required_argument, NULL, OPT_CREDENTIALS},
		{"disposition", required_argument, NULL, OPT_DISPOSITION},
		{"timeout", required_argument, NULL, OPT_TIMEOUT},
		{"retries", required_argument, NULL, OPT_RETRIES},
		{"base-url", required_argument, NULL, OPT_BASEURL},
		{"unbuffered", no_argument, NULL, 'u'},
		{"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},
		{NULL, 0, NULL, 0},
	};
	extract_options o = {0};
	char *query_text = NULL;
	const char *dbt_model = NULL, *dbt_project = NULL, *dbt_manifest = NULL, *metrics = NULL, *sync = NULL;
	double started = rx_metrics_now();
	int kind = 0, c, unbuffered = 0, status;
	rx_writer out;

	rx_init("rx-extract");
	argv[0] = (char *)rx_progname; /* getopt's messages name the program, not its path */
	o.delimiter = ',';
	o.retries = 5;
	int warehouse_option = 0; /* an option only the HTTP warehouses take */
	while ((c = getopt_long(argc, argv, "q:t:d:uhV", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SQLITE: case OPT_CSV: case OPT_NDJSON: case OPT_POSTGRES: case OPT_CLICKHOUSE:
		case OPT_SNOWFLAKE: case OPT_BIGQUERY: case OPT_DATABRICKS: case OPT_MYSQL:
			if (kind != 0)
				rx_usage_error("give one source (--sqlite, --postgres, --mysql, --clickhouse, --csv, "
					       "--ndjson, --snowflake, --bigquery or --databricks)");
			kind = c;
			o.source = optarg;
			break;
		case 'q':
			o.query = optarg;
			break;
		case OPT_QUERYFILE:
			free(query_text);
			o.query = query_text = rx_read_file(optarg);
			break;
		case 't':
			o.table = optarg;
			break;
		case OPT_DBT_MODEL:
			dbt_model = optarg;
			break;
		case OPT_DBT_PROJECT:
			dbt_project = optarg;
			break;
		case OPT_DBT_MANIFEST:
			dbt_manifest = optarg;
			break;
		case OPT_METRICS:
			metrics = optarg;
			break;
		case OPT_SYNC:
			sync = optarg;
			break;
		case 'd':
			if (strcmp(optarg, "tab") == 0 || strcmp(optarg, "\\t") == 0)
				o.delimiter = '\t';
			else if (strlen(optarg) == 1 && optarg[0] != '"' && optarg[0] != '\n')
				o.delimiter = optarg[0];
			else
				rx_usage_error("--delimiter: '%s' is not one character", optarg);
			break;
		case OPT_INFER:
			o.infer = 1;
			break;
		case OPT_TYPES:
			parse_types(&o, optarg);
			break;
		case OPT_SHARD:
			rx_parse_shard(optarg, &o.shard, &o.nshards);
			break;
		case OPT_KEY:
			o.key = optarg;
			parse_key(optarg);
			break;
		case OPT_MAXLINE:
			o.max_line = rx_parse_size("--max-line", optarg);
			break;
		case OPT_USER: o.user = optarg; warehouse_option = c; break;
		case OPT_WAREHOUSE: o.warehouse = optarg; warehouse_option = c; break;
		case OPT_ROLE: o.role = optarg; warehouse_option = c; break;
		case OPT_DATABASE: o.database = optarg; warehouse_option = c; break;
		case OPT_CATALOG: o.catalog = optarg; warehouse_option = c; break;
		case OPT_SCHEMA: o.schema = optarg; warehouse_option = c; break;
		case OPT_LOCATION: o.location = optarg; warehouse_option = c; break;
		case OPT_CREDENTIALS: o.credentials = optarg; warehouse_option = c; break;
		case OPT_BASEURL: o.base_url = optarg; warehouse_option = c; break;
		case OPT_DISPOSITION:
			if (strcmp(optarg, "external-links") == 0)
				o.disposition = "EXTERNAL_LINKS";
			else if (strcmp(optarg, "inline") == 0)
				o.disposition = "INLINE";
			else
				rx_usage_error("--disposition: '%s' is not external-links or inline", optarg);
			warehouse_option = c;
			break;
		case OPT_TIMEOUT:
			o.timeout = (long)rx_parse_number("--timeout", optarg, 1, 604800);
			warehouse_option = c;
			break;
		case OPT_RETRIES:
			o.retries = (int)rx_parse_number("--retries", optarg, 0, 100);
			warehouse_option = c;
			break;
		case 'u':
			unbuffered = 1;
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
	if (optind < argc)
		rx_usage_error("unexpected argument '%s'", argv[optind]);
	if (kind == 0)
		rx_usage_error("no source: give --sqlite, --postgres, --mysql, --clickhouse, --csv, --ndjson, "
			       "--snowflake, --bigquery or --databricks");
	if ((dbt_project != NULL || dbt_manifest != NULL) && dbt_model == NULL)
		rx_usage_error("--dbt-project and --dbt-manifest go with --dbt-model");
	if (dbt_model != NULL) {
		/* a dbt model by name: the relation dbt built, as a query */
		char path[4096], err[1024];
		if (kind != OPT_SQLITE && kind != OPT_POSTGRES)
			rx_usage_error("--dbt-model goes with --sqlite or --postgres");
		if (o.query != NULL || o.table != NULL)
			rx_usage_error("give one of --query, --table or --dbt-model");
		if (dbt_manifest != NULL)
			snprintf(path, sizeof path, "%s", dbt_manifest);
		else
			snprintf(path, sizeof path, "%s/target/manifest.json", dbt_project ? dbt_project : ".");
		free(query_text);
		o.query = query_text = rx_extract_dbt_query(path, dbt_model, kind == OPT_POSTGRES, err, sizeof err);
		if (o.query == NULL)
			rx_die(RX_EXIT_FAIL, "%s", err);
	}
	int http_source = kind == OPT_SNOWFLAKE || kind == OPT_BIGQUERY || kind == OPT_DATABRICKS;
	if (kind == OPT_SQLITE || kind == OPT_POSTGRES || kind == OPT_MYSQL || kind == OPT_CLICKHOUSE || http_source) {
		if ((o.query == NULL) == (o.table == NULL))
			rx_usage_error(kind == OPT_SQLITE || kind == OPT_POSTGRES ? "give one of --query, --table or --dbt-model"
										 : "give one of --query or --table");
	} else if (o.query != NULL || o.table != NULL) {
		rx_usage_error("--query and --table go with --sqlite, --postgres, --mysql, --clickhouse or a warehouse");
	}
	if (warehouse_option && !http_source)
		rx_usage_error("the warehouse options (--user, --warehouse, --base-url...) go with --snowflake, "
			       "--bigquery or --databricks");
	if (kind == OPT_DATABRICKS && o.warehouse == NULL)
		rx_usage_error("--databricks needs --warehouse ID (the SQL warehouse's id)");
	if (kind != OPT_CSV && (o.infer || o.ntypes > 0 || o.delimiter != ','))
		rx_usage_error("--delimiter, --infer and --types go with --csv");
	if (o.nshards > 0 && o.key == NULL)
		rx_usage_error("--shard needs --key");

	rx_writer_init(&out, 1);
	out.unbuffered = unbuffered;
	switch (kind) {
	case OPT_SQLITE: status = rx_extract_sqlite(&o, &out); break;
	case OPT_CSV: status = rx_extract_csv(&o, &out); break;
	case OPT_NDJSON: status = rx_extract_ndjson(&o, &out); break;
	case OPT_MYSQL: status = rx_extract_mysql(&o, &out); break;
	case OPT_SNOWFLAKE: status = rx_extract_snowflake(&o, &out); break;
	case OPT_BIGQUERY: status = rx_extract_bigquery(&o, &out); break;
	case OPT_DATABRICKS: status = rx_extract_databricks(&o, &out); break;
	case OPT_CLICKHOUSE: status = rx_extract_clickhouse(&o, &out); break;
	default: status = rx_extract_postgres(&o, &out); break;
	}
	/* the end of the model, only when all of it was written */
	if (status == RX_EXIT_OK && !out.error && !upstream_incomplete) {
		rx_control_put_end(&out.buf, rows_written, upstream_rejected);
		rx_writer_record(&out);
	}
	if (rx_writer_finish(&out, "output") < 0 && status == RX_EXIT_OK)
		status = RX_EXIT_IOERR;
	if (metrics != NULL)
		rx_metrics_stage(metrics, sync, "extract", "read from the source and written", (double)rows_written, 0,
				 started, rx_metrics_now(), status == RX_EXIT_OK);
	rx_buf_free(&out.buf);
	free(query_text);
	for (size_t i = 0; i < o.ntypes; i++)
		free(o.type_cols[i]);
	free(o.type_cols);
	free(o.type_kinds);
	for (size_t i = 0; i < nkey_columns; i++)
		free(key_columns[i]);
	free(key_columns);
	return status;
}
