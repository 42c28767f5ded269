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
	// The limit holds across the three kinds of rows, and a lease stored in
	// whole seconds is rounded up, never shorter than asked.
	more, _ := s.LeaseOutbox(ctx, now.Add(2*time.Minute+300*time.Millisecond), time.Minute, 2)
	if len(more) != 2 {
		t.Fatalf("limit 2 leased %d", len(more))
	}
	if want := now.Add(3*time.Minute + time.Second); !more[0].LeaseUntil.Equal(want) {
		t.Fatalf("lease until %v, want %v", more[0].LeaseUntil, want)
	}
}

// TestWriteOutbox checks each kind of change of one WriteOutbox and that an
// outcome leaves alone the columns it does not change.
func TestWriteOutbox(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_800_000_000, 0)
	s.SetClock(func() time.Time { return now })
	var rows []OutboxRow
	for i := 0; i < 7; i++ {
		rows = append(rows, OutboxRow{Kind: "notice", TargetChannel: "sms", TargetAddress: "1390000000" + fmt.Sprint(i),
			Body: OutboxBody{Template: "notice"}, DueAt: now})
	}
	ids, err := s.EnqueueOutbox(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	leased, err := s.LeaseOutbox(ctx, now, time.Minute, 6) // the last row stays pending
	if err != nil || len(leased) != 6 {
		t.Fatal(leased, err)
	}
	until := leased[0].LeaseUntil
	mark := func(id int64) SMSAttempt { return SMSAttempt{ID: id, Phone: "13900000000"} }
	lost, err := s.WriteOutbox(ctx, OutboxWrites{Marks: []SMSMark{
		{Rows: []SMSAttempt{mark(ids[0]), mark(ids[1])}, OutID: "7", Template: "notice", At: now, Lease: until},
		// Row 6 is not leased: this mark is not written, row 5's part of it neither.
		{Rows: []SMSAttempt{mark(ids[5]), mark(ids[6])}, OutID: "8", Template: "notice", At: now, Lease: until},
		{Rows: []SMSAttempt{mark(ids[2]), mark(ids[3])}, OutID: "9", Template: "notice", At: now, Lease: until},
		// A lease that is not theirs.
		{Rows: []SMSAttempt{mark(ids[4])}, OutID: "10", Template: "notice", At: now, Lease: until.Add(time.Second)},
	}})
	if err != nil || fmt.Sprint(lost) != "[1 3]" {
		t.Fatalf("lost %v %v, want marks 1 and 3", lost, err)
	}
	retry := now.Add(time.Hour)
	_, err = s.WriteOutbox(ctx, OutboxWrites{
		Groups: []OutboxGroupFinish{{IDs: ids[:2], Finish: OutboxFinish{OutboxOutcome: OutboxOutcome{Status: OutboxSent, Channel: "sms",
			Provider: "aliyun", ProviderID: "biz-7", At: now}, SMSOutID: "7", OutIDOnRecord: true}}},
		Finishes: []OutboxFinish{
			{ID: ids[2], OutboxOutcome: OutboxOutcome{Status: OutboxPending, Channel: "sms", Provider: "aliyun", Error: "throttled", RetryAt: retry}},
			{ID: ids[4], OutboxOutcome: OutboxOutcome{Status: OutboxPending, Error: "quiet hours", RetryAt: retry}, UndoAttempt: true},
		},
		Unmark:  []OutboxLease{{IDs: []int64{ids[3]}, Until: until}},
		Release: []OutboxLease{{IDs: []int64{ids[5], ids[6]}, Until: until}},
	})
	if err != nil {
		t.Fatal(err)
	}
	get := func(i int) OutboxRow {
		r, err := s.OutboxRowByID(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	for i := 0; i < 2; i++ {
		if r := get(i); r.Status != OutboxSent || r.SMSOutID != "7" || r.ProviderID != "biz-7" || !r.SentAt.Equal(now) ||
			r.Attempts != 1 || !r.DueAt.Equal(now) || r.LeaseUntil != (time.Time{}) {
			t.Fatalf("sent row %+v", r)
		}
	}
	if r := get(2); r.Status != OutboxPending || r.SMSOutID != "" || !r.DueAt.Equal(retry) || r.Attempts != 1 || r.Error != "throttled" {
		t.Fatalf("retried row %+v", r)
	}
	if r := get(3); r.Status != OutboxPending || r.SMSOutID != "" || r.Attempts != 0 || !r.DueAt.Equal(now) {
		t.Fatalf("unmarked row %+v", r)
	}
	if r := get(4); r.Status != OutboxPending || r.Attempts != 0 || !r.DueAt.Equal(retry) {
		t.Fatalf("postponed row %+v", r)
	}
	if r := get(5); r.Status != OutboxPending || r.Attempts != 0 || r.SMSOutID != "" {
		t.Fatalf("released row %+v", r)
	}
	// Release touches only leased rows: a pending row keeps its attempts.
	if _, err := s.DB().ExecContext(ctx, "UPDATE outbox SET attempts = 3 WHERE id = ?", ids[6]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteOutbox(ctx, OutboxWrites{Release: []OutboxLease{{IDs: []int64{ids[6]}}}, Unmark: []OutboxLease{{IDs: []int64{ids[6]}}}}); err != nil {
		t.Fatal(err)
	}
	if r := get(6); r.Status != OutboxPending || r.Attempts != 3 || r.SMSOutID != "" {
		t.Fatalf("pending row changed by a release: %+v", r)
	}
	// Nor rows of another lease: one taken over after this lease ran out.
	if _, err := s.DB().ExecContext(ctx, "UPDATE outbox SET status = 'leased', lease_until = ? WHERE id = ?", until.Add(time.Hour).Unix(), ids[6]); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteOutbox(ctx, OutboxWrites{Release: []OutboxLease{{IDs: []int64{ids[6]}, Until: until}}}); err != nil {
		t.Fatal(err)
	}
	if r := get(6); r.Status != OutboxLeased {
		t.Fatalf("another lease's row released: %+v", r)
	}
	// The caps count the sent rows and no longer the unmarked one.
	counts, err := s.SMSSentCounts(ctx, []string{"13900000000"}, "notice", now.Add(-time.Hour))
	if err != nil || counts["13900000000"] != 2 {
		t.Fatalf("counted %v %v, want the two sent rows", counts, err)
	}
}
