-- Which target list a broadcaster posts to (`targets switch test|prod`); mirrors
-- migrations/sqlite/0005_target_switch.sql. `broadcaster` = '*' is the choice for every
-- broadcaster without a row of its own. Times are Unix milliseconds (UTC).
CREATE TABLE target_switch (
    broadcaster TEXT PRIMARY KEY,
    mode        TEXT   NOT NULL CHECK (mode IN ('prod', 'test')),
    since       BIGINT NOT NULL
);
