package flows

import (
	"context"
	"fmt"
	"testing"

	"linli/store"
)

// BenchmarkBroadcastEnqueue100k times what starting a broadcast to 100,000
// residents costs: resolving the audience and storing one outbox row each
// (target: under 3 s).
func BenchmarkBroadcastEnqueue100k(b *testing.B) {
	const n = 100_000
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		h := newHarness(b)
		ctx := context.Background()
		rs := make([]store.NewResident, n)
		for j := range rs {
			rs[j] = store.NewResident{Phone: fmt.Sprintf("139%08d", j)}
		}
		if _, err := h.st.ImportResidents(ctx, rs); err != nil {
			b.Fatal(err)
		}
		bc, err := h.st.CreateBroadcast(ctx, store.Broadcast{CreatedBy: "王主任", AudienceKind: "everyone", Text: "明天停水",
			Policy: store.PolicyBotFirst, DueAt: h.clock.Now()})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := h.eng.startBroadcast(ctx, bc, h.clock.Now()); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		if c, _ := h.st.BroadcastCounts(ctx, bc.ID); c[store.OutboxPending] != n {
			b.Fatalf("rows %v", c)
		}
	}
}
