package notify

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// webResident is a resident last seen on the web chat under ext, with phone
// bound when it is not empty.
func (e *smsEnv) webResident(t *testing.T, ext, phone string) int64 {
	t.Helper()
	ctx := context.Background()
	r, _, _, err := e.st.ResolveIdentity(ctx, store.IdentityKey{Channel: "web", ExternalID: ext}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if phone != "" {
		if err := e.st.SetResidentPhone(ctx, r.ID, phone); err != nil {
			t.Fatal(err)
		}
	}
	return r.ID
}

func staffReply(rid int64, key string) store.OutboxRow {
	return store.OutboxRow{Kind: KindReply, ResidentID: rid, DedupeKey: key,
		Body: store.OutboxBody{Text: "【工单 T1001】工作人员回复：已修好", Template: KindTicketUpdate, Params: map[string]string{"ticket": "T1001"}}}
}

func (e *smsEnv) row(t *testing.T, key string) store.OutboxRow {
	t.Helper()
	row, err := e.st.OutboxByDedupe(context.Background(), key)
	if err != nil {
		t.Fatal(err)
	}
	return row
}

func (e *smsEnv) held(t *testing.T, ext string) int {
	t.Helper()
	rows, err := e.st.HeldOutbox(context.Background(), "web", ext)
	if err != nil {
		t.Fatal(err)
	}
	return len(rows)
}

// TestHeldRowMovesOnAfterItsDeadline: a message for a web chat resident
// waits HoldFor for the page, then goes on down the chain (here SMS), and
// the page no longer collects it; one that nothing else can reach keeps
// waiting for the page instead of ending unreachable.
func TestHeldRowMovesOnAfterItsDeadline(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	e.d.RegisterPull("web")
	e.d.HoldFor = 10 * time.Minute
	e.d.sms.(*AliyunSMS).templates[KindTicketUpdate] = "SMS_4"
	start := e.clock.Now()
	phone := e.webResident(t, "w-phone", "13812345678")
	bare := e.webResident(t, "w-bare", "")
	landline := e.webResident(t, "w-landline", "01062345678")
	if err := e.o.Enqueue(ctx, staffReply(phone, "phone"), staffReply(bare, "bare"), staffReply(landline, "landline")); err != nil {
		t.Fatal(err)
	}
	e.run(t)
	for _, ext := range []string{"w-phone", "w-bare", "w-landline"} {
		if n := e.held(t, ext); n != 1 {
			t.Fatalf("%s: %d rows held for the page", ext, n)
		}
	}
	if r := e.row(t, "phone"); !r.HoldUntil.Equal(start.Add(10*time.Minute)) || r.HoldChannel != "web" || r.TargetChannel != "" {
		t.Fatalf("held row %+v", r)
	}
	if r := e.row(t, "bare"); !r.HoldUntil.IsZero() {
		t.Fatalf("a row nothing else can reach got a deadline: %+v", r)
	}

	// Before the deadline nothing moves.
	e.clock.Set(start.Add(9 * time.Minute))
	e.run(t)
	if n := len(e.fake.Sent()); n != 0 {
		t.Fatalf("%d SMS before the deadline", n)
	}

	// After it, the resident with a phone gets the SMS and the page no
	// longer has it to show: it is never shown twice.
	e.clock.Set(start.Add(10*time.Minute + time.Second))
	e.run(t)
	if r := e.row(t, "phone"); r.Status != store.OutboxSent || r.Channel != ChannelSMS {
		t.Fatalf("after the deadline %+v", r)
	}
	if got := e.fake.CountByPhone(); got["13812345678"] != 1 || len(got) != 1 {
		t.Fatalf("SMS %v", got)
	}
	if n := e.held(t, "w-phone"); n != 0 {
		t.Fatalf("the page would show a row that went by SMS (%d held)", n)
	}
	// The others cannot be reached otherwise: they wait for their page,
	// with no deadline and no alert to staff.
	for _, key := range []string{"bare", "landline"} {
		if r := e.row(t, key); r.Status != store.OutboxHeld || !r.HoldUntil.IsZero() {
			t.Fatalf("%s: %+v", key, r)
		}
	}
	if e.held(t, "w-bare") != 1 || e.held(t, "w-landline") != 1 || len(e.al.got) != 0 {
		t.Fatalf("held %d %d, alerts %+v", e.held(t, "w-bare"), e.held(t, "w-landline"), e.al.got)
	}
	e.clock.Set(start.Add(2 * time.Hour))
	e.run(t)
	if n := len(e.fake.Sent()); n != 1 {
		t.Fatalf("%d SMS in all", n)
	}
}

// TestHeldRowWaitsForThePageBetweenRetries: a row whose SMS after the
// deadline must be tried again later goes back to its page meanwhile.
func TestHeldRowWaitsForThePageBetweenRetries(t *testing.T) {
	var calls atomic.Int32
	e := newSMSEnv(t, aliyunfake.WithFault(func(c aliyunfake.Call) *aliyunfake.Fault {
		if c.Action != "SendSms" {
			return nil
		}
		if calls.Add(1) == 1 {
			return &aliyunfake.Fault{Code: "isv.BUSINESS_LIMIT_CONTROL", Message: "触发流控"}
		}
		return nil
	}))
	ctx := context.Background()
	e.d.RegisterPull("web")
	e.d.HoldFor = 10 * time.Minute
	e.d.sms.(*AliyunSMS).templates[KindTicketUpdate] = "SMS_4"
	start := e.clock.Now()
	rid := e.webResident(t, "w1", "13812345678")
	e.o.Enqueue(ctx, staffReply(rid, "r"))
	e.run(t)
	e.clock.Set(start.Add(11 * time.Minute))
	e.run(t)
	r := e.row(t, "r")
	if r.Status != store.OutboxHeld || !r.HoldUntil.After(e.clock.Now()) || e.held(t, "w1") != 1 {
		t.Fatalf("throttled SMS: %+v", r)
	}
	e.clock.Set(r.HoldUntil.Add(time.Second))
	e.run(t)
	if r := e.row(t, "r"); r.Status != store.OutboxSent || r.Channel != ChannelSMS || e.fake.CountByPhone()["13812345678"] != 1 {
		t.Fatalf("retry %+v, sms %v", r, e.fake.CountByPhone())
	}
}

// TestCancelWithdrawsHeldRows: the reminders of a cancelled booking are
// withdrawn from the page too, not shown (or sent by SMS) later.
func TestCancelWithdrawsHeldRows(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	e.d.RegisterPull("web")
	e.d.HoldFor = 10 * time.Minute
	rid := e.webResident(t, "w1", "13812345678")
	e.o.Enqueue(ctx, store.OutboxRow{Kind: KindReminder, ResidentID: rid, Ref: "B1001", DedupeKey: "rem",
		Body: store.OutboxBody{Text: "明天 9:00 理发", Template: KindReminder, Params: map[string]string{"name": "理发", "time": "9:00"}}})
	e.run(t)
	if n, err := e.st.CancelOutbox(ctx, rid, "B1001"); n != 1 || err != nil {
		t.Fatalf("cancelled %d %v", n, err)
	}
	e.clock.Set(e.clock.Now().Add(time.Hour))
	e.run(t)
	if e.held(t, "w1") != 0 || len(e.fake.Sent()) != 0 || e.row(t, "rem").Status != store.OutboxCancelled {
		t.Fatalf("cancelled reminder: held %d, sms %d", e.held(t, "w1"), len(e.fake.Sent()))
	}
}
