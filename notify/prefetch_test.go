package notify

import (
	"context"
	"testing"

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
	stopMidway(t, e, "SELECT COUNT(*) FROM outbox WHERE status = 'leased'", 6)
}
