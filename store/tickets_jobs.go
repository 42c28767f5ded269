package store

import (
	"context"
	"time"
)

// TicketsToSurvey lists resolved, unrated tickets of residents still known,
// resolved between from and to, oldest first: the scheduler sends each a
// survey once the resident has had their chance to rate in the bot.
func (s *Store) TicketsToSurvey(ctx context.Context, from, to time.Time) ([]Ticket, error) {
	return scanTickets(s.db.QueryContext(ctx, "SELECT "+ticketColumns+` FROM tickets WHERE status = 'resolved'
		AND rating IS NULL AND resident_id IS NOT NULL AND resolved_at >= ? AND resolved_at <= ? ORDER BY resolved_at, id`,
		from.Unix(), to.Unix()))
}

// OverdueUnclaimed lists tickets nobody has claimed whose response target
// ran out at or before now, oldest due first.
func (s *Store) OverdueUnclaimed(ctx context.Context, now time.Time) ([]Ticket, error) {
	return scanTickets(s.db.QueryContext(ctx, "SELECT "+ticketColumns+` FROM tickets WHERE status = 'open' AND due_at <= ?
		ORDER BY due_at, id`, now.Unix()))
}
