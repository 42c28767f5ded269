package store

import (
	"context"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestOutboxByIDsLeanAndWhole checks that the lease's read-back, which
// reads most rows by the few columns a row that was never tried has set,
// returns every row exactly as a whole read does, whatever else is set.
func TestOutboxByIDsLeanAndWhole(t *testing.T) {
	ctx := context.Background()
	s, _ := openTest(t)
	now := time.Unix(1_700_000_000, 0)
	s.SetClock(func() time.Time { return now })
	body := OutboxBody{Template: "notice", Params: map[string]string{"content": "停水"}, Choices: []OutboxChoice{{Payload: "1", Label: "好"}}}
	rows := []OutboxRow{
		{Kind: "notice", TargetChannel: "sms", Body: body},
		{Kind: "notice", TargetChannel: "sms", Body: body, DedupeKey: "bc:1:1", Ref: "T-1", Urgent: true},
		{Kind: "reminder", TargetChannel: "telegram", TargetAddress: "42", Body: OutboxBody{Text: "hi"}},
		{Kind: "reminder", Body: body},
		{Kind: "reminder", Body: body},
		{Kind: "reminder", Body: body},
	}
	// Then a row for each column only a row that was tried has, set alone.
	alone := []struct {
		col string
		val any
	}{{"lease_until", 5}, {"channel", "sms"}, {"provider", "aliyun"}, {"provider_id", "biz"}, {"error", "x"}, {"sent_at", 6},
		{"delivered_at", 7}, {"sms_phone", "13900000000"}, {"sms_template", "notice"}, {"sms_out_id", "3"}, {"sms_try_at", 8},
		{"hold_channel", "webchat"}, {"hold_address", "w2"}, {"hold_until", 9}}
	for range alone {
		rows = append(rows, OutboxRow{Kind: "notice", TargetChannel: "sms", Body: body})
	}
	ids, err := s.EnqueueOutbox(ctx, rows)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range alone {
		if _, err := s.db.ExecContext(ctx, "UPDATE outbox SET "+a.col+" = ? WHERE id = ?", a.val, ids[6+i]); err != nil {
			t.Fatal(err)
		}
	}
	// Give some rows what earlier attempts leave behind.
	if err := s.HoldOutbox(ctx, ids[3], "webchat", "w1"); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkSMSAttempt(ctx, []SMSAttempt{{ID: ids[4], Phone: "13900000004"}}, "9", "notice", now); err != nil {
		t.Fatal(err)
	}
	if err := s.FinishOutbox(ctx, ids[5], OutboxOutcome{Status: OutboxPending, Channel: "sms", Provider: "aliyun", Error: "throttled", RetryAt: now}); err != nil {
		t.Fatal(err)
	}
	read, at, err := s.outboxByIDs(ctx, ids)
	if err != nil || len(read) != len(ids) {
		t.Fatalf("read %d rows, %v", len(read), err)
	}
	for _, id := range ids {
		want, err := s.OutboxRowByID(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got := read[at[id]]; !reflect.DeepEqual(got, want) {
			t.Errorf("row %d:\n got %+v\nwant %+v", id, got, want)
		}
	}
}

// Every column of a whole read is either read by the lean read or checked
// empty by it: a column added to outboxColumns and forgotten there would
// make the lease hand out rows without it.
func TestOutboxLeanColumnsCoverEveryColumn(t *testing.T) {
	lean := outboxLeanColumns
	for _, c := range strings.Split(outboxColumns, ",") {
		c = strings.TrimSpace(c)
		if !regexp.MustCompile(`(^|[\s,(])` + c + `($|[\s,=]|\sIS\s)`).MatchString(lean) {
			t.Errorf("column %s is neither read nor checked empty by outboxLeanColumns", c)
		}
	}
}
