-- Mirrors migrations/sqlite/0008_delivery_indexes.sql (issue 18): keep one index holding
-- `updated_at` (rewritten at each outcome) and index account and target alone (written once,
-- at the pending insert).
DROP INDEX deliveries_random_id;
DROP INDEX deliveries_broadcaster_updated;
DROP INDEX deliveries_account_updated;
DROP INDEX deliveries_target_updated;
CREATE INDEX deliveries_account ON deliveries (account);
CREATE INDEX deliveries_target ON deliveries (target);
