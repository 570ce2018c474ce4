-- An account audience: the accounts with customers likely to churn, for
-- a win-back campaign aimed at their companies.  The example warehouse
-- has no accounts, so the customers of one last name stand in for one (a
-- family business), in the country of its first such customer.  Accounts
-- that leave it are removed from the audience (mirror mode).
SELECT last_name, min(country) AS country, count(*) AS at_risk
FROM customer_model
WHERE churn_risk > 0.5
GROUP BY last_name
ORDER BY last_name
