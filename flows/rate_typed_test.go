package flows

import (
	"strings"
	"testing"
	"time"

	"linli/bot"
)

// A resident busy in a flow is not put into the rating flow, and is asked
// for "评分 5" rather than a bare number, which would answer their step.
func TestRatingQuestionToABusyResidentAsksForTheTypedForm(t *testing.T) {
	h := deskHarness(t)
	num := h.report("ida")
	h.toStep("ida", 0) // a new report, at the category step
	expect(t, h.staff("900", "/resolve "+num), "已办结")
	if st := h.conv("ida"); st.Flow != "report" || st.Step != "category" {
		t.Fatalf("busy resident's flow replaced: %+v", st)
	}
	up := h.outbox(kindTicketUpdate)
	q := up[len(up)-1]
	if !strings.Contains(q.Body.Text, "“评分 5”") || !strings.Contains(q.Body.Text, "“"+num+" 5”") || strings.Contains(q.Body.Text, "回复数字即可") || len(q.Body.Choices) != 0 {
		t.Fatalf("question %+v", q.Body)
	}
	// The typed score works inside the flow, which then asks its question again.
	rs := h.say("ida", "评分 4")
	expect(t, rs, "感谢您的评价（4 分）", "请选择问题类别")
	if st := h.conv("ida"); st.Flow != "report" || st.Step != "category" || st.Tries != 0 {
		t.Fatalf("flow after the rating: %+v", st)
	}
	if r := mustTicket(t, h, num).Rating; r != 4 {
		t.Fatalf("rating %d", r)
	}
	// A bare number is still the step's answer.
	expect(t, h.say("ida", "5"), "请描述一下问题")
}

// A paused flow (a resumable draft) is not replaced by the rating question.
func TestRatingQuestionKeepsAPausedDraft(t *testing.T) {
	h := deskHarness(t)
	num := h.report("jo")
	h.toStep("jo", 2)
	h.say("jo", "菜单")
	expect(t, h.staff("900", "/resolve "+num), "已办结")
	if st := h.conv("jo"); st.Flow != "report" || !st.Paused || st.Step != "photo" {
		t.Fatalf("paused draft replaced: %+v", st)
	}
	up := h.outbox(kindTicketUpdate)
	if q := up[len(up)-1]; !strings.Contains(q.Body.Text, "“评分 5”") {
		t.Fatalf("question %+v", q.Body)
	}
	expect(t, h.say("jo", "rate 5"), "感谢您的评价（5 分）")
	expect(t, h.say("jo", "继续"), "如方便，请发一张现场照片")
	// A draft paused too long ago to resume is no reason to hold back.
	num2 := h.report("jo")
	h.toStep("jo", 2)
	h.say("jo", "菜单")
	h.clock.Advance(25 * time.Hour)
	expect(t, h.staff("900", "/resolve "+num2), "已办结")
	if st := h.conv("jo"); st.Flow != "rate" {
		t.Fatalf("stale draft kept instead of asking: %+v", st)
	}
}

// The typed forms work outside a flow: 评分 N for the one ticket waiting for
// a rating, T1002 N for a named one; with several waiting, the resident is
// asked to name it.
func TestTypedRatingForms(t *testing.T) {
	h := deskHarness(t)
	a := h.report("kai")
	b := h.report("kai")
	expect(t, h.say("kai", "评分 5"), "没有待评价的工单")
	h.staff("900", "/resolve "+a)
	h.say("kai", "跳过")
	h.staff("900", "/resolve "+b)
	h.say("kai", "跳过")
	expect(t, h.say("kai", "评分 5"), "“"+b+" 5”")
	expect(t, h.say("kai", b+" 2"), "感谢您的评价（2 分）")
	expect(t, h.say("kai", "rate 4"), "感谢您的评价（4 分）")
	if mustTicket(t, h, a).Rating != 4 || mustTicket(t, h, b).Rating != 2 {
		t.Fatal("ratings not saved on the right tickets")
	}
	expect(t, h.say("kai", strings.ToLower(a)+" 3分"), "已经评价过")
	// Someone else's ticket number is not theirs to rate.
	c := h.report("lin")
	h.staff("900", "/resolve "+c)
	expect(t, h.say("kai", "评分 "+c+" 5"), "现在不能评价")
	if mustTicket(t, h, c).Rating != 0 {
		t.Fatal("rated someone else's ticket")
	}
	// In the rating flow itself, the typed form rates its ticket and ends it.
	expect(t, h.say("lin", "评分 3"), "感谢您的评价（3 分）")
	if st := h.conv("lin"); st.Flow != "" {
		t.Fatalf("rating flow left open: %+v", st)
	}
	_ = bot.ChannelConsole
}
