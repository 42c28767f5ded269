package notify

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

// code is a verification code to phone 13900000000.
func code(rid int64, key string) store.OutboxRow {
	return store.OutboxRow{Kind: KindVerifyCode, ResidentID: rid, TargetChannel: ChannelSMS, TargetAddress: "13900000000", Urgent: true,
		DedupeKey: key, Body: store.OutboxBody{Template: KindVerifyCode, Params: map[string]string{"code": "123456"}}}
}

// TestCapsCountCallsNotYetMarked: the next chunk is planned while the calls
// of the last wait for the limiter, before their marks are on record. The
// caps must count those calls too: three codes to one number in three
// chunks make one SMS, not three.
func TestCapsCountCallsNotYetMarked(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 1)
	e.d.Batch = 1
	// The first call's slot is half a second away, so its marks are
	// written long after the other chunks were checked.
	e.d.Limiter = rate.NewLimiter(2, 1)
	e.d.Limiter.Allow()
	e.o.Enqueue(ctx, code(ids[0], "c1"), code(ids[0], "c2"), code(ids[0], "c3"))
	if n := e.run(t); n != 3 {
		t.Fatalf("handled %d", n)
	}
	if got := len(e.fake.Sent()); got != 1 {
		t.Fatalf("%d codes to one number within a minute", got)
	}
	st := e.statuses(t)
	if st[store.OutboxSent] != 1 || st[store.OutboxFailed] != 2 {
		t.Fatalf("statuses %v, want one sent and two over the cap", st)
	}
	if len(e.d.inflight) != 0 {
		t.Fatalf("reservations left after the run: %v", e.d.inflight)
	}
}

// TestStoppingBeforeTheCallLeavesNoDoubt: a dispatcher stopped after it
// wrote a call's marks but before the call returns the rows without an
// OutId, so the next run sends them without asking the provider first.
func TestStoppingBeforeTheCallLeavesNoDoubt(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 2)
	e.o.Enqueue(ctx, notice(ids[0], false), notice(ids[1], false))
	stopMidway(t, e, "SELECT COUNT(*) FROM outbox WHERE sms_out_id <> ''", 2)
	e.d.Limiter = nil
	e.run(t)
	if got, calls := len(e.fake.Sent()), e.fake.Calls(); got != 2 || calls != 1 {
		t.Fatalf("%d SMS in %d calls after the restart, want 2 in one call and no look-up", got, calls)
	}
}

// TestCallsKeepTheRate: however far ahead the dispatcher plans, and
// however late a call sets out, no second sees more calls start than the
// limiter allows in one (its burst plus its rate).
func TestCallsKeepTheRate(t *testing.T) {
	var mu sync.Mutex
	var at []time.Time
	e := newSMSEnv(t)
	// The start of each call is taken where the dispatcher makes it, not
	// where the fake receives it: on a loaded machine the way over loopback
	// varies by tens of milliseconds, which says nothing about the rate.
	e.d.sms = &timedSMS{AliyunSMS: e.d.sms.(*AliyunSMS), record: func() {
		mu.Lock()
		at = append(at, time.Now())
		mu.Unlock()
	}}
	ctx := context.Background()
	const n, perSecond = 70, 30
	ids, _ := e.residents(t, n)
	var rows []store.OutboxRow
	for i, id := range ids {
		rows = append(rows, store.OutboxRow{Kind: KindReminder, ResidentID: id, TargetChannel: ChannelSMS, Urgent: true,
			Body: store.OutboxBody{Template: KindReminder, Params: map[string]string{"name": "x", "time": fmt.Sprint(i)}}})
	}
	e.o.Enqueue(ctx, rows...)
	e.d.SMSBatch = 1 // one number per call
	e.d.Batch = 4    // several chunks, planned ahead
	e.d.Workers = 8
	e.d.Limiter = rate.NewLimiter(perSecond, 1)
	if got := e.run(t); got != n {
		t.Fatalf("handled %d", got)
	}
	if len(at) != n || len(e.fake.Sent()) != n {
		t.Fatalf("%d calls, %d SMS", len(at), len(e.fake.Sent()))
	}
	sort.Slice(at, func(i, j int) bool { return at[i].Before(at[j]) })
	// perSecond+1 starts within a second is one too many; allow a little for
	// the moment between the limiter's release and the timestamp.
	const window = perSecond + 1
	for i := 0; i+window < n; i++ {
		if d := at[i+window].Sub(at[i]); d < time.Second-20*time.Millisecond {
			t.Fatalf("calls %d to %d started within %v", i, i+window, d)
		}
	}
}

// TestRunOnceSettlesEveryChunkBeforeItReturns: outcomes written in shared
// transactions are all on record when RunOnce returns (the last calls have
// no later marks to ride with), and problems are reported.
func TestRunOnceSettlesEveryChunkBeforeItReturns(t *testing.T) {
	e := newSMSEnv(t, aliyunfake.WithFault(func(c aliyunfake.Call) *aliyunfake.Fault {
		if strings.Contains(c.Params["TemplateParamJson"], "bad") {
			return &aliyunfake.Fault{Code: "isv.TEMPLATE_PARAMS_ILLEGAL", Message: "模板变量里包含非法关键字"}
		}
		return nil
	}))
	ctx := context.Background()
	ids, _ := e.residents(t, 30)
	var rows []store.OutboxRow
	for i, id := range ids {
		p := fmt.Sprint(i)
		if i == 0 {
			p = "bad" // the first call of the first chunk fails
		}
		rows = append(rows, store.OutboxRow{Kind: KindReminder, ResidentID: id, TargetChannel: ChannelSMS, Urgent: true,
			Body: store.OutboxBody{Template: KindReminder, Params: map[string]string{"name": "x", "time": p}}})
	}
	e.o.Enqueue(ctx, rows...)
	e.d.Batch = 10
	e.d.SMSBatch = 5
	if n := e.run(t); n != 30 {
		t.Fatalf("handled %d", n)
	}
	st := e.statuses(t)
	if st[store.OutboxSent] != 25 || st[store.OutboxFailed] != 5 || st[store.OutboxLeased] != 0 {
		t.Fatalf("statuses %v", st)
	}
	e.al.mu.Lock()
	defer e.al.mu.Unlock()
	if len(e.al.got) != 5 {
		t.Fatalf("%d problems reported, want the 5 failed reminders", len(e.al.got))
	}
}

// TestNoCallAfterTheLeaseRanOut: when a call's slot comes after its rows'
// lease has run out, another dispatcher may already have taken the rows
// over (looked their OutId up, found nothing and sent them): the call is
// not made, and each resident gets one SMS.
func TestNoCallAfterTheLeaseRanOut(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 1)
	e.o.Enqueue(ctx, notice(ids[0], false))
	e.d.Limiter = rate.NewLimiter(1, 1)
	e.d.Limiter.Allow()
	e.d.lead = time.Hour // the marks go in at once; the slot is a second away
	done := make(chan error, 1)
	go func() { _, err := e.d.RunOnce(ctx); done <- err }()
	waitCount(t, e.st, "SELECT COUNT(*) FROM outbox WHERE sms_out_id <> ''", 1)
	// The lease runs out; a second dispatcher takes the row over, finds no
	// SMS under its OutId and sends it.
	e.clock.Set(e.clock.Now().Add(3 * time.Minute))
	other := NewDispatcher(e.st, e.d.sms, nil, e.clock.Now)
	other.Loc = shanghai
	if n, err := other.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("takeover handled %d: %v", n, err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := e.fake.CountByPhone()["13900000000"]; got != 1 {
		t.Fatalf("%d SMS to one resident", got)
	}
	all, _ := e.st.RecentOutbox(ctx, 1)
	if all[0].Status != store.OutboxSent {
		t.Fatalf("row %+v", all[0])
	}
}

// timedSMS records when each single-number call starts.
type timedSMS struct {
	*AliyunSMS
	record func()
}

func (t *timedSMS) SendSMS(ctx context.Context, phone, template string, params map[string]string, outID string) (string, error) {
	t.record()
	return t.AliyunSMS.SendSMS(ctx, phone, template, params, outID)
}

// waitCount waits (10 s at most) until query, a COUNT(*), answers want.
func waitCount(t *testing.T, st *store.Store, query string, want int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var n int
		st.DB().QueryRow(query).Scan(&n)
		if n == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d, want %d", query, n, want)
		}
		<-time.After(5 * time.Millisecond)
	}
}

// stopMidway runs the dispatcher with its first call two seconds away,
// stops it once query (a COUNT(*)) answers want, and checks that every row
// went back untried: pending, no OutId, no attempt, no call made.
func stopMidway(t *testing.T, e *smsEnv, query string, want int) {
	t.Helper()
	ctx := context.Background()
	e.d.Limiter = rate.NewLimiter(0.5, 1)
	e.d.Limiter.Allow()
	e.d.lead = time.Hour // mark at once, then wait two seconds for the slot
	run, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { _, err := e.d.RunOnce(run); done <- err }()
	waitCount(t, e.st, query, want)
	cancel()
	if err := <-done; err == nil {
		t.Fatal("RunOnce did not report the cancellation")
	}
	all, _ := e.st.RecentOutbox(ctx, 10)
	for _, r := range all {
		if r.Status != store.OutboxPending || r.SMSOutID != "" || r.Attempts != 0 {
			t.Fatalf("after stopping: %+v", r)
		}
	}
	if e.fake.Calls() != 0 {
		t.Fatalf("the fake had %d calls", e.fake.Calls())
	}
}
