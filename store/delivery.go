package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// RecordDelivery records a provider's delivery report (a WeChat
// TEMPLATESENDJOBFINISH event, say) against the outbox row that the provider
// accepted under providerID: delivered, or failed with detail. Only rows
// already handed over (sent, or reported before) change, so a late or
// repeated report cannot resurrect a cancelled or pending row. It returns
// the row's id, or ErrNotFound when no such row exists.
func (s *Store) RecordDelivery(ctx context.Context, provider, providerID string, delivered bool, detail string, at time.Time) (int64, error) {
	if providerID == "" {
		return 0, ErrNotFound
	}
	status, deliveredAt := OutboxFailed, any(nil)
	if delivered {
		status, deliveredAt, detail = OutboxDelivered, at.Unix(), ""
	}
	var id int64
	defer s.lockWrite()()
	// provider_id <> '' lets the partial index on provider_id serve it.
	err := s.db.QueryRowContext(ctx, `UPDATE outbox SET status = ?, error = ?, delivered_at = COALESCE(?, delivered_at)
		WHERE provider = ? AND provider_id = ? AND provider_id <> '' AND status IN ('sent', 'delivered', 'failed') RETURNING id`,
		status, clipError(detail), deliveredAt, provider, providerID).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, ErrNotFound
	}
	return id, err
}

func clipError(s string) string {
	if len(s) > 500 {
		return s[:500]
	}
	return s
}
