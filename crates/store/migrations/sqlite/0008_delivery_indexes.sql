-- Issue 18: each delivery is written twice (pending, then its outcome), and the outcome sets
-- `updated_at`, so every index holding `updated_at` was rewritten at each outcome. Keep one
-- such index (time ranges: stats, series, the log's order, the journal's restore) and index
-- account and target alone: they are written once, at the pending insert.
-- Unused: deliveries_random_id (no query looks a delivery up by its random_id) and
-- deliveries_broadcaster_updated (the log's `?1 IS NULL OR broadcaster = ?1` filter walks
-- deliveries_updated; a cycle's rows come from the (broadcaster, cycle, target) key).
DROP INDEX deliveries_random_id;
DROP INDEX deliveries_broadcaster_updated;
DROP INDEX deliveries_account_updated;
DROP INDEX deliveries_target_updated;
CREATE INDEX deliveries_account ON deliveries (account);
CREATE INDEX deliveries_target ON deliveries (target);
