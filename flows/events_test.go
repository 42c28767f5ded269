package flows

import (
	"context"
	"encoding/csv"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// training is a training session on Saturday 28 November at 14:00,
// registration until Friday 18:00.
func (h *harness) training(capacity, companions int) store.Event {
	h.t.Helper()
	return h.event("消防安全培训", "training", capacity, companions, shanghai(2026, 11, 28, 14, 0), shanghai(2026, 11, 27, 18, 0))
}

// registration returns user's live registration for ev.
func (h *harness) registration(user string, ev store.Event) store.Registration {
	h.t.Helper()
	gs, err := h.st.ResidentRegistrations(context.Background(), h.residentID(user), time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	for _, g := range gs {
		if g.EventID == ev.ID {
			return g
		}
	}
	h.t.Fatalf("%s has no registration for event %d", user, ev.ID)
	return store.Registration{}
}

// TestEventRegistration200At50Places: 200 residents confirm at once for 50
// places; exactly 50 are registered and 150 wait, in arrival order, each
// told their true place in the line.
func TestEventRegistration200At50Places(t *testing.T) {
	h := newPlacesHarness(t)
	ev := h.training(50, 0)
	const n = 200
	users := make([]string, n)
	for i := range users {
		users[i] = fmt.Sprintf("r%03d", i)
		h.say(users[i], "活动")
		h.say(users[i], "1")
		expect(t, h.say(users[i], "报名"), "请确认报名")
	}
	replies := make([][]bot.Reply, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			rs, err := h.bot.Handle(context.Background(), bot.Message{Channel: bot.ChannelConsole, UserID: u, Text: "确认"})
			if err != nil {
				t.Error(err)
			}
			replies[i] = rs
		}()
	}
	close(start)
	wg.Wait()
	posRe := regexp.MustCompile(`候补第 (\d+) 位，编号 ([A-Z0-9]+)`)
	told := map[string]string{} // code → position told
	registered := 0
	for i, rs := range replies {
		all := joined(rs)
		switch {
		case strings.Contains(all, "报名成功"):
			registered++
		case posRe.MatchString(all):
			m := posRe.FindStringSubmatch(all)
			told[m[2]] = m[1]
		default:
			t.Fatalf("%s got %q", users[i], all)
		}
	}
	if registered != 50 || len(told) != 150 {
		t.Fatalf("%d registered, %d waiting; want 50 and 150", registered, len(told))
	}
	roster, err := h.st.Roster(context.Background(), ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	var confirmed, waiting []store.RosterEntry
	codes := map[string]bool{}
	for _, r := range roster {
		if codes[r.Code] {
			t.Fatalf("code %s twice", r.Code)
		}
		codes[r.Code] = true
		if r.Status == store.PlaceConfirmed {
			confirmed = append(confirmed, r)
		} else {
			waiting = append(waiting, r)
		}
	}
	if len(confirmed) != 50 || len(waiting) != 150 {
		t.Fatalf("roster: %d confirmed, %d waiting", len(confirmed), len(waiting))
	}
	sort.Slice(waiting, func(i, j int) bool { return waiting[i].ID < waiting[j].ID })
	for i, w := range waiting {
		if w.ID < confirmed[len(confirmed)-1].ID {
			t.Fatalf("waiting %s arrived before a confirmed registration", w.Code)
		}
		if told[w.Code] != fmt.Sprint(i+1) {
			t.Fatalf("%s is number %d in line but was told %s", w.Code, i+1, told[w.Code])
		}
	}
	// The CSV lists exactly the registered, no one waiting.
	_, data, err := h.eng.EventCSV(context.Background(), "zh-CN", ev.ID)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(strings.NewReader(strings.TrimPrefix(string(data), "\ufeff"))).ReadAll()
	if err != nil || len(recs) != 51 {
		t.Fatalf("%d CSV records, %v", len(recs), err)
	}
	for i, rec := range recs[1:] {
		if rec[1] != confirmed[i].Code {
			t.Fatalf("CSV row %d is %s, roster has %s", i+1, rec[1], confirmed[i].Code)
		}
	}
}

func TestEventRegisterWithCompanionsQRAndCheckIn(t *testing.T) {
	h := newPlacesHarness(t)
	ev := h.training(30, 2)
	rs := h.say("amy", "活动")
	expect(t, rs, "近期活动", "1. 11月28日 周六 14:00 消防安全培训（剩 30 位）")
	rs = h.say("amy", "1")
	expect(t, rs, "消防安全培训", "时间：11月28日 周六 14:00–16:00", "地点：社区活动室", "名额：30，剩余 30",
		"报名截止：11月27日 周五 18:00", "每人最多可带 2 位同行", "1. 报名", "2. 返回活动列表")
	rs = h.say("amy", "报名")
	expect(t, rs, "您带几位同行", "1. 带 1 位同行", "2. 带 2 位同行", "3. 不带同行")
	rs = h.say("amy", "1")
	expect(t, rs, "人数：本人 + 1 位同行")
	rs = h.say("amy", "确认")
	expect(t, rs, "报名成功！签到码", "消防安全培训 · 11月28日 周六 14:00–16:00 · 社区活动室")
	g := h.registration("amy", ev)
	if g.Companions != 1 || g.Status != store.PlaceConfirmed {
		t.Fatalf("registration %+v", g)
	}
	if rs[0].Image == nil || rs[0].Image.URL != "https://linli.example/qr/"+g.Code+".png" {
		t.Fatalf("QR image %+v", rs[0].Image)
	}
	if rem := h.outboxOf("amy", kindReminder); len(rem) != 2 || rem[0].Ref != g.Code || !rem[1].DueAt.Equal(shanghai(2026, 11, 28, 12, 0)) {
		t.Fatalf("reminders %+v", rem)
	}
	expect(t, h.say("amy", "我的"), "【活动报名】", g.Code+" · 消防安全培训 · 11月28日 周六 14:00 · 已确认（+1 同行）")
	// The detail shows the code and its QR again, and cannot register twice.
	h.say("amy", "活动")
	rs = h.say("amy", "1")
	expect(t, rs, "您已报名：签到码 "+g.Code, "取消报名")
	expectNot(t, rs, "1. 报名")
	if rs[0].Image == nil {
		t.Fatal("no QR in the detail")
	}
	h.say("amy", "取消")
	// Staff check her in with one companion; the code is accepted once.
	h.clock.Advance(shanghai(2026, 11, 28, 13, 50).Sub(h.clock.Now()))
	rs = h.staffSays("/checkin " + strings.ToLower(g.Code))
	expect(t, rs, "✓ 已签到："+g.Code, "（+1 同行）", "本场已签到 2 人次")
	expect(t, h.staffSays("/checkin "+g.Code), g.Code+" 已于 11-28 13:50 签到（王主任），不重复计数")
	expect(t, h.staffSays("/checkin ZZZZZZ"), "没有签到码 ZZZZZZ")
	expect(t, h.staffSays("/checkin"), "用法：/checkin")
	rs = h.staffSays(fmt.Sprintf("/event %d", ev.ID))
	expect(t, rs, fmt.Sprintf("#%d 消防安全培训（培训）", ev.ID), "已报名 2 人（1 份）", "已签到 1 人 + 同行 1 = 2 人次", "1. "+g.Code, "✓13:50+1")
	// /stats: attendance by kind and the training target.
	h.clock.Advance(3 * time.Hour)
	rs = h.staffSays("/stats")
	expect(t, rs, "培训：1 场，2 人次（签到 1 + 同行 1）", "培训人次：2 / 5000（0.0%）", "文艺晚会场次：0 / 12")
	// Once it started, it is no longer offered to residents nor cancellable.
	expect(t, h.say("amy", "活动"), "近期没有可报名的活动")
	expect(t, h.say("amy", "取消"), "您没有可以取消的事项")
}

func TestEventDeadlineEnforced(t *testing.T) {
	h := newPlacesHarness(t)
	ev := h.event("消防安全培训", "training", 10, 0, shanghai(2026, 11, 28, 14, 0), shanghai(2026, 11, 25, 18, 10))
	h.say("bo", "活动")
	h.say("bo", "1")
	expect(t, h.say("bo", "报名"), "请确认报名")
	// Registration closes at 18:10 while bo hesitates.
	h.clock.Advance(10 * time.Minute)
	expect(t, h.say("bo", "确认"), "报名已于 11月25日 周三 18:10 截止")
	if u, _ := h.st.EventUse(context.Background(), ev.ID); u.Held != 0 {
		t.Fatalf("registered after the deadline: %+v", u)
	}
	expect(t, h.say("cy", "活动"), "消防安全培训（报名已截止）")
	rs := h.say("cy", "1")
	expect(t, rs, "报名已截止。", "1. 返回活动列表")
	expectNot(t, rs, "报名\n")
	expect(t, h.say("cy", "报名"), "请从选项中选择")
}

func TestEventWaitingListPromotionAndLapse(t *testing.T) {
	h := newPlacesHarness(t)
	ctx := context.Background()
	ev := h.training(1, 0)
	register := func(u string) []bot.Reply {
		h.say(u, "活动")
		h.say(u, "1")
		h.say(u, "1")
		return h.say(u, "确认")
	}
	expect(t, register("ann"), "报名成功")
	h.say("ben", "活动")
	expect(t, h.say("ben", "1"), "名额已满，可加入候补（前面有 0 人）", "1. 加入候补")
	h.say("ben", "1")
	expect(t, h.say("ben", "确认"), "已加入候补：“消防安全培训”，候补第 1 位")
	expect(t, register("cat"), "候补第 2 位")
	// ann cancels from the event's own page.
	h.say("ann", "活动")
	h.say("ann", "1")
	expect(t, h.say("ann", "取消报名"), "确定取消 活动报名")
	expect(t, h.say("ann", "确定"), "已取消")
	ben := h.registration("ben", ev)
	if ben.Status != store.PlaceOffered {
		t.Fatalf("ben %+v", ben)
	}
	if o := h.outboxOf("ben", kindOffer); len(o) != 1 || o[0].Body.Choices[0].Payload != "accept:"+ben.Code {
		t.Fatalf("offer %+v", o)
	}
	// Two hours pass without an answer: cat is offered it.
	h.clock.Advance(offerHold)
	if err := h.eng.ExpireOffers(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if len(h.outboxOf("ben", kindLapsed)) != 1 || len(h.outboxOf("cat", kindOffer)) != 1 {
		t.Fatal("the offer did not pass from ben to cat")
	}
	rs := h.send(bot.Message{UserID: "cat", Payload: "accept:" + h.registration("cat", ev).Code})
	expect(t, rs, "已为您确认：消防安全培训")
	if rs[0].Image == nil {
		t.Fatal("no QR with the accepted registration")
	}
	expect(t, h.send(bot.Message{UserID: "ben", Payload: "accept:" + ben.Code}), "名额保留已过期")
	if u, _ := h.st.EventUse(ctx, ev.ID); u.Confirmed != 1 || u.Held != 1 {
		t.Fatalf("use %+v", u)
	}
	// Check-in refuses anyone not on the roster.
	expect(t, h.staffSays("/checkin "+ben.Code), ben.Code+" 不在名单上")
}

func TestEventsGlobalWordsAtEveryStep(t *testing.T) {
	steps := []flowStep{
		{"list", "活动", "近期活动"},
		{"detail", "1", "报名截止"},
		{"companions", "1", "您带几位同行"},
		{"confirm", "1", "请确认报名"},
	}
	setup := func(t *testing.T) *harness {
		h := newPlacesHarness(t)
		h.training(20, 2)
		return h
	}
	created := func(h *harness) int {
		n := 0
		h.st.DB().QueryRow("SELECT COUNT(*) FROM registrations").Scan(&n)
		return n
	}
	checkGlobalWords(t, "活动报名", steps, setup, created)
}

func TestStaffCreatesEventStepByStep(t *testing.T) {
	h := newPlacesHarness(t)
	say := func(text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "900", Text: text})
	}
	expect(t, say("/event new"), "新建活动。活动标题是？")
	expect(t, say("返回"), "已经是第一步了")
	expect(t, say("消防安全培训"), "活动类型", "training")
	expect(t, say("培训"), "开始时间")
	expect(t, say("2026-11-20 19:00"), "请按 2026-12-20 19:00 的格式输入将来的时间")
	expect(t, say("2026-12-20 19:00"), "结束时间")
	expect(t, say("18:00"), "结束时间需晚于开始时间")
	expect(t, say("21:00"), "活动地点")
	expect(t, say("社区活动室"), "名额")
	expect(t, say("很多"), "名额请填 1 到 10000 的数字")
	expect(t, say("50"), "报名截止时间")
	expect(t, say("跳过"), "同行")
	expect(t, say("1"), "活动说明")
	rs := say("请带好身份证。")
	expect(t, rs, "标题：消防安全培训", "类型：training", "时间：12月20日 周日 19:00–21:00", "名额：50", "报名截止：12月20日 周日 19:00", "同行：1")
	rs = say("确认")
	expect(t, rs, "活动已创建：#1 消防安全培训")
	ev, err := h.st.Event(context.Background(), 1)
	if err != nil || ev.Kind != "training" || ev.Capacity != 50 || ev.Companions != 1 || !ev.EndsAt.Equal(shanghai(2026, 12, 20, 21, 0)) ||
		!ev.Deadline.Equal(ev.StartsAt) || ev.CreatedBy != "王主任" || ev.Description != "请带好身份证。" {
		t.Fatalf("event %+v %v", ev, err)
	}
	expect(t, h.staffSays("/event"), "#1 12月20日 周日 19:00 消防安全培训 · 已报名 0/50 · 候补 0")
	// Residents see it.
	expect(t, h.say("zoe", "活动"), "消防安全培训（剩 50 位）")
}

func TestStaffCreatesEventInOneMessage(t *testing.T) {
	h := newPlacesHarness(t)
	expect(t, h.staffSays("/event new"), "新建活动：请在私聊中发送 /event new", "标题：消防安全培训")
	rs := h.staffSays("/event new\n标题：社区巡逻\n类型：patrol\n开始：2026-12-05 20:00\n名额：abc\n颜色：红")
	expect(t, rs, "活动未创建", "不认识的项目“颜色”", "缺少“地点”", "名额: 名额请填 1 到 10000 的数字")
	rs = h.staffSays("/event new\n标题：社区巡逻\n类型：patrol\n开始：2026-12-05 20:00\n结束：22:00\n地点：东门\n名额：8\n截止：2026-12-04 12:00")
	expect(t, rs, "活动已创建：#1 社区巡逻", "12月5日 周六 20:00–22:00", "东门", "名额 8", "报名截止 12月4日 周五 12:00")
	// English keys work too.
	rs = h.staffSays("/event new\ntitle: Evening show\nkind: show\nstart: 12-26 19:00\nplace: Square\ncapacity: 200\ncompanions: 2")
	expect(t, rs, "活动已创建：#2 Evening show")
	if ev, _ := h.st.Event(context.Background(), 2); ev.Companions != 2 || !ev.StartsAt.Equal(shanghai(2026, 12, 26, 19, 0)) {
		t.Fatalf("event %+v", ev)
	}
	expect(t, h.staffSays("/event 99"), "没有编号为 99 的活动")
}

func TestEventStaffFlowRefusedToResidents(t *testing.T) {
	h := newPlacesHarness(t)
	// A deep link naming the staff flow must not let a resident create events.
	rs := h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Event: bot.EventStart, EventKey: "eventnew"})
	expect(t, rs, "只有工作人员可以新建活动")
	expectNot(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "消防安全培训"}), "活动类型")
	var n int
	h.st.DB().QueryRow("SELECT COUNT(*) FROM events").Scan(&n)
	if n != 0 {
		t.Fatal("a resident created an event")
	}
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/checkin ABCDEF"}), "您不是本社区工作人员")
	expect(t, h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: "555", Text: "/event 1 csv"}), "您不是本社区工作人员")
}

func TestEventCSVIsTheRoster(t *testing.T) {
	h := newPlacesHarness(t)
	ev := h.training(2, 1)
	for i, name := range []string{"=HYPERLINK(\"x\")", "王阿姨", "李叔叔"} {
		u := fmt.Sprintf("u%d", i)
		h.send(bot.Message{UserID: u, DisplayName: name, Text: "活动"})
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "不带")
		h.say(u, "确认")
	}
	h.st.SetResidentPhone(context.Background(), h.residentID("u1"), "13812345678")
	g0, g1 := h.registration("u0", ev), h.registration("u1", ev)
	h.clock.Advance(shanghai(2026, 11, 28, 13, 55).Sub(h.clock.Now()))
	h.staffSays("/checkin " + g1.Code)
	rs := h.staffSays(fmt.Sprintf("/event %d csv", ev.ID))
	recs, err := csv.NewReader(strings.NewReader(joined(rs))).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := [][]string{
		{"序号", "签到码", "姓名", "电话", "同行人数", "报名时间", "签到时间", "签到同行"},
		{"1", g0.Code, "'=HYPERLINK(\"x\")", "", "0", "2026-11-25 18:00", "", ""},
		{"2", g1.Code, "王阿姨", "138****5678", "0", "2026-11-25 18:00", "2026-11-28 13:55", "0"},
	}
	if fmt.Sprint(recs) != fmt.Sprint(want) {
		t.Fatalf("CSV\n%q\nwant\n%q", recs, want)
	}
	name, data, err := h.eng.EventCSV(context.Background(), "en", ev.ID)
	if err != nil || name != fmt.Sprintf("event-%d-20261128.csv", ev.ID) || !strings.HasPrefix(string(data), "\ufeffno,code,name") {
		t.Fatalf("%s %q %v", name, data, err)
	}
	// The roster shows the waiting list apart.
	expect(t, h.staffSays(fmt.Sprintf("/event %d", ev.ID)), "候补：", "1. "+h.registration("u2", ev).Code+" 李叔叔")
}

func TestTodayListsBookingsAndEvents(t *testing.T) {
	h := newPlacesHarness(t)
	expect(t, h.staffSays("/today"), "今天（11月25日 周三）", "今天没有预约和活动")
	h.book("kim", "1", "2")
	h.send(bot.Message{UserID: "kim", DisplayName: "金大妈", Text: "我的"})
	h.event("健康讲座", "training", 40, 0, shanghai(2026, 11, 26, 15, 0), shanghai(2026, 11, 26, 12, 0))
	h.clock.Advance(shanghai(2026, 11, 26, 8, 0).Sub(h.clock.Now()))
	rs := h.staffSays("/today")
	expect(t, rs, "今天（11月26日 周四）", "【预约】", "09:30 血压测量 B1001 金大妈", "【活动】", "15:00 #1 健康讲座 · 报名 0 人")
}

func TestConfigEventsLoadedIdempotently(t *testing.T) {
	h := newPlacesHarness(t)
	h.cfg.Events = []EventSpec{{Key: "show_2026_12", Title: "月末文艺晚会", TitleEN: "Month-end show", Kind: "show",
		Start: "2026-12-26 19:00", End: "2026-12-26 21:00", Place: "文化广场", Capacity: 200, Deadline: "2026-12-25 18:00", Companions: 2}}
	h.restart()
	h.restart()
	ev, err := h.st.EventByKey(context.Background(), "show_2026_12")
	if err != nil || !ev.StartsAt.Equal(shanghai(2026, 12, 26, 19, 0)) || !ev.Deadline.Equal(shanghai(2026, 12, 25, 18, 0)) || ev.Capacity != 200 {
		t.Fatalf("event %+v %v", ev, err)
	}
	h.cfg.Events[0].Capacity = 250
	h.restart()
	var n, capacity int
	h.st.DB().QueryRow("SELECT COUNT(*), MAX(capacity) FROM events").Scan(&n, &capacity)
	if n != 1 || capacity != 250 {
		t.Fatalf("%d events, capacity %d", n, capacity)
	}
	h.say("en", "English")
	expect(t, h.say("en", "events"), "Month-end show (250 free)")
	expect(t, h.staffSays("/event show_2026_12"), "月末文艺晚会（文艺演出）")
}
