# lib-notion.sh - what the Notion tests (t/5640, t/5641) share: the
# model the example sync writes, what the fake holds of it, and a change
# of the example warehouse (an e-mail moved, a country, two customers
# gone, one new).  Sourced after lib-dest.sh and dest_examples.

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
