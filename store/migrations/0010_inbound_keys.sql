-- 0010 inbound_keys: one B-tree instead of three.

-- Every inbound message inserts a key, in the same commit as its turn. As a
-- rowid table with a primary-key index and an index on created_at, a key
-- dirtied three pages (three WAL frames, six system calls) of a commit that
-- otherwise writes one or two. Keyed by its primary key alone, it dirties
-- one. The daily purge by age scans the table instead (a day of keys).
CREATE TABLE inbound_keys_new (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
) WITHOUT ROWID;
INSERT INTO inbound_keys_new (channel, key, created_at) SELECT channel, key, created_at FROM inbound_keys;
DROP TABLE inbound_keys;
ALTER TABLE inbound_keys_new RENAME TO inbound_keys;
