package store

import (
	"context"
	"database/sql"
	"sync"
	"time"
)

// The message log is appended in batches. Each turn adds two or more lines
// to message_log, which dirties three pages (the table and its two
// indexes): three WAL frames, six system calls, in every message's commit,
// nearly half of what a turn writes. The lines of a committed turn
// therefore wait here and are appended together, at most logFlushDelay
// later, logFlushLines to a transaction (which shares the commit of
// whatever turns are committing then).
//
// What this gives up: a process that is killed (not stopped) loses the
// lines of its last logFlushDelay; the conversation, the dedupe key and
// every ticket and outbox row are not delayed. What it keeps:
//   - this process reads its own lines: RecentMessages and DB write the
//     waiting lines first;
//   - every other write transaction of the store (tx, exec) writes the
//     waiting lines first, inside itself, so a purge, a merge or an erasure
//     of a resident's history always comes after the lines it must see;
//   - a line whose resident no longer exists (merged away, deleted) is
//     dropped instead of failing the batch.

const (
	logFlushDelay = 100 * time.Millisecond
	logFlushLines = 64
	// logMaxWaiting bounds the lines kept while the database refuses them;
	// the oldest go first.
	logMaxWaiting = 50_000
)

type logBuffer struct {
	mu    sync.Mutex
	lines []LoggedMessage
	kick  chan struct{} // the first line of a batch, or a full batch, arrived
	done  chan struct{} // logLoop has ended
}

func newLogBuffer() logBuffer {
	return logBuffer{kick: make(chan struct{}, 1), done: make(chan struct{})}
}

// add queues lines for the next batch.
func (b *logBuffer) add(lines []LoggedMessage) {
	if len(lines) == 0 {
		return
	}
	b.mu.Lock()
	was := len(b.lines)
	b.lines = append(b.lines, lines...)
	if over := len(b.lines) - logMaxWaiting; over > 0 {
		b.lines = append(b.lines[:0], b.lines[over:]...)
	}
	now := len(b.lines)
	b.mu.Unlock()
	if was == 0 || (was < logFlushLines && now >= logFlushLines) {
		select {
		case b.kick <- struct{}{}:
		default:
		}
	}
}

// take removes up to n waiting lines (all of them when n <= 0).
func (b *logBuffer) take(n int) []LoggedMessage {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == 0 {
		return nil
	}
	if n <= 0 || n > len(b.lines) {
		n = len(b.lines)
	}
	out := make([]LoggedMessage, n)
	copy(out, b.lines)
	rest := copy(b.lines, b.lines[n:])
	clear(b.lines[rest:])
	b.lines = b.lines[:rest]
	return out
}

// putBack returns lines a failed transaction did not store, ahead of the
// ones that came since.
func (b *logBuffer) putBack(lines []LoggedMessage) {
	if len(lines) == 0 {
		return
	}
	b.mu.Lock()
	b.lines = append(lines, b.lines...)
	if over := len(b.lines) - logMaxWaiting; over > 0 {
		b.lines = b.lines[over:]
	}
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

func (b *logBuffer) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lines)
}

// logLoop appends waiting lines: a batch at most logFlushDelay after its
// first line, or as soon as it is full. At stop it writes what is left.
func (s *Store) logLoop() {
	defer close(s.logBuf.done)
	ctx := context.Background()
	for {
		select {
		case <-s.stop:
			s.flushLog(ctx)
			return
		case <-s.logBuf.kick:
		}
		if s.logBuf.waiting() < logFlushLines {
			t := time.NewTimer(logFlushDelay)
			select {
			case <-t.C:
			case <-s.logBuf.kick: // the batch filled up
			case <-s.stop:
			}
			t.Stop()
		}
		s.flushLog(ctx)
	}
}

// flushLog appends every waiting line now. A batch the database refused
// waits for the next attempt.
func (s *Store) flushLog(ctx context.Context) error {
	for {
		lines := s.logBuf.take(logFlushLines)
		if len(lines) == 0 {
			return nil
		}
		if err := s.groupTx(ctx, func(tx *sql.Tx) error { return s.logMessagesTx(ctx, tx, lines) }); err != nil {
			s.logBuf.putBack(lines)
			return err
		}
	}
}

// withLog wraps fn so that it first appends the waiting lines; done must
// be called with the outcome of the transaction that ran it.
func (s *Store) withLog(ctx context.Context, fn func(*sql.Tx) error) (func(*sql.Tx) error, func(error)) {
	lines := s.logBuf.take(0)
	if len(lines) == 0 {
		return fn, func(error) {}
	}
	return func(tx *sql.Tx) error {
			if err := s.logMessagesTx(ctx, tx, lines); err != nil {
				return err
			}
			return fn(tx)
		}, func(err error) {
			if err != nil {
				s.logBuf.putBack(lines)
			}
		}
}
