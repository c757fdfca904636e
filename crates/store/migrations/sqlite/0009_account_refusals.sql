-- A target that refused one account (a send, or the daemon's pre-flight check) while other
-- accounts keep posting there: that account skips the target until `until`, when it is looked
-- at again. One row per (account, target), the latest refusal; a check that finds the account
-- may write again deletes the row. Read back at start (the planner holds the account out as
-- before the restart) and by `stats`, `targets list`, the API and the dashboard.
-- Times are Unix milliseconds (UTC).
CREATE TABLE account_refusals (
    account TEXT    NOT NULL,
    target  TEXT    NOT NULL,
    code    TEXT    NOT NULL,
    reason  TEXT    NOT NULL,
    until   INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    PRIMARY KEY (account, target)
);
