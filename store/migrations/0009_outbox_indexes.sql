-- 0009 outbox: fewer index updates per row; a broadcast moves each row through three statuses.

-- Every index holding status is rewritten whenever a row changes status
-- (lease, then outcome): a hundred thousand rows of a broadcast paid for
-- two such indexes twice each. No query needs status inside them: rows of
-- one resident are few, and a broadcast's counts by status are read once
-- per progress report, from the rows.
DROP INDEX outbox_resident;
CREATE INDEX outbox_resident ON outbox (resident_id);
DROP INDEX outbox_broadcast;
CREATE INDEX outbox_broadcast ON outbox (broadcast_id) WHERE broadcast_id IS NOT NULL;

-- Rows are found by the id a provider or channel gave them (a delivery
-- report, a staff reply to an alert). Few rows share an id (Telegram's
-- count per chat, so the chat is checked after the index either way; the
-- rows of one SMS call), and the query checks provider or channel on those.
-- One partial index on the id replaces two full ones: rows without an id
-- (every row until it is sent) are in none, and a sent row enters one
-- instead of leaving and entering two. Queries must say provider_id <> ''
-- to use it (PostgreSQL's rule for partial indexes too).
DROP INDEX outbox_provider_id;
DROP INDEX outbox_provider;
CREATE INDEX outbox_provider_id ON outbox (provider_id) WHERE provider_id <> '';
