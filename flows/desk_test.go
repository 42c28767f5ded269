package flows

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

const deskGroup = "-1001234567890"

// deskHarness is a harness with a Telegram staff group, an admin (900), a
// staff member (901) and a WeChat staff member.
func deskHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.cfg.DeskChats = []DeskChat{{Channel: bot.ChannelTelegram, Address: deskGroup}}
	h.cfg.Staff = append(h.cfg.Staff,
		StaffMember{Name: "小李", Role: "staff", TelegramID: 901},
		StaffMember{Name: "老周", Role: "staff", WeChatOpenID: "o-zhou"})
	h.restart()
	return h
}

// staff sends a message from a staff member in the staff group.
func (h *harness) staff(user, text string) []bot.Reply {
	h.t.Helper()
	return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: user, ChatID: deskGroup, Group: true, Text: text})
}

// outbox lists the rows of a kind, oldest first.
func (h *harness) outbox(kind string) []store.OutboxRow {
	h.t.Helper()
	rows, err := h.st.RecentOutbox(context.Background(), 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []store.OutboxRow
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Kind == kind {
			out = append(out, rows[i])
		}
	}
	return out
}

// markSent records a row as sent by a channel with a message id, as the
// dispatcher does.
func (h *harness) markSent(row store.OutboxRow, providerID string) {
	h.t.Helper()
	if err := h.st.FinishOutbox(context.Background(), row.ID, store.OutboxOutcome{Status: store.OutboxSent, Channel: row.TargetChannel, Provider: row.TargetChannel, ProviderID: providerID}); err != nil {
		h.t.Fatal(err)
	}
}

func TestNewTicketAlertsGroupAndWeChatStaff(t *testing.T) {
	h := deskHarness(t)
	num := h.report("alice")
	alerts := h.outbox(kindAlert)
	if len(alerts) != 2 {
		t.Fatalf("alerts %+v", alerts)
	}
	g, w := alerts[0], alerts[1]
	if g.TargetChannel != bot.ChannelTelegram || g.TargetAddress != deskGroup || g.Ref != num || !g.Urgent {
		t.Fatalf("group alert %+v", g)
	}
	for _, want := range []string{"新工单 " + num, "设施维修", "楼道灯坏了三天", "3栋2单元501", "楼栋：3", "138****5678", "响应时限：11-27 18:00（48 小时）", "直接回复本消息"} {
		if !strings.Contains(g.Body.Text, want) {
			t.Errorf("group alert lacks %q:\n%s", want, g.Body.Text)
		}
	}
	if strings.Contains(g.Body.Text, "13812345678") {
		t.Error("alert shows the full phone number")
	}
	if len(g.Body.Choices) != 3 || g.Body.Choices[0].Payload != "desk:claim:"+num || g.Body.Choices[2].Label != "办结 Resolve" {
		t.Errorf("group alert buttons %+v", g.Body.Choices)
	}
	if w.TargetChannel != bot.ChannelWeChat || w.TargetAddress != "o-zhou" || len(w.Body.Choices) != 0 || !strings.Contains(w.Body.Text, "/claim "+num) {
		t.Errorf("wechat alert %+v", w)
	}
	// A ticket confirmed twice alerts once.
	if _, _, err := h.st.CreateTicket(context.Background(), store.NewTicket{RequestKey: "x"}); err != nil {
		t.Fatal(err)
	}
}

func TestAlertCarriesPhotoOnItsOwnChannel(t *testing.T) {
	h := deskHarness(t)
	u := bot.Message{Channel: bot.ChannelTelegram, UserID: "42"}
	for _, m := range []bot.Message{
		{Text: "报修"}, {Text: "1"}, {Text: "垃圾没人清"}, {Image: &bot.Image{Ref: "AgAC-file"}},
		{Location: &bot.Location{Latitude: 39.9, Longitude: 116.4, Label: "小区东门"}}, {Text: "跳过"}, {Text: "1"},
	} {
		m.Channel, m.UserID = u.Channel, u.UserID
		h.send(m)
	}
	alerts := h.outbox(kindAlert)
	if len(alerts) != 2 {
		t.Fatalf("alerts %+v", alerts)
	}
	if alerts[0].Body.ImageURL != "AgAC-file" || strings.Contains(alerts[0].Body.Text, "照片：有") {
		t.Errorf("telegram alert photo %q\n%s", alerts[0].Body.ImageURL, alerts[0].Body.Text)
	}
	if alerts[1].Body.ImageURL != "" || !strings.Contains(alerts[1].Body.Text, "照片：有（居民经 telegram 发送）") {
		t.Errorf("wechat alert photo %q\n%s", alerts[1].Body.ImageURL, alerts[1].Body.Text)
	}
	if !strings.Contains(alerts[0].Body.Text, "小区东门 (39.90000, 116.40000)") || !strings.Contains(alerts[0].Body.Text, "uri.amap.com/marker?position=116.400000,39.900000") {
		t.Errorf("location missing:\n%s", alerts[0].Body.Text)
	}
}

func TestClaimReplyResolveRateAndStats(t *testing.T) {
	h := deskHarness(t)
	num := h.report("alice")
	start := h.clock.Now()
	rid := h.residentID("alice")

	h.clock.Advance(10 * time.Minute)
	expect(t, h.staff("901", "/claim "+num), "✓ "+num+" 已由 小李 认领")
	expect(t, h.staff("900", "/claim "+num), "已由 小李 认领")
	expect(t, h.staff("901", "/claim "+num), "已经是您在处理")
	up := h.outbox(kindTicketUpdate)
	if len(up) != 1 || up[0].ResidentID != rid || !strings.Contains(up[0].Body.Text, "已由工作人员受理") || up[0].Body.Template != "ticket_update" || up[0].Body.Params["ticket"] != num {
		t.Fatalf("claim notice %+v", up)
	}

	// Staff answer by replying to the alert in the group.
	h.markSent(h.outbox(kindAlert)[0], "77")
	h.clock.Advance(5 * time.Minute)
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "901", ChatID: deskGroup, Group: true, ReplyTo: "77", Text: "明天上午师傅上门"})
	expect(t, rs, "✓ 已答复居民（"+num+"）")
	replies := h.outbox(kindReply)
	if len(replies) != 1 || replies[0].ResidentID != rid || replies[0].TargetChannel != "" ||
		replies[0].Body.Text != "【工单 "+num+"】工作人员回复：明天上午师傅上门" || replies[0].Body.Params["status"] != "有新回复" {
		t.Fatalf("reply rows %+v", replies)
	}
	// A reply to some other message is group chatter.
	if rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "901", ChatID: deskGroup, Group: true, ReplyTo: "78", Text: "好的"}); len(rs) != 0 {
		t.Fatalf("chatter answered %+v", rs)
	}
	expect(t, h.staff("900", "/r "+num), "/r "+num+" 答复内容")

	h.clock.Advance(105 * time.Minute)
	expect(t, h.staff("901", "/resolve "+num+" 已更换灯泡"), "✓ "+num+" 已办结，已请居民评价")
	up = h.outbox(kindTicketUpdate)
	last := up[len(up)-1]
	if !strings.Contains(last.Body.Text, "已办结") || !strings.Contains(last.Body.Text, "说明：已更换灯泡") || !strings.Contains(last.Body.Text, "1–5 分") ||
		len(last.Body.Choices) != 5 || last.Body.Choices[3].Payload != "rate:"+num+":4" {
		t.Fatalf("resolve notice %+v", last)
	}
	if got := h.conv("alice"); got.Flow != "rate" || got.Data["ticket"] != num {
		t.Fatalf("resident conversation %+v", got)
	}
	expect(t, h.staff("901", "/resolve "+num), "当前为“已办结”")

	// The resident answers the next day: the question waits longer than a flow.
	h.clock.Advance(20 * time.Hour)
	expect(t, h.say("alice", "4"), "感谢您的评价（4 分）")
	tk, _ := h.st.Ticket(context.Background(), num)
	if tk.Rating != 4 || h.conv("alice").Flow != "" {
		t.Fatalf("ticket %+v conv %+v", tk, h.conv("alice"))
	}
	expect(t, h.say("alice", "我的"), "没有进行中的事项")

	rs = h.staff("900", "/stats")
	expect(t, rs, "共 1 个", "已办结 1", "设施维修 1", "首次响应中位时长：10 分钟（1 个）", "办结中位时长：2 小时 0 分（1 个）",
		"按时响应：100%（1/1）", "满意率（4–5 分）：100%（1 个评价）")
	_ = start

	// Every action is in the audit, with its ticket.
	log, _ := h.st.AuditLog(context.Background(), 20)
	var actions []string
	for i := len(log) - 1; i >= 0; i-- {
		if log[i].Target == num {
			actions = append(actions, log[i].Action)
		}
	}
	if strings.Join(actions, " ") != "claim claim claim r r resolve resolve" {
		t.Errorf("audited %v", actions)
	}
}

func TestAlertButtonsActLikeCommands(t *testing.T) {
	h := deskHarness(t)
	num := h.report("bob")
	press := func(user, payload string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: user, ChatID: deskGroup, Group: true, Payload: payload})
	}
	expect(t, press("900", "desk:claim:"+num), "已由 王主任 认领")
	expect(t, press("900", "desk:reply:"+num), "请直接回复工单提醒消息")
	expect(t, press("555", "desk:resolve:"+num), "您不是本社区工作人员")
	expect(t, press("900", "desk:resolve:"+num), "已办结")
	expect(t, press("900", "desk:resolve:"+num), "当前为“已办结”")
}

func TestNonStaffRefusedAndStaffReopen(t *testing.T) {
	h := deskHarness(t)
	num := h.report("carol")
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/resolve " + num}), "您不是本社区工作人员")
	tk, _ := h.st.Ticket(context.Background(), num)
	if tk.Status != store.TicketOpen {
		t.Fatalf("refused resolve changed the ticket: %+v", tk)
	}
	expect(t, h.staff("901", "/resolve "+num), "已办结")
	// CONTRACT.md: staff can reopen, not only admins; it is audited.
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/reopen " + num}), "您不是本社区工作人员")
	expect(t, h.staff("901", "/reopen "+num+" 居民说还是坏的"), "✓ "+num+" 已重新打开")
	tk, _ = h.st.Ticket(context.Background(), num)
	if tk.Status != store.TicketClaimed || tk.Assignee != "小李" || !tk.ResolvedAt.IsZero() {
		t.Fatalf("reopened %+v", tk)
	}
	log, _ := h.st.AuditLog(context.Background(), 20)
	var reopens []string
	for _, a := range log {
		if a.Action == "reopen" && a.Target == num {
			reopens = append(reopens, fmt.Sprintf("%s:%v", a.Actor, a.Allowed))
		}
	}
	if len(reopens) != 2 || reopens[0] != "小李:true" {
		t.Fatalf("reopen audit %v", reopens)
	}
	// The rating question of the first resolution no longer applies.
	expect(t, h.say("carol", "5"), "现在不能评价了")
	expect(t, h.staff("900", "/claim"), "用法：/claim T1024")
	expect(t, h.staff("900", "/t T9999"), "没有找到工单 T9999")
}

func TestOpenListsOldestFirstWithOverdue(t *testing.T) {
	h := deskHarness(t)
	a := h.report("a1")
	h.clock.Advance(time.Hour)
	b := h.report("a2")
	h.clock.Advance(48 * time.Hour)
	expect(t, h.staff("900", "/claim "+b), "认领")
	rs := h.staff("900", "/open")
	text := joined(rs)
	ia, ib := strings.Index(text, a), strings.Index(text, b)
	if ia < 0 || ib < 0 || ia > ib {
		t.Fatalf("order wrong:\n%s", text)
	}
	lines := strings.Split(text, "\n")
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l, a) && !strings.Contains(l, "⚠️超时"):
			t.Errorf("overdue ticket not marked: %s", l)
		case strings.HasPrefix(l, b) && (strings.Contains(l, "⚠️超时") || !strings.Contains(l, "处理中（王主任）")):
			t.Errorf("claimed ticket line: %s", l)
		}
	}
	expect(t, rs, "未办结工单 2 个", "2 天 1 小时前")
}

func TestTicketDetailForStaff(t *testing.T) {
	h := deskHarness(t)
	num := h.report("dora")
	expect(t, h.staff("900", "/claim "+num), "认领")
	rs := h.staff("901", "/t "+num)
	expect(t, rs, "工单 "+num+" · 设施维修 · 处理中（王主任）", "138****5678", "进展：", "提交", "认领 · 王主任", "居民最近的消息：", "居民：1", "系统：提交成功")
	expectNot(t, rs, "13812345678")
}

func TestResidentNotesReachTheThread(t *testing.T) {
	h := deskHarness(t)
	num := h.report("erin")
	alert := h.outbox(kindAlert)[0]
	h.markSent(alert, "501")

	// Before anyone answered, free text is the menu as usual …
	expect(t, h.say("erin", "还没人来吗"), "请选择")
	// … unless it names the ticket.
	expect(t, h.say("erin", strings.ToLower(num)+" 灯还是不亮"), "已转给处理工单 "+num+" 的工作人员")
	notes := h.outbox(kindAlert)[2:]
	if len(notes) != 1 || notes[0].Body.ThreadRef != "501" || notes[0].TargetAddress != deskGroup || !strings.Contains(notes[0].Body.Text, "居民补充："+strings.ToLower(num)+" 灯还是不亮") {
		t.Fatalf("note rows %+v", notes)
	}

	expect(t, h.staff("901", "/r "+num+" 今天下午就去"), "已答复")
	expect(t, h.say("erin", "好的谢谢，我下午在家"), "已转给处理工单 "+num)
	evs, _ := h.st.TicketEvents(context.Background(), mustTicket(t, h, num).ID)
	if evs[len(evs)-1].Kind != store.EventNote || evs[len(evs)-1].Note != "好的谢谢，我下午在家" {
		t.Fatalf("events %+v", evs)
	}
	// The assignee on WeChat gets it too when it is theirs: here it is 小李's, on Telegram only.
	for _, r := range h.outbox(kindAlert) {
		if r.TargetChannel == bot.ChannelWeChat && strings.Contains(r.Body.Text, "我下午在家") {
			t.Errorf("note went to WeChat staff who do not handle it: %+v", r)
		}
	}
	// Menu words still work, and after the window the menu is back.
	expect(t, h.say("erin", "菜单"), "请选择")
	h.clock.Advance(noteWindow + time.Hour)
	expect(t, h.say("erin", "在吗"), "请选择")
}

func mustTicket(t *testing.T, h *harness, num string) store.Ticket {
	t.Helper()
	tk, err := h.st.Ticket(context.Background(), num)
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestRatingLeftAsideAndButtonsLater(t *testing.T) {
	h := deskHarness(t)
	a := h.report("fay")
	b := h.report("fay")
	expect(t, h.staff("900", "/resolve "+a), "已办结")
	expect(t, h.staff("900", "/resolve "+b), "已办结")
	if got := h.conv("fay"); got.Flow != "rate" || got.Data["ticket"] != b {
		t.Fatalf("conversation %+v", got)
	}
	// Ignoring the question: the message is handled as usual.
	expect(t, h.say("fay", "报修"), "请选择问题类别")
	// The button of the other question still rates it, inside another flow.
	expect(t, h.send(bot.Message{Channel: bot.ChannelConsole, UserID: "fay", Payload: "rate:" + a + ":5"}), "感谢您的评价（5 分）")
	expect(t, h.send(bot.Message{Channel: bot.ChannelConsole, UserID: "fay", Payload: "rate:" + a + ":1"}), "已经评价过")
	if h.conv("fay").Flow != "report" {
		t.Fatal("rating button broke the running flow")
	}
	if mustTicket(t, h, a).Rating != 5 {
		t.Fatal("rating not saved")
	}
	// A low rating is flagged to the desk.
	h.say("fay", "取消")
	expect(t, h.send(bot.Message{Channel: bot.ChannelConsole, UserID: "fay", Payload: "rate:" + b + ":2"}), "工作人员会跟进")
	last := h.outbox(kindAlert)
	if l := last[len(last)-1]; !strings.Contains(l.Body.Text, b+" 居民评分 2/5") {
		t.Fatalf("low rating alert %+v", l)
	}
}

func TestRateFlowStepAnswers(t *testing.T) {
	h := deskHarness(t)
	num := h.report("gus")
	expect(t, h.staff("900", "/resolve "+num), "已办结")
	expect(t, h.say("gus", "7"), "请回复 1 到 5 的数字")
	expect(t, h.say("gus", "跳过"), "不评价也没关系")
	if mustTicket(t, h, num).Rating != 0 || h.conv("gus").Flow != "" {
		t.Fatal("skip rated or kept the flow")
	}
}

func TestStartFlowForLeavesBusyResidentAlone(t *testing.T) {
	h := deskHarness(t)
	num := h.report("hal")
	h.toStep("hal", 2) // in the middle of a second report
	expect(t, h.staff("900", "/resolve "+num), "已办结")
	if got := h.conv("hal"); got.Flow != "report" || got.Step != "photo" {
		t.Fatalf("busy resident's flow replaced: %+v", got)
	}
	// The question asks for the typed form, without numbered choices that
	// would read as answers to the resident's own step.
	up := h.outbox(kindTicketUpdate)
	if l := up[len(up)-1]; len(l.Body.Choices) != 0 || !strings.Contains(l.Body.Text, "评分 5") {
		t.Fatalf("question for a busy resident: %+v", l)
	}
	_, started, err := h.eng.StartFlowFor(context.Background(), h.residentID("hal"), "nope", nil)
	if err == nil || started {
		t.Fatal("unknown flow started")
	}
}

func TestWeChatStaffActionsReachTheGroup(t *testing.T) {
	h := deskHarness(t)
	num := h.report("ivy")
	h.markSent(h.outbox(kindAlert)[0], "900")
	rs := h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-zhou", Text: "/r " + num + " 马上到"})
	expect(t, rs, "已答复居民")
	alerts := h.outbox(kindAlert)
	l := alerts[len(alerts)-1]
	if l.TargetAddress != deskGroup || l.Body.ThreadRef != "900" || !strings.Contains(l.Body.Text, num+"：老周 答复（wechat）") || !strings.Contains(l.Body.Text, "马上到") {
		t.Fatalf("group not told: %+v", l)
	}
	if tk := mustTicket(t, h, num); tk.Assignee != "老周" || tk.Status != store.TicketClaimed {
		t.Fatalf("ticket %+v", tk)
	}
}

func TestComputeStats(t *testing.T) {
	base := time.Date(2026, 11, 1, 8, 0, 0, 0, time.UTC)
	tk := func(status string, first, resolved time.Duration, due time.Duration, rating int) store.Ticket {
		t := store.Ticket{Status: status, Category: "x", CreatedAt: base, DueAt: base.Add(due), Rating: rating}
		if first > 0 {
			t.FirstResponseAt = base.Add(first)
		}
		if resolved > 0 {
			t.ResolvedAt = base.Add(resolved)
		}
		return t
	}
	s := computeStats([]store.Ticket{
		tk(store.TicketResolved, time.Hour, 3*time.Hour, 2*time.Hour, 5),
		tk(store.TicketResolved, 3*time.Hour, 5*time.Hour, 2*time.Hour, 3),
		tk(store.TicketClaimed, 30*time.Minute, 0, 2*time.Hour, 0),
		tk(store.TicketOpen, 0, 0, 2*time.Hour, 0),      // overdue: counts as missed
		tk(store.TicketOpen, 0, 0, 100*24*time.Hour, 0), // still in time: not counted
		tk(store.TicketCancelled, 0, 0, time.Minute, 0), // not timed
	}, base.Add(24*time.Hour))
	if s.Total != 6 || s.ByStatus["open"] != 2 || s.ByStatus["cancelled"] != 1 {
		t.Fatalf("counts %+v", s)
	}
	if m, _ := median(s.FirstResponse); m != time.Hour {
		t.Errorf("median first response %v", m)
	}
	if m, _ := median(s.Resolution); m != 4*time.Hour {
		t.Errorf("median resolution %v", m)
	}
	if s.WithinTarget != 2 || s.TargetKnown != 4 {
		t.Errorf("within target %d/%d", s.WithinTarget, s.TargetKnown)
	}
	if s.Satisfied != 1 || s.Ratings != 2 {
		t.Errorf("satisfaction %d/%d", s.Satisfied, s.Ratings)
	}
	if _, ok := median(nil); ok {
		t.Error("median of nothing")
	}
}

func TestCommandLists(t *testing.T) {
	if got := ResidentCommands("en"); len(got) != 7 || got[0].Name != "menu" || got[0].Description != "Main menu" {
		t.Fatalf("resident commands %+v", got)
	}
	if got := StaffCommands("zh-CN"); len(got) != len(staffCommandNames) || got[1].Description != "查看工单：/t T1024" {
		t.Fatalf("staff commands %+v", got)
	}
}
