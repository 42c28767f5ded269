package store

import (
	"context"
	"time"
)

// AuditEntry is one staff action or refused attempt.
type AuditEntry struct {
	ID        int64
	Actor     string
	Action    string
	Target    string
	Detail    string
	Allowed   bool
	CreatedAt time.Time
}

// Audit records a staff action or a refused attempt at one.
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	if e.CreatedAt.IsZero() {
		e.CreatedAt = s.now()
	}
	_, err := s.exec(ctx, "INSERT INTO audit (actor, action, target, detail, allowed, created_at) VALUES (?, ?, ?, ?, ?, ?)",
		e.Actor, e.Action, e.Target, e.Detail, e.Allowed, e.CreatedAt.Unix())
	return err
}

// AuditLog returns the most recent n entries, newest first.
func (s *Store) AuditLog(ctx context.Context, n int) ([]AuditEntry, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT id, actor, action, target, detail, allowed, created_at FROM audit ORDER BY id DESC LIMIT ?", n)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&e.ID, &e.Actor, &e.Action, &e.Target, &e.Detail, &e.Allowed, &at); err != nil {
			return nil, err
		}
		e.CreatedAt = time.Unix(at, 0)
		out = append(out, e)
	}
	return out, rows.Err()
}
