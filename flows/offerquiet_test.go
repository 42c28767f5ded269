package flows

import (
	"context"
	"testing"
	"time"
)

// An offer made during quiet hours (sms.quiet_hours, community time) is
// held for 2 hours from the end of quiet hours, never past the start.
func TestOfferHoldStartsWhenQuietHoursEnd(t *testing.T) {
	h := newPlacesHarness(t)
	h.cfg.QuietHours = "21:00-08:00"
	h.restart()
	ctx := context.Background()
	late := h.event("夜谈会", "other", 1, 0, shanghai(2026, 11, 28, 14, 0), shanghai(2026, 11, 28, 12, 0))
	early := h.event("晨练", "other", 1, 0, shanghai(2026, 11, 27, 9, 0), shanghai(2026, 11, 27, 8, 0))
	register := func(user, pick, want string) {
		h.say(user, "活动")
		h.say(user, pick)
		h.say(user, "1")
		expect(t, h.say(user, "确认"), want)
	}
	register("a1", "2", "报名成功") // the list is by start: 晨练 first
	register("a2", "2", "候补")
	register("a3", "2", "候补")
	register("b1", "1", "报名成功")
	register("b2", "1", "候补")

	// Thursday 23:00: both places are given up.
	h.clock.Advance(shanghai(2026, 11, 26, 23, 0).Sub(h.clock.Now()))
	h.say("a1", "取消")
	h.say("a1", "确定")
	h.say("b1", "取消")
	h.say("b1", "确定")
	if g := h.registration("a2", late); !g.OfferUntil.Equal(shanghai(2026, 11, 27, 10, 0)) {
		t.Fatalf("offer made at 23:00 held until %v, want Friday 10:00", g.OfferUntil.In(shanghai(2026, 1, 1, 0, 0).Location()))
	}
	if g := h.registration("b2", early); !g.OfferUntil.Equal(shanghai(2026, 11, 27, 9, 0)) {
		t.Fatalf("offer held until %v, want the start, Friday 09:00", g.OfferUntil)
	}
	// Nothing lapses overnight; at 10:00 it passes on, held 2 hours from then.
	h.clock.Advance(shanghai(2026, 11, 27, 9, 59).Sub(h.clock.Now()))
	if err := h.eng.ExpireOffers(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if len(h.outboxOf("a2", kindLapsed)) != 0 {
		t.Fatal("the offer lapsed before 10:00")
	}
	h.clock.Advance(time.Minute)
	if err := h.eng.ExpireOffers(ctx, h.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if g := h.registration("a3", late); !g.OfferUntil.Equal(shanghai(2026, 11, 27, 12, 0)) {
		t.Fatalf("next offer held until %v, want 12:00", g.OfferUntil)
	}
}
