-- Tombstones: one row per customer to erase, keyed like the destination.
SELECT customer_id AS id FROM gdpr_requests ORDER BY customer_id
