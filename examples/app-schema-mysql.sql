-- examples/app-schema-mysql.sql - the application database of the demo,
-- in MySQL or MariaDB (examples/sync-mysql.sh syncs the customer model
-- into it): its own column (created_at) the sync never touches, money as
-- DECIMAL, InnoDB and utf8mb4.
CREATE TABLE IF NOT EXISTS customers (
  id             VARCHAR(16) PRIMARY KEY,
  email          VARCHAR(255),
  name           VARCHAR(255) NOT NULL,
  phone          VARCHAR(32),
  country        CHAR(2),
  plan           VARCHAR(32),
  lifetime_value DECIMAL(12,2),
  orders         INT,
  churn_risk     DOUBLE,
  created_at     TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
  UNIQUE KEY customers_email (email)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;
