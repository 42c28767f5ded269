-- 0004 notify: SMS bookkeeping on outbox rows, broadcasts, resident tags, verified phones.

-- The number an SMS went (or may have gone) to, and the template it used:
-- per-number caps are counted from these.
ALTER TABLE outbox ADD COLUMN sms_phone TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sms_template TEXT NOT NULL DEFAULT '';
-- The OutId of the provider call that may carry this row, written before the
-- call. A row leased again with it set must be reconciled (QuerySendDetails)
-- before it is ever sent again. Empty: no call in doubt.
ALTER TABLE outbox ADD COLUMN sms_out_id TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN sms_try_at INTEGER;
-- How often QuerySendDetails was asked for a receipt that never came.
ALTER TABLE outbox ADD COLUMN receipt_checks INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN broadcast_id INTEGER;

-- Leasing reads pending rows in this order, urgent first. The indexes are
-- partial, so that a row changing status touches only the ones it enters or
-- leaves: a broadcast moves a hundred thousand rows through three statuses.
-- outbox_lease replaces 0001's outbox_due.
DROP INDEX outbox_due;
CREATE INDEX outbox_lease ON outbox (urgent, due_at, id) WHERE status = 'pending';
CREATE INDEX outbox_lease_expiry ON outbox (lease_until) WHERE status = 'leased';
CREATE INDEX outbox_sms_phone ON outbox (sms_phone, sms_try_at) WHERE sms_phone <> '';
CREATE INDEX outbox_sms_out ON outbox (sms_out_id) WHERE sms_out_id <> '';
CREATE INDEX outbox_broadcast ON outbox (broadcast_id, status) WHERE broadcast_id IS NOT NULL;
CREATE INDEX outbox_target ON outbox (kind, target_address, created_at);
CREATE INDEX outbox_receipt ON outbox (provider, sent_at) WHERE status = 'sent';

-- A phone proved by an SMS code. Only verified numbers merge residents.
ALTER TABLE residents ADD COLUMN phone_verified_at INTEGER;
CREATE INDEX residents_building ON residents (building);

-- Free-form labels staff give residents (e.g. 独居老人, 楼长) to target notices.
CREATE TABLE resident_tags (
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    tag TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (resident_id, tag)
);
CREATE INDEX resident_tags_tag ON resident_tags (tag);

-- A notice to many residents. Its rows are enqueued when it falls due; the
-- outbox rows carry broadcast_id, from which progress is counted.
CREATE TABLE broadcasts (
    id INTEGER PRIMARY KEY,
    created_by TEXT NOT NULL,
    audience_kind TEXT NOT NULL,        -- everyone | buildings | tag | event | service
    audience_key TEXT NOT NULL DEFAULT '',
    text TEXT NOT NULL,
    policy TEXT NOT NULL,               -- bot_first | sms_only
    urgent INTEGER NOT NULL DEFAULT 0,
    lang TEXT NOT NULL DEFAULT '',
    due_at INTEGER NOT NULL,
    status TEXT NOT NULL,               -- scheduled | sending | done | cancelled
    total INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    started_at INTEGER,
    reported_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX broadcasts_status ON broadcasts (status, due_at);
