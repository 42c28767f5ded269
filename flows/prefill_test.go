package flows

import (
	"context"
	"testing"

	"linli/bot"
)

// A QR code in building 3 starts the report flow with the building known:
// the location step offers it as choice 1, and the ticket and the resident
// get it.
func TestQRCodePrefillsBuilding(t *testing.T) {
	h := newHarness(t)
	rs := h.send(bot.Message{UserID: "qr", Event: bot.EventSubscribe, EventKey: "report", Params: map[string]string{"building": "3", "description": "forged"}})
	expect(t, rs, "欢迎", "请选择问题类别")
	if d := h.conv("qr").Data; d[prefillBuilding] != "3" || d["description"] != "" {
		t.Fatalf("data %v", d)
	}
	h.say("qr", "1")
	h.say("qr", "垃圾桶满了没人清")
	rs = h.say("qr", "跳过")
	expect(t, rs, "问题在哪里", "1. 就在3栋", "2. 跳过")
	rs = h.say("qr", "1")
	expect(t, rs, "请留一个联系电话")
	h.say("qr", "跳过")
	expect(t, h.say("qr", "确认"), "T1001")
	tk, err := h.st.Ticket(context.Background(), "T1001")
	if err != nil || tk.Address != "3栋" {
		t.Fatalf("ticket %+v %v", tk, err)
	}
	res, _ := h.st.Resident(context.Background(), tk.ResidentID)
	if res.Building != "3" {
		t.Fatalf("building %q", res.Building)
	}
}

// Without params an event key starts the intent as before, and the
// location step offers only "skip".
func TestEventWithoutPrefill(t *testing.T) {
	h := newHarness(t)
	expect(t, h.send(bot.Message{UserID: "m", Event: bot.EventMenu, EventKey: "report"}), "请选择问题类别")
	h.say("m", "1")
	h.say("m", "垃圾桶满了没人清")
	rs := h.say("m", "跳过")
	expectNot(t, rs, "就在")
	// Unknown params are ignored: no prefill, the flow still starts.
	expect(t, h.send(bot.Message{UserID: "n", Event: bot.EventStart, EventKey: "report", Params: map[string]string{"x": "y"}}), "请选择问题类别")
	if d := h.conv("n").Data; len(d) != 0 {
		t.Fatalf("data %v", d)
	}
}
