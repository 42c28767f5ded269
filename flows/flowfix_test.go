package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"linli/bot"
)

// The resident's view of a reopened ticket says that it is handled again,
// never the internal reason staff gave for reopening it.
func TestReopenReasonHiddenFromResident(t *testing.T) {
	h := deskHarness(t)
	num := h.report("rita")
	expect(t, h.staff("901", "/resolve "+num+" 已更换灯泡"), "已办结")
	h.say("rita", "跳过")
	expect(t, h.staff("901", "/reopen "+num+" 没修好，师傅偷懒"), "已重新打开")
	rs := h.say("rita", num)
	expect(t, rs, "重新处理", "已办结：已更换灯泡")
	expectNot(t, rs, "没修好", "师傅偷懒")
	// Staff still see it.
	expect(t, h.staff("900", "/t "+num), "没修好，师傅偷懒")
}

// A resident cancelling a ticket is told to the desk under the ticket's
// alert, so nobody acts on the alert any more.
func TestResidentCancelTellsTheDesk(t *testing.T) {
	h := deskHarness(t)
	num := h.report("carl")
	h.markSent(h.outbox(kindAlert)[0], "610")
	h.say("carl", "取消")
	expect(t, h.say("carl", "确定"), num+" 已取消")
	alerts := h.outbox(kindAlert)
	last := alerts[len(alerts)-2]
	if last.TargetAddress != deskGroup || last.Body.ThreadRef != "610" || last.Ref != num || !strings.Contains(last.Body.Text, num) || !strings.Contains(last.Body.Text, "居民已取消") {
		t.Fatalf("desk not told of the cancellation: %+v", last)
	}
	var wechat bool
	for _, a := range alerts {
		if a.TargetChannel == bot.ChannelWeChat && a.TargetAddress == "o-zhou" && strings.Contains(a.Body.Text, "居民已取消") {
			wechat = true
		}
	}
	if !wechat {
		t.Fatal("the WeChat staff alerted of the ticket were not told")
	}
	_ = context.Background
}

// /checkin accepts a code from 2 hours before the event until the end of
// its day in community time; at any other time only with "force".
func TestCheckInOnlyOnTheEventsDay(t *testing.T) {
	h := newPlacesHarness(t)
	ev := h.training(10, 1) // Saturday 28 November 14:00–16:00
	other := h.event("文艺晚会", "show", 10, 0, shanghai(2026, 11, 28, 19, 0), shanghai(2026, 11, 28, 18, 0))
	h.say("una", "活动")
	h.say("una", "2")
	h.say("una", "报名")
	expect(t, h.say("una", "确认"), "报名成功")
	g2 := h.registration("una", other)
	h.say("tom", "活动")
	h.say("tom", "1")
	h.say("tom", "报名")
	h.say("tom", "1")
	expect(t, h.say("tom", "确认"), "报名成功")
	g := h.registration("tom", ev)

	// Wednesday: refused, and nothing is counted.
	expect(t, h.staffSays("/checkin "+g.Code), "不在签到时间", "11月28日 周六 14:00", "/checkin "+g.Code+" force")
	if u, _ := h.st.EventUse(context.Background(), ev.ID); u.CheckedIn != 0 {
		t.Fatal("a refused check-in was counted")
	}
	// Saturday 11:59 is too early; 12:00 (2 hours before) is fine.
	h.clock.Advance(shanghai(2026, 11, 28, 11, 59).Sub(h.clock.Now()))
	expect(t, h.staffSays("/checkin "+g.Code), "不在签到时间")
	h.clock.Advance(time.Minute)
	expect(t, h.staffSays("/checkin "+g.Code+" 0"), "✓ 已签到："+g.Code)

	// The next day is too late, unless staff insist.
	h.clock.Advance(shanghai(2026, 11, 28, 23, 59).Sub(h.clock.Now()))
	h.clock.Advance(time.Minute) // Sunday 00:00
	expect(t, h.staffSays("/checkin "+g2.Code), "不在签到时间")
	expect(t, h.staffSays("/checkin "+g2.Code+" force"), "✓ 已签到："+g2.Code)
	expect(t, h.staffSays("/checkin"), "force")
}

// Services and events of the config describe themselves in English to
// English residents (description_en), in Chinese to the rest.
func TestDescriptionsInEnglish(t *testing.T) {
	h := newPlacesHarness(t)
	h.cfg.Services[0].Description = "免费测量血压，请带上既往记录。"
	h.cfg.Services[0].DescriptionEN = "Free blood-pressure check; bring your earlier readings."
	h.cfg.Events = []EventSpec{{Key: "show", Title: "月末文艺晚会", TitleEN: "Month-end show", Kind: "show",
		Start: "2026-12-26 19:00", Place: "文化广场", Capacity: 200, Description: "居民自编自演。", DescriptionEN: "Residents on stage."}}
	h.restart()
	h.say("eve", "English")
	h.say("eve", "book")
	rs := h.say("eve", "1")
	expect(t, rs, "Free blood-pressure check; bring your earlier readings.")
	expectNot(t, rs, "免费测量血压")
	h.say("eve", "cancel")
	h.say("eve", "events")
	rs = h.say("eve", "1")
	expect(t, rs, "Month-end show", "Residents on stage.")
	expectNot(t, rs, "居民自编自演")

	h.say("zhou", "预约")
	expect(t, h.say("zhou", "1"), "免费测量血压，请带上既往记录。")
	h.say("zhou", "取消")
	h.say("zhou", "活动")
	expect(t, h.say("zhou", "1"), "居民自编自演。")
}
