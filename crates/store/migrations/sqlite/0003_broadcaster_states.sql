-- Operator commands that must survive a restart: a paused or stopped broadcaster stays so.
CREATE TABLE broadcaster_states (
    broadcaster TEXT PRIMARY KEY,
    state       TEXT    NOT NULL CHECK (state IN ('running', 'paused', 'stopped')),
    since       INTEGER NOT NULL
);
