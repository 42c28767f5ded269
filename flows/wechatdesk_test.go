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
			(r.Ref == number) != (r.Body.Template == "ticket_update") || r.Body.Template == "" {
			t.Errorf("wechat row %+v", r)
		}
	}
	if !strings.Contains(wechat[0].Body.Text, number) || !strings.HasPrefix(wechat[0].DedupeKey, "escalate:") {
		t.Errorf("first wechat row is not the escalation: %+v", wechat[0])
	}
	// The digest is about no ticket: outside the window it goes as the
	// reminder template (what, when, where to read more).
	if d := wechat[1].Body; !strings.HasPrefix(wechat[1].DedupeKey, "digest:") || d.Template != "reminder" ||
		d.Params["name"] == "" || d.Params["time"] != h.clock.Now().In(h.eng.loc).Format("01-02 15:04") || !strings.Contains(d.Params["place"], "/open") {
		t.Errorf("digest row %+v", wechat[1])
	}
	s := sms[0]
	content := s.Body.Params["content"]
	if s.TargetAddress != "13900001111" || s.Urgent || s.Body.Template != "notice" ||
		!strings.Contains(content, number) || len([]rune(content)) > staffSMSRunes {
		t.Fatalf("admin sms %+v", s)
	}
}

// Without a staff group, WeChat staff hear from each other who claimed or
// resolved a ticket (the group's echo), but not every reply.
func TestWeChatStaffHearWhatColleaguesDid(t *testing.T) {
	h := newHarness(t)
	h.cfg.Staff = []StaffMember{
		{Name: "王主任", Role: "admin", WeChatOpenID: "o-wang"},
		{Name: "老周", Role: "staff", WeChatOpenID: "o-zhou"},
	}
	h.restart()
	number := h.report("amy")
	zhou := func(text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelWeChat, UserID: "o-zhou", Text: text})
	}
	echoes := func(to string) []store.OutboxRow {
		var out []store.OutboxRow
		for _, r := range h.outbox(kindAlert) {
			if r.TargetAddress == to && r.Ref == number && !strings.HasPrefix(r.DedupeKey, "alert:") {
				out = append(out, r)
			}
		}
		return out
	}
	expect(t, zhou("/claim "+number), number)
	if e := echoes("o-wang"); len(e) != 1 || !strings.Contains(e[0].Body.Text, "老周") || !strings.Contains(e[0].Body.Text, "认领") {
		t.Fatalf("echo of the claim to 王主任: %+v", e)
	}
	zhou("/r " + number + " 明天去修")
	if e := echoes("o-wang"); len(e) != 1 {
		t.Fatalf("a reply was echoed: %d rows", len(e))
	}
	zhou("/resolve " + number + " 修好了")
	if e := echoes("o-wang"); len(e) != 2 || !strings.Contains(e[1].Body.Text, "办结") {
		t.Fatalf("echo of the resolve: %+v", e)
	}
	if e := echoes("o-zhou"); len(e) != 0 {
		t.Fatalf("the actor was told of their own actions: %+v", e)
	}
}
