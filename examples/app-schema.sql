-- examples/app-schema.sql - the application database the demo syncs into:
-- what a product's own database looks like, with its own columns
-- (created_at) that the sync must never touch.
CREATE TABLE IF NOT EXISTS customers (
  id             TEXT PRIMARY KEY,
  email          TEXT,
  name           TEXT NOT NULL,
  phone          TEXT,
  country        TEXT,
  plan           TEXT,
  lifetime_value REAL,
  orders         INTEGER,
  churn_risk     REAL,
  created_at     TEXT DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now'))
);
CREATE TABLE IF NOT EXISTS churn_audience (
  id         TEXT PRIMARY KEY,
  email      TEXT NOT NULL,
  first_name TEXT,
  plan       TEXT,
  churn_risk REAL
);
