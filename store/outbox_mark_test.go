package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestMarkUnderLeaseAllOrNothing: a mark carries its lease as a condition
// of its UPDATEs, and one whose rows are not all held is undone entirely,
// also when the row it lost is in a later chunk than rows already written.
func TestMarkUnderLeaseAllOrNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Now()
	const n = 3*markChunk + 5
	ids := enqueueNotices(t, s, n)
	leased, err := s.LeaseOutbox(ctx, now, time.Minute, n-1) // the last row stays pending
	if err != nil || len(leased) != n-1 {
		t.Fatalf("leased %d, %v", len(leased), err)
	}
	until := leased[0].LeaseUntil
	mark := func(out string, from, to int) SMSMark {
		m := SMSMark{OutID: out, Template: "notice", At: now, Lease: until}
		for _, id := range ids[from:to] {
			m.Rows = append(m.Rows, SMSAttempt{ID: id, Phone: fmt.Sprint("139", id)})
		}
		return m
	}
	lost, err := s.WriteOutbox(ctx, OutboxWrites{Marks: []SMSMark{
		mark("a", 0, markChunk),           // every row held: written
		mark("b", markChunk, n),           // the last row, in the last chunk, is not leased: undone
		mark("c", markChunk, 2*markChunk), // written after the undone one
	}})
	if err != nil || fmt.Sprint(lost) != "[1]" {
		t.Fatalf("lost %v, %v; want [1]", lost, err)
	}
	var got []string
	r, err := s.DB().QueryContext(ctx, "SELECT sms_out_id, COUNT(*) FROM outbox GROUP BY sms_out_id ORDER BY sms_out_id")
	if err != nil {
		t.Fatal(err)
	}
	for r.Next() {
		var out string
		var c int
		if err := r.Scan(&out, &c); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprintf("%q:%d", out, c))
	}
	r.Close()
	if want := fmt.Sprintf(`"":%d "a":%d "c":%d`, n-2*markChunk, markChunk, markChunk); strings.Join(got, " ") != want {
		t.Fatalf("out ids %s, want %s", strings.Join(got, " "), want)
	}
}

// TestMarkFindsRowsByRowid pins the plan of a mark under a lease: the
// rows are found by their id, not through the partial index on
// lease_until, which cost more per row.
func TestMarkFindsRowsByRowid(t *testing.T) {
	s, _ := openTest(t)
	got := queryPlan(t, s, markSQL(markChunk, true))
	if !strings.Contains(got, "SEARCH outbox USING INTEGER PRIMARY KEY") {
		t.Fatalf("plan %q, want outbox searched by rowid", got)
	}
}
