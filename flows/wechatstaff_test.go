package flows

import (
	"context"
	"testing"
	"time"

	"linli/bot"
)

// Every WeChat staff row about a ticket — the new-ticket alert, the
// escalation, a resident's note to the assignee — can fall back to the
// ticket_update template, since a staff member outside the 48-hour window
// can be reached no other way. Rows about no ticket (the digest) fall back
// to the reminder template.
func TestWeChatStaffRowsHaveATemplate(t *testing.T) {
	h := newHarness(t)
	h.cfg.Staff = []StaffMember{{Name: "王主任", Role: "admin", WeChatOpenID: "o-wang"}}
	h.restart()
	ctx := context.Background()
	number := h.report("amy")
	h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-wang", Text: "/claim " + number})
	h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-wang", Text: "/r " + number + " 明天去看"})
	h.say("amy", "还在漏水") // a note, forwarded to the assignee
	// A second ticket that nobody takes on is escalated.
	second := h.report("bob")
	h.clock.Advance(49 * time.Hour)
	jobs := h.eng.Jobs(JobsConfig{})
	if err := jobs.Escalate(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Digest(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"alert:" + number:    "新工单",
		"alert:" + second:    "新工单",
		"escalate:" + second: "请处理",
		"note:" + number:     "请处理",
		"digest":             "",
	}
	seen := map[string]bool{}
	for _, r := range h.outbox(kindAlert) {
		if r.TargetChannel != bot.ChannelWeChat || r.TargetAddress != "o-wang" {
			t.Errorf("alert row for %s/%s", r.TargetChannel, r.TargetAddress)
			continue
		}
		var key string
		switch {
		case r.Ref == "digest":
			key = "digest"
		case len(r.DedupeKey) > 9 && r.DedupeKey[:9] == "escalate:":
			key = "escalate:" + r.Ref
		case r.DedupeKey == "":
			key = "note:" + r.Ref
		default:
			key = "alert:" + r.Ref
		}
		seen[key] = true
		status, ok := want[key]
		switch {
		case !ok:
			t.Errorf("unexpected row %q: %+v", key, r)
		case status == "" && (r.Body.Template != "reminder" || r.Body.Params["name"] == "" || r.Body.Params["time"] == ""):
			t.Errorf("%s: a row about no ticket has no reminder fallback: %+v", key, r.Body)
		case status != "" && (r.Body.Template != "ticket_update" || r.Body.Params["ticket"] != r.Ref || r.Body.Params["status"] != status):
			t.Errorf("%s: no ticket_update fallback: %+v", key, r.Body)
		}
	}
	for k := range want {
		if !seen[k] {
			t.Errorf("no row %s", k)
		}
	}
}
