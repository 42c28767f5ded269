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
//   - this process reads its own lines: RecentMessages, DB and Backup
//     write the waiting lines first, and wait for lines another flush has
//     taken but not yet committed (syncLog);
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
	// Every take is numbered; open holds the numbers of the batches taken
	// and not yet committed or put back, settled is signalled as they go.
	taken   uint64
	open    map[uint64]struct{}
	settled *sync.Cond
	waiters int           // readers in waitSettled (tests watch it)
	kick    chan struct{} // the first line of a batch, or a full batch, arrived
	done    chan struct{} // logLoop has ended
}

func newLogBuffer() *logBuffer {
	b := &logBuffer{open: map[uint64]struct{}{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	b.settled = sync.NewCond(&b.mu)
	return b
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

// take removes up to n waiting lines (all of them when n <= 0) as a batch
// numbered batch; settle(batch) or putBack must follow.
func (b *logBuffer) take(n int) (lines []LoggedMessage, batch uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) == 0 {
		return nil, 0
	}
	if n <= 0 || n > len(b.lines) {
		n = len(b.lines)
	}
	out := make([]LoggedMessage, n)
	copy(out, b.lines)
	rest := copy(b.lines, b.lines[n:])
	clear(b.lines[rest:])
	b.lines = b.lines[:rest]
	b.taken++
	b.open[b.taken] = struct{}{}
	return out, b.taken
}

// settle says batch was committed.
func (b *logBuffer) settle(batch uint64) {
	b.mu.Lock()
	delete(b.open, batch)
	b.settled.Broadcast()
	b.mu.Unlock()
}

// waitSettled returns once every batch taken up to the batch numbered upTo
// was committed or put back.
func (b *logBuffer) waitSettled(upTo uint64) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for b.anyOpenLocked(upTo) {
		b.waiters++
		b.settled.Wait()
		b.waiters--
	}
}

func (b *logBuffer) anyOpenLocked(upTo uint64) bool {
	for n := range b.open {
		if n <= upTo {
			return true
		}
	}
	return false
}

// lastTaken is the number of the latest batch taken.
func (b *logBuffer) lastTaken() uint64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.taken
}

// putBack returns the lines of batch, which a failed transaction did not
// store, ahead of the ones that came since.
func (b *logBuffer) putBack(lines []LoggedMessage, batch uint64) {
	if len(lines) == 0 {
		return
	}
	b.mu.Lock()
	b.lines = append(lines, b.lines...)
	if over := len(b.lines) - logMaxWaiting; over > 0 {
		b.lines = b.lines[over:]
	}
	delete(b.open, batch)
	b.settled.Broadcast()
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
		lines, batch := s.logBuf.take(logFlushLines)
		if len(lines) == 0 {
			return nil
		}
		if err := s.groupTx(ctx, func(tx *sql.Tx) error { return s.logMessagesTx(ctx, tx, lines) }); err != nil {
			s.logBuf.putBack(lines, batch)
			return err
		}
		s.logBuf.settle(batch)
	}
}

// syncLog makes every line logged before it was called readable: it
// writes the waiting lines and waits for those another flush (logLoop, a
// write transaction) has taken and not committed yet. Not to be called
// with the write lock held: those flushes need it.
func (s *Store) syncLog(ctx context.Context) error {
	upTo := s.logBuf.lastTaken()
	if err := s.flushLog(ctx); err != nil {
		return err
	}
	s.logBuf.waitSettled(upTo)
	return nil
}

// withLog wraps fn so that it first appends the waiting lines; done must
// be called with the outcome of the transaction that ran it.
func (s *Store) withLog(ctx context.Context, fn func(*sql.Tx) error) (func(*sql.Tx) error, func(error)) {
	lines, batch := s.logBuf.take(0)
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
				s.logBuf.putBack(lines, batch)
				return
			}
			s.logBuf.settle(batch)
		}
}
