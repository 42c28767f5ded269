-- 0006 web chat: browser sessions, uploaded photos, and an index for collecting held outbox rows.
-- A session row is keyed by the SHA-256 of the id in the cookie, so a copy of the
-- database does not hand out live sessions. external_id is the web identity the
-- session speaks as; bound fingerprints the resident and phone it was last seen
-- with, so binding a phone (or a merge of residents) can rotate the session.
CREATE TABLE web_sessions (
    token_hash TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    bound TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    seen_at INTEGER NOT NULL
);
CREATE INDEX web_sessions_external ON web_sessions (external_id);
CREATE INDEX web_sessions_seen ON web_sessions (seen_at);

-- Photos residents uploaded from the browser; the file is named by token
-- (an unguessable capability) under the upload directory.
CREATE TABLE web_uploads (
    token TEXT PRIMARY KEY,
    external_id TEXT NOT NULL,
    mime TEXT NOT NULL,
    size INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX web_uploads_external ON web_uploads (external_id);

-- Every open chat page asks for its held rows every second or so.
CREATE INDEX outbox_held ON outbox (target_channel, target_address, status);
