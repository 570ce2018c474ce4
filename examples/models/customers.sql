-- One row per customer: the model every example syncs.
SELECT * FROM customer_model ORDER BY id
