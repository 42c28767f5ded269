package notify

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/notify/aliyun"
	"linli/notify/aliyun/aliyunfake"
	"linli/store"
)

var shanghai = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Shanghai")
	if err != nil {
		panic(err)
	}
	return loc
}()

// testClock is a clock tests move by hand.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

type smsEnv struct {
	st    *store.Store
	d     *Dispatcher
	o     *Outbox
	fake  *aliyunfake.Server
	clock *testClock
	al    *alertRecorder
}

// newSMSEnv is a dispatcher on a real database sending through the Aliyun
// fake, at 10:00 Beijing time on a fake clock the fake shares.
func newSMSEnv(t *testing.T, opts ...aliyunfake.Option) *smsEnv {
	t.Helper()
	clock := &testClock{t: time.Date(2026, 11, 25, 10, 0, 0, 0, shanghai)}
	opts = append(opts, aliyunfake.WithClock(clock.Now), aliyunfake.WithMaxClockSkew(0),
		aliyunfake.WithTemplate("SMS_1", "code"), aliyunfake.WithTemplate("SMS_2", "content"),
		aliyunfake.WithTemplate("SMS_3", "name", "time"), aliyunfake.WithTemplate("SMS_4", "ticket"))
	fake := aliyunfake.NewServer(opts...)
	t.Cleanup(fake.Close)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetClock(clock.Now)
	sms, err := NewAliyunSMS(aliyun.Config{AccessKeyID: aliyunfake.DefaultAccessKeyID, AccessKeySecret: aliyunfake.DefaultAccessKeySecret,
		Endpoint: fake.Endpoint(), Scheme: fake.Scheme(), SignName: "普惠苑社区",
		Templates: aliyun.Templates{VerifyCode: "SMS_1", Notice: "SMS_2", Reminder: "SMS_3", Survey: "SMS_4"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	d := NewDispatcher(st, sms, nil, clock.Now)
	d.Loc = shanghai
	d.Quiet, _ = ParseQuietHours("21:00-08:00", shanghai)
	al := &alertRecorder{}
	d.Alerts = al
	o := NewOutbox(st)
	d.Watch(o)
	return &smsEnv{st: st, d: d, o: o, fake: fake, clock: clock, al: al}
}

// residents makes n residents with phones 1390000000i and no chat channel.
func (e *smsEnv) residents(t *testing.T, n int) ([]int64, []string) {
	t.Helper()
	rs := make([]store.NewResident, n)
	phones := make([]string, n)
	for i := range rs {
		phones[i] = fmt.Sprintf("139%08d", i)
		rs[i] = store.NewResident{Phone: phones[i]}
	}
	ids, err := e.st.ImportResidents(context.Background(), rs)
	if err != nil {
		t.Fatal(err)
	}
	return ids, phones
}

func (e *smsEnv) run(t *testing.T) int {
	t.Helper()
	n, err := e.d.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (e *smsEnv) statuses(t *testing.T) map[string]int {
	t.Helper()
	counts, err := e.st.OutboxCounts(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for k, n := range counts {
		out[k[0]] += n
	}
	return out
}

func notice(rid int64, urgent bool) store.OutboxRow {
	return store.OutboxRow{Kind: KindNotice, ResidentID: rid, Urgent: urgent, TargetChannel: ChannelSMS,
		Body: store.OutboxBody{Text: "停水通知", Template: KindNotice, Params: map[string]string{"content": "明天停水"}}}
}

func TestOneTextGoesInSendSmsCallsWithTheLeaderAsOutID(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, phones := e.residents(t, 250)
	e.d.SMSBatch = 100
	var rows []store.OutboxRow
	for _, id := range ids {
		rows = append(rows, notice(id, false))
	}
	if err := e.o.Enqueue(ctx, rows...); err != nil {
		t.Fatal(err)
	}
	if n := e.run(t); n != 250 {
		t.Fatalf("handled %d", n)
	}
	sent := e.fake.Sent()
	if len(sent) != 250 || len(e.fake.CountByPhone()) != 250 {
		t.Fatalf("fake got %d records for %d numbers", len(sent), len(e.fake.CountByPhone()))
	}
	calls := map[string][]aliyunfake.Record{}
	for _, r := range sent {
		if r.Action != "SendSms" || r.TemplateCode != "SMS_2" {
			t.Fatalf("record %+v", r)
		}
		if r.Params["content"] != "明天停水 "+OptOutSuffix {
			t.Fatalf("notice SMS must end with the opt-out: %q", r.Params["content"])
		}
		calls[r.OutID] = append(calls[r.OutID], r)
	}
	if len(calls) != 3 {
		t.Fatalf("%d calls, want 3 (100+100+50)", len(calls))
	}
	all, _ := e.st.RecentOutbox(ctx, 300)
	for _, row := range all {
		if row.Status != store.OutboxSent || row.Channel != ChannelSMS || row.SMSOutID == "" || row.ProviderID == "" {
			t.Fatalf("row %+v", row)
		}
		leader := calls[row.SMSOutID]
		found := false
		for _, r := range leader {
			found = found || r.Phone == row.SMSPhone
		}
		if !found || fmt.Sprint(minID(t, e, row.SMSOutID)) != row.SMSOutID {
			t.Fatalf("row %d: out id %s does not name its call's smallest row", row.ID, row.SMSOutID)
		}
	}
	_ = phones
	// A receipt pushed for one number finds that row through the shared OutId.
	n, err := e.st.RecordSMSReceipt(ctx, all[0].SMSOutID, "", all[0].SMSPhone, true, "DELIVERED", e.clock.Now())
	if err != nil || n != 1 {
		t.Fatalf("receipt applied to %d rows: %v", n, err)
	}
}

func minID(t *testing.T, e *smsEnv, outID string) int64 {
	var id int64
	if err := e.st.DB().QueryRow("SELECT MIN(id) FROM outbox WHERE sms_out_id = ?", outID).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

func TestOwnParamsGoInSendBatchSms(t *testing.T) {
	e := newSMSEnv(t)
	ids, _ := e.residents(t, 150)
	var rows []store.OutboxRow
	for i, id := range ids {
		rows = append(rows, store.OutboxRow{Kind: KindReminder, ResidentID: id, TargetChannel: ChannelSMS,
			Body: store.OutboxBody{Template: KindReminder, Params: map[string]string{"name": "血压测量", "time": fmt.Sprintf("11-26 #%d", i)}}})
	}
	e.o.Enqueue(context.Background(), rows...)
	e.run(t)
	byOut := map[string]int{}
	for _, r := range e.fake.Sent() {
		if r.Action != "SendBatchSms" {
			t.Fatalf("record %+v", r)
		}
		byOut[r.OutID]++
	}
	if len(e.fake.Sent()) != 150 || len(byOut) != 2 {
		t.Fatalf("%d sent in %d calls, want 150 in 2 (100+50)", len(e.fake.Sent()), len(byOut))
	}
}

func TestQuietHoursHoldNonUrgentButNotCodesOrUrgent(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 3)
	e.clock.Set(time.Date(2026, 11, 25, 22, 30, 0, 0, shanghai))
	e.o.Enqueue(ctx,
		store.OutboxRow{Kind: KindReminder, ResidentID: ids[0], TargetChannel: ChannelSMS, DedupeKey: "r",
			Body: store.OutboxBody{Template: KindReminder, Params: map[string]string{"name": "x", "time": "y"}}},
		notice(ids[1], true),
		store.OutboxRow{Kind: KindVerifyCode, ResidentID: ids[2], TargetChannel: ChannelSMS, TargetAddress: "13900000002", Urgent: true,
			Body: store.OutboxBody{Template: KindVerifyCode, Params: map[string]string{"code": "123456"}}},
	)
	e.run(t)
	if got := len(e.fake.Sent()); got != 2 {
		t.Fatalf("%d sent during quiet hours, want the code and the urgent notice", got)
	}
	r, err := e.st.OutboxByDedupe(ctx, "r")
	if err != nil {
		t.Fatal(err)
	}
	want := time.Date(2026, 11, 26, 8, 0, 0, 0, shanghai)
	if r.Status != store.OutboxPending || !r.DueAt.Equal(want) || r.Attempts != 0 {
		t.Fatalf("reminder %+v, want pending until %v with no attempt used", r, want)
	}
	e.clock.Set(want)
	e.run(t)
	if got := len(e.fake.Sent()); got != 3 {
		t.Fatalf("%d sent after quiet hours", got)
	}
}

func TestPerNumberCaps(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 1)
	code := func(key string) store.OutboxRow {
		return store.OutboxRow{Kind: KindVerifyCode, ResidentID: ids[0], TargetChannel: ChannelSMS, TargetAddress: "13900000000", Urgent: true,
			DedupeKey: key, Body: store.OutboxBody{Template: KindVerifyCode, Params: map[string]string{"code": "123456"}}}
	}
	e.o.Enqueue(ctx, code("c1"), code("c2"))
	e.run(t)
	if got := len(e.fake.Sent()); got != 1 {
		t.Fatalf("%d codes within a minute", got)
	}
	r, _ := e.st.OutboxByDedupe(ctx, "c2")
	if r.Status != store.OutboxFailed || !strings.Contains(r.Error, "cap") {
		t.Fatalf("second code %+v", r)
	}
	// Five an hour: four more, a minute apart, then the sixth is refused.
	for i := 3; i <= 7; i++ {
		e.clock.Set(e.clock.Now().Add(61 * time.Second))
		e.o.Enqueue(ctx, code(fmt.Sprint("c", i)))
		e.run(t)
	}
	if got := len(e.fake.Sent()); got != 5 {
		t.Fatalf("%d codes within an hour, want 5", got)
	}

	// Notices: 50 a day per template and number; the 51st waits for tomorrow.
	var rows []store.OutboxRow
	for i := 0; i < 51; i++ {
		r := notice(ids[0], false)
		r.DedupeKey = fmt.Sprint("n", i)
		r.Body.Params = map[string]string{"content": fmt.Sprint("通知", i)}
		rows = append(rows, r)
	}
	e.o.Enqueue(ctx, rows...)
	e.run(t)
	if got := len(e.fake.Sent()) - 5; got != 50 {
		t.Fatalf("%d notices today, want 50", got)
	}
	last, _ := e.st.OutboxByDedupe(ctx, "n50")
	if last.Status != store.OutboxPending || !last.DueAt.Equal(time.Date(2026, 11, 26, 0, 0, 0, 0, shanghai)) {
		t.Fatalf("51st notice %+v", last)
	}
}

func TestLostAnswerIsReconciledNotResent(t *testing.T) {
	e := newSMSEnv(t, aliyunfake.FailNth(1, aliyunfake.Fault{DropResponse: true}))
	ctx := context.Background()
	ids, _ := e.residents(t, 3)
	for _, id := range ids {
		e.o.Enqueue(ctx, notice(id, false))
	}
	e.run(t)
	all, _ := e.st.RecentOutbox(ctx, 10)
	for _, r := range all {
		if r.Status != store.OutboxPending || r.SMSOutID == "" {
			t.Fatalf("after a lost answer: %+v", r)
		}
	}
	if len(e.fake.Sent()) != 3 {
		t.Fatalf("fake has %d", len(e.fake.Sent()))
	}
	e.clock.Set(e.clock.Now().Add(time.Hour))
	e.run(t)
	all, _ = e.st.RecentOutbox(ctx, 10)
	for _, r := range all {
		if r.Status != store.OutboxSent && r.Status != store.OutboxDelivered {
			t.Fatalf("after reconcile: %+v", r)
		}
	}
	if n := len(e.fake.Sent()); n != 3 {
		t.Fatalf("%d SMS at the fake after reconcile, want 3 (none resent)", n)
	}
}

func TestKilledMidCallRowsAreLookedUpAfterTheLease(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 2)
	e.o.Enqueue(ctx, notice(ids[0], false), notice(ids[1], false))
	// What a process leaves behind when it dies during the call: rows
	// leased, OutId recorded, the fake has the messages, no outcome.
	rows, err := e.st.LeaseOutbox(ctx, e.clock.Now(), time.Minute, 10)
	if err != nil || len(rows) != 2 {
		t.Fatal(rows, err)
	}
	e.st.MarkSMSAttempt(ctx, []store.SMSAttempt{{ID: rows[0].ID, Phone: "13900000000"}, {ID: rows[1].ID, Phone: "13900000001"}},
		fmt.Sprint(rows[0].ID), KindNotice, e.clock.Now())
	e.d.sms.(BulkSMS).SendSame(ctx, []string{"13900000000"}, KindNotice, map[string]string{"content": "明天停水 " + OptOutSuffix}, fmt.Sprint(rows[0].ID))
	if n := e.run(t); n != 0 {
		t.Fatalf("rows under a live lease were taken: %d", n)
	}
	e.clock.Set(e.clock.Now().Add(2 * time.Minute))
	e.run(t)
	counts := e.fake.CountByPhone()
	if counts["13900000000"] != 1 || counts["13900000001"] != 1 {
		t.Fatalf("after takeover: %v (the first number had its SMS, the second did not)", counts)
	}
}

func TestThrottledLaterBadNumberFailsAlone(t *testing.T) {
	e := newSMSEnv(t, aliyunfake.FailNth(1, aliyunfake.Fault{Code: "isv.BUSINESS_LIMIT_CONTROL", Message: "触发分钟级流控Permits:1"}),
		aliyunfake.WithFault(func(c aliyunfake.Call) *aliyunfake.Fault {
			if strings.Contains(c.Params["PhoneNumbers"], "13900000007") {
				return &aliyunfake.Fault{Code: "isv.MOBILE_NUMBER_ILLEGAL", Message: "非法手机号"}
			}
			return nil
		}))
	ctx := context.Background()
	ids, _ := e.residents(t, 10)
	for _, id := range ids {
		e.o.Enqueue(ctx, notice(id, false))
	}
	e.run(t)
	if st := e.statuses(t); st[store.OutboxPending] != 10 {
		t.Fatalf("throttled call: %v", st)
	}
	all, _ := e.st.RecentOutbox(ctx, 1)
	if want := e.clock.Now().Add(time.Minute); !all[0].DueAt.Equal(want) {
		t.Fatalf("throttled row due %v, want %v", all[0].DueAt, want)
	}
	e.clock.Set(e.clock.Now().Add(time.Minute))
	e.run(t)
	st := e.statuses(t)
	if st[store.OutboxSent] != 9 || st[store.OutboxFailed] != 1 || len(e.fake.Sent()) != 9 {
		t.Fatalf("after bisecting: %v, fake %d", st, len(e.fake.Sent()))
	}
	if len(e.al.got) != 0 {
		t.Fatalf("a failed notice alerted staff per row: %v", e.al.got)
	}
}

func TestUnsubscribedSkipNonUrgentNoticesOnly(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	ids, _ := e.residents(t, 1)
	e.st.SetUnsubscribed(ctx, ids[0], true)
	n1, n2 := notice(ids[0], false), notice(ids[0], true)
	n1.DedupeKey, n2.DedupeKey = "a", "b"
	rem := store.OutboxRow{Kind: KindReminder, ResidentID: ids[0], DedupeKey: "c",
		Body: store.OutboxBody{Template: KindReminder, Params: map[string]string{"name": "n", "time": "t"}}}
	e.o.Enqueue(ctx, n1, n2, rem)
	e.run(t)
	a, _ := e.st.OutboxByDedupe(ctx, "a")
	if a.Status != store.OutboxCancelled || len(e.fake.Sent()) != 2 {
		t.Fatalf("notice %+v, %d sent", a, len(e.fake.Sent()))
	}
}

// TestParamsKey checks that parameter sets share a key only when equal,
// however their texts could be cut.
func TestParamsKey(t *testing.T) {
	sets := []map[string]string{
		nil,
		{"a": "bc"},
		{"ab": "c"},
		{"a": "b", "c": ""},
		{"a": "b:1c"},
		{"a": "b", "c": "d"},
		{"content": "明天停水"},
	}
	seen := map[string]int{}
	for i, p := range sets {
		k := paramsKey(p)
		if j, ok := seen[k]; ok {
			t.Fatalf("sets %d and %d share key %q", j, i, k)
		}
		seen[k] = i
	}
	if paramsKey(map[string]string{"a": "1", "b": "2"}) != paramsKey(map[string]string{"b": "2", "a": "1"}) {
		t.Fatal("equal sets with different keys")
	}
}
