package store

import "context"

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
