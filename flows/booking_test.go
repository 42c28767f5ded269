package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// book walks user through booking blood pressure on the day-th listed day,
// slot-th slot, and returns the replies to the confirmation.
func (h *harness) book(user, day, slot string) []bot.Reply {
	h.t.Helper()
	h.say(user, "预约")
	h.say(user, "1")
	h.say(user, day)
	expect(h.t, h.say(user, slot), "请确认您的预约")
	return h.say(user, "确认")
}

func (h *harness) bookingOf(user string) []store.Booking {
	h.t.Helper()
	bs, err := h.st.ResidentBookings(context.Background(), h.residentID(user), time.Time{})
	if err != nil {
		h.t.Fatal(err)
	}
	return bs
}

func TestBookingHappyPathAndReminders(t *testing.T) {
	h := newPlacesHarness(t)
	rs := h.say("alice", "预约")
	expect(t, rs, "请选择要预约的服务", "1. 血压测量（卫生服务站）", "2. 法律咨询（调解室）")
	rs = h.say("alice", "血压测量")
	// Tue/Thu in the 14 days ahead, with their free places.
	expect(t, rs, "“血压测量”哪天方便", "1. 11月26日 周四（剩 8 位）", "2. 12月1日 周二（剩 8 位）", "4. 12月8日 周二（剩 8 位）")
	expectNot(t, rs, "12月10日", "11月25日") // 14 days ahead ends on 9 December
	rs = h.say("alice", "1")
	expect(t, rs, "11月26日 周四 有这些时段", "1. 09:00–09:30（剩 2 位）", "4. 10:30–11:00（剩 2 位）")
	rs = h.say("alice", "1")
	expect(t, rs, "服务：血压测量", "时间：11月26日 周四 09:00–09:30", "地点：卫生服务站", "取消截止：开始前 2 小时")
	rs = h.say("alice", "1")
	expect(t, rs, "预约成功！预约号 B1001", "前一天 18:00", "至少提前 2 小时发送“取消”")
	if h.conv("alice").Flow != "" {
		t.Fatal("flow still active after booking")
	}
	bs := h.bookingOf("alice")
	if len(bs) != 1 || bs[0].Status != store.PlaceConfirmed || !bs[0].SlotAt.Equal(shanghai(2026, 11, 26, 9, 0)) {
		t.Fatalf("bookings %+v", bs)
	}
	// The reminder the evening before is already past (it is 18:00 now);
	// the one 2 hours before is due at 07:00.
	rem := h.outboxOf("alice", kindReminder)
	if len(rem) != 1 || !rem[0].DueAt.Equal(shanghai(2026, 11, 26, 7, 0)) || rem[0].Ref != "B1001" ||
		rem[0].Body.Template != "reminder" || rem[0].Body.Params["name"] != "血压测量" || rem[0].Body.Params["place"] != "卫生服务站" ||
		rem[0].Body.Params["time"] != "11月26日 周四 09:00" || !strings.Contains(rem[0].Body.Text, "B1001") {
		t.Fatalf("reminders %+v", rem)
	}
	// A booking next week gets both reminders.
	expect(t, h.book("alice", "2", "2"), "B1002", "12月1日 周二 09:30–10:00")
	rem = h.outboxOf("alice", kindReminder)
	if len(rem) != 3 || !rem[1].DueAt.Equal(shanghai(2026, 11, 30, 18, 0)) || !rem[2].DueAt.Equal(shanghai(2026, 12, 1, 7, 30)) {
		t.Fatalf("reminders %+v", rem)
	}
	rs = h.say("alice", "我的")
	expect(t, rs, "【预约】", "B1001 · 血压测量 · 11月26日 周四 09:00 · 已确认", "B1002")
	// Cancelling withdraws the reminders of that booking only.
	rs = h.say("alice", "取消")
	expect(t, rs, "要取消哪一项", "预约 B1002")
	h.say("alice", "2")
	expect(t, h.say("alice", "确定"), "预约 B1002 已取消")
	for _, r := range h.outboxOf("alice", kindReminder) {
		if want := map[string]string{"B1001": store.OutboxPending, "B1002": store.OutboxCancelled}[r.Ref]; r.Status != want {
			t.Fatalf("reminder of %s is %s, want %s", r.Ref, r.Status, want)
		}
	}
	// Booking the same slot again is refused politely.
	h.say("alice", "预约")
	h.say("alice", "1")
	h.say("alice", "1")
	h.say("alice", "1")
	expect(t, h.say("alice", "确认"), "您已经有这个时段的预约（B1001")
}

func TestBookingInEnglish(t *testing.T) {
	h := newPlacesHarness(t)
	h.say("eve", "English")
	expect(t, h.say("eve", "book"), "Which service", "Blood-pressure check (Health station)")
	expect(t, h.say("eve", "1"), "Thu 26 Nov (8 free)")
	expect(t, h.say("eve", "1"), "09:00–09:30 (2 free)")
	expect(t, h.say("eve", "1"), "Time: Thu 26 Nov 09:00–09:30", "Cancel up to 2 hours before")
	expect(t, h.say("eve", "yes"), "Booked! Your booking number is B1001")
}

func TestBookingFullSlotOffersNearestOrWaitingList(t *testing.T) {
	h := newPlacesHarness(t)
	h.book("bob", "1", "1")
	h.book("carol", "1", "1")
	h.say("dave", "预约")
	rs := h.say("dave", "1")
	expect(t, rs, "11月26日 周四（剩 6 位）")
	rs = h.say("dave", "1")
	expect(t, rs, "1. 09:00–09:30（已满，可候补）")
	rs = h.say("dave", "1")
	expect(t, rs, "09:00 这个时段已约满", "前面有 0 人", "1. 改约 11月26日 周四 09:30（剩 2 位）",
		"3. 改约 11月26日 周四 10:30（剩 2 位）", "4. 加入候补")
	expect(t, h.say("dave", "加入候补"), "已加入候补", "候补第 1 位", "B1003", "2 小时")
	// The next one takes a nearest free slot instead.
	h.say("erin", "预约")
	h.say("erin", "1")
	h.say("erin", "1")
	expect(t, h.say("erin", "1"), "前面有 1 人")
	expect(t, h.say("erin", "1"), "时间：11月26日 周四 09:30–10:00")
	expect(t, h.say("erin", "确认"), "预约成功！预约号 B1004")
}

func TestBookingSlotTakenWhileConfirming(t *testing.T) {
	h := newPlacesHarness(t)
	h.say("fay", "预约")
	h.say("fay", "1")
	h.say("fay", "1")
	expect(t, h.say("fay", "1"), "请确认您的预约")
	h.book("gil", "1", "1")
	h.book("hal", "1", "1")
	// The slot filled up meanwhile: no overbooking, the choices of a full slot instead.
	expect(t, h.say("fay", "确认"), "这个时段刚刚被约满了", "已约满", "加入候补")
	if len(h.bookingOf("fay")) != 0 {
		t.Fatal("booked a full slot")
	}
}

func TestBookingAllDaysFullOffersWaitingLists(t *testing.T) {
	h := newPlacesHarness(t)
	h.say("ian", "预约")
	h.say("ian", "2")
	h.say("ian", "1")
	h.say("ian", "1")
	expect(t, h.say("ian", "确认"), "预约成功")
	h.say("jo", "预约")
	rs := h.say("jo", "法律咨询")
	expect(t, rs, "近期的时段都已约满", "1. 11月28日 周六（已满，可候补）")
	h.say("jo", "1")
	expect(t, h.say("jo", "1"), "已约满")
	expect(t, h.say("jo", "加入候补"), "候补第 1 位")
}

func TestBookingCancelPromotesAcceptAndLapse(t *testing.T) {
	h := newPlacesHarness(t)
	ctx := context.Background()
	h.book("a", "1", "1") // B1001
	h.book("b", "1", "1") // B1002
	for _, u := range []string{"c", "d", "e"} {
		h.say(u, "预约")
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "加入候补")
	}
	expect(t, h.say("e", "我的"), "B1005", "候补第 3 位")
	// a cancels: c, first in line, is offered the place for 2 hours.
	h.say("a", "取消")
	expect(t, h.say("a", "确定"), "预约 B1001 已取消")
	offers := h.outboxOf("c", kindOffer)
	if len(offers) != 1 || offers[0].Ref != "B1003" || len(offers[0].Body.Choices) != 2 || offers[0].Body.Choices[0].Payload != "accept:B1003" ||
		!strings.Contains(offers[0].Body.Text, "11月25日 周三 20:00") || offers[0].Body.Params["content"] == "" {
		t.Fatalf("offer %+v", offers)
	}
	expect(t, h.say("c", "我的"), "B1003", "名额保留到 11月25日 周三 20:00")
	if len(h.outboxOf("d", kindOffer)) != 0 {
		t.Fatal("d was offered out of turn")
	}
	// c is in the middle of a report and presses the offer's button.
	h.say("c", "报修")
	rs := h.send(bot.Message{UserID: "c", Payload: "accept:B1003"})
	expect(t, rs, "已为您确认：血压测量（11月26日 周四 09:00），编号 B1003", "请选择问题类别")
	if h.conv("c").Flow != "report" {
		t.Fatal("the report flow was lost")
	}
	if len(h.outboxOf("c", kindReminder)) != 1 {
		t.Fatal("no reminder for the accepted place")
	}
	// b cancels: d is offered, and lets it lapse.
	h.say("b", "取消")
	h.say("b", "确定")
	if len(h.outboxOf("d", kindOffer)) != 1 {
		t.Fatal("d was not offered the place")
	}
	h.clock.Advance(119 * time.Minute)
	if err := h.eng.ExpireOffers(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if len(h.outboxOf("e", kindOffer)) != 0 {
		t.Fatal("the offer passed on before 2 hours")
	}
	h.clock.Advance(time.Minute)
	if err := h.eng.ExpireOffers(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if l := h.outboxOf("d", kindLapsed); len(l) != 1 || !strings.Contains(l[0].Body.Text, "已过期") {
		t.Fatalf("lapse notice %+v", l)
	}
	if o := h.outboxOf("e", kindOffer); len(o) != 1 || o[0].Ref != "B1005" {
		t.Fatalf("e's offer %+v", o)
	}
	expect(t, h.say("d", "接受 B1004"), "名额保留已过期")
	// e accepts by typing, without the number: one offer is open.
	expect(t, h.say("e", "接受"), "已为您确认", "B1005")
	expect(t, h.say("e", "接受"), "您目前没有待确认的名额")
	// Someone else's code is not theirs to accept.
	expect(t, h.say("d", "accept B1005"), "没有找到 B1005")
	if u, _ := h.st.SlotUses(ctx, "bp", shanghai(2026, 11, 26, 9, 0), shanghai(2026, 11, 26, 9, 1)); u[shanghai(2026, 11, 26, 9, 0).Unix()].Held != 2 {
		t.Fatalf("slot use %+v", u)
	}
}

func TestBookingDeclinePassesOn(t *testing.T) {
	h := newPlacesHarness(t)
	h.book("a", "1", "1")
	h.book("b", "1", "1")
	for _, u := range []string{"c", "d"} {
		h.say(u, "预约")
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "加入候补")
	}
	h.say("a", "取消")
	h.say("a", "确定")
	expect(t, h.send(bot.Message{UserID: "c", Payload: "decline:B1003"}), "已放弃 B1003")
	if o := h.outboxOf("d", kindOffer); len(o) != 1 {
		t.Fatalf("d not offered after c declined: %+v", o)
	}
	expect(t, h.say("c", "接受 B1003"), "名额保留已过期或已不再为您保留")
}

func TestBookingCancellationCutoff(t *testing.T) {
	h := newPlacesHarness(t)
	h.book("kay", "1", "1") // Thursday 09:00, cut-off 2 hours
	h.say("lou", "预约")
	h.say("lou", "1")
	h.say("lou", "1")
	h.say("lou", "2")
	h.say("lou", "确认") // 09:30
	// 07:01 on Thursday: 1h59m before 09:00 (refused), 2h29m before 09:30 (allowed).
	h.clock.Advance(shanghai(2026, 11, 26, 7, 1).Sub(h.clock.Now()))
	h.say("kay", "取消")
	expect(t, h.say("kay", "确定"), "B1001 距开始已不足 2 小时，不能在线取消了")
	if bs := h.bookingOf("kay"); len(bs) != 1 || bs[0].Status != store.PlaceConfirmed {
		t.Fatalf("booking after refused cancel: %+v", bs)
	}
	h.say("lou", "取消")
	expect(t, h.say("lou", "确定"), "预约 B1002 已取消")
	// Once started, nothing of it is cancellable.
	h.clock.Advance(2 * time.Hour)
	expect(t, h.say("kay", "取消"), "您没有可以取消的事项")
}

func TestBookingGlobalWordsAtEveryStep(t *testing.T) {
	steps := []flowStep{
		{"service", "预约", "请选择要预约的服务"},
		{"day", "1", "哪天方便"},
		{"slot", "1", "有这些时段"},
		{"full", "1", "这个时段已约满"},
		{"confirm", "1", "请确认您的预约"},
	}
	setup := func(t *testing.T) *harness {
		h := newPlacesHarness(t)
		h.book("x", "1", "1")
		h.book("y", "1", "1") // 09:00 on Thursday is full
		return h
	}
	created := func(h *harness) int {
		n := 0
		h.st.DB().QueryRow("SELECT COUNT(*) FROM bookings").Scan(&n)
		return n
	}
	checkGlobalWords(t, "预约服务", steps, setup, created)
}

func TestSlotsInCommunityTime(t *testing.T) {
	h := newPlacesHarness(t)
	svc, _ := h.cfg.service("bp")
	// Just before 09:30 on Thursday, the 09:00 slot is gone and 09:30 is the first.
	slots := h.eng.slotsOf(svc, shanghai(2026, 11, 26, 9, 29))
	if len(slots) == 0 || !slots[0].start.Equal(shanghai(2026, 11, 26, 9, 30)) || !slots[0].end.Equal(shanghai(2026, 11, 26, 10, 0)) {
		t.Fatalf("first slot %+v", slots[0])
	}
	last := slots[len(slots)-1]
	if !last.start.Equal(shanghai(2026, 12, 10, 10, 30)) {
		t.Fatalf("last slot %v; want Thursday 10 December 10:30 (14 days ahead)", last.start)
	}
	// Two rules naming the same time make one slot.
	svc.Slots = append(svc.Slots, SlotRule{Days: []string{"thu"}, From: "10:00", To: "12:00", Every: time.Hour})
	n := 0
	for _, s := range h.eng.slotsOf(svc, shanghai(2026, 11, 25, 12, 0)) {
		if s.start.Equal(shanghai(2026, 11, 26, 10, 0)) {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("10:00 listed %d times", n)
	}
}
