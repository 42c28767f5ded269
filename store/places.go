package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Place statuses, shared by service bookings and event registrations. A row
// holds places while it is confirmed or offered.
const (
	PlaceConfirmed = "confirmed" // has its place
	PlaceWaiting   = "waiting"   // on the waiting list, in id order
	PlaceOffered   = "offered"   // a freed place is held for it until OfferUntil
	PlaceCancelled = "cancelled" // withdrawn by the resident
	PlaceDeclined  = "declined"  // turned an offered place down
	PlaceLapsed    = "lapsed"    // let an offered place run out
)

// ErrFull is returned when no place is free and the caller did not ask to
// join the waiting list.
var ErrFull = errors.New("store: no place free")

// PlaceRelease withdraws a live booking or registration: the resident
// cancels it or declines an offer. Places it frees are offered to the
// waiting list in the same transaction, so a newcomer cannot take them first.
type PlaceRelease struct {
	Code       string
	ResidentID int64    // the owner; 0 skips the check (staff acting)
	From       []string // the statuses it may leave; anything else is ErrConflict
	To         string   // PlaceCancelled or PlaceDeclined
	Capacity   int      // bookings only: places per slot (events keep theirs in the table)
	OfferFor   OfferHold
	At         time.Time
}

// OfferHold gives, for the moment a freed place is offered, until when it
// is held for the resident. How long is the caller's rule (flows holds it 2
// hours from the end of quiet hours); the store caps it at the start of what
// is offered. Nil holds it until the start.
type OfferHold func(offeredAt time.Time) time.Time

// HoldFor holds an offer for d from the moment it is made.
func HoldFor(d time.Duration) OfferHold {
	return func(at time.Time) time.Time { return at.Add(d) }
}

// until is the end of an offer made at now for something starting at start.
func (h OfferHold) until(now, start time.Time) time.Time {
	if h == nil {
		return start
	}
	if u := h(now); u.Before(start) {
		return u
	}
	return start
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// resource is the set of rows of one table that compete for the same places:
// one service slot, or one event. table and where are constants of this
// package, never input.
type resource struct {
	table string
	where string
	args  []any
}

func slotResource(service string, slotAt int64) resource {
	return resource{table: "bookings", where: "service = ? AND slot_at = ?", args: []any{service, slotAt}}
}

func eventResource(eventID int64) resource {
	return resource{table: "registrations", where: "event_id = ?", args: []any{eventID}}
}

// held is the number of places taken (confirmed or offered).
func (r resource) held(ctx context.Context, q querier) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COALESCE(SUM(party), 0) FROM "+r.table+" WHERE "+r.where+
		" AND status IN ('confirmed', 'offered')", r.args...).Scan(&n)
	return n, err
}

// position is a waiting row's place on the waiting list (1: next in line).
func (r resource) position(ctx context.Context, q querier, id int64) (int, error) {
	var n int
	err := q.QueryRowContext(ctx, "SELECT COUNT(*) FROM "+r.table+" WHERE "+r.where+
		" AND status = 'waiting' AND id <= ?", append(r.args, id)...).Scan(&n)
	return n, err
}

// promote offers free places to the waiting list in arrival order: every
// waiting row whose party fits is offered until min(hold(now), start).
// Nothing is offered once the resource has started. It returns the ids offered.
func (r resource) promote(ctx context.Context, tx *sql.Tx, capacity int, start, now time.Time, hold OfferHold) ([]int64, error) {
	if !start.After(now) || capacity <= 0 {
		return nil, nil
	}
	used, err := r.held(ctx, tx)
	if err != nil {
		return nil, err
	}
	free := capacity - used
	if free <= 0 {
		return nil, nil
	}
	until := hold.until(now, start)
	rows, err := tx.QueryContext(ctx, "SELECT id, party FROM "+r.table+" WHERE "+r.where+
		" AND status = 'waiting' ORDER BY id", r.args...)
	if err != nil {
		return nil, err
	}
	type waiter struct {
		id    int64
		party int
	}
	var queue []waiter
	for rows.Next() {
		var w waiter
		if err := rows.Scan(&w.id, &w.party); err != nil {
			rows.Close()
			return nil, err
		}
		queue = append(queue, w)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var offered []int64
	for _, w := range queue {
		if free <= 0 {
			break
		}
		if w.party > free {
			continue // a larger party waits; a smaller one behind it may fit
		}
		if _, err := tx.ExecContext(ctx, "UPDATE "+r.table+" SET status = 'offered', offer_until = ?, updated_at = ? WHERE id = ?",
			until.Unix(), now.Unix(), w.id); err != nil {
			return nil, err
		}
		free -= w.party
		offered = append(offered, w.id)
	}
	return offered, nil
}

// ResidentName is the name staff see for a resident: the name they gave,
// else the display name of their latest identity ("" when neither exists).
func (s *Store) ResidentName(ctx context.Context, residentID int64) (string, error) {
	var name string
	// The expression names the resident twice.
	err := s.db.QueryRowContext(ctx, "SELECT "+residentNameSQL("?"), residentID, residentID).Scan(&name)
	return name, err
}

func inList(s string, list []string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
