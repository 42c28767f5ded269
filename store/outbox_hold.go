package store

import "context"

// BroadcastHeldDue counts the broadcast's rows that wait for a web page
// with a deadline, after which they move on down their chain (SMS): the
// broadcast is not over until they have. Rows held with no deadline wait
// for the page alone; nothing more will be done with them.
func (s *Store) BroadcastHeldDue(ctx context.Context, id int64) (int, error) {
	var n int
	// Read through the index of held rows (few), not the broadcast's (all
	// of its rows, which no longer tell their status without the table):
	// the unary plus keeps SQLite from choosing the latter.
	err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox
		WHERE +broadcast_id = ? AND status = 'held' AND hold_until IS NOT NULL`, id).Scan(&n)
	return n, err
}
