-- One row per country: the companies examples/sync-hubspot-companies.sh writes.
SELECT country, count(*) AS customers, round(coalesce(sum(ltv), 0), 2) AS revenue
FROM customer_model GROUP BY country ORDER BY country
