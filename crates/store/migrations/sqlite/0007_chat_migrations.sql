-- Basic groups upgraded to supergroups, as the gateway found when posting: the old target key
-- (`-N`) and the supergroup's (`-100…`). Stats count the old key under the new one; the row's
-- presence means the operator was told.
CREATE TABLE chat_migrations (
    old_target TEXT PRIMARY KEY,
    new_target TEXT    NOT NULL,
    account    TEXT    NOT NULL,
    at         INTEGER NOT NULL
);
