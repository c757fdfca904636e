-- What the dashboard and the REST API add on top of the configuration; mirrors
-- migrations/sqlite/0004_web.sql. Times are Unix milliseconds (UTC).

-- Targets added to a target list at run time.
CREATE TABLE web_targets (
    list     TEXT   NOT NULL,
    target   TEXT   NOT NULL, -- the target's key (TargetRef::key)
    raw      TEXT   NOT NULL, -- as the operator wrote it
    added_at BIGINT NOT NULL,
    PRIMARY KEY (list, target)
);

-- The deliveries log filters by broadcaster and by target, newest first.
CREATE INDEX deliveries_broadcaster_updated ON deliveries (broadcaster, updated_at);
CREATE INDEX deliveries_target_updated ON deliveries (target, updated_at);
