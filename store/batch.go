package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// A message's round trip used to commit four write transactions (dedupe
// key, identity, conversation, message log). Each commit costs a WAL write
// and its locks, so the router now claims the key and resolves the identity
// in one (ClaimAndResolve) and saves the conversation together with the
// message log in another: it marks its context with DeferWrites, the
// engine's SaveConversation/DeleteConversation and the router's
// LogMessages only record what to write, and FlushWrites commits it all at
// once. Every other write runs at once as before, so side effects of a step
// (a ticket) are still stored before the conversation moves past them.

type deferKey struct{}

// deferred collects writes for one FlushWrites.
type deferred struct {
	mu  sync.Mutex
	ops []func(ctx context.Context, tx *sql.Tx) error
}

// DeferWrites returns a context in which SaveConversation,
// DeleteConversation and LogMessages are held until FlushWrites commits
// them in one transaction, in the order they were made. Reads do not see
// held writes.
func DeferWrites(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferKey{}, &deferred{})
}

// deferOp holds op when ctx defers writes and reports whether it did.
func deferOp(ctx context.Context, op func(ctx context.Context, tx *sql.Tx) error) bool {
	d, _ := ctx.Value(deferKey{}).(*deferred)
	if d == nil {
		return false
	}
	d.mu.Lock()
	d.ops = append(d.ops, op)
	d.mu.Unlock()
	return true
}

// FlushWrites commits the writes held in ctx in one transaction and forgets
// them. Without DeferWrites it is an error; with nothing held, a no-op.
func (s *Store) FlushWrites(ctx context.Context) error {
	d, _ := ctx.Value(deferKey{}).(*deferred)
	if d == nil {
		return errors.New("store: FlushWrites without DeferWrites")
	}
	d.mu.Lock()
	ops := d.ops
	d.ops = nil
	d.mu.Unlock()
	if len(ops) == 0 {
		return nil
	}
	// The flush must not be held again by its own context.
	plain := context.WithValue(ctx, deferKey{}, (*deferred)(nil))
	return s.groupTx(plain, func(tx *sql.Tx) error {
		for _, op := range ops {
			if err := op(plain, tx); err != nil {
				return err
			}
		}
		return nil
	})
}
