# lib-notion.sh - what the Notion tests (t/5640, t/5641) share: the
# model the example sync writes, what the fake holds of it, and a change
# of the example warehouse (an e-mail moved, a country, two customers
# gone, one new), and a test both versions run.  Sourced after lib-dest.sh.

# the model's pages, as the example mapping makes them: key, name, e-mail,
# plan, country, lifetime value (tab-separated, sorted)
model () {
	rx-extract --sqlite examples/warehouse.db --query-file examples/models/customers.sql |
	rx-map -f examples/mappings/notion.jq | rows_of - |
	jq -r "[.rx_key, .Name, .Email.email, .Plan.select.name, .Country.select.name, .\"Lifetime value\"] | @tsv" | sort
}
# the same of what the fake NAME holds
held () {
	fake_state "$1" | jq -r ".records | to_entries[] | .value.row | [.rx_key, .Name, .Email, .Plan.select.name, .Country.select.name, .\"Lifetime value\"] | @tsv" | sort
}
# the warehouse changed: C00003 renamed and moved, C00004 to FR, C00005
# and C00006 gone, C09999 new
change_warehouse () {
	sqlite3 examples/warehouse.db "
		UPDATE customers SET email = \"moved@example.com\", first_name = \"Renamed\" WHERE id = \"C00003\";
		UPDATE customers SET country = \"FR\" WHERE id = \"C00004\";
		DELETE FROM orders WHERE customer_id IN (\"C00005\", \"C00006\");
		DELETE FROM churn_scores WHERE customer_id IN (\"C00005\", \"C00006\");
		DELETE FROM customers WHERE id IN (\"C00005\", \"C00006\");
		INSERT INTO customers VALUES (\"C09999\", \"new@example.com\", \"Ana\", \"Souza\", NULL, \"BR\", 2, \"2026-01-01T00:00:00Z\")"
}

# notion_partial_failure NAME: of two updates (C1, C3, by the ids in
# acks.first), the one Notion refuses is dead-lettered with its message,
# the other acked; C1 keeps NAME, the name it had.  Against the fake nt,
# through the test's own nt function (its version's environment).
notion_partial_failure () {
	C1_NAME=$1
	test_expect_success 'partial failure: of two updates, the one Notion refuses is dead-lettered with its message, the other acked' '
		printf "%s\n" "{\"op\":\"update\",\"key\":\"C1\",\"hash\":\"h1c\",\"id\":\"$(id_of C1 acks.first)\",\"row\":{\"rx_key\":\"C1\",\"Name\":\"Ada\",\"_bad\":1}}" \
			"{\"op\":\"update\",\"key\":\"C3\",\"hash\":\"h3c\",\"id\":\"$(id_of C3 acks.first)\",\"row\":{\"rx_key\":\"C3\",\"City\":\"Basel\"}}" >mixed &&
		test_expect_code 3 nt nt rx-push --profile notion-pages <mixed >acks 2>err &&
		acked acks >got && echo C3 >expect && test_cmp expect got &&
		dead err >got && echo C1 >expect && test_cmp expect got && test_grep "validation_error: _bad is not a property that exists" err &&
		fake_state nt | jq -r ".records.C3.row.City, .records.C1.row.Name" >got && printf "Basel\n%s\n" "$C1_NAME" >expect && test_cmp expect got
	'
}
