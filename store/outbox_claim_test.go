package store

import (
	"context"
	"testing"
	"time"
)

// TestClaimThenRead: a claim leases rows without reading them; ReadClaim
// returns them as LeaseOutbox does (the status and attempts before the
// lease, the lease's end) and leaves out rows gone since the claim;
// ReleaseClaim puts an unread claim back, but not rows another lease has
// taken over since.
func TestClaimThenRead(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return now })
	rows := make([]OutboxRow, 5)
	for i := range rows {
		rows[i] = OutboxRow{Kind: "notice", TargetChannel: "sms", TargetAddress: "13900000000", Body: OutboxBody{Text: "停水"}, DueAt: now}
	}
	ids, err := s.EnqueueOutbox(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	c, err := s.ClaimOutbox(ctx, now, time.Minute, 3)
	if err != nil || c.Len() != 3 {
		t.Fatalf("claimed %d, %v", c.Len(), err)
	}
	if again, _ := s.ClaimOutbox(ctx, now, time.Minute, 10); again.Len() != 2 {
		t.Fatalf("a second claim took %d rows, want the 2 left", again.Len())
	}
	if _, err := s.db.ExecContext(ctx, "DELETE FROM outbox WHERE id = ?", ids[1]); err != nil {
		t.Fatal(err)
	}
	read, err := s.ReadClaim(ctx, c)
	if err != nil || len(read) != 2 || read[0].ID != ids[0] || read[1].ID != ids[2] {
		t.Fatalf("read %+v, %v", read, err)
	}
	for _, r := range read {
		if r.Status != OutboxPending || r.Attempts != 0 || !r.LeaseUntil.Equal(now.Add(time.Minute)) || r.Body.Text != "停水" {
			t.Fatalf("row as read: %+v", r)
		}
	}

	// Released unread: pending again, the attempt undone.
	if err := s.ReleaseClaim(ctx, c); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{ids[0], ids[2]} {
		if r, _ := s.OutboxRowByID(ctx, id); r.Status != OutboxPending || r.Attempts != 0 {
			t.Fatalf("row %d after release: %s, %d attempts", id, r.Status, r.Attempts)
		}
	}
	// A claim whose lease ran out and was taken over is not released.
	old, _ := s.ClaimOutbox(ctx, now, time.Minute, 1)
	later := now.Add(2 * time.Minute)
	if taken, _ := s.ClaimOutbox(ctx, later, time.Minute, 1); taken.Len() != 1 || taken.claims[0].id != old.claims[0].id {
		t.Fatalf("the expired row was not taken over: %+v", taken)
	}
	if err := s.ReleaseClaim(ctx, old); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.OutboxRowByID(ctx, old.claims[0].id); r.Status != OutboxLeased || r.Attempts != 2 {
		t.Fatalf("the new lease's row after the old claim's release: %s, %d attempts", r.Status, r.Attempts)
	}
}
