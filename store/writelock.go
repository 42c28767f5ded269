package store

import (
	"sync/atomic"
	"time"
)

// SQLite has one writer, and this process's writes queue on wmu. How long
// that lock is held and waited for says how close the store is to its
// ceiling: when it is held nearly all the time, more work only waits.
// A broadcast's dispatch and a burst of messages both end up there.

// lockStats sums the time wmu was held and waited for, in nanoseconds.
type lockStats struct {
	held, waited atomic.Int64
}

// lockWrite takes wmu and returns the func that releases it; use as
// `defer s.lockWrite()()`.
func (s *Store) lockWrite() (unlock func()) {
	asked := time.Now()
	s.wmu.Lock()
	got := time.Now()
	s.lockStats.waited.Add(int64(got.Sub(asked)))
	return func() {
		s.lockStats.held.Add(int64(time.Since(got)))
		s.wmu.Unlock()
	}
}

// WriteLockTime returns how long this process's write lock has been held
// and waited for, in total, since Open.
func (s *Store) WriteLockTime() (held, waited time.Duration) {
	return time.Duration(s.lockStats.held.Load()), time.Duration(s.lockStats.waited.Load())
}
