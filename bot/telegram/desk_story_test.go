package telegram_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-telegram/bot/models"

	"linli/bot"
	"linli/bot/telegram"
	"linli/bot/telegram/tgfake"
	"linli/bot/wechat"
	"linli/bot/wechat/wechatfake"
	"linli/flows"
	"linli/notify"
	"linli/store"
)

// clock is a time the test moves by hand.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// wechatWorld is the real WeChat sender on the WeChat API fake: what a
// WeChat resident or WeChat staff member receives is what the fake accepted.
type wechatWorld struct {
	fake *wechatfake.Fake
}

// to lists the customer-service messages the fake accepted for openid.
func (x *wechatWorld) to(openid string) []wechatfake.CustomMessage {
	var out []wechatfake.CustomMessage
	for _, m := range x.fake.CustomMessages() {
		if m.ToUser == openid {
			out = append(out, m)
		}
	}
	return out
}

const (
	admin     int64 = 900 // 王主任, admin
	staffer   int64 = 901 // 小李, staff
	outsider  int64 = 555 // not staff
	wxStaffID       = "o-staff-zhou"
)

// world is linli as serve wires it, on a fake Bot API: store, engine,
// router, the Telegram channel in webhook mode, outbox and dispatcher.
type world struct {
	t      testing.TB
	f      *tgfake.Fake
	clock  *clock
	st     *store.Store
	router *bot.Bot
	ch     *telegram.Channel
	disp   *notify.Dispatcher
	wechat *wechatWorld
	srv    *httptest.Server
}

func newWorld(t testing.TB) *world {
	clk := &clock{t: time.Date(2026, 11, 25, 9, 0, 0, 0, time.UTC)}
	f := tgfake.New(tgfake.WithClock(clk.Now))
	t.Cleanup(f.Close)
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "linli.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	st.SetClock(clk.Now)
	log := quietLog()
	outbox := notify.NewOutbox(st)
	cfg := flows.Config{
		Community: flows.Community{Name: "普惠苑社区", Timezone: "Asia/Shanghai", Language: "zh-CN"},
		Staff: []flows.StaffMember{
			{Name: "王主任", Role: "admin", TelegramID: admin},
			{Name: "小李", Role: "staff", TelegramID: staffer},
			{Name: "老周", Role: "staff", WeChatOpenID: wxStaffID},
		},
		Categories: []flows.Category{
			{Key: "sanitation", Name: "环境卫生", NameEN: "Sanitation", TargetHours: 24},
			{Key: "repairs", Name: "设施维修", NameEN: "Repairs", TargetHours: 48},
		},
		DeskChats: []flows.DeskChat{{Channel: bot.ChannelTelegram, Address: strconv.FormatInt(staffChat, 10)}},
	}
	eng, err := flows.New(st, cfg, flows.Options{Now: clk.Now, Logger: log, Outbox: outbox})
	if err != nil {
		t.Fatal(err)
	}
	router := bot.New(st, eng, bot.Options{DefaultLang: "zh-CN", Unavailable: flows.Unavailable, Logger: log, Now: clk.Now})
	ch, err := telegram.New(telegram.Config{Enabled: true, Token: f.Token(), Mode: "webhook", WebhookPath: "/telegram",
		WebhookSecret: secret, APIBaseURL: f.URL(), StaffChatID: staffChat}, router, telegram.Options{Logger: log, Marker: st})
	if err != nil {
		t.Fatal(err)
	}
	disp := notify.NewDispatcher(st, notify.LogSMS{Log: log}, log, clk.Now)
	disp.Register(bot.ChannelTelegram, ch)
	wxFake := wechatfake.New(wechatfake.Config{Now: clk.Now})
	t.Cleanup(wxFake.Close)
	wxAPI, err := wechat.NewClient(wechat.Config{AppID: wxFake.AppID(), AppSecret: wxFake.Secret(), APIBaseURL: wxFake.URL()},
		wechat.ClientOptions{Tokens: st, Now: clk.Now, Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	disp.Register(bot.ChannelWeChat, wechat.NewSender(wxAPI, st, wechat.Templates{}, clk.Now, log))
	// WeChat staff and residents wrote within the last 48 hours.
	wxFake.Touch(wxStaffID, clk.Now())
	wxFake.Touch("o-resident", clk.Now())
	wx := &wechatWorld{fake: wxFake}
	mux := http.NewServeMux()
	mux.Handle("/telegram", ch)
	srv := httptest.NewServer(bot.Guard(log, mux))
	t.Cleanup(srv.Close)
	return &world{t: t, f: f, clock: clk, st: st, router: router, ch: ch, disp: disp, wechat: wx, srv: srv}
}

// post delivers an update through the webhook; the replies are sent when it returns.
func (w *world) post(u models.Update) {
	w.t.Helper()
	if code := postTo(w.srv.URL+"/telegram", u, secret); code != http.StatusOK {
		w.t.Fatalf("webhook answered %d", code)
	}
	telegram.Settle(w.ch, &u)
}

// dispatch sends what the outbox holds.
func (w *world) dispatch() {
	w.t.Helper()
	if _, err := w.disp.RunOnce(context.Background()); err != nil {
		w.t.Fatal(err)
	}
}

// last is the newest message the bot sent to a chat.
func (w *world) last(chat int64) tgfake.SentMessage {
	w.t.Helper()
	sent := w.f.Sent(chat)
	if len(sent) == 0 {
		w.t.Fatalf("nothing sent to %d", chat)
	}
	return sent[len(sent)-1]
}

func (w *world) expectLast(chat int64, fragments ...string) tgfake.SentMessage {
	w.t.Helper()
	m := w.last(chat)
	text := m.Text + m.Caption
	for _, f := range fragments {
		if !strings.Contains(text, f) {
			w.t.Fatalf("chat %d: last message lacks %q:\n%s", chat, f, text)
		}
	}
	return m
}

func button(m tgfake.SentMessage, data string) bool {
	for _, row := range m.InlineKeyboard {
		for _, b := range row {
			if b.CallbackData == data {
				return true
			}
		}
	}
	return false
}

// TestDeskStoryOnTelegram tells the whole story: a resident reports with a
// photo, the alert reaches the staff group, staff claim and answer, the
// resident gets the answer and adds a word, staff resolve, the resident
// rates 4, and /stats shows it.
func TestDeskStoryOnTelegram(t *testing.T) {
	w := newWorld(t)
	f := w.f

	// The resident follows a deep link from the notice board.
	w.post(f.TextUpdate(resident, resident, "/start report"))
	q := w.expectLast(resident, "请选择问题类别")
	if !button(q, "sanitation") {
		t.Fatalf("categories not buttons: %+v", q.InlineKeyboard)
	}
	w.post(f.CallbackUpdate(resident, resident, q.MessageID, "sanitation"))
	if m := f.Sent(resident)[0]; m.InlineKeyboard != nil {
		t.Fatal("the used keyboard is still there")
	}
	w.expectLast(resident, "请描述一下问题")
	w.post(f.TextUpdate(resident, resident, "楼道里堆满垃圾，三天没人清"))
	w.expectLast(resident, "请发一张现场照片")
	photo := f.PhotoUpdate(resident, resident, "")
	fileID := photo.Message.Photo[len(photo.Message.Photo)-1].FileID
	w.post(photo)
	w.expectLast(resident, "问题在哪里")
	w.post(f.TextUpdate(resident, resident, "3栋2单元"))
	w.post(f.TextUpdate(resident, resident, "13812345678"))
	q = w.expectLast(resident, "请确认您的报修", "照片：已附")
	w.post(f.CallbackUpdate(resident, resident, q.MessageID, "submit"))
	w.expectLast(resident, "提交成功！工单号 T1001")

	// The alert, with the resident's photo, reaches the staff group.
	w.dispatch()
	alert := w.expectLast(staffChat, "新工单 T1001 · 环境卫生", "楼道里堆满垃圾", "3栋2单元", "楼栋：3", "138****5678", "响应时限：11-26 17:00（24 小时）")
	if alert.Method != "sendPhoto" || alert.Photo != fileID {
		t.Fatalf("alert without the photo: %+v", alert)
	}
	if !button(alert, "desk:claim:T1001") || !button(alert, "desk:reply:T1001") || !button(alert, "desk:resolve:T1001") {
		t.Fatalf("alert buttons %+v", alert.InlineKeyboard)
	}
	if got := w.wechat.to(wxStaffID); len(got) != 1 || !strings.Contains(got[0].Content, "T1001") {
		t.Fatalf("WeChat staff alert %+v", got)
	}

	// A staff member claims it with the button.
	w.clock.Advance(10 * time.Minute)
	w.post(f.CallbackUpdate(staffChat, staffer, alert.MessageID, "desk:claim:T1001"))
	if m := w.expectLast(staffChat, "✓ T1001 已由 小李 认领"); m.ReplyTo != alert.MessageID {
		t.Fatalf("not threaded under the alert: %+v", m)
	}
	w.dispatch()
	w.expectLast(resident, "您的工单 T1001 已由工作人员受理")

	// … and answers by replying to the alert.
	w.clock.Advance(5 * time.Minute)
	w.post(f.ReplyUpdate(staffChat, staffer, alert.MessageID, "明天上午师傅上门清理"))
	w.expectLast(staffChat, "✓ 已答复居民（T1001）")
	w.dispatch()
	w.expectLast(resident, "【工单 T1001】工作人员回复：明天上午师傅上门清理")

	// The resident's thanks reach the group under the alert.
	w.post(f.TextUpdate(resident, resident, "好的，谢谢！"))
	w.expectLast(resident, "已转给处理工单 T1001 的工作人员")
	w.dispatch()
	if m := w.expectLast(staffChat, "T1001 居民补充：好的，谢谢！"); m.ReplyTo != alert.MessageID {
		t.Fatalf("note not threaded: %+v", m)
	}

	// Someone outside the staff tries to close it.
	w.post(f.TextUpdate(staffChat, outsider, "/resolve T1001"))
	w.expectLast(staffChat, "您不是本社区工作人员，无法使用 /resolve")

	// Staff resolve; the resident is asked to rate at once and rates 4.
	w.clock.Advance(2 * time.Hour)
	w.post(f.TextUpdate(staffChat, staffer, "/resolve@linli_test_bot T1001 已清理完毕"))
	w.expectLast(staffChat, "✓ T1001 已办结，已请居民评价")
	w.dispatch()
	rate := w.expectLast(resident, "您的工单 T1001 已办结", "说明：已清理完毕", "1–5 分")
	if !button(rate, "rate:T1001:4") {
		t.Fatalf("rating buttons %+v", rate.InlineKeyboard)
	}
	w.clock.Advance(time.Hour)
	w.post(f.CallbackUpdate(resident, resident, rate.MessageID, "rate:T1001:4"))
	w.expectLast(resident, "感谢您的评价（4 分）")

	w.post(f.TextUpdate(staffChat, admin, "/stats"))
	w.expectLast(staffChat, "共 1 个", "已办结 1", "环境卫生 1",
		"首次响应中位时长：10 分钟（1 个）", "办结中位时长：2 小时 15 分（1 个）",
		"按时响应：100%（1/1）", "满意率（4–5 分）：100%（1 个评价）")

	tk, err := w.st.Ticket(context.Background(), "T1001")
	if err != nil || tk.Status != store.TicketResolved || tk.Rating != 4 || tk.Assignee != "小李" || tk.Photo != fileID {
		t.Fatalf("ticket %+v %v", tk, err)
	}
	// Every staff action and the refused attempt are in the audit.
	log, _ := w.st.AuditLog(context.Background(), 20)
	var audit []string
	for i := len(log) - 1; i >= 0; i-- {
		audit = append(audit, log[i].Actor+" "+log[i].Action+" "+strconv.FormatBool(log[i].Allowed))
	}
	want := "小李 claim true|小李 r true|telegram:555 resolve false|小李 resolve true|王主任 stats true"
	if strings.Join(audit, "|") != want {
		t.Fatalf("audit %v", audit)
	}
}

// TestStaffReplyReachesWeChatResident: a resident who reported on WeChat
// gets the answer staff give on Telegram on WeChat, marked with the ticket.
func TestStaffReplyReachesWeChatResident(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	for _, text := range []string{"报修", "2", "单元门禁坏了", "跳过", "跳过", "跳过", "1"} {
		if _, err := w.router.Handle(ctx, bot.Message{Channel: bot.ChannelWeChat, UserID: "o-resident", Text: text}); err != nil {
			t.Fatal(err)
		}
	}
	w.dispatch()
	alert := w.expectLast(staffChat, "T1001", "设施维修", "单元门禁坏了")
	w.post(w.f.ReplyUpdate(staffChat, admin, alert.MessageID, "物业下午三点来修"))
	w.dispatch()
	got := w.wechat.to("o-resident")
	if len(got) != 1 || got[0].MsgType != "text" || got[0].Content != "【工单 T1001】工作人员回复：物业下午三点来修" {
		t.Fatalf("WeChat customer-service messages to the resident: %+v", got)
	}
}

// TestNonStaffResolveRefused: the command changes nothing and is audited.
func TestNonStaffResolveRefused(t *testing.T) {
	w := newWorld(t)
	if _, err := w.router.Handle(context.Background(), bot.Message{Channel: bot.ChannelWeChat, UserID: "o-r", Text: "报修"}); err != nil {
		t.Fatal(err)
	}
	for _, text := range []string{"1", "垃圾桶满了", "跳过", "跳过", "跳过", "1"} {
		w.router.Handle(context.Background(), bot.Message{Channel: bot.ChannelWeChat, UserID: "o-r", Text: text})
	}
	w.post(w.f.TextUpdate(outsider, outsider, "/resolve T1001 done"))
	w.expectLast(outsider, "您不是本社区工作人员")
	tk, _ := w.st.Ticket(context.Background(), "T1001")
	if tk.Status != store.TicketOpen {
		t.Fatalf("ticket %+v", tk)
	}
	log, _ := w.st.AuditLog(context.Background(), 1)
	if len(log) != 1 || log[0].Allowed || log[0].Actor != "telegram:555" || log[0].Target != "T1001" {
		t.Fatalf("audit %+v", log)
	}
}

// TestBlockedResidentBecomesUnreachable: an outbox message to a resident
// who blocked the bot marks the identity, and the row falls back to SMS.
func TestBlockedResidentBecomesUnreachable(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.post(w.f.TextUpdate(resident, resident, "你好"))
	id, err := w.st.FindIdentity(ctx, bot.ChannelTelegram, "1001")
	if err != nil {
		t.Fatal(err)
	}
	if err := w.st.SetResidentPhone(ctx, id.ResidentID, "13812345678"); err != nil {
		t.Fatal(err)
	}
	w.f.BlockChat(resident)
	if _, err := w.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "reply", ResidentID: id.ResidentID, Ref: "T1001",
		Body: store.OutboxBody{Text: "【工单 T1001】…", Template: "ticket_update", Params: map[string]string{"ticket": "T1001", "status": "有新回复"}}}}); err != nil {
		t.Fatal(err)
	}
	w.dispatch()
	id, _ = w.st.FindIdentity(ctx, bot.ChannelTelegram, "1001")
	if !id.Unreachable {
		t.Fatal("identity not marked unreachable")
	}
	rows, _ := w.st.RecentOutbox(ctx, 1)
	if rows[0].Status != store.OutboxSent || rows[0].Channel != "sms" {
		t.Fatalf("row %+v", rows[0])
	}
	// Writing again makes them reachable.
	w.f.UnblockChat(resident)
	w.post(w.f.TextUpdate(resident, resident, "你好"))
	if id, _ = w.st.FindIdentity(ctx, bot.ChannelTelegram, "1001"); id.Unreachable {
		t.Fatal("still unreachable after writing")
	}
}

// TestOutboxHonoursRetryAfter: a 429 on an alert puts the row back for
// exactly retry_after.
func TestOutboxHonoursRetryAfter(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	if _, err := w.st.EnqueueOutbox(ctx, []store.OutboxRow{{Kind: "alert", TargetChannel: "telegram", TargetAddress: strconv.FormatInt(staffChat, 10),
		Body: store.OutboxBody{Text: "alert"}}}); err != nil {
		t.Fatal(err)
	}
	w.f.FailNext("sendMessage", 1, 429, "", 17)
	w.dispatch()
	rows, _ := w.st.RecentOutbox(ctx, 1)
	if rows[0].Status != store.OutboxPending || !rows[0].DueAt.Equal(w.clock.Now().Add(17*time.Second)) {
		t.Fatalf("row %+v", rows[0])
	}
	w.clock.Advance(16 * time.Second)
	w.dispatch()
	if len(w.f.Sent(staffChat)) != 0 {
		t.Fatal("sent before retry_after")
	}
	w.clock.Advance(time.Second)
	w.dispatch()
	w.expectLast(staffChat, "alert")
}
