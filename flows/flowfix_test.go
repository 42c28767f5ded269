package flows

import (
	"testing"
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

