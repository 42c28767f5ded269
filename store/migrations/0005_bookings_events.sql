-- 0005 bookings and events: service bookings, events, registrations, waiting lists and check-ins.
-- Booking codes are B + this sequence; the first booking is B1001.
INSERT INTO counters (name, value) VALUES ('booking', 1000);

-- One row per resident and service slot. A row holds places while it is
-- confirmed or offered; waiting rows queue in id order, which is the order
-- in which their (serialised) transactions arrived.
CREATE TABLE bookings (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    service TEXT NOT NULL,
    slot_at INTEGER NOT NULL,
    party INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    offer_until INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- party in the index: the places held in a slot are summed from the index alone.
CREATE INDEX bookings_slot ON bookings (service, slot_at, status, party);
CREATE INDEX bookings_resident ON bookings (resident_id, status);
CREATE INDEX bookings_offers ON bookings (status, offer_until);
-- A resident holds at most one live entry per slot: a replayed confirmation finds it.
CREATE UNIQUE INDEX bookings_live ON bookings (resident_id, service, slot_at)
    WHERE status IN ('confirmed', 'waiting', 'offered');

-- Events come from the config (key set) or from staff (/event, key NULL).
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    key TEXT UNIQUE,
    title TEXT NOT NULL,
    title_en TEXT NOT NULL DEFAULT '',
    kind TEXT NOT NULL DEFAULT '',
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    deadline INTEGER NOT NULL,
    place TEXT NOT NULL DEFAULT '',
    capacity INTEGER NOT NULL,
    companions INTEGER NOT NULL DEFAULT 0,
    description TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    cancelled_at INTEGER
);
CREATE INDEX events_starts ON events (starts_at);

-- A registration takes 1 + companions places (party). code is the short
-- check-in code shown to the resident and typed by staff in /checkin.
CREATE TABLE registrations (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    event_id INTEGER NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    resident_id INTEGER REFERENCES residents (id) ON DELETE SET NULL,
    companions INTEGER NOT NULL DEFAULT 0,
    party INTEGER NOT NULL DEFAULT 1,
    status TEXT NOT NULL,
    offer_until INTEGER,
    checked_in_at INTEGER,
    companions_in INTEGER NOT NULL DEFAULT 0,
    checked_in_by TEXT NOT NULL DEFAULT '',
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX registrations_event ON registrations (event_id, status, party);
CREATE INDEX registrations_resident ON registrations (resident_id, status);
CREATE INDEX registrations_offers ON registrations (status, offer_until);
CREATE UNIQUE INDEX registrations_live ON registrations (event_id, resident_id)
    WHERE status IN ('confirmed', 'waiting', 'offered');
