-- 0008 outbox: deadlines for rows held for a pull channel (web chat, console); cheaper outbox indexes.

-- A row held for a pull channel names it here instead of in target_channel,
-- which keeps what the row was addressed to (usually nothing: the
-- resident's own chain), so that it can move on down that chain when
-- hold_until passes. hold_until NULL: it waits for the page however long.
ALTER TABLE outbox ADD COLUMN hold_channel TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN hold_address TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN hold_until INTEGER;
-- Rows held before this migration keep waiting for their page, as they were
-- told to (their original target is lost, and an old reminder must not go
-- out by SMS weeks late).
UPDATE outbox SET hold_channel = target_channel, hold_address = target_address WHERE status = 'held';

-- Every open chat page asks for its held rows every second or so; the index
-- holds held rows only, so no other status change touches it.
DROP INDEX outbox_held;
CREATE INDEX outbox_held ON outbox (hold_channel, hold_address) WHERE status = 'held';
-- Held rows whose deadline passed are leased like due rows.
CREATE INDEX outbox_hold_until ON outbox (hold_until) WHERE status = 'held';
