#!/bin/sh
# rx-extract --dbt-model NAME: the relation dbt built for a model, from
# the project's target/manifest.json, quoted for the source in use; the
# example project (examples/dbt) syncs through it.
. "$(dirname "$0")/lib.sh"

test_expect_success 'setup: a warehouse and a small manifest' '
	mkdir -p proj/target &&
	sqlite3 wh.db "create table customers(id text, email text); insert into customers values(\"C1\", \"a@x.com\"), (\"C2\", null);
		create view dim_customers as select * from customers where email is not null;
		create table stg_orders(id int)" &&
	cat >proj/target/manifest.json <<-\EOF2
	{"metadata": {"project_name": "shop", "dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json"},
	 "nodes": {
	  "model.shop.dim_customers": {"resource_type": "model", "name": "dim_customers", "package_name": "shop",
	    "database": "analytics", "schema": "main", "alias": "dim_customers", "config": {"materialized": "view"}},
	  "model.shop.orders": {"resource_type": "model", "name": "orders", "package_name": "shop",
	    "database": "analytics", "schema": "main", "alias": "stg_orders", "config": {"materialized": "table"}},
	  "model.shop.tmp": {"resource_type": "model", "name": "tmp", "package_name": "shop",
	    "database": "analytics", "schema": "main", "alias": "tmp", "config": {"materialized": "ephemeral"}},
	  "model.utils.orders": {"resource_type": "model", "name": "orders", "package_name": "utils",
	    "database": "analytics", "schema": "utils", "alias": "orders", "config": {"materialized": "view"}},
	  "model.a.dup": {"resource_type": "model", "name": "dup", "package_name": "a", "schema": "main", "alias": "x"},
	  "model.b.dup": {"resource_type": "model", "name": "dup", "package_name": "b", "schema": "main", "alias": "y"},
	  "test.shop.unique_dim_customers_id": {"resource_type": "test", "name": "dim_customers", "package_name": "shop",
	    "schema": "main", "alias": "nope"}
	 },
	 "disabled": {"model.shop.old": [{"resource_type": "model", "name": "old", "package_name": "shop"}]}}
	EOF2
'

test_expect_success 'a model by name: its relation, every row, and the end record' '
	rx-extract --sqlite wh.db --dbt-model dim_customers --dbt-project proj >out &&
	echo "{\"id\":\"C1\",\"email\":\"a@x.com\"}" >expect &&
	rows_of out >got && test_cmp expect got &&
	test_end 1 out
'

test_expect_success 'the alias names the relation; the root project wins over a package' '
	rx-extract --sqlite wh.db --dbt-model orders --dbt-manifest proj/target/manifest.json >out &&
	test_end 0 out &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model utils.orders --dbt-project proj 2>err &&
	test_grep "no such table: utils.orders" err
'

test_expect_success 'for PostgreSQL the relation names its database too' '
	test_expect_code 1 rx-extract --postgres "host=/nonexistent dbname=x" --dbt-model dim_customers --dbt-project proj 2>err &&
	! grep -q "dbt" err
'

test_expect_success 'ephemeral, disabled, missing, ambiguous: one line each, exit 1' '
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model tmp --dbt-project proj 2>err &&
	test_grep "^rx-extract: dbt model .tmp. (model.shop.tmp) is ephemeral" err &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model old --dbt-project proj 2>err &&
	test_grep "^rx-extract: dbt model .old. is disabled" err &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model nope --dbt-project proj 2>err &&
	test_grep "^rx-extract: no dbt model .nope. in .proj/target/manifest.json." err &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model dup --dbt-project proj 2>err &&
	test_grep "in more than one package" err &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model dim_customers --dbt-project nowhere 2>err &&
	test_grep "nowhere/target/manifest.json" err &&
	echo "[1,2" >bad.json &&
	test_expect_code 1 rx-extract --sqlite wh.db --dbt-model x --dbt-manifest bad.json 2>err &&
	test_grep "^rx-extract: dbt manifest .bad.json." err
'

test_expect_success 'usage: --dbt-model is a third way to name the model, for SQL sources' '
	test_expect_code 2 rx-extract --sqlite wh.db --dbt-model a --table t 2>err &&
	test_expect_code 2 rx-extract --csv x.csv --dbt-model a 2>err &&
	test_expect_code 2 rx-extract --sqlite wh.db --dbt-project proj 2>err &&
	test_grep "go with --dbt-model" err
'

test_expect_success 'the example project: the exposure names the sync, which runs through the model' '
	cp -R "$RX_TOP/examples" ex &&
	sqlite3 ex/warehouse.db <ex/warehouse.sql && sqlite3 ex/app.db <ex/app-schema.sql &&
	jq -r ".exposures[] | .depends_on.nodes[0], .meta.rx.script" ex/dbt/target/manifest.json >got &&
	printf "model.rx_example.rx_customers\nexamples/sync-dbt.sh\n" >expect && test_cmp expect got &&
	grep -q "ref(.rx_customers.)" ex/dbt/models/exposures.yml &&
	ex/sync-dbt.sh 2>err &&
	test "$(sqlite3 ex/app.db "select count(*) from customers")" = \
		"$(sqlite3 ex/warehouse.db "select count(*) from customer_model where email is not null")" &&
	rx-diff --health ex/state/app-dbt.db >health &&
	test_grep "^app-dbt: healthy" health
'

test_done
