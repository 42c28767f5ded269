package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Booking is a resident's place, or place in the queue, in one slot of a
// bookable service.
type Booking struct {
	ID         int64
	Code       string // B1001…
	ResidentID int64  // 0 once the resident's data has been erased
	Service    string
	SlotAt     time.Time
	Status     string // a Place… status
	OfferUntil time.Time
	CreatedAt  time.Time
	UpdatedAt  time.Time
	// Position is the place on the waiting list (1: next), filled by the
	// calls that say so; 0 when not waiting.
	Position int
}

// NewBooking asks for a place in a slot.
type NewBooking struct {
	ResidentID int64
	Service    string
	SlotAt     time.Time
	Capacity   int  // places per slot
	Wait       bool // join the waiting list when full (else ErrFull)
	At         time.Time
}

// SlotUse is how a slot is taken.
type SlotUse struct {
	Held    int // places confirmed or offered
	Waiting int
}

// BookingEntry is a booking with the resident's name, for staff lists.
type BookingEntry struct {
	Booking
	Name  string
	Phone string
}

const bookingColumns = "id, code, resident_id, service, slot_at, status, offer_until, created_at, updated_at"

func scanBooking(row interface{ Scan(...any) error }) (Booking, error) {
	var b Booking
	var resident, slot, offer, created, updated sql.NullInt64
	err := row.Scan(&b.ID, &b.Code, &resident, &b.Service, &slot, &b.Status, &offer, &created, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return b, ErrNotFound
	}
	if err != nil {
		return b, err
	}
	b.ResidentID = resident.Int64
	b.SlotAt, b.OfferUntil, b.CreatedAt, b.UpdatedAt = fromUnix(slot), fromUnix(offer), fromUnix(created), fromUnix(updated)
	return b, nil
}

func scanBookings(rows *sql.Rows, err error) ([]Booking, error) {
	return scanAll(rows, err, scanBooking)
}

func bookingsByID(ctx context.Context, q querier, ids []int64) ([]Booking, error) {
	out := make([]Booking, 0, len(ids))
	for _, id := range ids {
		b, err := scanBooking(q.QueryRowContext(ctx, "SELECT "+bookingColumns+" FROM bookings WHERE id = ?", id))
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

// TakeBooking takes a place in a slot in one immediate transaction, so that
// concurrent residents never overbook it. A full slot puts the resident on
// its waiting list when n.Wait, else returns ErrFull. A resident who already
// has a live entry in the slot gets it back with existed = true (a replayed
// confirmation books once).
func (s *Store) TakeBooking(ctx context.Context, n NewBooking) (b Booking, existed bool, err error) {
	if n.At.IsZero() {
		n.At = s.now()
	}
	res := slotResource(n.Service, n.SlotAt.Unix())
	err = s.tx(ctx, func(tx *sql.Tx) error {
		b, err = scanBooking(tx.QueryRowContext(ctx, "SELECT "+bookingColumns+` FROM bookings
			WHERE resident_id = ? AND service = ? AND slot_at = ? AND status IN ('confirmed', 'waiting', 'offered')`,
			n.ResidentID, n.Service, n.SlotAt.Unix()))
		switch {
		case err == nil:
			existed = true
			return fillBookingPosition(ctx, tx, &b)
		case !errors.Is(err, ErrNotFound):
			return err
		}
		used, err := res.held(ctx, tx)
		if err != nil {
			return err
		}
		status := PlaceConfirmed
		if used+1 > n.Capacity {
			if !n.Wait {
				return ErrFull
			}
			status = PlaceWaiting
		}
		seq, err := nextCounter(ctx, tx, "booking")
		if err != nil {
			return err
		}
		b, err = scanBooking(tx.QueryRowContext(ctx, `INSERT INTO bookings (code, resident_id, service, slot_at, party, status, created_at, updated_at)
			VALUES (?, ?, ?, ?, 1, ?, ?, ?) RETURNING `+bookingColumns,
			"B"+strconv.FormatInt(seq, 10), n.ResidentID, n.Service, n.SlotAt.Unix(), status, n.At.Unix(), n.At.Unix()))
		if err != nil {
			return fmt.Errorf("store: take booking: %w", err)
		}
		return fillBookingPosition(ctx, tx, &b)
	})
	return b, existed, err
}

func fillBookingPosition(ctx context.Context, q querier, b *Booking) error {
	if b.Status != PlaceWaiting {
		return nil
	}
	p, err := slotResource(b.Service, b.SlotAt.Unix()).position(ctx, q, b.ID)
	b.Position = p
	return err
}

// BookingByCode returns a booking by its code.
func (s *Store) BookingByCode(ctx context.Context, code string) (Booking, error) {
	b, err := scanBooking(s.db.QueryRowContext(ctx, "SELECT "+bookingColumns+" FROM bookings WHERE code = ?", code))
	if err != nil {
		return b, err
	}
	return b, fillBookingPosition(ctx, s.db, &b)
}

// SlotUses returns how each slot of a service between from and to (slot
// start, unix seconds) is taken; slots nobody booked are absent.
func (s *Store) SlotUses(ctx context.Context, service string, from, to time.Time) (map[int64]SlotUse, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT slot_at,
		COALESCE(SUM(CASE WHEN status IN ('confirmed', 'offered') THEN party ELSE 0 END), 0),
		COALESCE(SUM(CASE WHEN status = 'waiting' THEN 1 ELSE 0 END), 0)
		FROM bookings WHERE service = ? AND slot_at >= ? AND slot_at < ? AND status IN ('confirmed', 'offered', 'waiting')
		GROUP BY slot_at`, service, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[int64]SlotUse{}
	for rows.Next() {
		var at int64
		var u SlotUse
		if err := rows.Scan(&at, &u.Held, &u.Waiting); err != nil {
			return nil, err
		}
		out[at] = u
	}
	return out, rows.Err()
}

// ResidentBookings lists a resident's live bookings for slots from `from`
// on, soonest first, with waiting-list positions.
func (s *Store) ResidentBookings(ctx context.Context, residentID int64, from time.Time) ([]Booking, error) {
	bs, err := scanBookings(s.db.QueryContext(ctx, "SELECT "+bookingColumns+` FROM bookings
		WHERE resident_id = ? AND status IN ('confirmed', 'waiting', 'offered') AND slot_at >= ?
		ORDER BY slot_at, id`, residentID, from.Unix()))
	if err != nil {
		return nil, err
	}
	for i := range bs {
		if err := fillBookingPosition(ctx, s.db, &bs[i]); err != nil {
			return nil, err
		}
	}
	return bs, nil
}

// BookingsBetween lists confirmed and offered bookings of slots in [from,
// to), by slot and service, with the residents' names (staff's /today).
func (s *Store) BookingsBetween(ctx context.Context, from, to time.Time) ([]BookingEntry, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT b.id, b.code, b.resident_id, b.service, b.slot_at, b.status, b.offer_until,
		b.created_at, b.updated_at, `+residentNameSQL("b.resident_id")+`, COALESCE(r.phone, '')
		FROM bookings b LEFT JOIN residents r ON r.id = b.resident_id
		WHERE b.slot_at >= ? AND b.slot_at < ? AND b.status IN ('confirmed', 'offered')
		ORDER BY b.slot_at, b.service, b.id`, from.Unix(), to.Unix())
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []BookingEntry
	for rows.Next() {
		var e BookingEntry
		var resident, slot, offer, created, updated sql.NullInt64
		if err := rows.Scan(&e.ID, &e.Code, &resident, &e.Service, &slot, &e.Status, &offer, &created, &updated, &e.Name, &e.Phone); err != nil {
			return nil, err
		}
		e.ResidentID = resident.Int64
		e.SlotAt, e.OfferUntil, e.CreatedAt, e.UpdatedAt = fromUnix(slot), fromUnix(offer), fromUnix(created), fromUnix(updated)
		out = append(out, e)
	}
	return out, rows.Err()
}

// ServiceBookers lists the residents with a confirmed booking of a service
// in a slot from `from` on (a broadcast audience).
func (s *Store) ServiceBookers(ctx context.Context, service string, from time.Time) ([]int64, error) {
	return residentIDs(s.db.QueryContext(ctx, `SELECT DISTINCT resident_id FROM bookings
		WHERE service = ? AND slot_at >= ? AND status = 'confirmed' AND resident_id IS NOT NULL ORDER BY resident_id`,
		service, from.Unix()))
}

// ReleaseBooking cancels a booking or declines an offer (r.To) and, in the
// same transaction, offers the freed place to the slot's waiting list. It
// returns the released booking and the bookings now offered a place.
// ErrNotFound: no such code for that resident; ErrConflict: the booking is
// not in one of r.From (the returned booking shows its state).
func (s *Store) ReleaseBooking(ctx context.Context, r PlaceRelease) (Booking, []Booking, error) {
	if r.At.IsZero() {
		r.At = s.now()
	}
	var b Booking
	var offered []Booking
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBooking(tx.QueryRowContext(ctx, "SELECT "+bookingColumns+" FROM bookings WHERE code = ?", r.Code))
		if err != nil {
			return err
		}
		if r.ResidentID != 0 && b.ResidentID != r.ResidentID {
			return ErrNotFound
		}
		if !inList(b.Status, r.From) {
			return ErrConflict
		}
		if _, err := tx.ExecContext(ctx, "UPDATE bookings SET status = ?, offer_until = NULL, updated_at = ? WHERE id = ?",
			r.To, r.At.Unix(), b.ID); err != nil {
			return err
		}
		b.Status, b.OfferUntil, b.UpdatedAt = r.To, time.Time{}, r.At
		ids, err := slotResource(b.Service, b.SlotAt.Unix()).promote(ctx, tx, r.Capacity, b.SlotAt, r.At, r.OfferFor)
		if err != nil {
			return err
		}
		offered, err = bookingsByID(ctx, tx, ids)
		return err
	})
	return b, offered, err
}

// AcceptBooking turns an offer that has not run out into a confirmed
// booking. ErrNotFound: no such code for that resident; ErrConflict: not
// offered, or the offer ran out (the returned booking shows its state).
func (s *Store) AcceptBooking(ctx context.Context, residentID int64, code string, at time.Time) (Booking, error) {
	var b Booking
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		b, err = scanBooking(tx.QueryRowContext(ctx, "SELECT "+bookingColumns+" FROM bookings WHERE code = ?", code))
		if err != nil {
			return err
		}
		if b.ResidentID != residentID {
			return ErrNotFound
		}
		if b.Status != PlaceOffered || !b.OfferUntil.After(at) {
			return ErrConflict
		}
		_, err = tx.ExecContext(ctx, "UPDATE bookings SET status = 'confirmed', offer_until = NULL, updated_at = ? WHERE id = ?", at.Unix(), b.ID)
		b.Status, b.OfferUntil, b.UpdatedAt = PlaceConfirmed, time.Time{}, at
		return err
	})
	return b, err
}

// LapseBookingOffers ends every offer that ran out at or before now and
// offers the freed places on, in one transaction. capacity gives a service's
// places per slot (0 for a service no longer configured: nobody is offered).
func (s *Store) LapseBookingOffers(ctx context.Context, now time.Time, hold OfferHold, capacity func(service string) int) (lapsed, offered []Booking, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		lapsed, err = scanBookings(tx.QueryContext(ctx, "SELECT "+bookingColumns+` FROM bookings
			WHERE status = 'offered' AND offer_until <= ? ORDER BY id`, now.Unix()))
		if err != nil {
			return err
		}
		type slot struct {
			service string
			at      time.Time
		}
		var slots []slot
		seen := map[slot]bool{}
		for i, b := range lapsed {
			if _, err := tx.ExecContext(ctx, "UPDATE bookings SET status = 'lapsed', updated_at = ? WHERE id = ?", now.Unix(), b.ID); err != nil {
				return err
			}
			lapsed[i].Status, lapsed[i].UpdatedAt = PlaceLapsed, now
			k := slot{b.Service, b.SlotAt}
			if !seen[k] {
				seen[k] = true
				slots = append(slots, k)
			}
		}
		for _, k := range slots {
			ids, err := slotResource(k.service, k.at.Unix()).promote(ctx, tx, capacity(k.service), k.at, now, hold)
			if err != nil {
				return err
			}
			bs, err := bookingsByID(ctx, tx, ids)
			if err != nil {
				return err
			}
			offered = append(offered, bs...)
		}
		return nil
	})
	return lapsed, offered, err
}

// residentNameSQL is the expression of a resident's name for staff lists:
// the name they gave, else the display name of their latest identity.
func residentNameSQL(col string) string {
	return `COALESCE(NULLIF((SELECT name FROM residents WHERE id = ` + col + `), ''),
		(SELECT display_name FROM identities WHERE resident_id = ` + col + ` ORDER BY COALESCE(last_inbound_at, 0) DESC, id DESC LIMIT 1), '')`
}

func residentIDs(rows *sql.Rows, err error) ([]int64, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		out = append(out, id)
	}
	return out, rows.Err()
}
