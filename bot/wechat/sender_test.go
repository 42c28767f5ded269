package wechat

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/bot/wechat/wechatfake"
	"linli/notify"
	"linli/store"
)

func (e *apiEnv) sender(t testing.TB) *Sender {
	return NewSender(e.client(t), e.st, e.cfg.Templates, e.clk.Now, nil)
}

// resident writes to the account at the clock's time: the store records the
// inbound time, the fake opens its window.
func (e *apiEnv) resident(t testing.TB, openID string) store.Identity {
	t.Helper()
	_, id, _, err := e.st.ResolveIdentity(context.Background(), store.IdentityKey{Channel: bot.ChannelWeChat, ExternalID: openID}, e.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	e.fake.Touch(openID, e.clk.Now())
	return id
}

func (e *apiEnv) customCalls() int {
	n := 0
	for _, c := range e.fake.Calls() {
		if c.Path == wechatfake.PathCustomSend {
			n++
		}
	}
	return n
}

func isUnreachable(err error) bool {
	var u interface{ Unreachable() bool }
	return errors.As(err, &u) && u.Unreachable()
}

var ticketUpdate = store.OutboxBody{Text: "工单 T1001 已处理完毕", Template: "ticket_update",
	Params: map[string]string{"ticket": "T1001", "status": "已解决"}}

func TestSenderCustomServiceInsideWindow(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	s := e.sender(t)
	e.resident(t, "o1")
	body := store.OutboxBody{Text: "请选择：", Choices: []store.OutboxChoice{{Payload: "a", Label: "甲"}, {Payload: "b", Label: "乙"}}}
	id, err := s.Send(context.Background(), notify.Recipient{Channel: "wechat", Address: "o1"}, body)
	if err != nil || id != "cs" {
		t.Fatalf("%q %v", id, err)
	}
	msgs := e.fake.CustomMessages()
	if len(msgs) != 1 || msgs[0].Content != "请选择：\n1. 甲\n2. 乙" {
		t.Fatalf("messages %+v", msgs)
	}
}

// Past 48 hours no customer-service call is made: the template goes.
func TestSenderWindowClosedGoesToTemplate(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	s := e.sender(t)
	e.resident(t, "o1")
	e.clk.Add(49 * time.Hour)
	id, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if err != nil || !strings.HasPrefix(id, "template:") {
		t.Fatalf("%q %v", id, err)
	}
	if e.customCalls() != 0 {
		t.Fatal("customer-service call made outside the window")
	}
	tm := e.fake.TemplateMessages()
	if len(tm) != 1 || tm[0].TemplateID != "TPL_TICKET" || tm[0].Data["keyword1"].Value != "T1001" ||
		tm[0].Data["keyword2"].Value != "已解决" || tm[0].Data["first"].Value != ticketUpdate.Text || id != "template:"+itoa(tm[0].MsgID) {
		t.Fatalf("templates %+v, id %s", tm, id)
	}
	// A row without a template has nowhere to go: unreachable, so the
	// dispatcher tries the next channel.
	_, err = s.Send(context.Background(), notify.Recipient{Address: "o1"}, store.OutboxBody{Text: "free text"})
	if !isUnreachable(err) {
		t.Fatalf("no template: %v", err)
	}
	// Reminders use their own template and fields.
	_, err = s.Send(context.Background(), notify.Recipient{Address: "o1"}, store.OutboxBody{Template: "reminder",
		Params: map[string]string{"name": "量血压", "time": "周六 09:00", "place": "活动室"}})
	if tm := e.fake.TemplateMessages(); err != nil || len(tm) != 2 || tm[1].TemplateID != "TPL_REMIND" || tm[1].Data["keyword2"].Value != "周六 09:00" {
		t.Fatalf("reminder %v %+v", err, tm)
	}
}

// The per-window counter stops customer-service messages at the quota
// without asking WeChat; a new resident message starts a new window.
func TestSenderQuotaCounter(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{WindowLimit: 10})
	s := e.sender(t)
	s.Quota = 3
	e.resident(t, "o1")
	ctx := context.Background()
	for i := 0; i < 3; i++ {
		if id, err := s.Send(ctx, notify.Recipient{Address: "o1"}, ticketUpdate); err != nil || id != "cs" {
			t.Fatalf("%d: %q %v", i, id, err)
		}
	}
	if id, err := s.Send(ctx, notify.Recipient{Address: "o1"}, ticketUpdate); err != nil || !strings.HasPrefix(id, "template:") {
		t.Fatalf("over quota: %q %v", id, err)
	}
	if e.customCalls() != 3 {
		t.Fatalf("%d customer-service calls", e.customCalls())
	}
	e.clk.Add(time.Minute)
	e.resident(t, "o1")
	if id, err := s.Send(ctx, notify.Recipient{Address: "o1"}, ticketUpdate); err != nil || id != "cs" {
		t.Fatalf("new window: %q %v", id, err)
	}
}

// WeChat's own 45015/45047 fall back to the template inside the Sender.
func TestSenderFallsBackOnWeChatErrors(t *testing.T) {
	for _, code := range []int{CodeOutOfWindow, CodeOutOfQuota} {
		e := newAPIEnv(t, wechatfake.Config{})
		s := e.sender(t)
		e.resident(t, "o1")
		e.fake.FailNext(wechatfake.PathCustomSend, code, 1)
		id, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
		if err != nil || !strings.HasPrefix(id, "template:") {
			t.Fatalf("%d: %q %v", code, id, err)
		}
		// WeChat's count beats ours: after 45047 the counter is full and
		// the next row goes straight to the template.
		before := e.customCalls()
		if _, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate); err != nil {
			t.Fatal(err)
		}
		if code == CodeOutOfQuota && e.customCalls() != before {
			t.Fatal("customer-service call made after 45047")
		}
		// Without a template the typed error comes back, unreachable.
		e.resident(t, "o2")
		e.fake.FailNext(wechatfake.PathCustomSend, code, 1)
		_, err = s.Send(context.Background(), notify.Recipient{Address: "o2"}, store.OutboxBody{Text: "x"})
		if !IsCode(err, code) || !isUnreachable(err) {
			t.Fatalf("%d without template: %v", code, err)
		}
	}
	// Other errors are not hidden behind a template.
	e := newAPIEnv(t, wechatfake.Config{})
	e.resident(t, "o1")
	e.fake.FailNext(wechatfake.PathCustomSend, CodeSystemBusy, 1)
	_, err := e.sender(t).Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if !IsCode(err, CodeSystemBusy) || isUnreachable(err) || !err.(*APIError).Temporary() {
		t.Fatalf("busy: %v", err)
	}
	if len(e.fake.TemplateMessages()) != 0 {
		t.Fatal("template sent on a temporary error")
	}
}

// A resident who unfollowed: 45015, then 43004 from the template; the
// identity is marked unreachable.
func TestSenderUnfollowedMarksIdentity(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	s := e.sender(t)
	e.resident(t, "o1")
	e.fake.Unsubscribe("o1")
	_, err := s.Send(context.Background(), notify.Recipient{Address: "o1"}, ticketUpdate)
	if !IsCode(err, CodeRequireSubscribe) || !isUnreachable(err) {
		t.Fatalf("err %v", err)
	}
	id, _ := e.st.FindIdentity(context.Background(), bot.ChannelWeChat, "o1")
	if !id.Unreachable {
		t.Fatal("identity not marked unreachable")
	}
}

// Through the dispatcher: WeChat cannot reach the resident (window closed,
// no template configured), so the row falls through to SMS.
func TestDispatcherFallsThroughToSMS(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{})
	e.cfg.Templates = Templates{}
	ctx := context.Background()
	id := e.resident(t, "o1")
	e.st.SetResidentPhone(ctx, id.ResidentID, "13812345678")
	e.clk.Add(72 * time.Hour)
	sms := &recordingSMS{}
	d := notify.NewDispatcher(e.st, sms, nil, e.clk.Now)
	d.Register(bot.ChannelWeChat, e.sender(t))
	ids, err := e.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "ticket_update", ResidentID: id.ResidentID, Body: ticketUpdate, DueAt: e.clk.Now()}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.RunOnce(ctx); err != nil {
		t.Fatal(err)
	}
	row, _ := e.st.OutboxRowByID(ctx, ids[0])
	if row.Status != store.OutboxSent || row.Channel != "sms" || len(sms.sent) != 1 || e.customCalls() != 0 {
		t.Fatalf("row %+v, sms %v, %d custom calls", row, sms.sent, e.customCalls())
	}
}

type recordingSMS struct{ sent []string }

func (r *recordingSMS) Name() string { return "test" }
func (r *recordingSMS) SendSMS(_ context.Context, phone, template string, _ map[string]string, outID string) (string, error) {
	r.sent = append(r.sent, phone+" "+template)
	return "sms-" + outID, nil
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// A long text goes out in parts; when a part fails for a while, the row's
// retry sends the rest only, and each part counts against the window.
func TestSenderResumesAMultiPartText(t *testing.T) {
	e := newAPIEnv(t, wechatfake.Config{WindowLimit: 20})
	s := e.sender(t)
	e.resident(t, "o1")
	ctx := context.Background()
	text := strings.Repeat("甲", 700) + strings.Repeat("乙", 700) + strings.Repeat("丙", 300) // 5,100 bytes: three parts
	parts := splitText(text, maxTextBytes)
	if len(parts) != 3 {
		t.Fatalf("%d parts", len(parts))
	}
	e.fake.FailAfter(wechatfake.PathCustomSend, 1, wechatfake.ErrcodeSystemBusy, 1)
	body := store.OutboxBody{Text: text}
	if _, err := s.Send(ctx, notify.Recipient{Address: "o1"}, body); err == nil || !temporary(err) {
		t.Fatalf("the failed part: %v", err)
	}
	if id, err := s.Send(ctx, notify.Recipient{Address: "o1"}, body); err != nil || id != "cs" {
		t.Fatalf("the retry: %q %v", id, err)
	}
	var got []string
	for _, m := range e.fake.CustomMessages() {
		got = append(got, m.Content)
	}
	if len(got) != 3 || got[0] != parts[0] || got[1] != parts[1] || got[2] != parts[2] {
		t.Fatalf("the resident got %d messages; want each of the 3 parts once", len(got))
	}
	if n := s.sentInWindow(ctx, mustIdentity(t, e, "o1")); n != 3 {
		t.Fatalf("window counter %d, want 3", n)
	}
	// Sent in full, the record is gone: the same text again is sent whole.
	if id, err := s.Send(ctx, notify.Recipient{Address: "o1"}, body); err != nil || id != "cs" || len(e.fake.CustomMessages()) != 6 {
		t.Fatalf("the same text again: %q %v, %d messages", id, err, len(e.fake.CustomMessages()))
	}
}

func mustIdentity(t *testing.T, e *apiEnv, openID string) store.Identity {
	t.Helper()
	id, err := e.st.FindIdentity(context.Background(), bot.ChannelWeChat, openID)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
