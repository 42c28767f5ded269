package flows

import (
	"context"
	"strings"
	"testing"

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
