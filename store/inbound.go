package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

const claimInboundSQL = "INSERT INTO inbound_keys (channel, key, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING"

// ClaimInbound records a platform's message key before the message is acted
// on. It reports false when the key was seen before: a redelivery.
func (s *Store) ClaimInbound(ctx context.Context, channel, key string, at time.Time) (bool, error) {
	res, err := s.execPrepared(ctx, claimInboundSQL, channel, key, at.Unix())
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

// ClaimAndResolve is ClaimInbound and ResolveIdentity in one transaction,
// for the router's hot path. A key seen before reports fresh = false and
// resolves nothing.
func (s *Store) ClaimAndResolve(ctx context.Context, channel, key string, k IdentityKey, at time.Time) (fresh bool, res Resident, id Identity, created bool, err error) {
	if k.Channel == "" || k.ExternalID == "" {
		return false, res, id, false, errors.New("store: identity needs a channel and an id")
	}
	err = s.groupTx(ctx, func(tx *sql.Tx) error {
		fresh = false
		claim, err := s.txStmt(ctx, tx, claimInboundSQL)
		if err != nil {
			return err
		}
		r, err := claim.ExecContext(ctx, channel, key, at.Unix())
		if err != nil {
			return err
		}
		if n, err := r.RowsAffected(); err != nil || n != 1 {
			return err
		}
		fresh = true
		res, id, created, err = s.resolveIdentityTx(ctx, tx, k, at)
		return err
	})
	if err != nil {
		return false, Resident{}, Identity{}, false, err
	}
	return fresh, res, id, created, nil
}
