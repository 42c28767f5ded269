package notify

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"linli/notify/aliyun"
	"linli/store"
)

type fakeSender struct {
	mu   sync.Mutex
	got  []Recipient
	errs []error
}

func (f *fakeSender) Send(_ context.Context, to Recipient, body store.OutboxBody) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, to)
	if len(f.errs) > 0 {
		err := f.errs[0]
		f.errs = f.errs[1:]
		return "", err
	}
	return "msg-1", nil
}

type unreachableErr struct{}

func (unreachableErr) Error() string     { return "window closed" }
func (unreachableErr) Unreachable() bool { return true }

type permanentErr struct{}

func (permanentErr) Error() string   { return "bad request" }
func (permanentErr) Temporary() bool { return false }

type alertRecorder struct {
	mu  sync.Mutex
	got []store.OutboxRow
}

func (a *alertRecorder) DeliveryProblems(_ context.Context, ps []store.OutboxRow) {
	a.mu.Lock()
	a.got = append(a.got, ps...)
	a.mu.Unlock()
}

type smsRecorder struct {
	phones []string
	err    error // returned once, then cleared
}

func (s *smsRecorder) Name() string { return "test" }
func (s *smsRecorder) SendSMS(_ context.Context, phone, template string, params map[string]string, outID string) (string, error) {
	if err := s.err; err != nil {
		s.err = nil
		return "", err
	}
	s.phones = append(s.phones, phone)
	return "biz-" + outID, nil
}

func setup(t *testing.T) (*store.Store, *Dispatcher, *fakeSender, *smsRecorder, time.Time) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	now := time.Unix(1_800_000_000, 0)
	sms := &smsRecorder{}
	d := NewDispatcher(st, sms, nil, func() time.Time { return now })
	tg := &fakeSender{}
	d.Register("telegram", tg)
	d.RegisterPull("web")
	return st, d, tg, sms, now
}

func resident(t *testing.T, st *store.Store, channel, id string, at time.Time) int64 {
	t.Helper()
	r, _, _, err := st.ResolveIdentity(context.Background(), store.IdentityKey{Channel: channel, ExternalID: id}, at)
	if err != nil {
		t.Fatal(err)
	}
	return r.ID
}

func TestFallbackChain(t *testing.T) {
	ctx := context.Background()
	st, d, tg, sms, now := setup(t)
	o := NewOutbox(st)
	rid := resident(t, st, "telegram", "42", now)
	st.SetResidentPhone(ctx, rid, "13812345678")

	// 1. Telegram works.
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Body: store.OutboxBody{Text: "hi", Template: "ticket_update"}, DueAt: now})
	if n, err := d.RunOnce(ctx); n != 1 || err != nil {
		t.Fatalf("run: %d %v", n, err)
	}
	// 2. Telegram cannot reach them: SMS takes over.
	tg.errs = []error{unreachableErr{}}
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Body: store.OutboxBody{Text: "hi2", Template: "ticket_update"}, DueAt: now})
	d.RunOnce(ctx)
	if len(sms.phones) != 1 || sms.phones[0] != "13812345678" {
		t.Fatalf("sms %v", sms.phones)
	}
	rows, _ := st.RecentOutbox(ctx, 10)
	if rows[0].Status != store.OutboxSent || rows[0].Channel != "sms" || rows[1].Channel != "telegram" {
		t.Fatalf("rows %+v", rows)
	}
	// 3. A permanent error fails the row at once and tells staff.
	al := &alertRecorder{}
	d.Alerts = al
	tg.errs = []error{permanentErr{}}
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Body: store.OutboxBody{Text: "hi3"}, DueAt: now})
	d.RunOnce(ctx)
	rows, _ = st.RecentOutbox(ctx, 1)
	if rows[0].Status != store.OutboxFailed || len(al.got) != 1 || al.got[0].Status != store.OutboxFailed {
		t.Fatalf("row %+v alerted %v", rows[0], al.got)
	}
	// 4. A temporary error retries later, not now.
	tg.errs = []error{errors.New("503")}
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Body: store.OutboxBody{Text: "hi4"}, DueAt: now})
	d.RunOnce(ctx)
	rows, _ = st.RecentOutbox(ctx, 1)
	if rows[0].Status != store.OutboxPending || !rows[0].DueAt.After(now) {
		t.Fatalf("row %+v", rows[0])
	}
}

func TestPullChannelHoldsAndUnreachableAlerts(t *testing.T) {
	ctx := context.Background()
	st, d, _, _, now := setup(t)
	o := NewOutbox(st)
	web := resident(t, st, "web", "sess-1", now)
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: web, Body: store.OutboxBody{Text: "for the page"}, DueAt: now})
	d.RunOnce(ctx)
	held, _ := st.HeldOutbox(ctx, "web", "sess-1")
	if len(held) != 1 || held[0].Body.Text != "for the page" {
		t.Fatalf("held %+v", held)
	}
	// Nobody reachable: a resident whose only identity blocked the bot, no phone.
	gone := resident(t, st, "telegram", "77", now)
	st.SetIdentityUnreachable(ctx, "telegram", "77", true)
	al := &alertRecorder{}
	d.Alerts = al
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: gone, Body: store.OutboxBody{Text: "x"}, DueAt: now})
	d.RunOnce(ctx)
	rows, _ := st.RecentOutbox(ctx, 1)
	if rows[0].Status != store.OutboxUnreachable || len(al.got) != 1 {
		t.Fatalf("row %+v alerted %v", rows[0], al.got)
	}
	// Not due yet: untouched.
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReminder, ResidentID: web, Body: store.OutboxBody{Text: "later"}, DueAt: now.Add(time.Hour)})
	if n, _ := d.RunOnce(ctx); n != 0 {
		t.Fatalf("sent %d rows before they were due", n)
	}
}

func TestBackoffGrowsWithJitter(t *testing.T) {
	for a := 1; a < 12; a++ {
		b := Backoff(a)
		base := 10 * time.Second << min(a-1, 9)
		if base > time.Hour {
			base = time.Hour
		}
		if b < base*3/4 || b > base*5/4 {
			t.Fatalf("attempt %d: %v outside ±25%% of %v", a, b, base)
		}
	}
}

// TestOnSMSReportsProviderCodes checks the metrics hook hears every provider
// call with the provider's code.
func TestOnSMSReportsProviderCodes(t *testing.T) {
	ctx := context.Background()
	st, d, _, sms, now := setup(t)
	var got []string
	d.OnSMS = func(provider, result, code string) { got = append(got, provider+" "+result+" "+code) }
	o := NewOutbox(st)
	rid := resident(t, st, "sms", "13812345678", now)
	st.SetResidentPhone(ctx, rid, "13812345678")
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Urgent: true, Body: store.OutboxBody{Text: "a", Template: "ticket_update"}, DueAt: now})
	d.RunOnce(ctx)
	sms.err = &aliyun.Error{Op: "send", Code: "isv.MOBILE_NUMBER_ILLEGAL", Message: "bad"}
	o.Enqueue(ctx, store.OutboxRow{Kind: KindReply, ResidentID: rid, Urgent: true, Body: store.OutboxBody{Text: "b", Template: "ticket_update"}, DueAt: now})
	d.RunOnce(ctx)
	if len(got) != 2 || got[0] != "test sent OK" || got[1] != "test failed isv.MOBILE_NUMBER_ILLEGAL" {
		t.Fatalf("OnSMS heard %v", got)
	}
}
