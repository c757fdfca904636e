-- The seed's switch_targets: which target list a broadcaster posts to, chosen by the operator
-- (`sendmessagebot targets switch test|prod [--broadcaster NAME]`) and kept across restarts.
-- `broadcaster` = '*' is the choice for every broadcaster without a row of its own.
-- Times are Unix milliseconds (UTC).
CREATE TABLE target_switch (
    broadcaster TEXT PRIMARY KEY,
    mode        TEXT    NOT NULL CHECK (mode IN ('prod', 'test')),
    since       INTEGER NOT NULL
);
