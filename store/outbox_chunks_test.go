package store

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// TestMarksAndReadsInChunks checks the padded, chunked statements of a
// large call: every row of a mark gets its own number (not a neighbour's,
// nor the padding's), rows read back in chunks are all there, and rows
// that share a body do not share its maps.
func TestMarksAndReadsInChunks(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return now })
	const n = 2*inChunk + markChunk + 3 // full chunks and a short tail of each size
	rows := make([]OutboxRow, n)
	for i := range rows {
		rows[i] = OutboxRow{Kind: "notice", TargetChannel: "sms", Body: OutboxBody{Template: "notice", Params: map[string]string{"content": "停水"}}, DueAt: now}
	}
	ids, err := s.EnqueueOutbox(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.LeaseOutbox(ctx, now, time.Minute, n+10)
	if err != nil || len(leased) != n {
		t.Fatalf("leased %d, %v", len(leased), err)
	}
	leased[0].Body.Params["content"] = "changed"
	if leased[1].Body.Params["content"] != "停水" {
		t.Fatal("rows with one body share its params")
	}
	phone := func(i int) string { return fmt.Sprintf("139%08d", i) }
	var marks []SMSMark
	for i := 0; i < n; {
		k := min(n-i, 1+i%(3*markChunk)) // calls of many sizes
		m := SMSMark{OutID: fmt.Sprint(ids[i]), Template: "notice", At: now, Lease: leased[0].LeaseUntil}
		for j := i; j < i+k; j++ {
			m.Rows = append(m.Rows, SMSAttempt{ID: ids[j], Phone: phone(j)})
		}
		marks = append(marks, m)
		i += k
	}
	lost, err := s.WriteOutbox(ctx, OutboxWrites{Marks: marks})
	if err != nil || len(lost) != 0 {
		t.Fatalf("lost %v, %v", lost, err)
	}
	read, at, err := s.outboxByIDs(ctx, ids)
	if err != nil || len(read) != n || len(at) != n {
		t.Fatalf("read %d, %v", len(read), err)
	}
	for _, m := range marks {
		for _, r := range m.Rows {
			got := read[at[r.ID]]
			if got.SMSPhone != r.Phone || got.SMSOutID != m.OutID || got.SMSTemplate != "notice" || !got.SMSTryAt.Equal(now) {
				t.Fatalf("row %d: phone %q out %q, want %q %q", r.ID, got.SMSPhone, got.SMSOutID, r.Phone, m.OutID)
			}
		}
	}
}
