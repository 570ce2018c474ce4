-- An audience: customers likely to churn.  Members who leave it are
-- removed from the destination (mirror mode).
SELECT id, email, first_name, plan, churn_risk
FROM customer_model
WHERE churn_risk > 0.7 AND email IS NOT NULL
ORDER BY id
