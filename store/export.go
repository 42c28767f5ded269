package store

import (
	"context"
	"time"
)

// The queries behind a resident's "export my data": everything of theirs,
// whatever its status, not just what is live.

// AllResidentBookings lists every booking of a resident, newest slot first.
func (s *Store) AllResidentBookings(ctx context.Context, residentID int64) ([]Booking, error) {
	return scanBookings(s.db.QueryContext(ctx, "SELECT "+bookingColumns+` FROM bookings
		WHERE resident_id = ? ORDER BY slot_at DESC, id DESC`, residentID))
}

// AllResidentRegistrations lists every event registration of a resident,
// newest first.
func (s *Store) AllResidentRegistrations(ctx context.Context, residentID int64) ([]Registration, error) {
	return scanRegistrations(s.db.QueryContext(ctx, "SELECT "+registrationColumns+` FROM registrations
		WHERE resident_id = ? ORDER BY id DESC`, residentID))
}

// ResidentTags lists the labels staff gave a resident.
func (s *Store) ResidentTags(ctx context.Context, residentID int64) ([]string, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT tag FROM resident_tags WHERE resident_id = ? ORDER BY tag", residentID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// StaleConversations lists the residents whose conversation has been in
// flow, untouched, since before `before` (flows forgets residents who never
// answered the consent question).
func (s *Store) StaleConversations(ctx context.Context, flow string, before time.Time) ([]int64, error) {
	return residentIDs(s.db.QueryContext(ctx, `SELECT c.resident_id FROM conversations c JOIN residents r ON r.id = c.resident_id
		WHERE c.flow = ? AND c.updated_at < ? AND r.erased_at IS NULL ORDER BY c.resident_id`, flow, before.Unix()))
}

// HasHistory reports whether a resident has any ticket, booking or event
// registration.
func (s *Store) HasHistory(ctx context.Context, residentID int64) (bool, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM tickets WHERE resident_id = ?)
		+ (SELECT COUNT(*) FROM bookings WHERE resident_id = ?) + (SELECT COUNT(*) FROM registrations WHERE resident_id = ?)`,
		residentID, residentID, residentID).Scan(&n)
	return n > 0, err
}
