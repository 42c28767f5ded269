package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// Conversation is the persisted state of a resident's current flow. The
// engine owns the meaning of State; the store keeps it so that a restart
// never strands a resident mid-flow.
type Conversation struct {
	ResidentID int64
	Flow       string
	State      []byte
	UpdatedAt  time.Time
}

// Conversation returns the resident's conversation or ErrNotFound.
func (s *Store) Conversation(ctx context.Context, residentID int64) (Conversation, error) {
	if pc, ok := preloaded(ctx, residentID); ok {
		if pc == nil {
			return Conversation{ResidentID: residentID}, ErrNotFound
		}
		return *pc, nil
	}
	c := Conversation{ResidentID: residentID}
	var state string
	var updated int64
	err := s.queryRowPrepared(ctx, "SELECT flow, state, updated_at FROM conversations WHERE resident_id = ?", residentID).
		Scan(&c.Flow, &state, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return c, ErrNotFound
	}
	c.State, c.UpdatedAt = []byte(state), time.Unix(updated, 0)
	return c, err
}

const (
	saveConversationSQL = `INSERT INTO conversations (resident_id, flow, state, updated_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (resident_id) DO UPDATE SET flow = excluded.flow, state = excluded.state, updated_at = excluded.updated_at`
	deleteConversationSQL = "DELETE FROM conversations WHERE resident_id = ?"
)

// SaveConversation stores the conversation, replacing the previous one
// (held until FlushWrites under DeferWrites).
func (s *Store) SaveConversation(ctx context.Context, c Conversation) error {
	args := []any{c.ResidentID, c.Flow, string(c.State), c.UpdatedAt.Unix()}
	if deferOp(ctx, func(ctx context.Context, tx *sql.Tx) error { return s.txExec(ctx, tx, saveConversationSQL, args...) }) {
		return nil
	}
	_, err := s.execPrepared(ctx, saveConversationSQL, args...)
	return err
}

// DeleteConversation forgets the resident's conversation (held until
// FlushWrites under DeferWrites).
func (s *Store) DeleteConversation(ctx context.Context, residentID int64) error {
	if deferOp(ctx, func(ctx context.Context, tx *sql.Tx) error {
		return s.txExec(ctx, tx, deleteConversationSQL, residentID)
	}) {
		return nil
	}
	_, err := s.execPrepared(ctx, deleteConversationSQL, residentID)
	return err
}
