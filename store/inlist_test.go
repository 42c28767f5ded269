package store

import (
	"context"
	"database/sql"
	"testing"
)

// TestIDListsRangesAndChunks: a run of consecutive ids is read and
// updated as one range, any other list in chunks of an IN list; both
// touch exactly the rows named, however long the list.
func TestIDListsRangesAndChunks(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	const n = 3*inChunk + 7
	ids := enqueueNotices(t, s, n)
	var odd, run []int64 // every other row; a run from the middle
	for i, id := range ids {
		if i%2 == 1 {
			odd = append(odd, id)
		}
	}
	run = ids[5 : 5+inChunk+20]
	if consecutive(odd) || !consecutive(run) || consecutive(ids[:3]) || consecutive([]int64{ids[1], ids[0], ids[2], ids[3], ids[4], ids[5], ids[6], ids[7]}) {
		t.Fatal("consecutive misjudges a list")
	}
	for _, c := range []struct {
		name string
		ids  []int64
	}{{"odd", odd}, {"run", run}} {
		read, at, err := s.outboxByIDs(ctx, c.ids)
		if err != nil || len(read) != len(c.ids) {
			t.Fatalf("%s: read %d, %v", c.name, len(read), err)
		}
		for i, id := range c.ids {
			if at[id] != i || read[i].ID != id {
				t.Fatalf("%s: row %d at %d holds %d", c.name, id, at[id], read[i].ID)
			}
		}
		if err := s.tx(ctx, func(tx *sql.Tx) error {
			return s.updateIDsAnd(ctx, tx, "UPDATE outbox SET ref = ?", []any{c.name}, c.ids, "status = ?", OutboxPending)
		}); err != nil {
			t.Fatal(err)
		}
		var got int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE ref = ?", c.name).Scan(&got); err != nil || got != len(c.ids) {
			t.Fatalf("%s: %d rows updated, want %d (%v)", c.name, got, len(c.ids), err)
		}
	}
	// The run overlaps odd rows: those now carry "run", the rest "odd".
	var odds int
	if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM outbox WHERE ref = 'odd'").Scan(&odds); err != nil || odds != len(odd)-(len(run)/2) {
		t.Fatalf("%d rows keep odd, want %d (%v)", odds, len(odd)-len(run)/2, err)
	}
}

// enqueueNotices puts n notice rows for SMS in the outbox and returns
// their ids.
func enqueueNotices(t *testing.T, s *Store, n int) []int64 {
	t.Helper()
	rows := make([]OutboxRow, n)
	for i := range rows {
		rows[i] = OutboxRow{Kind: "notice", TargetChannel: "sms", Body: OutboxBody{Template: "notice"}}
	}
	ids, err := s.EnqueueOutbox(context.Background(), rows)
	if err != nil {
		t.Fatal(err)
	}
	return ids
}
