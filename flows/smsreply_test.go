package flows

import (
	"context"
	"strings"
	"testing"

	"linli/bot"
	"linli/store"
)

// waitingFor puts users on the waiting list of the full 09:00 Thursday
// blood-pressure slot (a and b hold its two places).
func (h *harness) waitingFor(users ...string) {
	h.t.Helper()
	h.book("a", "1", "1") // B1001
	h.book("b", "1", "1") // B1002
	for _, u := range users {
		h.say(u, "预约")
		h.say(u, "1")
		h.say(u, "1")
		h.say(u, "1")
		expect(h.t, h.say(u, "加入候补"), "候补")
	}
}

// smsRows lists the SMS rows of a kind to a phone, oldest first.
func (h *harness) smsRows(kind, phone string) []store.OutboxRow {
	h.t.Helper()
	rows, err := h.st.RecentOutbox(context.Background(), 1000)
	if err != nil {
		h.t.Fatal(err)
	}
	var out []store.OutboxRow
	for i := len(rows) - 1; i >= 0; i-- {
		if rows[i].Kind == kind && rows[i].TargetChannel == channelSMS && rows[i].TargetAddress == phone {
			out = append(out, rows[i])
		}
	}
	return out
}

// The offer SMS says "reply 接受 CODE": that reply, by SMS, accepts the
// place, and the resident hears the outcome by SMS.
func TestOfferAcceptedBySMSReply(t *testing.T) {
	h := newPlacesHarness(t)
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{})
	const phone = "13812345678"
	h.waitingFor("c", "d")
	h.st.SetResidentPhone(ctx, h.residentID("c"), phone)
	h.say("a", "取消")
	h.say("a", "确定")
	if o := h.outboxOf("c", kindOffer); len(o) != 1 || o[0].Ref != "B1003" {
		t.Fatalf("offer %+v", o)
	}
	if err := jobs.SMSReply(ctx, phone, "接受 b1003", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if bs := h.bookingOf("c"); len(bs) != 1 || bs[0].Status != store.PlaceConfirmed {
		t.Fatalf("booking %+v", bs)
	}
	rs := h.smsRows(kindReply, phone)
	if len(rs) != 1 || rs[0].ResidentID != h.residentID("c") || !strings.Contains(rs[0].Body.Text, "已为您确认") ||
		rs[0].Body.Template != "notice" || !strings.Contains(rs[0].Body.Params["content"], "B1003") {
		t.Fatalf("SMS answer %+v", rs)
	}
	if len(h.outboxOf("c", kindReminder)) == 0 {
		t.Fatal("no reminders for the place accepted by SMS")
	}
	if len(h.outbox(kindAlert)) != 0 {
		t.Fatal("the accepted offer was also sent to staff as an unknown reply")
	}
	// Again: already confirmed, said by SMS.
	h.clock.Advance(1)
	jobs.SMSReply(ctx, phone, "接受 B1003", h.clock.Now().Add(1e9))
	if rs := h.smsRows(kindReply, phone); len(rs) != 2 || !strings.Contains(rs[1].Body.Text, "已经确认过了") {
		t.Fatalf("second answer %+v", rs)
	}
}

// 放弃 passes the place on; a code that is not the sender's is refused; a
// bare 接受 works when one offer is open to that phone.
func TestOfferDeclinedAndBareAcceptBySMS(t *testing.T) {
	h := newPlacesHarness(t)
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{})
	h.waitingFor("c", "d")
	h.st.SetResidentPhone(ctx, h.residentID("c"), "13800000001")
	h.st.SetResidentPhone(ctx, h.residentID("d"), "13800000002")
	h.say("a", "取消")
	h.say("a", "确定")
	jobs.SMSReply(ctx, "13800000002", "接受 B1003", h.clock.Now()) // c's code, from d's phone
	if rs := h.smsRows(kindReply, "13800000002"); len(rs) != 1 || !strings.Contains(rs[0].Body.Text, "没有找到 B1003") {
		t.Fatalf("answer to a stranger's code %+v", rs)
	}
	jobs.SMSReply(ctx, "13800000001", "放弃 B1003", h.clock.Now().Add(1e9))
	if rs := h.smsRows(kindReply, "13800000001"); len(rs) != 1 || !strings.Contains(rs[0].Body.Text, "已放弃 B1003") {
		t.Fatalf("decline answer %+v", rs)
	}
	if o := h.outboxOf("d", kindOffer); len(o) != 1 || o[0].Ref != "B1004" {
		t.Fatalf("d not offered after c declined: %+v", o)
	}
	jobs.SMSReply(ctx, "13800000002", "接受", h.clock.Now().Add(2e9))
	if bs := h.bookingOf("d"); bs[0].Status != store.PlaceConfirmed {
		t.Fatalf("bare 接受 by SMS: %+v", bs)
	}
}

// Staff answer a resident's SMS by replying to its alert in the group: the
// answer goes to that phone by SMS. A reply to an alert that is about no
// ticket and no resident (the digest) is told it reaches nobody.
func TestStaffAnswerAnSMSByReplyingToItsAlert(t *testing.T) {
	h := deskHarness(t)
	ctx := context.Background()
	jobs := h.eng.Jobs(JobsConfig{})
	const phone = "13912345678"
	h.say("mia", "菜单")
	h.st.SetResidentPhone(ctx, h.residentID("mia"), phone)
	if err := jobs.SMSReply(ctx, phone, "楼下路灯不亮了", h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	alerts := h.outbox(kindAlert)
	if len(alerts) != 1 || alerts[0].TargetChannel != StaffChannel || !strings.Contains(alerts[0].Body.Text, "139****5678") {
		t.Fatalf("SMS alert %+v", alerts)
	}
	h.markSent(alerts[0], "880")
	reply := func(user, to, text string) []bot.Reply {
		return h.send(bot.Message{Channel: bot.ChannelTelegram, UserID: user, ChatID: deskGroup, Group: true, ReplyTo: to, Text: text})
	}
	expect(t, reply("555", "880", "我来答"), "您不是本社区工作人员")
	if rs := h.smsRows(kindReply, phone); len(rs) != 0 {
		t.Fatalf("a stranger's answer was sent: %+v", rs)
	}
	rs := reply("901", "880", "已通知物业，今晚修好")
	expect(t, rs, "✓ 已通过短信答复居民（139****5678）")
	sms := h.smsRows(kindReply, phone)
	if len(sms) != 1 || sms[0].ResidentID != h.residentID("mia") || sms[0].Body.Template != "notice" ||
		!strings.Contains(sms[0].Body.Params["content"], "已通知物业，今晚修好") {
		t.Fatalf("SMS answer %+v", sms)
	}
	audit, _ := h.st.AuditLog(ctx, 5)
	if len(audit) == 0 || audit[0].Actor != "小李" || audit[0].Action != "sms_reply" || !audit[0].Allowed || strings.Contains(audit[0].Target+audit[0].Detail, phone) {
		t.Fatalf("audit %+v", audit)
	}

	// The digest is about no one: a reply there is explained, not sent.
	if err := jobs.Digest(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	alerts = h.outbox(kindAlert)
	h.markSent(alerts[len(alerts)-1], "881")
	expect(t, reply("901", "881", "收到"), "不会发给任何人", "/r")
	if n := len(h.smsRows(kindReply, phone)); n != 1 {
		t.Fatalf("%d SMS answers", n)
	}
	if rs := h.outbox(kindReply); len(rs) != 1 {
		t.Fatalf("replies %+v", rs)
	}
}
