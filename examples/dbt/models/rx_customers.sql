-- examples/dbt/models/rx_customers.sql - the customers the application
-- database gets: one row per customer with an e-mail, keyed by id.
select *
from customer_model
where email is not null
