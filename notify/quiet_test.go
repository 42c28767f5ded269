package notify

import (
	"context"
	"testing"
	"time"

	"linli/store"
)

// TestQuietHoursHoldEverySMSButCodesAndUrgent: staff replies, ticket
// updates and waiting-list offers sent by SMS wait for the end of quiet
// hours like reminders do; codes and urgent rows go at once, and so does
// everything a chat channel carries.
func TestQuietHoursHoldEverySMSButCodesAndUrgent(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	e.d.sms.(*AliyunSMS).templates[KindTicketUpdate] = "SMS_4"
	tg := &fakeSender{}
	e.d.Register("telegram", tg)
	ids, _ := e.residents(t, 5)
	e.clock.Set(time.Date(2026, 11, 25, 22, 30, 0, 0, shanghai))
	onTelegram, _, _, err := e.st.ResolveIdentity(ctx, store.IdentityKey{Channel: "telegram", ExternalID: "42", ChatID: "42"}, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	ticket := store.OutboxBody{Text: "工单 T1001 有新回复", Template: KindTicketUpdate, Params: map[string]string{"ticket": "T1001"}}
	e.o.Enqueue(ctx,
		store.OutboxRow{Kind: KindReply, ResidentID: ids[0], DedupeKey: "reply", Body: ticket},
		store.OutboxRow{Kind: KindTicketUpdate, ResidentID: ids[1], DedupeKey: "update", Body: ticket},
		store.OutboxRow{Kind: "offer", ResidentID: ids[2], DedupeKey: "offer",
			Body: store.OutboxBody{Text: "候补名额", Template: KindNotice, Params: map[string]string{"content": "理发 B1001 有名额，回复 接受 B1001"}}},
		store.OutboxRow{Kind: KindReply, ResidentID: ids[3], DedupeKey: "urgent", Urgent: true, Body: ticket},
		store.OutboxRow{Kind: KindVerifyCode, ResidentID: ids[4], TargetChannel: ChannelSMS, TargetAddress: "13900000004", DedupeKey: "code",
			Urgent: false, Body: store.OutboxBody{Template: KindVerifyCode, Params: map[string]string{"code": "123456"}}},
		store.OutboxRow{Kind: KindReply, ResidentID: onTelegram.ID, DedupeKey: "chat", Body: ticket},
	)
	e.run(t)
	morning := time.Date(2026, 11, 26, 8, 0, 0, 0, shanghai)
	for _, key := range []string{"reply", "update", "offer"} {
		if r := e.row(t, key); r.Status != store.OutboxPending || !r.DueAt.Equal(morning) || r.Attempts != 0 {
			t.Errorf("%s: %s due %v, want pending until %v", key, r.Status, r.DueAt, morning)
		}
	}
	for _, key := range []string{"urgent", "code"} {
		if r := e.row(t, key); r.Status != store.OutboxSent || r.Channel != ChannelSMS {
			t.Errorf("%s: %s on %q, want sent by SMS at once", key, r.Status, r.Channel)
		}
	}
	if r := e.row(t, "chat"); r.Status != store.OutboxSent || r.Channel != "telegram" || len(tg.got) != 1 {
		t.Errorf("chat: %s on %q, want sent on Telegram at once", r.Status, r.Channel)
	}
	if got := len(e.fake.Sent()); got != 2 {
		t.Fatalf("%d SMS during quiet hours, want the code and the urgent reply", got)
	}
	e.clock.Set(morning)
	e.run(t)
	if got := len(e.fake.Sent()); got != 5 {
		t.Fatalf("%d SMS after quiet hours, want 5", got)
	}
}

// TestHeldRowWaitsForThePageThroughQuietHours: a web resident's message
// whose deadline passes at night goes back to the page until quiet hours
// end, and only then by SMS.
func TestHeldRowWaitsForThePageThroughQuietHours(t *testing.T) {
	e := newSMSEnv(t)
	ctx := context.Background()
	e.d.RegisterPull("web")
	e.d.HoldFor = 10 * time.Minute
	e.d.sms.(*AliyunSMS).templates[KindTicketUpdate] = "SMS_4"
	e.clock.Set(time.Date(2026, 11, 25, 20, 55, 0, 0, shanghai))
	rid := e.webResident(t, "w1", "13812345678")
	e.o.Enqueue(ctx, staffReply(rid, "r"))
	e.run(t)
	e.clock.Set(time.Date(2026, 11, 25, 21, 6, 0, 0, shanghai))
	e.run(t)
	morning := time.Date(2026, 11, 26, 8, 0, 0, 0, shanghai)
	if r := e.row(t, "r"); r.Status != store.OutboxHeld || !r.HoldUntil.Equal(morning) || e.held(t, "w1") != 1 || len(e.fake.Sent()) != 0 {
		t.Fatalf("at 21:06 %+v, sms %d", r, len(e.fake.Sent()))
	}
	e.clock.Set(morning)
	e.run(t)
	if r := e.row(t, "r"); r.Status != store.OutboxSent || r.Channel != ChannelSMS || len(e.fake.Sent()) != 1 {
		t.Fatalf("at 08:00 %+v, sms %d", r, len(e.fake.Sent()))
	}
}
