package notify

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"

	"linli/store"
)

// forgetJobs has nothing to do but forget residents who never consented.
type forgetJobs struct{ forgot atomic.Int64 }

func (f *forgetJobs) Surveys(context.Context, time.Time) error      { return nil }
func (f *forgetJobs) Escalate(context.Context, time.Time) error     { return nil }
func (f *forgetJobs) Digest(context.Context, time.Time) error       { return nil }
func (f *forgetJobs) Broadcasts(context.Context, time.Time) error   { return nil }
func (f *forgetJobs) ExpireOffers(context.Context, time.Time) error { return nil }
func (f *forgetJobs) ForgetUnanswered(_ context.Context, now time.Time) error {
	f.forgot.Store(now.Unix())
	return nil
}

// TestPurgeJobKeepsMessagesForTheRetentionOnly moves a fake clock across
// 03:30 in Shanghai: the purge job drops message-log lines older than
// store.message_retention_days (and the texts of outbox rows sent before
// then) and dedupe keys older than two days, and
// keeps the rest; and it has the jobs forget residents who never consented.
func TestPurgeJobKeepsMessagesForTheRetentionOnly(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	clock := clockwork.NewFakeClockAt(time.Date(2026, 11, 25, 3, 29, 0, 0, shanghai))
	purgeAt := time.Date(2026, 11, 25, 3, 30, 0, 0, shanghai)
	ids, _ := e.residents(t, 1)
	old, kept := purgeAt.AddDate(0, 0, -180).Add(-time.Minute), purgeAt.AddDate(0, 0, -180).Add(time.Minute)
	if err := e.st.LogMessages(ctx, []store.LoggedMessage{
		{ResidentID: ids[0], Direction: store.DirectionIn, Channel: "wechat", Text: "too old", CreatedAt: old},
		{ResidentID: ids[0], Direction: store.DirectionIn, Channel: "wechat", Text: "still kept", CreatedAt: kept},
	}); err != nil {
		t.Fatal(err)
	}
	e.st.SetClock(func() time.Time { return old })
	e.st.EnqueueOutbox(ctx, []store.OutboxRow{
		{Kind: "chat_reply", TargetChannel: "wechat", TargetAddress: "oX", DueAt: old, Body: store.OutboxBody{Text: "old reply"}},
		{Kind: "notice", TargetChannel: "wechat", TargetAddress: "oX", DueAt: old, Body: store.OutboxBody{Text: "old, still held"}},
	})
	e.st.DB().Exec("UPDATE outbox SET status = 'sent' WHERE id = 1")
	e.st.DB().Exec("UPDATE outbox SET status = 'held' WHERE id = 2") // waiting for its web page: still to be shown
	e.st.SetClock(func() time.Time { return kept })
	e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "chat_reply", TargetChannel: "wechat", TargetAddress: "oX", DueAt: kept,
		Body: store.OutboxBody{Text: "recent reply"}}})
	e.st.DB().Exec("UPDATE outbox SET status = 'sent' WHERE id = 3")
	e.st.SetClock(e.clock.Now)
	e.st.ClaimInbound(ctx, "wechat", "old-key", purgeAt.Add(-49*time.Hour))
	e.st.ClaimInbound(ctx, "wechat", "new-key", purgeAt.Add(-47*time.Hour))
	jobs := &forgetJobs{}
	cfg := DefaultSchedule()
	if cfg.PurgeAt != "03:30" {
		t.Fatalf("purge at %q", cfg.PurgeAt)
	}
	sc, err := NewScheduler(SchedulerOptions{Config: cfg, Location: shanghai, Clock: clock, Store: e.st, Dispatcher: e.d,
		Outbox: e.o, RetentionDays: 180, Jobs: jobs})
	if err != nil {
		t.Fatal(err)
	}
	sc.Start()
	defer sc.Stop()
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := clock.BlockUntilContext(wait, len(sc.Jobs())); err != nil {
		t.Fatal(err)
	}
	if ms, _ := e.st.RecentMessages(ctx, ids[0], 10); len(ms) != 2 {
		t.Fatalf("purged before 03:30: %+v", ms)
	}
	clock.Advance(61 * time.Second)
	waitUntil(t, "the purge", func() bool { return sc.Runs(JobPurge) == 1 })
	ms, _ := e.st.RecentMessages(ctx, ids[0], 10)
	if len(ms) != 1 || ms[0].Text != "still kept" {
		t.Fatalf("after the purge: %+v", ms)
	}
	for id, want := range map[int64]string{1: "", 2: "old, still held", 3: "recent reply"} {
		if o, err := e.st.OutboxRowByID(ctx, id); err != nil || o.Body.Text != want {
			t.Errorf("outbox row %d after the purge: %q, want %q (%v)", id, o.Body.Text, want, err)
		}
	}
	if fresh, _ := e.st.ClaimInbound(ctx, "wechat", "old-key", purgeAt); !fresh {
		t.Fatal("a dedupe key two days old was kept")
	}
	if fresh, _ := e.st.ClaimInbound(ctx, "wechat", "new-key", purgeAt); fresh {
		t.Fatal("a recent dedupe key was purged")
	}
	if at := jobs.forgot.Load(); at < purgeAt.Unix() || at > purgeAt.Unix()+1 {
		t.Fatalf("residents who never consented forgotten at %d, want %d", at, purgeAt.Unix())
	}
}
