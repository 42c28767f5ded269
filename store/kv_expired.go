package store

import (
	"context"
	"errors"
)

// DeleteExpiredValues removes the expired values whose keys start with
// prefix and returns how many. GetValue already ignores expired values; this
// is for values that must not stay on disk (short-lived copies of what a
// resident was told) and that would otherwise pile up, one row per key.
func (s *Store) DeleteExpiredValues(ctx context.Context, prefix string) (int64, error) {
	if prefix == "" || prefix[len(prefix)-1] == 0xff {
		return 0, errors.New("store: delete expired values: the prefix must be non-empty and not end in 0xff")
	}
	// A range on the key instead of LIKE: no wildcards to escape, and the
	// primary key index serves it.
	upper := []byte(prefix)
	upper[len(upper)-1]++
	res, err := s.exec(ctx, `DELETE FROM kv WHERE key >= ? AND key < ? AND expires_at IS NOT NULL AND expires_at <= ?`,
		prefix, string(upper), s.now().Unix())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
