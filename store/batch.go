package store

import (
	"context"
	"database/sql"
	"errors"
	"sync"
)

// A message's round trip used to commit four write transactions (dedupe
// key, identity, conversation, message log). Each commit costs a WAL write
// and its locks, so the router marks its context (StartTurn, or
// DeferWrites), the engine's SaveConversation/DeleteConversation and the
// router's LogMessages only record what to write, and FlushWrites commits
// it all at once (the log lines join the log's next batch). Every other write runs at once as before, so side
// effects of a step (a ticket) are still stored before the conversation
// moves past them; under StartTurn they carry the turn's claim (turn.go).

type deferKey struct{}

type op = func(ctx context.Context, tx *sql.Tx) error

// deferred collects writes for one FlushWrites.
type deferred struct {
	mu  sync.Mutex
	ops []op
	// logLines go to the message log's batch once the turn has committed.
	logLines []LoggedMessage

	// pre are the turn's claim and identity touch (StartTurn): written
	// before anything else of the turn, in the turn's first write
	// transaction, whichever that is. preMu is held across that
	// transaction so two writes of one turn cannot both carry them.
	preMu   sync.Mutex
	pre     []op
	preDone bool
	lost    bool // the claim failed: another process has the message

	// conv answers the turn's first Conversation read (StartTurn read it).
	convMu  sync.Mutex
	convSet bool
	conv    *Conversation // nil: the resident has none
	convRes int64
}

// DeferWrites returns a context in which SaveConversation and
// DeleteConversation are held until FlushWrites commits them in one
// transaction, in the order they were made, and LogMessages until that
// commit succeeded (the log is appended in batches, logbuf.go). Reads do
// not see held writes.
func DeferWrites(ctx context.Context) context.Context {
	return context.WithValue(ctx, deferKey{}, &deferred{})
}

func deferredOf(ctx context.Context) *deferred {
	d, _ := ctx.Value(deferKey{}).(*deferred)
	return d
}

// deferOp holds op when ctx defers writes and reports whether it did.
func deferOp(ctx context.Context, op op) bool {
	d := deferredOf(ctx)
	if d == nil {
		return false
	}
	d.mu.Lock()
	d.ops = append(d.ops, op)
	d.mu.Unlock()
	// What the turn read is stale once it writes the conversation.
	d.convMu.Lock()
	d.convSet = false
	d.convMu.Unlock()
	return true
}

func (d *deferred) preload(residentID int64, c *Conversation) {
	d.convMu.Lock()
	d.convSet, d.conv, d.convRes = true, c, residentID
	d.convMu.Unlock()
}

// preloaded returns, once, the conversation StartTurn read for residentID.
func preloaded(ctx context.Context, residentID int64) (c *Conversation, ok bool) {
	d := deferredOf(ctx)
	if d == nil {
		return nil, false
	}
	d.convMu.Lock()
	defer d.convMu.Unlock()
	if !d.convSet || d.convRes != residentID {
		return nil, false
	}
	d.convSet = false
	return d.conv, true
}

// pendingPre returns the turn of ctx when it still holds its claim and
// touch, with preMu locked; the caller runs them in its transaction, calls
// donePre with the outcome and unlocks preMu. It returns nil (nothing
// locked) otherwise.
func pendingPre(ctx context.Context) *deferred {
	d := deferredOf(ctx)
	if d == nil {
		return nil
	}
	d.preMu.Lock()
	if d.preDone || len(d.pre) == 0 {
		d.preMu.Unlock()
		return nil
	}
	return d
}

// runPre writes the held claim and touch inside tx.
func (d *deferred) runPre(ctx context.Context, tx *sql.Tx) error {
	for _, op := range d.pre {
		if err := op(ctx, tx); err != nil {
			return err
		}
	}
	return nil
}

// donePre records the outcome of the transaction that carried the claim
// and unlocks preMu: committed, they are never written again; lost to
// another process, the turn is a duplicate.
func (d *deferred) donePre(err error) {
	switch {
	case err == nil:
		d.preDone = true
	case errors.Is(err, ErrClaimed):
		d.preDone, d.lost = true, true
	}
	d.preMu.Unlock()
}

// DiscardWrites forgets the writes held in ctx (a step that failed) but
// keeps the turn's claim of its key and the identity's touch for
// FlushWrites, so a failed message is still never run twice.
func DiscardWrites(ctx context.Context) {
	if d := deferredOf(ctx); d != nil {
		d.mu.Lock()
		d.ops, d.logLines = nil, nil
		d.mu.Unlock()
	}
}

// FlushWrites commits the writes held in ctx in one transaction and forgets
// them: under StartTurn the claim of the key and the identity's touch
// first (unless a write of the turn carried them already), then the held
// writes in the order they were made. It returns ErrClaimed, storing
// nothing, when another process claimed the key first. Without
// DeferWrites or StartTurn it is an error; with nothing held, a no-op.
func (s *Store) FlushWrites(ctx context.Context) error {
	d := deferredOf(ctx)
	if d == nil {
		return errors.New("store: FlushWrites without DeferWrites")
	}
	d.mu.Lock()
	ops, lines := d.ops, d.logLines
	d.ops, d.logLines = nil, nil
	d.mu.Unlock()
	// The flush must not be held again by its own context.
	plain := context.WithValue(ctx, deferKey{}, (*deferred)(nil))
	d.preMu.Lock()
	if d.lost {
		d.preMu.Unlock()
		return ErrClaimed
	}
	if !d.preDone {
		ops = append(d.pre[:len(d.pre):len(d.pre)], ops...)
	}
	if len(ops) == 0 {
		d.preMu.Unlock()
		s.logBuf.add(lines)
		return nil
	}
	err := s.groupTx(plain, func(tx *sql.Tx) error {
		for _, op := range ops {
			if err := op(plain, tx); err != nil {
				return err
			}
		}
		return nil
	})
	d.donePre(err)
	if err == nil {
		s.logBuf.add(lines)
	}
	return err
}
