-- 0003 desk: find the ticket behind a staff-group message (replies to alerts) and an alert's message (threads).
CREATE INDEX outbox_provider ON outbox (channel, provider_id);
CREATE INDEX outbox_ref ON outbox (ref, kind);
