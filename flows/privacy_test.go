package flows

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"linli/bot"
	"linli/store"
	"linli/store/storetest"
)

// privacyHarness asks for consent, has bookable services, a Telegram staff
// group and two staff members there (王主任 900, 小李 901).
func privacyHarness(t *testing.T) *harness {
	h := newHarness(t)
	h.cfg = placesConfig()
	h.cfg.Community.RequireConsent = true
	h.cfg.MessageRetentionDays = 180
	h.cfg.DeskChats = []DeskChat{{Channel: bot.ChannelTelegram, Address: deskGroup}}
	h.cfg.Staff = append(h.cfg.Staff, StaffMember{Name: "小李", Role: "staff", TelegramID: 901})
	h.restart()
	return h
}

// speaker sends messages as one user of one channel; WeChat messages carry
// a platform id, as the real channel does.
type speaker struct {
	h        *harness
	channel  string
	user     string
	name     string
	n        int
	lastSent []bot.Reply
}

func (s *speaker) send(m bot.Message) []bot.Reply {
	s.h.t.Helper()
	m.Channel, m.UserID, m.DisplayName = s.channel, s.user, s.name
	if s.channel == bot.ChannelTelegram {
		m.ChatID = s.user
	}
	if s.channel == bot.ChannelWeChat {
		s.n++
		m.DedupeKey = "msg:" + strconv.FormatInt(wechatMsgID.Add(1), 10)
		if m.Event != "" {
			m.DedupeKey = "evt:" + s.user + ":" + strconv.FormatInt(s.h.clock.Now().Unix()+int64(s.n), 10)
		}
	}
	s.lastSent = s.h.send(m)
	return s.lastSent
}

func (s *speaker) say(text string) []bot.Reply {
	s.h.t.Helper()
	return s.send(bot.Message{Text: text})
}

// wechatMsgID numbers WeChat messages (MsgId) across speakers.
var wechatMsgID atomic.Int64

func (h *harness) count(query string, args ...any) int {
	h.t.Helper()
	var n int
	if err := h.st.DB().QueryRow(query, args...).Scan(&n); err != nil {
		h.t.Fatal(err)
	}
	return n
}

// TestConsentAgreeHandlesTheFirstMessage: a new resident's "报修" is kept
// while they are asked; agreeing starts the report as if just sent. Nothing
// of the turns before consent is logged.
func TestConsentAgreeHandlesTheFirstMessage(t *testing.T) {
	h := privacyHarness(t)
	rs := h.say("alice", "报修")
	expect(t, rs, "请了解我们如何处理您的个人信息", "保存 180 天后自动删除", "普惠苑社区的工作人员", "导出我的信息", "删除我的信息",
		"1. 同意", "2. 不同意")
	expectNot(t, rs, "请选择问题类别")
	if c := rs[len(rs)-1].Choices; len(c) != 2 || c[0].Payload != "consent:agree" || c[1].Payload != "consent:decline" {
		t.Fatalf("choices %+v", c)
	}
	if h.conv("alice").Flow != consentFlow {
		t.Fatal("the first message is not kept in the conversation")
	}
	// Something else is not an answer: the question again, the first message still kept.
	expect(t, h.say("alice", "在吗"), "请先选择“同意”或“不同意”", "1. 同意")
	rid := h.residentID("alice")
	if n := h.count("SELECT COUNT(*) FROM message_log WHERE resident_id = ?", rid); n != 0 {
		t.Fatalf("%d lines logged before consent", n)
	}
	rs = h.send(bot.Message{UserID: "alice", Payload: "consent:agree"})
	expect(t, rs, "谢谢", "请选择问题类别")
	if r, _ := h.st.Resident(context.Background(), rid); !r.ConsentAt.Equal(h.clock.Now().Truncate(time.Second)) {
		t.Fatalf("consent at %v", r.ConsentAt)
	}
	// The report goes on and the conversation is logged from now on.
	expect(t, h.say("alice", "2"), "请描述一下问题")
	if n := h.count("SELECT COUNT(*) FROM message_log WHERE resident_id = ?", rid); n != 5 {
		t.Fatalf("%d lines logged after consent, want 5 (报修, thanks, question, 2, question)", n)
	}
	var first string
	h.st.DB().QueryRow("SELECT text FROM message_log WHERE resident_id = ? ORDER BY id LIMIT 1", rid).Scan(&first)
	if first != "报修" {
		t.Fatalf("first logged line %q: the agreeing turn logs the first message it handled", first)
	}
	// Asked no more.
	expectNot(t, h.say("alice", "菜单"), "个人信息")
}

// TestConsentDeclineKeepsNothing: a WeChat follower is welcomed and asked;
// declining leaves nothing of theirs in any table, and writing again starts
// over as somebody new.
func TestConsentDeclineKeepsNothing(t *testing.T) {
	h := privacyHarness(t)
	const openid = "oDecliner_openid_0123456789a"
	wx := &speaker{h: h, channel: bot.ChannelWeChat, user: openid}
	rs := wx.send(bot.Message{Event: bot.EventSubscribe})
	expect(t, rs, "欢迎来到普惠苑社区", "请了解我们如何处理您的个人信息", "1. 同意")
	expect(t, wx.say("English"), "Before we can help you", "1. Agree", "2. Decline")
	rs = wx.say("decline")
	expect(t, rs, "we have kept nothing of yours", "Community office phone: 010-12345678")
	if len(rs) != 1 {
		t.Fatalf("%d replies: WeChat would queue all but the first, to the erased openid", len(rs))
	}
	if hits := storetest.Hits(t, h.st.DB(), openid); len(hits) > 0 {
		t.Fatalf("after declining:\n%s", strings.Join(hits, "\n"))
	}
	if n := h.count("SELECT COUNT(*) FROM message_log"); n != 0 {
		t.Fatalf("%d message lines kept", n)
	}
	if n := h.count("SELECT COUNT(*) FROM conversations"); n != 0 {
		t.Fatalf("%d conversations kept", n)
	}
	rs = wx.say("你好")
	expect(t, rs, "请了解我们如何处理您的个人信息")
	expectNot(t, rs, "Before we can help") // the language choice went too
}

// TestConsentWaitsADayForTheFirstMessage: an answer after a day still
// records consent, but the stale first message is not acted on.
func TestConsentWaitsADayForTheFirstMessage(t *testing.T) {
	h := privacyHarness(t)
	h.say("bob", "预约")
	h.clock.Advance(2 * time.Hour)
	expect(t, h.say("bob", "同意"), "谢谢", "请选择要预约的服务")
	h2 := privacyHarness(t)
	h2.say("cat", "预约")
	h2.clock.Advance(consentIdle + time.Hour)
	rs := h2.say("cat", "同意")
	expect(t, rs, "谢谢", "邻里服务。请选择")
	expectNot(t, rs, "请选择要预约的服务")
}

// TestStaffAreNotAskedAndGroupChatterIsNotLogged: the desk works for staff
// who never consented as residents; a non-staff member of the staff group
// is neither asked (in the group) nor logged.
func TestStaffAreNotAskedAndGroupChatterIsNotLogged(t *testing.T) {
	h := privacyHarness(t)
	expect(t, h.staff("901", "/open"), "目前没有未办结的工单")
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "12345", ChatID: deskGroup, Group: true, Text: "大家好"})
	if len(rs) != 0 {
		t.Fatalf("group chatter answered: %+v", rs)
	}
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "12345", ChatID: deskGroup, Group: true, Text: "/open"}), "不是本社区工作人员")
	if n := h.count("SELECT COUNT(*) FROM message_log WHERE text IN ('大家好', '/open') AND channel = 'telegram' AND resident_id IN (SELECT resident_id FROM identities WHERE external_id = '12345')"); n != 0 {
		t.Fatalf("%d lines of a resident without consent logged", n)
	}
	// The refused attempt is audited all the same.
	if n := h.count("SELECT COUNT(*) FROM audit WHERE actor = 'telegram:12345' AND allowed = 0"); n != 1 {
		t.Fatalf("audit rows %d", n)
	}
}

// agree answers the consent question of a fresh speaker.
func (s *speaker) agree() {
	s.h.t.Helper()
	s.say("你好")
	expect(s.h.t, s.say("同意"), "谢谢")
}

// bind binds phone for the speaker with the code the outbox got.
func (s *speaker) bind(phone string) []bot.Reply {
	s.h.t.Helper()
	s.say("绑定手机")
	expect(s.h.t, s.say(phone), "验证码已发送")
	return s.say(s.h.lastCode(phone))
}

// TestEraseLeavesNoTraceOfTheResident is the erasure test of issue 8: a
// resident who used WeChat and Telegram (a bound phone merged them),
// reported a ticket with a photo, an address and a phone, booked a service,
// registered for an event, got staff replies and chatted, sends 删除我的信息
// and confirms. No table then holds their phone, name, openid, Telegram id
// or anything they wrote; the ticket stays for the office, anonymised; the
// waiting list behind them moves up; their next message starts over.
func TestEraseLeavesNoTraceOfTheResident(t *testing.T) {
	h := privacyHarness(t)
	ctx := context.Background()
	const (
		openid  = "oZhaoXiaoming_openid_00000001"
		tgID    = "864209753"
		name    = "赵晓明"
		phone   = "13698765432"
		problem = "卫生间天花板一直漏水"
		address = "5栋1单元302"
		photo   = "http://mmbiz.qpic.cn/zhao-ceiling.jpg"
		note    = "楼上邻居家不开门"
		chat    = "请问物业几点下班"
	)
	wx := &speaker{h: h, channel: bot.ChannelWeChat, user: openid}
	tg := &speaker{h: h, channel: bot.ChannelTelegram, user: tgID, name: name}
	neighbour := &speaker{h: h, channel: bot.ChannelTelegram, user: "555000111", name: "邻居"}

	// WeChat: follow, agree, report with a photo, an address and a phone.
	expect(t, wx.send(bot.Message{Event: bot.EventSubscribe}), "欢迎")
	expect(t, wx.say("同意"), "谢谢")
	wx.say("报修")
	wx.say("2")
	wx.say(problem)
	expect(t, wx.send(bot.Message{Image: &bot.Image{Ref: "wx-media-1", URL: photo}}), "问题在哪里")
	wx.say(address)
	wx.say(phone)
	expect(t, wx.say("1"), "提交成功")
	ts, _ := h.st.OpenTickets(ctx)
	if len(ts) != 1 || ts[0].ContactPhone != phone || ts[0].PhotoURL != photo {
		t.Fatalf("tickets %+v", ts)
	}
	num := ts[0].Number
	expect(t, wx.bind(phone), "绑定成功")

	// Telegram: agree, bind the same phone: one resident now.
	tg.agree()
	h.clock.Advance(2 * time.Minute)
	expect(t, tg.bind(phone), "绑定成功", "合并")
	wxID, _ := h.st.FindIdentity(ctx, bot.ChannelWeChat, openid)
	tgIdent, _ := h.st.FindIdentity(ctx, bot.ChannelTelegram, tgID)
	if wxID.ResidentID != tgIdent.ResidentID {
		t.Fatal("not merged")
	}
	rid := tgIdent.ResidentID

	// A booking, and an event of one place with the neighbour waiting behind.
	tg.say("预约")
	tg.say("1")
	tg.say("1")
	tg.say("1")
	expect(t, tg.say("确认"), "预约成功")
	ev := h.training(1, 0)
	tg.say("活动")
	tg.say("1")
	tg.say("报名")
	expect(t, tg.say("确认"), "报名成功")
	neighbour.agree()
	neighbour.say("活动")
	neighbour.say("1")
	neighbour.say("候补")
	expect(t, neighbour.say("确认"), "候补")

	// Staff claim and answer; the resident adds a note and chats.
	h.markSent(h.outbox(kindAlert)[0], "700")
	expect(t, h.staff("901", "/claim "+num), "认领")
	expect(t, h.staff("901", "/r "+num+" 明天上午师傅上门"), "已答复")
	expect(t, wx.say(note), "已转给处理工单")
	tg.say(chat)
	tg.say("我的")

	needles := []string{phone, name, openid, tgID, problem, address, photo, note, chat, "wx-media-1"}
	for _, n := range needles {
		if len(storetest.Hits(t, h.st.DB(), n)) == 0 {
			t.Fatalf("the scenario never stored %q: the erasure check would prove nothing", n)
		}
	}

	// Erase, from Telegram, after confirming.
	rs := tg.say("删除我的信息")
	expect(t, rs, "确定要删除您的个人信息吗", "1. 确认删除", "2. 不删除")
	rs = tg.say("确认删除")
	expect(t, rs, "您的个人信息已删除")
	if hits := storetest.Hits(t, h.st.DB(), needles...); len(hits) > 0 {
		t.Fatalf("after erasure:\n%s", strings.Join(hits, "\n"))
	}

	// The ticket stays for the office, with nobody behind it.
	tk := mustTicket(t, h, num)
	if tk.ResidentID != 0 || tk.Description != store.ErasedMarker || tk.Status != store.TicketClaimed {
		t.Fatalf("ticket %+v", tk)
	}
	expect(t, h.staff("901", "/t "+num), "工单 "+num, store.ErasedMarker)
	expect(t, h.staff("901", "/r "+num+" 还在吗"), "居民信息已删除")
	if r, _ := h.st.Resident(ctx, rid); r.ErasedAt.IsZero() {
		t.Fatal("no tombstone")
	}
	// Their place went to the neighbour, through the normal cancel path.
	nid, _ := h.st.FindIdentity(ctx, bot.ChannelTelegram, neighbour.user)
	if gs, _ := h.st.ResidentRegistrations(ctx, nid.ResidentID, time.Time{}); len(gs) != 1 || gs[0].EventID != ev.ID || gs[0].Status != store.PlaceOffered {
		t.Fatalf("neighbour's registrations %+v", gs)
	}
	if n := h.count("SELECT COUNT(*) FROM outbox WHERE kind = ? AND resident_id = ?", kindOffer, nid.ResidentID); n != 1 {
		t.Fatalf("offers to the neighbour: %d", n)
	}
	if n := h.count("SELECT COUNT(*) FROM bookings WHERE resident_id IS NULL AND status = 'cancelled'"); n != 1 {
		t.Fatalf("bookings kept unlinked: %d", n)
	}
	if n := h.count("SELECT COUNT(*) FROM outbox WHERE status IN ('pending', 'held', 'leased') AND resident_id IS NULL AND kind = 'reminder'"); n != 0 {
		t.Fatalf("%d reminders still to be sent", n)
	}
	// Writing again: a new resident, asked again.
	rs = tg.say("你好")
	expect(t, rs, "请了解我们如何处理您的个人信息")
	again, _ := h.st.FindIdentity(ctx, bot.ChannelTelegram, tgID)
	if again.ResidentID == rid {
		t.Fatal("the same resident came back")
	}
}

// TestEraseCanBeCalledOff: anything but the confirmation keeps the data.
func TestEraseCanBeCalledOff(t *testing.T) {
	h := privacyHarness(t)
	s := &speaker{h: h, channel: bot.ChannelConsole, user: "dan"}
	s.agree()
	rid := h.residentID("dan")
	expect(t, s.say("delete my data"), "确定要删除")
	expect(t, s.say("不删除"), "保持不变")
	expect(t, s.say("删除我的信息"), "确定要删除")
	expect(t, s.say("取消"), "已取消")
	// Asked once, whether or not another flow was running.
	for _, start := range []string{"", "报修"} {
		if start != "" {
			s.say(start)
		}
		rs := s.say("删除我的信息")
		if n := strings.Count(joined(rs), "确定要删除"); n != 1 {
			t.Fatalf("after %q the question came %d times:\n%s", start, n, joined(rs))
		}
		s.say("不删除")
	}
	if r, err := h.st.Resident(context.Background(), rid); err != nil || !r.ErasedAt.IsZero() || r.ConsentAt.IsZero() {
		t.Fatalf("resident %+v %v", r, err)
	}
}

// TestExportShowsEverythingInTheirLanguage: the export lists the profile
// with the phone unmasked, channels, tickets with history, bookings,
// registrations and messages, in replies under 1500 characters.
func TestExportShowsEverythingInTheirLanguage(t *testing.T) {
	h := privacyHarness(t)
	h.cfg.Community.RequireConsent = false
	h.restart()
	ev := h.training(10, 1)
	num := h.report("erin")
	h.st.SetResidentPhone(context.Background(), h.residentID("erin"), "13812345678")
	expect(t, h.book("erin", "1", "1"), "预约成功")
	h.say("erin", "活动")
	h.say("erin", "1")
	h.say("erin", "报名")
	h.say("erin", "1")
	expect(t, h.say("erin", "确认"), "报名成功")
	g := h.registration("erin", ev)
	for i := 0; i < 60; i++ { // enough history for several replies
		h.say("erin", fmt.Sprintf("第%d条：这是一条比较长的消息，用来把导出撑到好几段回复", i))
	}
	rs := h.say("erin", "导出我的信息")
	if len(rs) < 2 {
		t.Fatalf("one reply for a long export: %d runes", utf8.RuneCountInString(joined(rs)))
	}
	for i, r := range rs {
		if n := utf8.RuneCountInString(r.Text); n > exportReplyRunes || n == 0 {
			t.Fatalf("reply %d has %d characters", i, n)
		}
	}
	expect(t, rs, "【您的个人信息】", "电话：13812345678", "楼栋：3", "【联系渠道】", "· 终端 erin",
		"【工单】1 个", num+" · 设施维修 · 待受理", "描述：楼道灯坏了三天", "地点：3栋2单元501", "电话：13812345678", "已提交",
		"【预约】1 个", "血压测量 · 11月26日 周四 09:00 · 已确认",
		"【活动报名】1 个", g.Code+" · 消防安全培训 · 11月28日 周六 14:00 · 已确认（+1 同行）",
		"【聊天记录】保留的最近 100 条（保存 180 天后自动删除）", "您：第59条", "以上是我们保存的关于您的全部信息")
	expectNot(t, rs, "138****5678")
	h.say("erin", "English")
	rs = h.say("erin", "export my data")
	expect(t, rs, "[Your personal data]", "Phone: 13812345678", "[Tickets] 1", "Blood-pressure check", "[Event registrations] 1", "That is everything we keep")
	// In the middle of a flow it answers and goes back to the question.
	h.say("erin", "report")
	rs = h.say("erin", "export my data")
	expect(t, rs, "[Your personal data]", "What kind of problem is it?")
}

// TestForgetUnansweredConsent: a week after an unanswered consent question
// the resident is erased; one who had a ticket from before consent was
// required keeps it and loses only the message kept with the question.
func TestForgetUnansweredConsent(t *testing.T) {
	h := privacyHarness(t)
	ctx := context.Background()
	h.cfg.Community.RequireConsent = false
	h.restart()
	num := h.report("olda") // before consent was switched on
	h.cfg.Community.RequireConsent = true
	h.restart()
	expect(t, h.say("olda", "还有一件事，我家电话13900001111"), "请了解我们如何处理您的个人信息")
	expect(t, h.say("quiet", "我家电话13900002222"), "请了解我们如何处理您的个人信息")
	h.say("yes", "你好")
	h.say("yes", "同意")
	oldID, quietID, yesID := h.residentID("olda"), h.residentID("quiet"), h.residentID("yes")
	jobs := h.eng.Jobs(JobsConfig{})
	h.clock.Advance(forgetAfter - time.Hour)
	if err := jobs.ForgetUnanswered(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.Hits(t, h.st.DB(), "13900002222"); len(hits) == 0 {
		t.Fatal("forgotten before a week")
	}
	h.clock.Advance(2 * time.Hour)
	if err := jobs.ForgetUnanswered(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if hits := storetest.Hits(t, h.st.DB(), "13900001111", "13900002222", "quiet"); len(hits) > 0 {
		t.Fatalf("kept:\n%s", strings.Join(hits, "\n"))
	}
	if r, _ := h.st.Resident(ctx, quietID); r.ErasedAt.IsZero() {
		t.Fatal("the silent newcomer was not erased")
	}
	if tk := mustTicket(t, h, num); tk.ResidentID != oldID || tk.Description != "楼道灯坏了三天" {
		t.Fatalf("the earlier ticket %+v", tk)
	}
	if r, _ := h.st.Resident(ctx, yesID); !r.ErasedAt.IsZero() || r.ConsentAt.IsZero() {
		t.Fatalf("a consenting resident was touched: %+v", r)
	}
}

// A stranger's staff command is refused and audited at once, as the
// contract says, rather than waiting behind the consent question; the
// next message is asked for consent as usual and nothing is replayed.
func TestStrangersStaffCommandIsRefusedBeforeConsent(t *testing.T) {
	h := privacyHarness(t)
	stranger := func(text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", ChatID: "555", Text: text})
	}
	expect(t, stranger("/resolve T1001"), "您不是本社区工作人员，无法使用 /resolve")
	log, _ := h.st.AuditLog(context.Background(), 10)
	if len(log) != 1 || log[0].Allowed || log[0].Action != "resolve" || log[0].Actor != "telegram:555" {
		t.Fatalf("audit %+v", log)
	}
	expect(t, stranger("你好"), "请了解我们如何处理您的个人信息")
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", ChatID: "555", Payload: "consent:agree"})
	expectNot(t, rs, "/resolve")
	if log, _ := h.st.AuditLog(context.Background(), 10); len(log) != 1 {
		t.Fatalf("the refused command was replayed after consent: %+v", log)
	}
	// A resident's own slash words still wait for consent.
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "556", ChatID: "556", Text: "/report"}), "请了解我们如何处理您的个人信息")
}
