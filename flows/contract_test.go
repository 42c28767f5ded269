package flows

import (
	"strings"
	"testing"
)

// A resident typing with a Chinese input method in full-width mode sends
// "Ｔ１００１"; outside a flow that must show the ticket as "T1001" does
// (inside a flow it already did), not the main menu.
func TestTicketNumberFullWidthOutsideFlow(t *testing.T) {
	h := newHarness(t)
	n := h.report("amy")
	wide := strings.Map(func(r rune) rune {
		if r >= '!' && r <= '~' {
			return r + 0xFEE0
		}
		return r
	}, n)
	rs := h.say("amy", wide)
	expect(t, rs, "工单 "+n)
	expect(t, h.say("amy", n+"。"), "工单 "+n)
}
