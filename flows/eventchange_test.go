package flows

import (
	"context"
	"strings"
	"testing"

	"linli/store"
)

// pendingOf lists user's pending outbox rows of a kind.
func (h *harness) pendingOf(user, kind string) []store.OutboxRow {
	h.t.Helper()
	var out []store.OutboxRow
	for _, r := range h.outboxOf(user, kind) {
		if r.Status == store.OutboxPending {
			out = append(out, r)
		}
	}
	return out
}

// Moving an event in the config moves its reminders and tells everyone
// registered; restarting with the same config says nothing more.
func TestConfigEventChangeMovesRemindersAndTellsRegistrants(t *testing.T) {
	h := newPlacesHarness(t)
	h.cfg.Events = []EventSpec{{Key: "show", Title: "月末文艺晚会", TitleEN: "Month-end show", Kind: "show",
		Start: "2026-12-26 19:00", Place: "文化广场", Capacity: 1}}
	h.restart()
	h.say("ora", "活动")
	h.say("ora", "1")
	h.say("ora", "报名")
	expect(t, h.say("ora", "确认"), "报名成功")
	h.say("pia", "English")
	h.say("pia", "events")
	h.say("pia", "1")
	h.say("pia", "1")
	expect(t, h.say("pia", "yes"), "waiting list")
	old := h.pendingOf("ora", kindReminder)
	if len(old) != 2 || !old[1].DueAt.Equal(shanghai(2026, 12, 26, 17, 0)) {
		t.Fatalf("reminders before %+v", old)
	}

	h.cfg.Events[0].Start = "2026-12-27 14:00"
	h.restart()
	rem := h.pendingOf("ora", kindReminder)
	var reminders, notices []store.OutboxRow
	for _, r := range rem {
		if strings.HasPrefix(r.DedupeKey, "reminder:") {
			reminders = append(reminders, r)
		} else {
			notices = append(notices, r)
		}
	}
	if len(reminders) != 2 || !reminders[0].DueAt.Equal(shanghai(2026, 12, 26, 18, 0)) || !reminders[1].DueAt.Equal(shanghai(2026, 12, 27, 12, 0)) ||
		!strings.Contains(reminders[1].Body.Text, "12月27日 周日 14:00") {
		t.Fatalf("reminders after the change %+v", reminders)
	}
	for _, o := range old {
		r, _ := h.st.OutboxRowByID(context.Background(), o.ID)
		if r.Status != store.OutboxCancelled {
			t.Fatalf("old reminder still %s", r.Status)
		}
	}
	if len(notices) != 1 || !strings.Contains(notices[0].Body.Text, "活动变更") || !strings.Contains(notices[0].Body.Text, "12月27日 周日 14:00") {
		t.Fatalf("change notice %+v", notices)
	}
	if n := h.pendingOf("pia", kindReminder); len(n) != 1 || !strings.Contains(n[0].Body.Text, "Sun 27 Dec 14:00") {
		t.Fatalf("the waiting list was not told: %+v", n)
	}

	// The same config again: nothing new.
	before := len(h.outboxOf("ora", kindReminder)) + len(h.outboxOf("pia", kindReminder))
	h.restart()
	if after := len(h.outboxOf("ora", kindReminder)) + len(h.outboxOf("pia", kindReminder)); after != before {
		t.Fatalf("restart added %d rows", after-before)
	}

	// A new place alone is news too; the reminders carry it.
	h.cfg.Events[0].Place = "社区礼堂"
	h.restart()
	var withPlace int
	for _, r := range h.pendingOf("ora", kindReminder) {
		if strings.Contains(r.Body.Text, "社区礼堂") {
			withPlace++
		}
	}
	if withPlace != 3 { // two reminders and the notice
		t.Fatalf("%d pending rows name the new place: %+v", withPlace, h.pendingOf("ora", kindReminder))
	}
}
