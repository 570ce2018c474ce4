-- One row per order of December 2025: the deals examples/sync-hubspot-deals.sh writes.
SELECT o.id AS order_id, o.customer_id, o.amount, o.ordered_at
FROM orders o
WHERE o.ordered_at >= '2025-12-01'
ORDER BY o.id
