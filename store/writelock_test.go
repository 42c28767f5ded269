package store

import (
	"context"
	"sync"
	"testing"
	"time"
)

// Every write counts the time it held the write lock, and a write that
// queued behind another counts its wait.
func TestWriteLockTimeCounts(t *testing.T) {
	st := openBatchTest(t)
	ctx := context.Background()
	held0, waited0 := st.WriteLockTime()
	start := time.Now()
	if err := st.SetValue(ctx, "k", "v", time.Time{}); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	held1, _ := st.WriteLockTime()
	if d := held1 - held0; d <= 0 || d > took {
		t.Fatalf("a write held the lock %v (it took %v in all)", d, took)
	}

	// Hold the lock for a known time while another write queues: the
	// other's wait is counted, and at least most of the hold.
	unlock := st.lockWrite()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := st.SetValue(ctx, "k2", "v", time.Time{}); err != nil {
			t.Error(err)
		}
	}()
	// Busy for 20 ms (not asleep) with the lock held: TryLock must keep
	// failing meanwhile.
	hold := time.Now()
	for time.Since(hold) < 20*time.Millisecond {
		if st.wmu.TryLock() {
			t.Fatal("the lock was free while held")
		}
	}
	unlock()
	wg.Wait()
	held2, waited2 := st.WriteLockTime()
	if held2-held1 < 20*time.Millisecond {
		t.Fatalf("held %v across a 20 ms hold", held2-held1)
	}
	if waited2 <= waited0 {
		t.Fatalf("wait not counted: %v then %v", waited0, waited2)
	}
}
