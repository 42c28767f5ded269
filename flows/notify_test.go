package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// lastCode reads the verification code the flow enqueued for phone.
func (h *harness) lastCode(phone string) string {
	h.t.Helper()
	rows, err := h.st.RecentOutbox(context.Background(), 50)
	if err != nil {
		h.t.Fatal(err)
	}
	for _, r := range rows {
		if r.Kind == kindVerifyCode && r.TargetAddress == phone {
			if !r.Urgent || r.TargetChannel != channelSMS || r.Body.Template != kindVerifyCode {
				h.t.Fatalf("code row %+v", r)
			}
			return r.Body.Params["code"]
		}
	}
	h.t.Fatalf("no code to %s", phone)
	return ""
}

func wrongCode(code string) string {
	if code == "000000" {
		return "111111"
	}
	return "000000"
}

func TestPhoneBindingWithCodeTriesAndCaps(t *testing.T) {
	h := newHarness(t)
	expect(t, h.say("amy", "菜单"), "绑定手机")
	expect(t, h.say("amy", "绑定手机"), "手机号码")
	expect(t, h.say("amy", "12345"), "11 位手机号码")
	expect(t, h.say("amy", "138 1234 5678"), "验证码已发送到 138****5678")
	code := h.lastCode("13812345678")
	if len(code) != 6 {
		t.Fatalf("code %q", code)
	}
	expect(t, h.say("amy", wrongCode(code)), "还可以再试 4 次")
	// Resending within the minute is refused by the cap.
	expect(t, h.say("amy", "重发"), "1 分钟后再试")
	h.clock.Advance(61 * time.Second)
	h.say("amy", "重发")
	code2 := h.lastCode("13812345678")
	expect(t, h.say("amy", code2), "绑定成功", "138****5678")
	r, _ := h.st.Resident(context.Background(), h.residentID("amy"))
	if r.Phone != "13812345678" {
		t.Fatalf("phone %q", r.Phone)
	}
	if at, _ := h.st.PhoneVerifiedAt(context.Background(), r.ID); at.IsZero() {
		t.Fatal("phone not marked verified")
	}

	// Expired codes and five wrong tries.
	h.clock.Advance(time.Hour)
	h.say("ben", "phone")
	h.say("ben", "13900001111")
	h.clock.Advance(11 * time.Minute)
	expect(t, h.say("ben", h.lastCode("13900001111")), "已过期")
	h.clock.Advance(time.Minute)
	h.say("ben", "resend")
	c := h.lastCode("13900001111")
	for i := 0; i < 4; i++ {
		h.say("ben", wrongCode(c))
	}
	expect(t, h.say("ben", wrongCode(c)), "错误次数过多")
	if h.conv("ben").Flow != "" {
		t.Fatal("flow still running after five wrong codes")
	}
}

func TestBindingTheSamePhoneMergesResidents(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	bind := func(m bot.Message) {
		m.Text = "绑定手机"
		h.send(m)
		m.Text = "13812345678"
		h.send(m)
		m.Text = h.lastCode("13812345678")
		expect(t, h.send(m), "绑定成功")
	}
	number := h.report("amy") // amy on the console has a ticket
	bind(bot.Message{Channel: bot.ChannelConsole, UserID: "amy"})
	h.clock.Advance(2 * time.Minute)
	tg := bot.Message{Channel: bot.ChannelTelegram, UserID: "555", ChatID: "555"}
	tg.Text = "你好"
	h.send(tg)
	tg.Text = "绑定手机"
	h.send(tg)
	tg.Text = "13812345678"
	h.send(tg)
	tg.Text = h.lastCode("13812345678")
	expect(t, h.send(tg), "绑定成功", "合并")

	tgID, _ := h.st.FindIdentity(ctx, bot.ChannelTelegram, "555")
	conID, _ := h.st.FindIdentity(ctx, bot.ChannelConsole, "amy")
	if tgID.ResidentID != conID.ResidentID {
		t.Fatalf("identities not merged: %d vs %d", tgID.ResidentID, conID.ResidentID)
	}
	tk, _ := h.st.Ticket(ctx, number)
	if tk.ResidentID != tgID.ResidentID {
		t.Fatalf("ticket stayed with resident %d", tk.ResidentID)
	}
	msgs, _ := h.st.RecentMessages(ctx, tgID.ResidentID, 100)
	if len(msgs) < 10 {
		t.Fatalf("history not moved: %d lines", len(msgs))
	}
	// The console resident sees the ticket as theirs still.
	expect(t, h.say("amy", number), number)
}

func TestUnsubscribeAndResubscribe(t *testing.T) {
	h := newHarness(t)
	expect(t, h.say("amy", "退订"), "已为您退订")
	r, _ := h.st.Resident(context.Background(), h.residentID("amy"))
	if !r.Unsubscribed {
		t.Fatal("not unsubscribed")
	}
	expect(t, h.say("amy", "TD"), "已为您退订")
	expect(t, h.say("amy", "订阅"), "已恢复")
	r, _ = h.st.Resident(context.Background(), h.residentID("amy"))
	if r.Unsubscribed {
		t.Fatal("still unsubscribed")
	}
}

func staffMsg(text string) bot.Message {
	return bot.Message{Channel: bot.ChannelTelegram, UserID: "900", ChatID: "-1001", Group: true, Text: text}
}

func TestBroadcastFlowInTheStaffGroup(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	ids, err := h.st.ImportResidents(ctx, []store.NewResident{
		{Phone: "13900000001", Building: "3"}, {Phone: "13900000002", Building: "3"}, {Phone: "", Building: "5"},
		{Phone: "13900000004", Building: "5"}, {Phone: "13900000005", Building: "7"},
	})
	if err != nil {
		t.Fatal(err)
	}
	h.st.SetUnsubscribed(ctx, ids[4], true)
	// A resident's /broadcast is refused.
	expect(t, h.say("amy", "/broadcast"), "您不是本社区工作人员")

	expect(t, h.send(staffMsg("/broadcast")), "发给谁")
	expect(t, h.send(staffMsg("2")), "楼栋号")
	expect(t, h.send(staffMsg("3，5")), "通知内容")
	expect(t, h.send(staffMsg(strings.Repeat("长", 300))), "内容太长")
	expect(t, h.send(staffMsg("明天上午 9 点至 12 点停水，请提前储水。")), "什么时候发")
	expect(t, h.send(staffMsg("昨天")), "以后的时间")
	expect(t, h.send(staffMsg("现在")), "用什么方式")
	expect(t, h.send(staffMsg("2")), "紧急程度")
	rs := h.send(staffMsg("1"))
	expect(t, rs, "人数：4 人（其中有手机号 3 人）", "只发短信", "楼栋：3,5")
	rs = h.send(staffMsg("1"))
	expect(t, rs, "已安排：通知 B1")
	counts, _ := h.st.BroadcastCounts(ctx, 1)
	if counts[store.OutboxPending] != 4 {
		t.Fatalf("rows %v", counts)
	}
	b, _ := h.st.BroadcastByID(ctx, 1)
	if b.Status != store.BroadcastSending || b.Total != 4 || b.Policy != store.PolicySMSOnly {
		t.Fatalf("broadcast %+v", b)
	}
	started, err := h.st.OutboxByDedupe(ctx, "bc-start:B1")
	if err != nil || started.TargetChannel != StaffChannel || !strings.Contains(started.Body.Text, "共 4 人") {
		t.Fatalf("start alert %+v %v", started, err)
	}
	// Chatter in the group outside a flow is still ignored.
	if rs := h.send(staffMsg("大家好")); len(rs) != 0 {
		t.Fatalf("group chatter answered: %v", joined(rs))
	}

	// The job reports the end once every row has an outcome.
	jobs := h.eng.Jobs(JobsConfig{})
	h.st.DB().Exec("UPDATE outbox SET status = 'sent' WHERE broadcast_id = 1 AND resident_id <> ?", ids[2])
	h.st.DB().Exec("UPDATE outbox SET status = 'unreachable' WHERE broadcast_id = 1 AND resident_id = ?", ids[2])
	if err := jobs.Broadcasts(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	done, err := h.st.OutboxByDedupe(ctx, "bc-done:B1")
	if err != nil || !strings.Contains(done.Body.Text, "已送出 3，失败 0，无法联系 1") {
		t.Fatalf("final report %+v %v", done, err)
	}
}

func TestScheduledBroadcastStartsWhenDue(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	h.st.ImportResidents(ctx, []store.NewResident{{Phone: "13900000001"}})
	for _, s := range []string{"/broadcast", "1", "周六下午社区义诊", "2026-11-28 09:00", "1", "1"} {
		h.send(staffMsg(s))
	}
	expect(t, h.send(staffMsg("确认")), "已安排：通知 B1，2026-11-28 09:00")
	jobs := h.eng.Jobs(JobsConfig{})
	jobs.Broadcasts(ctx, h.clock.Now())
	if n, _ := h.st.BroadcastCounts(ctx, 1); len(n) != 0 {
		t.Fatalf("started early: %v", n)
	}
	due := time.Date(2026, 11, 28, 9, 0, 0, 0, h.eng.loc)
	jobs.Broadcasts(ctx, due)
	// The imported resident and the admin, whose chat made them one too.
	if n, _ := h.st.BroadcastCounts(ctx, 1); n[store.OutboxPending] != 2 {
		t.Fatalf("not started when due: %v", n)
	}
}

// resolve marks a ticket resolved at the harness's current time.
func (h *harness) resolve(number string) {
	h.t.Helper()
	if _, err := h.st.ChangeTicket(context.Background(), store.TicketChange{Number: number, From: []string{store.TicketOpen, store.TicketClaimed},
		To: store.TicketResolved, Event: store.TicketEvent{Kind: store.EventResolved, Actor: "王主任", CreatedAt: h.clock.Now()}}); err != nil {
		h.t.Fatal(err)
	}
}

func TestSurveyAfterADayAndSMSScores(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{SurveyAfter: 24 * time.Hour})
	n1 := h.report("amy")
	n2 := h.report("amy")
	h.st.SetResidentPhone(ctx, h.residentID("amy"), "13812345678")
	h.resolve(n1)
	h.resolve(n2)
	h.st.ChangeTicket(ctx, store.TicketChange{Number: n2, Rating: 5, Event: store.TicketEvent{Kind: store.EventRated}}) // rated in the bot

	h.clock.Advance(23 * time.Hour)
	jobs.Surveys(ctx, h.clock.Now())
	if _, err := h.st.OutboxByDedupe(ctx, "survey:"+n1); err == nil {
		t.Fatal("survey before 24 hours")
	}
	h.clock.Advance(time.Hour + time.Minute)
	jobs.Surveys(ctx, h.clock.Now())
	jobs.Surveys(ctx, h.clock.Now())
	s, err := h.st.OutboxByDedupe(ctx, "survey:"+n1)
	if err != nil || s.TargetChannel != channelSMS || s.Body.Params["ticket"] != n1 || !strings.Contains(s.Body.Text, "回复1-5评分") {
		t.Fatalf("survey %+v %v", s, err)
	}
	if _, err := h.st.OutboxByDedupe(ctx, "survey:"+n2); err == nil {
		t.Fatal("a ticket rated in the bot got a survey")
	}
	// The SMS went out; the resident answers 2: the ticket reopens, admins told.
	h.st.DB().Exec("UPDATE outbox SET status = 'sent', channel = 'sms' WHERE id = ?", s.ID)
	if err := jobs.SMSReply(ctx, "13812345678", "２", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	tk, _ := h.st.Ticket(ctx, n1)
	if tk.Status != store.TicketOpen || tk.Rating != 2 {
		t.Fatalf("ticket after a low score %+v", tk)
	}
	alert, err := h.st.OutboxByDedupe(ctx, "survey-low:"+n1)
	if err != nil || !strings.Contains(alert.Body.Text, "@王主任") || alert.TargetChannel != StaffChannel {
		t.Fatalf("low score alert %+v %v", alert, err)
	}
	// TD by SMS unsubscribes.
	jobs.SMSReply(ctx, "13812345678", "TD", h.clock.Now())
	r, _ := h.st.Resident(ctx, h.residentID("amy"))
	if !r.Unsubscribed {
		t.Fatal("TD did not unsubscribe")
	}
}

func TestEscalationOfUnclaimedOverdueTickets(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{EscalateRepeat: 12 * time.Hour})
	number := h.report("amy") // repairs: 48 hours
	count := func() int {
		var n int
		h.st.DB().QueryRow("SELECT COUNT(*) FROM outbox WHERE kind = 'alert' AND dedupe_key LIKE 'escalate:%'").Scan(&n)
		return n
	}
	h.clock.Advance(47 * time.Hour)
	jobs.Escalate(ctx, h.clock.Now())
	if count() != 0 {
		t.Fatal("escalated before the target")
	}
	h.clock.Advance(2 * time.Hour)
	jobs.Escalate(ctx, h.clock.Now())
	jobs.Escalate(ctx, h.clock.Now())
	if count() != 1 {
		t.Fatalf("%d escalations, want 1", count())
	}
	a, _ := h.st.OutboxByDedupe(ctx, "escalate:"+number+":0")
	if !strings.Contains(a.Body.Text, number) || !strings.Contains(a.Body.Text, "@王主任") || a.Body.Params["mention_telegram_ids"] != "900" {
		t.Fatalf("escalation %+v", a)
	}
	h.clock.Advance(12 * time.Hour)
	jobs.Escalate(ctx, h.clock.Now())
	if count() != 2 {
		t.Fatalf("%d escalations after 12 more hours, want 2", count())
	}
	// Claimed tickets are not escalated.
	h.st.ChangeTicket(ctx, store.TicketChange{Number: number, To: store.TicketClaimed, Event: store.TicketEvent{Kind: store.EventClaimed}})
	h.clock.Advance(12 * time.Hour)
	jobs.Escalate(ctx, h.clock.Now())
	if count() != 2 {
		t.Fatal("a claimed ticket was escalated")
	}
	// The digest lists it, overdue.
	if err := jobs.Digest(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	d, err := h.st.OutboxByDedupe(ctx, "digest:"+h.clock.Now().In(h.eng.loc).Format("2006-01-02"))
	if err != nil || !strings.Contains(d.Body.Text, number) || !strings.Contains(d.Body.Text, "超时") {
		t.Fatalf("digest %+v %v", d, err)
	}
}
