package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"linli/store"
)

// TestBroadcastReportsCountHeldRowsApart: a notice waiting for a resident's
// web page has reached nobody yet, so it is not counted as sent; and while
// such a row may still move on to SMS the broadcast is not over.
func TestBroadcastReportsCountHeldRowsApart(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids, err := h.st.ImportResidents(ctx, []store.NewResident{{Phone: "13900000001"}, {Phone: "13900000002"}, {Phone: "13900000003"}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := h.st.CreateBroadcast(ctx, store.Broadcast{CreatedBy: "王主任", AudienceKind: "everyone", Text: "明天停水",
		Policy: store.PolicyBotFirst, DueAt: h.clock.Now()})
	if err != nil {
		t.Fatal(err)
	}
	jobs := h.eng.Jobs(JobsConfig{ProgressEvery: time.Minute})
	if err := jobs.Broadcasts(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	deadline := h.clock.Now().Add(10 * time.Minute).Unix()
	db := h.st.DB()
	db.Exec("UPDATE outbox SET status = 'sent' WHERE broadcast_id = ? AND resident_id = ?", b.ID, ids[0])
	db.Exec("UPDATE outbox SET status = 'held', hold_channel = 'web', hold_address = 'w2', hold_until = ? WHERE broadcast_id = ? AND resident_id = ?", deadline, b.ID, ids[1])
	db.Exec("UPDATE outbox SET status = 'held', hold_channel = 'web', hold_address = 'w3' WHERE broadcast_id = ? AND resident_id = ?", b.ID, ids[2])
	// Everyone else the audience holds (the admin's own chat) was sent to.
	db.Exec("UPDATE outbox SET status = 'sent' WHERE broadcast_id = ? AND status = 'pending'", b.ID)
	counts, _ := h.st.BroadcastCounts(ctx, b.ID)
	sent := counts[store.OutboxSent]

	h.clock.Advance(2 * time.Minute)
	if err := jobs.Broadcasts(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if _, err := h.st.OutboxByDedupe(ctx, "bc-done:B1"); err == nil {
		t.Fatal("broadcast reported done while a held row may still go by SMS")
	}
	progress, err := h.st.OutboxByDedupe(ctx, "bc-progress:B1:2")
	want := "已送出 " + itoa(sent) + "，失败 0，无法联系 0，等待居民打开网页查看 2，待发送 0"
	if err != nil || !strings.Contains(progress.Body.Text, want) {
		t.Fatalf("progress %q %v, want %q", progress.Body.Text, err, want)
	}

	// The row with a deadline went by SMS; the other waits for its page alone.
	db.Exec("UPDATE outbox SET status = 'sent', channel = 'sms' WHERE broadcast_id = ? AND resident_id = ?", b.ID, ids[1])
	h.clock.Advance(time.Minute)
	if err := jobs.Broadcasts(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	done, err := h.st.OutboxByDedupe(ctx, "bc-done:B1")
	want = "已送出 " + itoa(sent+1) + "，失败 0，无法联系 0，等待居民打开网页查看 1，已退订跳过 0"
	if err != nil || !strings.Contains(done.Body.Text, want) {
		t.Fatalf("final report %q %v, want %q", done.Body.Text, err, want)
	}
}
