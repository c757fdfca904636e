-- A target that refused one account while other accounts keep posting there; mirrors
-- migrations/sqlite/0009_account_refusals.sql. That account skips the target until `until`,
-- when it is looked at again. One row per (account, target), the latest refusal; a check that
-- finds the account may write again deletes the row. Times are Unix milliseconds (UTC).
CREATE TABLE account_refusals (
    account TEXT   NOT NULL,
    target  TEXT   NOT NULL,
    code    TEXT   NOT NULL,
    reason  TEXT   NOT NULL,
    until   BIGINT NOT NULL,
    at      BIGINT NOT NULL,
    PRIMARY KEY (account, target)
);
