package store

import (
	"context"
	"time"
)

// ClaimInbound records a platform's message key before the message is acted
// on. It reports false when the key was seen before: a redelivery.
func (s *Store) ClaimInbound(ctx context.Context, channel, key string, at time.Time) (bool, error) {
	res, err := s.exec(ctx, "INSERT INTO inbound_keys (channel, key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
		channel, key, at.Unix())
	if err != nil {
		return false, err
	}
	n, err := res.RowsAffected()
	return n == 1, err
}

// PurgeInbound forgets keys older than before; platforms stop redelivering
// within minutes, so a day is plenty.
func (s *Store) PurgeInbound(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.exec(ctx, "DELETE FROM inbound_keys WHERE created_at < ?", before.Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
