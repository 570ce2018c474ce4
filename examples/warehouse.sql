-- examples/warehouse.sql - the example warehouse: 3,000 customers, their
-- plans, orders and churn scores.  Deterministic (no random()), so every
-- machine builds the same warehouse.db:
--     sqlite3 examples/warehouse.db < examples/warehouse.sql
BEGIN;

CREATE TABLE plans (
  id            INTEGER PRIMARY KEY,
  name          TEXT NOT NULL,
  monthly_price REAL NOT NULL
);
INSERT INTO plans VALUES (1, 'free', 0), (2, 'starter', 29), (3, 'pro', 99), (4, 'enterprise', 1499.5);

CREATE TABLE first_names (i INTEGER PRIMARY KEY, name TEXT);
INSERT INTO first_names (name) VALUES
  ('Ada'), ('José'), ('Zoë'), ('Søren'), ('Chloé'), ('Mateus'), ('Yuki'), ('Björn'),
  ('Amélie'), ('Ngozi'), ('Ольга'), ('李'), ('Priya'), ('Łukasz'), ('Ömer'), ('Siobhán'),
  ('Kwame'), ('Ana'), ('Dmitri'), ('Hana');
CREATE TABLE last_names (i INTEGER PRIMARY KEY, name TEXT);
INSERT INTO last_names (name) VALUES
  ('Lovelace'), ('García'), ('Müller'), ('Kierkegaard'), ('Dubois'), ('Silva'), ('田中'),
  ('Andersson'), ('Nguyễn'), ('Okafor'), ('Иванова'), ('王'), ('Sharma'), ('Wałęsa'),
  ('Yılmaz'), ('O''Brien'), ('Mensah'), ('Souza'), ('Petrov'), ('Kim');
CREATE TABLE countries (i INTEGER PRIMARY KEY, code TEXT);
INSERT INTO countries (code) VALUES ('US'), ('DE'), ('FR'), ('BR'), ('JP'), ('GB'), ('IN'), ('NG');

CREATE TABLE customers (
  id         TEXT PRIMARY KEY,   -- 'C00001'
  email      TEXT,               -- NULL for a few leads without one
  first_name TEXT NOT NULL,
  last_name  TEXT NOT NULL,
  phone      TEXT,               -- free-form, as people type them; often NULL
  country    TEXT NOT NULL,
  plan_id    INTEGER NOT NULL REFERENCES plans(id),
  created_at TEXT NOT NULL       -- ISO 8601
);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3000)
INSERT INTO customers
SELECT printf('C%05d', x),
       CASE WHEN x % 97 = 0 THEN NULL
            WHEN x % 13 = 0 THEN printf('  User.%d@Example.COM ', x)
            ELSE printf('user%d@example.com', x) END,
       (SELECT name FROM first_names WHERE i = 1 + x % 20),
       (SELECT name FROM last_names WHERE i = 1 + (x * 7) % 20),
       CASE WHEN x % 3 = 0 THEN NULL
            WHEN x % 3 = 1 THEN printf('+1 (555) %03d-%04d', x % 1000, (x * 37) % 10000)
            ELSE printf('030 %04d %03d', (x * 11) % 10000, x % 1000) END,
       (SELECT code FROM countries WHERE i = 1 + (x * 3) % 8),
       1 + (x * x) % 4,
       printf('2024-%02d-%02dT%02d:%02d:00Z', 1 + x % 12, 1 + x % 28, x % 24, x % 60)
FROM n;

CREATE TABLE orders (
  id          INTEGER PRIMARY KEY,
  customer_id TEXT NOT NULL REFERENCES customers(id),
  amount      REAL NOT NULL,
  ordered_at  TEXT NOT NULL
);
WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 12000)
INSERT INTO orders
SELECT x,
       printf('C%05d', 1 + (x * 7919) % 2900),   -- the last 100 customers never ordered
       ((x * 31) % 50000) / 100.0 + 5,
       printf('2025-%02d-%02dT12:00:00Z', 1 + x % 12, 1 + x % 28)
FROM n;

CREATE TABLE churn_scores (
  customer_id TEXT PRIMARY KEY REFERENCES customers(id),
  churn_risk  REAL               -- 0..1; NULL where the model had too little data
);
INSERT INTO churn_scores
SELECT id, CASE WHEN rowid % 50 = 0 THEN NULL ELSE ((rowid * 7907) % 1000) / 1000.0 END
FROM customers;

-- Erasure requests (GDPR art. 17): customers whose data every downstream
-- tool must delete.  examples/gdpr-delete.sh syncs them as tombstones.
CREATE TABLE gdpr_requests (
  customer_id  TEXT PRIMARY KEY,
  requested_at TEXT NOT NULL
);
INSERT INTO gdpr_requests VALUES ('C00007', '2026-11-02T09:12:00Z'), ('C00777', '2026-11-15T16:40:00Z');

-- The model: one row per customer, what the business tools want to know.
CREATE VIEW customer_model AS
SELECT c.id,
       trim(lower(c.email)) AS email,
       c.first_name,
       c.last_name,
       c.phone,
       c.country,
       p.name AS plan,
       round(sum(o.amount), 2) AS ltv,
       count(o.id) AS order_count,
       max(o.ordered_at) AS last_order_at,
       s.churn_risk
FROM customers c
JOIN plans p ON p.id = c.plan_id
LEFT JOIN orders o ON o.customer_id = c.id
LEFT JOIN churn_scores s ON s.customer_id = c.id
GROUP BY c.id;

COMMIT;
