-- Basic groups upgraded to supergroups, as the gateway found when posting: the old target key
-- (`-N`) and the supergroup's (`-100…`); mirrors migrations/sqlite/0007_chat_migrations.sql.
CREATE TABLE chat_migrations (
    old_target TEXT PRIMARY KEY,
    new_target TEXT   NOT NULL,
    account    TEXT   NOT NULL,
    at         BIGINT NOT NULL
);
