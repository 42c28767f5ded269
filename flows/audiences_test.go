package flows

import (
	"context"
	"strconv"
	"testing"
	"time"

	"linli/store"
)

func TestBookingAudiences(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	now := h.clock.Now()
	ev, err := h.st.CreateEvent(ctx, store.Event{Title: "晚会", Kind: "show", StartsAt: now.Add(48 * time.Hour), Deadline: now.Add(24 * time.Hour), Capacity: 10})
	if err != nil {
		t.Fatal(err)
	}
	var want []int64
	for _, u := range []string{"a1", "a2"} {
		h.say(u, "你好")
		id := h.residentID(u)
		if _, _, err := h.st.Register(ctx, store.NewRegistration{EventID: ev.ID, ResidentID: id}); err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	h.say("other", "你好")
	got, err := h.eng.audiences["event"](ctx, strconv.FormatInt(ev.ID, 10))
	if err != nil || len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
		t.Fatalf("event audience %v %v, want %v", got, err, want)
	}
	if got, err := h.eng.audiences["event"](ctx, "99999"); got != nil || err != nil {
		t.Fatalf("unknown event: %v %v", got, err)
	}
	if got, err := h.eng.audiences["service"](ctx, "no_such_service"); got != nil || err != nil {
		t.Fatalf("unknown service: %v %v", got, err)
	}
}
