package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// GetValue returns a stored value that has not expired, or ErrNotFound.
func (s *Store) GetValue(ctx context.Context, key string) (string, time.Time, error) {
	var v string
	var exp sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT value, expires_at FROM kv WHERE key = ?", key).Scan(&v, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return "", time.Time{}, ErrNotFound
	}
	if err != nil {
		return "", time.Time{}, err
	}
	if exp.Valid && exp.Int64 <= s.now().Unix() {
		return "", time.Time{}, ErrNotFound
	}
	return v, fromUnix(exp), nil
}

// SetValue stores a value; a zero expiry keeps it forever.
func (s *Store) SetValue(ctx context.Context, key, value string, expires time.Time) error {
	_, err := s.exec(ctx, `INSERT INTO kv (key, value, expires_at) VALUES (?, ?, ?)
		ON CONFLICT (key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at`, key, value, unix(expires))
	return err
}

// DeleteValue removes a value.
func (s *Store) DeleteValue(ctx context.Context, key string) error {
	_, err := s.exec(ctx, "DELETE FROM kv WHERE key = ?", key)
	return err
}
