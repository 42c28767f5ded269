package flows

import (
	"context"
	"strings"
	"testing"
	"time"

	"linli/bot"
	"linli/store"
)

// An office without a Telegram staff group: the scheduler's staff alerts
// reach the WeChat staff, and the ones that must reach somebody reach an
// admin known only by phone as a notice SMS.
func TestStaffAlertsWithoutAStaffGroup(t *testing.T) {
	h := newHarness(t)
	h.cfg.Staff = []StaffMember{
		{Name: "王主任", Role: "admin", Phone: "13900001111"},
		{Name: "老周", Role: "staff", WeChatOpenID: "o-zhou"},
		{Name: "小李", Role: "staff", Phone: "13900002222"}, // not an admin: no SMS
	}
	h.restart()
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{})
	number := h.report("amy") // repairs: 48 hours
	h.clock.Advance(49 * time.Hour)
	if err := jobs.Escalate(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	jobs.Escalate(ctx, h.clock.Now()) // once only
	if err := jobs.Digest(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	var wechat, sms []store.OutboxRow
	for _, r := range h.outbox(kindAlert) {
		switch {
		case r.TargetChannel == bot.ChannelWeChat && r.Ref == number && strings.HasPrefix(r.DedupeKey, "alert:"):
			// the new-ticket alert of the desk, tested elsewhere
		case r.TargetChannel == bot.ChannelWeChat:
			wechat = append(wechat, r)
		case r.TargetChannel == channelSMS:
			sms = append(sms, r)
		default:
			t.Errorf("row for %s/%s: %+v", r.TargetChannel, r.TargetAddress, r)
		}
	}
	if len(wechat) != 2 || len(sms) != 1 {
		t.Fatalf("wechat %d rows, sms %d rows; want 2 (escalation, digest) and 1 (escalation)", len(wechat), len(sms))
	}
	for _, r := range wechat {
		// The Telegram mentions are not carried; a ticket's row carries
		// what its template fallback needs (wechatstaff.go).
		if r.TargetAddress != "o-zhou" || !r.Urgent || r.Body.Params["mention_telegram_ids"] != "" ||
			(r.Ref == number) != (r.Body.Template == "ticket_update") {
			t.Errorf("wechat row %+v", r)
		}
	}
	if !strings.Contains(wechat[0].Body.Text, number) || !strings.HasPrefix(wechat[0].DedupeKey, "escalate:") {
		t.Errorf("first wechat row is not the escalation: %+v", wechat[0])
	}
	s := sms[0]
	content := s.Body.Params["content"]
	if s.TargetAddress != "13900001111" || s.Urgent || s.Body.Template != "notice" ||
		!strings.Contains(content, number) || len([]rune(content)) > staffSMSRunes {
		t.Fatalf("admin sms %+v", s)
	}
}
