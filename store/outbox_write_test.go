package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestLeaseOrderAndCopies checks the claim-then-read lease: rows whose lease
// ran out first, then urgent, then the rest, each oldest due first; the copy
// shows each row as it was before the lease.
func TestLeaseOrderAndCopies(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	row := func(key string, urgent bool, due time.Time) OutboxRow {
		return OutboxRow{Kind: "reply", TargetChannel: "telegram", TargetAddress: "1", Body: OutboxBody{Text: key}, DedupeKey: key, Urgent: urgent, DueAt: due}
	}
	// Ids run against the due order, so sorting by id alone would fail.
	_, err := s.EnqueueOutbox(ctx, []OutboxRow{
		row("late", false, now.Add(-time.Minute)),
		row("early", false, now.Add(-time.Hour)),
		row("urgent-late", true, now.Add(-time.Second)),
		row("urgent-early", true, now.Add(-2*time.Minute)),
		row("future", true, now.Add(time.Hour)),
		row("dead", false, now.Add(-3*time.Hour)),
	})
	if err != nil {
		t.Fatal(err)
	}
	// "dead" was leased by a dispatcher that died.
	first, err := s.LeaseOutbox(ctx, now.Add(-2*time.Hour), time.Minute, 1)
	if err != nil || len(first) != 1 || first[0].Body.Text != "dead" {
		t.Fatalf("first lease %+v %v", first, err)
	}
	rows, err := s.LeaseOutbox(ctx, now, time.Minute, 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range rows {
		got = append(got, fmt.Sprintf("%s/%s/%d", r.Body.Text, r.Status, r.Attempts))
	}
	want := "[dead/leased/1 urgent-early/pending/0 urgent-late/pending/0 early/pending/0 late/pending/0]"
	if fmt.Sprint(got) != want {
		t.Fatalf("leased %v, want %v", got, want)
	}
	for _, r := range rows {
		stored, _ := s.OutboxRowByID(ctx, r.ID)
		if stored.Status != OutboxLeased || stored.Attempts != r.Attempts+1 || !stored.LeaseUntil.Equal(now.Add(time.Minute)) ||
			!r.LeaseUntil.Equal(stored.LeaseUntil) {
			t.Fatalf("stored %+v for copy %+v", stored, r)
		}
	}
	// The limit holds across the three kinds of rows.
	if more, _ := s.LeaseOutbox(ctx, now.Add(2*time.Minute), time.Minute, 2); len(more) != 2 {
		t.Fatalf("limit 2 leased %d", len(more))
	}
}
