package store

import (
	"context"
	"strings"
)

// MessageChat is a chat an outbox row reached: the channel name recorded
// on the row (the carrying channel, or a routing name such as "staff") and
// the row's target address ("" for rows routed by name).
type MessageChat struct {
	Channel string
	Address string
}

// AlertOfMessage returns the alert row that a channel message is, given
// the message id the channel reported when it was sent and the chats it
// may have gone to; the newest wins. Staff replying to an alert are mapped
// back to what it was about this way: a ticket, a resident's SMS, or
// nothing (the digest).
func (s *Store) AlertOfMessage(ctx context.Context, providerID string, chats ...MessageChat) (OutboxRow, error) {
	if providerID == "" || len(chats) == 0 {
		return OutboxRow{}, ErrNotFound
	}
	conds := make([]string, len(chats))
	args := []any{providerID}
	for i, c := range chats {
		conds[i] = "(channel = ? AND target_address = ?)"
		args = append(args, c.Channel, c.Address)
	}
	// provider_id <> '' lets the partial index on provider_id serve it.
	return scanOutbox(s.db.QueryRowContext(ctx, "SELECT "+outboxColumns+` FROM outbox
		WHERE kind = 'alert' AND provider_id = ? AND provider_id <> '' AND (`+strings.Join(conds, " OR ")+`)
		ORDER BY id DESC LIMIT 1`, args...))
}
