package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Event is something residents register for: a show, a training session, a patrol.
type Event struct {
	ID          int64
	Key         string // from the config; empty for events staff created
	Title       string
	TitleEN     string
	Kind        string // show, training, patrol…: groups attendance for targets
	StartsAt    time.Time
	EndsAt      time.Time // zero: not given
	Deadline    time.Time // registration closes
	Place       string
	Capacity    int // places, companions included
	Companions  int // companions a resident may bring (0–2)
	Description string
	CreatedBy   string
	CreatedAt   time.Time
	CancelledAt time.Time
}

// Registration is a resident's place, or place in the queue, at an event.
type Registration struct {
	ID           int64
	Code         string // the check-in code
	EventID      int64
	ResidentID   int64 // 0 once the resident's data has been erased
	Companions   int
	Status       string // a Place… status
	OfferUntil   time.Time
	CheckedInAt  time.Time
	CompanionsIn int // companions checked in with the resident
	CheckedInBy  string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	// Position is the place on the waiting list (1: next), filled by the
	// calls that say so; 0 when not waiting.
	Position int
}

// NewRegistration asks for places at an event.
type NewRegistration struct {
	EventID    int64
	ResidentID int64
	Companions int
	Wait       bool // join the waiting list when full (else ErrFull)
	At         time.Time
}

// EventUse is how an event's places are taken.
type EventUse struct {
	Held         int // places confirmed or offered, companions included
	Confirmed    int // confirmed registrations
	People       int // places of the confirmed registrations
	Offered      int
	Waiting      int
	CheckedIn    int // registrants checked in
	CompanionsIn int // their companions checked in
}

// RosterEntry is a registration with the resident's name and phone.
type RosterEntry struct {
	Registration
	Name  string
	Phone string
}

// KindAttendance sums up the events of one kind.
type KindAttendance struct {
	Kind         string
	Events       int
	CheckedIn    int
	CompanionsIn int
}

// PersonTimes is checked-in registrants plus their checked-in companions.
func (k KindAttendance) PersonTimes() int { return k.CheckedIn + k.CompanionsIn }

// CheckInCodeAlphabet is what check-in codes are made of: no 0/O, 1/I/L, so
// that staff read them back without doubt.
const CheckInCodeAlphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// checkInCodeFirst is the first character of a check-in code: a letter, and
// neither B nor T, so that no code reads as a booking (B1001) or a ticket
// (T1001, or digits alone).
const checkInCodeFirst = "ACDEFGHJKMNPQRSUVWXYZ"

// CheckInCodeLength is the length of a check-in code (21·31^5 ≈ 6e8 codes).
const CheckInCodeLength = 6

const eventColumns = `id, key, title, title_en, kind, starts_at, ends_at, deadline, place, capacity, companions,
	description, created_by, created_at, cancelled_at`

func scanEvent(row interface{ Scan(...any) error }) (Event, error) {
	var e Event
	var key sql.NullString
	var starts, ends, deadline, created, cancelled sql.NullInt64
	err := row.Scan(&e.ID, &key, &e.Title, &e.TitleEN, &e.Kind, &starts, &ends, &deadline, &e.Place, &e.Capacity, &e.Companions,
		&e.Description, &e.CreatedBy, &created, &cancelled)
	if errors.Is(err, sql.ErrNoRows) {
		return e, ErrNotFound
	}
	if err != nil {
		return e, err
	}
	e.Key = key.String
	e.StartsAt, e.EndsAt, e.Deadline = fromUnix(starts), fromUnix(ends), fromUnix(deadline)
	e.CreatedAt, e.CancelledAt = fromUnix(created), fromUnix(cancelled)
	return e, nil
}

func scanEvents(rows *sql.Rows, err error) ([]Event, error) { return scanAll(rows, err, scanEvent) }

const registrationColumns = `id, code, event_id, resident_id, companions, status, offer_until, checked_in_at, companions_in,
	checked_in_by, created_at, updated_at`

func scanRegistration(row interface{ Scan(...any) error }) (Registration, error) {
	var g Registration
	var resident, offer, checked, created, updated sql.NullInt64
	err := row.Scan(&g.ID, &g.Code, &g.EventID, &resident, &g.Companions, &g.Status, &offer, &checked, &g.CompanionsIn,
		&g.CheckedInBy, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return g, ErrNotFound
	}
	if err != nil {
		return g, err
	}
	g.ResidentID = resident.Int64
	g.OfferUntil, g.CheckedInAt, g.CreatedAt, g.UpdatedAt = fromUnix(offer), fromUnix(checked), fromUnix(created), fromUnix(updated)
	return g, nil
}

func scanRegistrations(rows *sql.Rows, err error) ([]Registration, error) {
	return scanAll(rows, err, scanRegistration)
}

func registrationsByID(ctx context.Context, q querier, ids []int64) ([]Registration, error) {
	out := make([]Registration, 0, len(ids))
	for _, id := range ids {
		g, err := scanRegistration(q.QueryRowContext(ctx, "SELECT "+registrationColumns+" FROM registrations WHERE id = ?", id))
		if err != nil {
			return nil, err
		}
		out = append(out, g)
	}
	return out, nil
}

func fillRegistrationPosition(ctx context.Context, q querier, g *Registration) error {
	if g.Status != PlaceWaiting {
		return nil
	}
	p, err := eventResource(g.EventID).position(ctx, q, g.ID)
	g.Position = p
	return err
}

func nullKey(k string) any {
	if k == "" {
		return nil
	}
	return k
}

// CreateEvent stores an event staff created.
func (s *Store) CreateEvent(ctx context.Context, e Event) (Event, error) {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	var out Event
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanEvent(tx.QueryRowContext(ctx, `INSERT INTO events (key, title, title_en, kind, starts_at, ends_at, deadline,
			place, capacity, companions, description, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
			RETURNING `+eventColumns,
			nullKey(e.Key), e.Title, e.TitleEN, e.Kind, e.StartsAt.Unix(), unix(e.EndsAt), e.Deadline.Unix(),
			e.Place, e.Capacity, e.Companions, e.Description, e.CreatedBy, e.CreatedAt.Unix()))
		if err != nil {
			return fmt.Errorf("store: create event: %w", err)
		}
		return nil
	})
	return out, err
}

// UpsertEvent stores an event of the config by its key, updating it when the
// config changed, so loading the config at every start is idempotent. Places
// a larger capacity frees are offered to the waiting list at once; those
// registrations are returned.
func (s *Store) UpsertEvent(ctx context.Context, e Event, now time.Time, hold OfferHold) (Event, []Registration, error) {
	if e.Key == "" {
		return Event{}, nil, errors.New("store: upsert event without a key")
	}
	var out Event
	var offered []Registration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		out, err = scanEvent(tx.QueryRowContext(ctx, `INSERT INTO events (key, title, title_en, kind, starts_at, ends_at, deadline,
			place, capacity, companions, description, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'config', ?)
			ON CONFLICT (key) DO UPDATE SET title = excluded.title, title_en = excluded.title_en, kind = excluded.kind,
			starts_at = excluded.starts_at, ends_at = excluded.ends_at, deadline = excluded.deadline, place = excluded.place,
			capacity = excluded.capacity, companions = excluded.companions, description = excluded.description
			RETURNING `+eventColumns,
			e.Key, e.Title, e.TitleEN, e.Kind, e.StartsAt.Unix(), unix(e.EndsAt), e.Deadline.Unix(),
			e.Place, e.Capacity, e.Companions, e.Description, now.Unix()))
		if err != nil {
			return fmt.Errorf("store: upsert event %s: %w", e.Key, err)
		}
		if !out.CancelledAt.IsZero() {
			return nil
		}
		ids, err := eventResource(out.ID).promote(ctx, tx, out.Capacity, out.StartsAt, now, hold)
		if err != nil {
			return err
		}
		offered, err = registrationsByID(ctx, tx, ids)
		return err
	})
	return out, offered, err
}

// Event returns an event by id.
func (s *Store) Event(ctx context.Context, id int64) (Event, error) {
	return scanEvent(s.db.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", id))
}

// EventByKey returns an event of the config by its key.
func (s *Store) EventByKey(ctx context.Context, key string) (Event, error) {
	return scanEvent(s.db.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE key = ?", key))
}

// UpcomingEvents lists events not cancelled that start after now, soonest first.
func (s *Store) UpcomingEvents(ctx context.Context, now time.Time) ([]Event, error) {
	return scanEvents(s.db.QueryContext(ctx, "SELECT "+eventColumns+` FROM events
		WHERE cancelled_at IS NULL AND starts_at > ? ORDER BY starts_at, id`, now.Unix()))
}

// EventsBetween lists events not cancelled that start in [from, to), soonest first.
func (s *Store) EventsBetween(ctx context.Context, from, to time.Time) ([]Event, error) {
	return scanEvents(s.db.QueryContext(ctx, "SELECT "+eventColumns+` FROM events
		WHERE cancelled_at IS NULL AND starts_at >= ? AND starts_at < ? ORDER BY starts_at, id`, from.Unix(), to.Unix()))
}

// EventUse counts how an event's places are taken.
func (s *Store) EventUse(ctx context.Context, eventID int64) (EventUse, error) {
	var u EventUse
	err := s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN status IN ('confirmed', 'offered') THEN party ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'confirmed' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'confirmed' THEN party ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'offered' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN checked_in_at IS NOT NULL THEN 1 ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN checked_in_at IS NOT NULL THEN companions_in ELSE 0 END), 0)
		FROM registrations WHERE event_id = ?`, eventID).Scan(&u.Held, &u.Confirmed, &u.People, &u.Offered, &u.Waiting, &u.CheckedIn, &u.CompanionsIn)
	return u, err
}

// EventPlaces counts an event's places held (confirmed or offered,
// companions included) and its waiting list; cheaper than EventUse, from
// the index alone, for the residents' lists.
func (s *Store) EventPlaces(ctx context.Context, eventID int64) (held, waiting int, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT
		COALESCE(SUM(CASE WHEN status IN ('confirmed', 'offered') THEN party ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END), 0)
		FROM registrations WHERE event_id = ? AND status IN ('confirmed', 'offered', 'waiting')`, eventID).Scan(&held, &waiting)
	return held, waiting, err
}

// ResidentRegistration returns a resident's live registration for an event.
func (s *Store) ResidentRegistration(ctx context.Context, eventID, residentID int64) (Registration, error) {
	g, err := scanRegistration(s.db.QueryRowContext(ctx, "SELECT "+registrationColumns+` FROM registrations
		WHERE event_id = ? AND resident_id = ? AND status IN ('confirmed', 'waiting', 'offered')`, eventID, residentID))
	if err != nil {
		return g, err
	}
	return g, fillRegistrationPosition(ctx, s.db, &g)
}

// newCheckInCode draws a random code that no registration has yet.
func newCheckInCode(ctx context.Context, tx *sql.Tx) (string, error) {
	for range 20 {
		var b [CheckInCodeLength]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", err
		}
		// The modulo bias (under 1% towards a few characters) costs nothing
		// in uniqueness, which the table enforces anyway.
		b[0] = checkInCodeFirst[int(b[0])%len(checkInCodeFirst)]
		for i := 1; i < len(b); i++ {
			b[i] = CheckInCodeAlphabet[int(b[i])%len(CheckInCodeAlphabet)]
		}
		code := string(b[:])
		var n int
		if err := tx.QueryRowContext(ctx, "SELECT COUNT(*) FROM registrations WHERE code = ?", code).Scan(&n); err != nil {
			return "", err
		}
		if n == 0 {
			return code, nil
		}
	}
	return "", errors.New("store: no free check-in code after 20 draws")
}

// Register takes places at an event (the resident and their companions) in
// one immediate transaction, so that concurrent residents never overbook it.
// A full event puts the resident on its waiting list when n.Wait, else
// ErrFull. A resident already registered (or waiting) gets that
// registration back with existed = true. ErrNotFound: no such event.
func (s *Store) Register(ctx context.Context, n NewRegistration) (g Registration, existed bool, err error) {
	if n.At.IsZero() {
		n.At = s.now()
	}
	res := eventResource(n.EventID)
	err = s.tx(ctx, func(tx *sql.Tx) error {
		g, err = scanRegistration(tx.QueryRowContext(ctx, "SELECT "+registrationColumns+` FROM registrations
			WHERE event_id = ? AND resident_id = ? AND status IN ('confirmed', 'waiting', 'offered')`, n.EventID, n.ResidentID))
		switch {
		case err == nil:
			existed = true
			return fillRegistrationPosition(ctx, tx, &g)
		case !errors.Is(err, ErrNotFound):
			return err
		}
		var capacity int
		if err := tx.QueryRowContext(ctx, "SELECT capacity FROM events WHERE id = ?", n.EventID).Scan(&capacity); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return ErrNotFound
			}
			return err
		}
		used, err := res.held(ctx, tx)
		if err != nil {
			return err
		}
		party := 1 + n.Companions
		status := PlaceConfirmed
		if used+party > capacity {
			if !n.Wait {
				return ErrFull
			}
			status = PlaceWaiting
		}
		code, err := newCheckInCode(ctx, tx)
		if err != nil {
			return err
		}
		g, err = scanRegistration(tx.QueryRowContext(ctx, `INSERT INTO registrations (code, event_id, resident_id, companions, party,
			status, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+registrationColumns,
			code, n.EventID, n.ResidentID, n.Companions, party, status, n.At.Unix(), n.At.Unix()))
		if err != nil {
			return fmt.Errorf("store: register: %w", err)
		}
		return fillRegistrationPosition(ctx, tx, &g)
	})
	return g, existed, err
}

// RegistrationByCode returns a registration by its check-in code.
func (s *Store) RegistrationByCode(ctx context.Context, code string) (Registration, error) {
	g, err := scanRegistration(s.db.QueryRowContext(ctx, "SELECT "+registrationColumns+" FROM registrations WHERE code = ?", code))
	if err != nil {
		return g, err
	}
	return g, fillRegistrationPosition(ctx, s.db, &g)
}

// ResidentRegistrations lists a resident's live registrations for events
// starting from `from` on, soonest first, with waiting-list positions.
func (s *Store) ResidentRegistrations(ctx context.Context, residentID int64, from time.Time) ([]Registration, error) {
	gs, err := scanRegistrations(s.db.QueryContext(ctx, `SELECT g.id, g.code, g.event_id, g.resident_id, g.companions, g.status,
		g.offer_until, g.checked_in_at, g.companions_in, g.checked_in_by, g.created_at, g.updated_at
		FROM registrations g JOIN events e ON e.id = g.event_id
		WHERE g.resident_id = ? AND g.status IN ('confirmed', 'waiting', 'offered') AND e.starts_at >= ? AND e.cancelled_at IS NULL
		ORDER BY e.starts_at, g.id`, residentID, from.Unix()))
	if err != nil {
		return nil, err
	}
	for i := range gs {
		if err := fillRegistrationPosition(ctx, s.db, &gs[i]); err != nil {
			return nil, err
		}
	}
	return gs, nil
}

// EventRegistrants lists the residents with a confirmed registration at an
// event (a broadcast audience).
func (s *Store) EventRegistrants(ctx context.Context, eventID int64) ([]int64, error) {
	return residentIDs(s.db.QueryContext(ctx, `SELECT DISTINCT resident_id FROM registrations
		WHERE event_id = ? AND status = 'confirmed' AND resident_id IS NOT NULL ORDER BY resident_id`, eventID))
}

// ReleaseRegistration cancels a registration or declines an offer (r.To)
// and, in the same transaction, offers the freed places to the waiting list.
// r.Capacity is ignored: the event's own is used. Errors as ReleaseBooking.
func (s *Store) ReleaseRegistration(ctx context.Context, r PlaceRelease) (Registration, []Registration, error) {
	if r.At.IsZero() {
		r.At = s.now()
	}
	var g Registration
	var offered []Registration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanRegistration(tx.QueryRowContext(ctx, "SELECT "+registrationColumns+" FROM registrations WHERE code = ?", r.Code))
		if err != nil {
			return err
		}
		if r.ResidentID != 0 && g.ResidentID != r.ResidentID {
			return ErrNotFound
		}
		if !inList(g.Status, r.From) {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, "UPDATE registrations SET status = ?, offer_until = NULL, updated_at = ? WHERE id = ?",
			r.To, r.At.Unix(), g.ID); err != nil {
			return err
		}
		g.Status, g.OfferUntil, g.UpdatedAt = r.To, time.Time{}, r.At
		offered, err = promoteEvent(ctx, tx, g.EventID, r.At, r.OfferFor)
		return err
	})
	return g, offered, err
}

// promoteEvent offers an event's free places to its waiting list.
func promoteEvent(ctx context.Context, tx *sql.Tx, eventID int64, now time.Time, hold OfferHold) ([]Registration, error) {
	e, err := scanEvent(tx.QueryRowContext(ctx, "SELECT "+eventColumns+" FROM events WHERE id = ?", eventID))
	if err != nil {
		return nil, err
	}
	if !e.CancelledAt.IsZero() {
		return nil, nil
	}
	ids, err := eventResource(eventID).promote(ctx, tx, e.Capacity, e.StartsAt, now, hold)
	if err != nil {
		return nil, err
	}
	return registrationsByID(ctx, tx, ids)
}

// AcceptRegistration turns an offer that has not run out into a confirmed
// registration. Errors as AcceptBooking.
func (s *Store) AcceptRegistration(ctx context.Context, residentID int64, code string, at time.Time) (Registration, error) {
	var g Registration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanRegistration(tx.QueryRowContext(ctx, "SELECT "+registrationColumns+" FROM registrations WHERE code = ?", code))
		if err != nil {
			return err
		}
		if g.ResidentID != residentID {
			return ErrNotFound
		}
		if g.Status != PlaceOffered || !g.OfferUntil.After(at) {
			return ErrConflict
		}
		_, err = tx.ExecContext(ctx, "UPDATE registrations SET status = 'confirmed', offer_until = NULL, updated_at = ? WHERE id = ?", at.Unix(), g.ID)
		g.Status, g.OfferUntil, g.UpdatedAt = PlaceConfirmed, time.Time{}, at
		return err
	})
	return g, err
}

// LapseRegistrationOffers ends every offer that ran out at or before now
// and offers the freed places on, in one transaction.
func (s *Store) LapseRegistrationOffers(ctx context.Context, now time.Time, hold OfferHold) (lapsed, offered []Registration, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		lapsed, err = scanRegistrations(tx.QueryContext(ctx, "SELECT "+registrationColumns+` FROM registrations
			WHERE status = 'offered' AND offer_until <= ? ORDER BY id`, now.Unix()))
		if err != nil {
			return err
		}
		var events []int64
		seen := map[int64]bool{}
		for i, g := range lapsed {
			if _, err := tx.ExecContext(ctx, "UPDATE registrations SET status = 'lapsed', updated_at = ? WHERE id = ?", now.Unix(), g.ID); err != nil {
				return err
			}
			lapsed[i].Status, lapsed[i].UpdatedAt = PlaceLapsed, now
			if !seen[g.EventID] {
				seen[g.EventID] = true
				events = append(events, g.EventID)
			}
		}
		for _, id := range events {
			gs, err := promoteEvent(ctx, tx, id, now, hold)
			if err != nil {
				return err
			}
			offered = append(offered, gs...)
		}
		return nil
	})
	return lapsed, offered, err
}

// CheckIn records that a confirmed registrant arrived, with companions of
// theirs (capped at those registered; negative: all of them). It is
// accepted once: ErrConflict when the registration was already checked in
// or is not confirmed (the returned registration shows which), ErrNotFound
// for an unknown code.
func (s *Store) CheckIn(ctx context.Context, code string, companions int, by string, at time.Time) (Registration, error) {
	var g Registration
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		g, err = scanRegistration(tx.QueryRowContext(ctx, "SELECT "+registrationColumns+" FROM registrations WHERE code = ?", code))
		if err != nil {
			return err
		}
		if g.Status != PlaceConfirmed || !g.CheckedInAt.IsZero() {
			return ErrConflict
		}
		if companions < 0 || companions > g.Companions {
			companions = g.Companions
		}
		_, err = tx.ExecContext(ctx, `UPDATE registrations SET checked_in_at = ?, companions_in = ?, checked_in_by = ?, updated_at = ?
			WHERE id = ? AND checked_in_at IS NULL`, at.Unix(), companions, by, at.Unix(), g.ID)
		g.CheckedInAt, g.CompanionsIn, g.CheckedInBy, g.UpdatedAt = at, companions, by, at
		return err
	})
	return g, err
}

// Roster lists an event's live registrations with names and phones:
// confirmed first, then offered, then the waiting list, each in arrival order.
func (s *Store) Roster(ctx context.Context, eventID int64) ([]RosterEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT g.id, g.code, g.event_id, g.resident_id, g.companions, g.status,
		g.offer_until, g.checked_in_at, g.companions_in, g.checked_in_by, g.created_at, g.updated_at,
		`+residentNameSQL("g.resident_id")+`, COALESCE(r.phone, '')
		FROM registrations g LEFT JOIN residents r ON r.id = g.resident_id
		WHERE g.event_id = ? AND g.status IN ('confirmed', 'offered', 'waiting')
		ORDER BY CASE g.status WHEN 'confirmed' THEN 0 WHEN 'offered' THEN 1 ELSE 2 END, g.id`, eventID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []RosterEntry
	waiting := 0
	for rows.Next() {
		var e RosterEntry
		var resident, offer, checked, created, updated sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Code, &e.EventID, &resident, &e.Companions, &e.Status, &offer, &checked, &e.CompanionsIn,
			&e.CheckedInBy, &created, &updated, &e.Name, &e.Phone); err != nil {
			return nil, err
		}
		e.ResidentID = resident.Int64
		e.OfferUntil, e.CheckedInAt, e.CreatedAt, e.UpdatedAt = fromUnix(offer), fromUnix(checked), fromUnix(created), fromUnix(updated)
		if e.Status == PlaceWaiting {
			waiting++
			e.Position = waiting
		}
		out = append(out, e)
	}
	return out, rows.Err()
}

// Attendance sums up, by kind, the events not cancelled that started in
// [from, to): how many, and how many registrants and companions were
// checked in.
func (s *Store) Attendance(ctx context.Context, from, to time.Time) ([]KindAttendance, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT e.kind, COUNT(DISTINCT e.id),
		COUNT(g.checked_in_at),
		COALESCE(SUM(CASE WHEN g.checked_in_at IS NOT NULL THEN g.companions_in ELSE 0 END), 0)
		FROM events e LEFT JOIN registrations g ON g.event_id = e.id
		WHERE e.cancelled_at IS NULL AND e.starts_at >= ? AND e.starts_at < ?
		GROUP BY e.kind ORDER BY e.kind`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []KindAttendance
	for rows.Next() {
		var k KindAttendance
		if err := rows.Scan(&k.Kind, &k.Events, &k.CheckedIn, &k.CompanionsIn); err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, rows.Err()
}
