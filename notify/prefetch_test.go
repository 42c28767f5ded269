package notify

import (
	"context"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"linli/store"
)

// TestStoppingReturnsTheChunkLeasedAhead: the next chunk is leased while
// the last one is planned. A dispatcher stopped meanwhile returns that
// chunk at once, untried and uncounted, instead of leaving it leased until
// the lease runs out.
func TestStoppingReturnsTheChunkLeasedAhead(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 6)
	var rows []store.OutboxRow
	for _, id := range ids {
		rows = append(rows, notice(id, false))
	}
	e.o.Enqueue(ctx, rows...)
	// Chunks of two rows, one row per call, one caller: the first call
	// waits for its slot, the planning of the second chunk waits for the
	// queue, and the third chunk waits, leased, for the planning.
	e.d.Batch, e.d.SMSBatch, e.d.Workers = 2, 1, 1
	e.d.Limiter = rate.NewLimiter(0.5, 1)
	e.d.Limiter.Allow()
	e.d.lead = time.Hour // mark at once, then wait two seconds for the slot
	run, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := e.d.RunOnce(run); done <- err }()
	waitCount(t, e.st, "SELECT COUNT(*) FROM outbox WHERE status = 'leased'", 6)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("RunOnce did not report the cancellation")
	}
	all, _ := e.st.RecentOutbox(ctx, 10)
	for _, r := range all {
		if r.Status != store.OutboxPending || r.SMSOutID != "" || r.Attempts != 0 {
			t.Fatalf("after stopping: %+v", r)
		}
	}
	if e.fake.Calls() != 0 {
		t.Fatalf("the fake had %d calls", e.fake.Calls())
	}
}
