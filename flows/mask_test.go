package flows

import (
	"context"
	"strings"
	"testing"

	"linli/bot"
)

// TestPhonesMaskedExceptForTheAssigneePrivately: the alert, /t by others
// and /t in the group show the contact phone masked; the assignee asking
// in a private chat, or claiming there, sees it whole.
func TestPhonesMaskedExceptForTheAssigneePrivately(t *testing.T) {
	h := privacyHarness(t)
	h.cfg.Community.RequireConsent = false
	h.cfg.Staff = append(h.cfg.Staff, StaffMember{Name: "老周", Role: "staff", WeChatOpenID: "o-zhou"})
	h.restart()
	num := h.report("fay")
	h.say("fay", "我的电话是13812345678，白天都在")
	const full, masked = "13812345678", "138****5678"
	alerts := h.outbox(kindAlert)
	if len(alerts) == 0 {
		t.Fatal("no alert")
	}
	for _, a := range alerts {
		if strings.Contains(a.Body.Text, full) || !strings.Contains(a.Body.Text, masked) {
			t.Fatalf("alert shows %q", a.Body.Text)
		}
	}
	private := func(user, text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: user, ChatID: user, Text: text})
	}
	// Unclaimed: masked for everyone, in the group and privately.
	rs := private("901", "/t "+num)
	expect(t, rs, masked)
	expectNot(t, rs, full)
	// Claimed in the group: the group is not told the number, only how to see it.
	rs = h.staff("901", "/claim "+num)
	expect(t, rs, "认领", "私聊", "/t "+num)
	expectNot(t, rs, full)
	rs = h.staff("901", "/t "+num)
	expect(t, rs, masked, "私聊")
	expectNot(t, rs, full)
	// Another staff member privately: masked; the assignee privately: whole,
	// in the ticket and in the resident's messages.
	rs = private("900", "/t "+num)
	expect(t, rs, masked)
	expectNot(t, rs, full, "私聊")
	rs = private("901", "/t "+num)
	expect(t, rs, "电话："+full, "我的电话是"+full)
	// A WeChat staff member claims privately and is given the number at once.
	num2 := h.report("gus")
	rs = h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-zhou", Text: "/claim " + num2})
	expect(t, rs, "认领", "电话："+full)
	// The CSV export of a roster masks phones.
	ev := h.training(5, 0)
	h.say("fay", "活动")
	h.say("fay", "1")
	h.say("fay", "报名")
	h.say("fay", "确认")
	h.st.SetResidentPhone(context.Background(), h.residentID("fay"), full)
	_, csv, err := h.eng.EventCSV(context.Background(), "zh-CN", ev.ID)
	if err != nil || !strings.Contains(string(csv), masked) || strings.Contains(string(csv), full) {
		t.Fatalf("csv %s %v", csv, err)
	}
}
