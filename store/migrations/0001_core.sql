-- 0001 core: residents, identities, conversations, dedupe keys, tickets, message log, outbox, audit.
CREATE TABLE counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
-- Ticket numbers are T + this sequence; the first ticket is T1001.
INSERT INTO counters (name, value) VALUES ('ticket', 1000);

CREATE TABLE residents (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL DEFAULT '',
    phone TEXT NOT NULL DEFAULT '',
    language TEXT NOT NULL DEFAULT '',
    building TEXT NOT NULL DEFAULT '',
    unsubscribed INTEGER NOT NULL DEFAULT 0,
    consent_at INTEGER,
    created_at INTEGER NOT NULL,
    erased_at INTEGER
);
CREATE INDEX residents_phone ON residents (phone);

CREATE TABLE identities (
    id INTEGER PRIMARY KEY,
    resident_id INTEGER NOT NULL REFERENCES residents (id) ON DELETE CASCADE,
    channel TEXT NOT NULL,
    external_id TEXT NOT NULL,
    chat_id TEXT NOT NULL DEFAULT '',
    display_name TEXT NOT NULL DEFAULT '',
    unreachable INTEGER NOT NULL DEFAULT 0,
    last_inbound_at INTEGER,
    created_at INTEGER NOT NULL,
    UNIQUE (channel, external_id)
);
CREATE INDEX identities_resident ON identities (resident_id);

-- One conversation per resident: the flow, its step and data, as the engine's JSON.
CREATE TABLE conversations (
    resident_id INTEGER PRIMARY KEY REFERENCES residents (id) ON DELETE CASCADE,
    flow TEXT NOT NULL,
    state TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- Inbound de-duplication: a platform's message id is stored before it is acted on.
CREATE TABLE inbound_keys (
    channel TEXT NOT NULL,
    key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (channel, key)
);
CREATE INDEX inbound_keys_created ON inbound_keys (created_at);

CREATE TABLE tickets (
    id INTEGER PRIMARY KEY,
    number TEXT NOT NULL UNIQUE,
    resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    request_key TEXT UNIQUE,
    category TEXT NOT NULL,
    description TEXT NOT NULL,
    photo TEXT NOT NULL DEFAULT '',
    photo_url TEXT NOT NULL DEFAULT '',
    latitude REAL,
    longitude REAL,
    location_label TEXT NOT NULL DEFAULT '',
    address TEXT NOT NULL DEFAULT '',
    contact_phone TEXT NOT NULL DEFAULT '',
    channel TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    assignee TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    due_at INTEGER NOT NULL,
    first_response_at INTEGER,
    resolved_at INTEGER,
    rating INTEGER,
    rated_at INTEGER
);
CREATE INDEX tickets_resident ON tickets (resident_id, status);
CREATE INDEX tickets_status ON tickets (status, created_at);

CREATE TABLE ticket_events (
    id INTEGER PRIMARY KEY,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    actor TEXT NOT NULL DEFAULT '',
    note TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, id);

-- Both directions of every conversation, kept for staff context and purged after retention.
CREATE TABLE message_log (
    id INTEGER PRIMARY KEY,
    resident_id INTEGER REFERENCES residents (id) ON DELETE CASCADE,
    direction TEXT NOT NULL,
    channel TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX message_log_resident ON message_log (resident_id, id);
CREATE INDEX message_log_created ON message_log (created_at);

-- Everything sent later than the immediate reply is a row here before it is sent.
CREATE TABLE outbox (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,
    resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    target_channel TEXT NOT NULL DEFAULT '',
    target_address TEXT NOT NULL DEFAULT '',
    body TEXT NOT NULL,
    ref TEXT NOT NULL DEFAULT '',
    dedupe_key TEXT UNIQUE,
    urgent INTEGER NOT NULL DEFAULT 0,
    due_at INTEGER NOT NULL,
    status TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    lease_until INTEGER,
    channel TEXT NOT NULL DEFAULT '',
    provider TEXT NOT NULL DEFAULT '',
    provider_id TEXT NOT NULL DEFAULT '',
    error TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    sent_at INTEGER,
    delivered_at INTEGER
);
CREATE INDEX outbox_due ON outbox (status, due_at);
CREATE INDEX outbox_resident ON outbox (resident_id, status);

-- Small durable values shared by every process (e.g. a platform access token).
CREATE TABLE kv (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    expires_at INTEGER
);

CREATE TABLE audit (
    id INTEGER PRIMARY KEY,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    allowed INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
