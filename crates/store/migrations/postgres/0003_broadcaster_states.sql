-- Operator commands that must survive a restart: a paused or stopped broadcaster stays so.
-- Mirrors migrations/sqlite/0003_broadcaster_states.sql.
CREATE TABLE broadcaster_states (
    broadcaster TEXT PRIMARY KEY,
    state       TEXT   NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    since       BIGINT NOT NULL
);
