package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Ticket statuses.
const (
	TicketOpen      = "open"      // reported, nobody has claimed it
	TicketClaimed   = "claimed"   // a staff member is handling it
	TicketResolved  = "resolved"  // staff closed it
	TicketCancelled = "cancelled" // the resident withdrew it before anyone claimed it
)

// Ticket event kinds: the full history of a ticket.
const (
	EventCreated   = "created"
	EventClaimed   = "claimed"
	EventReplied   = "replied"
	EventResolved  = "resolved"
	EventReopened  = "reopened"
	EventRated     = "rated"
	EventCancelled = "cancelled"
	EventNote      = "note" // a later message from the resident about the ticket
)

// Ticket is a reported problem.
type Ticket struct {
	ID              int64
	Number          string
	ResidentID      int64 // 0 once the resident's data has been erased
	Category        string
	Description     string
	Photo           string // channel reference (media id, file id, upload path)
	PhotoURL        string
	Latitude        *float64
	Longitude       *float64
	LocationLabel   string
	Address         string // building/unit/room as given
	ContactPhone    string
	Channel         string
	Status          string
	Assignee        string
	CreatedAt       time.Time
	DueAt           time.Time // when the category's response target runs out
	FirstResponseAt time.Time
	ResolvedAt      time.Time
	Rating          int // 0: not rated
	RatedAt         time.Time
}

// Open reports whether the ticket still needs work.
func (t Ticket) Open() bool { return t.Status == TicketOpen || t.Status == TicketClaimed }

// TicketEvent is one entry in a ticket's history.
type TicketEvent struct {
	ID        int64
	TicketID  int64
	Kind      string
	Actor     string
	Note      string
	CreatedAt time.Time
}

// NewTicket is what a resident's report creates.
type NewTicket struct {
	ResidentID    int64
	RequestKey    string // makes creation idempotent: the same key returns the same ticket
	Category      string
	Description   string
	Photo         string
	PhotoURL      string
	Latitude      *float64
	Longitude     *float64
	LocationLabel string
	Address       string
	ContactPhone  string
	Channel       string
	CreatedAt     time.Time
	DueAt         time.Time
}

const ticketColumns = `id, number, resident_id, category, description, photo, photo_url, latitude, longitude,
	location_label, address, contact_phone, channel, status, assignee, created_at, due_at,
	first_response_at, resolved_at, rating, rated_at`

func scanTicket(row interface{ Scan(...any) error }) (Ticket, error) {
	var t Ticket
	var resident, rating sql.NullInt64
	var lat, lon sql.NullFloat64
	var created, due, first, resolved, rated sql.NullInt64
	err := row.Scan(&t.ID, &t.Number, &resident, &t.Category, &t.Description, &t.Photo, &t.PhotoURL, &lat, &lon,
		&t.LocationLabel, &t.Address, &t.ContactPhone, &t.Channel, &t.Status, &t.Assignee, &created, &due,
		&first, &resolved, &rating, &rated)
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrNotFound
	}
	if err != nil {
		return t, err
	}
	t.ResidentID, t.Rating = resident.Int64, int(rating.Int64)
	if lat.Valid && lon.Valid {
		t.Latitude, t.Longitude = &lat.Float64, &lon.Float64
	}
	t.CreatedAt, t.DueAt, t.FirstResponseAt = fromUnix(created), fromUnix(due), fromUnix(first)
	t.ResolvedAt, t.RatedAt = fromUnix(resolved), fromUnix(rated)
	return t, nil
}

func scanTickets(rows *sql.Rows, err error) ([]Ticket, error) { return scanAll(rows, err, scanTicket) }

// NormalizeTicketNumber turns "t1024", "T 1024" or "#1024" into "T1024"; ok is
// false when the text is not a ticket number.
func NormalizeTicketNumber(s string) (string, bool) {
	s = strings.TrimSpace(strings.ToUpper(s))
	s = strings.TrimPrefix(s, "#")
	s = strings.TrimPrefix(s, "T")
	s = strings.TrimSpace(s)
	if len(s) < 4 || len(s) > 9 {
		return "", false
	}
	if _, err := strconv.ParseUint(s, 10, 32); err != nil {
		return "", false
	}
	return "T" + s, true
}

// CreateTicket stores a new ticket and its "created" event. A repeated
// RequestKey returns the ticket created the first time (existed = true), so a
// resident who confirms twice, or a retried step, never makes two tickets.
func (s *Store) CreateTicket(ctx context.Context, n NewTicket) (t Ticket, existed bool, err error) {
	if n.CreatedAt.IsZero() {
		n.CreatedAt = s.now()
	}
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if n.RequestKey != "" {
			t, err = scanTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE request_key = ?", n.RequestKey))
			if err == nil {
				existed = true
				return nil
			}
			if !errors.Is(err, ErrNotFound) {
				return err
			}
		}
		seq, err := nextCounter(ctx, tx, "ticket")
		if err != nil {
			return err
		}
		var key any
		if n.RequestKey != "" {
			key = n.RequestKey
		}
		var resident any
		if n.ResidentID != 0 {
			resident = n.ResidentID
		}
		t, err = scanTicket(tx.QueryRowContext(ctx, `INSERT INTO tickets (number, resident_id, request_key, category, description,
			photo, photo_url, latitude, longitude, location_label, address, contact_phone, channel, status, created_at, due_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING `+ticketColumns,
			"T"+strconv.FormatInt(seq, 10), resident, key, n.Category, n.Description, n.Photo, n.PhotoURL,
			n.Latitude, n.Longitude, n.LocationLabel, n.Address, n.ContactPhone, n.Channel, TicketOpen,
			n.CreatedAt.Unix(), n.DueAt.Unix()))
		if err != nil {
			return fmt.Errorf("store: create ticket: %w", err)
		}
		return addEvent(ctx, tx, TicketEvent{TicketID: t.ID, Kind: EventCreated, CreatedAt: n.CreatedAt})
	})
	return t, existed, err
}

func addEvent(ctx context.Context, tx *sql.Tx, e TicketEvent) error {
	_, err := tx.ExecContext(ctx, "INSERT INTO ticket_events (ticket_id, kind, actor, note, created_at) VALUES (?, ?, ?, ?, ?)",
		e.TicketID, e.Kind, e.Actor, e.Note, e.CreatedAt.Unix())
	return err
}

// Ticket returns a ticket by its number.
func (s *Store) Ticket(ctx context.Context, number string) (Ticket, error) {
	return scanTicket(s.db.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE number = ?", number))
}

// ResidentTickets lists a resident's tickets, newest first; openOnly keeps
// those still needing work.
func (s *Store) ResidentTickets(ctx context.Context, residentID int64, openOnly bool) ([]Ticket, error) {
	q := "SELECT " + ticketColumns + " FROM tickets WHERE resident_id = ?"
	if openOnly {
		q += " AND status IN ('open', 'claimed')"
	}
	return scanTickets(s.db.QueryContext(ctx, q+" ORDER BY id DESC", residentID))
}

// OpenTickets lists every unresolved ticket, oldest first.
func (s *Store) OpenTickets(ctx context.Context) ([]Ticket, error) {
	return scanTickets(s.db.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE status IN ('open', 'claimed') ORDER BY id"))
}

// TicketsCreatedSince lists tickets created at or after since, oldest first.
func (s *Store) TicketsCreatedSince(ctx context.Context, since time.Time) ([]Ticket, error) {
	return scanTickets(s.db.QueryContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE created_at >= ? ORDER BY id", since.Unix()))
}

// TicketEvents returns a ticket's history, oldest first.
func (s *Store) TicketEvents(ctx context.Context, ticketID int64) ([]TicketEvent, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, ticket_id, kind, actor, note, created_at FROM ticket_events WHERE ticket_id = ? ORDER BY id", ticketID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []TicketEvent
	for rows.Next() {
		var e TicketEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.TicketID, &e.Kind, &e.Actor, &e.Note, &at); err != nil {
			return nil, err
		}
		e.CreatedAt = time.Unix(at, 0)
		out = append(out, e)
	}
	return out, rows.Err()
}

// TicketChange is a conditional change of a ticket: it applies only when the
// ticket is in one of From (and, if ResidentID is set, belongs to that
// resident); otherwise ErrConflict (or ErrNotFound for no such ticket).
type TicketChange struct {
	Number     string
	From       []string
	To         string // new status; empty keeps it
	ResidentID int64
	Event      TicketEvent
	Assignee   string // set when non-empty
	Rating     int    // set when non-zero
	// FirstResponse stamps first_response_at if it is still empty.
	FirstResponse bool
}

// ChangeTicket applies a TicketChange and records its event in one transaction.
func (s *Store) ChangeTicket(ctx context.Context, c TicketChange) (Ticket, error) {
	if c.Event.CreatedAt.IsZero() {
		c.Event.CreatedAt = s.now()
	}
	var t Ticket
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		t, err = scanTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE number = ?", c.Number))
		if err != nil {
			return err
		}
		if c.ResidentID != 0 && t.ResidentID != c.ResidentID {
			return ErrNotFound // someone else's ticket is, to this resident, no ticket at all
		}
		if len(c.From) > 0 && !contains(c.From, t.Status) {
			return ErrConflict
		}
		at := c.Event.CreatedAt.Unix()
		set := []string{}
		args := []any{}
		if c.To != "" {
			set = append(set, "status = ?")
			args = append(args, c.To)
			switch c.To {
			case TicketResolved:
				set = append(set, "resolved_at = ?")
				args = append(args, at)
			case TicketOpen, TicketClaimed:
				set = append(set, "resolved_at = NULL")
			}
		}
		if c.Assignee != "" {
			set = append(set, "assignee = ?")
			args = append(args, c.Assignee)
		}
		if c.Rating != 0 {
			set = append(set, "rating = ?", "rated_at = ?")
			args = append(args, c.Rating, at)
		}
		if c.FirstResponse && t.FirstResponseAt.IsZero() {
			set = append(set, "first_response_at = ?")
			args = append(args, at)
		}
		if len(set) > 0 {
			args = append(args, t.ID)
			if _, err := tx.ExecContext(ctx, "UPDATE tickets SET "+strings.Join(set, ", ")+" WHERE id = ?", args...); err != nil {
				return err
			}
		}
		c.Event.TicketID = t.ID
		if err := addEvent(ctx, tx, c.Event); err != nil {
			return err
		}
		t, err = scanTicket(tx.QueryRowContext(ctx, "SELECT "+ticketColumns+" FROM tickets WHERE id = ?", t.ID))
		return err
	})
	return t, err
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
