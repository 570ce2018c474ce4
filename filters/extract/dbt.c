/*
 * dbt.c - a dbt model by name: the relation dbt built it in, from the
 * project's target/manifest.json.
 *
 * dbt writes target/manifest.json whenever it parses a project (dbt run,
 * build, compile, parse; docs.getdbt.com "Manifest JSON file").  Its
 * "nodes" are keyed "model.<package>.<name>"; a model's node carries
 * "resource_type":"model", "name", "package_name", "database", "schema",
 * "alias" (the relation's name, the model's name unless configured) and
 * "config":{"materialized":...}.  An ephemeral model has no relation;
 * a disabled one is listed under "disabled" instead of "nodes".
 *
 * The relation is quoted for the source in use: "schema"."alias" for
 * SQLite (a schema is an attached database, "main" by default, as the
 * dbt-sqlite adapter does), "database"."schema"."alias" for PostgreSQL
 * (which refuses a database other than the one connected to, saying
 * so).  The model's own SQL is never run here: dbt built the relation,
 * rx reads it (SELECT *), so the rows are what dbt's tests checked.
 *
 * A name is a model's name, or "package.name" when two packages have
 * one of that name; the root project (metadata.project_name) wins over
 * an installed package.  The manifest is read whole (libjq), once.
 */
#include "extract.h"
#include "rxjq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *string_member(jv o, const char *name, char *out, size_t len)
{
	jv v = jv_object_get(jv_copy(o), jv_string(name));

	out[0] = '\0';
	if (jv_get_kind(v) == JV_KIND_STRING)
		snprintf(out, len, "%s", jv_string_value(v));
	jv_free(v);
	return out;
}

/* Is the node the model named (name, or package.name)? */
static int is_model(jv node, const char *want)
{
	char kind[32], name[512], package[512], full[1100];

	string_member(node, "resource_type", kind, sizeof kind);
	string_member(node, "name", name, sizeof name);
	string_member(node, "package_name", package, sizeof package);
	snprintf(full, sizeof full, "%s.%s", package, name);
	return strcmp(kind, "model") == 0 && (strcmp(name, want) == 0 || strcmp(full, want) == 0);
}

static int disabled(jv manifest, const char *want)
{
	jv d = jv_object_get(jv_copy(manifest), jv_string("disabled"));
	int found = 0;

	if (jv_get_kind(d) == JV_KIND_OBJECT) {
		jv_object_foreach(d, id, list)
		{
			if (jv_get_kind(list) == JV_KIND_ARRAY)
				jv_array_foreach(list, i, node)
				{
					found |= jv_get_kind(node) == JV_KIND_OBJECT && is_model(node, want);
					jv_free(node);
				}
			jv_free(id);
			jv_free(list);
		}
	}
	jv_free(d);
	return found;
}

char *rx_extract_dbt_query(const char *manifest_path, const char *model, int postgres, char *err, size_t errlen)
{
	char *text = rx_read_file(manifest_path), *query = NULL;
	char perr[512], root[512], chosen[1100] = "";
	jv manifest, nodes, best = jv_invalid();
	int matches = 0, best_is_root = 0;

	if (rx_jv_parse(text, strlen(text), &manifest, perr, sizeof perr) < 0) {
		snprintf(err, errlen, "dbt manifest '%s': %s", manifest_path, perr);
		free(text);
		return NULL;
	}
	free(text);
	jv meta = jv_object_get(jv_copy(manifest), jv_string("metadata"));
	root[0] = '\0';
	if (jv_get_kind(meta) == JV_KIND_OBJECT)
		string_member(meta, "project_name", root, sizeof root);
	jv_free(meta);
	nodes = jv_object_get(jv_copy(manifest), jv_string("nodes"));
	if (jv_get_kind(nodes) != JV_KIND_OBJECT) {
		snprintf(err, errlen, "dbt manifest '%s' has no \"nodes\": is it dbt's target/manifest.json?", manifest_path);
		goto done;
	}
	int in_root = 0, elsewhere = 0;
	jv_object_foreach(nodes, id, node)
	{
		if (jv_get_kind(node) == JV_KIND_OBJECT && is_model(node, model)) {
			char package[512];
			int is_root = root[0] && strcmp(string_member(node, "package_name", package, sizeof package), root) == 0;
			if (is_root)
				in_root++;
			else
				elsewhere++;
			if (!jv_is_valid(best) || (is_root && !best_is_root)) {
				jv_free(best);
				best = jv_copy(node);
				best_is_root = is_root;
				snprintf(chosen, sizeof chosen, "%s", jv_string_value(id));
			}
		}
		jv_free(id);
		jv_free(node);
	}
	matches = best_is_root ? in_root : elsewhere;
	if (!jv_is_valid(best)) {
		if (disabled(manifest, model))
			snprintf(err, errlen, "dbt model '%s' is disabled in '%s'", model, manifest_path);
		else
			snprintf(err, errlen, "no dbt model '%s' in '%s' (dbt writes it on dbt parse, run or build)", model,
				 manifest_path);
		goto done;
	}
	if (matches > 1) {
		snprintf(err, errlen, "dbt model '%s' is in more than one package of '%s': name it as PACKAGE.%s", model,
			 manifest_path, model);
		goto done;
	}
	char database[512], schema[512], alias[512], materialized[64] = "";
	string_member(best, "database", database, sizeof database);
	string_member(best, "schema", schema, sizeof schema);
	string_member(best, "alias", alias, sizeof alias);
	if (alias[0] == '\0')
		string_member(best, "name", alias, sizeof alias);
	jv config = jv_object_get(jv_copy(best), jv_string("config"));
	if (jv_get_kind(config) == JV_KIND_OBJECT)
		string_member(config, "materialized", materialized, sizeof materialized);
	jv_free(config);
	if (strcmp(materialized, "ephemeral") == 0) {
		snprintf(err, errlen, "dbt model '%s' (%s) is ephemeral: it has no relation to read; materialize it as a "
			 "view or a table", model, chosen);
		goto done;
	}
	rx_buf q = {0};
	rx_buf_puts(&q, "SELECT * FROM ");
	if (postgres && database[0]) {
		rx_sql_put_ident(&q, database, strlen(database));
		rx_buf_putc(&q, '.');
	}
	if (schema[0]) {
		rx_sql_put_ident(&q, schema, strlen(schema));
		rx_buf_putc(&q, '.');
	}
	rx_sql_put_ident(&q, alias, strlen(alias));
	query = q.data;
done:
	jv_free(best);
	jv_free(nodes);
	jv_free(manifest);
	return query;
}
