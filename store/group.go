package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Group commit. Under load many residents' messages are in flight at once,
// and each of them commits twice (claim+resolve, conversation+log). A
// commit costs locks and a WAL write of every page it touched; the
// messages of one moment touch the same few pages (the newest leaf of
// inbound_keys, message_log and their indexes). groupTx therefore lets the
// first caller run a transaction for everyone queued behind it: each
// caller's work runs under its own SAVEPOINT, so one failing caller rolls
// back only its own part, and a single COMMIT covers them all. With no
// concurrency a group has one member and costs one SAVEPOINT more than tx.

type groupReq struct {
	fn   func(*sql.Tx) error
	done chan error
}

type groupState struct {
	mu      sync.Mutex
	queue   []*groupReq
	running bool
}

// maxGroup bounds one group so a long queue cannot hold the write lock for
// long.
const maxGroup = 64

// groupTx runs fn in a write transaction shared with other concurrent
// callers and returns when that transaction has committed (or fn failed).
func (s *Store) groupTx(ctx context.Context, fn func(*sql.Tx) error) error {
	fn, donePre := withPre(ctx, fn)
	req := &groupReq{fn: fn, done: make(chan error, 1)}
	g := &s.group
	g.mu.Lock()
	g.queue = append(g.queue, req)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		s.leadGroups(ctx)
	}
	err := <-req.done
	donePre(err)
	return err
}

// leadGroups commits queued groups until the queue is empty.
func (s *Store) leadGroups(ctx context.Context) {
	// Followers' work must not die with the leader's request, nor carry
	// the leader's turn (each member carries its own).
	ctx = context.WithValue(context.WithoutCancel(ctx), deferKey{}, (*deferred)(nil))
	g := &s.group
	for {
		g.mu.Lock()
		n := min(len(g.queue), maxGroup)
		if n == 0 {
			g.running = false
			g.mu.Unlock()
			return
		}
		batch := g.queue[:n:n]
		g.queue = append([]*groupReq(nil), g.queue[n:]...)
		g.mu.Unlock()
		s.commitGroup(ctx, batch)
	}
}

func (s *Store) commitGroup(ctx context.Context, batch []*groupReq) {
	errs := make([]error, len(batch))
	err := s.txRaw(ctx, func(tx *sql.Tx) error {
		for i, r := range batch {
			if len(batch) == 1 {
				errs[i] = r.fn(tx)
				return errs[i]
			}
			// Cached statements: modernc parses unprepared SQL anew
			// every time, three times per member here.
			if err := s.txExec(ctx, tx, "SAVEPOINT member"); err != nil {
				return err
			}
			errs[i] = r.fn(tx)
			if errs[i] != nil {
				if err := s.txExec(ctx, tx, "ROLLBACK TO member"); err != nil {
					return err
				}
			}
			if err := s.txExec(ctx, tx, "RELEASE member"); err != nil {
				return err
			}
		}
		return nil
	})
	for i, r := range batch {
		switch {
		case errs[i] != nil:
			r.done <- errs[i]
		case err != nil:
			r.done <- fmt.Errorf("store: group commit: %w", err)
		default:
			r.done <- nil
		}
	}
}
