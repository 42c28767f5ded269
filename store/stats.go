package store

import (
	"context"
	"time"
)

// TicketGauges are the live counts an operator watches.
type TicketGauges struct {
	Open    int // open or claimed
	Overdue int // open or claimed and past the response deadline without a first response
}

// TicketGauges counts open and overdue tickets at now.
func (s *Store) TicketGauges(ctx context.Context, now time.Time) (TicketGauges, error) {
	var g TicketGauges
	err := s.db.QueryRowContext(ctx, `SELECT
		COUNT(*),
		COALESCE(SUM(CASE WHEN due_at < ? AND first_response_at IS NULL THEN 1 ELSE 0 END), 0)
		FROM tickets WHERE status IN ('open', 'claimed')`, now.Unix()).Scan(&g.Open, &g.Overdue)
	return g, err
}
