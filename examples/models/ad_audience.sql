-- An ad audience: customers likely to churn, with what ad networks match
-- people on (e-mail, phone, name, country), for a win-back campaign.
-- Members who leave it are removed from the audience (mirror mode).
SELECT id, email, phone, first_name, last_name, country
FROM customer_model
WHERE churn_risk > 0.7 AND email IS NOT NULL
ORDER BY id
