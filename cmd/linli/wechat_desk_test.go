package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"linli/bot/wechat/wechatfake"
	"linli/flows"
	"linli/store"
)

// wxDesk is a WeChat-only office: the example config with WeChat against
// the fake, no Telegram at all, and the staff desk run from WeChat.
type wxDesk struct {
	t     *testing.T
	fake  *wechatfake.Fake
	a     *app
	msgID int64
}

func newWXDesk(t *testing.T, staff []flows.StaffMember, tweak ...func(*Config)) *wxDesk {
	t.Helper()
	fake := wechatfake.New(wechatfake.Config{})
	t.Cleanup(fake.Close)
	cfg, problems := loadConfig("../../config.example.yaml", noEnv)
	if len(problems) > 0 {
		t.Fatal(problems)
	}
	cfg.Store.Path = t.TempDir() + "/linli.db"
	cfg.WeChat.Enabled = true
	cfg.WeChat.AppID, cfg.WeChat.AppSecret, cfg.WeChat.Token = fake.AppID(), fake.Secret(), wxToken
	cfg.WeChat.APIBaseURL = fake.URL()
	cfg.Telegram.Enabled, cfg.Telegram.StaffChatID = false, 0
	cfg.Staff = staff
	for _, f := range tweak {
		f(&cfg)
	}
	a, err := newApp(context.Background(), cfg, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.close() })
	if a.telegram != nil {
		t.Fatal("telegram wired in a WeChat-only office")
	}
	return &wxDesk{t: t, fake: fake, a: a, msgID: 70000}
}

// say is openid writing to the account: WeChat opens its 48-hour window
// (the fake is told, as the real platform knows by itself) and posts the
// message to the callback. It returns the passive reply's text.
func (d *wxDesk) say(openid, text string) string {
	d.t.Helper()
	d.msgID++
	d.fake.Touch(openid, time.Now())
	code, body := postWeChat(d.a.routes(), wxMsg(openid, d.msgID, "text", "Content", text))
	if code != 200 {
		d.t.Fatalf("%s %q: HTTP %d %q", openid, text, code, body)
	}
	return replyContent(body)
}

// dispatch runs the outbox once and returns the customer-service messages
// the fake accepted during it, by openid.
func (d *wxDesk) dispatch() map[string][]string {
	d.t.Helper()
	before := len(d.fake.CustomMessages())
	if _, err := d.a.disp.RunOnce(context.Background()); err != nil {
		d.t.Fatal(err)
	}
	out := map[string][]string{}
	for _, m := range d.fake.CustomMessages()[before:] {
		out[m.ToUser] = append(out[m.ToUser], m.Content)
	}
	return out
}

func (d *wxDesk) ticket(number string) store.Ticket {
	d.t.Helper()
	tk, err := d.a.st.Ticket(context.Background(), number)
	if err != nil {
		d.t.Fatal(err)
	}
	return tk
}

// consent is a new resident's first message and their agreement to the
// processing of their data (community.require_consent).
func (d *wxDesk) consent(openid string) {
	d.t.Helper()
	if got := d.say(openid, "你好"); !strings.Contains(got, "个人信息") {
		d.t.Fatalf("first message answered %q", got)
	}
	if got := d.say(openid, "同意"); !strings.Contains(got, "谢谢") {
		d.t.Fatalf("consent answered %q", got)
	}
	d.dispatch() // the menu that follows the thanks
}

// report files a repairs ticket for openid and returns its number.
func (d *wxDesk) report(openid, text string) string {
	d.t.Helper()
	steps := []struct{ say, want string }{
		{"报修", "类"}, {"2", "请描述一下问题"}, {text, "照片"}, {"跳过", "哪里"}, {"3号楼东门", "电话"}, {"跳过", "请确认"},
	}
	for _, s := range steps {
		if got := d.say(openid, s.say); !strings.Contains(got, s.want) {
			d.t.Fatalf("report: %q answered %q, want %q", s.say, got, s.want)
		}
	}
	got := d.say(openid, "确认")
	i := strings.Index(got, "T1")
	if i < 0 || len(got) < i+5 {
		d.t.Fatalf("report: confirmation %q has no ticket number", got)
	}
	return got[i : i+5]
}

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A WeChat-only office, end to end through the real wiring: a resident
// reports, the WeChat staff are alerted, answer, resolve and read the
// figures from WeChat, the resident rates, a stranger is refused, and an
// overdue ticket is escalated to the admin's WeChat.
func TestWeChatOnlyDesk(t *testing.T) {
	d := newWXDesk(t, []flows.StaffMember{
		{Name: "王主任", Role: "admin", WeChatOpenID: "oStaff"},
		{Name: "老周", Role: "staff", WeChatOpenID: "oStaff2"},
	})
	ctx := context.Background()
	// Staff follow the account and write to it, as everyone does before
	// the account may push them customer-service messages.
	for _, o := range []string{"oStaff", "oStaff2"} {
		if got := d.say(o, "菜单"); got == "" {
			t.Fatalf("%s: no answer to 菜单", o)
		}
	}
	d.dispatch() // the menu's follow-up hint

	// 1. The resident consents (community.require_consent, on in the
	// example) and reports.
	d.consent("oRes")
	number := d.report("oRes", "楼道灯坏了三天，晚上很黑")
	if number != "T1001" {
		t.Fatalf("ticket %s", number)
	}

	// 2. Each WeChat staff member gets the alert.
	sent := d.dispatch()
	for _, o := range []string{"oStaff", "oStaff2"} {
		if len(sent[o]) != 1 || !strings.Contains(sent[o][0], "T1001") || !strings.Contains(sent[o][0], "楼道灯") ||
			!strings.Contains(sent[o][0], "/r T1001") {
			t.Fatalf("alert to %s: %q (all: %q)", o, sent[o], sent)
		}
	}
	for _, m := range sent["oRes"] {
		if strings.Contains(m, "新工单") {
			t.Fatalf("the resident got the staff alert: %q", m)
		}
	}

	// 3. Staff answer from WeChat; the resident gets it, marked.
	if got := d.say("oStaff2", "/r T1001 明天上午去修"); !strings.Contains(got, "已答复居民") {
		t.Fatalf("/r answered %q", got)
	}
	sent = d.dispatch()
	if len(sent["oRes"]) != 1 || !strings.Contains(sent["oRes"][0], "【工单 T1001】") || !strings.Contains(sent["oRes"][0], "明天上午去修") {
		t.Fatalf("resident got %q (all: %q)", sent["oRes"], sent)
	}
	tk := d.ticket(number)
	if tk.Status != store.TicketClaimed || tk.Assignee != "老周" || tk.FirstResponseAt.IsZero() {
		t.Fatalf("after /r: %+v", tk)
	}
	evs, err := d.a.st.TicketEvents(ctx, tk.ID)
	if err != nil {
		t.Fatal(err)
	}
	replied := false
	for _, ev := range evs {
		replied = replied || ev.Kind == store.EventReplied && ev.Actor == "老周" && ev.Note == "明天上午去修"
	}
	if !replied {
		t.Fatalf("no reply event: %+v", evs)
	}

	// The resident answers; it reaches the one handling the ticket.
	if got := d.say("oRes", "下午也有人在家，三楼"); !strings.Contains(got, "已转给处理工单 T1001") {
		t.Fatalf("resident's answer: %q", got)
	}
	sent = d.dispatch()
	if len(sent["oStaff2"]) != 1 || !strings.Contains(sent["oStaff2"][0], "下午也有人在家") || len(sent["oStaff"]) != 0 {
		t.Fatalf("the note went to %q", sent)
	}

	// 4. Resolved from WeChat; the resident is told and rates.
	if got := d.say("oStaff2", "/resolve T1001 修好了"); !strings.Contains(got, "已办结") {
		t.Fatalf("/resolve answered %q", got)
	}
	sent = d.dispatch()
	if len(sent["oRes"]) != 1 || !strings.Contains(sent["oRes"][0], "T1001") || !strings.Contains(sent["oRes"][0], "修好了") ||
		!strings.Contains(sent["oRes"][0], "5") {
		t.Fatalf("resident got %q (all: %q)", sent["oRes"], sent)
	}
	if got := d.say("oRes", "4"); !strings.Contains(got, "感谢您的评价（4 分）") {
		t.Fatalf("the rating answered %q", got)
	}
	if tk := d.ticket(number); tk.Status != store.TicketResolved || tk.Rating != 4 || tk.ResolvedAt.IsZero() {
		t.Fatalf("after rating: %+v", tk)
	}

	// 5. The figures.
	got := d.say("oStaff", "/stats")
	for _, want := range []string{"共 1 个", "已办结 1", "满意率（4–5 分）：100%（1 个评价）"} {
		if !strings.Contains(got, want) {
			t.Fatalf("/stats lacks %q:\n%s", want, got)
		}
	}

	// 6. Someone not on the staff (the resident, who has consented) is
	// refused, the attempt is audited, and the ticket stays as it was.
	if got := d.say("oRes", "/reopen T1001"); !strings.Contains(got, "不是本社区工作人员") {
		t.Fatalf("resident's /reopen answered %q", got)
	}
	if got := d.say("oRes", "/resolve T1001"); !strings.Contains(got, "不是本社区工作人员") {
		t.Fatalf("resident's /resolve answered %q", got)
	}
	if tk := d.ticket(number); tk.Status != store.TicketResolved || tk.Rating != 4 {
		t.Fatalf("after the refusals: %+v", tk)
	}
	var refused int
	if err := d.a.st.DB().QueryRow("SELECT COUNT(*) FROM audit WHERE allowed = 0 AND actor = 'wechat:oRes' AND target = 'T1001'").Scan(&refused); err != nil {
		t.Fatal(err)
	}
	if refused != 2 {
		t.Fatalf("%d refused attempts audited, want 2", refused)
	}

	// 7. Another ticket nobody takes on is escalated past its target.
	second := d.report("oRes", "电梯按钮失灵")
	d.dispatch() // its new-ticket alerts
	tk2 := d.ticket(second)
	if err := d.a.jobs.Escalate(ctx, tk2.DueAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	sent = d.dispatch()
	if len(sent["oStaff"]) != 1 || !strings.Contains(sent["oStaff"][0], second) || !strings.Contains(sent["oStaff"][0], "王主任") {
		t.Fatalf("escalation to the admin: %q (all: %q)", sent["oStaff"], sent)
	}
}

// Staff outside the 48-hour window — the admin last wrote two days ago, a
// staff member never wrote at all — can be reached only by a template
// message: the new-ticket alert and the escalation come as ticket_update
// templates instead of being dropped.
func TestWeChatStaffOutsideTheWindow(t *testing.T) {
	d := newWXDesk(t, []flows.StaffMember{
		{Name: "王主任", Role: "admin", WeChatOpenID: "oStaff"},
		{Name: "老周", Role: "staff", WeChatOpenID: "oNever"},
	}, func(c *Config) { c.WeChat.Templates.TicketUpdate = "TPL_TICKET" })
	ctx := context.Background()
	d.say("oStaff", "菜单")
	d.dispatch()
	// Two days pass: the platform and linli both see the window closed.
	long := time.Now().Add(-49 * time.Hour)
	d.fake.Touch("oStaff", long)
	if _, err := d.a.st.DB().ExecContext(ctx, "UPDATE identities SET last_inbound_at = ? WHERE external_id = 'oStaff'", long.Unix()); err != nil {
		t.Fatal(err)
	}

	d.consent("oRes")
	number := d.report("oRes", "楼道灯坏了三天，晚上很黑")
	tpls := len(d.fake.TemplateMessages())
	sent := d.dispatch()
	if len(sent["oStaff"])+len(sent["oNever"]) != 0 {
		t.Fatalf("customer-service messages outside the window: %q", sent)
	}
	got := map[string]wechatfake.TemplateMessage{}
	for _, m := range d.fake.TemplateMessages()[tpls:] {
		got[m.ToUser] = m
	}
	for _, o := range []string{"oStaff", "oNever"} {
		m, ok := got[o]
		if !ok || m.TemplateID != "TPL_TICKET" || m.Data["keyword1"].Value != number ||
			!strings.Contains(m.Data["first"].Value, "新工单") || m.Data["keyword2"].Value == "" {
			t.Fatalf("new-ticket template to %s: %+v (all %+v)", o, m, got)
		}
	}

	tk := d.ticket(number)
	tpls = len(d.fake.TemplateMessages())
	if err := d.a.jobs.Escalate(ctx, tk.DueAt.Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	d.dispatch()
	got = map[string]wechatfake.TemplateMessage{}
	for _, m := range d.fake.TemplateMessages()[tpls:] {
		got[m.ToUser] = m
	}
	if m, ok := got["oStaff"]; !ok || m.Data["keyword1"].Value != number || m.Data["keyword2"].Value == "" {
		t.Fatalf("escalation template to the admin: %+v (all %+v)", m, got)
	}
	var unreachable int
	if err := d.a.st.DB().QueryRow("SELECT COUNT(*) FROM outbox WHERE status IN ('unreachable', 'failed')").Scan(&unreachable); err != nil {
		t.Fatal(err)
	}
	if unreachable != 0 {
		t.Fatalf("%d rows reached nobody", unreachable)
	}
}
