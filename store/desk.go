package store

import (
	"context"
	"database/sql"
	"errors"
	"time"
)

// TicketOfMessage returns the ref (a ticket number) of the alert that a
// channel message is, given the channel, the chat it was sent to and the
// message id the channel reported when it was sent. Staff replying to an
// alert in the staff group are mapped back to the ticket this way.
func (s *Store) TicketOfMessage(ctx context.Context, channel, address, providerID string) (string, error) {
	var ref string
	// provider_id <> '' lets the partial index on provider_id serve it (and
	// an empty id finds nothing).
	err := s.db.QueryRowContext(ctx, `SELECT ref FROM outbox
		WHERE channel = ? AND provider_id = ? AND provider_id <> '' AND target_address = ? AND kind = 'alert' AND ref <> ''
		ORDER BY id DESC LIMIT 1`, channel, providerID, address).Scan(&ref)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return ref, err
}

// AlertMessage returns the channel's message id of the first alert about
// ref that reached a chat, so later messages about the same ticket can be
// threaded under it.
func (s *Store) AlertMessage(ctx context.Context, ref, channel, address string) (string, error) {
	var id string
	err := s.db.QueryRowContext(ctx, `SELECT provider_id FROM outbox
		WHERE ref = ? AND kind = 'alert' AND channel = ? AND target_address = ? AND provider_id <> ''
		AND status IN ('sent', 'delivered') ORDER BY id LIMIT 1`, ref, channel, address).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	return id, err
}

// LastTicketEvent returns when a ticket last had an event of kind; the zero
// time when it never had one.
func (s *Store) LastTicketEvent(ctx context.Context, ticketID int64, kind string) (time.Time, error) {
	var at sql.NullInt64
	err := s.db.QueryRowContext(ctx, "SELECT MAX(created_at) FROM ticket_events WHERE ticket_id = ? AND kind = ?", ticketID, kind).Scan(&at)
	return fromUnix(at), err
}
