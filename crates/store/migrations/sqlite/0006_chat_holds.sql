-- Why a target is held back by its chat's rules (min_gap, days, hours, max_per_day) or slow
-- mode, and the next moment a post is allowed there; for `stats` and the dashboard. One row per
-- target, the latest hold. Times are Unix milliseconds (UTC).
CREATE TABLE chat_holds (
    target TEXT PRIMARY KEY,
    reason TEXT    NOT NULL,
    until  INTEGER NOT NULL,
    at     INTEGER NOT NULL
);
